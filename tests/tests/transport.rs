//! git v3 end to end: the real git (both binaries on the machine) with gitgate as its https
//! transport (a GIT_EXEC_PATH overlay whose git-remote-http(s) is the shim), the built agent, a
//! real `git http-backend` server. Differential: every allowed operation runs once through
//! gitgate and once with the same git talking directly to the same server (credential helper
//! holding the token), from identical starting states; everything git prints and stores must be
//! byte-identical. Refusals: git's own format, a `gitgate:` reason, and no receive-pack POST.
//! Every agent here runs in a mount namespace where the temp dir, and so every workspace, clone
//! and server repository, is an empty tmpfs (`AgentBuilder::hide_workspaces`).

use gitgate_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Fx {
    token: String,
    git: PathBuf,
    srv: tempfile::TempDir,
    server: GitHttpServer,
    agent: Agent,
    work: tempfile::TempDir,
    overlay: PathBuf,
    _ovl_dir: tempfile::TempDir,
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

fn bare(fx: &Fx) -> PathBuf {
    fx.srv.path().join("acme/app.git")
}

/// A server with acme/app: two commits on main, branch `feature`, tag `v1`; an agent allowed
/// to use acme/*, main and master protected.
fn fx(git: &Path, extra: &[(&str, &str)]) -> Fx {
    let token = random_token();
    let srv = tempfile::tempdir().unwrap();
    let b = init_bare(srv.path(), "acme", "app");
    git_ok(&b, &["config", "uploadpack.allowFilter", "true"]);
    git_ok(&b, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
    git_ok(&b, &["config", "receive.advertisePushOptions", "true"]);
    init_bare(srv.path(), "acme", "other");
    let server = GitHttpServer::start(srv.path(), &token).unwrap();
    let seed = tempfile::tempdir().unwrap();
    let s = seed.path();
    git_ok(s, &["init", "-q", "-b", "main"]);
    std::fs::write(s.join("README.md"), "seed\n").unwrap();
    git_ok(s, &["add", "."]);
    git_ok(s, &["commit", "-q", "-m", "seed"]);
    std::fs::write(s.join("b.txt"), "two\n").unwrap();
    git_ok(s, &["add", "."]);
    git_ok(s, &["commit", "-q", "-m", "second"]);
    git_ok(s, &["branch", "feature", "HEAD~1"]);
    git_ok(s, &["tag", "v1", "HEAD~1"]);
    let url = server.url_with_token("acme", "app", &token);
    git_ok(s, &["push", "-q", &url, "main", "feature", "v1"]);
    let agent = start_agent(&token, &server, extra);
    let ovl_dir = tempfile::tempdir().unwrap();
    let overlay = exec_overlay(git, &ovl_dir.path().join("exec"));
    Fx {
        token,
        git: git.to_path_buf(),
        srv,
        server,
        agent,
        work: tempfile::tempdir().unwrap(),
        overlay,
        _ovl_dir: ovl_dir,
    }
}

/// An agent for `server` allowed to use acme/*, with `extra` settings.
fn start_agent(token: &str, server: &GitHttpServer, extra: &[(&str, &str)]) -> Agent {
    let mut ab = Agent::builder()
        .hide_workspaces()
        .token(token)
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1");
    for (k, v) in extra {
        ab = ab.env(k, v);
    }
    ab.start()
}

/// A second agent for the fixture's server.
fn fx_agent(fx: &Fx, extra: &[(&str, &str)]) -> Agent {
    start_agent(&fx.token, &fx.server, extra)
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    git(dir, args)
}

impl Fx {
    fn url(&self) -> String {
        self.server.url("acme", "app")
    }
    fn w(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }
    fn gitgate(&self, cwd: &Path, args: &[&str]) -> Run {
        let r = Run::from(
            git_via_gitgate(&self.git, cwd, &self.overlay, &self.agent.socket)
                .args(args)
                .output()
                .unwrap(),
        );
        for f in token_forms(&self.token) {
            assert!(
                !r.stdout.contains(&f) && !r.stderr.contains(&f),
                "token leaked: {r:?}"
            );
        }
        r
    }
    fn direct(&self, cwd: &Path, args: &[&str]) -> Run {
        let helper = format!(
            "!f() {{ echo username=x-access-token; echo password={}; }}; f",
            self.token
        );
        Run::from(
            git_cmd(&self.git, cwd)
                .args(["-c", &format!("credential.helper={helper}")])
                .args(args)
                .output()
                .unwrap(),
        )
    }
    /// Set up a clone at `rel` (with direct git; the starting state of both runs).
    fn clone_direct(&self, rel: &str, extra: &[&str]) -> PathBuf {
        let mut args = vec!["clone", "-q"];
        args.extend_from_slice(extra);
        let url = self.url();
        args.push(&url);
        args.push(rel);
        self.direct(self.work.path(), &args).assert_code(0);
        self.w(rel)
    }
    /// receive-pack POSTs without a Content-Length (git's own large pushes, gitgate's streamed ones).
    fn chunked_receive_pack_posts(&self) -> usize {
        self.server
            .receive_pack_posts()
            .iter()
            .filter(|r| r.content_length.is_none())
            .count()
    }
    fn receive_pack_posts(&self) -> usize {
        self.server.receive_pack_posts().len()
    }
    fn server_refs(&self) -> String {
        refs_of(&bare(self))
    }
    /// Leak scan: no token form in any file of the work dir (clones, their config, FETCH_HEAD,
    /// reflogs), the agent's state dir (its caches, spool, audit log), its log, or its
    /// `/proc/<pid>/environ`.
    fn assert_token_nowhere(&self) {
        let forms = token_forms(&self.token);
        let check = |what: &str, bytes: &[u8]| {
            for f in &forms {
                assert!(
                    !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
                    "the token is in {what}"
                );
            }
        };
        let mut dirs = vec![self.work.path().to_path_buf(), self.agent.state.clone()];
        let mut files = 0;
        // The agent may still be moving a pushed pack into its cache (git does not wait for
        // that): a file gone between listing and reading was not kept, so there is nothing to scan.
        let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        while let Some(d) = dirs.pop() {
            let entries = match std::fs::read_dir(&d) {
                Ok(it) => it,
                Err(e) if gone(&e) => continue,
                Err(e) => panic!("{}: {e}", d.display()),
            };
            for e in entries.flatten() {
                let path = e.path();
                let Ok(ty) = e.file_type() else { continue };
                if ty.is_dir() {
                    dirs.push(path);
                } else if ty.is_file() {
                    match std::fs::read(&path) {
                        Ok(bytes) => check(&path.display().to_string(), &bytes),
                        Err(e) if gone(&e) => continue,
                        Err(e) => panic!("{}: {e}", path.display()),
                    }
                    files += 1;
                }
            }
        }
        assert!(files > 10, "the scan saw only {files} files");
        check("the agent log", self.agent.log_text().as_bytes());
        // The agent is not dumpable: only root may read its environ.
        match std::fs::read(format!("/proc/{}/environ", self.agent.pid())) {
            Ok(environ) => check("the agent's environ", &environ),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!("note: /proc/<agent>/environ not readable here (not root)")
            }
            Err(e) => panic!("/proc/<agent>/environ: {e}"),
        }
    }
}

/// Everything observable about the client repos and the server after a run.
fn observe(fx: &Fx, repos: &[&str], runs: Vec<Run>) -> Vec<String> {
    let mut out = Vec::new();
    for r in runs {
        out.push(format!("code {}", r.code));
        out.push(format!("stdout {}", r.stdout));
        out.push(format!("stderr {}", r.stderr));
    }
    for rel in repos {
        let d = fx.w(rel);
        if !d.exists() {
            out.push(format!("{rel}: absent"));
            continue;
        }
        let g = |args: &[&str]| {
            let o = git_status(&d, args);
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        out.push(format!(
            "{rel} refs {}",
            g(&[
                "for-each-ref",
                "--format=%(objectname) %(refname) %(upstream)"
            ])
        ));
        out.push(format!(
            "{rel} config {}",
            g(&["config", "--get-regexp", "^(remote|branch)\\."])
        ));
        out.push(format!(
            "{rel} reflog {}",
            g(&["reflog", "--all", "--format=%gd %gs"])
        ));
        out.push(format!("{rel} head {}", g(&["rev-parse", "HEAD"])));
        out.push(format!(
            "{rel} shallow {}",
            std::fs::read_to_string(d.join(".git/shallow")).unwrap_or_default()
        ));
        out.push(format!(
            "{rel} FETCH_HEAD {}",
            std::fs::read_to_string(d.join(".git/FETCH_HEAD")).unwrap_or_default()
        ));
        out.push(format!(
            "{rel} status {}",
            g(&["status", "--porcelain=v1", "-b"])
        ));
    }
    out.push(format!("server {}", fx.server_refs()));
    out
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    sh(&format!("cp -a '{}/.' '{}/'", from.display(), to.display()));
}

/// Run `steps` (cwd relative to the work dir, args) directly and through gitgate from the same
/// starting state (work dir and server restored in between) and compare everything.
fn differential(fx: &Fx, repos: &[&str], steps: &[(&str, Vec<&str>)]) {
    differential_with(fx, repos, steps, |direct| direct)
}

/// With `-v`, git's own HTTP transport (remote-curl) prints a debug line for every HTTP request it
/// makes (`POST git-upload-pack (186 bytes)`, or `(gzip N to M bytes)`, `(chunked)`). Through
/// gitgate git makes no HTTP request (its helper speaks the protocol over the agent's socket), so
/// exactly those lines are absent; this removes them from the direct run's stderr, and nothing else.
fn without_remote_curl_post_lines(mut direct: Run) -> Run {
    direct.stderr = direct
        .stderr
        .split_inclusive('\n')
        .filter(|l| {
            !(l.starts_with("POST git-upload-pack (") || l.starts_with("POST git-receive-pack ("))
        })
        .collect();
    direct
}

fn differential_with(
    fx: &Fx,
    repos: &[&str],
    steps: &[(&str, Vec<&str>)],
    direct_filter: impl Fn(Run) -> Run,
) {
    let snap = tempfile::tempdir().unwrap();
    let (srv_snap, work_snap) = (snap.path().join("srv"), snap.path().join("work"));
    copy_dir(fx.srv.path(), &srv_snap);
    copy_dir(fx.work.path(), &work_snap);
    let run_all = |through: bool| {
        let runs = steps
            .iter()
            .map(|(cwd, args)| {
                let cwd = fx.w(cwd);
                if through {
                    fx.gitgate(&cwd, args)
                } else {
                    direct_filter(fx.direct(&cwd, args))
                }
            })
            .collect();
        observe(fx, repos, runs)
    };
    let direct = run_all(false);
    copy_dir(&srv_snap, fx.srv.path());
    copy_dir(&work_snap, fx.work.path());
    let posts_before = fx.receive_pack_posts();
    let via = run_all(true);
    let _ = posts_before;
    let diffs: Vec<String> = direct
        .iter()
        .zip(&via)
        .filter(|(d, v)| d != v)
        .map(|(d, v)| format!("direct : {d}\ngitgate: {v}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{}: gitgate differs from direct git for {steps:?}\n{}\nagent log:\n{}",
        fx.git.display(),
        diffs.join("\n---\n"),
        fx.agent.log_text()
    );
}

fn each_git(f: impl Fn(&Path)) {
    for g in real_gits() {
        f(&g);
    }
}

#[test]
fn clone_variants_are_identical() {
    each_git(|g| {
        let fx = fx(g, &[]);
        let url = fx.url();
        differential(&fx, &["c"], &[("", vec!["clone", &url, "c"])]);
        differential(
            &fx,
            &["c"],
            &[("", vec!["clone", "--depth", "1", &url, "c"])],
        );
        differential(
            &fx,
            &["c"],
            &[("", vec!["clone", "--branch", "feature", &url, "c"])],
        );
        differential(
            &fx,
            &["c"],
            &[("", vec!["clone", "--filter=blob:none", &url, "c"])],
        );
        differential(&fx, &["c"], &[("", vec!["clone", "--bare", &url, "c"])]);
        differential(&fx, &[], &[("", vec!["ls-remote", &url])]);
        differential(
            &fx,
            &[],
            &[("", vec!["ls-remote", "--heads", &url, "feature"])],
        );
    });
}

impl Fx {
    /// A new commit on the server's `branch` (pushed directly), so fetches have work to do.
    fn server_commit(&self, branch: &str, file: &str) {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("c");
        let url = self.url();
        self.direct(d.path(), &["clone", "-q", "-b", branch, &url, "c"])
            .assert_code(0);
        std::fs::write(c.join(file), format!("{file}\n")).unwrap();
        git_ok(&c, &["add", "."]);
        git_ok(&c, &["commit", "-q", "-m", &format!("server {file}")]);
        self.direct(&c, &["push", "-q", "origin", branch])
            .assert_code(0);
    }
    fn local_commit(&self, repo: &Path, file: &str) {
        std::fs::write(repo.join(file), format!("{file}\n")).unwrap();
        git_ok(repo, &["add", "."]);
        git_ok(repo, &["commit", "-q", "-m", &format!("local {file}")]);
    }
}

#[test]
fn fetch_and_pull_variants_are_identical() {
    each_git(|g| {
        let fx = fx(g, &[]);
        let a = fx.clone_direct("a", &[]);
        fx.clone_direct("s", &["--depth", "1"]);
        git_ok(&a, &["config", "pull.rebase", "false"]);
        fx.server_commit("main", "m1.txt");
        fx.server_commit("feature", "f1.txt");
        git_ok(&bare(&fx), &["tag", "v2", "main"]);
        git_ok(&bare(&fx), &["branch", "gone", "main"]);
        let repos = ["a", "s"];
        // -v with something to fetch, then plain
        differential_with(
            &fx,
            &repos,
            &[("a", vec!["fetch", "-v"])],
            without_remote_curl_post_lines,
        );
        differential(&fx, &repos, &[("a", vec!["fetch"])]);
        differential(&fx, &repos, &[("a", vec!["fetch", "-q"])]);
        differential(&fx, &repos, &[("a", vec!["fetch", "--tags"])]);
        differential(
            &fx,
            &repos,
            &[(
                "a",
                vec!["fetch", "origin", "feature:refs/remotes/origin/x"],
            )],
        );
        differential(&fx, &repos, &[("a", vec!["fetch", "origin", "main"])]);
        differential(&fx, &repos, &[("s", vec!["fetch", "--depth", "2"])]);
        differential(&fx, &repos, &[("s", vec!["fetch", "--unshallow"])]);
        differential(&fx, &repos, &[("a", vec!["pull"])]);
        differential(&fx, &repos, &[("a", vec!["pull", "--ff-only"])]);
        differential(&fx, &repos, &[("a", vec!["remote", "update"])]);
        // a local commit: merge and rebase
        fx.local_commit(&a, "local.txt");
        differential(
            &fx,
            &repos,
            &[("a", vec!["pull", "--no-rebase", "--no-edit"])],
        );
        differential(&fx, &repos, &[("a", vec!["pull", "--rebase"])]);
        differential(&fx, &repos, &[("a", vec!["pull", "--ff-only"])]);
        // prune
        assert!(git_ok(&a, &["branch", "-r"]).contains("origin/gone"));
        git_ok(&bare(&fx), &["branch", "-D", "gone"]);
        differential(&fx, &repos, &[("a", vec!["fetch", "--prune"])]);
        // up to date
        differential(&fx, &repos, &[("a", vec!["fetch"]), ("a", vec!["fetch"])]);
        fx.assert_token_nowhere();
    });
}

#[test]
fn push_variants_are_identical() {
    each_git(|g| {
        let fx = fx(g, &[]);
        let a = fx.clone_direct("a", &[]);
        git_ok(&a, &["checkout", "-q", "-b", "claude/x"]);
        fx.local_commit(&a, "x.txt");
        let repos = ["a"];
        differential(&fx, &repos, &[("a", vec!["push", "-u", "origin", "HEAD"])]);
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "origin", "HEAD:claude/y"])],
        );
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "-q", "origin", "claude/x"])],
        );
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "-v", "origin", "claude/x"])],
        );
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "--porcelain", "origin", "claude/x"])],
        );
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "--dry-run", "origin", "claude/x"])],
        );
        differential(
            &fx,
            &repos,
            &[(
                "a",
                vec![
                    "push",
                    "--atomic",
                    "origin",
                    "claude/x",
                    "HEAD:refs/heads/claude/z",
                ],
            )],
        );
        differential(
            &fx,
            &repos,
            &[(
                "a",
                vec!["push", "origin", "claude/x", "HEAD~1:refs/heads/claude/w"],
            )],
        );
        // no upstream configured: git's own fatal
        differential(&fx, &repos, &[("a", vec!["push"])]);
        // pushed once, then a fast-forward on top, then up to date
        differential(
            &fx,
            &repos,
            &[
                ("a", vec!["push", "-u", "origin", "HEAD"]),
                ("a", vec!["commit", "-q", "--allow-empty", "-m", "more"]),
                ("a", vec!["push"]),
                ("a", vec!["push"]),
            ],
        );
        // non-fast-forward: git refuses it itself from the advertisement
        fx.server_commit("feature", "f2.txt");
        git_ok(&a, &["checkout", "-q", "-b", "feature", "origin/feature"]);
        fx.local_commit(&a, "f3.txt");
        differential(&fx, &repos, &[("a", vec!["push", "origin", "feature"])]);
        // a repository pre-push hook that refuses
        let hook = a.join(".git/hooks/pre-push");
        std::fs::write(&hook, "#!/bin/sh\necho 'hook: no' >&2\nexit 1\n").unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&hook).unwrap().permissions(),
            0o755,
        );
        sh(&format!("chmod 755 '{}'", hook.display()));
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "origin", "HEAD:claude/hooked"])],
        );
        std::fs::remove_file(&hook).unwrap();
        // a pre-receive hook printing remote: lines
        install_hook(
            &bare(&fx),
            "pre-receive",
            "#!/bin/sh\necho 'remote says hi'\nexit 0\n",
        );
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "origin", "HEAD:claude/remote"])],
        );
        install_hook(
            &bare(&fx),
            "pre-receive",
            "#!/bin/sh\necho 'denied by server'\nexit 1\n",
        );
        differential(
            &fx,
            &repos,
            &[("a", vec!["push", "origin", "HEAD:claude/remote2"])],
        );
        fx.assert_token_nowhere();
    });
}

#[test]
fn large_pushes_are_identical() {
    // Over 1 MiB the agent streams the pack to receive-pack while git is still sending it (a new
    // branch at once; a fast-forward once the pack's leading commit confirms it): what git prints,
    // the refs and what the server's hooks print must not change.
    each_git(|g| {
        let fx = fx(g, &[]);
        let a = fx.clone_direct("a", &[]);
        git_ok(&a, &["checkout", "-q", "-b", "claude/big"]);
        for (i, name) in ["big1.bin", "big2.bin"].iter().enumerate() {
            std::fs::write(a.join(name), incompressible(3 << 20, i as u64 + 1)).unwrap();
            git_ok(&a, &["add", "."]);
            git_ok(&a, &["commit", "-q", "-m", name]);
        }
        install_hook(
            &bare(&fx),
            "pre-receive",
            "#!/bin/sh\necho 'remote saw a big push'\nexit 0\n",
        );
        let chunked_before = fx.chunked_receive_pack_posts();
        differential(
            &fx,
            &["a"],
            &[
                ("a", vec!["push", "origin", "HEAD~1:refs/heads/claude/big"]),
                ("a", vec!["push", "-u", "origin", "HEAD"]),
            ],
        );
        // Direct git sends each of its two pushes (over http.postBuffer) as one chunked POST;
        // gitgate sent at least the new branch as a streamed, chunked one.
        assert!(
            fx.chunked_receive_pack_posts() >= chunked_before + 3,
            "{:?}",
            fx.server.requests()
        );
        fx.assert_token_nowhere();
    });
}

/// A refused push: git's own `! [remote rejected]` line with the gitgate reason, exit 1, the
/// server's refs unchanged, and no receive-pack POST reached the server.
fn assert_refused(fx: &Fx, repo: &Path, args: &[&str], expect: &[&str]) {
    let before = fx.server_refs();
    let posts = fx.receive_pack_posts();
    let r = fx.gitgate(repo, args);
    assert_eq!(r.code, 1, "{args:?}: {r:?}\n{}", fx.agent.log_text());
    for e in expect {
        assert!(
            r.stderr.contains(e),
            "{args:?}: missing {e:?} in:\n{}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("fatal:"), "{args:?}: {}", r.stderr);
    assert_eq!(fx.server_refs(), before, "{args:?} changed the server");
    assert_eq!(
        fx.receive_pack_posts(),
        posts,
        "{args:?} reached receive-pack"
    );
}

#[test]
fn refused_pushes_use_gits_own_format_and_never_reach_upstream() {
    each_git(|g| {
        let fx = fx(g, &[]);
        let a = fx.clone_direct("a", &[]);
        fx.local_commit(&a, "x.txt");
        // the server's feature moves on: HEAD no longer descends from it
        fx.server_commit("feature", "f.txt");
        let main = "! [remote rejected] main -> main (gitgate: branch 'main' is protected (BLOCKED_BRANCHES))";
        assert_refused(
            &fx,
            &a,
            &["push", "origin", "main"],
            &[main, "error: failed to push some refs"],
        );
        assert_refused(&fx, &a, &["push", "origin", "HEAD:main"], &["! [remote rejected] HEAD -> main (gitgate: branch 'main' is protected (BLOCKED_BRANCHES))"]);
        assert_refused(
            &fx,
            &a,
            &["push", "origin", "HEAD:MAIN"],
            &["(gitgate: branch 'MAIN' is protected (BLOCKED_BRANCHES))"],
        );
        assert_refused(
            &fx,
            &a,
            &["push", "origin", "HEAD:refs/heads/main"],
            &[main.replace("main -> main", "HEAD -> main").as_str()],
        );
        assert_refused(
            &fx,
            &a,
            &["push", "origin", "+HEAD:master"],
            &["(gitgate: branch 'master' is protected (BLOCKED_BRANCHES))"],
        );
        assert_refused(
            &fx,
            &a,
            &["push", "--all", "origin"],
            &["(gitgate: branch 'main' is protected (BLOCKED_BRANCHES))"],
        );
        assert_refused(&fx, &a, &["push", "origin", "--delete", "feature"], &["! [remote rejected] feature (gitgate: deleting branch 'feature' is not allowed (ALLOW_DELETE_REMOTE))"]);
        assert_refused(
            &fx,
            &a,
            &["push", "origin", ":feature"],
            &["(ALLOW_DELETE_REMOTE)"],
        );
        assert_refused(&fx, &a, &["push", "--force", "origin", "HEAD:feature"], &["! [remote rejected] HEAD -> feature (gitgate: non-fast-forward update of branch 'feature' is not allowed (ALLOW_FORCE_PUSH))"]);
        fx.direct(&a, &["fetch", "-q"]).assert_code(0);
        assert_refused(
            &fx,
            &a,
            &["push", "--force-with-lease", "origin", "HEAD:feature"],
            &["(ALLOW_FORCE_PUSH)"],
        );
        git_ok(&a, &["tag", "v9"]);
        assert_refused(&fx, &a, &["push", "origin", "v9"], &["! [remote rejected] v9 -> v9 (gitgate: pushing tag 'v9' is not allowed (ALLOW_TAG_PUSH))"]);
        assert_refused(
            &fx,
            &a,
            &["push", "--tags", "origin"],
            &["(ALLOW_TAG_PUSH)"],
        );
        assert_refused(&fx, &a, &["push", "origin", "HEAD:refs/notes/commits"], &["only branches (refs/heads/) and tags (refs/tags/) can be pushed; 'refs/notes/commits' refused"]);
        assert_refused(
            &fx,
            &a,
            &["push", "origin", "HEAD:refs/pull/1/head"],
            &["'refs/pull/1/head' refused"],
        );
        assert_refused(
            &fx,
            &a,
            &["push", "-o", "ci.skip", "origin", "HEAD:claude/opt"],
            &["(gitgate: push options are not allowed ('ci.skip'))"],
        );
        // All or nothing: an allowed ref next to a refused one is not pushed either.
        assert_refused(
            &fx,
            &a,
            &["push", "origin", "HEAD:claude/ok", "HEAD:main"],
            &[
                "! [remote rejected] HEAD -> claude/ok (gitgate: not pushed because another ref in this push was refused)",
                "! [remote rejected] HEAD -> main (gitgate: branch 'main' is protected (BLOCKED_BRANCHES))",
            ],
        );
        assert!(fx.agent.log_text().is_empty() || !fx.agent.log_text().contains("panick"));
    });
}

#[test]
fn refused_remotes_say_why() {
    each_git(|g| {
        let fx = fx(g, &[]);
        let w = fx.work.path();
        let port = fx.server.port();
        let cases: Vec<(String, &str)> = vec![
            (
                format!("http://127.0.0.1:{port}/evil/app.git"),
                "fatal: gitgate: repository 'evil/app' is not in ALLOWED_REPOS (ALLOWED_REPOS; or ALLOW_PUBLIC_FETCH=true",
            ),
            (
                format!("http://localhost:{port}/acme/app.git"),
                "fatal: gitgate: host 'localhost:",
            ),
            (
                format!("http://x-access-token:secret@127.0.0.1:{port}/acme/app.git"),
                "fatal: gitgate: URLs with a user name or credentials are refused",
            ),
            (
                format!("http://127.0.0.1:{port}/acme/app/extra.git"),
                "fatal: gitgate: not a repository URL gitgate understands",
            ),
        ];
        for (url, want) in cases {
            let before = fx.server.request_count();
            for args in [
                vec!["ls-remote", url.as_str()],
                vec!["clone", url.as_str(), "c"],
            ] {
                let r = fx.gitgate(w, &args);
                assert_eq!(r.code, 128, "{args:?}: {r:?}");
                assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
                assert!(!r.stderr.contains("secret"), "{}", r.stderr);
                assert!(!w.join("c").exists());
            }
            assert_eq!(
                fx.server.request_count(),
                before,
                "{url} reached the server"
            );
        }
        // a push to another (allowed-looking but unlisted) repository
        let a = fx.clone_direct("a", &[]);
        let r = fx.gitgate(
            &a,
            &[
                "push",
                &format!("http://127.0.0.1:{port}/other/app.git"),
                "HEAD:claude/x",
            ],
        );
        assert_eq!(r.code, 128);
        assert!(
            r.stderr.contains(
                "fatal: gitgate: repository 'other/app' is not in ALLOWED_REPOS (ALLOWED_REPOS)"
            ),
            "{}",
            r.stderr
        );
        // ssh forms never reach the helper; the agent refuses them if asked directly
        // (see the agent's unit tests).
    });
}

/// Native mode: `git` is the shim, which execs the real git with the GIT_EXEC_PATH overlay and
/// the template dir holding the advisory pre-push hook.
#[test]
fn native_git_shim_installs_the_hook_which_refuses_early_and_never_replaces_a_repo_hook() {
    let fx = fx(Path::new(REAL_GIT), &[]);
    let overlay = tempfile::tempdir().unwrap();
    let native = |cwd: &Path, args: &[&str]| {
        let mut c = fx.agent.cmd("git", cwd);
        c.env("GITGATE_OVERLAY_DIR", overlay.path().join("o"))
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .args(args);
        let r = Run::from(c.output().unwrap());
        for f in token_forms(&fx.token) {
            assert!(!r.stderr.contains(&f) && !r.stdout.contains(&f), "{r:?}");
        }
        r
    };
    let w = fx.work.path();
    let url = fx.url();
    // ssh remotes go around gitgate: git's ssh command is the shim, which refuses
    for (args, want) in [
        (
            vec!["clone", "git@127.0.0.1:acme/app.git", "s"],
            "gitgate: ssh remotes are not supported (git would connect over ssh, around gitgate); use https://127.0.0.1/acme/app.git",
        ),
        (
            vec!["ls-remote", "ssh://git@127.0.0.1:2222/acme/app"],
            "use https://127.0.0.1/acme/app.git",
        ),
    ] {
        let before = fx.server.request_count();
        let r = native(w, &args);
        assert_eq!(r.code, 128, "{r:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("fatal: Could not read from remote repository."), "{}", r.stderr);
        assert_eq!(fx.server.request_count(), before);
        assert!(!w.join("s").exists());
    }
    native(w, &["clone", "-q", &url, "a"]).assert_code(0);
    let a = w.join("a");
    let hook = std::fs::read_to_string(a.join(".git/hooks/pre-push")).unwrap();
    assert_eq!(hook, include_str!("../../hooks/pre-push"));
    // the real git's own commands are untouched
    assert_eq!(
        native(&a, &["rev-parse", "HEAD"]).stdout.trim(),
        git_ok(&a, &["rev-parse", "HEAD"])
    );
    fx.local_commit(&a, "n.txt");
    let posts = fx.receive_pack_posts();
    let r = native(&a, &["push", "origin", "HEAD:main"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("gitgate: branch 'main' is protected (BLOCKED_BRANCHES)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("error: failed to push some refs"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("[remote rejected]"),
        "the hook refuses before any pack: {}",
        r.stderr
    );
    // allowed pushes go through, hook and all
    native(&a, &["push", "-q", "origin", "HEAD:claude/native"]).assert_code(0);
    assert_eq!(fx.receive_pack_posts(), posts + 1);
    // a repository's own hooks (husky: core.hooksPath) run instead; the agent alone enforces
    std::fs::create_dir_all(a.join(".husky")).unwrap();
    std::fs::write(
        a.join(".husky/pre-push"),
        "#!/bin/sh\necho 'husky ran' >&2\n",
    )
    .unwrap();
    sh(&format!(
        "chmod 755 '{}'",
        a.join(".husky/pre-push").display()
    ));
    git_ok(&a, &["config", "core.hooksPath", ".husky"]);
    let r = native(&a, &["push", "origin", "HEAD:main"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("husky ran"), "{}", r.stderr);
    assert!(r.stderr.contains("! [remote rejected] HEAD -> main (gitgate: branch 'main' is protected (BLOCKED_BRANCHES))"), "{}", r.stderr);
    assert_eq!(fx.receive_pack_posts(), posts + 1);
    // init never replaces an existing hook
    let b = w.join("b");
    git_ok(w, &["init", "-q", "b"]);
    std::fs::write(b.join(".git/hooks/pre-push"), "#!/bin/sh\nexit 0\n").unwrap();
    native(&b, &["init", "-q"]).assert_code(0);
    assert_eq!(
        std::fs::read_to_string(b.join(".git/hooks/pre-push")).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
}

/// The hook under dash (POSIX sh): the agent's verdict per ref line, ancestry worked out locally.
#[test]
fn pre_push_hook_under_dash() {
    let Some(dash) = ["/usr/bin/dash", "/bin/dash"]
        .iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("dash not installed: skipped");
        return;
    };
    let fx = fx(Path::new(REAL_GIT), &[]);
    let a = fx.clone_direct("a", &[]);
    let head = git_ok(&a, &["rev-parse", "HEAD"]);
    let base = git_ok(&a, &["rev-parse", "HEAD~1"]);
    let z = "0".repeat(40);
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hooks/pre-push");
    let run = |lines: String| {
        let mut c = git_cmd(Path::new(dash), &a);
        c.env("PATH", format!("{}:/usr/bin:/bin", fx.agent.bin.display()))
            .env("GITGATE_SOCKET", &fx.agent.socket)
            .arg(&hook)
            .args(["origin", &fx.url()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.as_bytes()).unwrap();
        Run::from(child.wait_with_output().unwrap())
    };
    run(format!("refs/heads/main {head} refs/heads/claude/x {z}\n")).assert_code(0);
    run(format!(
        "refs/heads/main {head} refs/heads/feature {base}\n"
    ))
    .assert_code(0);
    let r = run(format!(
        "refs/heads/main {base} refs/heads/feature {head}\n"
    ));
    assert_eq!(r.code, 126, "{r:?}");
    assert!(
        r.stderr.contains(
            "non-fast-forward update of branch 'feature' is not allowed (ALLOW_FORCE_PUSH)"
        ),
        "{}",
        r.stderr
    );
    let r = run(format!("refs/heads/main {head} refs/heads/claude/ok {z}\nrefs/heads/main {head} refs/heads/main {base}\n"));
    assert_eq!(r.code, 126, "{r:?}");
    assert_eq!(
        r.stderr.trim_end(),
        "gitgate: branch 'main' is protected (BLOCKED_BRANCHES)"
    );
    // an unknown remote object: the agent decides on the real push
    run(format!(
        "refs/heads/main {head} refs/heads/feature {}\n",
        "e".repeat(40)
    ))
    .assert_code(0);
}

/// `ALLOW_PUBLIC_FETCH`: a repository outside `ALLOWED_REPOS` is fetched without any
/// credentials (the server sees no `Authorization` at all), exactly as direct git fetches a public
/// repository; pushes to it stay refused; a private one gets a message saying why; without the
/// setting the refusal names it and nothing reaches the server.
#[test]
fn public_repositories_are_fetched_without_credentials_only_when_allowed() {
    each_git(|g| {
        let fx = fx(g, &[("ALLOW_PUBLIC_FETCH", "true")]);
        let port = fx.server.port();
        let b = init_bare(fx.srv.path(), "pub", "lib");
        git_ok(&b, &["config", "uploadpack.allowFilter", "true"]);
        let seed = fx.clone_direct("seed", &[]);
        git_ok(
            &seed,
            &[
                "push",
                "-q",
                &fx.server.url_with_token("pub", "lib", &fx.token),
                "main",
            ],
        );
        fx.server.set_public("pub", "lib");
        init_bare(fx.srv.path(), "priv", "secret");
        let public = format!("http://127.0.0.1:{port}/pub/lib.git");
        let path_of = |r: &RecordedRequest| r.path.starts_with("/pub/lib.git/");

        let before = fx.server.requests().len();
        differential(&fx, &["p"], &[("", vec!["clone", &public, "p"])]);
        differential(
            &fx,
            &["p"],
            &[
                ("", vec!["clone", "--depth", "1", &public, "p"]),
                ("p", vec!["fetch"]),
            ],
        );
        let seen: Vec<RecordedRequest> = fx.server.requests()[before..]
            .iter()
            .filter(|r| path_of(r))
            .cloned()
            .collect();
        assert!(seen.len() >= 4, "{seen:?}");
        assert!(
            seen.iter().all(|r| !r.had_auth && r.status == 200),
            "a public fetch carried credentials: {seen:?}"
        );

        // a push to it is refused (not in ALLOWED_REPOS), nothing reaches the server
        let p = fx.w("p");
        let before = fx.server.request_count();
        let r = fx.gitgate(&p, &["push", "origin", "HEAD:refs/heads/claude/x"]);
        assert_eq!(r.code, 128, "{r:?}");
        assert!(
            r.stderr.contains(
                "fatal: gitgate: repository 'pub/lib' is not in ALLOWED_REPOS (ALLOWED_REPOS)"
            ),
            "{}",
            r.stderr
        );
        assert_eq!(
            fx.server.request_count(),
            before,
            "the push reached the server"
        );

        // a private repository: the server wants credentials, the agent never sends the token
        let before = fx.server.requests().len();
        let r = fx.gitgate(
            fx.work.path(),
            &[
                "clone",
                &format!("http://127.0.0.1:{port}/priv/secret.git"),
                "s",
            ],
        );
        assert_eq!(r.code, 128, "{r:?}");
        assert!(
            r.stderr.contains(
                "fatal: gitgate: 'priv/secret' is not in ALLOWED_REPOS, so it was fetched without credentials (ALLOW_PUBLIC_FETCH) and the server answered 401"
            ),
            "{}",
            r.stderr
        );
        let seen = &fx.server.requests()[before..];
        assert!(
            !seen.is_empty() && seen.iter().all(|r| !r.had_auth),
            "{seen:?}"
        );

        let lines = fx.agent.audit();
        assert!(lines
            .iter()
            .any(|l| l["repo"] == "pub/lib" && l["anonymous"] == true && l["code"] == 0));
        assert!(lines
            .iter()
            .filter(|l| l["repo"] == "acme/app")
            .all(|l| l["anonymous"] == false));

        // without the setting: refused, naming it, and the server sees nothing
        let strict = fx_agent(&fx, &[]);
        let before = fx.server.request_count();
        let r = Run::from(
            git_via_gitgate(&fx.git, fx.work.path(), &fx.overlay, &strict.socket)
                .args(["ls-remote", &public])
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 128, "{r:?}");
        assert!(
            r.stderr.contains(
                "fatal: gitgate: repository 'pub/lib' is not in ALLOWED_REPOS (ALLOWED_REPOS; or ALLOW_PUBLIC_FETCH=true to fetch public repositories without credentials)"
            ),
            "{}",
            r.stderr
        );
        assert_eq!(fx.server.request_count(), before);
    });
}

/// git's child processes (submodule clones, `fetch --all`'s per-remote fetches) reach gitgate too,
/// because the helper is in git's exec path, not in one process's argv.
#[test]
fn submodules_and_fetch_all_are_identical() {
    each_git(|g| {
        let fx = fx(g, &[]);
        let lib = init_bare(fx.srv.path(), "acme", "lib");
        let lib_url = fx.server.url("acme", "lib");
        let seed = fx.clone_direct("seed", &[]);
        git_ok(
            &seed,
            &[
                "push",
                "-q",
                &fx.server.url_with_token("acme", "lib", &fx.token),
                "main",
            ],
        );
        let _ = lib;
        // app gets the submodule (as a user would add it, directly)
        fx.direct(&seed, &["submodule", "add", "-q", &lib_url, "lib"])
            .assert_code(0);
        git_ok(&seed, &["commit", "-q", "-m", "add lib"]);
        fx.direct(&seed, &["push", "-q", "origin", "main"])
            .assert_code(0);
        std::fs::remove_dir_all(&seed).unwrap();
        let url = fx.url();
        differential(
            &fx,
            &["c", "c/lib"],
            &[("", vec!["clone", "--recurse-submodules", &url, "c"])],
        );
        fx.clone_direct("d", &[]);
        differential(
            &fx,
            &["d", "d/lib"],
            &[("d", vec!["submodule", "update", "--init"])],
        );
        // a second remote; both fetched by `fetch --all`, each by its own git child process
        let a = fx.clone_direct("a", &[]);
        git_ok(&a, &["remote", "add", "lib", &lib_url]);
        fx.server_commit("main", "m1.txt");
        differential(&fx, &["a"], &[("a", vec!["fetch", "--all"])]);
        differential(
            &fx,
            &["a"],
            &[("a", vec!["fetch", "--multiple", "origin", "lib"])],
        );
        differential(&fx, &["a"], &[("a", vec!["remote", "update"])]);
        fx.assert_token_nowhere();
    });
}

/// A fast-forward the agent cannot confirm because upstream's history cannot be read (its cache
/// refresh fails) is refused saying exactly that, not as a non-fast-forward; once upstream
/// answers again the same push goes through.
#[test]
fn an_unverifiable_fast_forward_says_why_and_is_not_called_non_fast_forward() {
    let fx = fx(Path::new(REAL_GIT), &[]);
    let a = fx.clone_direct("a", &[]);
    // claude/ff at the first commit; the push builds on main's tip (already upstream), so the
    // pack holds only the new commit and its ancestry needs upstream's history.
    fx.direct(&a, &["push", "-q", "origin", "HEAD~1:refs/heads/claude/ff"])
        .assert_code(0);
    fx.local_commit(&a, "ff.txt");
    fx.server.set_refuse_fetches(true);
    let posts = fx.receive_pack_posts();
    let r = fx.gitgate(&a, &["push", "origin", "HEAD:claude/ff"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("! [remote rejected] HEAD -> claude/ff (gitgate: cannot check that this is a fast-forward: the agent could not update its copy of the repository from upstream ("),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("ALLOW_FORCE_PUSH"), "{}", r.stderr);
    assert_eq!(fx.receive_pack_posts(), posts);
    fx.server.set_refuse_fetches(false);
    let r = fx.gitgate(&a, &["push", "-q", "origin", "HEAD:claude/ff"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(fx.receive_pack_posts(), posts + 1);
    fx.assert_token_nowhere();
}
