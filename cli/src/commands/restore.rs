//! `kavling restore`: rebuild the platform's desired state from the audit repository into a
//! (usually empty) cluster — disaster recovery.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use kavling::audit::restore::{self, Action, Step};
use kavling::audit::{document::AuditedKind, repo};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};

use crate::output::{self, Format};

/// The field manager restore applies with.
const MANAGER: &str = "kavling-restore";

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The audit repository: a path or a git URL.
    #[arg(long = "from", env = "KAVLING_AUDIT_REPO")]
    from: String,
    /// Restore the state as of this commit (any git revision) instead of the latest.
    #[arg(long)]
    at: Option<String>,
    /// Show the plan without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// How long to wait for a tenant's namespace (made by the operator) before giving up on
    /// the objects that live in it.
    #[arg(long, default_value = "120")]
    namespace_timeout_secs: u64,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    #[serde(flatten)]
    step: Step,
    result: String,
}

pub async fn run(client: Client, args: RestoreArgs) -> anyhow::Result<i32> {
    let (commit, documents) = {
        let (from, at) = (args.from.clone(), args.at.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let r = super::audit::open(&from)?;
            let commit = repo::resolve(&r, at.as_deref())
                .context("the audit repository has no such commit")?;
            let mut docs = Vec::new();
            for (path, blob) in repo::documents_at(&r, commit)? {
                let content = r.find_blob(blob)?.content().to_vec();
                docs.push((path, String::from_utf8(content)?));
            }
            Ok((commit, docs))
        })
        .await??
    };
    let plan = restore::plan(&documents);
    eprintln!("restoring from commit {commit}: {} documents", plan.len());
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for step in plan {
        let result = match (step.action, &step.manifest) {
            (Action::Restore, Some(manifest)) if !args.dry_run => {
                match apply(
                    &client,
                    manifest,
                    Duration::from_secs(args.namespace_timeout_secs),
                )
                .await
                {
                    Ok(()) => "restored".to_string(),
                    Err(e) => {
                        failed += 1;
                        format!("FAILED: {}", crate::errors::explain(&e))
                    }
                }
            }
            (Action::Restore, _) => "would restore".to_string(),
            (Action::FromOwner, _) => "from its owner".to_string(),
            (Action::RecordOnly, _) => "record only".to_string(),
        };
        if args.output == Format::Table {
            eprintln!("  {result:<15} {} {}", step.kind, step.object);
        }
        outcomes.push(Outcome { step, result });
    }
    match args.output {
        Format::Yaml | Format::Json => output::structured(&outcomes, args.output)?,
        _ => {
            let restored = outcomes.iter().filter(|o| o.result == "restored").count();
            println!(
                "\n{restored} restored, {} made again by their owners, {} kept as records, {failed} failed",
                outcomes
                    .iter()
                    .filter(|o| o.step.action == Action::FromOwner)
                    .count(),
                outcomes
                    .iter()
                    .filter(|o| o.step.action == Action::RecordOnly)
                    .count(),
            );
            let human: Vec<Vec<String>> = outcomes
                .iter()
                .filter(|o| o.step.action == Action::Restore)
                .filter_map(|o| {
                    Some(vec![
                        o.step.kind.clone(),
                        o.step.object.clone(),
                        o.step.note.clone()?,
                    ])
                })
                .collect();
            if !human.is_empty() {
                println!("\nNeeds a person (secrets and data never enter git):");
                output::table(&["KIND", "OBJECT", "WHAT TO DO"], &human);
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Server-side applies one manifest, waiting for its namespace (made by the Tenant's reconcile)
/// if it is not there yet. Applying the same manifest again changes nothing.
async fn apply(
    client: &Client,
    manifest: &serde_json::Value,
    ns_timeout: Duration,
) -> anyhow::Result<()> {
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let audited =
        AuditedKind::by_kind(kind).with_context(|| format!("{kind} is not a Kavling kind"))?;
    let ar = audited.api_resource();
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => {
            wait_for_namespace(client, ns, ns_timeout).await?;
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        None => Api::all_with(client.clone(), &ar),
    };
    let obj: DynamicObject = serde_json::from_value(manifest.clone())?;
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await
    .with_context(|| format!("{kind} {name}"))?;
    Ok(())
}

async fn wait_for_namespace(client: &Client, ns: &str, timeout: Duration) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let started = Instant::now();
    let mut told = false;
    loop {
        if api.get_opt(ns).await?.is_some() {
            return Ok(());
        }
        if started.elapsed() > timeout {
            anyhow::bail!(
                "namespace {ns} did not appear within {} s: is the operator running, and is the Tenant for it restored and Ready?",
                timeout.as_secs()
            );
        }
        if !told {
            eprintln!("  waiting for namespace {ns} (the operator makes it for its Tenant)…");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
