//! The built shim against a tiny fake agent (std UnixListener + gitgate-proto), and against the
//! real git for the local paths.

use gitgate_proto::{self as proto, ErrorMsg, Exit, Frame, Hello, Tool};
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

const SHIM: &str = env!("CARGO_BIN_EXE_gitgate-shim");
const REAL_GIT: &str = "/usr/bin/git";

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "gg-shim-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p.canonicalize().unwrap())
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn sock(&self) -> PathBuf {
        self.0.join("agent.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the fake agent received before it answered.
#[derive(Debug)]
struct Request {
    hello: Hello,
    stdin: Vec<u8>,
}

fn read_request(s: &mut UnixStream) -> Request {
    let hello = match proto::read_frame(s).unwrap() {
        Some(Frame::Hello(h)) => h,
        other => panic!("expected Hello, got {other:?}"),
    };
    let mut stdin = Vec::new();
    loop {
        match proto::read_frame(s).unwrap() {
            Some(Frame::Data(b)) => stdin.extend_from_slice(&b),
            Some(Frame::DataEof) => break,
            other => panic!("expected Stdin/StdinEof, got {other:?}"),
        }
    }
    Request { hello, stdin }
}

fn send(s: &mut UnixStream, f: Frame) {
    proto::write_frame(s, &f).unwrap();
}

/// Listen on `sock` and serve one connection with `f`.
fn agent<T: Send + 'static>(
    sock: &Path,
    f: impl FnOnce(&mut UnixStream) -> T + Send + 'static,
) -> JoinHandle<T> {
    let listener = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        f(&mut s)
    })
}

/// An agent that records the request and answers with `frames`.
fn scripted(sock: &Path, frames: Vec<Frame>) -> JoinHandle<Request> {
    agent(sock, move |s| {
        let req = read_request(s);
        for f in frames {
            send(s, f);
        }
        req
    })
}

fn shim_cmd(dir: &TempDir, args: &[&str]) -> Command {
    let mut c = Command::new(SHIM);
    c.args(args)
        .current_dir(dir.path())
        .env("GITGATE_SOCKET", dir.sock())
        .env("GITGATE_REAL_GIT", REAL_GIT)
        .env_remove("GITGATE_MIRROR_DIR")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    git_env(&mut c, dir.path());
    c
}

fn git_env(c: &mut Command, home: &Path) {
    c.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("LC_ALL", "C");
}

/// Wait for a child (draining its output) with a deadline, so a hung shim fails the test
/// instead of hanging it.
fn wait(child: Child) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output().unwrap());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out,
        Err(_) => {
            unsafe { kill(pid, 9) };
            panic!("shim did not finish: {:?}", rx.recv());
        }
    }
}

fn run(mut c: Command) -> Output {
    wait(c.spawn().unwrap())
}

fn run_with_stdin(mut c: Command, input: Vec<u8>) -> Output {
    c.stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = wait(child);
    feeder.join().unwrap();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let mut c = Command::new(REAL_GIT);
    c.args(args).current_dir(dir);
    git_env(&mut c, dir);
    let out = c.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim_end().to_owned()
}

#[test]
fn streams_output_and_passes_the_exit_code() {
    let dir = TempDir::new("stream");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let ag = scripted(
        &dir.sock(),
        vec![
            Frame::Data(b"out1\n".to_vec()),
            Frame::Stderr(b"err\n".to_vec()),
            Frame::Data(b"out2\n".to_vec()),
            Frame::Exit(Exit::code(3)),
        ],
    );
    let mut c = shim_cmd(&dir, &["agent-status", "--recent", "5"]);
    c.current_dir(dir.path().join("sub"));
    c.env("COLUMNS", "123");
    let out = run(c);
    let req = ag.join().unwrap();
    assert_eq!(text(&out.stdout), "out1\nout2\n");
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(req.hello.tool, Tool::AgentStatus);
    assert_eq!(req.hello.args, ["--recent", "5"]);
    assert_eq!(Path::new(&req.hello.cwd), dir.path().join("sub"));
    assert_eq!(req.hello.cols, 123);
    assert_eq!(req.hello.version, proto::PROTOCOL_VERSION);
    assert!(!req.hello.tty.stdin && !req.hello.tty.stdout && !req.hello.tty.stderr);
    assert!(req.stdin.is_empty());
}

#[test]
fn large_output_arrives_intact() {
    let dir = TempDir::new("large");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let ag = scripted(
        &dir.sock(),
        vec![Frame::Data(big.clone()), Frame::Exit(Exit::code(0))],
    );
    let out = run(shim_cmd(&dir, &["agent-status", "--recent", "5"]));
    let req = ag.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == big, "stdout differs");
    assert_eq!(req.hello.tool, Tool::AgentStatus);
    assert_eq!(req.hello.args, ["--recent", "5"]);
}

#[test]
fn closed_stdout_ends_like_sigpipe() {
    let dir = TempDir::new("epipe");
    let ag = agent(&dir.sock(), |s| {
        read_request(s);
        // keep writing until the shim is gone
        while proto::write_frame(s, &Frame::Data(vec![b'x'; 65536])).is_ok() {}
    });
    let mut child = shim_cmd(&dir, &["agent-status"]).spawn().unwrap();
    drop(child.stdout.take());
    let out = wait(child);
    ag.join().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn error_frame_gives_code_and_message() {
    let dir = TempDir::new("error");
    let ag = scripted(
        &dir.sock(),
        vec![
            Frame::Stderr(b"partial\n".to_vec()),
            Frame::Error(ErrorMsg {
                message: "gitgate: denied by policy: branch 'main' is blocked".into(),
                code: 126,
            }),
        ],
    );
    let out = run(shim_cmd(&dir, &["agent-status"]));
    ag.join().unwrap();
    assert_eq!(
        text(&out.stderr),
        "partial\ngitgate: denied by policy: branch 'main' is blocked\n"
    );
    assert_eq!(out.status.code(), Some(126));
    assert!(out.stdout.is_empty());
}

#[test]
fn connection_lost_before_the_final_frame() {
    let dir = TempDir::new("lost");
    let ag = scripted(&dir.sock(), vec![Frame::Data(b"half".to_vec())]);
    let out = run(shim_cmd(&dir, &["agent-status"]));
    ag.join().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), "half");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("gitgate: lost the connection to the agent (") && err.ends_with(")\n"),
        "{err}"
    );
}

#[test]
fn unreachable_agent_exits_127() {
    let dir = TempDir::new("unreach");
    for args in [&["agent-status"][..], &["agent-status", "--recent", "2"]] {
        let out = run(shim_cmd(&dir, args));
        assert_eq!(out.status.code(), Some(127), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "gitgate: cannot reach the agent at {} (start it: ./run.sh; check: ./run.sh --status)\n",
                dir.sock().display()
            )
        );
    }
    // a socket file nobody listens on
    drop(UnixListener::bind(dir.sock()).unwrap());
    let out = run(shim_cmd(&dir, &["agent-status"]));
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn hook_streams_the_ref_lines() {
    let dir = TempDir::new("hook");
    let ag = scripted(&dir.sock(), vec![Frame::Exit(Exit::code(0))]);
    let lines = b"refs/heads/x 1111 refs/heads/x 0000\n".to_vec();
    let out = run_with_stdin(
        shim_cmd(
            &dir,
            &["hook", "pre-push", "origin", "https://github.com/o/r.git"],
        ),
        lines.clone(),
    );
    let req = ag.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(req.hello.tool, Tool::Hook);
    assert_eq!(
        req.hello.args,
        ["pre-push", "origin", "https://github.com/o/r.git"]
    );
    assert_eq!(req.stdin, lines);
}

/// A repo with one commit and an untracked file.
fn sample_repo(dir: &TempDir) -> PathBuf {
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "a\n").unwrap();
    git(&repo, &["add", "a.txt"]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    std::fs::write(repo.join("a.txt"), "a2\n").unwrap();
    std::fs::write(repo.join("new.txt"), "n\n").unwrap();
    repo
}

#[test]
fn local_git_commands_exec_the_real_git() {
    let dir = TempDir::new("local");
    let repo = sample_repo(&dir);
    let link = dir.path().join("git");
    std::os::unix::fs::symlink(SHIM, &link).unwrap();
    let cases: &[&[&str]] = &[
        &["status"],
        &["-C", "..", "status"],
        &["status", "--porcelain"],
        &["--version"],
        &["log", "--oneline", "--format=%s"],
        &["diff"],
        &["no-such-command"],
        &["-c", "color.ui=never", "--no-pager", "status", "-sb"],
    ];
    for args in cases {
        let mut real = Command::new(REAL_GIT);
        real.args(*args).current_dir(&repo);
        git_env(&mut real, dir.path());
        let want = real.output().unwrap();
        for via_link in [true, false] {
            let mut c = if via_link {
                let mut c = Command::new(&link);
                c.args(*args);
                c
            } else {
                let mut c = Command::new(SHIM);
                c.arg("git").args(*args);
                c
            };
            c.current_dir(&repo)
                .env("GITGATE_REAL_GIT", REAL_GIT)
                .env("GITGATE_SOCKET", dir.sock()); // nothing listens: must not be used
            git_env(&mut c, dir.path());
            let got = c.output().unwrap();
            assert_eq!(got.status.code(), want.status.code(), "{args:?}");
            assert_eq!(text(&got.stdout), text(&want.stdout), "{args:?}");
            assert_eq!(text(&got.stderr), text(&want.stderr), "{args:?}");
        }
    }
}

#[test]
fn refuses_to_exec_itself() {
    let dir = TempDir::new("self");
    let link = dir.path().join("git");
    std::os::unix::fs::symlink(SHIM, &link).unwrap();
    for real in [Path::new(SHIM), link.as_path()] {
        let mut c = shim_cmd(&dir, &["git", "status"]);
        c.env("GITGATE_REAL_GIT", real);
        let out = run(c);
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(
            text(&out.stderr),
            format!(
                "gitgate: GITGATE_REAL_GIT ({}) points at the gitgate shim itself; set it to the real git binary\n",
                real.display()
            )
        );
    }
}

fn spawn(mut c: Command) -> Child {
    c.spawn().unwrap()
}

#[test]
fn sigint_is_forwarded_as_a_signal_frame() {
    let dir = TempDir::new("sigint");
    let (ready_tx, ready_rx) = mpsc::channel();
    let ag = agent(&dir.sock(), move |s| {
        let req = read_request(s);
        ready_tx.send(()).unwrap();
        let sig = match proto::read_frame(s).unwrap() {
            Some(Frame::Signal(n)) => n,
            other => panic!("expected Signal, got {other:?}"),
        };
        send(s, Frame::Stderr(b"interrupted\n".to_vec()));
        send(s, Frame::Exit(Exit::code(130)));
        (req, sig)
    });
    let child = spawn(shim_cmd(&dir, &["agent-status"]));
    ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(unsafe { kill(child.id() as i32, 2) }, 0);
    let out = wait(child);
    let (req, sig) = ag.join().unwrap();
    assert!(req.hello.args.is_empty());
    assert_eq!(sig, proto::signal::SIGINT);
    assert_eq!(text(&out.stderr), "interrupted\n");
    assert_eq!(out.status.code(), Some(130));
}

#[test]
fn sigterm_is_forwarded_and_a_second_signal_exits_at_once() {
    let dir = TempDir::new("sig2");
    let (ready_tx, ready_rx) = mpsc::channel();
    let (got_tx, got_rx) = mpsc::channel();
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let ag = agent(&dir.sock(), move |s| {
        read_request(s);
        ready_tx.send(()).unwrap();
        match proto::read_frame(s).unwrap() {
            Some(Frame::Signal(n)) => got_tx.send(n).unwrap(),
            other => panic!("expected Signal, got {other:?}"),
        }
        // never answer; keep the connection open until the test is done
        let _ = hold_rx.recv_timeout(Duration::from_secs(20));
    });
    let child = spawn(shim_cmd(&dir, &["agent-status", "--recent", "1"]));
    ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(unsafe { kill(child.id() as i32, 15) }, 0);
    let sig = got_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(sig, proto::signal::SIGTERM);
    assert_eq!(unsafe { kill(child.id() as i32, 2) }, 0);
    let out = wait(child);
    assert_eq!(out.status.code(), Some(130));
    drop(hold_tx);
    ag.join().unwrap();
}

#[test]
fn version_and_usage() {
    let dir = TempDir::new("usage");
    let out = run(shim_cmd(&dir, &["--version"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("gitgate-shim "));
    let out = run(shim_cmd(&dir, &["svn", "up"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("gitgate: usage: gitgate-shim "));
}
