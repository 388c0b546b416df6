//! Fault injection (issue 9), end to end through the built agent and shim, loopback only, every
//! wait bounded: a silent upstream, an upstream that stalls mid-response, kill -9 of the agent
//! mid-fetch and mid-push, clients that vanish before and after a push's upload began, SIGTERM
//! under load, a full audit disk, and an idle-connection flood.

use gitgate_e2e::raw::*;
use gitgate_e2e::*;
use gitgate_proto::{Frame, Tool};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Misbehaving upstreams

/// Accepts connections and never answers (reads and discards what it is sent).
struct SilentServer {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl SilentServer {
    fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut s = stream;
                    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
                    let mut sink = [0u8; 4096];
                    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                });
            }
        });
        SilentServer { addr, accepted }
    }
}

/// A TCP proxy in front of the git server. Once the client's bytes contain `trigger`, it forwards
/// only `after` more bytes of the server's answer and then goes silent (while `stall` is on).
/// Requests are always forwarded in full, so the server acts on them.
struct StallingProxy {
    addr: std::net::SocketAddr,
    stall: Arc<AtomicBool>,
    triggered: Arc<AtomicBool>,
}

impl StallingProxy {
    fn start(backend: std::net::SocketAddr, trigger: &'static str, after: usize) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stall = Arc::new(AtomicBool::new(true));
        let triggered = Arc::new(AtomicBool::new(false));
        let (stall2, trig2) = (stall.clone(), triggered.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(backend) else {
                    continue;
                };
                let (stall, trig) = (stall2.clone(), trig2.clone());
                let hit = Arc::new(AtomicBool::new(false));
                let (mut c_rd, mut s_wr) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let hit_up = hit.clone();
                let trig_up = trig.clone();
                let stall_up = stall.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_rd.read(&mut buf) {
                        if n == 0 || s_wr.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if !hit_up.load(Ordering::SeqCst) {
                            seen.extend_from_slice(&buf[..n]);
                            let text = String::from_utf8_lossy(&seen);
                            if stall_up.load(Ordering::SeqCst) && text.contains(trigger) {
                                hit_up.store(true, Ordering::SeqCst);
                                trig_up.store(true, Ordering::SeqCst);
                            }
                            if seen.len() > 64 * 1024 {
                                seen.drain(..seen.len() - 1024);
                            }
                        }
                    }
                    let _ = s_wr.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_rd, mut c_wr) = (server, client);
                std::thread::spawn(move || {
                    let mut sent_after = 0usize;
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match s_rd.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut chunk = &buf[..n];
                        if hit.load(Ordering::SeqCst) {
                            let room = after.saturating_sub(sent_after);
                            chunk = &chunk[..chunk.len().min(room)];
                            sent_after += chunk.len();
                        }
                        if c_wr.write_all(chunk).is_err() {
                            break;
                        }
                        if hit.load(Ordering::SeqCst) && sent_after >= after {
                            // Silent from here on, with the connection held open.
                            std::thread::sleep(Duration::from_secs(120));
                            break;
                        }
                    }
                });
            }
        });
        StallingProxy {
            addr,
            stall,
            triggered,
        }
    }

    fn wait_triggered(&self) {
        wait_for(
            "the proxy to see its trigger",
            Duration::from_secs(20),
            || self.triggered.load(Ordering::SeqCst).then_some(()),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up

/// A git server with `acme/app` (a few commits and a 256 KiB blob, so packs take more than one
/// read), and its bare repository.
fn seeded_server(token: &str) -> (tempfile::TempDir, GitHttpServer, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let bare = init_bare(root.path(), "acme", "app");
    let server = GitHttpServer::start(root.path(), token).unwrap();
    let seed = tempfile::tempdir().unwrap();
    git(seed.path(), &["init", "-q", "-b", "main"]);
    let mut noise = Vec::with_capacity(256 * 1024);
    let mut x: u32 = 12345;
    while noise.len() < 256 * 1024 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(seed.path().join("blob.bin"), &noise).unwrap();
    for i in 0..5 {
        std::fs::write(seed.path().join("README.md"), format!("seed {i}\n")).unwrap();
        git(seed.path(), &["add", "."]);
        git(seed.path(), &["commit", "-q", "-m", &format!("seed {i}")]);
    }
    git(
        seed.path(),
        &[
            "push",
            "-q",
            &server.url_with_token("acme", "app", token),
            "main",
        ],
    );
    (root, server, bare)
}

fn agent_for(host: &str, token: &str, extra: &[(&str, &str)]) -> Agent {
    let mut b = Agent::builder()
        .hide_workspaces()
        .token(token)
        .env("ALLOWED_HOSTS", &format!("[\"{host}\"]"))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("ALLOWED_BRANCH_PATTERNS", r#"["claude/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("GITGATE_CONNECT_TIMEOUT_SECS", "2")
        .env("GITGATE_IO_TIMEOUT_SECS", "2");
    for (k, v) in extra {
        b = b.env(k, v);
    }
    b.start()
}

fn audit(agent: &Agent) -> Vec<Value> {
    agent.audit()
}

fn thread_count(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Files in the state dir that only an interrupted operation leaves behind.
fn leftovers(state: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![state.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let parent = dir.file_name();
                if (parent.is_some_and(|n| n == "shadow") && name.starts_with("push-"))
                    || (parent.is_some_and(|n| n == "spool") && name.starts_with("index-"))
                {
                    out.push(p.clone());
                }
                stack.push(p);
            } else if name.ends_with(".lock")
                || name.starts_with("pack_git2_")
                || name.starts_with("tmp_")
                || (dir.file_name().is_some_and(|n| n == "spool") && name.starts_with("push-"))
            {
                out.push(p);
            }
        }
    }
    out
}

fn spawn_shim(agent: &Agent, cwd: &Path, args: &[&str]) -> std::process::Child {
    agent
        .cmd("git", cwd)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the shim")
}

/// `n` clones through the shim from `host`: of `acme/app0`…`appN` (`distinct`) or all of `acme/app`.
fn clones_of(agent: &Agent, host: &str, n: usize, distinct: bool) -> Vec<std::process::Child> {
    (0..n)
        .map(|i| {
            let name = if distinct {
                format!("app{i}")
            } else {
                "app".into()
            };
            let url = format!("http://{host}/acme/{name}.git");
            spawn_shim(
                agent,
                &agent.workspace,
                &["clone", "-q", &url, &format!("c{i}")],
            )
        })
        .collect()
}

fn backdate(path: &Path) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Network timeouts

#[test]
fn a_silent_upstream_times_out_and_gives_its_threads_back() {
    let silent = SilentServer::start();
    let host = silent.addr.to_string();
    let agent = agent_for(&host, &random_token(), &[]);
    let baseline = thread_count(agent.pid());
    // Eight repositories, so the clones wait side by side (one repository's take turns).
    let clones = clones_of(&agent, &host, 8, true);
    // Others are served while every clone waits on the silent server.
    wait_for(
        "the clones to reach the server",
        Duration::from_secs(20),
        || (silent.accepted.load(Ordering::SeqCst) >= 8).then_some(()),
    );
    assert!(status_ok(&agent), "agent-status not answered meanwhile");
    for mut c in clones {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "a clone from a silent server never ended"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(status.code(), Some(128), "{err}");
        assert!(err.contains(&format!("http://{host}/acme/")), "{err}");
    }
    // The libgit2 threads came back once the idle timeout fired.
    wait_for(
        "the agent's threads to come back",
        Duration::from_secs(20),
        || (thread_count(agent.pid()) <= baseline + 2).then_some(()),
    );
}

#[test]
fn an_upstream_stalling_mid_pack_is_abandoned_and_the_next_fetch_works() {
    let token = random_token();
    let (_root, server, _bare) = seeded_server(&token);
    let backend: std::net::SocketAddr = server.host().parse().unwrap();
    let proxy = StallingProxy::start(backend, "POST /acme/app.git/git-upload-pack", 3000);
    let host = proxy.addr.to_string();
    let agent = agent_for(&host, &token, &[]);
    let url = format!("http://{host}/acme/app.git");
    let r = agent.run("git", &agent.workspace, &["clone", "-q", &url, "one"]);
    assert_eq!(r.code, 128, "{r:?}");
    assert!(r.stderr.contains(&url), "{r:?}");
    proxy.stall.store(false, Ordering::SeqCst);
    let r = agent.run("git", &agent.workspace, &["clone", "-q", &url, "two"]);
    r.assert_code(0);
    assert_eq!(
        git(&agent.workspace.join("two"), &["log", "--format=%s", "-1"]),
        "seed 4"
    );
}

// ---------------------------------------------------------------------------------------------
// Crashes

#[test]
fn kill9_mid_fetch_then_restart_leaves_nothing_and_fetch_works() {
    let token = random_token();
    let (_root, server, _bare) = seeded_server(&token);
    let backend: std::net::SocketAddr = server.host().parse().unwrap();
    let proxy = StallingProxy::start(backend, "POST /acme/app.git/git-upload-pack", 3000);
    let host = proxy.addr.to_string();
    let mut agent = agent_for(&host, &token, &[("GITGATE_IO_TIMEOUT_SECS", "60")]);
    let url = format!("http://{host}/acme/app.git");
    let mut clone = spawn_shim(&agent, &agent.workspace, &["clone", "-q", &url, "one"]);
    proxy.wait_triggered();
    std::thread::sleep(Duration::from_millis(300));
    agent.kill9();
    let _ = clone.kill();
    let _ = clone.wait();
    // v3 fetches keep no state in the agent; what a crash during a cache refresh (push) can
    // leave is planted: a lock in the repository cache.
    let cache = agent.state.join("cache/x/acme/app.git");
    std::fs::create_dir_all(&cache).unwrap();
    let planted = cache.join("packed-refs.lock");
    std::fs::write(&planted, b"").unwrap();
    backdate(&planted);
    let before = leftovers(&agent.state);
    assert!(before.contains(&planted), "{before:?}");
    for p in &before {
        if p.is_file() {
            backdate(p);
        }
    }
    agent.restart();
    assert_eq!(leftovers(&agent.state), Vec::<PathBuf>::new());
    assert!(
        agent.log_text().contains("removed a leftover"),
        "{}",
        agent.log_text()
    );
    proxy.stall.store(false, Ordering::SeqCst);
    agent
        .run("git", &agent.workspace, &["clone", "-q", &url, "two"])
        .assert_code(0);
    assert_eq!(leftovers(&agent.state), Vec::<PathBuf>::new());
}

fn push_repo(agent: &Agent, url: &str) -> PathBuf {
    let r = agent.run("git", &agent.workspace, &["clone", "-q", url, "w"]);
    r.assert_code(0);
    let w = agent.workspace.join("w");
    git(&w, &["checkout", "-q", "-b", "claude/x"]);
    std::fs::write(w.join("new.txt"), "new\n").unwrap();
    git(&w, &["add", "."]);
    git(&w, &["commit", "-q", "-m", "new"]);
    w
}

fn server_ref(bare: &Path, name: &str) -> Option<String> {
    let out = std::process::Command::new(REAL_GIT)
        .args(["rev-parse", "--verify", "-q", name])
        .current_dir(bare)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn kill9_mid_push_then_restart_leaves_nothing_and_push_works() {
    let token = random_token();
    let (_root, server, bare) = seeded_server(&token);
    let backend: std::net::SocketAddr = server.host().parse().unwrap();
    let proxy = StallingProxy::start(backend, "service=git-receive-pack", 0);
    proxy.stall.store(false, Ordering::SeqCst);
    let host = proxy.addr.to_string();
    let mut agent = agent_for(&host, &token, &[("GITGATE_IO_TIMEOUT_SECS", "60")]);
    let url = format!("http://{host}/acme/app.git");
    let w = push_repo(&agent, &url);
    // v3: the push's scratch state is its spooled pack; a client stalling mid-pack keeps it.
    let mut conn = std::os::unix::net::UnixStream::connect(&agent.socket).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(
        &Frame::Hello(gitgate_proto::Hello::transport(
            "git-receive-pack",
            &url,
            "",
        ))
        .encode(),
    )
    .unwrap();
    assert!(matches!(
        gitgate_proto::read_frame(&mut conn),
        Ok(Some(Frame::Data(_)))
    ));
    let head = git(&w, &["rev-parse", "HEAD"]);
    let cmd = format!(
        "{} {head} refs/heads/claude/x\0report-status\n",
        "0".repeat(40)
    );
    let mut data = format!("{:04x}{cmd}0000", cmd.len() + 4).into_bytes();
    data.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\x01");
    conn.write_all(&Frame::Data(data).encode()).unwrap();
    wait_for("the push's spooled pack", Duration::from_secs(10), || {
        (!leftovers(&agent.state).is_empty()).then_some(())
    });
    agent.kill9();
    drop(conn);
    for p in leftovers(&agent.state) {
        std::fs::File::options()
            .write(true)
            .open(&p)
            .map(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)))
            .ok();
        if p.is_dir() {
            // Directory mtimes: set through a file handle on the directory.
            let d = std::fs::File::open(&p).unwrap();
            d.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
                .unwrap();
        }
    }
    agent.restart();
    assert_eq!(leftovers(&agent.state), Vec::<PathBuf>::new());
    assert_eq!(server_ref(&bare, "refs/heads/claude/x"), None);
    proxy.stall.store(false, Ordering::SeqCst);
    agent
        .run("git", &w, &["push", "-q", "origin", "claude/x"])
        .assert_code(0);
    assert_eq!(
        server_ref(&bare, "refs/heads/claude/x"),
        Some(git(&w, &["rev-parse", "HEAD"]))
    );
}

// ---------------------------------------------------------------------------------------------
// Honest cancellation

/// Push through a proxy that stalls at `trigger`, end the client with `how` once it stalls, and
/// return the push's audit record once it is written.
fn interrupted_push(trigger: &'static str, how: i32) -> (Value, Option<String>, String) {
    let token = random_token();
    let (_root, server, bare) = seeded_server(&token);
    let backend: std::net::SocketAddr = server.host().parse().unwrap();
    let proxy = StallingProxy::start(backend, trigger, 0);
    proxy.stall.store(false, Ordering::SeqCst);
    let host = proxy.addr.to_string();
    let agent = agent_for(&host, &token, &[]);
    let url = format!("http://{host}/acme/app.git");
    let w = push_repo(&agent, &url);
    let new = git(&w, &["rev-parse", "HEAD"]);
    proxy.stall.store(true, Ordering::SeqCst);
    let push = spawn_shim(&agent, &w, &["push", "origin", "claude/x"]);
    proxy.wait_triggered();
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(push.id() as i32, how) };
    let out = push.wait_with_output().unwrap();
    let client = String::from_utf8_lossy(&out.stderr).into_owned();
    let record = wait_for("the push's audit record", Duration::from_secs(30), || {
        audit(&agent)
            .into_iter()
            .find(|v| v["service"] == "git-receive-pack")
    });
    let landed = server_ref(&bare, "refs/heads/claude/x");
    assert!(
        landed.is_none() || landed.as_deref() == Some(new.as_str()),
        "{landed:?}"
    );
    (record, landed, client)
}

#[test]
fn a_push_interrupted_before_its_upload_changes_nothing_and_says_so() {
    for sig in [libc::SIGINT, libc::SIGKILL] {
        let (record, landed, client) = interrupted_push("service=git-receive-pack", sig);
        assert_eq!(landed, None, "signal {sig}");
        assert_eq!(record["outcome"], "not sent", "signal {sig}: {record}");
        // Cancelled (130) when the client's hang-up comes first, or the upstream timeout (128)
        // when GITGATE_IO_TIMEOUT_SECS fires first: either way nothing was sent.
        assert!(
            [130, 128].contains(&record["code"].as_i64().unwrap_or(0)),
            "signal {sig}: {record}"
        );
        // v3: the client is the real git, which dies on the signal as it would without
        // gitgate; its transport helper then hangs up and the agent cancels.
        let _ = client;
    }
}

#[test]
fn a_push_interrupted_after_its_upload_is_reported_as_unknown_never_as_unchanged() {
    for sig in [libc::SIGINT, libc::SIGKILL] {
        let (record, landed, client) = interrupted_push("POST /acme/app.git/git-receive-pack", sig);
        // The server received the whole request: it applied it.
        assert!(landed.is_some(), "signal {sig}");
        assert_eq!(
            record["outcome"], "unknown: connection lost after upload",
            "signal {sig}: {record}"
        );
        let reason = record["reason"].as_str().unwrap_or("");
        assert!(reason.contains("outcome unknown"), "{record}");
        assert!(!reason.contains("nothing was changed"), "{record}");
        assert!(!client.contains("nothing was changed"), "{client}");
    }
}

// ---------------------------------------------------------------------------------------------
// Shutdown

#[test]
fn sigterm_under_load_exits_within_the_grace_period() {
    let silent = SilentServer::start();
    let host = silent.addr.to_string();
    let mut agent = agent_for(
        &host,
        &random_token(),
        &[
            ("GITGATE_IO_TIMEOUT_SECS", "120"),
            ("GITGATE_SHUTDOWN_GRACE_SECS", "3"),
        ],
    );
    let mut clients = clones_of(&agent, &host, 4, false);
    // Idle connections and stuck requests as well.
    let _idle: Vec<_> = (0..50).map(|_| connect(&agent)).collect();
    // Clones of one repository take turns (the repository lock): one is at the server, three wait.
    wait_for(
        "a clone to reach the server",
        Duration::from_secs(20),
        || (silent.accepted.load(Ordering::SeqCst) >= 1).then_some(()),
    );
    let started = Instant::now();
    agent.signal(libc::SIGTERM);
    let status = agent.wait_exit(Duration::from_secs(15));
    let took = started.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "the agent did not exit cleanly within 15 s ({status:?}): {}",
        agent.log_text()
    );
    // Functional bound, generous on purpose: grace (3 s) plus process teardown.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    for c in &mut clients {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(!agent.socket.exists(), "the socket was left behind");
}

// ---------------------------------------------------------------------------------------------
// Audit on a full disk

#[test]
fn a_full_audit_disk_leaves_only_whole_json_lines() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    let mnt = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mount -t tmpfs failed (root is needed for this test)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let log = mnt.path().join("audit.jsonl");
    let agent = Agent::builder()
        .env("AUDIT_LOG", &log.display().to_string())
        .env("AUDIT_MAX_BYTES", "1000000")
        .start();
    let filler = mnt.path().join("filler");
    // Fill the disk but for a few hundred bytes: some records fit, then one is cut short.
    let mut f = std::fs::File::create(&filler).unwrap();
    let mut written = 0usize;
    while f.write_all(&[b'x'; 512]).is_ok() {
        written += 512;
    }
    drop(f);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(written.saturating_sub(700) as u64)
        .unwrap();
    for _ in 0..10 {
        request(&agent, Tool::AgentStatus, &["--recent", "1"]);
    }
    // Space comes back: later records are whole and start on their own line.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..5 {
        request(&agent, Tool::AgentStatus, &["--recent", "2"]);
    }
    let (frame, out) = request(&agent, Tool::AgentStatus, &[]);
    assert!(matches!(frame, Frame::Exit(_)), "{frame:?}");
    let status = String::from_utf8_lossy(&out).into_owned();
    assert!(
        status.contains("audit record(s) could not be written"),
        "{status}"
    );
    let text = wait_for("the last records", Duration::from_secs(5), || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        (t.matches("\"--recent\",\"2\"").count() >= 5).then_some(t)
    });
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("invalid audit line {line:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Idle floods

fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = lim.rlim_max.min(want.max(lim.rlim_cur));
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

#[test]
fn three_thousand_idle_connections_do_not_lock_out_a_client() {
    raise_nofile(8192);
    let agent = Agent::builder()
        .env("GITGATE_HELLO_TIMEOUT_MS", "60000")
        .start();
    let idle: Vec<UnixStreamHold> = (0..3000).map(|_| UnixStreamHold(connect(&agent))).collect();
    // A normal request is answered while all of them are open.
    let (frame, out) = request(&agent, Tool::AgentStatus, &[]);
    assert!(
        matches!(frame, Frame::Exit(ref e) if e.code == 0),
        "{frame:?}"
    );
    assert!(String::from_utf8_lossy(&out).contains("waiting for hello"));
    // Past the bound, the oldest idle connection makes room (it is told why).
    let bounded = Agent::builder()
        .env("GITGATE_HELLO_TIMEOUT_MS", "60000")
        .env("GITGATE_MAX_PENDING_PER_PEER", "100")
        .start();
    let mut first = connect(&bounded);
    let _rest: Vec<_> = (0..150).map(|_| connect(&bounded)).collect();
    let (frame, _) = final_frame(&mut first);
    match frame {
        Frame::Error(e) => assert!(e.message.contains("GITGATE_MAX_PENDING_PER_PEER"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(status_ok(&bounded));
    drop(idle);
}

struct UnixStreamHold(#[allow(dead_code)] std::os::unix::net::UnixStream);
