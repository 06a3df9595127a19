//! The one reconcile harness every controller runs in: a timeout per reconcile, a debug line
//! saying which object took how long, the shared error policy (capped per-object backoff,
//! counted by error category), a bound on concurrent reconciles per controller, and the
//! success bookkeeping (backoff reset, `/metrics`). A controller module says only what it
//! watches and how one object is reconciled. Model: kube-rs/controller-rs.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{Context, Error, Result};

/// How many objects of one kind are reconciled at once. Unbounded, a burst (a restart over
/// 20,000 records) opens as many API calls at once as there are objects.
pub const CONCURRENCY: u16 = 16;

/// What a controller's context gives the harness: the operator's shared [`Context`].
pub trait Shared: Send + Sync + 'static {
    fn context(&self) -> &Context;
}

impl Shared for Context {
    fn context(&self) -> &Context {
        self
    }
}

/// Runs `controller` until shutdown, calling `reconcile` for each object that needs it.
pub async fn run<K, C, F, Fut>(controller: Controller<K>, ctx: Arc<C>, reconcile: F)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    C: Shared,
    F: Fn(Arc<K>, Arc<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    let kind = K::kind(&()).into_owned();
    let stream_kind = kind.clone();
    controller
        .with_config(controller::Config::default().concurrency(CONCURRENCY))
        .shutdown_on_signal()
        .run(
            move |obj: Arc<K>, c: Arc<C>| {
                let fut = reconcile(obj.clone(), c.clone());
                let kind = kind.clone();
                async move {
                    let _running = c.context().metrics.running(&kind);
                    let start = std::time::Instant::now();
                    let out = super::timed(&kind, obj.name_any(), fut).await;
                    c.context().metrics.observe(&kind, start.elapsed());
                    if out.is_ok() {
                        c.context().succeeded(obj.as_ref());
                    }
                    out
                }
            },
            |obj: Arc<K>, err: &Error, c: Arc<C>| c.context().retry_after(obj.as_ref(), err),
            ctx,
        )
        .for_each(move |r| {
            let kind = stream_kind.clone();
            async move {
                if let Err(e) = r {
                    tracing::debug!(kind, error = %e, "controller stream");
                }
            }
        })
        .await;
}

/// The error of a finalizer-wrapped reconcile as the controller's own: what apply or cleanup
/// returned, or the API error of adding or removing the finalizer.
pub fn from_finalizer(e: finalizer::Error<Error>) -> Error {
    match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(k) | finalizer::Error::RemoveFinalizer(k) => Error::Kube(k),
        _ => Error::MissingField("metadata.name"),
    }
}

/// Reports a spec or rule problem on any kind: `Ready=False`, `Failed=True` with the reason,
/// a Warning Event when the message is new; nothing else is touched. Looked at again after
/// [`super::SAFETY_REQUEUE`] (or sooner, when the object changes).
pub async fn refuse<K, S>(
    ctx: &Context,
    obj: &K,
    old: Option<&S>,
    reason: &'static str,
    message: String,
) -> Result<Action>
where
    K: Resource<DynamicType = ()>,
    S: super::status::Conditioned,
{
    let (st, news) = super::status::refused(old, obj.meta().generation, reason, &message);
    if news {
        ctx.event(
            obj,
            kube::runtime::events::EventType::Warning,
            reason,
            "Validate",
            message,
        )
        .await;
    }
    if old != Some(&st) {
        super::apply_status(&ctx.client, obj, &st).await?;
    }
    Ok(Action::requeue(super::SAFETY_REQUEUE))
}
