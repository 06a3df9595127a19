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

/// Pushes `main` to `url`. `Ok(false)` when there was nothing to push yet.
pub fn push(repo: &Path, url: &str) -> Result<bool, PushError> {
    let repo = Repository::open_bare(repo)?;
    if repo.refname_to_id(BRANCH).is_err() {
        return Ok(false);
    }
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
        remote.push(&[format!("{BRANCH}:{BRANCH}")], Some(&mut opts))?;
    }
    match rejected {
        Some(why) => Err(PushError::Rejected(why)),
        None => Ok(true),
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
