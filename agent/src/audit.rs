//! Audit log: one JSON line per request (time, peer, tool, argv, repo-independent decision, reason,
//! outcome, result code, duration, bytes). Redacted like every other output; rotated when it passes
//! `AUDIT_MAX_BYTES`, keeping `AUDIT_KEEP` old files. Each record is written whole or not at all;
//! failures to write are counted (agent-status) and logged, never fatal to the request.

use crate::session::Peer;
use crate::state::AgentState;
use gitgate_proto::Hello;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

pub struct AuditRecord<'a> {
    pub peer: Peer,
    pub hello: &'a Hello,
    /// `owner/name` the request resolved to, if it got that far.
    pub repo: Option<String>,
    pub decision: &'a str,
    pub reason: &'a str,
    /// What reached upstream, for writes.
    pub outcome: Option<crate::session::Outcome>,
    /// Sent upstream without credentials (a public fetch).
    pub anonymous: bool,
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
    let line = with_header(
        r.peer,
        r.hello.tool.as_str(),
        serde_json::json!({
            // git transport: which service (upload-pack = fetch/clone, receive-pack = push).
            "service": r.hello.service,
            "argv": r.hello.args,
            "cwd": r.hello.cwd,
            "repo": r.repo,
            "decision": r.decision,
            "reason": r.reason,
            "outcome": r.outcome.map(crate::session::Outcome::as_str),
            "anonymous": r.anonymous,
            "code": r.code,
            "duration_ms": r.duration.as_secs_f64() * 1000.0,
            "bytes": r.bytes,
        }),
    );
    write_record(state, line);
}

/// `fields` after the fields every record starts with: time, peer uid and pid, tool.
fn with_header(peer: Peer, tool: &str, fields: serde_json::Value) -> serde_json::Value {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = serde_json::json!({
        "time": time.as_secs_f64(),
        "uid": peer.uid,
        "pid": peer.pid,
        "tool": tool,
    });
    if let (Some(l), serde_json::Value::Object(f)) = (line.as_object_mut(), fields) {
        l.extend(f);
    }
    line
}

/// Every record's way out: the pod's name added, redacted, kept for `agent-status --recent`, then
/// written whole to stdout (`AUDIT_LOG=-`) or appended to the file (rotated first if it is full).
fn write_record(state: &AgentState, record: serde_json::Value) {
    let settings = state.settings();
    let line = with_pod(record, pod_name()).to_string();
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
    if stdout_record(state, &path, &line) {
        return;
    }
    if let Ok(meta) = std::fs::metadata(&path) {
        // +1: the newline, so the file never passes AUDIT_MAX_BYTES by one byte.
        if meta.len() + line.len() as u64 + 1 > settings.audit_max_bytes {
            rotate(&path, settings.audit_keep);
        }
    }
    if let Err(e) = append_whole_line(&path, &line) {
        state
            .counters
            .audit_failures
            .fetch_add(1, Ordering::Relaxed);
        crate::log::warn(
            state,
            &format!("cannot write the audit log {}: {e}", path.display()),
        );
    }
}

// --- AUDIT_LOG=- (issue 14: Kubernetes): records on stdout for the cluster's log collector, with
// the pod's name (POD_NAME, from the downward API). Never rotated.

/// `AUDIT_LOG=-` means stdout.
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// `POD_NAME` as the agent started with it (empty = unset).
fn pod_name() -> Option<&'static str> {
    static POD: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    POD.get_or_init(|| std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()))
        .as_deref()
}

fn with_pod(mut record: serde_json::Value, pod: Option<&str>) -> serde_json::Value {
    if let (Some(pod), Some(map)) = (pod, record.as_object_mut()) {
        map.insert("pod".into(), pod.into());
    }
    record
}

/// With `AUDIT_LOG=-`: `line` goes to stdout (the caller holds WRITE_LOCK) and this returns true.
fn stdout_record(state: &AgentState, path: &Path, line: &str) -> bool {
    if !is_stdout(path) {
        return false;
    }
    if let Err(e) = write_whole_line(std::io::stdout(), line) {
        state
            .counters
            .audit_failures
            .fetch_add(1, Ordering::Relaxed);
        crate::log::warn(state, &format!("cannot write the audit log to stdout: {e}"));
    }
    true
}

/// `line` and its newline in one `write(2)` (a pipe to the container runtime: whole up to
/// PIPE_BUF, and never mixed with our other records, which wait on WRITE_LOCK). A short write
/// cannot be taken back from a pipe, so the rest follows at once.
fn write_whole_line(fd: impl std::os::fd::AsFd, line: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let mut done = 0;
    // Bounded: each round writes at least one byte or returns.
    while done < buf.len() {
        match nix::unistd::write(fd.as_fd(), &buf[done..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
// --- end AUDIT_LOG=-

/// One request through the gh API gateway (no Hello: the client is the real gh over HTTP).
pub struct ApiAuditRecord<'a> {
    pub peer: Peer,
    pub method: &'a str,
    pub path: &'a str,
    /// GraphQL operation name, if any.
    pub operation: Option<&'a str>,
    pub repo: Option<&'a str>,
    pub decision: &'a str,
    pub reason: &'a str,
    /// HTTP status returned to gh.
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
}

/// The audit line of one API request; written like [`record`]'s (redacted, rotated, whole lines).
pub fn record_api(state: &AgentState, r: ApiAuditRecord<'_>) {
    let line = with_header(
        r.peer,
        "api",
        serde_json::json!({
            "method": r.method,
            "path": r.path,
            "operation": r.operation,
            "repo": r.repo,
            "decision": r.decision,
            "reason": r.reason,
            "status": r.status,
            "duration_ms": r.duration.as_secs_f64() * 1000.0,
            "bytes": r.bytes,
        }),
    );
    write_record(state, line);
}

/// Append `line` and its newline with one `write`, or not at all: a short write (a full disk)
/// is cut back off, so a later record never gets glued to a fragment.
fn append_whole_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let before = file.metadata()?.len();
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let result = match file.write(&buf) {
        Ok(n) if n == buf.len() => return Ok(()),
        Ok(n) => Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("only {n} of {} bytes written", buf.len()),
        )),
        Err(e) => Err(e),
    };
    // Best effort: shrinking needs no free space.
    let _ = file.set_len(before);
    result
}

/// `audit.jsonl` → `.1` → `.2` … keeping `keep` rotated files (0: the old file is dropped).
fn rotate(path: &Path, keep: usize) {
    let numbered = |n: usize| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    if keep == 0 {
        let _ = std::fs::remove_file(path);
        return;
    }
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        let _ = std::fs::rename(numbered(n), numbered(n + 1));
    }
    let _ = std::fs::rename(path, numbered(1));
}

/// At start: a record cut short by a crash or power loss is removed, so the file holds only
/// whole lines. Returns how many bytes were dropped.
pub fn repair_tail(path: &Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    if is_stdout(path) {
        return Ok(0);
    }
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    // Look back in bounded steps for the last newline.
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(len - keep);
        }
        end = start;
    }
    file.set_len(0)?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_record_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        assert_eq!(repair_tail(&p).unwrap(), 5);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        assert_eq!(repair_tail(&p).unwrap(), 0);
        std::fs::write(&p, "no newline at all").unwrap();
        assert_eq!(repair_tail(&p).unwrap(), 17);
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }

    #[test]
    fn rotation_keeps_the_configured_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.jsonl");
        for i in 0..7 {
            std::fs::write(&p, format!("{i}\n")).unwrap();
            rotate(&p, 3);
        }
        let read = |n: usize| std::fs::read_to_string(dir.path().join(format!("audit.jsonl.{n}")));
        assert_eq!(read(1).unwrap(), "6\n");
        assert_eq!(read(2).unwrap(), "5\n");
        assert_eq!(read(3).unwrap(), "4\n");
        assert!(read(4).is_err());
        assert!(!p.exists());
    }

    #[test]
    fn stdout_records_are_whole_lines_with_the_pod_name() {
        assert!(is_stdout(Path::new("-")));
        assert!(!is_stdout(Path::new("./-")));
        let rec = serde_json::json!({"tool": "transport", "code": 0});
        let with = with_pod(rec.clone(), Some("session-7-x2k"));
        assert_eq!(with["pod"], "session-7-x2k");
        assert_eq!(with["tool"], "transport");
        assert!(with_pod(rec, None).get("pod").is_none());
        // Through a pipe, as to a container runtime: exactly the line and its newline.
        let (rd, wr) = nix::unistd::pipe().unwrap();
        write_whole_line(&wr, &with.to_string()).unwrap();
        drop(wr);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(rd), &mut got).unwrap();
        assert_eq!(got, format!("{with}\n"));
        let back: serde_json::Value = serde_json::from_str(got.trim_end()).unwrap();
        assert_eq!(back, with);
        // "-" is never opened or truncated as a file.
        assert_eq!(repair_tail(Path::new("-")).unwrap(), 0);
    }

    #[test]
    fn lines_are_appended_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        append_whole_line(&p, "{\"x\":1}").unwrap();
        append_whole_line(&p, "{\"y\":2}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"x\":1}\n{\"y\":2}\n"
        );
    }
}
