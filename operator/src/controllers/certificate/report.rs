//! The one writer of a Certificate's status: Ready, Reconciling and Failed from a [`Step`],
//! the failure backoff kept in status, an Event when the failure changes.

#[allow(unused_imports)]
use super::*;

/// What the reconcile learned, turned into status by [`report`].
pub(super) struct Step {
    pub(super) step: OrderStep,
    pub(super) ready: bool,
    pub(super) reason: &'static str,
    pub(super) message: String,
    pub(super) requeue: Duration,
    pub(super) failure: Option<(&'static str, String)>,
}

impl Step {
    pub(super) fn wait(
        step: OrderStep,
        reason: &'static str,
        message: impl Into<String>,
        requeue: Duration,
    ) -> Self {
        Self {
            step,
            ready: false,
            reason,
            message: message.into(),
            requeue,
            failure: None,
        }
    }
}

/// One reconcile of one Certificate: which, when, and whether the Secret's certificate still
/// serves its names (then the Certificate stays Ready while a new one is made). Every step
/// reports through it, so a failure is `at.fail(st, reason, message, drop_order)`.
#[derive(Clone, Copy)]
pub(super) struct Attempt<'a> {
    pub(super) ctx: &'a Context,
    pub(super) c: &'a Certificate,
    pub(super) now: DateTime<Utc>,
    pub(super) valid_now: bool,
    /// The certificate a renewal replaces (DER), sent as the order's `replaces`.
    pub(super) replaces: Option<&'a [u8]>,
}

impl Attempt<'_> {
    /// Records a failure (with backoff) and cleans up the challenge records. A lost
    /// connection keeps the order (resumed later); a dead order is dropped.
    pub(super) async fn fail(
        &self,
        mut st: CertificateStatus,
        reason: &'static str,
        message: impl std::fmt::Display,
        drop_order: bool,
    ) -> Result<Action> {
        let message = message.to_string();
        remove_challenges(self.ctx, self.c).await?;
        if drop_order {
            st.order = None;
            delete_staging(self.ctx, self.c).await?;
        }
        let step = Step {
            failure: Some((reason, message.clone())),
            ..Step::wait(
                if drop_order { OrderStep::Idle } else { st.step },
                reason,
                message,
                Duration::ZERO,
            )
        };
        self.report(st, step).await
    }

    /// [`report`] for this attempt.
    pub(super) async fn report(&self, st: CertificateStatus, step: Step) -> Result<Action> {
        report(self.ctx, self.c, st, step, self.now, self.valid_now).await
    }

    /// [`report`], saying whether the current certificate is valid.
    pub(super) async fn report_as(
        &self,
        st: CertificateStatus,
        step: Step,
        valid_now: bool,
    ) -> Result<Action> {
        report(self.ctx, self.c, st, step, self.now, valid_now).await
    }
}

pub(super) async fn patch_status(
    ctx: &Context,
    c: &Certificate,
    st: &CertificateStatus,
) -> Result<()> {
    crate::controllers::apply_status(&ctx.client, c, st).await
}

/// Writes the status for a step: Ready (the Secret holds a valid certificate for these
/// names), Reconciling (an order in progress, and where), Failed (the last failure).
pub(super) async fn report(
    ctx: &Context,
    c: &Certificate,
    mut st: CertificateStatus,
    step: Step,
    now: DateTime<Utc>,
    valid_now: bool,
) -> Result<Action> {
    let gen_ = c.metadata.generation;
    let old = c.status.clone().unwrap_or_default();
    st.step = step.step;
    let mut requeue = step.requeue;
    if let Some((reason, message)) = &step.failure {
        let count = old.last_failure.as_ref().map(|f| f.count).unwrap_or(0) + 1;
        st.last_failure = Some(Failure {
            reason: reason.to_string(),
            message: message.clone(),
            at: time(now),
            count,
        });
        requeue = schedule::retry_delay(count).to_std().unwrap_or_default();
        status::set(
            &mut st.conditions,
            status::condition(
                types::FAILED,
                true,
                reason,
                format!(
                    "{message} (attempt {count}; next in {}s)",
                    requeue.as_secs()
                ),
                gen_,
            ),
        );
        if old.last_failure.as_ref().map(|f| &f.message) != Some(message) {
            ctx.event(c, EventType::Warning, reason, "Order", message.clone())
                .await;
        }
    } else if step.ready {
        status::remove(&mut st.conditions, types::FAILED);
    }
    let ready = step.ready || valid_now;
    let ready_msg = if step.ready || !valid_now {
        step.message.clone()
    } else {
        format!("the current certificate is still valid; {}", step.message)
    };
    status::set(
        &mut st.conditions,
        status::condition(
            types::READY,
            ready,
            if ready && !step.ready {
                reasons::ISSUED
            } else {
                step.reason
            },
            ready_msg,
            gen_,
        ),
    );
    if step.step == OrderStep::Idle && step.failure.is_none() {
        status::remove(&mut st.conditions, types::RECONCILING);
    } else {
        status::set(
            &mut st.conditions,
            status::condition(
                types::RECONCILING,
                true,
                step.reason,
                step.message.clone(),
                gen_,
            ),
        );
    }
    st.observed_generation = gen_;
    if st != old {
        patch_status(ctx, c, &st).await?;
    }
    Ok(Action::requeue(requeue.max(Duration::from_millis(100))))
}
