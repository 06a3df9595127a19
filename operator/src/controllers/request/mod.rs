//! Request + Approval → outputs, as named steps:
//! [`decide`] (pure: which Approval decides, and what follows before anything is made) →
//! [`dereference`] (the only reads: what the plan needs) → [`provision`] (the shared planner
//! [`crate::plan::plan`], then the claim) → [`report`] (status and Events).
//!
//! The claim on a name is a `create` of the output named by it, never an apply: if two
//! approvals race for one name, the API server lets exactly one create win.

pub mod decide;
pub mod dereference;
pub mod provision;
pub mod report;

use std::sync::Arc;

use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use super::{Context, Error, REQUEST_ANNOTATION, Result, SAFETY_REQUEUE};
use crate::api::{Approval, Bucket, Hosting, Request, RequestPhase, Subdomain};
use crate::controllers::status::reasons;
use crate::plan::Body;
pub use decide::{Outcome, deciding};
pub use report::apply_outcome;

/// The Request controller's context: the operator's, and the store of every Approval (the
/// reflector behind its Approval watch).
struct RequestCtx {
    ctx: Arc<Context>,
    approvals: Store<Approval>,
}

impl super::harness::Shared for RequestCtx {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

/// Reads the request's approvals from the store — a LIST of the namespace's Approvals here
/// made the API server encode every one of them on each of the ~6 reconciles of each
/// request: O(requests²) per namespace in a burst — and goes on with [`reconcile_with`].
async fn reconcile(req: Arc<Request>, rc: Arc<RequestCtx>) -> Result<Action> {
    if let Some(wait) = super::requeue_unless_synced(&rc.approvals).await {
        return Ok(wait);
    }
    let (ns, name) = (req.namespace(), req.name_any());
    let approvals: Vec<Approval> = rc
        .approvals
        .state()
        .iter()
        .filter(|a| a.namespace() == ns && a.spec.request == name)
        .map(|a| a.as_ref().clone())
        .collect();
    reconcile_with(req, &rc.ctx, approvals).await
}

/// The reconcile proper, given the Approvals of the request's namespace that name it.
async fn reconcile_with(
    req: Arc<Request>,
    ctx: &Context,
    approvals: Vec<Approval>,
) -> Result<Action> {
    let ns = req
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = req.name_any();
    let today = chrono::Utc::now().date_naive();

    let (decision, ignored) = deciding(&req, &approvals);
    let record = decision.map(decide::record);

    let outcome =
        match decide::before_provisioning(&ns, &name, &req.spec, decision, &ignored, today) {
            Some(o) => o,
            None => {
                let tenant = crate::api::tenant_of_namespace(&ns).unwrap_or_default();
                match Body::of(&req.spec) {
                    Some(body) => provision::provision(ctx, &req, body, tenant, today).await?,
                    None => Outcome::new(
                        RequestPhase::Failed,
                        reasons::INVALID_SPEC,
                        "the request carries no subdomain, hosting or storage",
                    ),
                }
            }
        };

    report::report(ctx, &req, &outcome, record).await?;
    Ok(Action::requeue(SAFETY_REQUEUE))
}

/// The Request an output was made for, from its annotation: how a change of any output
/// (Subdomain, Hosting, Bucket — or a kind added later) wakes its Request.
pub fn request_of<K: kube::Resource>(obj: K) -> Option<ObjectRef<Request>> {
    let key = obj.meta().annotations.as_ref()?.get(REQUEST_ANNOTATION)?;
    let (ns, name) = key.split_once('/')?;
    Some(ObjectRef::<Request>::new(name).within(ns))
}

/// Runs the Request controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let all = watcher::Config::default;
    let (approvals, writer) = reflector::store::<Approval>();
    let approval_events = reflector::reflector(
        writer,
        watcher(Api::<Approval>::all(client.clone()), all()).modify(super::shared::slim),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(Api::<Request>::all(client.clone()), all())
        .watches_stream(approval_events, |a: Approval| {
            a.namespace()
                .map(|ns| ObjectRef::<Request>::new(&a.spec.request).within(&ns))
        })
        .watches(Api::<Subdomain>::all(client.clone()), all(), request_of)
        .watches(Api::<Hosting>::all(client.clone()), all(), request_of)
        .watches(Api::<Bucket>::all(client.clone()), all(), request_of);
    let rc = Arc::new(RequestCtx { ctx, approvals });
    super::harness::run(controller, rc, reconcile).await;
}

#[cfg(test)]
mod scenario;
