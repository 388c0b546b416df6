//! fetch, pull, ls-remote, remote update and clone: refresh the agent's mirror of the allowed
//! repository, then tell the shim to run the real git locally against it (DESIGN §2). The client's
//! options are for the shim's local git; the agent only needs to know which repository is meant.

use super::workspace::Workspace;
use super::{mirror, missing_remote, target_for_url, Target};
use crate::error::AgentError;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::gitargs::positionals;
use gitgate_proto::Exit;
use std::path::Path;

fn looks_like_url(s: &str) -> bool {
    s.contains("://")
        || (s.contains(':') && s.contains('@'))
        || s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
}

async fn refresh(state: &AgentState, req: &Request, target: &Target) -> Result<(), AgentError> {
    // The guard moves into the blocking work: the lock is held until the work really ends, even
    // if this request is cancelled or times out meanwhile.
    let held = state.repo_lock(&target.slug).lock_owned().await;
    let target = target.clone();
    let token = state.token.clone();
    let cancel = req.cancel.clone();
    let started = state.started_at;
    tokio::task::spawn_blocking(move || {
        // Under the lock: what an earlier, killed agent left in this repository goes first.
        crate::housekeeping::sweep(&target.mirror, started);
        let r = mirror::refresh(&target, &token, &cancel);
        drop(held);
        r
    })
    .await
    .map_err(|e| AgentError::Internal(format!("mirror task failed: {e}")))?
}

fn mirror_exit(target: &Target, url_as_written: String) -> Exit {
    Exit {
        code: 0,
        mirror: Some(target.mirror.display().to_string()),
        url: Some(url_as_written),
        local_git: vec![],
    }
}

/// `git fetch|pull|ls-remote|remote update`.
pub async fn fetch_like(
    state: &AgentState,
    req: &Request,
    ws_root: &Path,
    cwd: &Path,
) -> Result<Exit, AgentError> {
    let settings = state.settings();
    let policy = state.policy();
    let args = &req.hello.args;
    let sub = args[0].as_str();
    let rest = &args[1..];
    // `remote update` takes remote names or groups; treat the first as the remote.
    let named = if sub == "remote" {
        rest.iter()
            .skip_while(|a| a.as_str() != "update")
            .nth(1)
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
    } else {
        positionals(sub, rest).first().copied()
    };
    let url_as_written = match named {
        Some(n) if looks_like_url(n) => n.to_owned(),
        other => {
            let ws = Workspace::open(ws_root, cwd)?;
            let name = other
                .map(str::to_owned)
                .unwrap_or_else(|| ws.default_remote());
            let url = ws.remote_url(&name).ok_or_else(|| missing_remote(&name))?;
            // The shim's local git reads the mirror through `url.<mirror>.insteadOf=<url>`; a
            // workspace rule for the same URL could win the tie and send the local git elsewhere.
            if let Some(rule) = ws
                .insteadof_rules()
                .into_iter()
                .find(|(_, prefix)| url.starts_with(prefix.as_str()))
            {
                return Err(AgentError::denied(format!(
                    "{sub} refused: the repository config has url.{}.insteadOf={} which rewrites '{url}'; remove it (git config --unset-all url.{}.insteadOf)",
                    rule.0, rule.1, rule.0
                )));
            }
            url
        }
    };
    let target = target_for_url(&settings, &policy, &url_as_written)?;
    req.audit.set_repo(&target.slug);
    refresh(state, req, &target).await?;
    Ok(mirror_exit(&target, url_as_written))
}

/// `git clone <url> [dir]`: only allowed repositories; the shim clones from the mirror and keeps
/// `origin` pointing at the URL as written.
pub async fn clone(state: &AgentState, req: &Request) -> Result<Exit, AgentError> {
    let settings = state.settings();
    let policy = state.policy();
    let pos = positionals("clone", &req.hello.args[1..]);
    let url = pos.first().ok_or_else(|| {
        AgentError::Usage("usage: git clone [<options>] [--] <repo> [<dir>]".into())
    })?;
    let target = target_for_url(&settings, &policy, url)?;
    req.audit.set_repo(&target.slug);
    refresh(state, req, &target).await?;
    Ok(mirror_exit(&target, (*url).to_owned()))
}
