//! Audit log: one JSON line per request (time, peer, tool, argv, repo-independent decision, reason,
//! result code, duration, bytes). Redacted like every other output; rotated to `<path>.1` when it
//! passes `AUDIT_MAX_BYTES`. Failures to write are logged, never fatal to the request.

use crate::session::Peer;
use crate::state::AgentState;
use gitgate_proto::Hello;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

pub struct AuditRecord<'a> {
    pub peer: Peer,
    pub hello: &'a Hello,
    /// `owner/name` the request resolved to, if it got that far.
    pub repo: Option<String>,
    pub decision: &'a str,
    pub reason: &'a str,
    pub code: i32,
    pub duration: Duration,
    pub bytes: u64,
}

/// Serialises writers so lines never interleave and rotation is atomic with respect to appends.
static WRITE_LOCK: Mutex<()> = Mutex::new(());

/// Recent decisions kept in memory for `agent-status --recent N`.
pub static RECENT: Mutex<std::collections::VecDeque<String>> =
    Mutex::new(std::collections::VecDeque::new());
const RECENT_MAX: usize = 200;

pub fn record(state: &AgentState, r: AuditRecord<'_>) {
    let settings = state.settings();
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let line = serde_json::json!({
        "time": time.as_secs_f64(),
        "uid": r.peer.uid,
        "pid": r.peer.pid,
        "tool": r.hello.tool.as_str(),
        "argv": r.hello.args,
        "cwd": r.hello.cwd,
        "repo": r.repo,
        "decision": r.decision,
        "reason": r.reason,
        "code": r.code,
        "duration_ms": r.duration.as_secs_f64() * 1000.0,
        "bytes": r.bytes,
    })
    .to_string();
    let line = state.redactor.redact_str(&line);
    {
        let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_MAX {
            recent.pop_front();
        }
        recent.push_back(line.clone());
    }
    let path = settings.audit_log_path();
    let _guard = WRITE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(meta) = std::fs::metadata(&path) {
        // +1: the newline, so the file never passes AUDIT_MAX_BYTES by one byte.
        if meta.len() + line.len() as u64 + 1 > settings.audit_max_bytes {
            let mut rotated = path.clone().into_os_string();
            rotated.push(".1");
            let _ = std::fs::rename(&path, rotated);
        }
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        crate::log::warn(
            state,
            &format!("cannot write the audit log {}: {e}", path.display()),
        );
    }
}
