//! Step 5 of a Request's reconcile: its status (through the one status writer) and an Event
//! when its phase, or the reason it failed, changes.

use kube::runtime::events::EventType;

use super::decide::Outcome;
use crate::api::{DecisionRecord, Request, RequestPhase, RequestStatus};
use crate::controllers::status::{self, types};
use crate::controllers::{Context, Result, apply_status};

/// The status an outcome gives (pure).
pub fn apply_outcome(
    old: &RequestStatus,
    req: &Request,
    o: &Outcome,
    decision: Option<DecisionRecord>,
    gen_: Option<i64>,
) -> RequestStatus {
    let mut st = old.clone();
    st.type_ = Some(req.spec.kind().to_string());
    st.phase = o.phase;
    st.decision = decision;
    if !o.outputs.is_empty() || matches!(o.phase, RequestPhase::Pending | RequestPhase::Rejected) {
        st.outputs = o.outputs.clone();
    }
    let ready = o.phase == RequestPhase::Ready;
    status::set(
        &mut st.conditions,
        status::condition(types::READY, ready, o.reason, o.message.clone(), gen_),
    );
    if o.phase == RequestPhase::Failed {
        status::set(
            &mut st.conditions,
            status::condition(types::FAILED, true, o.reason, o.message.clone(), gen_),
        );
    } else {
        status::remove(&mut st.conditions, types::FAILED);
    }
    if o.phase == RequestPhase::Provisioning {
        status::set(
            &mut st.conditions,
            status::condition(types::RECONCILING, true, o.reason, o.message.clone(), gen_),
        );
    } else {
        status::remove(&mut st.conditions, types::RECONCILING);
    }
    st.observed_generation = gen_;
    st
}

/// Whether the change from `old` deserves an Event (pure): a new phase, or a new reason to fail.
pub fn noteworthy(old: &RequestStatus, o: &Outcome) -> bool {
    old.phase != o.phase
        || (o.phase == RequestPhase::Failed
            && status::get(&old.conditions, types::FAILED).map(|c| &c.message) != Some(&o.message))
}

/// Publishes the Event and writes the status when it changed.
pub async fn report(
    ctx: &Context,
    req: &Request,
    outcome: &Outcome,
    decision: Option<DecisionRecord>,
) -> Result<()> {
    let old = req.status.clone().unwrap_or_default();
    let st = apply_outcome(&old, req, outcome, decision, req.metadata.generation);
    if noteworthy(&old, outcome) {
        let type_ = if outcome.phase == RequestPhase::Failed {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(
            req,
            type_,
            outcome.reason,
            &format!("{:?}", outcome.phase),
            outcome.message.clone(),
        )
        .await;
    }
    if old != st {
        apply_status(&ctx.client, req, &st).await?;
    }
    Ok(())
}
