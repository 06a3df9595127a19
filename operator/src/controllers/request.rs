//! Request + Approval → outputs. Pending until a Dinas Approval exists; rejected → closed with
//! the reason; approved → the outputs are created (here: the Subdomain), after the rules that
//! need live state (name free, limits, one website) are checked once more at approval time.
//!
//! The claim on a name is a `create` of the cluster-scoped Subdomain named by its FQDN, never
//! an apply: if two approvals race for one name, the API server lets exactly one create win.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::{reflector::ObjectRef, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::status::{self, reasons, types};
use super::{Context, Error, MANAGER, REQUEST_ANNOTATION, Result, SAFETY_REQUEUE, label_value};
use crate::api::{
    AppTemplate, Approval, Bucket, BucketSpec, Decision, DecisionRecord, Hosting, HostingRequest,
    HostingResources, HostingSpec, OutputRef, Request, RequestPhase, RequestStatus, StorageRequest,
    Subdomain, SubdomainRequest, SubdomainSpec, Tenant, Zone, labels, tenant_of_namespace,
};
use crate::rules::{self, Violation, naming, storage};

/// The outcome of one step, turned into status by [`apply_outcome`].
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub phase: RequestPhase,
    pub reason: &'static str,
    pub message: String,
    pub outputs: Vec<OutputRef>,
}

impl Outcome {
    fn new(phase: RequestPhase, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason,
            message: message.into(),
            outputs: vec![],
        }
    }
}

/// The deciding approval: the earliest one that names this exact request — its name, uid and
/// spec digest (pure). Approvals are immutable, so once made the decision never changes.
/// Approvals that name the request but were made for another one (filed earlier under the
/// same name, or before this one existed) decide nothing; why each was ignored is returned so
/// a person sees it.
pub fn deciding<'a>(
    req: &Request,
    approvals: &'a [Approval],
) -> (Option<&'a Approval>, Vec<String>) {
    let name = req.name_any();
    // one judgement per approval (it hashes the request's spec)
    let mut binding = Vec::new();
    let mut why = Vec::new();
    for a in approvals.iter().filter(|a| a.spec.request == name) {
        match a.mismatch(req) {
            None => binding.push(a),
            Some(reason) => why.push(reason),
        }
    }
    let first = binding.into_iter().min_by_key(|a| {
        (
            a.creation_timestamp()
                .map(|t| t.0.as_second())
                .unwrap_or(i64::MAX),
            a.name_any(),
        )
    });
    (first, why)
}

/// The Subdomain an approved subdomain request creates (pure).
pub fn build_subdomain(req: &Request, body: &SubdomainRequest, tenant: &str) -> Subdomain {
    let fqdn = format!("{}.{}", body.label, body.zone);
    let mut sd = Subdomain::new(
        &fqdn,
        SubdomainSpec {
            zone: body.zone.clone(),
            label: body.label.clone(),
            tenant: tenant.to_string(),
            application_name: Some(body.application_name.clone()),
            website: body.website,
            tls: body.tls,
            ttl: None,
            target: body.target.clone(),
            suspend: None,
        },
    );
    sd.metadata = ObjectMeta {
        name: Some(fqdn),
        labels: Some(BTreeMap::from([
            (labels::TENANT.into(), tenant.to_string()),
            (labels::ZONE.into(), label_value(&body.zone)),
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
        ])),
        annotations: Some(super::request_annotations(req)),
        ..Default::default()
    };
    sd
}

/// The Bucket an approved storage request creates (pure): named as asked, in the tenant's
/// home namespace, with the request's data specification and Kavling's defaults (keys
/// rotate every 90 days; data retained on deletion).
pub fn build_bucket(req: &Request, body: &StorageRequest, tenant: &str) -> Bucket {
    let mut b = Bucket::new(
        &body.name,
        BucketSpec {
            size: body.size.clone(),
            max_objects: None,
            classification: body.classification,
            personal_data: body.personal_data,
            versioning: body.versioning,
            rotation: Default::default(),
            deletion_policy: Default::default(),
            purge: false,
            suspend: None,
        },
    );
    b.metadata = ObjectMeta {
        name: Some(body.name.clone()),
        namespace: req.namespace(),
        labels: Some(BTreeMap::from([
            (labels::TENANT.into(), tenant.to_string()),
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
        ])),
        annotations: Some(super::request_annotations(req)),
        ..Default::default()
    };
    b
}

async fn provision_bucket(
    ctx: &Context,
    req: &Request,
    body: &StorageRequest,
    tenant: &str,
) -> Result<Outcome> {
    let ns = req.namespace().unwrap_or_default();
    let api: Api<Bucket> = Api::namespaced(ctx.client.clone(), &ns);
    let output = OutputRef {
        kind: "Bucket".into(),
        name: body.name.clone(),
        namespace: Some(ns.clone()),
    };
    let existing = match api.get_opt(&body.name).await? {
        Some(b) => Some(b),
        None => {
            // the rules that need live state: S3's name, the tenant's storage limits
            let mut violations = storage::check_bucket_name(
                "spec.storage.name",
                &storage::backend_name(tenant, &body.name),
            );
            let Some(t) = Api::<Tenant>::all(ctx.client.clone())
                .get_opt(tenant)
                .await?
            else {
                return Ok(Outcome::new(
                    RequestPhase::Failed,
                    reasons::RULE_BROKEN,
                    format!(
                        "tenant '{tenant}' does not exist; a Dinas engineer must create it first"
                    ),
                ));
            };
            let others: Vec<u64> = api
                .list(&super::cached())
                .await?
                .items
                .iter()
                .map(|b| storage::size_bytes(&b.spec.size).unwrap_or(0))
                .collect();
            if let Some(size) = storage::size_bytes(&body.size) {
                violations.extend(storage::check_budget(
                    "spec.storage.size",
                    &t.spec.limits,
                    &others,
                    size,
                ));
            }
            if !violations.is_empty() {
                return Ok(Outcome::new(
                    RequestPhase::Failed,
                    reasons::RULE_BROKEN,
                    rules::summarize(&violations),
                ));
            }
            create_claim(&api, &build_bucket(req, body, tenant)).await?
        }
    };
    Ok(outcome_of_output(
        existing.as_ref().map(|b| {
            (
                b.annotations(),
                b.status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default(),
            )
        }),
        req,
        output,
        "spec.storage.name",
        format!(
            "bucket ready; credentials in Secret {}",
            super::bucket::secret_name(&body.name)
        ),
    ))
}

/// The request's outcome from the namespaced output it creates (pure): still being created;
/// Failed when the name is held by another request; Ready when the output is Ready; else
/// Provisioning with the output's own reason.
fn outcome_of_output(
    existing: Option<(&BTreeMap<String, String>, &[crate::api::Condition])>,
    req: &Request,
    output: OutputRef,
    field: &str,
    ready_message: String,
) -> Outcome {
    let what = format!("{} {}", output.kind, output.name);
    let Some((annotations, conds)) = existing else {
        return Outcome::new(
            RequestPhase::Provisioning,
            reasons::WAITING_FOR_OUTPUTS,
            format!("creating {what}"),
        );
    };
    if !super::made_for(annotations, req) {
        return Outcome::new(
            RequestPhase::Failed,
            reasons::NAME_TAKEN,
            format!(
                "{field}: a {} named '{}' already exists in {}; choose another name",
                output.kind,
                output.name,
                output.namespace.clone().unwrap_or_default()
            ),
        );
    }
    let mut out = if status::is_true(conds, types::READY) {
        Outcome::new(RequestPhase::Ready, reasons::PROVISIONED, ready_message)
    } else {
        let why = status::get(conds, types::READY)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "being set up".into());
        Outcome::new(
            RequestPhase::Provisioning,
            reasons::WAITING_FOR_OUTPUTS,
            format!("{what}: {why}"),
        )
    };
    out.outputs = vec![output];
    out
}

/// Template parameters from a hosting request's free-text specification: one `key: value`
/// (or `key=value`) per line; other lines are description and ignored.
pub fn parameters_from_specification(spec: Option<&str>) -> BTreeMap<String, String> {
    spec.unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':').or_else(|| l.split_once('=')))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, v)| {
            !k.is_empty()
                && !v.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric())
                && !v.starts_with("//")
        })
        .collect()
}

/// The Hosting an approved hosting request creates (pure).
pub fn build_hosting(req: &Request, body: &HostingRequest, tenant: &str) -> Option<Hosting> {
    let template = AppTemplate::parse(&body.template)?;
    let mut h = Hosting::new(
        &body.name,
        HostingSpec {
            template,
            parameters: parameters_from_specification(body.specification.as_deref()),
            resources: HostingResources {
                cpu: body.cpu.clone(),
                memory: body.memory.clone(),
                disk: body.disk.clone(),
                pods: 10,
            },
            domains: vec![],
            suspend: None,
        },
    );
    h.metadata = ObjectMeta {
        name: Some(body.name.clone()),
        namespace: req.namespace(),
        labels: Some(BTreeMap::from([
            (labels::TENANT.into(), tenant.to_string()),
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
        ])),
        annotations: Some(super::request_annotations(req)),
        ..Default::default()
    };
    Some(h)
}

async fn provision_hosting(
    ctx: &Context,
    req: &Request,
    body: &HostingRequest,
    tenant: &str,
) -> Result<Outcome> {
    let ns = req.namespace().unwrap_or_default();
    let api: Api<Hosting> = Api::namespaced(ctx.client.clone(), &ns);
    let output = OutputRef {
        kind: "Hosting".into(),
        name: body.name.clone(),
        namespace: Some(ns.clone()),
    };
    let Some(want) = build_hosting(req, body, tenant) else {
        return Ok(Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            format!(
                "spec.hosting.template: unknown template '{}'",
                body.template
            ),
        ));
    };
    let mut existing = api.get_opt(&body.name).await?;
    if existing.is_none() {
        // the rules that need live state: parameters, the tenant's hosting limits
        let mut v = match ctx.templates.resolve(
            want.spec.template,
            &want.spec.parameters,
            "spec.hosting.specification",
        ) {
            Ok(_) => vec![],
            Err(v) => v,
        };
        let Some(t) = Api::<Tenant>::all(ctx.client.clone())
            .get_opt(tenant)
            .await?
        else {
            return Ok(Outcome::new(
                RequestPhase::Failed,
                reasons::RULE_BROKEN,
                format!("tenant '{tenant}' does not exist; a Dinas engineer must create it first"),
            ));
        };
        let others = api.list(&super::cached()).await?;
        let plans: Vec<&HostingResources> =
            others.items.iter().map(|h| &h.spec.resources).collect();
        v.extend(prefixed(
            "spec.hosting",
            super::hosting::check_tenant_budget(&t.spec.limits, &plans, &want.spec.resources)
                .into_iter()
                .map(|mut x| {
                    x.field = x.field.trim_start_matches("spec.resources.").to_string();
                    x
                })
                .collect(),
        ));
        if !v.is_empty() {
            return Ok(Outcome::new(
                RequestPhase::Failed,
                reasons::RULE_BROKEN,
                rules::summarize(&v),
            ));
        }
        existing = create_claim(&api, &want).await?;
    }
    Ok(outcome_of_output(
        existing.as_ref().map(|h| {
            (
                h.annotations(),
                h.status
                    .as_ref()
                    .map(|s| s.conditions.as_slice())
                    .unwrap_or_default(),
            )
        }),
        req,
        output,
        "spec.hosting.name",
        format!(
            "hosting ready in namespace {}",
            super::hosting::hosting_namespace(tenant, &body.name)
        ),
    ))
}

/// Creates `obj` as the claim on its name (of two racing creates, exactly one wins); when it
/// already exists, returns what is there — whose it is, the caller checks.
async fn create_claim<K>(api: &Api<K>, obj: &K) -> Result<Option<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match api.create(&pp, obj).await {
        Ok(o) => Ok(Some(o)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(api
            .get_opt(&obj.meta().name.clone().unwrap_or_default())
            .await?),
        Err(e) => Err(e.into()),
    }
}

fn prefixed(field: &str, v: Vec<Violation>) -> Vec<Violation> {
    v.into_iter()
        .map(|mut x| {
            x.field = format!("{field}.{}", x.field);
            x
        })
        .collect()
}

async fn provision_subdomain(
    ctx: &Context,
    req: &Request,
    body: &SubdomainRequest,
    tenant: &str,
) -> Result<Outcome> {
    let fqdn = format!("{}.{}", body.label, body.zone);
    let api: Api<Subdomain> = Api::all(ctx.client.clone());
    let output = OutputRef {
        kind: "Subdomain".into(),
        name: fqdn.clone(),
        namespace: None,
    };

    let existing = match api.get_opt(&fqdn).await? {
        Some(sd) => Some(sd),
        None => {
            // validate with live state, then claim
            let zones: Api<Zone> = Api::all(ctx.client.clone());
            let zone_list = zones.list(&super::cached()).await?;
            let served: Vec<String> = zone_list.items.iter().map(|z| z.name_any()).collect();
            let zone = zone_list.items.iter().find(|z| z.name_any() == body.zone);
            let Some(t) = Api::<Tenant>::all(ctx.client.clone())
                .get_opt(tenant)
                .await?
            else {
                return Ok(Outcome::new(
                    RequestPhase::Failed,
                    reasons::RULE_BROKEN,
                    format!(
                        "tenant '{tenant}' does not exist; a Dinas engineer must create it first"
                    ),
                ));
            };
            let held = api
                .list(&super::cached().labels(&format!("{}={tenant}", labels::TENANT)))
                .await?;
            let alias_target = match body.target.alias.as_deref() {
                Some(a) => api.get_opt(a.trim_end_matches('.')).await?,
                None => None,
            };
            let claim = naming::Claim {
                label: &body.label,
                zone_name: &body.zone,
                zone: zone.map(|z| &z.spec),
                served_zones: &served,
                tenant,
                tenant_type: t.spec.type_,
                limits: &t.spec.limits,
                held: naming::Holdings {
                    subdomains: held.items.len() as u32,
                    websites: held.items.iter().filter(|s| s.spec.website).count() as u32,
                },
                website: body.website,
                target: &body.target,
                alias_holder: match &alias_target {
                    Some(sd) => naming::Holder::Tenant(&sd.spec.tenant),
                    None => naming::Holder::Nobody,
                },
                denied_ranges: &ctx.settings.denied_target_ranges,
            };
            let violations = prefixed("spec.subdomain", naming::check_claim(&claim));
            if !violations.is_empty() {
                return Ok(Outcome::new(
                    RequestPhase::Failed,
                    reasons::RULE_BROKEN,
                    rules::summarize(&violations),
                ));
            }
            // the website rule as a claim, not a count: of two racing approvals one wins
            if body.website
                && !super::website::claim(ctx, tenant, &fqdn, t.spec.limits.websites).await?
            {
                return Ok(Outcome::new(
                    RequestPhase::Failed,
                    reasons::RULE_BROKEN,
                    format!(
                        "spec.subdomain.website: tenant '{tenant}' already runs its {} website(s) (limit); a Perangkat Daerah runs at most one",
                        t.spec.limits.websites
                    ),
                ));
            }
            create_claim(&api, &build_subdomain(req, body, tenant)).await?
        }
    };
    let Some(sd) = existing else {
        return Ok(Outcome::new(
            RequestPhase::Provisioning,
            reasons::WAITING_FOR_OUTPUTS,
            format!("claiming {fqdn}"),
        ));
    };
    if !super::made_for(sd.annotations(), req) {
        let holder = sd
            .annotations()
            .get(REQUEST_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| "an earlier registration".into());
        return Ok(Outcome::new(
            RequestPhase::Failed,
            reasons::NAME_TAKEN,
            format!(
                "spec.subdomain.label: {fqdn} is already held by tenant '{}' ({holder}); choose another label",
                sd.spec.tenant
            ),
        ));
    }
    let sd_status = sd.status.as_ref();
    let ready = sd_status.is_some_and(|s| status::is_true(&s.conditions, types::READY));
    let mut out = if ready {
        Outcome::new(
            RequestPhase::Ready,
            reasons::PROVISIONED,
            format!("{fqdn} is served"),
        )
    } else {
        let why = sd_status
            .and_then(|s| status::get(&s.conditions, types::READY))
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "being set up".into());
        Outcome::new(
            RequestPhase::Provisioning,
            reasons::WAITING_FOR_OUTPUTS,
            format!("{fqdn}: {why}"),
        )
    };
    out.outputs = vec![output];
    Ok(out)
}

async fn reconcile(req: Arc<Request>, ctx: Arc<Context>) -> Result<Action> {
    let name = req.name_any();
    super::timed("Request", name, reconcile_inner(req, ctx)).await
}

async fn reconcile_inner(req: Arc<Request>, ctx: Arc<Context>) -> Result<Action> {
    let ns = req
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = req.name_any();
    let gen_ = req.metadata.generation;
    let old = req.status.clone().unwrap_or_default();

    // read
    let approvals = Api::<Approval>::namespaced(ctx.client.clone(), &ns)
        .list(&super::cached())
        .await?;
    let (decision, ignored) = deciding(&req, &approvals.items);
    let decision_record = decision.map(|a| DecisionRecord {
        approval: a.name_any(),
        decision: a.spec.decision,
        approver: a.spec.approver.clone(),
        reason: a.spec.reason.clone(),
        at: a
            .creation_timestamp()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    });

    // validate (pure) and decide
    let today = chrono::Utc::now().date_naive();
    let violations = rules::request::check(&req.spec, today);
    let outcome = match (tenant_of_namespace(&ns), decision) {
        (None, _) => Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            format!("requests are filed in a tenant's home namespace (tenant-<name>), not in {ns}"),
        ),
        _ if !violations.is_empty() => Outcome::new(
            RequestPhase::Failed,
            reasons::INVALID_SPEC,
            rules::summarize(&violations),
        ),
        (Some(_), None) if !ignored.is_empty() => Outcome::new(
            RequestPhase::Pending,
            reasons::APPROVAL_IGNORED,
            format!(
                "{}; waiting for a Dinas decision on this request: kavling approve -n {ns} {name}",
                ignored.join("; ")
            ),
        ),
        (Some(_), None) => Outcome::new(
            RequestPhase::Pending,
            reasons::AWAITING_APPROVAL,
            format!("waiting for a Dinas decision: kavling approve -n {ns} {name}"),
        ),
        (Some(_), Some(a)) if a.spec.decision == Decision::Reject => Outcome::new(
            RequestPhase::Rejected,
            reasons::REJECTED,
            format!("rejected by {}: {}", a.spec.approver, a.spec.reason),
        ),
        (Some(tenant), Some(_)) => {
            match (&req.spec.subdomain, &req.spec.hosting, &req.spec.storage) {
                // build + apply
                (Some(body), _, _) => provision_subdomain(&ctx, &req, body, tenant).await?,
                (_, Some(body), _) => provision_hosting(&ctx, &req, body, tenant).await?,
                (_, _, Some(body)) => provision_bucket(&ctx, &req, body, tenant).await?,
                _ => Outcome::new(
                    RequestPhase::Failed,
                    reasons::INVALID_SPEC,
                    "the request carries no subdomain, hosting or storage",
                ),
            }
        }
    };

    // report
    let st = apply_outcome(&old, &req, &outcome, decision_record, gen_);
    if old.phase != outcome.phase
        || (outcome.phase == RequestPhase::Failed
            && status::get(&old.conditions, types::FAILED).map(|c| &c.message)
                != Some(&outcome.message))
    {
        let type_ = if outcome.phase == RequestPhase::Failed {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(
            req.as_ref(),
            type_,
            outcome.reason,
            &format!("{:?}", outcome.phase),
            outcome.message.clone(),
        )
        .await;
    }
    if old != st {
        let api: Api<Request> = Api::namespaced(ctx.client.clone(), &ns);
        let patch =
            json!({"apiVersion": "kavling.go.id/v1alpha1", "kind": "Request", "status": st});
        api.patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    }
    ctx.succeeded(req.as_ref());
    Ok(Action::requeue(SAFETY_REQUEUE))
}

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

fn error_policy(req: Arc<Request>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.retry_after(req.as_ref(), err)
}

/// Runs the Request controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    Controller::new(
        Api::<Request>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<Approval>::all(client.clone()),
        watcher::Config::default(),
        |a: Approval| {
            a.namespace()
                .map(|ns| ObjectRef::<Request>::new(&a.spec.request).within(&ns))
        },
    )
    .watches(
        Api::<Subdomain>::all(client.clone()),
        watcher::Config::default(),
        |sd: Subdomain| {
            let key = sd.annotations().get(REQUEST_ANNOTATION)?;
            let (ns, name) = key.split_once('/')?;
            Some(ObjectRef::<Request>::new(name).within(ns))
        },
    )
    .watches(
        Api::<Hosting>::all(client.clone()),
        watcher::Config::default(),
        |h: Hosting| {
            let key = h.annotations().get(REQUEST_ANNOTATION)?;
            let (ns, name) = key.split_once('/')?;
            Some(ObjectRef::<Request>::new(name).within(ns))
        },
    )
    .watches(
        Api::<Bucket>::all(client.clone()),
        watcher::Config::default(),
        |b: Bucket| {
            let key = b.annotations().get(REQUEST_ANNOTATION)?;
            let (ns, name) = key.split_once('/')?;
            Some(ObjectRef::<Request>::new(name).within(ns))
        },
    )
    .shutdown_on_signal()
    .run(reconcile, error_policy, ctx)
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "request controller stream");
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_approval_of_this_exact_request_decides() {
        let req: Request = serde_json::from_value(serde_json::json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Request",
            "metadata": {"name": "portal", "namespace": "tenant-dinkes", "uid": "u-2"},
            "spec": {"requestedBy": "rina", "letter": {"number": "1", "date": "2026-11-01",
                "signer": {"name": "A", "position": "B", "identity": {"nip": "197805122005012003"}}},
                "storage": {"name": "arsip", "dataDescription": "x", "size": "1Gi",
                    "classification": "Publik", "personalData": false}}
        }))
        .unwrap();
        let good = Approval::deciding(&req, Decision::Approve, "ani", "");
        let mut earlier = good.clone();
        earlier.spec.request_uid = "u-1".into();
        let (d, why) = deciding(&req, std::slice::from_ref(&earlier));
        assert!(d.is_none());
        assert!(why[0].contains("never carries over"), "{why:?}");
        let both = [earlier, good];
        let (d, why) = deciding(&req, &both);
        assert_eq!(d.map(|a| a.spec.request_uid.as_str()), Some("u-2"));
        assert_eq!(why.len(), 1);
    }
}
