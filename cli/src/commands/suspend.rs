//! `kavling suspend subdomain FQDN --reason` / `kavling resume subdomain FQDN`, and the same
//! for buckets (`-n NAMESPACE`): a suspended bucket's key is disabled, its data untouched.

use clap::{Args, ValueEnum};
use kavling_core::api::{Bucket, Hosting, Subdomain};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SuspendKind {
    #[value(alias = "sd", alias = "subdomains")]
    Subdomain,
    #[value(alias = "bkt", alias = "buckets")]
    Bucket,
    #[value(alias = "host", alias = "hostings")]
    Hosting,
}

#[derive(Args, Debug)]
pub struct SuspendArgs {
    /// What to suspend: subdomain, hosting (app scaled to zero, a notice on its domains) or
    /// bucket (key disabled). Data is never touched.
    pub kind: SuspendKind,
    /// Its name (for a subdomain, the FQDN).
    pub name: String,
    /// The hosting's or bucket's namespace (the tenant's home namespace, tenant-<name>).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Why (shown to the tenant and kept in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    /// End of the suspension: YYYY-MM-DD or an RFC 3339 time. Without it, until resumed.
    #[arg(long)]
    pub until: Option<String>,
}

pub async fn run(client: kube::Client, args: SuspendArgs, suspend: bool) -> anyhow::Result<()> {
    let what = match args.kind {
        SuspendKind::Subdomain => "subdomain",
        SuspendKind::Bucket => "bucket",
        SuspendKind::Hosting => "hosting",
    };
    let patch = if suspend {
        let reason = args
            .reason
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("--reason is required: say why the {what} is suspended")
            })?;
        if let Some(u) = &args.until
            && kavling_core::api::common::parse_until(u).is_none()
        {
            anyhow::bail!("--until '{u}' is neither a date YYYY-MM-DD nor an RFC 3339 time");
        }
        json!({"spec": {"suspend": {"reason": reason, "until": args.until}}})
    } else {
        json!({"spec": {"suspend": null}})
    };
    let pp = PatchParams::default();
    match args.kind {
        SuspendKind::Subdomain => {
            let api: Api<Subdomain> = Api::all(client);
            api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
        }
        SuspendKind::Bucket => {
            let api: Api<Bucket> = match &args.namespace {
                Some(ns) => Api::namespaced(client, ns),
                None => Api::default_namespaced(client),
            };
            api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
        }
        SuspendKind::Hosting => {
            let api: Api<Hosting> = match &args.namespace {
                Some(ns) => Api::namespaced(client, ns),
                None => Api::default_namespaced(client),
            };
            api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
        }
    }
    println!(
        "{what} {} {}",
        args.name,
        if suspend { "suspended" } else { "resumed" }
    );
    Ok(())
}
