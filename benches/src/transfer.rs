//! Figures 4 (50 MB push, fetch and clone; a one-commit push) and 5 (no-op fetch): the same real
//! git, once with gitgate as its https/http transport (the shim as `git-remote-http` in git's exec
//! path, as in the AI image, talking to the agent) and once talking directly to the same server
//! with a credential helper holding the token. The server: nginx + fcgiwrap + `git http-backend`
//! (see server.rs).

use crate::report::{row, Section, Verdict};
use crate::server::Server;
use crate::util::*;
use crate::Config;
use gitgate_e2e::{exec_overlay, init_bare, random_token, Agent};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Net {
    pub token: String,
    pub srv_root: tempfile::TempDir,
    pub server: Server,
    pub agent: Agent,
    /// A local non-bare repo with one commit on main, used to seed server repos and workspaces.
    pub seed: PathBuf,
    _seed_dir: tempfile::TempDir,
    pub scratch: tempfile::TempDir,
}

impl Net {
    pub fn start(extra: &[(&str, &str)]) -> Net {
        let token = random_token();
        let srv_root = tempfile::Builder::new()
            .prefix("gitgate-bench-srv")
            .tempdir()
            .unwrap();
        let server = Server::start(srv_root.path(), &token);
        let seed_dir = tempfile::Builder::new()
            .prefix("gitgate-bench-seed")
            .tempdir()
            .unwrap();
        let seed = seed_dir.path().canonicalize().unwrap().join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        run_ok(
            real_git(&seed).args(["init", "-q", "-b", "main"]),
            "init seed",
        );
        std::fs::write(seed.join("README.md"), "seed\n").unwrap();
        run_ok(real_git(&seed).args(["add", "."]), "add seed");
        run_ok(
            real_git(&seed).args(["commit", "-q", "-m", "seed"]),
            "commit seed",
        );
        let mut b = Agent::builder()
            .token(&token)
            .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
            .env("ALLOWED_REPOS", r#"["acme/*"]"#)
            .env("ALLOWED_BRANCH_PATTERNS", r#"["bench/*"]"#)
            .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1");
        for (k, v) in extra {
            b = b.env(k, v);
        }
        let agent = b.start();
        let scratch = tempfile::Builder::new()
            .prefix("gitgate-bench-cli")
            .tempdir()
            .unwrap();
        // The AI image's wiring: git's exec path with the shim as git-remote-http(s).
        exec_overlay(
            std::path::Path::new(gitgate_e2e::REAL_GIT),
            &scratch.path().join("exec"),
        );
        Net {
            token,
            srv_root,
            server,
            agent,
            seed,
            _seed_dir: seed_dir,
            scratch,
        }
    }

    /// A fresh server repo `acme/<name>` holding the seed's main. It keeps every pack it
    /// receives as a pack (`receive.unpackLimit=1`, as a hosting service does), so serving it
    /// later reuses the compressed data instead of recompressing loose objects.
    pub fn bare(&self, name: &str) -> PathBuf {
        let bare = init_bare(self.srv_root.path(), "acme", name);
        run_ok(
            real_git(&bare).args(["config", "receive.unpackLimit", "1"]),
            "config unpackLimit",
        );
        run_ok(
            real_git(&self.seed).args(["push", "-q", &bare.to_string_lossy(), "main"]),
            "seed push",
        );
        bare
    }

    /// A clone of the seed (local, no network) at `dir`, with origin set to `origin`.
    pub fn seed_clone(&self, dir: &Path, origin: &str) -> PathBuf {
        run_ok(
            real_git(dir.parent().unwrap()).args([
                "clone",
                "-q",
                &self.seed.to_string_lossy(),
                &dir.to_string_lossy(),
            ]),
            "seed clone",
        );
        run_ok(
            real_git(dir).args(["remote", "set-url", "origin", origin]),
            "set-url",
        );
        dir.to_path_buf()
    }

    pub fn url(&self, name: &str) -> String {
        self.server.url("acme", name)
    }
    /// The real git talking to the server directly, the token in a credential helper (a shell
    /// function answering `get`, like `gh auth git-credential`; git's `store` helper would
    /// rewrite its file under a lock on every success, which serializes concurrent clients).
    pub fn direct_git(&self, cwd: &Path) -> Command {
        let mut c = real_git(cwd);
        c.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "credential.helper")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!(
                    "!f() {{ test \"$1\" = get && printf 'username=x-access-token\\npassword=%s\\n' '{}'; }}; f",
                    self.token
                ),
            );
        c
    }

    /// The same real git with gitgate as its transport (AI image wiring: the shim is
    /// git-remote-http(s) in git's exec path; the pre-push hook's `gitgate-shim` on PATH).
    pub fn gitgate_git(&self, cwd: &Path) -> Command {
        let mut c = real_git(cwd);
        c.env("GIT_EXEC_PATH", self.scratch.path().join("exec"))
            .env("GITGATE_SOCKET", &self.agent.socket)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.agent.bin.display()),
            );
        c
    }

    pub fn shim_git(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = self.gitgate_git(cwd);
        c.args(args);
        c
    }

    /// Install the advisory pre-push hook in a clone, as the image's init.templateDir does.
    pub fn install_hook(&self, repo: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let hooks = repo.join(".git").join("hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        let p = hooks.join("pre-push");
        std::fs::write(&p, include_str!("../../hooks/pre-push")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn rev(dir: &Path, r: &str) -> String {
    run_ok(real_git(dir).args(["rev-parse", r]), "rev-parse")
}

/// Time `gg` and `cli` `runs` times each, alternating which goes first; `prep(i)` runs before
/// each pair (untimed) and `check(i)` after.
fn paired(
    runs: usize,
    mut prep: impl FnMut(usize),
    mut gg: impl FnMut(usize) -> f64,
    mut cli: impl FnMut(usize) -> f64,
    mut check: impl FnMut(usize),
) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..runs {
        prep(i);
        if i % 2 == 0 {
            a.push(gg(i));
            b.push(cli(i));
        } else {
            b.push(cli(i));
            a.push(gg(i));
        }
        check(i);
    }
    (a, b)
}

fn ratio_rows(sec: &mut Section, label: &str, gg: &[f64], cli: &[f64], target: f64) {
    let (g, c) = (stats(gg), stats(cli));
    sec.rows.push(row(
        format!("{label}: median, gitgate vs direct git"),
        fmt_ms(g.median),
        fmt_ms(c.median),
        fmt_ratio(g.median, c.median),
        format!("≤ {target:.2}×"),
        Verdict::of(g.median / c.median <= target),
    ));
    sec.rows.push(row(
        format!("{label}: slowest run"),
        fmt_ms(g.max),
        fmt_ms(c.max),
        fmt_ratio(g.max, c.max),
        "(none)",
        Verdict::Info,
    ));
}

pub fn common_method(net: &Net) -> String {
    format!(
        "Server: {}. gitgate = `/usr/bin/git` with the shim as `git-remote-http` in git's exec path (`GIT_EXEC_PATH` overlay, \
         the AI image's wiring) and the advisory pre-push hook installed, talking to the release agent over its socket; \
         the agent adds the token and talks to the server. Direct = the same `/usr/bin/git` talking to the same server, \
         the token in a credential helper (a shell function answering `get`). Wall time of the whole git command.",
        net.server.describe()
    )
}

pub fn big_transfer(cfg: &Config, do_push: bool, do_fetch: bool, do_clone: bool) -> Vec<Section> {
    let net = Net::start(&[]);
    let mb = cfg.big_mb;
    let files = 5usize;
    let ws = net.scratch.path().join("big");
    net.seed_clone(&ws, &net.url("unused"));
    net.install_hook(&ws);
    let no_hooks = net.scratch.path().join("no-hooks");
    std::fs::create_dir_all(&no_hooks).unwrap();
    let no_hooks_cfg = format!("core.hooksPath={}", no_hooks.display());
    run_ok(
        real_git(&ws).args(["checkout", "-q", "-b", "bench/big"]),
        "checkout",
    );
    eprintln!("[transfer] writing {mb} MB of random blobs in {files} files");
    for i in 0..files {
        let len = mb * 1024 * 1024 / files;
        std::fs::write(
            ws.join(format!("blob{i}.bin")),
            random_bytes(len, 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1)),
        )
        .unwrap();
    }
    run_ok(real_git(&ws).args(["add", "."]), "add blobs");
    run_ok(
        real_git(&ws).args(["commit", "-q", "-m", "big blobs"]),
        "commit blobs",
    );
    let big = rev(&ws, "HEAD");
    let runs = cfg.transfer_runs;
    let mut out = Vec::new();

    if do_push {
        let mut sec = Section::new(&format!("4a. Push of {mb} MB of new objects"));
        let sampler = RssSampler::start(net.agent.pid());
        // `runs` pairs of pushes of bench/big as `refspec` to fresh server repositories named
        // `<prefix>-{gg,cli}-<i>` (with bench/ff at main first, for the fast-forward), checked to
        // have landed as `landed`.
        let push_pairs = |prefix: &str, refspec: &str, landed: &str, what: &str| {
            paired(
                runs,
                |i| {
                    for side in ["gg", "cli"] {
                        let b = net.bare(&format!("{prefix}-{side}-{i}"));
                        if landed == "refs/heads/bench/ff" {
                            run_ok(
                                real_git(&net.seed).args([
                                    "push",
                                    "-q",
                                    &b.to_string_lossy(),
                                    "main:refs/heads/bench/ff",
                                ]),
                                "seed bench/ff",
                            );
                        }
                    }
                },
                |i| {
                    eprintln!("[transfer] {what} {mb} MB run {i}: gitgate");
                    ms(time_run(
                        net.gitgate_git(&ws).args([
                            "push",
                            &net.url(&format!("{prefix}-gg-{i}")),
                            refspec,
                        ]),
                        0,
                        "gitgate push",
                    ))
                },
                |i| {
                    eprintln!("[transfer] {what} {mb} MB run {i}: direct git");
                    ms(time_run(
                        net.direct_git(&ws).args([
                            "-c",
                            &no_hooks_cfg,
                            "push",
                            &net.url(&format!("{prefix}-cli-{i}")),
                            refspec,
                        ]),
                        0,
                        "git push",
                    ))
                },
                |i| {
                    for side in ["gg", "cli"] {
                        let b = net
                            .srv_root
                            .path()
                            .join("acme")
                            .join(format!("{prefix}-{side}-{i}.git"));
                        assert_eq!(rev(&b, landed), big, "{side} push landed");
                        let _ = std::fs::remove_dir_all(&b);
                    }
                },
            )
        };
        let (gg, cli) = push_pairs("push", "bench/big", "refs/heads/bench/big", "push");
        ratio_rows(&mut sec, &format!("push {mb} MB"), &gg, &cli, 1.10);
        // Where the time goes: how long the server spent on the receive-pack POST that carried
        // the pack, on each side (nginx's request time).
        let post_ms = |side: &str| -> Vec<f64> {
            net.server
                .requests()
                .iter()
                .filter(|r| {
                    r.method == "POST"
                        && r.path.contains(&format!("/push-{side}-"))
                        && r.path.ends_with("git-receive-pack")
                })
                .filter_map(|r| r.ms)
                .filter(|&t| t > 50.0) // not git's 4-byte probe
                .collect()
        };
        let (pg, pc) = (post_ms("gg"), post_ms("cli"));
        if !pg.is_empty() && !pc.is_empty() {
            let (a, b) = (stats(&pg).median, stats(&pc).median);
            sec.rows.push(row(
                "the server's time on the POST carrying the pack (nginx request time): median",
                fmt_ms(a),
                fmt_ms(b),
                fmt_ratio(a, b),
                "(none)",
                Verdict::Info,
            ));
            sec.notes.push(format!(
                "how the agent keeps up: a push over 1 MiB whose refs are decided (here: a new branch) streams to \
                 receive-pack while git is still writing it; the agent holds back only the pack's 20-byte checksum, \
                 which it sends once gix-pack has read the whole pack and verified it (it indexes the pack meanwhile). \
                 So the server's POST runs alongside git's pack writing on both sides ({} through gitgate, {} direct, \
                 whose POST also runs alongside pack-objects); the difference of the medians is {}.",
                fmt_ms(a),
                fmt_ms(b),
                fmt_ms(stats(&gg).median - stats(&cli).median)
            ));
        }
        // The same commit as a fast-forward of a branch the server has: the agent confirms the
        // ancestry from the pack's leading commit, then streams the rest like a new branch.
        let (ff_gg, ff_cli) = push_pairs(
            "ff",
            "bench/big:bench/ff",
            "refs/heads/bench/ff",
            "fast-forward push",
        );
        ratio_rows(
            &mut sec,
            &format!("push {mb} MB as a fast-forward of an existing branch"),
            &ff_gg,
            &ff_cli,
            1.10,
        );
        // The agent is fresh (started for this figure): its high-water mark is the pushes'.
        let (_, anon, file) = sampler.finish();
        let hwm = proc_status(net.agent.pid(), "VmHWM");
        sec.rows.push(row(
            format!("agent peak RSS (VmHWM) over the {mb} MB pushes"),
            fmt_kb(hwm),
            "—",
            "—",
            "≤ 64 MB",
            Verdict::of(hwm.is_some_and(|k| k <= 64 * 1024)),
        ));
        sec.rows.push(row(
            "of which, sampled every 5 ms: peak RssAnon (heap, stacks) / peak RssFile (file pages mapped in)",
            format!("{} / {}", fmt_kb(Some(anon)), fmt_kb(Some(file))),
            "—",
            "—",
            "(none)",
            Verdict::Info,
        ));
        sec.method = format!(
            "{} runs each, alternating which goes first; median. Each run pushes the same commit ({files} files of random, \
             incompressible bytes, {mb} MB in all, on top of a one-commit main the server already has) as a new branch to a \
             fresh bare repository that keeps received packs as packs (receive.unpackLimit=1); then the same commit as a \
             fast-forward of bench/ff (at main) on another fresh pair. {} Check: the server's refs/heads/bench/big \
             (bench/ff) is the pushed commit on both sides.",
            gg.len(),
            common_method(&net)
        );
        out.push(sec);

        // One small commit on an existing branch (fast-forward: the agent decides ancestry).
        let mut sec = Section::new("4c. Push of one small commit (fast-forward)");
        let small_gg = net.bare("small-gg");
        let small_cli = net.bare("small-cli");
        let sw = net.scratch.path().join("small");
        net.seed_clone(&sw, &net.url("small-gg"));
        net.install_hook(&sw);
        run_ok(
            real_git(&sw).args(["checkout", "-q", "-b", "bench/small"]),
            "checkout small",
        );
        for (u, what) in [(net.url("small-gg"), "gg"), (net.url("small-cli"), "cli")] {
            run_ok(
                net.direct_git(&sw)
                    .args(["-c", &no_hooks_cfg, "push", "-q", &u, "bench/small"]),
                &format!("seed bench/small ({what})"),
            );
        }
        let n = cfg.small_pushes.max(2);
        let commit = |k: usize| {
            std::fs::write(sw.join("small.txt"), format!("change {k}\n")).unwrap();
            run_ok(real_git(&sw).args(["add", "small.txt"]), "add small");
            run_ok(
                real_git(&sw).args(["commit", "-q", "-m", &format!("small {k}")]),
                "commit small",
            );
        };
        let push_gg = |_: usize| {
            ms(time_run(
                net.gitgate_git(&sw)
                    .args(["push", &net.url("small-gg"), "bench/small"]),
                0,
                "gitgate small push",
            ))
        };
        let push_cli = |_: usize| {
            ms(time_run(
                net.direct_git(&sw).args([
                    "-c",
                    &no_hooks_cfg,
                    "push",
                    &net.url("small-cli"),
                    "bench/small",
                ]),
                0,
                "git small push",
            ))
        };
        eprintln!("[transfer] {n} one-commit pushes each");
        let (gg, cli) = paired(n + 1, commit, push_gg, push_cli, |_| {
            let head = rev(&sw, "HEAD");
            assert_eq!(rev(&small_gg, "refs/heads/bench/small"), head);
            assert_eq!(rev(&small_cli, "refs/heads/bench/small"), head);
        });
        let (gg, cli) = (gg[1..].to_vec(), cli[1..].to_vec());
        ratio_rows(&mut sec, "push of one small commit", &gg, &cli, 1.10);
        let (g, c) = (stats(&gg), stats(&cli));
        sec.rows.push(row(
            "push of one small commit: absolute overhead (difference of medians)",
            fmt_ms(g.median - c.median),
            "—",
            "—",
            "(none)",
            Verdict::Info,
        ));
        sec.method = format!(
            "{} pushes each after one warm-up pair, alternating which goes first; median. Each push adds one commit changing one \
             small file on top of bench/small, which both server repositories already have (a fast-forward: the agent checks \
             that the new commit descends from the old one). {}",
            gg.len(),
            common_method(&net)
        );
        out.push(sec);
    }

    if do_fetch || do_clone {
        let src = net.bare("fetch-src");
        run_ok(
            real_git(&ws).args(["push", "-q", &src.to_string_lossy(), "bench/big"]),
            "fill fetch-src",
        );
        // One pack, as a hosting service serves it (its objects are sent as they are stored).
        run_ok(real_git(&src).args(["repack", "-adq"]), "repack fetch-src");
        let copy = |name: &str| {
            let dst = net.srv_root.path().join("acme").join(format!("{name}.git"));
            let _ = std::fs::remove_dir_all(&dst);
            run_ok(
                Command::new("cp").args(["-a", &src.to_string_lossy(), &dst.to_string_lossy()]),
                "cp bare",
            );
            dst
        };
        if do_fetch {
            let mut sec = Section::new(&format!("4b. Fetch of {mb} MB"));
            let wg = |i: usize| net.scratch.path().join(format!("fetch-gg-{i}"));
            let wc = |i: usize| net.scratch.path().join(format!("fetch-cli-{i}"));
            let (gg, cli) = paired(
                runs,
                |i| {
                    copy(&format!("fetch-{i}"));
                    net.seed_clone(&wg(i), &net.url(&format!("fetch-{i}")));
                    net.seed_clone(&wc(i), &net.url(&format!("fetch-{i}")));
                },
                |i| {
                    eprintln!("[transfer] fetch {mb} MB run {i}: gitgate");
                    ms(time_run(
                        net.gitgate_git(&wg(i)).args(["fetch", "origin"]),
                        0,
                        "gitgate fetch",
                    ))
                },
                |i| {
                    eprintln!("[transfer] fetch {mb} MB run {i}: direct git");
                    ms(time_run(
                        net.direct_git(&wc(i)).args(["fetch", "origin"]),
                        0,
                        "git fetch",
                    ))
                },
                |i| {
                    assert_eq!(rev(&wg(i), "refs/remotes/origin/bench/big"), big);
                    assert_eq!(rev(&wc(i), "refs/remotes/origin/bench/big"), big);
                    for d in [wg(i), wc(i)] {
                        let _ = std::fs::remove_dir_all(d);
                    }
                    let _ = std::fs::remove_dir_all(
                        net.srv_root
                            .path()
                            .join("acme")
                            .join(format!("fetch-{i}.git")),
                    );
                },
            );
            ratio_rows(&mut sec, &format!("fetch {mb} MB"), &gg, &cli, 1.10);
            sec.method = format!(
                "{} runs each, alternating order; median. Each run copies a server repository holding main and bench/big \
                 ({mb} MB of new objects, repacked into one pack, so the server sends them as stored) to a new name; both clients are fresh local clones of the one-commit seed with origin \
                 = that repository, and run `git fetch origin`. {} Check: refs/remotes/origin/bench/big is the pushed commit on both sides.",
                gg.len(),
                common_method(&net)
            );
            out.push(sec);
        }
        if do_clone {
            let mut sec = Section::new(&format!("4d. Clone of a {mb} MB repository"));
            copy("clone-src");
            let url = net.url("clone-src");
            let dg = |i: usize| format!("clone-gg-{i}");
            let dc = |i: usize| format!("clone-cli-{i}");
            let (gg, cli) = paired(
                runs,
                |_| {},
                |i| {
                    eprintln!("[transfer] clone {mb} MB run {i}: gitgate");
                    ms(time_run(
                        net.gitgate_git(net.scratch.path())
                            .args(["clone", "-q", &url, &dg(i)]),
                        0,
                        "gitgate clone",
                    ))
                },
                |i| {
                    eprintln!("[transfer] clone {mb} MB run {i}: direct git");
                    ms(time_run(
                        net.direct_git(net.scratch.path())
                            .args(["clone", "-q", &url, &dc(i)]),
                        0,
                        "git clone",
                    ))
                },
                |i| {
                    for d in [dg(i), dc(i)] {
                        let p = net.scratch.path().join(d);
                        assert_eq!(rev(&p, "refs/remotes/origin/bench/big"), big);
                        let _ = std::fs::remove_dir_all(p);
                    }
                },
            );
            ratio_rows(&mut sec, &format!("clone {mb} MB"), &gg, &cli, 1.10);
            sec.method = format!(
                "{} runs each, alternating order; median. `git clone -q <url> <fresh dir>` of a server repository holding main \
                 and bench/big ({mb} MB of random blobs); checkout included (main is the one-commit seed). {}",
                gg.len(),
                common_method(&net)
            );
            out.push(sec);
        }
    }
    out
}

/// Figure 4e: pushes of a one-line edit to an existing 200 KB text file: git sends a thin pack
/// (the new blob as a delta against the old one, which the pack does not carry), so the agent
/// needs the base from its cache of the repository to index the pack.
pub fn edit_push(cfg: &Config) -> Section {
    let net = &Net::start(&[]);
    let no_hooks = net.scratch.path().join("no-hooks");
    std::fs::create_dir_all(&no_hooks).unwrap();
    let no_hooks_cfg = &format!("core.hooksPath={}", no_hooks.display());
    let mut sec =
        Section::new("4e. Push of a one-line edit to an existing 200 KB file (thin pack)");
    let gb = net.bare("edit-gg");
    let cb = net.bare("edit-cli");
    let ew = net.scratch.path().join("edit");
    net.seed_clone(&ew, &net.url("edit-gg"));
    net.install_hook(&ew);
    run_ok(
        real_git(&ew).args(["checkout", "-q", "-b", "bench/edit"]),
        "checkout edit",
    );
    let lines = 4000usize;
    let text = |k: usize| -> String {
        (0..lines)
            .map(|i| {
                if i == (k * 37) % lines {
                    format!("line {i:05} edited in round {k} .........................\n")
                } else {
                    format!("line {i:05} of a source file that an AI edits a little at a time\n")
                }
            })
            .collect()
    };
    std::fs::write(ew.join("src.txt"), text(0)).unwrap();
    run_ok(real_git(&ew).args(["add", "src.txt"]), "add src");
    run_ok(
        real_git(&ew).args(["commit", "-q", "-m", "src"]),
        "commit src",
    );
    // Both server repositories get the file straight from git (not through gitgate): the agent's
    // cache has never seen it, as after a clone.
    for u in [net.url("edit-gg"), net.url("edit-cli")] {
        run_ok(
            net.direct_git(&ew)
                .args(["-c", no_hooks_cfg, "push", "-q", &u, "bench/edit"]),
            "seed bench/edit",
        );
    }
    let edit = |k: usize| {
        std::fs::write(ew.join("src.txt"), text(k)).unwrap();
        run_ok(
            real_git(&ew).args(["commit", "-q", "-a", "-m", &format!("edit {k}")]),
            "commit edit",
        );
    };
    let push_gg = |_: usize| {
        ms(time_run(
            net.gitgate_git(&ew)
                .args(["push", &net.url("edit-gg"), "bench/edit"]),
            0,
            "gitgate edit push",
        ))
    };
    let push_cli = |_: usize| {
        ms(time_run(
            net.direct_git(&ew).args([
                "-c",
                no_hooks_cfg,
                "push",
                &net.url("edit-cli"),
                "bench/edit",
            ]),
            0,
            "git edit push",
        ))
    };
    let refreshes = || {
        net.server
            .requests()
            .iter()
            .filter(|r| r.path.contains("/edit-gg.git/") && r.path.contains("upload-pack"))
            .count()
    };
    // The first push after the agent started: its cache does not have the base yet.
    edit(1);
    let r0 = refreshes();
    let first = push_gg(0);
    let first_cli = push_cli(0);
    let r1 = refreshes();
    let n = cfg.small_pushes.max(2);
    eprintln!("[transfer] {n} edit pushes each");
    let (gg, cli) = paired(
        n,
        |k| edit(k + 2),
        push_gg,
        push_cli,
        |_| {
            let head = rev(&ew, "HEAD");
            assert_eq!(rev(&gb, "refs/heads/bench/edit"), head);
            assert_eq!(rev(&cb, "refs/heads/bench/edit"), head);
        },
    );
    let r2 = refreshes();
    ratio_rows(
        &mut sec,
        "push of a one-line edit (steady state)",
        &gg,
        &cli,
        1.10,
    );
    sec.rows.push(row(
        "the first such push after the agent started (its cache has never seen the file)",
        fmt_ms(first),
        fmt_ms(first_cli),
        fmt_ratio(first, first_cli),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "requests to upstream upload-pack (the agent refreshing its cache): first push / the timed pushes",
        format!("{} / {}", r1 - r0, r2 - r1),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.method = format!(
        "{n} pushes each after the first one, alternating which goes first; median. Each push changes one line of a 4,000-line \
         (200 KB) text file already on bench/edit upstream, so git sends a thin pack: the new blob as a delta against the old \
         one, which the pack does not carry and the agent must find in its cache of the repository to index the pack. The file \
         was pushed to both server repositories straight from git, so the agent's cache starts without it. {}",
        common_method(net)
    );
    sec
}

pub fn noop_fetch(cfg: &Config) -> Section {
    let mut sec = Section::new("5. No-op fetch (nothing new)");
    let net = Net::start(&[]);
    net.bare("app");
    let ws = net.scratch.path().join("noop");
    run_ok(
        net.gitgate_git(net.scratch.path())
            .args(["clone", "-q", &net.url("app"), "noop"]),
        "clone via gitgate",
    );
    let cli = net.scratch.path().join("noop-cli");
    run_ok(
        net.direct_git(net.scratch.path())
            .args(["clone", "-q", &net.url("app"), "noop-cli"]),
        "clone direct",
    );
    let gg = |_: usize| {
        ms(time_run(
            net.gitgate_git(&ws).args(["fetch", "origin"]),
            0,
            "gitgate no-op fetch",
        ))
    };
    let cl = |_: usize| {
        ms(time_run(
            net.direct_git(&cli).args(["fetch", "origin"]),
            0,
            "git no-op fetch",
        ))
    };
    for i in 0..3 {
        gg(i);
        cl(i);
    }
    eprintln!("[noop] {} pairs", cfg.noop_iters);
    let (a, b) = paired(cfg.noop_iters, |_| {}, gg, cl, |_| {});
    // Decomposition: the agent's part alone (raw socket: advertisement + one ls-refs POST), the
    // server's cost of one request, and how many HTTP requests each side makes.
    let req = ls_refs_bytes(&ws);
    let mut raw = Vec::new();
    for _ in 0..cfg.noop_iters {
        let t = std::time::Instant::now();
        let f = raw_request(&net.agent.socket, &req).expect("raw fetch");
        raw.push(ms(t.elapsed()));
        assert_eq!(f.code(), 0, "raw fetch: {f:?}");
    }
    let mut http = Vec::new();
    for _ in 0..cfg.noop_iters {
        http.push(info_refs_get(&net));
    }
    let sh = stats(&http);
    let before = net.server.requests().len();
    gg(0);
    let mid = net.server.requests();
    cl(0);
    let after = net.server.requests();
    let list = |r: &[crate::server::Logged]| {
        r.iter()
            .map(|l| {
                format!(
                    "{} {} {}",
                    l.method,
                    l.path
                        .split('?')
                        .next()
                        .unwrap_or("")
                        .rsplit('/')
                        .next()
                        .unwrap_or(""),
                    l.status
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (sa, sb, sr) = (stats(&a), stats(&b), stats(&raw));
    sec.rows.push(row(
        "`git fetch origin`, nothing new: overhead (difference of medians)",
        fmt_ms(sa.median - sb.median),
        "—",
        "—",
        "≤ 5 ms",
        Verdict::of(sa.median - sb.median <= 5.0),
    ));
    sec.rows.push(row(
        "`git fetch origin`, nothing new: median, gitgate vs direct git",
        fmt_ms(sa.median),
        fmt_ms(sb.median),
        fmt_ratio(sa.median, sb.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "same, p99",
        fmt_ms(sa.p99),
        fmt_ms(sb.p99),
        fmt_ratio(sa.p99, sb.p99),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "agent part alone (raw socket: Hello → advertisement → one ls-refs → Exit): median",
        fmt_ms(sr.median),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "the server alone: one authenticated GET info/refs?service=git-upload-pack (new connection): median",
        fmt_ms(sh.median),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.notes.push(format!(
        "HTTP requests to the server for one no-op fetch: gitgate [{}]; direct git [{}]",
        list(&mid[before..]),
        list(&after[mid.len()..])
    ));
    sec.method = format!(
        "{} interleaved pairs after 3 warm-up pairs; median and p99. Both sides are clones of a server repository with one \
         commit on main, already up to date, running `git fetch origin`. {}",
        sa.n,
        common_method(&net)
    );
    sec
}

/// Wall time of one authenticated `GET /acme/app.git/info/refs?service=git-upload-pack` (HTTP/1.1,
/// `Connection: close`, read to EOF) with a plain std TCP client: the server's own per-request cost.
fn info_refs_get(net: &Net) -> f64 {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", net.token));
    let t = std::time::Instant::now();
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", net.server.port())).expect("connect server");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok();
    write!(
        s,
        "GET /acme/app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Basic {auth}\r\nGit-Protocol: version=2\r\nConnection: close\r\n\r\n"
    )
    .expect("write request");
    let mut buf = Vec::new();
    let _ = s.take(16 << 20).read_to_end(&mut buf);
    let d = ms(t.elapsed());
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "info/refs: {}",
        String::from_utf8_lossy(&buf[..buf.len().min(200)])
    );
    d
}

/// `bench --serve SECS`: a debugging aid, not a figure. Starts the server and an agent as the
/// transfer figures do, makes a gitgate clone and a direct clone of `acme/app`, prints how to run
/// git against them, and keeps everything up for SECS seconds (at most 3600), then cleans up.
pub fn serve(secs: u64) {
    let net = Net::start(&[]);
    net.bare("app");
    run_ok(
        net.gitgate_git(net.scratch.path())
            .args(["clone", "-q", &net.url("app"), "gg"]),
        "clone via gitgate",
    );
    run_ok(
        net.direct_git(net.scratch.path())
            .args(["clone", "-q", &net.url("app"), "direct"]),
        "clone direct",
    );
    let show = |c: &Command| {
        let env: Vec<String> = c
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}='{}'", k.to_str()?, v?.to_str()?)))
            .collect();
        format!("env -i {} {}", env.join(" "), gitgate_e2e::REAL_GIT)
    };
    println!("server: {} ({})", net.server.host(), net.server.describe());
    println!(
        "agent pid {} socket {}",
        net.agent.pid(),
        net.agent.socket.display()
    );
    println!("agent log: {}", net.agent.log.display());
    println!("server repos: {}", net.srv_root.path().display());
    println!("gitgate clone: {}", net.scratch.path().join("gg").display());
    println!(
        "direct clone: {}",
        net.scratch.path().join("direct").display()
    );
    println!(
        "gitgate git: {}",
        show(&net.gitgate_git(net.scratch.path()))
    );
    println!("direct git: {}", show(&net.direct_git(net.scratch.path())));
    println!("token: {}", net.token);
    let stop = net.scratch.path().join("stop");
    println!("stop: touch {}", stop.display());
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs.min(3600));
    while std::time::Instant::now() < end && !stop.exists() {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
