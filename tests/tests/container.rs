//! Opt-in container end-to-end test (issue 5): the agent in a podman container run as compose runs
//! it (read-only root FS, every capability dropped but IPC_LOCK, no-new-privileges), the shim on the
//! host, a real git smart-HTTP server on loopback; clone, commit, push a branch, a refused push to
//! main, fetch.
//!
//! Skipped (passes, printing why) unless `GITGATE_CONTAINER_TEST=1`, and when podman is missing.
//! Run it with:
//!
//! ```sh
//! apt-get install -y podman runc            # Debian/Ubuntu; rootless podman also needs uidmap
//! GITGATE_CONTAINER_TEST=1 cargo test -p gitgate-e2e --test container -- --nocapture
//! # or: scripts/container-test.sh [--install]
//! ```
//!
//! No image registry is needed: the image is built `FROM scratch` (containers/Containerfile.agent-test)
//! from a build context generated in a temp dir: the release `gitgate-agent` (built here with
//! `cargo build --release -p gitgate-agent`, or the binary `GITGATE_CONTAINER_AGENT` names), the
//! shared libraries `ldd` lists and the dynamic loader.
//! Unless `CONTAINERS_CONF` is set, podman gets a test-local containers.conf: `default_ulimits`
//! nofile/nproc 1024 (podman's own default nofile limit can exceed the hard limit a CI sandbox
//! allows; runc then fails with "error setting rlimits for ready process ... rlimit type 7") and
//! `runtime = "runc"` when runc is installed. `/etc/containers` is not touched.
//! Known to pass with Debian 12's podman 4.3.1 + runc, both as root and rootless (vfs storage).
//!
//! Wiring: the container uses the host network (it reaches the test's server on 127.0.0.1 only),
//! runs as the test's uid (`--userns=keep-id` when not root, so `SO_PEERCRED` sees the same uid),
//! and bind-mounts three temp dirs: the socket dir at /run/gitgate, the state dir at
//! /var/lib/gitgate, and the workspace read-only at its own host path (the shim sends its host cwd,
//! which must resolve inside `GITGATE_WORKSPACE` in the container). The shim finds the mirrors
//! through `GITGATE_MIRROR_DIR=<host state dir>/mirrors`. The container and the image are removed in
//! every case (Drop guards); every wait is bounded.
//!
//! Checked: `podman inspect` (ReadonlyRootfs, EffectiveCaps = [CAP_IPC_LOCK], no-new-privileges)
//! and the agent process itself from the host (/proc/<pid>/status CapEff/CapBnd = IPC_LOCK only,
//! NoNewPrivs 1, the test's uid; / and the workspace mounted ro); agent-status, clone, push -u of a
//! claude/* branch (on the server), `push origin main` refused with 126 and no request to the
//! server, fetch of a branch pushed by someone else; the token in none of the shim's output,
//! `podman logs`, the audit log or the clone's .git/config.

use gitgate_e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONTAINERFILE: &str = include_str!("../../containers/Containerfile.agent-test");

/// Generous bounds: podman itself is quick, a first pull of nothing, a cold cache of nothing.
const PODMAN_TIMEOUT: Duration = Duration::from_secs(120);
const SHIM_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// linux/capability.h
const CAP_IPC_LOCK: u32 = 14;

fn skip(why: &str) {
    println!("skipped: {why}");
}

/// Run `cmd` with stdout/stderr to files, killing it after `timeout`.
fn bounded(mut cmd: Command, timeout: Duration) -> Result<Run, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).map_err(|e| e.to_string())?)
        .stderr(std::fs::File::create(&err).map_err(|e| e.to_string())?);
    let mut child = cmd.spawn().map_err(|e| format!("{desc}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{desc} did not finish within {timeout:?}; stdout: {}\nstderr: {}",
                    std::fs::read_to_string(&out).unwrap_or_default(),
                    std::fs::read_to_string(&err).unwrap_or_default()
                ));
            }
            Err(e) => return Err(format!("{desc}: {e}")),
        }
    };
    let raw_stdout = std::fs::read(&out).unwrap_or_default();
    let raw_stderr = std::fs::read(&err).unwrap_or_default();
    Ok(Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&raw_stdout).into_owned(),
        stderr: String::from_utf8_lossy(&raw_stderr).into_owned(),
        raw_stdout,
        raw_stderr,
    })
}

/// podman with the test's containers.conf (if any).
struct Podman {
    conf: Option<PathBuf>,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        if let Some(conf) = &self.conf {
            c.env("CONTAINERS_CONF", conf);
        }
        c.args(args);
        c
    }
    fn try_run(&self, args: &[&str]) -> Result<Run, String> {
        bounded(self.cmd(args), PODMAN_TIMEOUT)
    }
    /// Run podman; panic unless it exits 0.
    fn run(&self, args: &[&str]) -> Run {
        let r = self.try_run(args).unwrap_or_else(|e| panic!("podman: {e}"));
        assert_eq!(
            r.code, 0,
            "podman {args:?} failed; stdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }
}

/// Removes the container (and with it the running agent) and the image, whatever happens.
struct Cleanup<'a> {
    podman: &'a Podman,
    image: String,
    container: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.container.take() {
            match self.podman.try_run(&["rm", "-f", "-t", "5", &name]) {
                Ok(r) if r.code == 0 => {}
                Ok(r) => eprintln!("cleanup: podman rm -f {name} failed: {}", r.stderr),
                Err(e) => eprintln!("cleanup: podman rm -f {name}: {e}"),
            }
        }
        match self.podman.try_run(&["rmi", "-f", &self.image]) {
            Ok(r) if r.code == 0 => {}
            Ok(r) => eprintln!("cleanup: podman rmi {} failed: {}", self.image, r.stderr),
            Err(e) => eprintln!("cleanup: podman rmi {}: {e}", self.image),
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The test-local containers.conf (see the module doc), unless the caller set CONTAINERS_CONF.
fn containers_conf(dir: &Path) -> Option<PathBuf> {
    if std::env::var_os("CONTAINERS_CONF").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let mut text = String::from(
        "# written by tests/tests/container.rs\n[containers]\n\
         default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
    );
    if which("runc").is_some() {
        text.push_str("\n[engine]\nruntime = \"runc\"\n");
    }
    let path = dir.join("containers.conf");
    std::fs::write(&path, text).unwrap();
    Some(path)
}

/// `cargo build --release -p gitgate-agent` into the same target dir as the tests, or the binary
/// `GITGATE_CONTAINER_AGENT` names (built nothing then).
fn release_agent() -> PathBuf {
    if let Some(p) = std::env::var_os("GITGATE_CONTAINER_AGENT").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let target = bin_dir().parent().expect("target dir").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-q", "--release", "-p", "gitgate-agent"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo build --release -p gitgate-agent");
    assert!(
        status.success(),
        "cargo build --release -p gitgate-agent failed"
    );
    target.join("release").join("gitgate-agent")
}

/// The build context: Containerfile + rootfs/ with the agent, its libraries and mount points.
fn build_context(dir: &Path, agent: &Path) {
    let rootfs = dir.join("rootfs");
    let copy = |src: &Path, dst_in_root: &Path| {
        let dst = rootfs.join(dst_in_root.strip_prefix("/").unwrap_or(dst_in_root));
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        // fs::copy follows symlinks: the library itself lands under the name the loader looks for.
        std::fs::copy(src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    };
    copy(agent, Path::new("/usr/local/bin/gitgate-agent"));
    let ldd = Command::new("ldd")
        .arg(agent)
        .output()
        .expect("run ldd (libc-bin) to list the agent's shared libraries");
    // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)";
    // the vdso has no path. A static binary: ldd fails and lists nothing, nothing to copy.
    let listing = String::from_utf8_lossy(&ldd.stdout);
    let mut libs = 0;
    for word in listing.split_whitespace().filter(|w| w.starts_with('/')) {
        let lib = Path::new(word);
        copy(lib, lib);
        libs += 1;
    }
    assert!(
        libs > 0 || !ldd.status.success(),
        "ldd listed no library: {listing}"
    );
    for d in ["run/gitgate", "var/lib/gitgate", "tmp", "workspace", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(dir.join("Containerfile"), CONTAINERFILE).unwrap();
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}

fn assert_no_token(what: &str, text: &str, token: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for form in [
        token.to_owned(),
        b64.encode(token),
        b64.encode(format!("x-access-token:{token}")),
    ] {
        assert!(!text.contains(&form), "token leaked in {what}: {text}");
    }
}

/// The shim on the host, as the AI container would run it.
struct Shim {
    bin: PathBuf,
    socket: PathBuf,
    mirrors: PathBuf,
    token: String,
}

impl Shim {
    fn run(&self, tool: &str, cwd: &Path, args: &[&str]) -> Run {
        let home = test_home();
        let mut c = Command::new(self.bin.join(tool));
        c.current_dir(cwd)
            .args(args)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GITGATE_SOCKET", &self.socket)
            .env("GITGATE_MIRROR_DIR", &self.mirrors)
            .env("GITGATE_REAL_GIT", REAL_GIT);
        let r = bounded(c, SHIM_TIMEOUT).unwrap_or_else(|e| panic!("{tool} {args:?}: {e}"));
        assert_no_token(&format!("{tool} {args:?} output"), &r.stdout, &self.token);
        assert_no_token(&format!("{tool} {args:?} output"), &r.stderr, &self.token);
        r
    }
}

fn server_ref(bare: &Path, name: &str) -> Option<String> {
    let out = git_status(bare, &["rev-parse", "--verify", "-q", name]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `Field: value` of /proc/<pid>/status.
fn proc_status(pid: &str, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// The mount options of the mount at `target` as the process `pid` sees it (/proc/<pid>/mountinfo).
fn mount_options(pid: &str, target: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(4) == Some(&target)).then(|| f.get(5).copied().unwrap_or("").to_owned())
        })
        .next_back()
        .unwrap_or_else(|| panic!("{target} not mounted in the container:\n{text}"))
}

#[test]
fn agent_in_a_read_only_container_pushes_and_refuses_main() {
    if std::env::var("GITGATE_CONTAINER_TEST").as_deref() != Ok("1") {
        skip("set GITGATE_CONTAINER_TEST=1 to run the podman container test");
        return;
    }
    let Some(podman_bin) = which("podman") else {
        skip("podman is not installed (Debian: apt-get install podman runc)");
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("gitgate-ct")
        .tempdir()
        .unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let podman = Podman {
        conf: containers_conf(&root),
    };
    let version = podman
        .try_run(&["--version"])
        .unwrap_or_else(|e| panic!("{}: {e}", podman_bin.display()));
    println!("using {} ({})", version.stdout.trim(), podman_bin.display());

    // --- the image ---
    let ctx = root.join("context");
    build_context(&ctx, &release_agent());
    let id = unique();
    let mut guard = Cleanup {
        podman: &podman,
        image: format!("localhost/gitgate-agent-e2e:{id}"),
        container: None,
    };
    let ctx_s = ctx.to_str().unwrap();
    let containerfile = ctx.join("Containerfile");
    podman.run(&[
        "build",
        "-q",
        "--pull=never",
        "-f",
        containerfile.to_str().unwrap(),
        "-t",
        &guard.image,
        ctx_s,
    ]);

    // --- the git server: acme/app with one commit on main ---
    let token = random_token();
    let srv_root = root.join("server");
    std::fs::create_dir_all(&srv_root).unwrap();
    let bare = init_bare(&srv_root, "acme", "app");
    let server = GitHttpServer::start(&srv_root, &token).unwrap();
    let seed = root.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README.md"), "seed\n").unwrap();
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "-q", "-m", "seed"]);
    let seed_url = server.url_with_token("acme", "app", &token);
    git(&seed, &["push", "-q", &seed_url, "main"]);

    // --- the agent container ---
    let (run_dir, state, workspace, bin) = (
        root.join("run"),
        root.join("state"),
        root.join("workspace"),
        root.join("bin"),
    );
    for d in [&run_dir, &state, &workspace, &bin] {
        std::fs::create_dir_all(d).unwrap();
    }
    for name in ["git", "gh", "agent-status", "gitgate-shim"] {
        std::os::unix::fs::symlink(shim_bin(), bin.join(name)).unwrap();
    }
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let name = format!("gitgate-agent-e2e-{id}");
    let ws = workspace.to_str().unwrap();
    let mounts = [
        format!("{}:/run/gitgate", run_dir.display()),
        format!("{}:/var/lib/gitgate", state.display()),
        format!("{ws}:{ws}:ro"),
    ];
    let envs = [
        "GITGATE_SOCKET=/run/gitgate/agent.sock".to_owned(),
        "GITGATE_STATE_DIR=/var/lib/gitgate".to_owned(),
        format!("GITGATE_WORKSPACE={ws}"),
        format!("ALLOWED_HOSTS=[\"{}\"]", server.host()),
        r#"ALLOWED_REPOS=["acme/*"]"#.to_owned(),
        r#"ALLOWED_BRANCH_PATTERNS=["claude/*"]"#.to_owned(),
        "GITGATE_ALLOW_HTTP_LOOPBACK=1".to_owned(),
        format!("ALLOWED_UIDS=[{uid}]"),
        "GITGATE_OP_TIMEOUT_SECS=60".to_owned(),
        "HOME=/tmp".to_owned(),
    ];
    let user = format!("{uid}:{gid}");
    let mut args: Vec<&str> = vec![
        "run",
        "-d",
        "--pull=never",
        "--name",
        &name,
        "--read-only",
        "--cap-drop=ALL",
        "--cap-add=IPC_LOCK",
        "--security-opt",
        "no-new-privileges",
        "--network=host",
        "--user",
        &user,
        "--tmpfs",
        "/tmp:rw,noexec,nosuid,nodev,size=64m",
        // The token comes from podman's environment, never its argv (visible in ps).
        "--env",
        "GITHUB_TOKEN",
    ];
    if uid != 0 {
        args.push("--userns=keep-id");
    }
    for m in &mounts {
        args.extend(["-v", m]);
    }
    for e in &envs {
        args.extend(["-e", e]);
    }
    args.push(&guard.image);
    let mut run = podman.cmd(&args);
    run.env("GITHUB_TOKEN", &token);
    guard.container = Some(name.clone());
    let r = bounded(run, PODMAN_TIMEOUT).unwrap_or_else(|e| panic!("podman run: {e}"));
    assert_eq!(r.code, 0, "podman run failed: {}{}", r.stdout, r.stderr);

    let logs = |podman: &Podman| {
        podman
            .try_run(&["logs", &name])
            .map(|r| format!("{}{}", r.stdout, r.stderr))
            .unwrap_or_else(|e| e)
    };
    let socket = run_dir.join("agent.sock");
    let deadline = Instant::now() + START_TIMEOUT;
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        let state = podman.run(&[
            "inspect",
            "-f",
            "{{.State.Running}} exit code {{.State.ExitCode}}",
            &name,
        ]);
        assert!(
            state.stdout.starts_with("true "),
            "the agent container exited ({}): {}",
            state.stdout.trim(),
            logs(&podman)
        );
        assert!(
            Instant::now() < deadline,
            "the agent did not create {} within {START_TIMEOUT:?}: {}",
            socket.display(),
            logs(&podman)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // --- the container is locked down as compose asks ---
    let inspect = podman.run(&[
        "inspect",
        "-f",
        "{{.HostConfig.ReadonlyRootfs}}|{{.EffectiveCaps}}|{{.HostConfig.SecurityOpt}}|{{.State.Pid}}",
        &name,
    ]);
    let fields: Vec<&str> = inspect.stdout.trim().split('|').collect();
    assert_eq!(fields.len(), 4, "{}", inspect.stdout);
    assert_eq!(fields[0], "true", "ReadonlyRootfs: {}", inspect.stdout);
    assert_eq!(
        fields[1], "[CAP_IPC_LOCK]",
        "EffectiveCaps: {}",
        inspect.stdout
    );
    assert!(
        fields[2].contains("no-new-privileges"),
        "SecurityOpt: {}",
        inspect.stdout
    );
    // And as the kernel sees the agent process itself (the container's pid 1).
    let pid = fields[3];
    assert_ne!(pid, "0", "{}", inspect.stdout);
    assert_eq!(
        proc_status(pid, "CapEff"),
        format!("{:016x}", 1u64 << CAP_IPC_LOCK),
        "effective capabilities of the agent"
    );
    assert_eq!(
        proc_status(pid, "CapBnd"),
        format!("{:016x}", 1u64 << CAP_IPC_LOCK),
        "bounding set of the agent"
    );
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    let uid_line = proc_status(pid, "Uid");
    assert!(
        uid_line.split_whitespace().all(|u| u == uid.to_string()),
        "the agent runs as {uid}: Uid {uid_line}"
    );
    for target in ["/", ws] {
        let opts = mount_options(pid, target);
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "{target} must be read-only in the container: {opts}"
        );
    }

    // --- through the shim on the host: clone, push a branch, main refused, fetch ---
    let shim = Shim {
        bin,
        socket: socket.clone(),
        mirrors: state.join("mirrors"),
        token: token.clone(),
    };
    let url = server.url("acme", "app");
    shim.run("agent-status", &workspace, &[]).assert_code(0);
    shim.run("git", &workspace, &["clone", &url, "app"])
        .assert_code(0);
    let app = workspace.join("app");
    assert_eq!(git(&app, &["remote", "get-url", "origin"]), url);
    assert_eq!(
        git(&app, &["rev-parse", "origin/main"]),
        server_ref(&bare, "refs/heads/main").unwrap()
    );

    git(&app, &["checkout", "-q", "-b", "claude/container"]);
    std::fs::write(app.join("f.txt"), "from the host\n").unwrap();
    git(&app, &["add", "f.txt"]);
    git(&app, &["commit", "-q", "-m", "container e2e"]);
    let head = git(&app, &["rev-parse", "HEAD"]);
    let r = shim.run("git", &app, &["push", "-u", "origin", "claude/container"]);
    r.assert_code(0);
    assert!(
        r.stderr
            .contains(" * [new branch]      claude/container -> claude/container"),
        "{}",
        r.stderr
    );
    assert_eq!(
        server_ref(&bare, "refs/heads/claude/container").as_deref(),
        Some(head.as_str())
    );
    assert_eq!(git(&app, &["rev-parse", "origin/claude/container"]), head);

    let before = refs_of(&bare);
    let requests = server.request_count();
    git(&app, &["checkout", "-q", "main"]);
    git(&app, &["merge", "-q", "--ff-only", "claude/container"]);
    let r = shim.run("git", &app, &["push", "origin", "main"]);
    r.assert_code(126);
    assert!(r.stderr.contains("protected"), "{}", r.stderr);
    assert_eq!(refs_of(&bare), before, "a refused push changed the server");
    assert_eq!(
        server.request_count(),
        requests,
        "a refused push reached the server"
    );

    // A commit pushed by someone else arrives through the agent's mirror (GITGATE_MIRROR_DIR).
    git(&seed, &["checkout", "-q", "-b", "other"]);
    std::fs::write(seed.join("o.txt"), "other\n").unwrap();
    git(&seed, &["add", "o.txt"]);
    git(&seed, &["commit", "-q", "-m", "other"]);
    git(&seed, &["push", "-q", &seed_url, "other"]);
    shim.run("git", &app, &["fetch", "origin"]).assert_code(0);
    assert_eq!(
        git(&app, &["rev-parse", "origin/other"]),
        git(&seed, &["rev-parse", "HEAD"])
    );

    // --- the token is nowhere it should not be ---
    let agent_logs = podman.run(&["logs", &name]);
    assert_no_token("podman logs", &agent_logs.stdout, &token);
    assert_no_token("podman logs", &agent_logs.stderr, &token);
    let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("claude/container"), "audit log: {audit}");
    assert_no_token("the audit log", &audit, &token);
    let config = std::fs::read_to_string(app.join(".git/config")).unwrap();
    assert_no_token("the workspace .git/config", &config, &token);
    // The agent is still healthy after all that.
    assert_eq!(
        podman
            .run(&["inspect", "-f", "{{.State.Running}}", &name])
            .stdout
            .trim(),
        "true",
        "{}",
        logs(&podman)
    );
    drop(guard);
    drop(server);
}
