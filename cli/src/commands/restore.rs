//! `kavling restore`: rebuild the platform's desired state from the audit repository into a
//! (usually empty) cluster — disaster recovery.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::core::v1::Namespace;
use kavling_audit::restore::{self, Action, Step};
use kavling_audit::{document::AuditedKind, history, repo, signing};
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
    /// The allowed-signers file to verify the history with (`kavling audit allowed-signers >
    /// FILE` on the old cluster, kept by the Dinas). Without it, the keys the operator of
    /// this cluster publishes are used — in a fresh cluster those are not the old ones.
    #[arg(long, value_name = "FILE")]
    allowed_signers: Option<std::path::PathBuf>,
    /// Restore a history that does not verify (unsigned, forged or rewritten commits). Never
    /// for a disaster recovery you have not inspected: a forged commit can grant one tenant
    /// another's names and Secrets.
    #[arg(long)]
    unverified: bool,
    /// Apply as yourself instead of as the restore identity (user kavling-restore, group
    /// kavling:restore, by impersonation), e.g. when you hold that identity already.
    #[arg(long)]
    no_impersonate: bool,
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

/// The identity restore applies as: the only one besides the operator that the
/// `kavling-outputs-by-operator` admission policy lets create what requests produce.
pub const RESTORE_USER: &str = "kavling-restore";
pub const RESTORE_GROUP: &str = "kavling:restore";

pub async fn run(config: kube::Config, args: RestoreArgs) -> anyhow::Result<i32> {
    let client = Client::try_from(config.clone())?;
    let allowed = match (&args.allowed_signers, args.unverified) {
        (Some(file), _) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        ),
        (None, true) => None,
        (None, false) => Some(
            super::audit::published_signers(&client, "kavling-system")
                .await
                .context(
                    "cannot verify the audit history: pass --allowed-signers FILE (the list `kavling audit allowed-signers` printed on the old cluster)",
                )?,
        ),
    };
    if args.unverified {
        eprintln!(
            "WARNING: --unverified: restoring a history whose signatures are NOT checked; a forged commit would be applied as if the operator had made it"
        );
    }
    let client = if args.no_impersonate {
        client
    } else {
        let mut config = config;
        config.auth_info.impersonate = Some(RESTORE_USER.into());
        config.auth_info.impersonate_groups = Some(vec![RESTORE_GROUP.into()]);
        Client::try_from(config)?
    };
    let (commit, documents) = {
        let (from, at) = (args.from.clone(), args.at.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let r = super::audit::open(&from)?;
            let commit = repo::resolve(&r, at.as_deref())
                .context("the audit repository has no such commit")?;
            if let Some(allowed) = allowed {
                let keys = signing::parse_allowed_signers(&allowed);
                anyhow::ensure!(
                    !keys.is_empty(),
                    "no keys in the allowed signers: nothing could be verified"
                );
                if let Err(broken) = history::verify(&r, commit, &keys) {
                    anyhow::bail!(
                        "refusing to restore: the audit history does not verify at commit {} ({}): {}. Restore from a history that `kavling audit verify` accepts, or --at an earlier good commit",
                        broken.id,
                        broken.summary,
                        broken.problem
                    );
                }
            }
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
