//! Hosting → the namespace `<tenant>-<name>` rendered from its template, applied with
//! server-side apply under one field manager; what the template no longer renders is deleted;
//! objects Kavling did not create are never touched.
//!
//! Suspension scales the app to zero (remembering each workload's replicas in an
//! annotation) and points the Ingress at a notice; resume restores exactly those replicas.
//! Deletion (finalizer): first the Subdomains that point here withdraw their records (no
//! dangling name); the namespace itself is removed only when the Hosting carries the explicit
//! annotation `kavling.go.id/decommission: "true"` — never as a side effect.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::status::{self, reasons, types};
use super::{Context, Error, MANAGER, Result, label_value};
use crate::api::{
    AppTemplate, Certificate, CertificateSpec, DnsRecord, Hosting, HostingStatus, HostingUsage,
    Subdomain, Tenant, labels, tenant_of_namespace,
};
use crate::hosting::{HOSTING_LABEL, RenderInput, object_key};
use crate::rules::{self, Violation};

/// Finalizer: records withdrawn before the Hosting goes.
pub const FINALIZER: &str = "kavling.go.id/hosting";
/// The explicit decommission that lets deleting a Hosting delete its namespace.
pub const DECOMMISSION: &str = "kavling.go.id/decommission";
/// Replicas a workload had before suspension.
pub const RESUME_REPLICAS: &str = "kavling.go.id/resume-replicas";

/// The namespace of a tenant's hosting: `<tenant>--<name>`, injective across tenants.
pub use crate::rules::derived::hosting_namespace;

/// The kinds a template may render, with their API coordinates (and what prune looks at).
fn api_resource(kind: &str) -> Option<ApiResource> {
    let (g, v, plural) = match kind {
        "Namespace" => ("", "v1", "namespaces"),
        "ResourceQuota" => ("", "v1", "resourcequotas"),
        "LimitRange" => ("", "v1", "limitranges"),
        "ServiceAccount" => ("", "v1", "serviceaccounts"),
        "ConfigMap" => ("", "v1", "configmaps"),
        "Service" => ("", "v1", "services"),
        "PersistentVolumeClaim" => ("", "v1", "persistentvolumeclaims"),
        "NetworkPolicy" => ("networking.k8s.io", "v1", "networkpolicies"),
        "Ingress" => ("networking.k8s.io", "v1", "ingresses"),
        "RoleBinding" => ("rbac.authorization.k8s.io", "v1", "rolebindings"),
        "Deployment" => ("apps", "v1", "deployments"),
        "StatefulSet" => ("apps", "v1", "statefulsets"),
        _ => return None,
    };
    Some(ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(g, v, kind),
        plural,
    ))
}

/// Namespaced kinds pruned when the template no longer renders them.
const PRUNED: &[&str] = &[
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "PersistentVolumeClaim",
    "NetworkPolicy",
    "Ingress",
    "RoleBinding",
    "Deployment",
    "StatefulSet",
];

/// The ingress addresses a Subdomain pointing at hosting `name` of `tenant` should publish,
/// or why there are none (the hosting is missing, being deleted, or not Ready).
pub async fn served_addresses(
    ctx: &Context,
    tenant: &str,
    name: &str,
) -> Result<(Option<Vec<String>>, String)> {
    let api: Api<Hosting> =
        Api::namespaced(ctx.client.clone(), &crate::api::home_namespace(tenant));
    let Some(h) = api.get_opt(name).await? else {
        return Ok((
            None,
            format!("the name will point at hosting '{name}' once it exists"),
        ));
    };
    if h.meta().deletion_timestamp.is_some() {
        return Ok((
            None,
            format!("hosting '{name}' is being deleted; the name is withdrawn"),
        ));
    }
    let ready = h
        .status
        .as_ref()
        .is_some_and(|s| status::is_true(&s.conditions, types::READY));
    if !ready {
        return Ok((
            None,
            format!("the name will point at hosting '{name}' once it is Ready"),
        ));
    }
    if ctx.settings.ingress_addresses.is_empty() {
        return Ok((
            None,
            "the operator has no --ingress-address to publish for hostings".into(),
        ));
    }
    Ok((Some(ctx.settings.ingress_addresses.clone()), String::new()))
}

pub use crate::rules::hosting::{check_resources, check_tenant_budget};

async fn reconcile(h: Arc<Hosting>, ctx: Arc<Context>) -> Result<Action> {
    let ns = h
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<Hosting> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer::finalizer(&api, FINALIZER, h.clone(), |event| async {
        match event {
            Finalizer::Apply(h) => apply(&h, &ctx).await,
            Finalizer::Cleanup(h) => cleanup(&h, &ctx).await,
        }
    })
    .await
    .map_err(super::harness::from_finalizer)
}

async fn patch_status(ctx: &Context, h: &Hosting, st: &HostingStatus) -> Result<()> {
    if h.status.as_ref() == Some(st) {
        return Ok(());
    }
    super::apply_status(&ctx.client, h, st).await
}

/// Reports a spec or rule problem: nothing is created or changed.
async fn refuse(
    ctx: &Context,
    h: &Hosting,
    reason: &'static str,
    message: String,
) -> Result<Action> {
    super::harness::refuse(ctx, h, h.status.as_ref(), reason, message).await
}

/// A random password for a generated Secret.
fn password() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a Hosting's decision needs, read first (the only reads before applying).
pub struct Observed {
    pub tenant: Tenant,
    /// The Subdomains the tenant holds.
    pub held: Vec<Subdomain>,
    /// The other Hostings in the tenant's home namespace.
    pub others: Vec<Hosting>,
    /// The zones whose policy allows wildcards now.
    pub wildcard_zones: BTreeSet<String>,
}

/// What a Hosting should be: its namespace rendered.
pub struct Desired {
    pub target: String,
    pub domains: BTreeSet<String>,
    /// The domains whose names below are answered too (a wildcard Subdomain targeting it).
    pub wildcard_domains: BTreeSet<String>,
    pub suspended: bool,
    pub suspend_reason: String,
    pub objects: Vec<serde_json::Value>,
}

/// dereference: the tenant, its subdomains, its other hostings; `Err` is a refusal.
async fn dereference(
    h: &Hosting,
    ctx: &Context,
    tenant: &str,
) -> Result<std::result::Result<Observed, (&'static str, String)>> {
    let ns = h.namespace().unwrap_or_default();
    let Some(t) = Api::<Tenant>::all(ctx.client.clone())
        .get_opt(tenant)
        .await?
    else {
        return Ok(Err((
            reasons::RULE_BROKEN,
            format!("tenant '{tenant}' does not exist"),
        )));
    };
    let held = Api::<Subdomain>::all(ctx.client.clone())
        .list(&super::cached().labels(&format!("{}={tenant}", labels::TENANT)))
        .await?
        .items;
    let others = Api::<Hosting>::namespaced(ctx.client.clone(), &ns)
        .list(&super::cached())
        .await?
        .items;
    let wildcard_zones = Api::<crate::api::Zone>::all(ctx.client.clone())
        .list(&super::cached())
        .await?
        .items
        .into_iter()
        .filter(|z| z.spec.policy.allow_wildcards)
        .map(|z| z.name_any())
        .collect();
    Ok(Ok(Observed {
        tenant: t,
        held,
        others,
        wildcard_zones,
    }))
}

/// validate → build (pure): the rendered namespace, or why not (reason, message).
pub fn decide(
    h: &Hosting,
    o: &Observed,
    settings: &super::Settings,
    templates: &crate::hosting::Templates,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<Desired, (&'static str, String)> {
    let name = h.name_any();
    let tenant = o.tenant.name_any();
    let target = hosting_namespace(&tenant, &name);
    let mut v = vec![];
    v.extend(crate::rules::derived::check_hosting_namespace(
        "metadata.name",
        &target,
        &settings.ingress_namespace,
    ));
    v.extend(check_resources(&h.spec.resources));
    let params = match templates.resolve(h.spec.template, &h.spec.parameters, "spec.parameters") {
        Ok(p) => p,
        Err(e) => {
            v.extend(e);
            BTreeMap::new()
        }
    };
    let held_names: BTreeSet<String> = o.held.iter().map(|s| s.name_any()).collect();
    for (i, d) in h.spec.domains.iter().enumerate() {
        if !held_names.contains(d) {
            v.push(Violation::new(format!("spec.domains[{i}]"), "hosting-domain-not-held", format!("{d} is not a subdomain tenant '{tenant}' holds; request it first (target: hosting {name})")));
        }
    }
    let other_plans: Vec<&crate::api::HostingResources> = o
        .others
        .iter()
        .filter(|x| x.name_any() != name && x.meta().deletion_timestamp.is_none())
        .map(|x| &x.spec.resources)
        .collect();
    v.extend(check_tenant_budget(
        &o.tenant.spec.limits,
        &other_plans,
        &h.spec.resources,
    ));
    if !v.is_empty() {
        return Err((reasons::INVALID_SPEC, rules::summarize(&v)));
    }
    let mut domains: BTreeSet<String> = h.spec.domains.iter().cloned().collect();
    domains.extend(
        o.held
            .iter()
            .filter(|s| s.spec.target.hosting.as_deref() == Some(name.as_str()))
            .map(|s| s.name_any()),
    );
    let wildcard_domains: BTreeSet<String> = o
        .held
        .iter()
        .filter(|s| {
            s.spec.target.hosting.as_deref() == Some(name.as_str())
                && s.spec.wildcard
                && o.wildcard_zones.contains(&s.spec.zone)
        })
        .map(|s| s.name_any())
        .collect();
    let suspended = super::subdomain::suspension_in_force(h.spec.suspend.as_ref(), now);
    let suspend_reason = h
        .spec
        .suspend
        .as_ref()
        .map(|s| s.reason.clone())
        .unwrap_or_default();
    let input = RenderInput {
        tenant: tenant.clone(),
        hosting: name.clone(),
        namespace: target.clone(),
        template: h.spec.template,
        params,
        resources: h.spec.resources.clone(),
        domains: domains.iter().cloned().collect(),
        wildcard_domains: wildcard_domains.iter().cloned().collect(),
        groups: o.tenant.spec.groups.clone(),
        suspended,
        suspend_reason: suspend_reason.clone(),
        ingress_namespace: settings.ingress_namespace.clone(),
        ingress_class: settings.ingress_class.clone(),
        images: settings.images.clone(),
        source_mirror: settings.source_mirror.clone(),
    };
    let objects = templates.render(&input).map_err(|e| {
        (
            reasons::INVALID_SPEC,
            format!("template {}: {e}", h.spec.template.as_str()),
        )
    })?;
    Ok(Desired {
        target,
        domains,
        wildcard_domains,
        suspended,
        suspend_reason,
        objects,
    })
}

/// dereference → [`decide`] → apply the rendered namespace → report.
async fn apply(h: &Hosting, ctx: &Context) -> Result<Action> {
    let ns = h.namespace().unwrap_or_default();
    let Some(tenant) = tenant_of_namespace(&ns).map(str::to_string) else {
        return refuse(ctx, h, reasons::INVALID_SPEC, format!("metadata.namespace: a Hosting lives in a tenant's home namespace (tenant-<name>), not {ns}")).await;
    };
    let observed = match dereference(h, ctx, &tenant).await? {
        Ok(o) => o,
        Err((reason, why)) => return refuse(ctx, h, reason, why).await,
    };
    let Desired {
        target,
        domains,
        wildcard_domains,
        suspended,
        suspend_reason,
        objects,
    } = match decide(
        h,
        &observed,
        &ctx.settings,
        &ctx.templates,
        chrono::Utc::now(),
    ) {
        Ok(d) => d,
        Err((reason, why)) => return refuse(ctx, h, reason, why).await,
    };

    // apply: never adopt what Kavling did not make. The namespace first, then the rest
    // concurrently (they are independent; measured: one at a time made approve→Ready ~12×
    // the cost of the bare applies).
    let pp = PatchParams::apply(MANAGER).force();
    let conflicts = match apply_objects(ctx, &target, &objects).await {
        Ok(c) => c,
        Err(e) => match quota_refusal(&e) {
            Some(why) => return wait_for_quota(ctx, h, &target, why).await,
            None => return Err(e),
        },
    };
    if let Some(c) = conflicts.into_iter().next() {
        return refuse(ctx, h, reasons::OBJECT_CONFLICT, c).await;
    }
    // the database password: generated once, never rendered, never overwritten
    if matches!(
        h.spec.template,
        AppTemplate::Wordpress | AppTemplate::Opensid
    ) {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &target);
        if secrets.get_opt("db").await?.is_none() {
            let s = Secret {
                metadata: ObjectMeta {
                    name: Some("db".into()),
                    labels: Some(BTreeMap::from([
                        (HOSTING_LABEL.into(), target.clone()),
                        (labels::MANAGED_BY.into(), labels::MANAGER.into()),
                    ])),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([
                    ("password".to_string(), ByteString(password().into_bytes())),
                    (
                        "root-password".to_string(),
                        ByteString(password().into_bytes()),
                    ),
                ])),
                ..Default::default()
            };
            match secrets.create(&PostParams::default(), &s).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    // certificates for its domains, in the hosting namespace
    let certs: Api<Certificate> = Api::namespaced(ctx.client.clone(), &target);
    for d in &domains {
        let mut c = Certificate::new(
            d,
            CertificateSpec {
                dns_names: super::certificate::names_for(d, wildcard_domains.contains(d)),
                issuer: ctx.settings.default_issuer.clone(),
                secret_name: format!("{d}-tls"),
                key_algorithm: Default::default(),
            },
        );
        c.metadata.labels = Some(BTreeMap::from([
            (HOSTING_LABEL.into(), target.clone()),
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
        ]));
        certs.patch(d, &pp, &Patch::Apply(&c)).await?;
    }

    // prune what the template no longer renders (only objects labelled for this hosting)
    let rendered: BTreeSet<String> = objects.iter().map(object_key).collect();
    let selector = ListParams::default().labels(&format!("{HOSTING_LABEL}={target}"));
    let pruned: usize = futures::future::try_join_all(
        PRUNED
            .iter()
            .map(|k| prune_kind(ctx, &target, k, &rendered)),
    )
    .await?
    .into_iter()
    .sum();
    for c in certs.list(&selector).await?.items {
        if !domains.contains(&c.name_any()) {
            let _ = certs.delete(&c.name_any(), &DeleteParams::default()).await;
        }
    }

    // suspension: workloads to zero and back, exactly
    scale_for_suspension(ctx, &target, suspended).await?;

    // report
    let usage = Api::<ResourceQuota>::namespaced(ctx.client.clone(), &target)
        .get_opt("kavling-quota")
        .await?
        .and_then(|q| q.status)
        .map(|s| HostingUsage {
            used: s
                .used
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            hard: s
                .hard
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        });
    let rendered = Rendered {
        target: &target,
        domains: &domains,
        objects: &objects,
        pruned,
        suspended,
        suspend_reason: &suspend_reason,
        usage,
    };
    let (st, events) = ready_status(h, &rendered);
    for (reason, action, note) in events {
        ctx.event(h, EventType::Normal, reason, action, note).await;
    }
    patch_status(ctx, h, &st).await?;
    Ok(Action::requeue(Duration::from_secs(120)))
}

/// Applies the rendered objects: the namespace first, then the rest concurrently. Returns
/// the conflicts (objects Kavling did not make, left alone).
async fn apply_objects(
    ctx: &Context,
    target: &str,
    objects: &[serde_json::Value],
) -> Result<Vec<String>> {
    let (first, rest) = objects
        .split_first()
        .ok_or(Error::MissingField("rendered namespace"))?;
    let mut conflicts: Vec<String> = apply_object(ctx, target, first)
        .await?
        .into_iter()
        .collect();
    if conflicts.is_empty() {
        let results =
            futures::future::try_join_all(rest.iter().map(|o| apply_object(ctx, target, o)))
                .await?;
        conflicts.extend(results.into_iter().flatten());
    }
    Ok(conflicts)
}

/// The API server's quota admission refused an object (pure): its message. Besides a
/// hosting that really outgrew its quota, this happens after a create was interrupted (the
/// operator killed mid-request, the API server stopped): quota admission charges the object
/// before it is stored, and nothing uncharges it until kube-controller-manager recounts the
/// namespace (its resync, 5 minutes by default). The chaos run met it.
fn quota_refusal(e: &Error) -> Option<String> {
    match e {
        Error::Kube(kube::Error::Api(s))
            if s.code == 403 && s.message.contains("exceeded quota") =>
        {
            Some(s.message.clone())
        }
        _ => None,
    }
}

/// Says on the Hosting that it waits for its namespace's quota, instead of failing silently
/// in the error backoff; looks again in 30 s. Not a refusal: nothing about the spec is wrong.
async fn wait_for_quota(ctx: &Context, h: &Hosting, target: &str, why: String) -> Result<Action> {
    let (st, news) = quota_wait_status(h, target, &why);
    if news {
        ctx.event(h, EventType::Warning, reasons::QUOTA_REACHED, "Apply", why)
            .await;
    }
    patch_status(ctx, h, &st).await?;
    Ok(Action::requeue(Duration::from_secs(30)))
}

/// The status of a hosting whose objects the quota refused (pure), and whether that is news.
fn quota_wait_status(h: &Hosting, target: &str, why: &str) -> (HostingStatus, bool) {
    let mut st = h.status.clone().unwrap_or_default();
    let message = format!(
        "waiting for the quota of namespace {target}: {why}. If nothing in it uses that much, \
         a create was interrupted and Kubernetes recounts the quota within its resync period \
         (5 minutes by default); Kavling tries again every 30 s"
    );
    let news = status::get(&st.conditions, types::READY).map(|c| c.message.as_str())
        != Some(message.as_str());
    let generation = h.metadata.generation;
    status::set(
        &mut st.conditions,
        status::condition(
            types::READY,
            false,
            reasons::QUOTA_REACHED,
            message,
            generation,
        ),
    );
    st.namespace = Some(target.to_string());
    (st, news)
}

/// What [`ready_status`] reports of an applied hosting.
struct Rendered<'a> {
    target: &'a str,
    domains: &'a BTreeSet<String>,
    objects: &'a [serde_json::Value],
    pruned: usize,
    suspended: bool,
    suspend_reason: &'a str,
    usage: Option<HostingUsage>,
}

/// The status of an applied hosting (pure), and the Events its transitions deserve.
fn ready_status(
    h: &Hosting,
    r: &Rendered<'_>,
) -> (HostingStatus, Vec<(&'static str, &'static str, String)>) {
    let gen_ = h.metadata.generation;
    let (target, domains, objects, pruned, suspended) =
        (r.target, r.domains, r.objects, r.pruned, r.suspended);
    let mut events = vec![];
    let old = h.status.clone().unwrap_or_default();
    let mut st = old.clone();
    st.namespace = Some(target.to_string());
    st.domains = domains.iter().cloned().collect();
    st.endpoints = domains.iter().map(|d| format!("https://{d}/")).collect();
    st.objects = objects.iter().map(object_key).collect();
    st.usage = r.usage.clone();
    st.observed_generation = gen_;
    status::remove(&mut st.conditions, types::FAILED);
    let msg = format!(
        "namespace {target} from template {} ({} objects{}){}",
        h.spec.template.as_str(),
        objects.len(),
        if pruned > 0 {
            format!(", {pruned} removed")
        } else {
            String::new()
        },
        if domains.is_empty() {
            String::new()
        } else {
            format!("; serves {}", st.domains.join(", "))
        }
    );
    let became_ready = !status::is_true(&old.conditions, types::READY);
    status::set(
        &mut st.conditions,
        status::condition(types::READY, true, reasons::PROVISIONED, msg.clone(), gen_),
    );
    let was_suspended = status::is_true(&old.conditions, types::SUSPENDED);
    status::set(
        &mut st.conditions,
        if suspended {
            status::condition(
                types::SUSPENDED,
                true,
                reasons::SUSPENDED,
                format!(
                    "app scaled to zero; its domains show a notice: {}",
                    r.suspend_reason
                ),
                gen_,
            )
        } else {
            status::condition(
                types::SUSPENDED,
                false,
                reasons::ACTIVE,
                "not suspended",
                gen_,
            )
        },
    );
    if became_ready {
        events.push((reasons::PROVISIONED, "Render", msg));
    }
    if suspended != was_suspended {
        events.push((
            if suspended {
                reasons::SUSPENDED
            } else {
                reasons::ACTIVE
            },
            if suspended { "Suspend" } else { "Resume" },
            if suspended {
                format!("suspended: {}", r.suspend_reason)
            } else {
                "resumed: replicas restored".into()
            },
        ));
    }
    (st, events)
}

/// Applies one rendered object unless an object of that name exists that Kavling did not make
/// for this hosting — then says so (`Some`) and leaves it alone.
async fn apply_object(
    ctx: &Context,
    target: &str,
    o: &serde_json::Value,
) -> Result<Option<String>> {
    let kind = o["kind"].as_str().unwrap_or_default();
    let Some(ar) = api_resource(kind) else {
        return Err(Error::Blocked(format!(
            "the template rendered an unsupported kind {kind}"
        )));
    };
    let oname = o["metadata"]["name"].as_str().unwrap_or_default();
    let dynapi: Api<DynamicObject> = if kind == "Namespace" {
        Api::all_with(ctx.client.clone(), &ar)
    } else {
        Api::namespaced_with(ctx.client.clone(), target, &ar)
    };
    if let Some(cur) = dynapi.get_opt(oname).await?
        && cur.labels().get(HOSTING_LABEL).map(String::as_str) != Some(target)
    {
        return Ok(Some(format!(
            "{kind} {oname} in {target} exists and was not made by Kavling for this hosting; it is left alone — remove or rename it"
        )));
    }
    dynapi
        .patch(
            oname,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(o),
        )
        .await?;
    Ok(None)
}

/// Deletes the objects of one kind labelled for this hosting that were not rendered.
async fn prune_kind(
    ctx: &Context,
    target: &str,
    kind: &str,
    rendered: &BTreeSet<String>,
) -> Result<usize> {
    let ar = api_resource(kind).expect("known kind");
    let dynapi: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), target, &ar);
    let selector = ListParams::default().labels(&format!("{HOSTING_LABEL}={target}"));
    let mut n = 0;
    for o in dynapi.list(&selector).await?.items {
        if !rendered.contains(&format!("{kind}/{}", o.name_any())) {
            match dynapi.delete(&o.name_any(), &DeleteParams::default()).await {
                Ok(_) => n += 1,
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(n)
}

/// Scales Deployments and StatefulSets of the namespace (ours, except the notice) to zero
/// while suspended, remembering their replicas; on resume, restores exactly those.
async fn scale_for_suspension(ctx: &Context, target: &str, suspended: bool) -> Result<()> {
    let selector = ListParams::default().labels(&format!("{HOSTING_LABEL}={target}"));
    for kind in ["Deployment", "StatefulSet"] {
        let ar = api_resource(kind).expect("known kind");
        let dynapi: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), target, &ar);
        for o in dynapi.list(&selector).await?.items {
            let oname = o.name_any();
            if oname == "kavling-notice" {
                continue;
            }
            let replicas = o.data["spec"]["replicas"].as_i64().unwrap_or(1);
            let saved = o.annotations().get(RESUME_REPLICAS).cloned();
            let patch = match (suspended, saved) {
                (true, None) => Some(
                    json!({"metadata": {"annotations": {RESUME_REPLICAS: replicas.to_string()}}, "spec": {"replicas": 0}}),
                ),
                (false, Some(n)) => Some(
                    json!({"metadata": {"annotations": {RESUME_REPLICAS: null}}, "spec": {"replicas": n.parse::<i64>().unwrap_or(1)}}),
                ),
                _ => None,
            };
            if let Some(p) = patch {
                dynapi
                    .patch(&oname, &PatchParams::default(), &Patch::Merge(&p))
                    .await?;
            }
        }
    }
    Ok(())
}

async fn cleanup(h: &Hosting, ctx: &Context) -> Result<Action> {
    let name = h.name_any();
    let ns = h.namespace().unwrap_or_default();
    let Some(tenant) = tenant_of_namespace(&ns) else {
        return Ok(Action::await_change());
    };
    let target = hosting_namespace(tenant, &name);
    // 1. no dangling name: every record of a Subdomain pointing here must be gone first
    let pointing: Vec<String> = Api::<Subdomain>::all(ctx.client.clone())
        .list(&super::cached().labels(&format!("{}={tenant}", labels::TENANT)))
        .await?
        .items
        .iter()
        .filter(|s| s.spec.target.hosting.as_deref() == Some(name.as_str()))
        .map(|s| s.name_any())
        .collect();
    let records: Api<DnsRecord> = Api::all(ctx.client.clone());
    for fqdn in &pointing {
        let left = records
            .list(&ListParams::default().labels(&format!(
                "{}={}",
                labels::SUBDOMAIN,
                label_value(fqdn)
            )))
            .await?;
        if !left.items.is_empty() {
            return Err(Error::Blocked(format!(
                "waiting for {fqdn}'s records to be withdrawn before hosting {name} goes"
            )));
        }
    }
    // 2. the namespace goes only on an explicit decommission
    if h.annotations().get(DECOMMISSION).map(String::as_str) == Some("true") {
        let nsapi: Api<Namespace> = Api::all(ctx.client.clone());
        if let Some(n) = nsapi.get_opt(&target).await?
            && n.labels().get(HOSTING_LABEL) == Some(&target)
        {
            nsapi.delete(&target, &DeleteParams::default()).await?;
            ctx.event(
                h,
                EventType::Warning,
                reasons::DECOMMISSIONED,
                "Decommission",
                format!("namespace {target} deleted ({DECOMMISSION}: \"true\")"),
            )
            .await;
        }
    } else {
        ctx.event(h, EventType::Normal, reasons::RETAINED, "Delete", format!("hosting {name} deleted; namespace {target} and its data are kept (set {DECOMMISSION}: \"true\" before deleting to remove them)")).await;
    }
    Ok(Action::await_change())
}

/// Runs the Hosting controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    super::harness::run(
        Controller::new(
            Api::<Hosting>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<Subdomain>::all(client.clone()),
            watcher::Config::default(),
            |s: Subdomain| {
                s.spec.target.hosting.as_ref().map(|h| {
                    ObjectRef::<Hosting>::new(h).within(&crate::api::home_namespace(&s.spec.tenant))
                })
            },
        ),
        ctx,
        reconcile,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hosting(domains: &[&str], cpu: &str) -> Hosting {
        serde_json::from_value(json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Hosting",
            "metadata": {"name": "web", "namespace": "tenant-dinkes"},
            "spec": {"template": "static", "domains": domains,
                "resources": {"cpu": cpu, "memory": "256Mi", "disk": "1Gi"}}
        }))
        .unwrap()
    }

    fn subdomain(fqdn: &str, target_hosting: Option<&str>) -> Subdomain {
        let (label, zone) = fqdn.split_once('.').unwrap();
        serde_json::from_value(json!({
            "apiVersion": "kavling.go.id/v1alpha1", "kind": "Subdomain",
            "metadata": {"name": fqdn},
            "spec": {"zone": zone, "label": label, "tenant": "dinkes",
                "target": match target_hosting {
                    Some(h) => json!({"hosting": h}),
                    None => json!({"addresses": ["192.0.2.1"]}),
                }}
        }))
        .unwrap()
    }

    fn observed(held: Vec<Subdomain>) -> Observed {
        Observed {
            tenant: serde_json::from_value(json!({
                "apiVersion": "kavling.go.id/v1alpha1", "kind": "Tenant",
                "metadata": {"name": "dinkes"},
                "spec": {"displayName": "Dinas Kesehatan", "type": "PerangkatDaerah", "code": "13.06"}
            }))
            .unwrap(),
            held,
            others: vec![],
            wildcard_zones: BTreeSet::new(),
        }
    }

    fn run(h: &Hosting, o: &Observed) -> std::result::Result<Desired, (&'static str, String)> {
        let templates = crate::hosting::Templates::load().unwrap();
        decide(h, o, &Default::default(), &templates, chrono::Utc::now())
    }

    #[test]
    fn a_quota_refusal_is_a_wait_named_on_the_hosting_not_a_failure() {
        let refused = Error::Kube(kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            message: "persistentvolumeclaims \"data\" is forbidden: exceeded quota: kavling-quota, requested: requests.storage=100Mi, used: requests.storage=100Mi, limited: requests.storage=100Mi".into(),
            reason: "Forbidden".into(),
            ..Default::default()
        })));
        let why = quota_refusal(&refused).expect("a quota refusal");
        let other = Error::Kube(kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            message: "forbidden: cannot create".into(),
            ..Default::default()
        })));
        assert_eq!(quota_refusal(&other), None, "RBAC is not quota");
        let h = hosting(&[], "100m");
        let (st, news) = quota_wait_status(&h, "dinkes--web", &why);
        assert!(news);
        let ready = status::get(&st.conditions, types::READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reasons::QUOTA_REACHED)
        );
        assert!(ready.message.contains("exceeded quota") && ready.message.contains("dinkes--web"));
        assert!(
            !status::is_true(&st.conditions, types::FAILED),
            "nothing is wrong with the spec"
        );
        let mut again = h.clone();
        again.status = Some(st);
        assert!(
            !quota_wait_status(&again, "dinkes--web", &why).1,
            "an Event once, not every 30 s"
        );
    }

    #[test]
    fn decide_renders_into_the_derived_namespace_with_the_domains_it_may_serve() {
        let o = observed(vec![
            subdomain("web.agamkab.go.id", Some("web")),
            subdomain("portal.agamkab.go.id", None),
        ]);
        let d = run(&hosting(&["portal.agamkab.go.id"], "500m"), &o)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(d.target, "dinkes--web");
        // named in spec, and pointed at it by its target
        assert_eq!(
            d.domains.iter().map(String::as_str).collect::<Vec<_>>(),
            ["portal.agamkab.go.id", "web.agamkab.go.id"]
        );
        assert!(!d.suspended);
        assert_eq!(d.objects[0]["kind"], "Namespace");
        assert_eq!(d.objects[0]["metadata"]["name"], "dinkes--web");
    }

    #[test]
    fn a_wildcard_subdomain_is_served_below_only_while_its_zone_allows_it() {
        let mut wild = subdomain("web.agamkab.go.id", Some("web"));
        wild.spec.wildcard = true;
        let mut elsewhere = subdomain("lain.agamkab.go.id", None);
        elsewhere.spec.wildcard = true;
        let mut o = observed(vec![wild, elsewhere]);
        let h = hosting(&["lain.agamkab.go.id"], "500m");
        let d = run(&h, &o).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(d.wildcard_domains.is_empty(), "the zone does not allow it");
        o.wildcard_zones.insert("agamkab.go.id".into());
        let d = run(&h, &o).unwrap_or_else(|e| panic!("{e:?}"));
        // lain's wildcard points at its own addresses, not at this hosting
        assert_eq!(
            d.wildcard_domains.iter().collect::<Vec<_>>(),
            ["web.agamkab.go.id"]
        );
        let ing = d.objects.iter().find(|x| x["kind"] == "Ingress").unwrap();
        assert!(ing.to_string().contains(r#""host":"*.web.agamkab.go.id""#));
    }

    #[test]
    fn decide_refuses_domains_not_held_and_plans_over_the_limit() {
        let (reason, why) = run(&hosting(&["lain.agamkab.go.id"], "500m"), &observed(vec![]))
            .err()
            .unwrap();
        assert_eq!(reason, reasons::INVALID_SPEC);
        assert!(
            why.contains("spec.domains[0]") && why.contains("hosting-domain-not-held"),
            "{why}"
        );
        let (_, why) = run(&hosting(&[], "64"), &observed(vec![])).err().unwrap();
        assert!(why.contains("spec.resources.cpu"), "{why}");
    }
}
