//! Figure 11: agent cold start — from `exec` of the release binary to a socket that accepts a
//! connection, and to the first answered request (agent-status). The CA roots are not needed
//! for either (they load on the first HTTPS request).

use crate::report::{row, Section, Verdict};
use crate::util::*;
use crate::Config;
use gitgate_proto::Tool;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn cold_start(cfg: &Config) -> Section {
    let mut sec = Section::new("11. Agent cold start");
    let runs = if cfg.quick { 10 } else { 40 };
    let dir = tempfile::Builder::new()
        .prefix("gitgate-bench-start")
        .tempdir()
        .unwrap();
    let bin = gitgate_e2e::agent_bin();
    let token = gitgate_e2e::random_token();
    let status = request_bytes(Tool::AgentStatus, &[], std::path::Path::new("/"));
    let (mut listen, mut answer) = (Vec::new(), Vec::new());
    for i in 0..runs + 2 {
        let sock = dir.path().join(format!("a{i}.sock"));
        let state = dir.path().join(format!("state{i}"));
        let mut c = Command::new(&bin);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("GITHUB_TOKEN", &token)
            .env("GITGATE_SOCKET", &sock)
            .env("GITGATE_STATE_DIR", &state)
            .env("ALLOWED_REPOS", r#"["acme/*"]"#)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let t = Instant::now();
        let mut child = c.spawn().expect("start the agent");
        let deadline = t + Duration::from_secs(10);
        let listening = loop {
            if UnixStream::connect(&sock).is_ok() {
                break Some(ms(t.elapsed()));
            }
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                break None;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let answered = raw_request(&sock, &status).ok().map(|_| ms(t.elapsed()));
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&state);
        let (Some(l), Some(a)) = (listening, answered) else {
            panic!("the agent did not start (run {i})");
        };
        // The first two runs warm the page cache.
        if i >= 2 {
            listen.push(l);
            answer.push(a);
        }
    }
    let (l, a) = (stats(&listen), stats(&answer));
    sec.rows.push(row(
        "exec → socket accepts a connection: median",
        fmt_ms(l.median),
        "—",
        "—",
        "≤ 20 ms",
        Verdict::of(l.median <= 20.0),
    ));
    sec.rows.push(row(
        "same, slowest",
        fmt_ms(l.max),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "exec → first agent-status answered: median",
        fmt_ms(a.median),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.method = format!(
        "{} starts of target/release/gitgate-agent (after 2 unmeasured ones), each with a fresh state dir, a token in \
         GITHUB_TOKEN and ALLOWED_REPOS set; the bench polls connect(2) on the socket every 0.1 ms from just before the \
         spawn, then sends one agent-status request; the agent is stopped with SIGTERM after each run.",
        l.n
    );
    sec
}
