//! Shared helpers: statistics, clean command environments, a raw protocol client, /proc readings.

use gitgate_e2e::{test_home, REAL_GIT};
use gitgate_proto::{read_frame, Frame, Hello, Tool};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Milliseconds as f64.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Summary of a sample (all values in the unit they were given in).
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn stats(v: &[f64]) -> Stats {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let median = if s.is_empty() {
        f64::NAN
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    Stats {
        n: s.len(),
        median,
        p99: pct(&s, 99.0),
        min: s.first().copied().unwrap_or(f64::NAN),
        max: s.last().copied().unwrap_or(f64::NAN),
    }
}

/// Apply the AI-container-like clean environment the e2e harness uses (no inherited variables).
pub fn clean_env(c: &mut Command) -> &mut Command {
    let home = test_home();
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env("GITGATE_REAL_GIT", REAL_GIT)
        .stdin(Stdio::null())
}

/// The real git CLI with the clean environment, in `dir`.
pub fn real_git(dir: &Path) -> Command {
    let mut c = Command::new(REAL_GIT);
    clean_env(&mut c).current_dir(dir);
    c
}

/// Run `c` with stdout/stderr discarded; return wall time; panic on an unexpected exit code.
pub fn time_run(c: &mut Command, expect: i32, what: &str) -> Duration {
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let t = Instant::now();
    let st = c
        .status()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let d = t.elapsed();
    if st.code() != Some(expect) {
        // Re-run once capturing output for the error message.
        let out = c.stdout(Stdio::piped()).stderr(Stdio::piped()).output();
        let detail = out
            .map(|o| {
                format!(
                    "stdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default();
        panic!("{what}: exit {st} (expected {expect})\n{detail}");
    }
    d
}

/// Run `c`, capture, panic on failure; return trimmed stdout.
pub fn run_ok(c: &mut Command, what: &str) -> String {
    let o = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !o.status.success() {
        panic!(
            "{what}: {}\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// The final frame of one raw protocol request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    Exit(i32),
    Error(i32, String),
}

impl Final {
    pub fn code(&self) -> i32 {
        match self {
            Final::Exit(c) | Final::Error(c, _) => *c,
        }
    }
}

/// Why a raw request did not produce exactly one final frame.
#[derive(Debug, Clone)]
pub enum RawFail {
    Connect(String),
    Write(String),
    /// The connection ended (or failed) before a final frame: a lost response.
    Lost(String),
    /// More frames followed the final one.
    Extra,
}

impl std::fmt::Display for RawFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawFail::Connect(e) => write!(f, "connect: {e}"),
            RawFail::Write(e) => write!(f, "write: {e}"),
            RawFail::Lost(e) => write!(f, "no final frame: {e}"),
            RawFail::Extra => write!(f, "a frame after the final frame"),
        }
    }
}

/// The encoded bytes of `Hello` followed by `StdinEof`.
pub fn request_bytes(tool: Tool, args: &[&str], cwd: &Path) -> Vec<u8> {
    let hello = Hello::new(
        tool,
        args.iter().map(|s| s.to_string()).collect(),
        cwd.to_string_lossy().into_owned(),
    );
    let mut b = Frame::Hello(hello).encode();
    b.extend_from_slice(&Frame::DataEof.encode());
    b
}

/// One request over the raw socket: write Hello + StdinEof, read frames (bounded count, read
/// timeout) until Exit/Error, then check the agent closes without sending anything more.
pub fn raw_request(socket: &Path, req: &[u8]) -> Result<Final, RawFail> {
    let mut s = UnixStream::connect(socket).map_err(|e| RawFail::Connect(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    s.write_all(req)
        .map_err(|e| RawFail::Write(e.to_string()))?;
    let mut fin = None;
    for _ in 0..1_000_000 {
        match read_frame(&mut s) {
            Ok(Some(Frame::Exit(e))) => {
                fin = Some(Final::Exit(e.code));
                break;
            }
            Ok(Some(Frame::Error(e))) => {
                fin = Some(Final::Error(e.code, e.message));
                break;
            }
            Ok(Some(_)) => continue,
            Ok(None) => return Err(RawFail::Lost("EOF".into())),
            Err(e) => return Err(RawFail::Lost(e.to_string())),
        }
    }
    let fin = fin.ok_or_else(|| RawFail::Lost("too many frames".into()))?;
    match read_frame(&mut s) {
        Ok(None) => Ok(fin),
        Ok(Some(_)) => Err(RawFail::Extra),
        // The agent may reset rather than close cleanly; that is not an extra frame.
        Err(_) => Ok(fin),
    }
}

/// A field of /proc/<pid>/status in kB (VmRSS, VmHWM) or a plain count (Threads).
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn dir_entries(p: &Path) -> usize {
    std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
}

/// Deterministic, incompressible bytes (xorshift64*).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v < 10.0 {
        format!("{v:.3} ms")
    } else if v < 1000.0 {
        format!("{v:.1} ms")
    } else {
        format!("{:.2} s", v / 1000.0)
    }
}

pub fn fmt_ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "—".into()
    } else {
        format!("{:.3}×", a / b)
    }
}

pub fn fmt_kb(kb: Option<u64>) -> String {
    match kb {
        Some(k) => format!("{:.1} MB", k as f64 / 1024.0),
        None => "—".into(),
    }
}

/// Read a one-line answer of a command, or "unknown".
pub fn cmd_line(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// v3: a push the policy denies, as the pre-push hook asks it (Hook Hello, one ref line).
pub fn denied_push_bytes(cwd: &Path) -> Vec<u8> {
    let z = "0".repeat(40);
    let a = "a".repeat(40);
    let mut b = request_bytes_open(Tool::Hook, &["pre-push", "origin", ""], cwd);
    b.extend_from_slice(
        &Frame::Data(format!("refs/heads/main {a} refs/heads/main {z} na\n").into_bytes()).encode(),
    );
    b.extend_from_slice(&Frame::DataEof.encode());
    b
}

/// v3: the git transport's upload-pack for the `origin` of the repository at `repo`, asking one
/// `ls-refs` (what a no-op fetch costs the agent).
pub fn ls_refs_bytes(repo: &Path) -> Vec<u8> {
    let url = run_ok(
        real_git(repo).args(["config", "remote.origin.url"]),
        "origin url",
    );
    let hello = Hello::transport("git-upload-pack", url.trim(), "version=2");
    let mut b = Frame::Hello(hello).encode();
    b.extend_from_slice(&Frame::Data(b"0014command=ls-refs\n0000".to_vec()).encode());
    b.extend_from_slice(&Frame::DataEof.encode());
    b
}

fn request_bytes_open(tool: Tool, args: &[&str], cwd: &Path) -> Vec<u8> {
    let hello = Hello::new(
        tool,
        args.iter().map(|s| s.to_string()).collect(),
        cwd.to_string_lossy().into_owned(),
    );
    Frame::Hello(hello).encode()
}

/// Samples /proc/<pid>/status every 5 ms on a thread until stopped: the peaks of VmRSS and of
/// its parts RssAnon (heap, stacks) and RssFile (file pages mapped in, e.g. a pack read by mmap).
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<(u64, u64, u64)>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut rss, mut anon, mut file) = (0, 0, 0);
            // Bounded: at most an hour of samples.
            for _ in 0..720_000 {
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                rss = rss.max(proc_status(pid, "VmRSS").unwrap_or(0));
                anon = anon.max(proc_status(pid, "RssAnon").unwrap_or(0));
                file = file.max(proc_status(pid, "RssFile").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(5));
            }
            (rss, anon, file)
        });
        RssSampler {
            stop,
            handle: Some(handle),
        }
    }

    /// Peak (VmRSS, RssAnon, RssFile) in kB.
    pub fn finish(mut self) -> (u64, u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or((0, 0, 0))
    }
}

/// What a process's open fds are: (files, TCP sockets, Unix sockets, other), and up to 5 of the
/// file paths.
pub fn fd_kinds(pid: u32) -> (usize, usize, usize, usize, Vec<String>) {
    let tcp: std::collections::HashSet<String> = ["tcp", "tcp6"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(format!("/proc/{pid}/net/{f}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(9).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    let (mut files, mut tcps, mut unix, mut other, mut paths) = (0, 0, 0, 0, Vec::new());
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(t) = std::fs::read_link(e.path()) else {
            continue;
        };
        let t = t.to_string_lossy().into_owned();
        if let Some(ino) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
            if tcp.contains(ino) {
                tcps += 1;
            } else {
                unix += 1;
            }
        } else if t.starts_with('/') {
            files += 1;
            if paths.len() < 5 {
                paths.push(t);
            }
        } else {
            other += 1;
        }
    }
    (files, tcps, unix, other, paths)
}
