//! Pushing the audit branch to its remote (blocking, git2). Any transport libgit2 speaks
//! without TLS: `git://` (the local stack's `git daemon`), `http://`, `file://` or a path.

use std::path::Path;

use git2::{PushOptions, RemoteCallbacks, Repository};

use super::repo::BRANCH;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "the remote refused {BRANCH}: {0} (its history differs from ours: someone rewrote it, or another writer pushes there)"
    )]
    Rejected(String),
    #[error("{0}")]
    Other(String),
}

impl From<git2::Error> for PushError {
    fn from(e: git2::Error) -> Self {
        PushError::Other(e.message().to_string())
    }
}

/// At most this many commits go to the remote in one push. A remote that verifies every
/// commit it receives (the Pusat Data's pre-receive hook checks each signature) takes time in
/// proportion to the push; a backlog of thousands after an outage, pushed at once, outgrew
/// the push timeout and was abandoned and retried with an even larger backlog. Pushed in
/// batches, every push is short and each one moves the remote forward.
pub const PUSH_BATCH: usize = 100;

/// What one [`push`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// There is no local history yet.
    Nothing,
    /// The remote already holds the local `main`.
    UpToDate,
    /// `commits` went to the remote; `remaining` are still only local (push again).
    Batch { commits: usize, remaining: usize },
}

/// Pushes the local `main` to `url`, at most `batch` commits past the remote's head: the
/// oldest unpushed ones first, so the remote's history only grows and stays a prefix of ours.
pub fn push(repo: &Path, url: &str, batch: usize) -> Result<Pushed, PushError> {
    const STAGED: &str = "refs/kavling/push-batch";
    let repo = Repository::open_bare(repo)?;
    let Ok(ours) = repo.refname_to_id(BRANCH) else {
        return Ok(Pushed::Nothing);
    };
    let theirs = remote_head(&repo, url)?;
    if theirs == Some(ours) {
        return Ok(Pushed::UpToDate);
    }
    // The unpushed commits, oldest first. When the remote's head is not in our history (it
    // was rewritten, or another writer pushed) nothing is pushed, let alone forced.
    let mut walk = repo.revwalk()?;
    walk.push(ours)?;
    match theirs {
        Some(t) if repo.graph_descendant_of(ours, t)? => walk.hide(t)?,
        Some(t) => {
            return Err(PushError::Rejected(format!(
                "its main is at {t}, which is not in the local history"
            )));
        }
        None => {}
    }
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let unpushed = walk.collect::<Result<Vec<_>, _>>()?;
    let take = unpushed.len().min(batch.max(1));
    repo.reference(STAGED, unpushed[take - 1], true, "audit: next push batch")?;
    push_ref(&repo, url, STAGED)?;
    Ok(Pushed::Batch {
        commits: take,
        remaining: unpushed.len() - take,
    })
}

/// The remote's `main`, if it has one. Fetched rather than listed: `Remote::list` on a remote
/// with no refs at all hands git2 a null pointer (git2 0.20 aborts the process on it), and a
/// fetch of a prefix of our own history transfers nothing but the negotiation.
fn remote_head(repo: &Repository, url: &str) -> Result<Option<git2::Oid>, PushError> {
    const SEEN: &str = "refs/kavling/push-remote-main";
    let _ = repo.find_reference(SEEN).and_then(|mut r| r.delete());
    let mut remote = repo.remote_anonymous(url)?;
    remote.fetch(&[format!("+{BRANCH}:{SEEN}")], None, None)?;
    Ok(repo.refname_to_id(SEEN).ok())
}

/// Pushes the local ref `src` to the remote's `main`; a refusal is [`PushError::Rejected`].
fn push_ref(repo: &Repository, url: &str, src: &str) -> Result<(), PushError> {
    let mut remote = repo.remote_anonymous(url)?;
    let mut rejected = None;
    {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.push_update_reference(|_, status| {
            if let Some(s) = status {
                rejected = Some(s.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(callbacks);
        remote.push(&[format!("{src}:{BRANCH}")], Some(&mut opts))?;
    }
    match rejected {
        Some(why) => Err(PushError::Rejected(why)),
        None => Ok(()),
    }
}

/// What [`adopt_remote`] did to the local `main`.
#[derive(Debug, PartialEq, Eq)]
pub enum Adopted {
    /// The remote has no `main` yet: nothing to adopt.
    RemoteEmpty,
    /// Local and remote agree.
    Same,
    /// The local history holds the remote's and more (commits made while the remote was
    /// down): they are pushed next.
    LocalAhead,
    /// The local `main` was behind (another replica led meanwhile) and now is the remote's.
    FastForwarded,
    /// The two histories had diverged: the remote's is kept (it is what auditors read) and
    /// the local commits are kept aside under the named ref, never lost.
    Diverged { kept_at: String },
}

/// Makes the local `main` continue from the remote's, before a new leader writes: the audit
/// trail is one history however often leadership moves between replicas, and a change another
/// replica already recorded is not recorded twice (the writer records only what differs from
/// its repository's tree).
pub fn adopt_remote(repo: &Path, url: &str) -> Result<Adopted, PushError> {
    const FETCHED: &str = "refs/kavling/remote-main";
    let repo = Repository::open_bare(repo)?;
    let mut remote = repo.remote_anonymous(url)?;
    remote.fetch(&[format!("+{BRANCH}:{FETCHED}")], None, None)?;
    let Ok(theirs) = repo.refname_to_id(FETCHED) else {
        return Ok(Adopted::RemoteEmpty);
    };
    let adopted = match repo.refname_to_id(BRANCH).ok() {
        Some(ours) if ours == theirs => return Ok(Adopted::Same),
        Some(ours) if repo.graph_descendant_of(ours, theirs)? => return Ok(Adopted::LocalAhead),
        Some(ours) if !repo.graph_descendant_of(theirs, ours)? => {
            let kept_at = format!(
                "refs/kavling/diverged/{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default()
            );
            repo.reference(
                &kept_at,
                ours,
                true,
                "audit: local history diverged from the remote's",
            )?;
            Adopted::Diverged { kept_at }
        }
        _ => Adopted::FastForwarded,
    };
    repo.reference(
        BRANCH,
        theirs,
        true,
        "audit: continue from the remote's main",
    )?;
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own under the system's temp dir, removed when dropped.
    struct Scratch(std::path::PathBuf);
    impl Scratch {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("kavling-push-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Adds `n` commits to `main` (labelled: two repositories' chains must differ, as commits made
    /// in the same second with the same content and message are the same object).
    fn commit_chain(repo: &Repository, label: &str, n: usize) -> git2::Oid {
        let sig = git2::Signature::now("t", "t@example.org").unwrap();
        let tree = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let mut head = repo.refname_to_id(BRANCH).ok();
        for i in 0..n {
            let parents: Vec<_> = head.iter().map(|h| repo.find_commit(*h).unwrap()).collect();
            let refs: Vec<_> = parents.iter().collect();
            head = Some(
                repo.commit(
                    Some(BRANCH),
                    &sig,
                    &sig,
                    &format!("{label} {i}"),
                    &tree,
                    &refs,
                )
                .unwrap(),
            );
        }
        head.unwrap()
    }

    fn count(repo: &Path) -> usize {
        let r = Repository::open_bare(repo).unwrap();
        let Ok(head) = r.refname_to_id(BRANCH) else {
            return 0;
        };
        let mut w = r.revwalk().unwrap();
        w.push(head).unwrap();
        w.count()
    }

    #[test]
    fn a_backlog_goes_oldest_first_in_batches_and_the_remote_only_grows() {
        let dir = Scratch::new("batches");
        let (local, remote) = (dir.path().join("local"), dir.path().join("remote"));
        let repo = Repository::init_bare(&local).unwrap();
        Repository::init_bare(&remote).unwrap();
        let url = remote.to_str().unwrap();
        assert_eq!(push(&local, url, 10).unwrap(), Pushed::Nothing);
        let head = commit_chain(&repo, "ours", 25);
        let batches: Vec<_> = (0..4).map(|_| push(&local, url, 10).unwrap()).collect();
        assert_eq!(
            batches,
            vec![
                Pushed::Batch {
                    commits: 10,
                    remaining: 15
                },
                Pushed::Batch {
                    commits: 10,
                    remaining: 5
                },
                Pushed::Batch {
                    commits: 5,
                    remaining: 0
                },
                Pushed::UpToDate,
            ]
        );
        let r = Repository::open_bare(&remote).unwrap();
        assert_eq!(r.refname_to_id(BRANCH).unwrap(), head);
        assert_eq!(count(&remote), 25);
        // More commits later continue from the remote's head.
        commit_chain(&repo, "ours later", 3);
        assert_eq!(
            push(&local, url, 10).unwrap(),
            Pushed::Batch {
                commits: 3,
                remaining: 0
            }
        );
        assert_eq!(count(&remote), 28);
    }

    #[test]
    fn a_remote_with_another_history_refuses_and_nothing_is_forced() {
        let dir = Scratch::new("refused");
        let (local, other, remote) = (
            dir.path().join("local"),
            dir.path().join("other"),
            dir.path().join("remote"),
        );
        let repo = Repository::init_bare(&local).unwrap();
        let other_repo = Repository::init_bare(&other).unwrap();
        Repository::init_bare(&remote).unwrap();
        let url = remote.to_str().unwrap();
        let theirs = commit_chain(&other_repo, "theirs", 2);
        push(&other, url, 10).unwrap();
        commit_chain(&repo, "ours", 4);
        let refused = push(&local, url, 10);
        assert!(
            matches!(refused, Err(PushError::Rejected(_))),
            "{refused:?}"
        );
        let r = Repository::open_bare(&remote).unwrap();
        assert_eq!(r.refname_to_id(BRANCH).unwrap(), theirs);
    }
}
