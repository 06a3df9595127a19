//! Tenant → home namespace `tenant-<name>` with a RoleBinding for the tenant's groups; status
//! shows usage against limits.
//!
//! The namespace has no owner reference on purpose: deleting a Tenant must never delete the
//! requests and outputs in its namespace (invariant 5); a human decommissions it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::{reflector::ObjectRef, watcher};
use kube::{Api, ResourceExt};

use super::status::{self, reasons, types};
use super::{Context, MANAGER, Result, SAFETY_REQUEUE};
use crate::api::{Subdomain, Tenant, TenantStatus, TenantUsage, home_namespace, labels};
use crate::rules;

/// The ClusterRole bound in each home namespace for the tenant's groups (manifests/rbac).
pub const TENANT_CLUSTER_ROLE: &str = "kavling-tenant";

/// The home namespace object (pure).
pub fn build_namespace(tenant: &Tenant) -> Namespace {
    let name = tenant.name_any();
    Namespace {
        metadata: ObjectMeta {
            name: Some(home_namespace(&name)),
            labels: Some(BTreeMap::from([
                (labels::TENANT.into(), name),
                (labels::MANAGED_BY.into(), labels::MANAGER.into()),
                (
                    "pod-security.kubernetes.io/enforce".into(),
                    "restricted".into(),
                ),
            ])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The RoleBinding giving the tenant's groups the tenant role in its home namespace (pure).
pub fn build_role_binding(tenant: &Tenant) -> RoleBinding {
    let name = tenant.name_any();
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(TENANT_CLUSTER_ROLE.into()),
            namespace: Some(home_namespace(&name)),
            labels: Some(BTreeMap::from([
                (labels::TENANT.into(), name.clone()),
                (labels::MANAGED_BY.into(), labels::MANAGER.into()),
            ])),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: TENANT_CLUSTER_ROLE.into(),
        },
        subjects: Some(
            tenant
                .spec
                .groups
                .iter()
                .map(|g| Subject {
                    kind: "Group".into(),
                    name: g.clone(),
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    namespace: None,
                })
                .collect(),
        ),
    }
}

pub use crate::rules::tenant::{check_parent_exists, validate};

async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action> {
    let name = tenant.name_any();
    let tenants: Api<Tenant> = Api::all(ctx.client.clone());

    // read
    let parent_code = match &tenant.spec.parent {
        Some(p) => tenants.get_opt(p).await?.map(|t| t.spec.code),
        None => None,
    };
    let subdomains: Api<Subdomain> = Api::all(ctx.client.clone());
    let held = subdomains
        .list(&super::cached().labels(&format!("{}={}", labels::TENANT, name)))
        .await?;
    let usage = TenantUsage {
        subdomains: held.items.len() as u32,
        websites: held.items.iter().filter(|s| s.spec.website).count() as u32,
    };

    // validate
    let mut st = tenant.status.clone().unwrap_or_default();
    let gen_ = tenant.metadata.generation;
    let mut violations = validate(&tenant, parent_code.as_deref());
    violations.extend(check_parent_exists(&tenant, parent_code.is_some()));
    if !violations.is_empty() {
        let msg = rules::summarize(&violations);
        let was = status::get(&st.conditions, types::FAILED).map(|c| c.message.clone());
        status::set(
            &mut st.conditions,
            status::condition(
                types::FAILED,
                true,
                reasons::INVALID_SPEC,
                msg.clone(),
                gen_,
            ),
        );
        status::set(
            &mut st.conditions,
            status::condition(
                types::READY,
                false,
                reasons::INVALID_SPEC,
                msg.clone(),
                gen_,
            ),
        );
        if was.as_deref() != Some(msg.as_str()) {
            ctx.event(
                tenant.as_ref(),
                EventType::Warning,
                reasons::INVALID_SPEC,
                "Validate",
                msg,
            )
            .await;
        }
        st.usage = usage;
        return report(&tenants, &tenant, st).await;
    }

    // build + apply (never adopt a namespace Kavling did not create: invariant 3)
    let ns = build_namespace(&tenant);
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let ns_name = home_namespace(&name);
    if let Some(existing) = namespaces.get_opt(&ns_name).await? {
        let ours = existing
            .labels()
            .get(labels::MANAGED_BY)
            .map(String::as_str)
            == Some(labels::MANAGER)
            && existing.labels().get(labels::TENANT) == Some(&name);
        if !ours {
            let msg = format!(
                "namespace {ns_name} exists and was not created by Kavling for this tenant; it is left alone"
            );
            status::set(
                &mut st.conditions,
                status::condition(types::READY, false, "NamespaceConflict", msg.clone(), gen_),
            );
            status::set(
                &mut st.conditions,
                status::condition(types::FAILED, true, "NamespaceConflict", msg, gen_),
            );
            return report(&tenants, &tenant, st).await;
        }
    }
    let pp = PatchParams::apply(MANAGER).force();
    namespaces.patch(&ns_name, &pp, &Patch::Apply(&ns)).await?;
    let rbs: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &ns_name);
    rbs.patch(
        TENANT_CLUSTER_ROLE,
        &pp,
        &Patch::Apply(&build_role_binding(&tenant)),
    )
    .await?;

    // report
    let became_ready = !status::is_true(&st.conditions, types::READY);
    status::remove(&mut st.conditions, types::FAILED);
    status::set(
        &mut st.conditions,
        status::condition(
            types::READY,
            true,
            reasons::PROVISIONED,
            format!(
                "home namespace {ns_name}; {}/{} subdomains, {}/{} websites",
                usage.subdomains,
                tenant.spec.limits.subdomains,
                usage.websites,
                tenant.spec.limits.websites
            ),
            gen_,
        ),
    );
    st.namespace = Some(ns_name.clone());
    st.usage = usage;
    if became_ready {
        ctx.event(
            tenant.as_ref(),
            EventType::Normal,
            reasons::PROVISIONED,
            "Provision",
            format!("home namespace {ns_name} is ready"),
        )
        .await;
    }
    report(&tenants, &tenant, st).await
}

async fn report(api: &Api<Tenant>, tenant: &Tenant, mut st: TenantStatus) -> Result<Action> {
    st.observed_generation = tenant.metadata.generation;
    if tenant.status.as_ref() != Some(&st) {
        super::apply_status_with(api, tenant, &st).await?;
    }
    Ok(Action::requeue(SAFETY_REQUEUE))
}

/// Runs the Tenant controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    super::harness::run(
        Controller::new(
            Api::<Tenant>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default().labels(labels::TENANT),
            |ns: Namespace| {
                ns.labels()
                    .get(labels::TENANT)
                    .map(|t| ObjectRef::<Tenant>::new(t))
            },
        )
        .watches(
            Api::<Subdomain>::all(client.clone()),
            watcher::Config::default(),
            |sd: Subdomain| Some(ObjectRef::<Tenant>::new(&sd.spec.tenant)),
        ),
        ctx,
        reconcile,
    )
    .await;
}
