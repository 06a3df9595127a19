//! The audit repository: a bare git repository whose `main` branch holds one document per
//! object and one signed commit per change. Blocking (git2); the operator calls it from one
//! dedicated thread, the CLI directly.
//!
//! Exactly-once without a separate journal: the branch *is* the journal. A change is recorded
//! by comparing the object's document with the blob at its path in `main`; a commit is made
//! only when they differ, and `main` moves by compare-and-swap. A crash before the ref update
//! leaves an unreferenced commit and the next attempt makes it again; a crash after it leaves
//! nothing to do. Either way one commit per change.

use std::path::{Path, PathBuf};

use git2::{FileMode, Oid, Repository, Signature, build::TreeUpdateBuilder};
use serde_json::Value;

use super::document::{self, AuditedKind};
use super::message::Trailers;
use super::signing::{Signer, SigningError};

/// The branch every commit goes on.
pub const BRANCH: &str = "refs/heads/main";

/// Author and committer of every commit: Kavling. The person is in the trailers.
pub const AUTHOR_NAME: &str = "Kavling";
pub const AUTHOR_EMAIL: &str = "kavling-audit@kavling.go.id";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("{path}: not a document the audit writer made: {reason}")]
    BadDocument { path: String, reason: String },
}

/// One object's state to record: its document, or `None` when it is gone.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: &'static AuditedKind,
    pub namespace: Option<String>,
    pub name: String,
    pub document: Option<Value>,
    /// Who and why; `kind`, `object` and `change` are filled in when committing.
    pub trailers: Trailers,
}

impl Entry {
    pub fn path(&self) -> String {
        self.kind.path(self.namespace.as_deref(), &self.name)
    }

    pub fn object(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The writer's handle on the repository.
pub struct AuditRepo {
    repo: Repository,
    signer: Signer,
    path: PathBuf,
}

impl AuditRepo {
    /// Opens the bare repository at `path`, creating it (with `main` as HEAD) if needed.
    pub fn open_or_init(path: &Path, signer: Signer) -> Result<AuditRepo, RepoError> {
        clear_stale_locks(path);
        crate::pack::clear_leftovers(path);
        let repo = match Repository::open_bare(path) {
            Ok(r) => r,
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|e| git2::Error::from_str(&e.to_string()))?;
                let mut opts = git2::RepositoryInitOptions::new();
                opts.bare(true).initial_head("main");
                Repository::init_opts(path, &opts)?
            }
        };
        Ok(AuditRepo {
            repo,
            signer,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the repository again: after packing, this handle may still list removed packs.
    pub fn reopen(&mut self) -> Result<(), git2::Error> {
        self.repo = Repository::open_bare(&self.path)?;
        Ok(())
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The commit `main` points at, if any.
    pub fn head(&self) -> Option<Oid> {
        self.repo.refname_to_id(BRANCH).ok()
    }

    /// The recorded YAML at `path` in `main`.
    pub fn read(&self, path: &str) -> Option<String> {
        read_at(&self.repo, self.head()?, path)
    }

    /// Every recorded path under a kind's directory.
    pub fn paths_of(&self, kind: &AuditedKind) -> Vec<String> {
        self.paths_under(kind.plural)
    }

    /// Every recorded path under a directory (`approvals/tenant-dinkes`): walks only that
    /// subtree, not the whole repository.
    pub fn paths_under(&self, dir: &str) -> Vec<String> {
        let subtree = || -> Option<git2::Tree<'_>> {
            let tree = self.repo.find_commit(self.head()?).ok()?.tree().ok()?;
            let entry = tree.get_path(Path::new(dir)).ok()?;
            self.repo.find_tree(entry.id()).ok()
        };
        let Some(tree) = subtree() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let _ = tree.walk(git2::TreeWalkMode::PreOrder, |sub, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                out.push(format!("{dir}/{sub}{}", entry.name().unwrap_or_default()));
            }
            git2::TreeWalkResult::Ok
        });
        out
    }

    /// The entry's object as recorded in `main`, and where: its path, or (written before its
    /// kind was spread) its unspread path.
    fn recorded(&self, entry: &Entry) -> Option<(String, String)> {
        let path = entry.path();
        if let Some(yaml) = self.read(&path) {
            return Some((path, yaml));
        }
        let old = entry.kind.unspread_path(&entry.name)?;
        self.read(&old).map(|yaml| (old, yaml))
    }

    /// Whether `main` already holds exactly this state for the entry's object.
    pub fn holds(&self, entry: &Entry) -> bool {
        self.recorded(entry).map(|(_, y)| y) == entry.document.as_ref().map(document::to_yaml)
    }

    /// Records `entry` unless `main` already holds exactly that state. The new commit, if one
    /// was made.
    pub fn record(&mut self, entry: &Entry) -> Result<Option<Oid>, RepoError> {
        let path = entry.path();
        let new = entry.document.as_ref().map(document::to_yaml);
        let (old_path, old) = self.recorded(entry).unzip();
        if old == new {
            return Ok(None);
        }
        let old_doc: Option<Value> = old.as_deref().and_then(|y| serde_norway::from_str(y).ok());
        let (change, summary) = document::describe(
            entry.kind.kind,
            &entry.object(),
            old_doc.as_ref(),
            entry.document.as_ref(),
        );
        let mut trailers = entry.trailers.clone();
        trailers.kind = entry.kind.kind.to_string();
        trailers.object = entry.object();
        trailers.change = Some(change);
        if change == super::document::Change::Status {
            // Status moves by the operator's hand, whoever last wrote the spec.
            trailers.actor = Some(super::provenance::OPERATOR.to_string());
            trailers.field_manager = None;
        }
        let message = trailers.message(&summary);

        let head = self.head();
        let parent = head.map(|h| self.repo.find_commit(h)).transpose()?;
        let base = match &parent {
            Some(p) => p.tree()?,
            None => self.repo.find_tree(self.repo.treebuilder(None)?.write()?)?,
        };
        let mut update = TreeUpdateBuilder::new();
        // Gone, or recorded before its kind was spread (the change moves it: still one
        // document, see history::verify): the old file goes.
        if let Some(old_path) = old_path.filter(|p| new.is_none() || *p != path) {
            update.remove(&old_path);
        }
        if let Some(yaml) = &new {
            let blob = self.repo.blob(yaml.as_bytes())?;
            update.upsert(&path, blob, FileMode::Blob);
        }
        let tree = self
            .repo
            .find_tree(update.create_updated(&self.repo, &base)?)?;
        let who = Signature::now(AUTHOR_NAME, AUTHOR_EMAIL)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let buffer = self
            .repo
            .commit_create_buffer(&who, &who, &message, &tree, &parents)?;
        let content = buffer
            .as_str()
            .ok_or_else(|| git2::Error::from_str("commit buffer is not UTF-8"))?;
        let signature = self.signer.sign(content.as_bytes())?;
        let commit = self.repo.commit_signed(content, &signature, None)?;
        // Compare-and-swap: `main` moves only from the commit this one was built on.
        match head {
            Some(h) => {
                self.repo
                    .reference_matching(BRANCH, commit, true, h, &summary)?;
            }
            None => {
                self.repo.reference(BRANCH, commit, false, &summary)?;
            }
        }
        Ok(Some(commit))
    }
}

/// The YAML at `path` in commit `at`.
pub fn read_at(repo: &Repository, at: Oid, path: &str) -> Option<String> {
    let tree = repo.find_commit(at).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// Every `(path, blob)` in commit `at`'s tree.
pub fn documents_at(repo: &Repository, at: Oid) -> Result<Vec<(String, Oid)>, git2::Error> {
    let tree = repo.find_commit(at)?.tree()?;
    let mut out = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            out.push((
                format!("{dir}{}", entry.name().unwrap_or_default()),
                entry.id(),
            ));
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(out)
}

/// Opens an audit repository given as a local path (bare or not) or a git URL. A URL is
/// fetched into `cache` (a bare mirror of its `main`), so every reader works on local objects.
/// Removes the lock files a writer killed mid-update left (`refs/heads/main.lock`, `HEAD.lock`,
/// `packed-refs.lock`, …). The audit repository has exactly one writer — the operator's
/// writer thread, which calls this before it touches anything — so a lock present at start is
/// stale by construction. Left in place, it blocks every later commit (`code=Locked`) after a
/// SIGKILL at the wrong instant.
pub fn clear_stale_locks(path: &Path) {
    fn walk(dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p);
            } else if p.extension().is_some_and(|x| x == "lock") {
                tracing::warn!(lock = %p.display(), "removing a stale audit repository lock");
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    for top in ["HEAD.lock", "packed-refs.lock", "config.lock"] {
        let p = path.join(top);
        if p.exists() {
            tracing::warn!(lock = %p.display(), "removing a stale audit repository lock");
            let _ = std::fs::remove_file(&p);
        }
    }
    walk(&path.join("refs"));
}

pub fn open_reader(location: &str, cache: &Path) -> Result<Repository, git2::Error> {
    let is_url = location.contains("://");
    if !is_url {
        return Repository::open(location);
    }
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(location.as_bytes());
        d.iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let dir = cache.join(digest);
    let repo = match Repository::open_bare(&dir) {
        Ok(r) => r,
        Err(_) => {
            std::fs::create_dir_all(&dir).map_err(|e| git2::Error::from_str(&e.to_string()))?;
            Repository::init_bare(&dir)?
        }
    };
    {
        let mut remote = repo.remote_anonymous(location)?;
        remote.fetch(&[format!("+{BRANCH}:{BRANCH}")], None, None)?;
    }
    Ok(repo)
}

/// The commit `main` (or a given revision) names in a reader repository.
pub fn resolve(repo: &Repository, at: Option<&str>) -> Result<Oid, git2::Error> {
    match at {
        Some(rev) => Ok(repo.revparse_single(rev)?.peel_to_commit()?.id()),
        None => repo
            .refname_to_id(BRANCH)
            .or_else(|_| repo.head().and_then(|h| h.peel_to_commit().map(|c| c.id()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_left_by_a_killed_writer_does_not_block_the_next_commit() {
        let dir = std::env::temp_dir().join(format!("kavling-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = AuditRepo::open_or_init(&dir, Signer::generate()).unwrap();
        drop(r);
        std::fs::create_dir_all(dir.join("refs/heads")).unwrap();
        std::fs::write(dir.join("refs/heads/main.lock"), b"").unwrap();
        std::fs::write(dir.join("HEAD.lock"), b"").unwrap();
        let _r = AuditRepo::open_or_init(&dir, Signer::generate()).unwrap();
        assert!(!dir.join("refs/heads/main.lock").exists());
        assert!(!dir.join("HEAD.lock").exists());
        std::fs::remove_dir_all(&dir).ok();
    }

    fn approval(ns: &str, name: &str) -> Entry {
        Entry {
            kind: AuditedKind::by_kind("Approval").unwrap(),
            namespace: Some(ns.into()),
            name: name.into(),
            document: Some(
                serde_json::json!({"kind": "Approval", "metadata": {"name": name, "namespace": ns}, "spec": {"request": name}}),
            ),
            trailers: Trailers::default(),
        }
    }

    #[test]
    fn records_once_and_lists_one_subtree() {
        let dir = std::env::temp_dir().join(format!("kavling-repo-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut repo = AuditRepo::open_or_init(&dir, Signer::generate()).unwrap();
        let (a, b) = (approval("tenant-a", "r1"), approval("tenant-b", "r2"));
        assert!(!repo.holds(&a));
        assert!(repo.record(&a).unwrap().is_some());
        assert!(repo.holds(&a));
        assert!(
            repo.record(&a).unwrap().is_none(),
            "the same state is not recorded twice"
        );
        repo.record(&b).unwrap();
        assert_eq!(
            repo.paths_under("approvals/tenant-a"),
            vec!["approvals/tenant-a/r1.yaml"]
        );
        assert_eq!(repo.paths_of(a.kind).len(), 2);
        assert!(repo.paths_under("approvals/tenant-c").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn record_entry(kind: &'static AuditedKind, name: &str, target: &str) -> Entry {
        Entry {
            kind,
            namespace: None,
            name: name.into(),
            document: Some(
                serde_json::json!({"kind": "DnsRecord", "metadata": {"name": name}, "spec": {"target": target}}),
            ),
            trailers: Trailers::default(),
        }
    }

    /// A repository written before DnsRecords were spread keeps working: an unchanged record
    /// is not re-committed, a changed one moves into its shard in the same (verifiable)
    /// commit, a deleted one goes from where it was.
    #[test]
    fn records_filed_before_spreading_move_when_they_change() {
        let dir = std::env::temp_dir().join(format!("kavling-spread-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let signer = Signer::generate();
        let allowed = [signer.public_key()];
        let mut repo = AuditRepo::open_or_init(&dir, signer).unwrap();
        let spread = AuditedKind::by_kind("DnsRecord").unwrap();
        let flat: &'static AuditedKind = Box::leak(Box::new(AuditedKind {
            spread: false,
            ..*spread
        }));
        for name in ["a", "b"] {
            repo.record(&record_entry(flat, name, "1")).unwrap();
        }
        assert_eq!(
            repo.paths_of(spread),
            vec!["dnsrecords/a.yaml", "dnsrecords/b.yaml"]
        );
        // unchanged: held where it is
        assert!(repo.holds(&record_entry(spread, "a", "1")));
        assert!(
            repo.record(&record_entry(spread, "a", "1"))
                .unwrap()
                .is_none()
        );
        // changed: moved into its shard, one commit, one document
        repo.record(&record_entry(spread, "a", "2"))
            .unwrap()
            .unwrap();
        let a = spread.path(None, "a");
        assert_eq!(
            repo.paths_of(spread),
            vec!["dnsrecords/b.yaml".into(), a.clone()]
        );
        // deleted from the flat directory
        let mut gone = record_entry(spread, "b", "1");
        gone.document = None;
        repo.record(&gone).unwrap().unwrap();
        assert_eq!(repo.paths_of(spread), vec![a]);
        let proof =
            super::super::history::verify(repo.repository(), repo.head().unwrap(), &allowed)
                .unwrap();
        assert_eq!((proof.commits, proof.objects), (4, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
