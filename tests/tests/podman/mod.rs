//! What the opt-in podman tests share (tests/tests/container.rs, tests/tests/kube_play.rs): the
//! opt-in switch, bounded commands, podman with a test-local containers.conf, the release agent,
//! and `FROM scratch` root filesystems built from host binaries and the libraries `ldd` lists.
#![allow(dead_code)]

use gitgate_e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous bounds: podman itself is quick, a first pull of nothing, a cold cache of nothing.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(120);
/// linux/capability.h
pub const CAP_IPC_LOCK: u32 = 14;

pub fn skip(why: &str) {
    println!("skipped: {why}");
}

/// `Some(podman)` when the opt-in test should run; otherwise prints why not and returns `None`.
pub fn opted_in(what: &str) -> Option<PathBuf> {
    if std::env::var("GITGATE_CONTAINER_TEST").as_deref() != Ok("1") {
        skip(&format!("set GITGATE_CONTAINER_TEST=1 to run {what}"));
        return None;
    }
    let Some(podman) = which("podman") else {
        skip("podman is not installed (Debian: apt-get install podman runc)");
        return None;
    };
    Some(podman)
}

/// Run `cmd` with stdout/stderr to files, killing it after `timeout`.
pub fn bounded(cmd: Command, timeout: Duration) -> Result<Run, String> {
    bounded_stdin(cmd, timeout, None)
}

/// [`bounded`], with `stdin` written to the command's standard input (then closed).
pub fn bounded_stdin(
    mut cmd: Command,
    timeout: Duration,
    stdin: Option<&[u8]>,
) -> Result<Run, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let desc = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(std::fs::File::create(&out).map_err(|e| e.to_string())?)
    .stderr(std::fs::File::create(&err).map_err(|e| e.to_string())?);
    let mut child = cmd.spawn().map_err(|e| format!("{desc}: {e}"))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write as _;
        // Small inputs only (a Secret): the pipe buffer holds them, the write cannot block.
        pipe.write_all(bytes)
            .map_err(|e| format!("{desc}: writing stdin: {e}"))?;
    }
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
pub struct Podman {
    pub conf: Option<PathBuf>,
}

impl Podman {
    /// podman with a test-local containers.conf in `dir` (see [`containers_conf`]).
    pub fn new(dir: &Path) -> Podman {
        Podman {
            conf: containers_conf(dir),
        }
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        if let Some(conf) = &self.conf {
            c.env("CONTAINERS_CONF", conf);
        }
        c.args(args);
        c
    }
    pub fn try_run(&self, args: &[&str]) -> Result<Run, String> {
        bounded(self.cmd(args), PODMAN_TIMEOUT)
    }
    /// Run podman; panic unless it exits 0.
    pub fn run(&self, args: &[&str]) -> Run {
        let r = self.try_run(args).unwrap_or_else(|e| panic!("podman: {e}"));
        assert_eq!(
            r.code, 0,
            "podman {args:?} failed; stdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }
    /// Run podman, reporting (not panicking) on failure: for Drop guards.
    pub fn cleanup(&self, args: &[&str]) {
        match self.try_run(args) {
            Ok(r) if r.code == 0 => {}
            Ok(r) => eprintln!("cleanup: podman {args:?} failed: {}", r.stderr.trim()),
            Err(e) => eprintln!("cleanup: podman {args:?}: {e}"),
        }
    }
    pub fn version(&self) -> String {
        let v = self
            .try_run(&["--version"])
            .unwrap_or_else(|e| panic!("podman --version: {e}"));
        v.stdout.trim().to_owned()
    }
    /// `podman build` of `ctx` (its Containerfile) as `tag`, never pulling anything.
    pub fn build(&self, ctx: &Path, tag: &str) {
        let containerfile = ctx.join("Containerfile");
        self.run(&[
            "build",
            "-q",
            "--pull=never",
            "-f",
            containerfile.to_str().unwrap(),
            "-t",
            tag,
            ctx.to_str().unwrap(),
        ]);
    }
}

/// Removes images, whatever happens.
pub struct Images<'a> {
    pub podman: &'a Podman,
    pub tags: Vec<String>,
}

impl Drop for Images<'_> {
    fn drop(&mut self) {
        for tag in self.tags.drain(..) {
            self.podman.cleanup(&["rmi", "-f", &tag]);
        }
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A test-local containers.conf, unless the caller set CONTAINERS_CONF: `default_ulimits`
/// nofile/nproc 1024 (podman's own default nofile limit can exceed the hard limit a CI sandbox
/// allows; runc then fails with "error setting rlimits for ready process ... rlimit type 7") and
/// `runtime = "runc"` when runc is installed. `/etc/containers` is not touched.
pub fn containers_conf(dir: &Path) -> Option<PathBuf> {
    if std::env::var_os("CONTAINERS_CONF").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let mut text = String::from(
        "# written by the gitgate podman tests (tests/tests/podman/mod.rs)\n[containers]\n\
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
pub fn release_agent() -> PathBuf {
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

/// A `FROM scratch` root filesystem under construction (a build context's `rootfs/`).
pub struct RootFs {
    pub root: PathBuf,
}

impl RootFs {
    pub fn new(root: PathBuf) -> RootFs {
        std::fs::create_dir_all(&root).unwrap();
        RootFs { root }
    }
    fn at(&self, path_in_root: &Path) -> PathBuf {
        self.root
            .join(path_in_root.strip_prefix("/").unwrap_or(path_in_root))
    }
    /// Copy the file `src` (following symlinks) to `dst` in the image.
    pub fn file(&self, src: &Path, dst: &Path) {
        let to = self.at(dst);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // fs::copy follows symlinks: the library itself lands under the name the loader looks for.
        std::fs::copy(src, &to).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
    pub fn write(&self, dst: &str, text: &str) {
        let to = self.at(Path::new(dst));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }
    pub fn symlink(&self, target: &str, link: &str) {
        let to = self.at(Path::new(link));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&to);
        std::os::unix::fs::symlink(target, to).unwrap();
    }
    pub fn dir(&self, dst: &str) {
        std::fs::create_dir_all(self.at(Path::new(dst))).unwrap();
    }
    /// A mount point with `mode` (an emptyDir is 0777, /tmp 1777), whatever the umask.
    pub fn mount_point(&self, dst: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        self.dir(dst);
        std::fs::set_permissions(
            self.at(Path::new(dst)),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
    }
    /// The shared libraries (and the loader) `ldd` lists for `bin`. A static binary: ldd fails
    /// and lists nothing, nothing to copy.
    pub fn libs_of(&self, bin: &Path) {
        let ldd = Command::new("ldd")
            .arg(bin)
            .output()
            .expect("run ldd (libc-bin) to list shared libraries");
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)";
        // the vdso has no path.
        let listing = String::from_utf8_lossy(&ldd.stdout);
        let mut libs = 0;
        for word in listing.split_whitespace().filter(|w| w.starts_with('/')) {
            let lib = Path::new(word);
            if !self.at(lib).exists() {
                self.file(lib, lib);
            }
            libs += 1;
        }
        assert!(
            libs > 0 || !ldd.status.success(),
            "ldd {} listed no library: {listing}",
            bin.display()
        );
    }
    /// A host binary at its own path, with its libraries.
    pub fn binary(&self, bin: &str) {
        let p = Path::new(bin);
        self.file(p, p);
        self.libs_of(p);
    }
}

pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos:x}", std::process::id())
}


pub fn assert_no_token(what: &str, text: &str, token: &str) {
    for form in token_forms(token) {
        assert!(!text.contains(&form), "token leaked in {what}: {text}");
    }
}

pub fn server_ref(bare: &Path, name: &str) -> Option<String> {
    let out = git_status(bare, &["rev-parse", "--verify", "-q", name]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `Field: value` of a /proc/<pid>/status text.
pub fn status_field(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in this /proc/<pid>/status:\n{text}"))
        .trim()
        .to_owned()
}

/// `Field: value` of /proc/<pid>/status.
pub fn proc_status(pid: &str, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status_field(&text, field)
}

/// The mount options of the mount at `target` in a /proc/<pid>/mountinfo text.
pub fn mountinfo_options(text: &str, target: &str) -> String {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(4) == Some(&target)).then(|| f.get(5).copied().unwrap_or("").to_owned())
        })
        .next_back()
        .unwrap_or_else(|| panic!("{target} not mounted in the container:\n{text}"))
}

/// The mount options of the mount at `target` as the process `pid` sees it (/proc/<pid>/mountinfo).
pub fn mount_options(pid: &str, target: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    mountinfo_options(&text, target)
}

/// The agent container as the kernel sees its pid 1 from the host: capabilities IPC_LOCK only
/// (effective and bounding), no new privileges, running as `uid`, `/` mounted read-only.
pub fn assert_agent_locked_down(pid: &str, uid: u32) {
    assert_ne!(pid, "0", "the agent container has no process");
    let ipc_lock = format!("{:016x}", 1u64 << CAP_IPC_LOCK);
    assert_eq!(
        proc_status(pid, "CapEff"),
        ipc_lock,
        "effective capabilities of the agent"
    );
    assert_eq!(
        proc_status(pid, "CapBnd"),
        ipc_lock,
        "bounding set of the agent"
    );
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    let uid_line = proc_status(pid, "Uid");
    assert!(
        uid_line.split_whitespace().all(|u| u == uid.to_string()),
        "the agent runs as {uid}: Uid {uid_line}"
    );
    let opts = mount_options(pid, "/");
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "/ must be read-only in the agent container: {opts}"
    );
}

pub const AGENT_CONTAINERFILE: &str = include_str!("../../../containers/Containerfile.agent-test");

/// The agent image's build context in `dir` (containers/Containerfile.agent-test): the agent
/// binary, its libraries, and (`with_shell`) /bin/sh for podman's healthcheck form of a probe.
pub fn agent_context(dir: &Path, agent: &Path, with_shell: bool) {
    let rootfs = RootFs::new(dir.join("rootfs"));
    rootfs.file(agent, Path::new("/usr/local/bin/gitgate-agent"));
    rootfs.libs_of(agent);
    if with_shell {
        rootfs.binary("/bin/dash");
        rootfs.symlink("dash", "/bin/sh");
    }
    rootfs.dir("/etc");
    for d in ["/run/gitgate", "/var/lib/gitgate"] {
        rootfs.mount_point(d, 0o777);
    }
    rootfs.mount_point("/tmp", 0o1777);
    std::fs::write(dir.join("Containerfile"), AGENT_CONTAINERFILE).unwrap();
}
