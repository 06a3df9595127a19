//! Step 1 of provisioning a Request (the only reads): the part of the cluster its plan needs.
//! What the output's name already holds is read first; only when it is free are the rest read
//! (zones, the tenant's holdings, its other hostings or buckets), so a provisioned request
//! costs one GET per reconcile.

use kube::{Api, ResourceExt};

use crate::api::{Bucket, Hosting, Subdomain, Tenant, Zone, labels};
use crate::controllers::{Context, Result, cached};
use crate::plan::{Body, ClusterView, key};

/// The view [`crate::plan::plan`] needs for one request of `tenant`, filed in `namespace`.
pub async fn view_for(
    ctx: &Context,
    namespace: &str,
    body: Body<'_>,
    tenant: &str,
) -> Result<ClusterView> {
    let client = &ctx.client;
    let mut view = ClusterView {
        live: true,
        denied_ranges: ctx.settings.denied_target_ranges.clone(),
        images: Some(ctx.settings.images.clone()),
        ..Default::default()
    };
    match body {
        Body::Subdomain(b) => {
            let api: Api<Subdomain> = Api::all(client.clone());
            if let Some(sd) = api.get_opt(&b.fqdn()).await? {
                view.subdomains.insert(sd.name_any(), sd);
                return Ok(view);
            }
            let held = api
                .list(&cached().labels(&format!("{}={tenant}", labels::TENANT)))
                .await?;
            view.subdomains
                .extend(held.items.into_iter().map(|s| (s.name_any(), s)));
            if let Some(alias) = b.target.alias.as_deref()
                && let Some(sd) = api.get_opt(alias.trim_end_matches('.')).await?
            {
                view.subdomains.insert(sd.name_any(), sd);
            }
            let zones = Api::<Zone>::all(client.clone()).list(&cached()).await?;
            view.zones = zones.items.into_iter().map(|z| (z.name_any(), z)).collect();
        }
        Body::Hosting(b) => {
            let api: Api<Hosting> = Api::namespaced(client.clone(), namespace);
            if let Some(h) = api.get_opt(&b.name).await? {
                view.hostings.insert(key(&h), h);
                return Ok(view);
            }
            let all = api.list(&cached()).await?;
            view.hostings = all.items.into_iter().map(|h| (key(&h), h)).collect();
        }
        Body::Storage(b) => {
            let api: Api<Bucket> = Api::namespaced(client.clone(), namespace);
            if let Some(x) = api.get_opt(&b.name).await? {
                view.buckets.insert(key(&x), x);
                return Ok(view);
            }
            let all = api.list(&cached()).await?;
            view.buckets = all.items.into_iter().map(|x| (key(&x), x)).collect();
        }
    }
    if let Some(t) = Api::<Tenant>::all(client.clone()).get_opt(tenant).await? {
        view.tenants.insert(tenant.to_string(), t);
    }
    Ok(view)
}
