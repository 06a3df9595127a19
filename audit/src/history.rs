//! Reading the audit history: the log of commits with their trailers, and the proof that it is
//! unbroken (`kavling audit verify`).

use std::collections::BTreeMap;

use git2::{Delta, Oid, Repository};
use ssh_key::PublicKey;

use super::document::{self, Change};
use super::message::Trailers;
use super::signing;

/// One commit of the audit history.
#[derive(Debug, Clone)]
pub struct AuditCommit {
    pub id: Oid,
    /// Seconds since the epoch (committer time).
    pub time: i64,
    pub summary: String,
    pub trailers: Trailers,
}

/// The history leading to `head`, oldest first. Follows first parents (the writer never
/// merges; `verify` refuses merges).
pub fn log(repo: &Repository, head: Oid) -> Result<Vec<AuditCommit>, git2::Error> {
    let mut out = Vec::new();
    let mut next = Some(head);
    while let Some(id) = next {
        let c = repo.find_commit(id)?;
        let (summary, trailers) = Trailers::parse(c.message().unwrap_or_default());
        out.push(AuditCommit {
            id,
            time: c.time().seconds(),
            summary,
            trailers,
        });
        next = c.parent_ids().next();
    }
    out.reverse();
    Ok(out)
}

/// What `verify` proved.
#[derive(Debug, Clone)]
pub struct Verified {
    pub commits: usize,
    pub objects: usize,
    /// Fingerprints of the keys that signed, with their commit counts.
    pub signers: BTreeMap<String, usize>,
}

/// The first commit that breaks the history, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("commit {id} ({summary}): {problem}")]
pub struct Broken {
    pub id: Oid,
    pub summary: String,
    pub problem: String,
}

/// Proves the history leading to `head`: every commit signed by an allowed key over its exact
/// content (so no commit was rewritten, reordered or inserted: each signature covers the
/// parent and the tree), no merges, every commit changes exactly the one document its
/// trailers name in the way they say, every document is the object its path names, and the
/// replay of all changes from an empty tree is `head`'s tree.
pub fn verify(repo: &Repository, head: Oid, allowed: &[PublicKey]) -> Result<Verified, Broken> {
    let history = log(repo, head).map_err(|e| Broken {
        id: head,
        summary: String::new(),
        problem: format!("history cannot be read: {e}"),
    })?;
    let mut replay: BTreeMap<String, Oid> = BTreeMap::new();
    let mut signers = BTreeMap::new();
    for c in &history {
        let bad = |problem: String| Broken {
            id: c.id,
            summary: c.summary.clone(),
            problem,
        };
        let commit = repo.find_commit(c.id).map_err(|e| bad(e.to_string()))?;
        if commit.parent_count() > 1 {
            return Err(bad("a merge: the audit history is a single line".into()));
        }
        let (signature, content) = repo
            .extract_signature(&c.id, None)
            .map_err(|_| bad("not signed".into()))?;
        let signature =
            std::str::from_utf8(&signature).map_err(|_| bad("signature is not text".into()))?;
        let fingerprint =
            signing::verify(allowed, &content, signature).map_err(|e| bad(e.to_string()))?;
        *signers.entry(fingerprint).or_insert(0) += 1;

        // Exactly one document changed, the one the trailers name, the way they say.
        let tree = commit.tree().map_err(|e| bad(e.to_string()))?;
        let parent_tree = commit.parent(0).ok().and_then(|p| p.tree().ok());
        let diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
            .map_err(|e| bad(e.to_string()))?;
        let deltas: Vec<_> = diff.deltas().collect();
        let path_of = |d: &git2::DiffDelta<'_>| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .and_then(|p| p.to_str())
                .unwrap_or_default()
                .to_string()
        };
        // One document changed — or one moved out of the flat directory of its kind (written
        // before the kind was spread) as it changed: its old file deleted, its new one added.
        let (path, status, moved_from) = match deltas.as_slice() {
            [d] => (path_of(d), d.status(), None),
            [a, b] => {
                let moved = [(a, b), (b, a)].into_iter().find(|(gone, added)| {
                    gone.status() == Delta::Deleted
                        && added.status() == Delta::Added
                        && document::is_unspread(&path_of(gone))
                        && document::parse_path(&path_of(gone))
                            .map(|(k, _, n)| k.path(None, &n))
                            .as_deref()
                            == Some(path_of(added).as_str())
                });
                match moved {
                    Some((gone, added)) => (path_of(added), Delta::Modified, Some(path_of(gone))),
                    None => {
                        return Err(bad(
                            "changes 2 documents; an audit commit changes exactly one".into(),
                        ));
                    }
                }
            }
            _ => {
                return Err(bad(format!(
                    "changes {} documents; an audit commit changes exactly one",
                    deltas.len()
                )));
            }
        };
        let new_id = deltas
            .iter()
            .find(|d| path_of(d) == path)
            .map(|d| d.new_file().id())
            .unwrap_or_else(Oid::zero);
        let (kind, ns, name) = document::parse_path(&path)
            .ok_or_else(|| bad(format!("{path} is not a path the audit writer makes")))?;
        let object = match &ns {
            Some(ns) => format!("{ns}/{name}"),
            None => name.clone(),
        };
        if c.trailers.kind != kind.kind || c.trailers.object != object {
            return Err(bad(format!(
                "trailers name {} {} but the commit changes {path}",
                c.trailers.kind, c.trailers.object
            )));
        }
        let expected = match status {
            Delta::Added => vec![Change::Create],
            Delta::Deleted => vec![Change::Delete],
            Delta::Modified => vec![Change::Spec, Change::Status],
            other => return Err(bad(format!("{path}: unexpected change {other:?}"))),
        };
        if !c.trailers.change.is_some_and(|ch| expected.contains(&ch)) {
            return Err(bad(format!(
                "{path}: the Change trailer does not match the change made"
            )));
        }
        if let Some(gone) = &moved_from {
            replay.remove(gone);
        }
        match status {
            Delta::Deleted => {
                replay.remove(&path);
            }
            _ => {
                let blob_id = new_id;
                let blob = repo.find_blob(blob_id).map_err(|e| bad(e.to_string()))?;
                let doc: serde_json::Value = serde_norway::from_slice(blob.content())
                    .map_err(|e| bad(format!("{path} is not YAML: {e}")))?;
                if doc["kind"] != kind.kind || doc["metadata"]["name"] != name.as_str() {
                    return Err(bad(format!(
                        "{path} holds {} {}, not the object its path names",
                        doc["kind"], doc["metadata"]["name"]
                    )));
                }
                replay.insert(path, blob_id);
            }
        }
    }
    // The replay from an empty tree is the head's tree.
    let at_head: BTreeMap<String, Oid> = super::repo::documents_at(repo, head)
        .map_err(|e| Broken {
            id: head,
            summary: String::new(),
            problem: e.to_string(),
        })?
        .into_iter()
        .collect();
    if at_head != replay {
        let last = history.last();
        return Err(Broken {
            id: head,
            summary: last.map(|c| c.summary.clone()).unwrap_or_default(),
            problem: "the head's documents differ from the replay of the history".into(),
        });
    }
    Ok(Verified {
        commits: history.len(),
        objects: replay.len(),
        signers,
    })
}
