//! Agent-owned bare mirrors, one per allowed repository, refreshed with the token. The AI's
//! container reads them (read-only) with its own git for fetch/pull/clone/ls-remote.

use super::{callbacks, git_error, Target};
use crate::error::AgentError;
use crate::secret::Token;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// Create the mirror if missing and bring it up to date. Blocking: run on a blocking thread,
/// under the repository lock.
pub fn refresh(
    target: &Target,
    token: &Arc<Token>,
    cancel: &CancellationToken,
) -> Result<(), AgentError> {
    match fetch_into(target, token, cancel) {
        // The mirror is only a cache: one damaged by an interrupted run is re-created once.
        Err(f) if f.local_damage && !cancel.is_cancelled() => {
            let _ = std::fs::remove_dir_all(&target.mirror);
            fetch_into(target, token, cancel).map_err(|f| f.error)
        }
        r => r.map_err(|f| f.error),
    }
}

struct FetchFailure {
    error: AgentError,
    /// The mirror itself is at fault (not the network or the server).
    local_damage: bool,
}

fn failure(e: &git2::Error, target: &Target, cancel: &CancellationToken) -> FetchFailure {
    FetchFailure {
        error: git_error(e, &target.url, cancel),
        local_damage: matches!(
            e.class(),
            git2::ErrorClass::Odb
                | git2::ErrorClass::Reference
                | git2::ErrorClass::Repository
                | git2::ErrorClass::Index
                | git2::ErrorClass::Object
                | git2::ErrorClass::Filesystem
                | git2::ErrorClass::Os
                | git2::ErrorClass::Config
        ),
    }
}

fn fetch_into(
    target: &Target,
    token: &Arc<Token>,
    cancel: &CancellationToken,
) -> Result<(), FetchFailure> {
    let local = |error: AgentError| FetchFailure {
        error,
        local_damage: false,
    };
    let repo = match git2::Repository::open_bare(&target.mirror) {
        Ok(r) => r,
        Err(_) => {
            // Never created, or half-created by a killed agent.
            let _ = std::fs::remove_dir_all(&target.mirror);
            if let Some(parent) = target.mirror.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    local(AgentError::Internal(format!(
                        "cannot create {}: {e}",
                        parent.display()
                    )))
                })?;
            }
            let r = git2::Repository::init_bare(&target.mirror).map_err(|e| {
                local(AgentError::Internal(format!(
                    "cannot create the mirror: {}",
                    e.message()
                )))
            })?;
            let _ = r
                .config()
                .and_then(|mut c| c.set_bool("core.logallrefupdates", false));
            r
        }
    };
    let mut remote = repo
        .remote_anonymous(&target.url)
        .map_err(|e| failure(&e, target, cancel))?;
    let mut opts = git2::FetchOptions::new();
    opts.remote_callbacks(callbacks(token, &target.url, cancel))
        .prune(git2::FetchPrune::On)
        .download_tags(git2::AutotagOption::None)
        .follow_redirects(git2::RemoteRedirect::None);
    remote
        .fetch(&REFSPECS, Some(&mut opts), Some("gitgate: mirror refresh"))
        .map_err(|e| failure(&e, target, cancel))?;
    // Keep HEAD pointing at the remote's default branch so clones check out the right branch.
    if let Ok(buf) = remote.default_branch() {
        if let Some(name) = buf.as_str() {
            if repo.find_reference(name).is_ok() {
                let _ = repo.set_head(name);
            }
        }
    }
    Ok(())
}
