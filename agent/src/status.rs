//! `agent-status`: what the agent is doing and enforcing. Never shows any part of the token.

use crate::error::AgentError;
use crate::secret::MlockState;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::Exit;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

fn list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn allowed(b: bool) -> &'static str {
    if b {
        "allowed"
    } else {
        "refused"
    }
}

/// `state_dir_bytes`: measured off the async workers by the caller (a walk of the state dir).
pub fn render(state: &AgentState, state_dir_bytes: u64) -> String {
    let s = state.settings();
    let [requests, ok, denied, errors] = state.counters.get();
    let up = state.started.elapsed().as_secs();
    let mut t = String::new();
    let _ = writeln!(t, "gitgate-agent {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        t,
        "uptime:            {}h{:02}m{:02}s",
        up / 3600,
        up / 60 % 60,
        up % 60
    );
    let _ = writeln!(t, "socket:            {}", s.socket.display());
    let _ = writeln!(
        t,
        "peer checks:       on (allowed uids {:?})",
        state.allowed_uids()
    );
    let _ = writeln!(
        t,
        "state dir:         {} ({})",
        s.state_dir.display(),
        crate::housekeeping::human_bytes(state_dir_bytes)
    );
    match state.app.get() {
        // GitHub App mode: kind, installation, repositories, permissions, expiry (app_token.rs).
        Some(app) => t.push_str(&app.status_lines()),
        None => {
            let _ = writeln!(
                t,
                "token:             {}",
                if state.token.is_loaded() {
                    "loaded (personal token)"
                } else {
                    "not loaded (set GITHUB_TOKEN for the agent)"
                }
            );
        }
    }
    let _ = writeln!(
        t,
        "memory lock:       {}",
        match state.token.mlock_state() {
            MlockState::Locked => "locked (mlock, MADV_DONTDUMP)",
            MlockState::Failed =>
                "FAILED: the token may be swapped to disk (grant IPC_LOCK or raise RLIMIT_MEMLOCK)",
            MlockState::NotNeeded => "n/a (no token)",
        }
    );
    let _ = writeln!(t, "policy:");
    let _ = writeln!(
        t,
        "  blocked branches:        {}",
        list(&s.blocked_branches)
    );
    let patterns = if s.allowed_branch_patterns.is_empty() {
        "[] (any branch not blocked)".to_owned()
    } else {
        list(&s.allowed_branch_patterns)
    };
    let _ = writeln!(t, "  allowed branch patterns: {patterns}");
    let _ = writeln!(
        t,
        "  force push:              {}",
        allowed(s.allow_force_push)
    );
    let _ = writeln!(
        t,
        "  delete remote branches:  {}",
        allowed(s.allow_delete_remote)
    );
    let _ = writeln!(
        t,
        "  tag push:                {}",
        allowed(s.allow_tag_push)
    );
    let _ = writeln!(
        t,
        "  pr merge:                {}",
        allowed(s.allow_pr_merge)
    );
    let _ = writeln!(t, "  allowed repos:           {}", list(&s.allowed_repos));
    let _ = writeln!(
        t,
        "  public fetch:            {}",
        if s.allow_public_fetch {
            "allowed, without credentials"
        } else {
            "denied"
        }
    );
    let _ = writeln!(t, "  allowed hosts:           {}", list(&s.allowed_hosts));
    let _ = writeln!(t, "github api:        {}", s.github_api_url);
    if let Some(git_url) = s.github_git_url.as_deref().filter(|u| !u.is_empty()) {
        let _ = writeln!(t, "git traffic to:    {git_url} (GITHUB_GIT_URL)");
    }
    let audit = s.audit_log_path();
    let _ = writeln!(
        t,
        "audit log:         {}",
        if crate::audit::is_stdout(&audit) {
            "stdout (AUDIT_LOG=-)".to_owned()
        } else {
            audit.display().to_string()
        }
    );
    let _ = writeln!(
        t,
        "requests:          {requests} (allowed {ok}, denied {denied}, errors {errors})"
    );
    let _ = writeln!(
        t,
        "waiting for hello: {} connection(s)",
        state.pending.count()
    );
    let audit_failures = state.counters.audit_failures.load(Ordering::Relaxed);
    if audit_failures > 0 {
        let _ = writeln!(
            t,
            "warning:           {audit_failures} audit record(s) could not be written (see the agent log)"
        );
    }
    for w in &state.warnings {
        let _ = writeln!(t, "warning:           {w}");
    }
    if let Some(w) = same_uid_warning(state) {
        let _ = writeln!(t, "warning:           {w}");
    }
    t
}

/// Peers allowed on the socket with the agent's own uid can read everything the agent can (its
/// `.env` with the token): native mode's default. Said plainly in every `agent-status`.
fn same_uid_warning(state: &AgentState) -> Option<String> {
    state.allowed_uids().contains(&state.own_uid).then(|| {
        format!(
            "clients run as the agent's own uid {}: they can read what the agent reads (.env, the token); run the AI as another user (ALLOWED_UIDS) or in the containers",
            state.own_uid
        )
    })
}

/// Clients choose their arguments: ESC, CR, LF and other control characters would let them erase
/// or fake lines on the operator's terminal. Shown escaped, as the audit JSON has them.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn recent_table(n: usize) -> String {
    let recent = crate::audit::RECENT
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut t = format!(
        "{:<8} {:<6} {:<13} {:<6} {:>5}  {}\n",
        "age", "uid", "tool", "result", "code", "command / reason"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    for line in recent
        .iter()
        .rev()
        .take(n)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let age = now - v["time"].as_f64().unwrap_or(now);
        let argv: Vec<&str> = v["argv"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let mut what = format!("{} {}", v["tool"].as_str().unwrap_or(""), argv.join(" "));
        if let Some(r) = v["reason"].as_str().filter(|r| !r.is_empty()) {
            what.push_str(&format!(" — {r}"));
        }
        let _ = writeln!(
            t,
            "{:<8} {:<6} {:<13} {:<6} {:>5}  {}",
            format!("{:.0}s", age),
            v["uid"].to_string(),
            escape_controls(v["tool"].as_str().unwrap_or("")),
            escape_controls(v["decision"].as_str().unwrap_or("")),
            v["code"].to_string(),
            escape_controls(&what)
        );
    }
    t
}

pub async fn run(state: &AgentState, req: &Request) -> Result<Exit, AgentError> {
    let args = &req.hello.args;
    match args.first().map(String::as_str) {
        None => {
            let dir = state.settings().state_dir.clone();
            let bytes = tokio::task::spawn_blocking(move || crate::housekeeping::disk_usage(&dir))
                .await
                .unwrap_or(0);
            req.out.stdout(render(state, bytes)).await
        }
        Some("--recent") => {
            let n = args
                .get(1)
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| AgentError::Usage("usage: agent-status [--recent N]".into()))?;
            req.out.stdout(recent_table(n)).await
        }
        Some(other) => {
            return Err(AgentError::Usage(format!(
                "agent-status: unknown option '{other}' (usage: agent-status [--recent N])"
            )))
        }
    }
    Ok(Exit::code(0))
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let hostile = "push \u{1b}[2K\rOK\nfake line\u{7}\u{9b}x";
        let shown = escape_controls(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(
            shown,
            "push \\u{001b}[2K\\rOK\\nfake line\\u{0007}\\u{009b}x"
        );
        assert_eq!(escape_controls("claude/ä ok"), "claude/ä ok");
    }
}

#[cfg(test)]
mod same_uid_tests {
    use super::*;

    fn state_with(allowed: Option<Vec<u32>>) -> AgentState {
        let settings = crate::config::Settings {
            allowed_uids: allowed,
            ..Default::default()
        };
        let policy = settings.policy().unwrap();
        AgentState::new(settings, policy, crate::secret::Token::none(), vec![])
    }

    #[test]
    fn warns_when_peers_share_the_agents_uid() {
        let own = nix::unistd::getuid().as_raw();
        for allowed in [None, Some(vec![own]), Some(vec![own.wrapping_add(1), own])] {
            let text = render(&state_with(allowed.clone()), 0);
            assert!(
                text.contains(&format!(
                    "warning:           clients run as the agent's own uid {own}:"
                )),
                "{allowed:?}: {text}"
            );
        }
        let text = render(&state_with(Some(vec![own.wrapping_add(1)])), 0);
        assert!(!text.contains("agent's own uid"), "{text}");
    }
}
