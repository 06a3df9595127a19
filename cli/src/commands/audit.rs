//! `kavling audit`: read, show and verify the audit history; print the allowed signers.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::ConfigMap;
use kavling_audit::{history, repo, signing, writer};
use kube::{Api, Client};
use serde::Serialize;

use crate::output::{self, Format};

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The audit repository: a path, or a git URL (fetched into ~/.cache/kavling/audit).
    /// The local Pusat Data's is in $KAVLING_AUDIT_REPO (`eval "$(dev/stack.sh env)"`).
    #[arg(long, global = true, env = "KAVLING_AUDIT_REPO")]
    repo: Option<String>,
    /// Namespace of the operator (where its allowed-signers ConfigMap is).
    #[arg(
        long,
        global = true,
        env = "KAVLING_NAMESPACE",
        default_value = "kavling-system"
    )]
    system_namespace: String,
    #[command(subcommand)]
    command: AuditCmd,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// The history as a table, oldest first: when, which change, to what, by whom.
    ///
    /// Example: kavling audit log --tenant dinkes --since 7d
    Log(LogArgs),
    /// One commit: its summary, who and why, and the change to the document.
    Show {
        /// A commit id (or any git revision, e.g. main~3).
        commit: String,
    },
    /// Prove the history: every commit signed by an allowed key over its exact content, one
    /// document changed per commit as its trailers say, and the replay of the history equals
    /// the head. Exits 1 naming the first bad commit.
    Verify {
        /// An allowed-signers file (git's gpg.ssh.allowedSignersFile format). Default: the
        /// keys the operator publishes in the cluster (ConfigMap kavling-audit).
        #[arg(long)]
        allowed_signers: Option<PathBuf>,
        /// Verify the history up to this revision instead of main.
        #[arg(long)]
        at: Option<String>,
    },
    /// Print the allowed-signers file for `git verify-commit`:
    ///
    ///   kavling audit allowed-signers > signers
    ///   git -c gpg.ssh.allowedSignersFile=signers verify-commit <commit>
    AllowedSigners,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Only this kind (e.g. Subdomain, Bucket).
    #[arg(long)]
    kind: Option<String>,
    /// Only objects whose name contains this.
    #[arg(long)]
    name: Option<String>,
    /// Only this tenant's objects.
    #[arg(long)]
    tenant: Option<String>,
    /// Only commits since a date (YYYY-MM-DD, RFC 3339) or for a duration back (30m, 12h, 7d).
    #[arg(long)]
    since: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

impl AuditArgs {
    /// Whether the command needs the cluster (for the published allowed signers).
    pub fn needs_cluster(&self) -> bool {
        matches!(
            self.command,
            AuditCmd::AllowedSigners
                | AuditCmd::Verify {
                    allowed_signers: None,
                    ..
                }
        )
    }
}

pub async fn run(client: Option<Client>, args: AuditArgs) -> anyhow::Result<i32> {
    if let AuditCmd::AllowedSigners = args.command {
        let client = client.expect("needs_cluster");
        print!(
            "{}",
            published_signers(&client, &args.system_namespace).await?
        );
        return Ok(0);
    }
    let location = args
        .repo
        .clone()
        .context("no audit repository: pass --repo <path or git URL> or set KAVLING_AUDIT_REPO")?;
    let allowed = match &args.command {
        AuditCmd::Verify {
            allowed_signers: Some(file),
            ..
        } => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        ),
        AuditCmd::Verify { .. } => Some(
            published_signers(
                client.as_ref().expect("needs_cluster"),
                &args.system_namespace,
            )
            .await?,
        ),
        _ => None,
    };
    let command = args.command;
    tokio::task::spawn_blocking(move || offline(&location, command, allowed)).await?
}

/// The allowed-signers text the operator publishes.
pub async fn published_signers(client: &Client, namespace: &str) -> anyhow::Result<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = api.get_opt(writer::CONFIG_MAP).await?.with_context(|| {
        format!(
            "ConfigMap {namespace}/{} not found: is the operator running with --audit-repo?",
            writer::CONFIG_MAP
        )
    })?;
    cm.data
        .and_then(|d| d.get("allowed_signers").cloned())
        .context("the kavling-audit ConfigMap has no allowed_signers")
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/kavling/audit")
}

/// Opens the repository (fetching a URL) with a message that names it.
pub fn open(location: &str) -> anyhow::Result<git2::Repository> {
    repo::open_reader(location, &cache_dir())
        .with_context(|| format!("cannot open the audit repository {location}"))
}

fn offline(location: &str, command: AuditCmd, allowed: Option<String>) -> anyhow::Result<i32> {
    let r = open(location)?;
    match command {
        AuditCmd::Log(args) => log(&r, args),
        AuditCmd::Show { commit } => show(&r, &commit),
        AuditCmd::Verify { at, .. } => {
            let head = repo::resolve(&r, at.as_deref())
                .context("the audit repository has no history yet")?;
            let keys = signing::parse_allowed_signers(&allowed.unwrap_or_default());
            if keys.is_empty() {
                bail!("no keys in the allowed signers: nothing could be verified");
            }
            let started = std::time::Instant::now();
            match history::verify(&r, head, &keys) {
                Ok(v) => {
                    let signers: Vec<String> = v
                        .signers
                        .iter()
                        .map(|(k, n)| format!("{k} ({n})"))
                        .collect();
                    println!(
                        "verified: {} commits, {} objects at {head}, signed by {} ({:.2} s)",
                        v.commits,
                        v.objects,
                        signers.join(", "),
                        started.elapsed().as_secs_f64()
                    );
                    Ok(0)
                }
                Err(broken) => {
                    eprintln!("audit history broken at commit {}", broken.id);
                    eprintln!("  summary: {}", broken.summary);
                    eprintln!("  problem: {}", broken.problem);
                    Ok(1)
                }
            }
        }
        AuditCmd::AllowedSigners => unreachable!("handled online"),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogRow {
    commit: String,
    time: String,
    change: String,
    kind: String,
    object: String,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    letter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
}

/// `--since` as seconds since the epoch.
fn since(s: &str) -> anyhow::Result<i64> {
    let now = chrono::Utc::now();
    if let Some((n, unit)) = s
        .char_indices()
        .last()
        .and_then(|(i, u)| s[..i].parse::<i64>().ok().map(|n| (n, u)))
    {
        let secs = match unit {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            'd' => n * 86400,
            _ => bail!("--since {s}: use a duration like 30m, 12h, 7d, or a date YYYY-MM-DD"),
        };
        return Ok(now.timestamp() - secs);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp());
    }
    bail!("--since {s}: use a duration like 30m, 12h, 7d, or a date YYYY-MM-DD")
}

fn log(r: &git2::Repository, args: LogArgs) -> anyhow::Result<i32> {
    let since = args.since.as_deref().map(since).transpose()?;
    let Ok(head) = repo::resolve(r, None) else {
        println!("no audit commits yet");
        return Ok(0);
    };
    let rows: Vec<LogRow> = history::log(r, head)?
        .into_iter()
        .filter(|c| since.is_none_or(|s| c.time >= s))
        .filter(|c| {
            args.kind
                .as_ref()
                .is_none_or(|k| c.trailers.kind.eq_ignore_ascii_case(k))
        })
        .filter(|c| {
            args.name
                .as_ref()
                .is_none_or(|n| c.trailers.object.contains(n.as_str()))
        })
        .filter(|c| {
            args.tenant
                .as_ref()
                .is_none_or(|t| c.trailers.tenant.as_ref() == Some(t))
        })
        .map(|c| LogRow {
            commit: c.id.to_string(),
            time: chrono::DateTime::from_timestamp(c.time, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            change: c
                .trailers
                .change
                .map(|x| x.as_str().to_string())
                .unwrap_or_default(),
            kind: c.trailers.kind.clone(),
            object: c.trailers.object.clone(),
            summary: c.summary,
            actor: c
                .trailers
                .actor
                .or(c.trailers.field_manager.map(|m| format!("({m})"))),
            approver: c.trailers.approver,
            request: c.trailers.request,
            letter: c.trailers.letter,
            reason: c.trailers.reason,
            tenant: c.trailers.tenant,
        })
        .collect();
    match args.output {
        Format::Yaml | Format::Json => output::structured(&rows, args.output)?,
        wide => {
            let wide = wide == Format::Wide;
            let mut headers = vec!["TIME (UTC)", "COMMIT", "CHANGE", "KIND", "OBJECT", "ACTOR"];
            if wide {
                headers.extend(["APPROVER", "LETTER"]);
            }
            headers.push("SUMMARY");
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut row = vec![
                        r.time.clone(),
                        r.commit[..10].to_string(),
                        r.change.clone(),
                        r.kind.clone(),
                        r.object.clone(),
                        r.actor.clone().unwrap_or_else(|| "-".into()),
                    ];
                    if wide {
                        row.push(r.approver.clone().unwrap_or_else(|| "-".into()));
                        row.push(r.letter.clone().unwrap_or_else(|| "-".into()));
                    }
                    row.push(r.summary.clone());
                    row
                })
                .collect();
            output::table(&headers, &table);
        }
    }
    Ok(0)
}

fn show(r: &git2::Repository, rev: &str) -> anyhow::Result<i32> {
    let commit = r
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("no commit {rev} in the audit repository"))?;
    let signed = r.extract_signature(&commit.id(), None).is_ok();
    println!(
        "commit {}{}",
        commit.id(),
        if signed { " (signed)" } else { " (NOT signed)" }
    );
    println!(
        "date   {}",
        chrono::DateTime::from_timestamp(commit.time().seconds(), 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    );
    println!();
    print!("{}", commit.message().unwrap_or_default());
    println!();
    let tree = commit.tree()?;
    let parent = commit.parent(0).ok().map(|p| p.tree()).transpose()?;
    let diff = r.diff_tree_to_tree(parent.as_ref(), Some(&tree), None)?;
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        let prefix = match line.origin() {
            c @ ('+' | '-' | ' ') => c.to_string(),
            _ => String::new(),
        };
        print!("{prefix}{}", String::from_utf8_lossy(line.content()));
        true
    })?;
    Ok(0)
}
