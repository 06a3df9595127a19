//! `kavling renew certificate NAME` and `kavling rotate bucket NAME`: ask the operator to do
//! now what it otherwise does on its schedule. Each sets an annotation with the time of the
//! request (Dinas only: tenants cannot change these objects); the change is recorded in the
//! audit trail under the caller's name, and the operator acts once — a certificate issued, or
//! a key made, after that time settles it.

use chrono::{SecondsFormat, Utc};
use clap::Args;
use kavling_core::api::{Bucket, Certificate, annotations};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[derive(Args, Debug)]
pub struct OnDemandArgs {
    /// `certificate` (for renew) or `bucket` (for rotate).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace (a tenant's home namespace, tenant-<name>); default: your kubeconfig's.
    #[arg(short, long)]
    pub namespace: Option<String>,
}

/// What is asked: renewal of a certificate, or rotation of a bucket's key.
#[derive(Clone, Copy, Debug)]
pub enum Ask {
    Renew,
    Rotate,
}

pub async fn run(client: kube::Client, args: OnDemandArgs, ask: Ask) -> anyhow::Result<()> {
    // milliseconds: the key or certificate it is compared with may be from the same second
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let kind = args.kind.to_lowercase();
    let pp = PatchParams::default();
    match (ask, kind.as_str()) {
        (Ask::Renew, "certificate" | "certificates" | "cert" | "tlscertificate" | "tlscert") => {
            let api: Api<Certificate> = namespaced(client, &args.namespace);
            let patch =
                json!({"metadata": {"annotations": {annotations::RENEW_REQUESTED_AT: now}}});
            api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
            println!(
                "certificate {} will be renewed now (asked at {now}); follow it with: kavling get certificates {} -o wide",
                args.name, args.name
            );
        }
        (Ask::Rotate, "bucket" | "buckets" | "bkt") => {
            let api: Api<Bucket> = namespaced(client, &args.namespace);
            let patch =
                json!({"metadata": {"annotations": {annotations::ROTATE_REQUESTED_AT: now}}});
            api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
            println!(
                "bucket {}: a new key will be made now (asked at {now}); the old one keeps working for the rotation grace period",
                args.name
            );
        }
        (Ask::Renew, other) => {
            anyhow::bail!("kavling renew takes `certificate NAME`, not {other:?}")
        }
        (Ask::Rotate, other) => anyhow::bail!("kavling rotate takes `bucket NAME`, not {other:?}"),
    }
    Ok(())
}

fn namespaced<K>(client: kube::Client, ns: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::default_namespaced(client),
    }
}
