//! Harness for the end-to-end tests: the built `gitgate-agent` and `gitgate-shim` binaries, a real
//! Unix socket, per-test temp dirs, and the real-git helpers of `gitgate-testsupport`.
//!
//! The binaries are built on first use with `cargo build -p gitgate-agent -p gitgate-shim` (same
//! profile and target dir as the tests), so `cargo test --workspace` alone is enough.

pub use gitgate_testsupport::githttp::{
    self, git, git_status, init_bare, install_hook, test_home, GitHttpServer, RecordedRequest,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory holding the built binaries (target/<profile>).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Override for callers that are not test binaries under target/<profile>/deps (the bench
        // binary): use the binaries already built in that directory, build nothing.
        if let Some(dir) = std::env::var_os("GITGATE_BIN_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test-binary>
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let profile = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_owned();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "gitgate-agent", "-p", "gitgate-shim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile == "release" {
            cmd.arg("--release");
        }
        if let Some(target) = dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd.status().expect("run cargo build for the binaries");
        assert!(
            status.success(),
            "building gitgate-agent and gitgate-shim failed"
        );
        dir
    })
}

pub fn agent_bin() -> PathBuf {
    bin_dir().join("gitgate-agent")
}

pub fn shim_bin() -> PathBuf {
    bin_dir().join("gitgate-shim")
}

pub const REAL_GIT: &str = "/usr/bin/git";

/// A running agent with its own socket, workspace and state dir, stopped on drop.
pub struct Agent {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub workspace: PathBuf,
    pub state: PathBuf,
    pub bin: PathBuf,
    pub log: PathBuf,
    pub token: Option<String>,
    launch_env: Vec<(String, String)>,
    launch_args: Vec<String>,
    /// Runs in a mount namespace with the temp dir hidden (`AgentBuilder::hide_workspaces`).
    hidden: bool,
}

pub struct AgentBuilder {
    env: Vec<(String, String)>,
    args: Vec<String>,
    token: Option<String>,
    token_via_file: bool,
    hide_workspaces: bool,
}

impl AgentBuilder {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// A command-line argument for the agent (`--env-file`, `--config`).
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn token(mut self, t: &str) -> Self {
        self.token = Some(t.into());
        self
    }
    /// Run the agent in its own mount namespace with an empty tmpfs over the temp dir, where every
    /// workspace, clone and server repository of the tests lives: the agent can see none of them
    /// (DESIGN §2: it never reads the workspace). Its own socket, state and log move under the
    /// target dir. Needs `unshare -m` (root); without it the agent runs unhidden with a note,
    /// unless `GITGATE_E2E_REQUIRE_HIDDEN=1` (CI), which makes that a failure.
    pub fn hide_workspaces(mut self) -> Self {
        self.hide_workspaces = true;
        self
    }
    pub fn token_file(mut self, t: &str) -> Self {
        self.token = Some(t.into());
        self.token_via_file = true;
        self
    }

    /// Start the agent and wait (bounded) until it accepts connections.
    pub fn start(self) -> Agent {
        let hidden = self.hide_workspaces && hiding_available();
        let dir = if hidden {
            let parent = bin_dir().join("e2e-agents");
            std::fs::create_dir_all(&parent).unwrap();
            assert!(
                !parent.starts_with(std::env::temp_dir()),
                "the target dir is inside the temp dir, which the hidden agent cannot see"
            );
            tempfile::Builder::new()
                .prefix("gitgate-e2e")
                .tempdir_in(parent)
        } else {
            tempfile::Builder::new().prefix("gitgate-e2e").tempdir()
        }
        .expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        let workspace = root.join("workspace");
        let state = root.join("state");
        let bin = root.join("bin");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["git", "gh", "agent-status", "gitgate-shim"] {
            std::os::unix::fs::symlink(shim_bin(), bin.join(name)).unwrap();
        }
        let socket = root.join("run").join("agent.sock");
        let log = root.join("agent.log");
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), root.join("agent-home").display().to_string()),
            ("GITGATE_SOCKET".into(), socket.display().to_string()),
            ("GITGATE_STATE_DIR".into(), state.display().to_string()),
            ("GITGATE_HELLO_TIMEOUT_MS".into(), "2000".into()),
        ];
        if let Some(t) = &self.token {
            if self.token_via_file {
                let f = root.join("token");
                std::fs::write(&f, t).unwrap();
                env.push(("GITHUB_TOKEN_FILE".into(), f.display().to_string()));
            } else {
                env.push(("GITHUB_TOKEN".into(), t.clone()));
            }
        }
        env.extend(self.env);
        let mut agent = Agent {
            child: None,
            dir,
            socket,
            workspace,
            state,
            bin,
            log,
            token: self.token,
            launch_env: env,
            launch_args: self.args,
            hidden,
        };
        agent.launch();
        agent
    }
}

/// Can this process give the agent a mount namespace of its own (see `hide_workspaces`)?
fn hiding_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let ok = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs -o size=64k gitgate-probe /mnt")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("GITGATE_E2E_REQUIRE_HIDDEN").is_none(),
                "GITGATE_E2E_REQUIRE_HIDDEN is set but `unshare -m` + tmpfs does not work here"
            );
            eprintln!(
                "note: `unshare -m` is not available (not root?): the agent runs with the \
                 workspaces visible"
            );
        }
        ok
    })
}

impl Agent {
    /// Start the agent process with the recorded settings and wait (bounded) until it accepts
    /// connections.
    fn launch(&mut self) {
        let mut cmd = if self.hidden {
            // unshare and sh exec in place: the child's pid is the agent's.
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(r#"d=$1; shift; mount -t tmpfs -o size=64k,mode=0755 gitgate-hidden "$d" && exec "$0" "$@""#)
                .arg(agent_bin())
                .arg(std::env::temp_dir());
            c
        } else {
            Command::new(agent_bin())
        };
        cmd.env_clear()
            .envs(self.launch_env.iter().map(|(k, v)| (k, v)))
            .args(&self.launch_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)
                    .unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&self.log)
                    .unwrap(),
            ));
        self.child = Some(cmd.spawn().expect("start gitgate-agent"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("agent exited early ({status}): {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "agent did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.hidden {
            let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid()))
                .unwrap_or_default();
            let tmp = std::env::temp_dir();
            assert!(
                mounts.lines().any(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    f.get(4) == Some(&tmp.to_str().unwrap_or("")) && l.contains("gitgate-hidden")
                }),
                "the agent's temp dir is not hidden: {mounts}"
            );
        }
    }

    /// Kill the agent without warning (a crash): nothing of its own shutdown runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again with the same settings, socket and state dir.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Send a signal to the agent process.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// Wait (bounded) for the agent to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => {
                    self.child = None;
                    return Some(status);
                }
                None => return None,
                _ if Instant::now() > deadline => return None,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    pub fn builder() -> AgentBuilder {
        AgentBuilder {
            env: vec![],
            args: vec![],
            token: None,
            token_via_file: false,
            hide_workspaces: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The records of the agent's default audit log (`<state>/audit.jsonl`).
    pub fn audit(&self) -> Vec<serde_json::Value> {
        audit_records(&std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A command for a shim front-end (`git`, `gh`, `agent-status`) with the AI-container env.
    pub fn cmd(&self, tool: &str, cwd: &Path) -> Command {
        let home = test_home();
        let mut c = Command::new(self.bin.join(tool));
        c.current_dir(cwd)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .env("GITGATE_SOCKET", &self.socket)
            .env("GITGATE_REAL_GIT", REAL_GIT)
            .stdin(Stdio::null());
        c
    }

    /// Run a shim front-end and capture everything.
    pub fn run(&self, tool: &str, cwd: &Path, args: &[&str]) -> Run {
        let out = self
            .cmd(tool, cwd)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {tool} {args:?}: {e}"));
        Run::from(out)
    }

    pub fn run_with_stdin(&self, tool: &str, cwd: &Path, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .cmd(tool, cwd)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shim");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// A workspace repo with one commit on `main` and `origin` set to `origin_url`.
    pub fn workspace_repo(&self, name: &str, origin_url: &str) -> PathBuf {
        let dir = self.workspace.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("README.md"), format!("# {name}\n")).unwrap();
        git(&dir, &["add", "README.md"]);
        git(&dir, &["commit", "-q", "-m", "initial"]);
        git(&dir, &["remote", "add", "origin", origin_url]);
        dir
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM first so the agent removes its socket; then make sure it is gone.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Is the agent process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Captured result of a command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    pub raw_stderr: Vec<u8>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            raw_stdout: o.stdout,
            raw_stderr: o.stderr,
        }
    }
}

impl Run {
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code; stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// All refs of a (bare) repository as `oid refname` lines, for before/after comparisons.
/// Audit JSON lines; every line must parse (whole lines only).
pub fn audit_records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
        .collect()
}

/// `(decision, outcome)` of each push (receive-pack) record, in order.
pub fn push_outcomes(records: &[serde_json::Value]) -> Vec<(&str, &str)> {
    records
        .iter()
        .filter(|r| r["service"] == "git-receive-pack")
        .map(|r| {
            (
                r["decision"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

pub fn refs_of(repo: &Path) -> String {
    git(repo, &["for-each-ref", "--format=%(objectname) %(refname)"])
}

/// A random hex token for one test.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("ghp_{hex}")
}

/// The real git binaries on this machine the v3 transport is tested with.
pub fn real_gits() -> Vec<PathBuf> {
    ["/usr/bin/git", "/usr/local/bin/git"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// A `GIT_EXEC_PATH` overlay for `git`: links to every file of its exec path, except that
/// `git-remote-http` and `git-remote-https` are the shim (what native mode's `git` shim sets up).
pub fn exec_overlay(git: &Path, dir: &Path) -> PathBuf {
    let out = Command::new(git)
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    let real = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(&real).unwrap().flatten() {
        let name = entry.file_name();
        if name == "git-remote-http" || name == "git-remote-https" {
            continue;
        }
        let _ = std::os::unix::fs::symlink(entry.path(), dir.join(&name));
    }
    for name in ["git-remote-http", "git-remote-https"] {
        let _ = std::os::unix::fs::symlink(shim_bin(), dir.join(name));
    }
    dir.to_path_buf()
}

/// `git` (a given binary) in `dir` with the deterministic test environment.
pub fn git_cmd(git: &Path, dir: &Path) -> Command {
    githttp::clean_git_command(git, dir)
}

/// The real `git` with gitgate as its transport: the exec-path overlay (see [`exec_overlay`])
/// whose `git-remote-http(s)` is the shim, talking to the agent at `socket`.
pub fn git_via_gitgate(git: &Path, cwd: &Path, overlay: &Path, socket: &Path) -> Command {
    let mut c = git_cmd(git, cwd);
    c.env("GIT_EXEC_PATH", overlay)
        .env("GITGATE_SOCKET", socket);
    c
}

/// Every form of `token` a leak could take: raw, base64, and base64 of git's Basic pair.
pub fn token_forms(token: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        token.to_owned(),
        b64.encode(token),
        b64.encode(format!("x-access-token:{token}")),
    ]
}

/// A raw protocol client for tests that drive the socket directly (limits, faults).
pub mod raw {
    use super::Agent;
    use gitgate_proto::{read_frame, Frame, Hello, Tool};
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::path::Path;
    use std::time::{Duration, Instant};

    pub fn connect(agent: &Agent) -> UnixStream {
        let s = UnixStream::connect(&agent.socket).expect("connect to the agent");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
        s
    }

    pub fn hello(tool: Tool, args: &[&str], cwd: &Path) -> Vec<u8> {
        Frame::Hello(Hello::new(
            tool,
            args.iter().map(|a| a.to_string()).collect(),
            cwd.display().to_string(),
        ))
        .encode()
    }

    /// Read frames until the final Exit or Error frame; returns it and the output bytes before it.
    pub fn final_frame(s: &mut UnixStream) -> (Frame, Vec<u8>) {
        let mut output = Vec::new();
        loop {
            match read_frame(s) {
                Ok(Some(Frame::Data(b))) | Ok(Some(Frame::Stderr(b))) => output.extend(b),
                Ok(Some(f @ (Frame::Exit(_) | Frame::Error(_)))) => return (f, output),
                other => panic!("expected a final frame, got {other:?}"),
            }
        }
    }

    /// One complete request (Hello, StdinEof) and its final frame.
    pub fn request(agent: &Agent, tool: Tool, args: &[&str]) -> (Frame, Vec<u8>) {
        let mut s = connect(agent);
        let mut bytes = hello(tool, args, &agent.workspace);
        bytes.extend(Frame::DataEof.encode());
        // The agent may refuse (busy) before reading the Hello; a write error then is fine.
        let _ = s.write_all(&bytes);
        final_frame(&mut s)
    }

    pub fn status_ok(agent: &Agent) -> bool {
        matches!(request(agent, Tool::AgentStatus, &[]).0, Frame::Exit(e) if e.code == 0)
    }

    /// Poll `f` every 50 ms until it returns `Some`, or panic after `timeout`.
    pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `n` bytes no compressor shrinks (xorshift, reproducible from `seed`): a pack of them is as
/// large as they are.
pub fn incompressible(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
