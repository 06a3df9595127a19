//! The operator's audit writer: watches every Kavling kind and turns each change into one
//! signed commit, then pushes `main` to the remote.
//!
//! Shape: one watcher per kind feeds a channel; one dedicated thread owns the repository and
//! commits serially (git is single-writer; the runtime never blocks on git); one task pushes.
//! Level-triggered like every reconciler: on (re)start each watcher lists its kind, every
//! object is compared with its recorded document, and recorded objects that are gone get
//! their deletion commit. A commit that fails (disk full, lock held) is retried in place, so
//! later changes never overtake it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use crate::document::{self, AuditedKind, KINDS};
use crate::message::Trailers;
use crate::provenance;
use crate::repo::{AuditRepo, Entry};
use crate::signing::{self, Signer};

/// The Secret (in the operator's namespace) holding the signing key, `ssh-privatekey`.
pub const KEY_SECRET: &str = "kavling-audit-signing-key";
/// The ConfigMap (in the operator's namespace) publishing `allowed_signers` and push state.
pub const CONFIG_MAP: &str = "kavling-audit";

/// Where the audit repository lives and where it is pushed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub repo: PathBuf,
    pub remote: Option<String>,
    pub namespace: String,
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    pub pushes: AtomicU64,
    pub push_failures: AtomicU64,
    /// Commits made since the last successful push (the backlog while the remote is down).
    pub unpushed: AtomicU64,
    /// Packs written into the local repository (see [`crate::pack`]).
    pub packs: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let line = |name: &str, help: &str, v: &AtomicU64| {
            format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            )
        };
        [
            line(
                "kavling_audit_commits_total",
                "Audit commits made.",
                &self.commits,
            ),
            line(
                "kavling_audit_commit_failures_total",
                "Audit commits that failed and were retried.",
                &self.commit_failures,
            ),
            line(
                "kavling_audit_pushes_total",
                "Successful pushes of the audit branch.",
                &self.pushes,
            ),
            line(
                "kavling_audit_push_failures_total",
                "Failed pushes (retried with backoff).",
                &self.push_failures,
            ),
            line(
                "kavling_audit_packs_total",
                "Packs written into the local audit repository.",
                &self.packs,
            ),
        ]
        .concat()
            + &format!(
                "# HELP kavling_audit_unpushed_commits Commits made since the last successful push.\n# TYPE kavling_audit_unpushed_commits gauge\nkavling_audit_unpushed_commits {}\n",
                self.unpushed.load(Ordering::Relaxed)
            )
    }
}

/// What a watcher saw.
enum Observed {
    Present(&'static AuditedKind, Value),
    Gone(&'static AuditedKind, Value),
    /// The complete set of paths of a kind after a (re)list: recorded paths not in it are gone.
    Listed(&'static AuditedKind, HashSet<String>),
}

/// Runs the audit writer until the process stops. `settings.namespace` must exist (the
/// operator makes it before starting the writer).
pub async fn run(
    client: kube::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let signer = signing_key(&client, &settings.namespace).await?;
    publish_allowed_signer(&client, &settings.namespace, &signer).await?;
    let repo = {
        let path = settings.repo.clone();
        tokio::task::spawn_blocking(move || AuditRepo::open_or_init(&path, signer)).await??
    };
    if let Some(remote) = settings.remote.clone() {
        adopt_remote(&settings.repo, &remote).await;
    }
    tracing::info!(repo = %settings.repo.display(), remote = ?settings.remote, "audit writer starting");
    let (tx, rx) = mpsc::channel(4096);
    let committed = Arc::new(Notify::new());
    {
        let committed = committed.clone();
        let metrics = metrics.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(repo, rx, committed, metrics))?;
    }
    if let Some(remote) = settings.remote.clone() {
        tokio::spawn(push_loop(settings.repo.clone(), remote, committed, metrics));
    }
    // Requests and Approvals first: outputs' trailers look them up in the repository.
    let (first, rest): (Vec<_>, Vec<_>) = KINDS
        .iter()
        .partition(|k| matches!(k.kind, "Request" | "Approval"));
    let mut listed = Vec::new();
    for kind in first {
        let (done, wait) = tokio::sync::oneshot::channel();
        tokio::spawn(watch(client.clone(), kind, tx.clone(), Some(done)));
        listed.push(wait);
    }
    for wait in listed {
        let _ = wait.await;
    }
    for kind in rest {
        tokio::spawn(watch(client.clone(), kind, tx.clone(), None));
    }
    futures::future::pending::<()>().await;
    Ok(())
}

/// Follows one kind forever (the watcher relists and backs off by itself).
async fn watch(
    client: kube::Client,
    kind: &'static AuditedKind,
    tx: mpsc::Sender<Observed>,
    mut listed: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &kind.api_resource());
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen = HashSet::new();
    let to_value = |o: DynamicObject| {
        let mut v = serde_json::to_value(&o).unwrap_or_default();
        // DynamicObject carries apiVersion/kind in `types`; make sure they are set.
        v["kind"] = Value::String(kind.kind.into());
        v["apiVersion"] = Value::String(format!("{}/v1alpha1", kavling_core::api::GROUP));
        v
    };
    let path_of = |v: &Value| {
        kind.path(
            v["metadata"]["namespace"].as_str(),
            v["metadata"]["name"].as_str().unwrap_or_default(),
        )
    };
    while let Some(event) = stream.next().await {
        let sent = match event {
            Ok(watcher::Event::Init) => {
                seen.clear();
                Ok(())
            }
            Ok(watcher::Event::InitApply(o)) => {
                let v = to_value(o);
                seen.insert(path_of(&v));
                tx.send(Observed::Present(kind, v)).await
            }
            Ok(watcher::Event::InitDone) => {
                let r = tx
                    .send(Observed::Listed(kind, std::mem::take(&mut seen)))
                    .await;
                if let Some(done) = listed.take() {
                    let _ = done.send(());
                }
                r
            }
            Ok(watcher::Event::Apply(o)) => tx.send(Observed::Present(kind, to_value(o))).await,
            Ok(watcher::Event::Delete(o)) => tx.send(Observed::Gone(kind, to_value(o))).await,
            Err(e) => {
                tracing::warn!(kind = kind.kind, error = %e, "audit watch failed; retrying");
                Ok(())
            }
        };
        if sent.is_err() {
            return; // the writer thread is gone: the process is stopping
        }
    }
}

/// The writer thread: one commit at a time, in the order changes were seen.
fn write_loop(
    mut repo: AuditRepo,
    mut rx: mpsc::Receiver<Observed>,
    committed: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    // Loose commits since the last pack: a repository left loose by an older writer (or a
    // kill) counts as due at once.
    let mut since_pack =
        if crate::pack::loose_objects(repo.repository()).len() > LOOSE_OBJECTS_DUE_AT_START {
            crate::pack::LOOSE_COMMITS_PER_PACK
        } else {
            0
        };
    while let Some(observed) = rx.blocking_recv() {
        pack_when_due(&mut repo, &mut since_pack, &metrics);
        for entry in entries(&repo, observed) {
            let mut delay = Duration::from_millis(100);
            loop {
                match repo.record(&entry) {
                    Ok(Some(id)) => {
                        since_pack += 1;
                        metrics.commits.fetch_add(1, Ordering::Relaxed);
                        metrics.unpushed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(commit = %id, path = entry.path(), "audit commit");
                        committed.notify_one();
                        break;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(path = entry.path(), error = %e, retry_in = ?delay, "audit commit failed; retrying (later changes wait)");
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
    }
}

/// Loose objects found at start that make packing due at once: about what 1,000 commits
/// write (a commit, a blob and three or four trees each), from an older writer or a restart.
const LOOSE_OBJECTS_DUE_AT_START: usize = 5000;

/// Packs the local repository when enough commits have gone loose (see [`crate::pack`]),
/// between two commits: the writer is the repository's only writer, so nothing races it. A
/// failure is logged and retried after the next batch; it never stops the commits.
fn pack_when_due(repo: &mut AuditRepo, since_pack: &mut u64, metrics: &Metrics) {
    let started = std::time::Instant::now();
    match crate::pack::maybe_pack(repo.repository(), *since_pack) {
        Ok(None) => {}
        Ok(Some(p)) => {
            *since_pack = 0;
            metrics.packs.fetch_add(1, Ordering::Relaxed);
            tracing::info!(objects = p.objects, loose_removed = p.loose_removed, packs_removed = p.packs_removed, full = p.full, took = ?started.elapsed(), "audit repository packed");
            if let Err(e) = repo.reopen() {
                tracing::error!(error = %e, "audit repository could not be reopened after packing");
            }
        }
        Err(e) => {
            *since_pack = 0;
            tracing::error!(error = %e, "packing the audit repository failed; it stays loose until the next try");
        }
    }
}

/// The entries one observation asks to record.
fn entries(repo: &AuditRepo, observed: Observed) -> Vec<Entry> {
    let recorded = |path: &str| -> Option<Value> { serde_norway::from_str(&repo.read(path)?).ok() };
    let approvals_in = |ns: &str| -> Vec<Value> {
        repo.paths_under(&format!("approvals/{ns}"))
            .into_iter()
            .filter_map(|p| recorded(&p))
            .collect()
    };
    // Who and why are looked up only for a change: most events (progress, resyncs) change
    // nothing recorded.
    let entry = |kind: &'static AuditedKind, obj: &Value, present: bool| -> Option<Entry> {
        let mut e = Entry {
            kind,
            namespace: obj["metadata"]["namespace"].as_str().map(str::to_string),
            name: obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            document: present.then(|| document::document(obj)),
            trailers: Trailers::default(),
        };
        if repo.holds(&e) {
            return None;
        }
        e.trailers = provenance::trailers(obj, &recorded, &approvals_in);
        Some(e)
    };
    match observed {
        Observed::Present(kind, obj) => entry(kind, &obj, true).into_iter().collect(),
        Observed::Gone(kind, obj) => entry(kind, &obj, false)
            .map(|mut e| {
                e.trailers.actor = None;
                e.trailers.field_manager = None;
                e
            })
            .into_iter()
            .collect(),
        Observed::Listed(kind, present) => repo
            .paths_of(kind)
            .into_iter()
            .filter_map(|p| {
                let (kind, namespace, name) = document::parse_path(&p)?;
                // by the object's own path: a file from before its kind was spread is the
                // same object, still present
                if present.contains(&kind.path(namespace.as_deref(), &name)) {
                    return None;
                }
                Some(Entry {
                    kind,
                    namespace,
                    name,
                    document: None,
                    trailers: Trailers {
                        reason: Some("gone when the audit writer listed it (deleted while it was not running)".into()),
                        ..Default::default()
                    },
                })
            })
            .collect(),
    }
}

/// Continues from the remote's history before writing (another replica may have led since
/// this one last wrote). Tried for a while; a remote that stays down does not stop the audit
/// trail: commits then wait locally, and a push the remote refuses is said in the log.
async fn adopt_remote(repo: &std::path::Path, remote: &str) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=6 {
        let (r, u) = (repo.to_path_buf(), remote.to_string());
        match tokio::task::spawn_blocking(move || crate::push::adopt_remote(&r, &u)).await {
            Ok(Ok(crate::push::Adopted::Diverged { kept_at })) => {
                tracing::warn!(%remote, %kept_at, "the local audit history diverged from the remote's; continuing from the remote's, local commits kept aside");
                return;
            }
            Ok(Ok(how)) => {
                tracing::info!(%remote, ?how, "audit history continues from the remote's");
                return;
            }
            Ok(Err(e)) if attempt < 6 => {
                tracing::debug!(%remote, error = %e, "audit remote not reachable yet");
            }
            Ok(Err(e)) => {
                tracing::warn!(%remote, error = %e, "cannot read the audit remote; continuing from the local history");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "adopting the audit remote panicked; continuing from the local history");
                return;
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

/// How long one push may take before it is abandoned and tried again: a batch of
/// [`PUSH_BATCH`](crate::push::PUSH_BATCH) commits through the Pusat Data's verifying hook
/// takes a few seconds even on a busy node.
const PUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Pushes `main` after commits, in batches, and retries with backoff while the remote is
/// unreachable. Commits wait in the local repository meanwhile and arrive in order (git pushes
/// history).
async fn push_loop(repo: PathBuf, remote: String, committed: Arc<Notify>, metrics: Arc<Metrics>) {
    let mut delay = Duration::from_secs(1);
    let mut failing = false;
    loop {
        let attempt = {
            let (repo, remote) = (repo.clone(), remote.clone());
            tokio::time::timeout(
                PUSH_TIMEOUT,
                tokio::task::spawn_blocking(move || {
                    crate::push::push(&repo, &remote, crate::push::PUSH_BATCH)
                }),
            )
            .await
        };
        let result = match attempt {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(crate::push::PushError::Other(e.to_string())),
            Err(_) => Err(crate::push::PushError::Other(format!(
                "timed out after {} s",
                PUSH_TIMEOUT.as_secs()
            ))),
        };
        match result {
            Ok(pushed) => {
                let remaining = match pushed {
                    crate::push::Pushed::Batch { remaining, .. } => {
                        metrics.pushes.fetch_add(1, Ordering::Relaxed);
                        remaining
                    }
                    _ => 0,
                };
                metrics.unpushed.store(remaining as u64, Ordering::Relaxed);
                if failing {
                    tracing::info!(%remote, "audit remote reachable again; pushing the history");
                }
                failing = false;
                delay = Duration::from_secs(1);
                if remaining > 0 {
                    tracing::debug!(%remote, remaining, "audit backlog: pushing the next batch");
                    continue;
                }
                // Wait for the next commit, or check again after a while (a missed wake-up
                // costs at most that long).
                let _ = tokio::time::timeout(Duration::from_secs(30), committed.notified()).await;
            }
            Err(e) => {
                metrics.push_failures.fetch_add(1, Ordering::Relaxed);
                if failing {
                    tracing::debug!(%remote, error = %e, retry_in = ?delay, "audit push failed again");
                } else {
                    tracing::warn!(%remote, error = %e, retry_in = ?delay, "audit push failed; commits are kept locally and pushed in order when the remote is back");
                }
                failing = true;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The signing key from its Secret, made (once, race-free by create) if there is none.
async fn signing_key(client: &kube::Client, namespace: &str) -> anyhow::Result<Signer> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let read = |s: &Secret| -> anyhow::Result<Signer> {
        let pem = s
            .data
            .as_ref()
            .and_then(|d| d.get("ssh-privatekey"))
            .ok_or_else(|| {
                anyhow::anyhow!("Secret {namespace}/{KEY_SECRET} has no ssh-privatekey")
            })?;
        Ok(Signer::from_openssh(std::str::from_utf8(&pem.0)?)?)
    };
    if let Some(s) = api.get_opt(KEY_SECRET).await? {
        return read(&s);
    }
    let signer = Signer::generate();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(KEY_SECRET.into()),
            namespace: Some(namespace.into()),
            labels: Some(
                [(
                    kavling_core::api::labels::MANAGED_BY.to_string(),
                    kavling_core::api::labels::MANAGER.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("kubernetes.io/ssh-auth".into()),
        string_data: Some([("ssh-privatekey".to_string(), signer.to_openssh())].into()),
        ..Default::default()
    };
    let pp = PostParams {
        field_manager: Some(kavling_core::outputs::MANAGER.into()),
        ..Default::default()
    };
    match api.create(&pp, &secret).await {
        Ok(_) => {
            tracing::info!(secret = KEY_SECRET, "made a new audit signing key");
            Ok(signer)
        }
        Err(kube::Error::Api(s)) if s.code == 409 => read(&api.get(KEY_SECRET).await?),
        Err(e) => Err(e.into()),
    }
}

/// Adds this key to the published allowed-signers list (old keys stay: old commits keep
/// verifying after a key rotation).
async fn publish_allowed_signer(
    client: &kube::Client,
    namespace: &str,
    signer: &Signer,
) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let line = signer.allowed_signers_line();
    let existing = api.get_opt(CONFIG_MAP).await?;
    let current = existing
        .as_ref()
        .and_then(|c| c.data.as_ref())
        .and_then(|d| d.get("allowed_signers"))
        .cloned()
        .unwrap_or_default();
    let ours = signer.public_key();
    if signing::parse_allowed_signers(&current)
        .iter()
        .any(|k| k.key_data() == ours.key_data())
    {
        return Ok(());
    }
    let text = format!("{current}{line}\n");
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(CONFIG_MAP.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        data: Some([("allowed_signers".to_string(), text)].into()),
        ..Default::default()
    };
    match existing {
        None => {
            api.create(&PostParams::default(), &cm).await?;
        }
        Some(old) => {
            let mut cm = cm;
            cm.metadata.resource_version = old.metadata.resource_version;
            api.replace(CONFIG_MAP, &PostParams::default(), &cm).await?;
        }
    }
    Ok(())
}
