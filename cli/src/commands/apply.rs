//! `kavling apply PATH...`: server-side apply of Kavling files under one field manager, for
//! setups without a GitOps engine. Requests are filed, never approved: approvals stay
//! Dinas-only `Approval` objects, as the admission policy demands.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client, ResourceExt};

use super::validate::{collect, documents};

/// The field manager of everything `kavling apply` writes.
pub const MANAGER: &str = "kavling-apply";

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Delete Requests that carry this label selector but are no longer in the files
    /// (needs --selector; deleting a request never deprovisions what it made).
    #[arg(long, requires = "selector")]
    pub prune: bool,
    /// Label selector for --prune, e.g. kavling.go.id/source=requests-repo.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

fn api_for(client: &Client, obj: &DynamicObject) -> anyhow::Result<Api<DynamicObject>> {
    let types = obj
        .types
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("object without apiVersion/kind"))?;
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", &types.api_version));
    if group != kavling_core::api::GROUP {
        anyhow::bail!(
            "{} {} is not a Kavling object; apply it with kubectl",
            types.kind,
            obj.name_any()
        );
    }
    let gvk = GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_ascii_lowercase());
    let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
    Ok(
        match (
            obj.namespace(),
            matches!(types.kind.as_str(), "Request" | "Approval"),
        ) {
            (Some(ns), true) => Api::namespaced_with(client.clone(), &ns, &ar),
            (None, true) => Api::default_namespaced_with(client.clone(), &ar),
            _ => Api::all_with(client.clone(), &ar),
        },
    )
}

pub async fn run(client: Client, args: ApplyArgs) -> anyhow::Result<i32> {
    let mut applied: BTreeSet<(String, String)> = BTreeSet::new();
    let mut failed = 0;
    for f in collect(&args.paths) {
        let text = std::fs::read_to_string(&f)?;
        for d in documents(&f.display().to_string(), &text) {
            let obj: DynamicObject = match serde_norway::from_str(&d.text) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("{}:{}: not a Kubernetes object: {e}", d.file, d.start);
                    failed += 1;
                    continue;
                }
            };
            let api = api_for(&client, &obj)?;
            match api
                .patch(
                    &obj.name_any(),
                    &PatchParams::apply(MANAGER),
                    &Patch::Apply(&obj),
                )
                .await
            {
                Ok(o) => {
                    let kind = obj
                        .types
                        .as_ref()
                        .map(|t| t.kind.clone())
                        .unwrap_or_default();
                    println!(
                        "{kind} {}{} applied",
                        o.namespace().map(|n| format!("{n}/")).unwrap_or_default(),
                        o.name_any()
                    );
                    applied.insert((o.namespace().unwrap_or_default(), o.name_any()));
                }
                Err(e) => {
                    eprintln!(
                        "{}:{}: {}",
                        d.file,
                        d.start,
                        crate::errors::explain(&anyhow::Error::from(e))
                    );
                    failed += 1;
                }
            }
        }
    }
    if args.prune
        && let Some(sel) = &args.selector
    {
        let api: Api<kavling_core::api::Request> = Api::all(client.clone());
        for r in api.list(&ListParams::default().labels(sel)).await?.items {
            let key = (r.namespace().unwrap_or_default(), r.name_any());
            if !applied.contains(&key) {
                Api::<kavling_core::api::Request>::namespaced(client.clone(), &key.0)
                    .delete(&key.1, &DeleteParams::default())
                    .await?;
                println!(
                    "Request {}/{} pruned (what it made stays; decommission is separate)",
                    key.0, key.1
                );
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
