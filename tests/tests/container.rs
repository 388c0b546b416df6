//! Opt-in container end-to-end test (issues 5 and 10): the agent in a podman container run as
//! compose runs it (read-only root FS, every capability dropped but IPC_LOCK, no-new-privileges),
//! the real git on the host with the shim as its https/http remote helper, a real git smart-HTTP
//! server on loopback; clone, commit, push a branch, a refused push to main, fetch.
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
//! Unless `CONTAINERS_CONF` is set, podman gets a test-local containers.conf (tests/tests/podman/mod.rs:
//! `default_ulimits` nofile/nproc 1024, `runtime = "runc"` when runc is installed).
//! Known to pass with Debian 12's podman 4.3.1 + runc as root.
//!
//! Wiring (design v3: the agent never reads the workspace): the container uses the host network
//! (it reaches the test's server on 127.0.0.1 only), runs as the test's uid (`--userns=keep-id`
//! when not root, so `SO_PEERCRED` sees the same uid), and bind-mounts two temp dirs: the socket
//! dir at /run/gitgate and the state dir at /var/lib/gitgate. No workspace mount and no mirrors
//! volume: the workspace is not even visible in the container. On the host, the real git runs
//! with a `GIT_EXEC_PATH` overlay whose git-remote-http(s) is the shim (`exec_overlay`, as in
//! tests/tests/transport.rs), which carries git's protocol to the agent's socket. The container
//! and the image are removed in every case (Drop guards); every wait is bounded.
//!
//! Checked: `podman inspect` (ReadonlyRootfs, EffectiveCaps = [CAP_IPC_LOCK], no-new-privileges)
//! and the agent process itself from the host (/proc/<pid>/status CapEff/CapBnd = IPC_LOCK only,
//! NoNewPrivs 1, the test's uid; / mounted ro; the workspace absent from its mount table);
//! agent-status, clone, push -u of a claude/* branch (on the server), `push origin main` refused
//! with git's own `! [remote rejected] main -> main (gitgate: …)` and no receive-pack POST reaching
//! the server, fetch of a branch pushed by someone else; the token in none of git's output,
//! `podman logs`, the audit log or the clone's .git/config.

mod podman;

use gitgate_e2e::*;
use podman::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const GIT_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Removes the container (and with it the running agent) and the image, whatever happens.
struct Cleanup<'a> {
    podman: &'a Podman,
    image: String,
    container: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.container.take() {
            self.podman.cleanup(&["rm", "-f", "-t", "5", &name]);
        }
        self.podman.cleanup(&["rmi", "-f", &self.image]);
    }
}

/// The real git on the host, its https/http transport the shim (the AI container's wiring).
struct HostGit {
    overlay: PathBuf,
    bin: PathBuf,
    socket: PathBuf,
    token: String,
}

impl HostGit {
    fn run_tool(&self, mut c: Command, what: &str) -> Run {
        c.env("GIT_EXEC_PATH", &self.overlay)
            .env("GITGATE_SOCKET", &self.socket)
            .env("GITGATE_REAL_GIT", REAL_GIT);
        let r = bounded(c, GIT_TIMEOUT).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_no_token(&format!("{what} output"), &r.stdout, &self.token);
        assert_no_token(&format!("{what} output"), &r.stderr, &self.token);
        r
    }
    fn git(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut c = git_cmd(Path::new(REAL_GIT), cwd);
        c.args(args);
        self.run_tool(c, &format!("git {args:?}"))
    }
    fn agent_status(&self, cwd: &Path) -> Run {
        let mut c = Command::new(self.bin.join("agent-status"));
        c.current_dir(cwd)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("HOME", test_home())
            .env("LANG", "C");
        self.run_tool(c, "agent-status")
    }
}

#[test]
fn agent_in_a_read_only_container_pushes_and_refuses_main() {
    let Some(podman_bin) = opted_in("the podman container test") else {
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("gitgate-ct")
        .tempdir()
        .unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let podman = Podman::new(&root);
    println!("using {} ({})", podman.version(), podman_bin.display());

    // --- the image ---
    let ctx = root.join("context");
    agent_context(&ctx, &release_agent(), false);
    let id = unique();
    let mut guard = Cleanup {
        podman: &podman,
        image: format!("localhost/gitgate-agent-e2e:{id}"),
        container: None,
    };
    podman.build(&ctx, &guard.image);

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

    // --- the agent container: no workspace, no mirrors ---
    let (run_dir, state, workspace, bin) = (
        root.join("run"),
        root.join("state"),
        root.join("workspace"),
        root.join("bin"),
    );
    for d in [&run_dir, &state, &workspace, &bin] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::os::unix::fs::symlink(shim_bin(), bin.join("agent-status")).unwrap();
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let name = format!("gitgate-agent-e2e-{id}");
    let mounts = [
        format!("{}:/run/gitgate", run_dir.display()),
        format!("{}:/var/lib/gitgate", state.display()),
    ];
    let envs = [
        "GITGATE_SOCKET=/run/gitgate/agent.sock".to_owned(),
        "GITGATE_STATE_DIR=/var/lib/gitgate".to_owned(),
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
    assert_agent_locked_down(pid, uid);
    // v3: the workspace is not mounted in the agent's container at all.
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let ws = workspace.to_str().unwrap();
    assert!(
        !mountinfo.contains(ws),
        "the workspace must not be visible to the agent:\n{mountinfo}"
    );

    // --- the real git on the host through the shim: clone, push a branch, main refused, fetch ---
    let ovl = root.join("exec");
    let host = HostGit {
        overlay: exec_overlay(Path::new(REAL_GIT), &ovl),
        bin,
        socket: socket.clone(),
        token: token.clone(),
    };
    let url = server.url("acme", "app");
    host.agent_status(&workspace).assert_code(0);
    host.git(&workspace, &["clone", &url, "app"]).assert_code(0);
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
    let r = host.git(&app, &["push", "-u", "origin", "claude/container"]);
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
    let receive_pack_posts = |server: &GitHttpServer| server.receive_pack_posts().len();
    let posts = receive_pack_posts(&server);
    git(&app, &["checkout", "-q", "main"]);
    git(&app, &["merge", "-q", "--ff-only", "claude/container"]);
    let r = host.git(&app, &["push", "origin", "main"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains(
            " ! [remote rejected] main -> main (gitgate: branch 'main' is protected (BLOCKED_BRANCHES))"
        ),
        "git's own refusal line, with the reason and the setting: {}",
        r.stderr
    );
    assert_eq!(refs_of(&bare), before, "a refused push changed the server");
    assert_eq!(
        receive_pack_posts(&server),
        posts,
        "a refused push reached the server's receive-pack"
    );

    // A commit pushed by someone else arrives through the agent (no mirror: git's own fetch).
    git(&seed, &["checkout", "-q", "-b", "other"]);
    std::fs::write(seed.join("o.txt"), "other\n").unwrap();
    git(&seed, &["add", "o.txt"]);
    git(&seed, &["commit", "-q", "-m", "other"]);
    git(&seed, &["push", "-q", &seed_url, "other"]);
    let r = host.git(&app, &["fetch", "origin"]);
    r.assert_code(0);
    assert!(
        r.stderr
            .contains(&format!("From {}\n", url.trim_end_matches(".git"))),
        "git names the real remote: {}",
        r.stderr
    );
    assert_eq!(
        git(&app, &["rev-parse", "origin/other"]),
        git(&seed, &["rev-parse", "HEAD"])
    );

    // --- the token is nowhere it should not be ---
    let agent_logs = podman.run(&["logs", &name]);
    assert_no_token("podman logs", &agent_logs.stdout, &token);
    assert_no_token("podman logs", &agent_logs.stderr, &token);
    let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap_or_default();
    let records = audit_records(&audit);
    let pushes = push_outcomes(&records);
    assert_eq!(
        pushes,
        [("allow", "landed"), ("deny", "not sent")],
        "audit log: {audit}"
    );
    assert!(audit.contains("BLOCKED_BRANCHES"), "audit log: {audit}");
    assert_no_token("the audit log", &audit, &token);
    for f in ["config", "FETCH_HEAD"] {
        let text = std::fs::read_to_string(app.join(".git").join(f)).unwrap();
        assert_no_token(&format!("the clone's .git/{f}"), &text, &token);
    }
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
