//! The one-website rule, claimed atomically. Counting a tenant's websites and then creating
//! the Subdomain lets two approvals made at the same instant both pass; instead each website
//! takes a slot first: a Lease `website.<tenant>.<n>` (n < the tenant's website limit) in the
//! operator's namespace, created — never applied — so the API server lets exactly one of two
//! racing creates have a slot. A slot whose holder is no longer a website of that tenant is
//! stale and is taken over by an update that carries its resourceVersion (compare-and-swap).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, ResourceExt};

use super::{Context, Result};
use crate::api::Subdomain;

/// The Lease name of a tenant's n-th website slot.
pub fn slot_name(tenant: &str, n: u32) -> String {
    format!("website.{tenant}.{n}")
}

fn lease(ns: &str, name: &str, holder: &str, resource_version: Option<String>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            resource_version,
            labels: Some(
                [(
                    crate::api::labels::MANAGED_BY.to_string(),
                    crate::api::labels::MANAGER.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            ..Default::default()
        }),
    }
}

/// Takes a website slot of `tenant` for `fqdn`. `Ok(true)` when `fqdn` holds one (now or
/// already); `Ok(false)` when every slot is held by another live website of the tenant.
pub async fn claim(ctx: &Context, tenant: &str, fqdn: &str, limit: u32) -> Result<bool> {
    let ns = &ctx.settings.namespace;
    super::ensure_namespace(&ctx.client, ns).await?;
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), ns);
    let subdomains: Api<Subdomain> = Api::all(ctx.client.clone());
    let pp = PostParams {
        field_manager: Some(super::MANAGER.into()),
        ..Default::default()
    };
    // already holding one (a retry after a kill)?
    for n in 0..limit {
        if let Some(l) = leases.get_opt(&slot_name(tenant, n)).await?
            && holder(&l) == Some(fqdn)
        {
            return Ok(true);
        }
    }
    for n in 0..limit {
        let name = slot_name(tenant, n);
        match leases.create(&pp, &lease(ns, &name, fqdn, None)).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = leases.get_opt(&name).await? else {
            continue; // released meanwhile: the next pass of the reconcile tries again
        };
        let live = match holder(&current) {
            Some(h) => subdomains.get_opt(h).await?.is_some_and(|sd| {
                sd.spec.website
                    && sd.spec.tenant == tenant
                    && sd.metadata.deletion_timestamp.is_none()
            }),
            None => false,
        };
        if !live {
            let rv = current.resource_version();
            match leases
                .replace(&name, &pp, &lease(ns, &name, fqdn, rv))
                .await
            {
                Ok(_) => return Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => {} // someone else took it first
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(false)
}

fn holder(l: &Lease) -> Option<&str> {
    l.spec.as_ref()?.holder_identity.as_deref()
}

#[cfg(test)]
mod tests {
    #[test]
    fn slots_are_per_tenant_and_numbered() {
        assert_eq!(super::slot_name("dinkes", 0), "website.dinkes.0");
        assert_ne!(
            super::slot_name("dinkes", 0),
            super::slot_name("dinkes-lab", 0)
        );
    }
}
