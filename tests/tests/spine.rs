//! End-to-end tests of the spine (issue 2): built binaries, real socket, real git.

use gitgate_e2e::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[test]
fn local_git_through_the_shim_is_byte_identical() {
    let agent = Agent::builder().start();
    let repo = agent.workspace_repo("local", "https://github.com/acme/app.git");
    std::fs::write(repo.join("new.txt"), "x\n").unwrap();
    std::fs::write(repo.join("README.md"), "changed\n").unwrap();
    for args in [
        &["status"][..],
        &["status", "--porcelain=v2", "--branch"],
        &["log", "--oneline", "--decorate"],
        &["diff", "--stat"],
        &["log", "no-such-ref"],
        &["-C", "..", "status"],
        &["--no-pager", "log", "-1", "--format=%H %s"],
        &["frobnicate"],
    ] {
        let via_shim = agent.run("git", &repo, args);
        let direct = Run::from(
            agent
                .cmd("git", &repo)
                .env("PATH", "/usr/bin:/bin")
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{e}")),
        );
        // The line above runs the shim too (same binary); compare against the real git explicitly:
        let real = Run::from(
            std::process::Command::new(REAL_GIT)
                .args(args)
                .current_dir(&repo)
                .envs(
                    agent
                        .cmd("git", &repo)
                        .get_envs()
                        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
                )
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap(),
        );
        let _ = direct;
        assert_eq!(via_shim.code, real.code, "exit code of git {args:?}");
        assert_eq!(
            via_shim.raw_stdout, real.raw_stdout,
            "stdout of git {args:?}"
        );
        assert_eq!(
            via_shim.raw_stderr, real.raw_stderr,
            "stderr of git {args:?}"
        );
    }
}

// v2's argv-level denial table lives on as tests/tests/transport.rs (refusals on the wire).

#[test]
fn unreachable_agent_exits_127_naming_the_socket() {
    let mut agent = Agent::builder().start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    agent.stop();
    let (tool, args) = ("agent-status", &[][..]);
    let r = agent.run(tool, &repo, args);
    assert_eq!(r.code, 127, "{tool}: {r:?}");
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "gitgate: cannot reach the agent at {} (start it: ./run.sh; check: ./run.sh --status)",
            agent.socket.display()
        )
    );
    // git: its transport helper says it the way git's own helpers fail, and git exits 128.
    let r = agent.run("git", &repo, &["ls-remote", "origin"]);
    assert_eq!(r.code, 128, "{r:?}");
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "fatal: gitgate: cannot reach the agent at {} (start it: ./run.sh; check: ./run.sh --status)",
            agent.socket.display()
        )
    );
}

#[test]
fn peer_uid_not_allowed_is_refused() {
    let other = unsafe { libc::getuid() } + 4242;
    let agent = Agent::builder()
        .env("ALLOWED_UIDS", &format!("[{other}]"))
        .start();
    let r = agent.run("agent-status", &agent.workspace, &[]);
    assert_eq!(r.code, 126, "{r:?}");
    assert!(r.stderr.contains("ALLOWED_UIDS"), "{}", r.stderr);
}

#[test]
fn invalid_settings_stop_the_agent_naming_the_setting() {
    for (k, v) in [
        ("BLOCKED_BRANCHES", "main"),
        ("ALLOWED_BRANCH_PATTERNS", "[\"a\","),
        ("ALLOW_FORCE_PUSH", "perhaps"),
        ("ALLOWED_REPOS", "[\"ac[me/*\"]"),
    ] {
        let ws = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(agent_bin())
            .env_clear()
            .env("GITGATE_WORKSPACE", ws.path())
            .env("GITGATE_SOCKET", ws.path().join("s.sock"))
            .env("GITGATE_STATE_DIR", ws.path().join("state"))
            .env(k, v)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{k}={v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(k), "{k}={v}: {err}");
        assert!(!ws.path().join("s.sock").exists());
    }
}

#[test]
fn agent_status_reports_policy_and_never_the_token() {
    let token = random_token();
    let agent = Agent::builder()
        .token(&token)
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("BLOCKED_BRANCHES", r#"["main","release/*"]"#)
        .start();
    let r = agent.run("agent-status", &agent.workspace, &[]);
    r.assert_code(0);
    for needle in [
        "gitgate-agent",
        "uptime",
        "socket",
        "peer checks:       on",
        "token:             loaded",
        "memory lock",
        "release/*",
        "acme/*",
        "force push:              refused",
        "requests:",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            r.stdout
        );
    }
    assert!(!r.stdout.contains(&token) && !r.stdout.contains(&token[4..12]));
}

// ---- protocol abuse against the socket directly ----

fn status_works(agent: &Agent) {
    let r = agent.run("agent-status", &agent.workspace, &[]);
    assert_eq!(
        r.code,
        0,
        "agent-status failed: {r:?}\nlog: {}",
        agent.log_text()
    );
}

fn read_to_end_bounded(s: &mut UnixStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf
}

fn expect_error_frame(bytes: &[u8]) -> gitgate_proto::ErrorMsg {
    match gitgate_proto::decode(bytes) {
        Ok(Some((gitgate_proto::Frame::Error(e), _))) => e,
        other => panic!("expected an Error frame, got {other:?}"),
    }
}

#[test]
fn protocol_abuse_never_stops_the_agent() {
    let mut agent = Agent::builder().start();
    let sock = agent.socket.clone();

    // Garbage.
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let e = expect_error_frame(&read_to_end_bounded(&mut s));
    assert_eq!(e.code, 125);
    status_works(&agent);

    // Oversized frame header (no body follows): refused from the header alone.
    let mut s = UnixStream::connect(&sock).unwrap();
    let mut h = (u32::MAX).to_be_bytes().to_vec();
    h.push(1);
    s.write_all(&h).unwrap();
    let e = expect_error_frame(&read_to_end_bounded(&mut s));
    assert!(e.message.contains("exceeds"), "{}", e.message);
    status_works(&agent);

    // Invalid UTF-8 and NUL in args.
    for payload in [
        &b"{\"version\":1,\"tool\":\"git\",\"args\":[\"push\",\"\xff\"],\"cwd\":\"/\"}"[..],
        br#"{"version":1,"tool":"git","args":["push","a\u0000b"],"cwd":"/"}"#,
    ] {
        let mut s = UnixStream::connect(&sock).unwrap();
        let mut f = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        f.push(1);
        f.extend_from_slice(payload);
        s.write_all(&f).unwrap();
        let e = expect_error_frame(&read_to_end_bounded(&mut s));
        assert_eq!(e.code, 125, "{}", e.message);
    }
    status_works(&agent);

    // 1000 connections opened and dropped, in batches (bounded by the fd limit of this process).
    for _ in 0..10 {
        let conns: Vec<UnixStream> = (0..100)
            .filter_map(|_| UnixStream::connect(&sock).ok())
            .collect();
        assert!(conns.len() >= 90);
        drop(conns);
    }
    status_works(&agent);

    // Half a frame, then silence: the agent keeps serving others meanwhile and times the sleeper out.
    let mut sleeper = UnixStream::connect(&sock).unwrap();
    sleeper.write_all(&[0, 0, 0, 50, 1, b'{']).unwrap();
    status_works(&agent);
    let e = expect_error_frame(&read_to_end_bounded(&mut sleeper));
    assert!(
        e.message.contains("GITGATE_HELLO_TIMEOUT_MS"),
        "{}",
        e.message
    );
    status_works(&agent);

    // A client that vanishes right after Hello.
    for _ in 0..50 {
        let mut s = UnixStream::connect(&sock).unwrap();
        let hello = gitgate_proto::Hello::new(gitgate_proto::Tool::AgentStatus, vec![], "/".into());
        s.write_all(&gitgate_proto::Frame::Hello(hello).encode())
            .unwrap();
        drop(s);
    }
    status_works(&agent);
    assert!(agent.alive(), "agent died");
    assert!(
        !agent.log_text().contains("panicked"),
        "{}",
        agent.log_text()
    );
}

#[test]
fn many_concurrent_clients_are_all_answered() {
    let agent = Agent::builder().start();
    let ws: &Path = &agent.workspace;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| scope.spawn(|| agent.run("agent-status", ws, &[]).code))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 0);
        }
    });
}

/// Thousands of clients connected at once: every one gets exactly one final frame (the answer, or
/// a clear "busy" error naming the setting), and the agent keeps serving.
#[test]
fn thousands_of_simultaneous_clients() {
    // Lift this test process's descriptor limit too (bounded by the hard limit).
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(8192);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    let mut agent = Agent::builder().start();
    let hello = gitgate_proto::Frame::Hello(gitgate_proto::Hello::new(
        gitgate_proto::Tool::AgentStatus,
        vec![],
        "/".into(),
    ))
    .encode();
    let mut first = hello.clone();
    first.extend_from_slice(&gitgate_proto::Frame::DataEof.encode());
    let mut conns = Vec::new();
    for _ in 0..2000 {
        match UnixStream::connect(&agent.socket) {
            Ok(mut s) => {
                s.write_all(&first).unwrap();
                conns.push(s);
            }
            Err(e) => panic!("connect failed after {} clients: {e}", conns.len()),
        }
    }
    let (mut ok, mut busy) = (0, 0);
    for mut s in conns {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut finals = 0;
        loop {
            match gitgate_proto::read_frame(&mut s) {
                Ok(Some(gitgate_proto::Frame::Exit(e))) => {
                    assert_eq!(e.code, 0);
                    ok += 1;
                    finals += 1;
                }
                Ok(Some(gitgate_proto::Frame::Error(e))) => {
                    assert!(e.message.contains("GITGATE_MAX"), "{}", e.message);
                    busy += 1;
                    finals += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("bad stream after {ok} answers: {e}"),
            }
        }
        assert_eq!(finals, 1);
    }
    eprintln!("answered {ok}, busy {busy}");
    assert_eq!(ok + busy, 2000);
    assert!(ok > 0);
    status_works(&agent);
    assert!(agent.alive());
}
