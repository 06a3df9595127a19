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
