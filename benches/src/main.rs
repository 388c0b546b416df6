//! gitgate benchmarks. One command regenerates every figure in BENCHMARKS.md:
//!
//! ```text
//! cargo run --release -p gitgate-bench -- --write BENCHMARKS.md
//! ```
//!
//! Subsets: `-- shim denied` (see `--help`); `--quick` runs fewer iterations (a smoke run for CI).
//! Benchmarks, not tests: every figure is printed next to its target with MET / NOT MET; nothing
//! here fails because of a timing.

mod app;
mod denied;
mod gh;
mod idle;
mod load;
mod local;
mod report;
mod server;
mod session;
mod start;
mod transfer;
mod util;

use report::Section;
use std::path::PathBuf;
use std::process::Command;

pub const FIGURES: &[(&str, &str)] = &[
    (
        "shim",
        "1. shim overhead on local git commands (status on 10,000 files, --version)",
    ),
    (
        "denied",
        "2. a denied push end to end: refused by the pre-push hook, and by the agent alone",
    ),
    ("size", "3. shim release binary size"),
    (
        "push",
        "4a/4c. push of 50 MB of new objects, and of one small commit, gitgate vs direct git",
    ),
    (
        "edit",
        "4e. push of a one-line edit to an existing 200 KB file (thin pack), gitgate vs direct git",
    ),
    ("fetch", "4b. fetch of the same 50 MB, gitgate vs direct git"),
    ("clone", "4d. clone of a 50 MB repository, gitgate vs direct git"),
    ("noop", "5. no-op fetch overhead over direct git"),
    (
        "gh",
        "6. gh pr list through the API gateway vs gh straight to the fake; agent RSS after 1,000 gh calls",
    ),
    (
        "load",
        "7. load: concurrent git clients through the v3 transport vs direct; raw clients; vanished clients, leaks",
    ),
    (
        "idle",
        "8. a request while thousands of idle connections are open",
    ),
    (
        "app",
        "9. GitHub App token rotation: p99 of gh-like round trips around a rotation vs steady state",
    ),
    (
        "start",
        "11. agent cold start: exec to a listening socket, and to the first answer",
    ),
    (
        "session",
        "10. per-session agent resources: RSS idle/after requests/after pushes, CPU per push (Kubernetes sizing)",
    ),
];

#[derive(Clone, Debug)]
pub struct Config {
    pub quick: bool,
    pub files: usize,
    pub iters_local: usize,
    pub iters_version: usize,
    pub iters_denied_shim: usize,
    pub iters_denied_raw: usize,
    pub big_mb: usize,
    pub transfer_runs: usize,
    /// Figure 4c: one-commit pushes per side.
    pub small_pushes: usize,
    pub noop_iters: usize,
    pub gh_iters: usize,
    pub gh_total: usize,
    pub load_clients: usize,
    pub load_requests: usize,
    pub load_repos: usize,
    /// Figure 7a: concurrent real git clients, and commands each.
    pub load_git_clients: usize,
    pub load_git_rounds: usize,
    pub disconnect_clients: usize,
    pub disconnect_push_mb: usize,
    pub idle_connections: usize,
    pub idle_iters: usize,
    /// Figure 9: seconds of load across App token rotations.
    pub app_secs: usize,
}

impl Config {
    fn full() -> Config {
        Config {
            quick: false,
            files: 10_000,
            iters_local: 200,
            iters_version: 500,
            iters_denied_shim: 300,
            iters_denied_raw: 1000,
            big_mb: 50,
            transfer_runs: 5,
            small_pushes: 30,
            noop_iters: 50,
            gh_iters: 200,
            gh_total: 1000,
            load_clients: 64,
            load_requests: 1000,
            load_repos: 4,
            load_git_clients: 16,
            load_git_rounds: 20,
            disconnect_clients: 200,
            disconnect_push_mb: 8,
            idle_connections: 3000,
            idle_iters: 500,
            app_secs: 30,
        }
    }
    fn quick() -> Config {
        Config {
            quick: true,
            files: 10_000,
            iters_local: 30,
            iters_version: 50,
            iters_denied_shim: 30,
            iters_denied_raw: 100,
            big_mb: 8,
            transfer_runs: 1,
            small_pushes: 6,
            noop_iters: 10,
            gh_iters: 20,
            gh_total: 100,
            load_clients: 8,
            load_requests: 100,
            load_repos: 2,
            load_git_clients: 8,
            load_git_rounds: 5,
            disconnect_clients: 40,
            disconnect_push_mb: 2,
            idle_connections: 3000,
            idle_iters: 50,
            app_secs: 8,
        }
    }
}

fn usage() -> String {
    let mut s = String::from(
        "usage: bench [--quick] [--glibc-shim] [--write FILE] [--SETTING N ...] [FIGURE ...]\n\n\
         Runs the gitgate benchmarks against target/release/gitgate-agent and the shim as installed\n\
         (the `shim` profile, static for the host's musl target when rustc has it, else glibc;\n\
         --glibc-shim: the glibc build), built first when run through cargo, and prints each figure\n\
         next to its target. With no FIGURE, runs all.\n\n\
         figures:\n",
    );
    for (k, d) in FIGURES {
        s.push_str(&format!("  {k:<8} {d}\n"));
    }
    s.push_str(
        "  transfer = push fetch clone edit\n\n\
         settings (override the defaults of the full or --quick run):\n\
         --files --iters-local --iters-version --iters-denied-shim --iters-denied-raw --big-mb\n\
         --transfer-runs --small-pushes --noop-iters --gh-iters --gh-total --load-clients --load-requests\n\
         --load-repos --load-git-clients --load-git-rounds --disconnect-clients --disconnect-push-mb --idle-connections --idle-iters\n\
         --app-secs\n",
    );
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{}", usage());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let glibc_shim = args.iter().any(|a| a == "--glibc-shim");
    let mut cfg = if quick {
        Config::quick()
    } else {
        Config::full()
    };
    let mut write: Option<PathBuf> = None;
    let mut figs: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |slot: &mut usize| {
            let v = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("bench: {a} needs a number\n\n{}", usage());
                std::process::exit(2)
            });
            *slot = v;
        };
        match a.as_str() {
            "--quick" | "--glibc-shim" => {}
            "--write" => {
                write = Some(PathBuf::from(it.next().unwrap_or_else(|| {
                    eprintln!("bench: --write needs a file");
                    std::process::exit(2)
                })))
            }
            "--files" => num(&mut cfg.files),
            "--iters-local" => num(&mut cfg.iters_local),
            "--iters-version" => num(&mut cfg.iters_version),
            "--iters-denied-shim" => num(&mut cfg.iters_denied_shim),
            "--iters-denied-raw" => num(&mut cfg.iters_denied_raw),
            "--big-mb" => num(&mut cfg.big_mb),
            "--transfer-runs" => num(&mut cfg.transfer_runs),
            "--small-pushes" => num(&mut cfg.small_pushes),
            "--noop-iters" => num(&mut cfg.noop_iters),
            "--gh-iters" => num(&mut cfg.gh_iters),
            "--gh-total" => num(&mut cfg.gh_total),
            "--load-clients" => num(&mut cfg.load_clients),
            "--load-requests" => num(&mut cfg.load_requests),
            "--load-repos" => num(&mut cfg.load_repos),
            "--load-git-clients" => num(&mut cfg.load_git_clients),
            "--load-git-rounds" => num(&mut cfg.load_git_rounds),
            "--disconnect-clients" => num(&mut cfg.disconnect_clients),
            "--disconnect-push-mb" => num(&mut cfg.disconnect_push_mb),
            "--idle-connections" => num(&mut cfg.idle_connections),
            "--idle-iters" => num(&mut cfg.idle_iters),
            "--app-secs" => num(&mut cfg.app_secs),
            // Debugging aid (not a figure): keep a server and an agent up, see transfer::serve.
            "--serve" => {
                let mut secs = 0;
                num(&mut secs);
                prepare_binaries(glibc_shim);
                transfer::serve(secs as u64);
                return;
            }
            "transfer" => {
                figs.push("push".into());
                figs.push("fetch".into());
                figs.push("clone".into());
                figs.push("edit".into());
            }
            f if FIGURES.iter().any(|(k, _)| *k == f) => figs.push(f.to_owned()),
            other => {
                eprintln!("bench: unknown argument '{other}'\n\n{}", usage());
                std::process::exit(2);
            }
        }
    }
    // Every loop in the figures is bounded by these counts; keep them sane.
    cfg.load_clients = cfg.load_clients.clamp(1, 1024);
    cfg.transfer_runs = cfg.transfer_runs.max(1);
    let want = |f: &str| figs.is_empty() || figs.iter().any(|x| x == f);

    let build_warning = prepare_binaries(glibc_shim);

    let mut sections: Vec<Section> = Vec::new();
    let mut start_load = report::loadavg();
    let mut emit = |mut s: Section| {
        let end = report::loadavg();
        s.load = Some((std::mem::replace(&mut start_load, end.clone()), end));
        s.print();
        sections.push(s);
    };
    if want("shim") {
        emit(local::shim_overhead(&cfg));
    }
    if want("denied") {
        emit(denied::denied_push(&cfg));
    }
    if want("size") {
        emit(local::shim_size());
    }
    if want("push") || want("fetch") || want("clone") {
        for s in transfer::big_transfer(&cfg, want("push"), want("fetch"), want("clone")) {
            emit(s);
        }
    }
    if want("edit") {
        emit(transfer::edit_push(&cfg));
    }
    if want("noop") {
        emit(transfer::noop_fetch(&cfg));
    }
    if want("gh") {
        emit(gh::gh(&cfg));
    }
    if want("load") {
        emit(load::load(&cfg));
    }
    if want("idle") {
        emit(idle::idle_flood(&cfg));
    }
    if want("app") {
        emit(app::app_rotation(&cfg));
    }
    if want("session") {
        emit(session::session(&cfg));
    }
    if want("start") {
        emit(start::cold_start(&cfg));
    }

    if let Some(path) = write {
        let mut command = String::from("cargo run --release -p gitgate-bench --");
        for a in &args {
            command.push(' ');
            command.push_str(a);
        }
        let doc = report::document(&command, cfg.quick, build_warning.as_deref(), &sections);
        std::fs::write(&path, doc).unwrap_or_else(|e| {
            eprintln!("bench: cannot write {}: {e}", path.display());
            std::process::exit(1)
        });
        eprintln!("bench: wrote {}", path.display());
    }
}

/// The shim build the figures measure, for the notes of figures 1 and 3: set once by
/// [`prepare_binaries`].
static SHIM_BUILD: std::sync::OnceLock<ShimBuild> = std::sync::OnceLock::new();

#[derive(Clone, Debug)]
pub struct ShimBuild {
    /// Path under the target directory, e.g. `target/x86_64-unknown-linux-musl/shim/gitgate-shim`.
    pub path: String,
    /// True for the static (musl) build, false for the glibc (dynamically linked) one.
    pub is_static: bool,
}

impl ShimBuild {
    /// One phrase for the figures' notes.
    pub fn describe(&self) -> String {
        if self.is_static {
            format!(
                "{} (static musl build, as run.sh --native and the AI image install it)",
                self.path
            )
        } else {
            format!(
                "{} (glibc, dynamically linked: the fallback when rustc has no musl target)",
                self.path
            )
        }
    }
}

pub fn shim_build() -> ShimBuild {
    SHIM_BUILD.get().cloned().unwrap_or(ShimBuild {
        path: "target/shim/gitgate-shim".into(),
        is_static: false,
    })
}

/// The host's musl twin (`x86_64-unknown-linux-gnu` → `x86_64-unknown-linux-musl`) when rustc
/// has its standard library (`rustup target add …`), the same test as run.sh's `musl_target`.
fn musl_target() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let vv = Command::new(&rustc).arg("-vV").output().ok()?;
    let host = String::from_utf8_lossy(&vv.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))?;
    let musl = format!("{}-linux-musl", host.strip_suffix("-linux-gnu")?);
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(&musl)
        .join("lib")
        .is_dir()
        .then_some(musl)
}

/// Point the e2e harness at the release binaries next to this executable, building them first
/// when we run under cargo (a no-op when they are up to date). The shim is the one users run:
/// the `shim` profile, static (musl) when rustc has that target, else glibc; `glibc_shim`
/// forces the glibc build (to compare the two).
fn prepare_binaries(glibc_shim: bool) -> Option<String> {
    let mut warning = None;
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("bin dir").to_path_buf();
    let target = dir.parent().map(PathBuf::from);
    let musl = if glibc_shim { None } else { musl_target() };
    // (path under the target dir, static?) of the shim to measure, when built or found.
    let mut shim: Option<(PathBuf, bool)> = None;
    if let Ok(cargo) = std::env::var("CARGO") {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let build = |args: &[&str]| {
            let mut c = Command::new(&cargo);
            c.args(["build", "-q", "--manifest-path", manifest])
                .args(args);
            if let Some(target) = &target {
                c.env("CARGO_TARGET_DIR", target);
            }
            c.status().map(|s| s.success()).unwrap_or(false)
        };
        let release = dir.file_name().and_then(|n| n.to_str()) == Some("release");
        let mut ok = build(if release {
            &["-p", "gitgate-agent", "-p", "gitgate-shim", "--release"]
        } else {
            &["-p", "gitgate-agent", "-p", "gitgate-shim"]
        });
        if ok {
            if let Some(t) = &musl {
                if build(&["--profile", "shim", "-p", "gitgate-shim", "--target", t]) {
                    shim = Some((PathBuf::from(t).join("shim/gitgate-shim"), true));
                } else {
                    eprintln!(
                        "bench: warning: the static shim build (--target {t}) failed; measuring the glibc build"
                    );
                }
            } else if !glibc_shim {
                eprintln!(
                    "bench: warning: rustc has no musl target for this host; measuring the glibc \
                     shim (rustup target add x86_64-unknown-linux-musl for the static one)"
                );
            }
            if shim.is_none() {
                ok = build(&["--profile", "shim", "-p", "gitgate-shim"]);
                shim = Some((PathBuf::from("shim/gitgate-shim"), false));
            }
        }
        if !ok {
            let w = "building gitgate-agent and gitgate-shim from the working tree failed; \
                     the figures below use the binaries already in the target directory"
                .to_owned();
            eprintln!("bench: warning: {w}");
            warning = Some(w);
            shim = None;
        }
    }
    for b in ["gitgate-agent", "gitgate-shim"] {
        if !dir.join(b).is_file() {
            eprintln!(
                "bench: {} missing; build it: cargo build --release -p gitgate-agent -p gitgate-shim",
                dir.join(b).display()
            );
            std::process::exit(1);
        }
    }
    if dir.file_name().and_then(|n| n.to_str()) != Some("release") {
        eprintln!(
            "bench: warning: running from {} — figures are meant for the release profile",
            dir.display()
        );
    }
    // The harness takes both binaries from one directory: link the release agent and the
    // size-profile shim (what users run) side by side.
    let mut bin_dir = dir.clone();
    if let Some(target) = &target {
        if shim.is_none() {
            // Not built here: the ones already in the target directory, static first.
            let mut found: Vec<(PathBuf, bool)> = Vec::new();
            if let Some(t) = &musl {
                found.push((PathBuf::from(t).join("shim/gitgate-shim"), true));
            }
            found.push((PathBuf::from("shim/gitgate-shim"), false));
            shim = found.into_iter().find(|(p, _)| target.join(p).is_file());
        }
        if let Some((rel, is_static)) = &shim {
            bin_dir = target.join("bench-bin");
            let _ = std::fs::create_dir_all(&bin_dir);
            for (name, from) in [
                ("gitgate-agent", dir.join("gitgate-agent")),
                ("gitgate-shim", target.join(rel)),
            ] {
                let link = bin_dir.join(name);
                let _ = std::fs::remove_file(&link);
                let _ = std::os::unix::fs::symlink(from, &link);
            }
            let _ = SHIM_BUILD.set(ShimBuild {
                path: format!("target/{}", rel.display()),
                is_static: *is_static,
            });
        }
    }
    if SHIM_BUILD.get().is_none() {
        let _ = SHIM_BUILD.set(ShimBuild {
            path: format!("{}/gitgate-shim", dir.display()),
            is_static: false,
        });
    }
    eprintln!("bench: shim measured: {}", shim_build().describe());
    // Single-threaded at this point: nothing else reads the environment concurrently.
    std::env::set_var("GITGATE_BIN_DIR", &bin_dir);
    warning
}
