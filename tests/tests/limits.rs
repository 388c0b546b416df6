//! Socket and process hygiene (DESIGN §8, issue 6 "Prove it"), end to end through the built agent:
//! concurrency limits, the Hello deadline, the operation timeout, the per-repo lock, cancellation
//! on disconnect, the audit log (fields, rotation, redaction), `agent-status --recent`, SIGHUP
//! reload, and resource recovery after a flood of vanished clients.
//!
//! Each limit has a setting (named in the error it produces), a default (agent/src/config.rs,
//! .env.example) and a test here. Everything is bounded: no loop waits longer than its deadline.
//!
//! "Blocked" requests are `hook pre-push` requests whose stdin never ends: the hook handler reads
//! stdin to EOF, so the request holds its slot until the client hangs up or the operation times out.

use gitgate_e2e::raw::*;
use gitgate_e2e::*;
use gitgate_proto::{Frame, Tool};
use serde_json::Value;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers (the raw protocol client is gitgate_e2e::raw)

/// A request that blocks in the agent until the client goes away (or the operation times out).
fn blocked_hook(agent: &Agent) -> UnixStream {
    let mut s = connect(agent);
    s.write_all(&hello(
        Tool::Hook,
        &["pre-push", "origin", "x"],
        &agent.workspace,
    ))
    .expect("send Hello");
    s
}

/// Open `n` blocked requests and wait (bounded) until the agent holds them all. Connection tasks
/// do not necessarily start in accept order, so probing before that could let a probe take a slot
/// and get a held request refused instead.
fn hold(agent: &Agent, n: usize) -> Vec<UnixStream> {
    let base = settled_fd_count(agent);
    let held: Vec<_> = (0..n).map(|_| blocked_hook(agent)).collect();
    match base {
        Some(base) => wait_for(
            "the agent to hold the requests",
            Duration::from_secs(10),
            || (fd_count(agent.pid()).unwrap_or(0) >= base + n).then_some(()),
        ),
        // /proc/<pid>/fd unreadable (not root): give the agent time instead.
        None => std::thread::sleep(Duration::from_secs(1)),
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_held(&held);
    held
}

/// The agent's fd count once it has stopped changing (connections from earlier requests, such as
/// the harness's readiness probe, closed).
fn settled_fd_count(agent: &Agent) -> Option<usize> {
    let mut last = fd_count(agent.pid())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let now = fd_count(agent.pid())?;
        if now == last || Instant::now() > deadline {
            return Some(now);
        }
        last = now;
    }
}

/// Every held request is still running: nothing to read, no EOF.
fn assert_held(held: &[UnixStream]) {
    use std::os::fd::AsRawFd;
    for (i, s) in held.iter().enumerate() {
        let mut b = [0u8; 1];
        let n = unsafe {
            libc::recv(
                s.as_raw_fd(),
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        let err = std::io::Error::last_os_error();
        assert!(
            n < 0 && err.kind() == std::io::ErrorKind::WouldBlock,
            "held request {i} was answered or closed (recv {n}: {err})"
        );
    }
}

/// With `held` blocked requests open, poll until a probe request is refused as busy; returns the
/// Error frame. (The agent takes the slot when it accepts the connection, which may lag connect().)
fn wait_busy(agent: &Agent) -> gitgate_proto::ErrorMsg {
    wait_for("a busy refusal", Duration::from_secs(10), || match request(
        agent,
        Tool::AgentStatus,
        &[],
    )
    .0
    {
        Frame::Error(e) => Some(e),
        Frame::Exit(_) => None,
        other => panic!("unexpected {other:?}"),
    })
}

fn audit_path(agent: &Agent) -> PathBuf {
    agent.state.join("audit.jsonl")
}

fn audit_lines(agent: &Agent) -> Vec<Value> {
    audit_records(&std::fs::read_to_string(audit_path(agent)).unwrap_or_default())
}

fn status_text(agent: &Agent) -> String {
    let r = agent.run("agent-status", &agent.workspace, &[]);
    r.assert_code(0);
    r.stdout
}

fn blocked_line(agent: &Agent) -> String {
    status_text(agent)
        .lines()
        .find(|l| l.trim_start().starts_with("blocked branches:"))
        .expect("a 'blocked branches:' line in agent-status")
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Concurrency limits

#[test]
fn per_peer_limit_refuses_then_recovers() {
    let agent = Agent::builder().env("GITGATE_MAX_PER_PEER", "3").start();
    let held = hold(&agent, 3);
    let e = wait_busy(&agent);
    assert_held(&held);
    assert_eq!(e.code, 125, "{e:?}");
    assert!(
        e.message.starts_with("gitgate: ") && e.message.contains("GITGATE_MAX_PER_PEER=3"),
        "{e:?}"
    );
    // The shim reports it with the protocol/agent error code and the message.
    let r = agent.run("agent-status", &agent.workspace, &[]);
    r.assert_code(125);
    assert!(r.stderr.contains("GITGATE_MAX_PER_PEER"), "{r:?}");
    drop(held);
    wait_for("requests to work again", Duration::from_secs(10), || {
        status_ok(&agent).then_some(())
    });
    assert!(
        !agent.log_text().contains("panicked"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn per_peer_limit_default_is_64() {
    let agent = Agent::builder().start();
    let held = hold(&agent, 64);
    let e = wait_busy(&agent);
    assert_held(&held);
    assert_eq!(e.code, 125, "{e:?}");
    assert!(e.message.contains("GITGATE_MAX_PER_PEER=64"), "{e:?}");
    drop(held);
    wait_for("requests to work again", Duration::from_secs(10), || {
        status_ok(&agent).then_some(())
    });
}

#[test]
fn global_connection_limit_refuses_then_recovers() {
    let agent = Agent::builder()
        .env("GITGATE_MAX_CONNECTIONS", "2")
        .env("GITGATE_MAX_PER_PEER", "100")
        .start();
    let held = hold(&agent, 2);
    let e = wait_busy(&agent);
    assert_held(&held);
    assert_eq!(e.code, 125, "{e:?}");
    assert!(
        e.message.starts_with("gitgate: agent busy")
            && e.message.contains("GITGATE_MAX_CONNECTIONS"),
        "{e:?}"
    );
    drop(held);
    wait_for("requests to work again", Duration::from_secs(10), || {
        status_ok(&agent).then_some(())
    });
}

// ---------------------------------------------------------------------------------------------
// Deadlines

#[test]
fn hello_deadline_for_silent_and_slow_clients() {
    let agent = Agent::builder()
        .env("GITGATE_HELLO_TIMEOUT_MS", "300")
        .start();
    // Sends nothing at all.
    let mut silent = connect(&agent);
    let t = Instant::now();
    let (f, _) = final_frame(&mut silent);
    let elapsed = t.elapsed();
    match f {
        Frame::Error(e) => {
            assert_eq!(e.code, 125);
            assert!(
                e.message
                    .contains("no request within 300 ms (GITGATE_HELLO_TIMEOUT_MS)"),
                "{e:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Sends half a Hello and stalls (slowloris): the deadline covers the whole Hello.
    let mut slow = connect(&agent);
    let h = hello(Tool::AgentStatus, &[], &agent.workspace);
    slow.write_all(&h[..h.len() / 2]).unwrap();
    let t = Instant::now();
    match final_frame(&mut slow).0 {
        Frame::Error(e) => assert!(e.message.contains("GITGATE_HELLO_TIMEOUT_MS"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(status_ok(&agent));
}

#[test]
fn operation_timeout_names_the_setting() {
    let agent = Agent::builder().env("GITGATE_OP_TIMEOUT_SECS", "1").start();
    let mut s = blocked_hook(&agent);
    let t = Instant::now();
    match final_frame(&mut s).0 {
        Frame::Error(e) => {
            assert_eq!(e.code, 125, "{e:?}");
            assert!(
                e.message
                    .contains("timed out after 1 s (GITGATE_OP_TIMEOUT_SECS)"),
                "{e:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let elapsed = t.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    drop(s);
    let line = wait_for("the audit line", Duration::from_secs(5), || {
        audit_lines(&agent)
            .into_iter()
            .find(|l| l["tool"] == "hook")
    });
    assert_eq!(line["decision"], "error", "{line}");
    assert_eq!(line["code"], 125, "{line}");
    assert!(status_ok(&agent));
}

// ---------------------------------------------------------------------------------------------
// Cancellation

#[test]
fn client_disconnect_cancels_the_operation() {
    let agent = Agent::builder().start();
    let s = blocked_hook(&agent);
    // Let the agent read the Hello and start the operation before the client vanishes.
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    let line = wait_for("the audit line", Duration::from_secs(5), || {
        audit_lines(&agent)
            .into_iter()
            .find(|l| l["tool"] == "hook")
    });
    // A vanished client's stdin is not a complete input: the operation is cancelled, never run.
    assert_eq!(line["decision"], "error", "{line}");
    assert_eq!(line["code"], 130, "{line}");
    assert!(
        line["reason"].as_str().unwrap().contains("cancelled"),
        "{line}"
    );
    assert!(status_ok(&agent));
    // Nothing logged for it: no warning beyond the startup one about the missing token.
    let log = agent.log_text();
    assert!(
        !log.lines().any(
            |l| (l.contains("warning") && !l.contains("no token loaded")) || l.contains("panicked")
        ),
        "agent log: {log}"
    );
}

/// Counts for the resource check.
fn fd_count(pid: u32) -> Option<usize> {
    // The agent is not dumpable (PR_SET_DUMPABLE=0): only root may list its fds.
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: in /proc/<pid>/status")
}

fn shadow_count(agent: &Agent) -> usize {
    std::fs::read_dir(agent.state.join("shadow"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn two_hundred_vanished_clients_leave_nothing_behind() {
    let agent = Agent::builder().env("GITGATE_MAX_PER_PEER", "256").start();
    let pid = agent.pid();
    assert!(status_ok(&agent));
    let fds0 = settled_fd_count(&agent);
    let threads0 = thread_count(pid);
    let shadows0 = shadow_count(&agent);

    let clients: Vec<_> = (0..200).map(|_| blocked_hook(&agent)).collect();
    // Wait (bounded) until the agent holds them all, so they really are mid-operation.
    if let Some(fds0) = fds0 {
        wait_for("200 open connections", Duration::from_secs(10), || {
            (fd_count(pid).unwrap_or(0) >= fds0 + 200).then_some(())
        });
    }
    drop(clients);

    let settled = wait_for(
        "resources back to the baseline",
        Duration::from_secs(15),
        || {
            let fds = fd_count(pid);
            let threads = thread_count(pid);
            let fds_ok = match (fds, fds0) {
                (Some(n), Some(n0)) => n <= n0 + 2,
                _ => true, // not root: /proc/<pid>/fd is not readable; threads and dirs still count
            };
            let ok = fds_ok && threads <= threads0 + 2 && shadow_count(&agent) <= shadows0;
            ok.then_some((fds, threads))
        },
    );
    eprintln!("baseline fds {fds0:?} threads {threads0}; after 200 vanished clients {settled:?}");
    let cancelled = wait_for("200 audit lines", Duration::from_secs(15), || {
        let n = audit_lines(&agent)
            .iter()
            .filter(|l| l["tool"] == "hook" && l["code"] == 130)
            .count();
        (n >= 200).then_some(n)
    });
    assert_eq!(cancelled, 200);
    assert!(status_ok(&agent));
    assert!(
        !agent.log_text().contains("panicked"),
        "{}",
        agent.log_text()
    );
}

// ---------------------------------------------------------------------------------------------
// Audit log and agent-status --recent

#[test]
fn audit_log_fields_and_token_never_logged() {
    let token = random_token();
    let agent = Agent::builder()
        .token(&token)
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    // v3: the pre-push hook's question (no network needed); a ref named like the token.
    let r = pre_push(&agent, &repo, &format!("refs/notes/{token}"));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        !r.stdout.contains(&token) && !r.stderr.contains(&token),
        "{r:?}"
    );
    let r = pre_push(&agent, &repo, "refs/heads/main");
    r.assert_code(126);
    agent.run("agent-status", &repo, &[]).assert_code(0);

    let lines = wait_for("3 audit lines", Duration::from_secs(5), || {
        let l = audit_lines(&agent);
        (l.len() >= 3).then_some(l)
    });
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        for field in [
            "time",
            "uid",
            "pid",
            "tool",
            "argv",
            "repo",
            "decision",
            "reason",
            "code",
            "duration_ms",
            "bytes",
        ] {
            assert!(l.get(field).is_some(), "audit line lacks '{field}': {l}");
        }
        assert!(l["time"].as_f64().unwrap() > 1.6e9, "{l}");
        assert_eq!(l["uid"].as_u64().unwrap(), unsafe { libc::getuid() } as u64);
        assert!(l["pid"].as_i64().unwrap() > 0, "{l}");
        assert!(l["duration_ms"].as_f64().unwrap() >= 0.0, "{l}");
        assert!(l["bytes"].as_u64().is_some(), "{l}");
        assert!(
            ["allow", "deny", "error"].contains(&l["decision"].as_str().unwrap()),
            "{l}"
        );
    }
    assert_eq!(lines[0]["tool"], "hook");
    assert_eq!(lines[0]["argv"][0], "pre-push");
    assert_ne!(lines[0]["decision"], "allow");
    assert_eq!(lines[1]["decision"], "deny");
    assert_eq!(lines[1]["code"], 126);
    assert_eq!(
        lines[1]["argv"],
        serde_json::json!(["pre-push", "origin", "https://github.com/acme/app.git"])
    );
    assert!(!lines[1]["reason"].as_str().unwrap().is_empty());
    assert_eq!(lines[2]["tool"], "agent-status");
    assert_eq!(lines[2]["decision"], "allow");
    assert_eq!(lines[2]["code"], 0);
    assert!(lines[2]["bytes"].as_u64().unwrap() > 0);

    let raw = std::fs::read_to_string(audit_path(&agent)).unwrap();
    assert!(!raw.contains(&token), "token in the audit log: {raw}");
    assert!(!agent.log_text().contains(&token), "token in the agent log");
    // The reason naming the token-like ref is still recorded, redacted.
    assert!(
        lines[0]["reason"].as_str().unwrap().contains("***"),
        "{}",
        lines[0]
    );
}

/// The pre-push hook's question for one ref line (what the installed hook sends).
fn pre_push(agent: &Agent, repo: &Path, remote_ref: &str) -> Run {
    let line = format!(
        "refs/heads/x {} {remote_ref} {} na\n",
        "1".repeat(40),
        "0".repeat(40)
    );
    agent.run_with_stdin(
        "gitgate-shim",
        repo,
        &[
            "hook",
            "pre-push",
            "origin",
            "https://github.com/acme/app.git",
        ],
        line.as_bytes(),
    )
}

#[test]
fn audit_log_rotates_at_audit_max_bytes() {
    let agent = Agent::builder().env("AUDIT_MAX_BYTES", "2000").start();
    for i in 0..40 {
        let (f, _) = request(&agent, Tool::AgentStatus, &[]);
        assert!(matches!(f, Frame::Exit(_)), "{i}: {f:?}");
    }
    // A last, recognisable request: once its line is written, every earlier one is too.
    request(&agent, Tool::AgentStatus, &["--recent", "1"]);
    let path = audit_path(&agent);
    let rotated = agent.state.join("audit.jsonl.1");
    wait_for("the last audit line", Duration::from_secs(5), || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("--recent")
            .then_some(())
    });
    assert!(
        rotated.exists(),
        "no {} after 41 requests",
        rotated.display()
    );
    for p in [&path, &rotated] {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.len() <= 2000,
            "{} is {} bytes (AUDIT_MAX_BYTES=2000)",
            p.display(),
            text.len()
        );
        assert!(text.ends_with('\n'), "{text:?}");
        for l in text.lines() {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        }
    }
}

#[test]
fn agent_status_recent_shows_last_decisions() {
    let agent = Agent::builder().start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    agent.run("agent-status", &repo, &[]).assert_code(0);
    agent.run("agent-status", &repo, &[]).assert_code(0);
    let denied = pre_push(&agent, &repo, "refs/heads/main");
    denied.assert_code(126);
    // The audit record is written just after the client has its answer: poll.
    let table = wait_for(
        "the denied push in --recent",
        Duration::from_secs(5),
        || {
            let r = agent.run("agent-status", &repo, &["--recent", "3"]);
            r.assert_code(0);
            r.stdout.contains("deny").then_some(r.stdout)
        },
    );
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[0].contains("tool") && rows[0].contains("result") && rows[0].contains("code"),
        "{table}"
    );
    assert_eq!(rows.len(), 4, "header + 3 rows: {table}");
    let deny = rows
        .iter()
        .find(|r| r.contains("deny"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        deny.contains("126") && deny.contains("hook pre-push origin"),
        "{table}"
    );
    // The reason the client saw is in the row.
    let reason = denied
        .stderr
        .lines()
        .find(|l| l.starts_with("gitgate: "))
        .unwrap()
        .trim_start_matches("gitgate: ");
    assert!(
        deny.contains(reason),
        "row {deny:?} lacks the reason {reason:?}"
    );
    // Usage errors are clear.
    let r = agent.run("agent-status", &repo, &["--recent", "x"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("usage: agent-status"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// SIGHUP reload

/// The hook's verdict on a push to `branch` (the policy in force, as the pre-push hook sees it).
fn hook_verdict(agent: &Agent, branch: &str) -> i32 {
    let mut s = connect(agent);
    let mut bytes = hello(Tool::Hook, &["pre-push", "origin"], &agent.workspace);
    let zero = "0".repeat(40);
    let one = "1".repeat(40);
    let line = format!("refs/heads/x {one} refs/heads/{branch} {zero}\n");
    bytes.extend(Frame::Data(line.into_bytes()).encode());
    bytes.extend(Frame::DataEof.encode());
    s.write_all(&bytes).unwrap();
    match final_frame(&mut s).0 {
        Frame::Exit(e) => e.code,
        Frame::Error(e) => e.code,
        _ => unreachable!(),
    }
}

#[test]
fn sighup_reloads_policy_and_rejects_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("gitgate.env");
    std::fs::write(&env_file, "BLOCKED_BRANCHES=[\"main\"]\n").unwrap();
    let agent = Agent::builder()
        .arg("--env-file")
        .arg(env_file.to_str().unwrap())
        .start();
    assert_eq!(blocked_line(&agent), r#"blocked branches:        ["main"]"#);
    assert_eq!(hook_verdict(&agent, "develop"), 0);
    assert_eq!(hook_verdict(&agent, "main"), 126);

    let hup = |agent: &Agent| {
        assert_eq!(unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) }, 0);
    };

    std::fs::write(&env_file, "BLOCKED_BRANCHES=[\"main\",\"develop\"]\n").unwrap();
    hup(&agent);
    wait_for("the reloaded policy", Duration::from_secs(10), || {
        blocked_line(&agent).contains("develop").then_some(())
    });
    assert_eq!(
        blocked_line(&agent),
        r#"blocked branches:        ["main","develop"]"#
    );
    assert_eq!(hook_verdict(&agent, "develop"), 126);
    assert!(agent.log_text().contains("configuration reloaded (SIGHUP)"));

    std::fs::write(&env_file, "BLOCKED_BRANCHES=main\n").unwrap();
    hup(&agent);
    let rejected = wait_for("the rejected reload", Duration::from_secs(10), || {
        agent
            .log_text()
            .lines()
            .find(|l| l.contains("reload rejected"))
            .map(str::to_owned)
    });
    assert!(rejected.contains("BLOCKED_BRANCHES"), "{rejected}");
    assert!(
        rejected.contains("keeping the previous configuration"),
        "{rejected}"
    );
    assert_eq!(
        blocked_line(&agent),
        r#"blocked branches:        ["main","develop"]"#
    );
    assert_eq!(hook_verdict(&agent, "develop"), 126);
    assert_eq!(hook_verdict(&agent, "feature"), 0);
}
