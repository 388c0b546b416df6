//! End-to-end network git (issue 3): real smart-HTTP server with Basic auth, the built agent and
//! shim, a real workspace. Every test also checks the token never reaches any output.

use base64::Engine as _;
use gitgate_e2e::*;
use std::path::{Path, PathBuf};

struct Setup {
    token: String,
    _srv_root: tempfile::TempDir,
    bare: PathBuf,
    server: GitHttpServer,
    agent: Agent,
}

fn token_forms(token: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        token.to_owned(),
        b64.encode(token),
        b64.encode(format!("x-access-token:{token}")),
    ]
}

fn assert_no_token(r: &Run, token: &str) {
    for form in token_forms(token) {
        assert!(
            !r.stdout.contains(&form) && !r.stderr.contains(&form),
            "token leaked in {r:?}"
        );
    }
}

/// A server with `acme/app` holding one commit on main, and an agent allowed to use it.
fn setup_with(agent_token: Option<&str>, extra: &[(&str, &str)]) -> Setup {
    let token = random_token();
    let srv_root = tempfile::tempdir().unwrap();
    let bare = init_bare(srv_root.path(), "acme", "app");
    let server = GitHttpServer::start(srv_root.path(), &token).unwrap();
    // Seed the server directly with the real git CLI (test setup, not through gitgate).
    let seed = tempfile::tempdir().unwrap();
    git(seed.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(seed.path().join("README.md"), "seed\n").unwrap();
    git(seed.path(), &["add", "."]);
    git(seed.path(), &["commit", "-q", "-m", "seed"]);
    git(
        seed.path(),
        &[
            "push",
            "-q",
            &server.url_with_token("acme", "app", &token),
            "main",
        ],
    );
    let mut b = Agent::builder()
        .token(agent_token.unwrap_or(&token))
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("ALLOWED_BRANCH_PATTERNS", r#"["claude/*","feature/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1");
    for (k, v) in extra {
        b = b.env(k, v);
    }
    let agent = b.start();
    Setup {
        token,
        _srv_root: srv_root,
        bare,
        server,
        agent,
    }
}

fn setup() -> Setup {
    setup_with(None, &[])
}

impl Setup {
    fn clone(&self, name: &str) -> PathBuf {
        let r = self.agent.run(
            "git",
            &self.agent.workspace,
            &["clone", &self.server.url("acme", "app"), name],
        );
        r.assert_code(0);
        assert_no_token(&r, &self.token);
        self.agent.workspace.join(name)
    }
    fn commit(&self, repo: &Path, file: &str, text: &str) -> String {
        std::fs::write(repo.join(file), text).unwrap();
        git(repo, &["add", file]);
        git(repo, &["commit", "-q", "-m", &format!("edit {file}")]);
        git(repo, &["rev-parse", "HEAD"])
    }
    fn server_ref(&self, name: &str) -> Option<String> {
        let out = git_status(&self.bare, &["rev-parse", "--verify", "-q", name]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
    fn run(&self, repo: &Path, args: &[&str]) -> Run {
        let r = self.agent.run("git", repo, args);
        assert_no_token(&r, &self.token);
        r
    }
}

#[test]
fn clone_push_fetch_pull_round_trip() {
    let s = setup();
    let a = s.clone("a");
    assert_eq!(
        git(&a, &["remote", "get-url", "origin"]),
        s.server.url("acme", "app")
    );
    assert_eq!(
        git(&a, &["rev-parse", "origin/main"]),
        s.server_ref("main").unwrap()
    );
    assert!(!std::fs::read_to_string(a.join(".git/config"))
        .unwrap()
        .contains(&s.token));

    // push -u of a new branch
    git(&a, &["checkout", "-q", "-b", "claude/feat"]);
    let c1 = s.commit(&a, "f.txt", "one\n");
    let r = s.run(&a, &["push", "-u", "origin", "claude/feat"]);
    r.assert_code(0);
    assert!(
        r.stderr
            .contains(&format!("To {}", s.server.url("acme", "app"))),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(" * [new branch]      claude/feat -> claude/feat"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("branch 'claude/feat' set up to track 'origin/claude/feat'."),
        "{}",
        r.stdout
    );
    assert_eq!(
        s.server_ref("refs/heads/claude/feat").as_deref(),
        Some(c1.as_str())
    );
    assert_eq!(git(&a, &["rev-parse", "origin/claude/feat"]), c1);
    assert_eq!(
        git(&a, &["config", "branch.claude/feat.merge"]),
        "refs/heads/claude/feat"
    );

    // fast-forward push with no arguments (current branch)
    let c2 = s.commit(&a, "f.txt", "two\n");
    let r = s.run(&a, &["push"]);
    r.assert_code(0);
    assert!(
        r.stderr.contains(&format!(
            "   {}..{}  claude/feat -> claude/feat",
            &c1[..7],
            &c2[..7]
        )),
        "{}",
        r.stderr
    );
    assert_eq!(
        s.server_ref("refs/heads/claude/feat").as_deref(),
        Some(c2.as_str())
    );

    // a second clone pushes; the first fetches and pulls
    let b = s.clone("b");
    git(&b, &["checkout", "-q", "claude/feat"]);
    let c3 = s.commit(&b, "g.txt", "from b\n");
    s.run(&b, &["push", "origin", "claude/feat"]).assert_code(0);
    let r = s.run(&a, &["fetch", "origin"]);
    r.assert_code(0);
    assert_eq!(git(&a, &["rev-parse", "origin/claude/feat"]), c3);
    assert_eq!(
        git(&a, &["rev-parse", "FETCH_HEAD"])
            .lines()
            .next()
            .unwrap_or(""),
        c3
    );
    s.run(&a, &["pull", "--ff-only"]).assert_code(0);
    assert_eq!(git(&a, &["rev-parse", "HEAD"]), c3);

    // divergent: pull --rebase
    let c4 = s.commit(&b, "g.txt", "b again\n");
    s.run(&b, &["push"]).assert_code(0);
    s.commit(&a, "h.txt", "a local\n");
    let r = s.run(&a, &["pull", "--rebase"]);
    r.assert_code(0);
    assert_eq!(git(&a, &["rev-parse", "HEAD~1"]), c4);
    s.run(&a, &["push"]).assert_code(0);
    assert_eq!(
        s.server_ref("refs/heads/claude/feat"),
        Some(git(&a, &["rev-parse", "HEAD"]))
    );

    // merge pull: both sides have new commits
    s.run(&b, &["pull", "--ff-only"]).assert_code(0);
    s.commit(&b, "i.txt", "b3\n");
    let c5 = s.commit(&a, "j.txt", "a3\n");
    s.run(&a, &["push"]).assert_code(0);
    let r = s.run(&b, &["pull", "--no-rebase", "--no-edit"]);
    r.assert_code(0);
    assert_eq!(
        git(&b, &["rev-list", "--parents", "-1", "HEAD"])
            .split(' ')
            .count(),
        3,
        "a merge commit"
    );
    assert_eq!(git(&b, &["rev-parse", "HEAD^2"]), c5);

    // remote update refreshes through the mirror too
    let c6 = s.commit(&b, "k.txt", "b4\n");
    s.run(&b, &["push"]).assert_code(0);
    s.run(&a, &["remote", "update"]).assert_code(0);
    assert_eq!(git(&a, &["rev-parse", "origin/claude/feat"]), c6);

    // ls-remote
    let r = s.run(&a, &["ls-remote", "origin"]);
    r.assert_code(0);
    assert!(r.stdout.contains("refs/heads/claude/feat"), "{}", r.stdout);
    assert!(r.stdout.contains("refs/heads/main"), "{}", r.stdout);
}

#[test]
fn non_fast_forward_is_rejected_like_git_and_changes_nothing() {
    let s = setup();
    let a = s.clone("a");
    let b = s.clone("b");
    git(&a, &["checkout", "-q", "-b", "claude/x"]);
    s.commit(&a, "a.txt", "a\n");
    s.run(&a, &["push", "origin", "claude/x"]).assert_code(0);
    git(&b, &["checkout", "-q", "-b", "claude/x"]);
    s.commit(&b, "b.txt", "b\n");
    let before = refs_of(&s.bare);
    let r = s.run(&b, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(" ! [rejected]        claude/x -> claude/x ("),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("error: failed to push some refs to"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert_eq!(refs_of(&s.bare), before);

    // Once b has the remote commit locally (fetch) it is a true non-fast-forward.
    s.run(&b, &["fetch"]).assert_code(0);
    let r = s.run(&b, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("(non-fast-forward)"), "{}", r.stderr);
    assert_eq!(refs_of(&s.bare), before);
}

#[test]
fn server_side_hook_declining_is_a_failure() {
    let s = setup();
    githttp::install_hook(
        &s.bare,
        "pre-receive",
        "#!/bin/sh\necho 'policy says no' >&2\nexit 1\n",
    );
    let a = s.clone("a");
    git(&a, &["checkout", "-q", "-b", "claude/x"]);
    s.commit(&a, "a.txt", "a\n");
    let before = refs_of(&s.bare);
    let r = s.run(&a, &["push", "origin", "claude/x"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("[remote rejected] claude/x -> claude/x"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("remote: policy says no"), "{}", r.stderr);
    assert_eq!(refs_of(&s.bare), before);
    assert!(git_status(
        &a,
        &[
            "rev-parse",
            "--verify",
            "-q",
            "refs/remotes/origin/claude/x"
        ]
    )
    .stdout
    .is_empty());
}

#[test]
fn wrong_token_is_a_clear_auth_error() {
    let wrong = random_token();
    let s = setup_with(Some(&wrong), &[]);
    let a = s.agent.workspace_repo("a", &s.server.url("acme", "app"));
    git(&a, &["checkout", "-q", "-b", "claude/x"]);
    let before = refs_of(&s.bare);
    let seen = s.server.request_count();
    for args in [
        &["push", "origin", "claude/x"][..],
        &["fetch", "origin"],
        &["ls-remote", "origin"],
    ] {
        let r = s.run(&a, args);
        assert_eq!(r.code, 128, "git {args:?}: {r:?}");
        assert!(r.stderr.contains("Authentication failed"), "{}", r.stderr);
        assert_no_token(&r, &wrong);
    }
    let r = s.run(
        &s.agent.workspace,
        &["clone", &s.server.url("acme", "app"), "c"],
    );
    assert_eq!(r.code, 128);
    assert_no_token(&r, &wrong);
    assert_eq!(refs_of(&s.bare), before);
    assert!(
        s.server.requests()[seen..].iter().all(|q| !q.auth_ok),
        "the wrong token was accepted?"
    );
}

#[test]
fn repository_outside_allowed_repos_is_refused() {
    let s = setup();
    let other = s
        .agent
        .workspace_repo("o", &format!("http://{}/evil/app.git", s.server.host()));
    let n = s.server.request_count();
    for args in [
        &["push", "origin", "HEAD:claude/x"][..],
        &["fetch"],
        &["pull"],
        &["ls-remote"],
    ] {
        let r = s.run(&other, args);
        assert_eq!(r.code, 126, "{args:?}: {r:?}");
        assert!(r.stderr.contains("ALLOWED_REPOS"), "{}", r.stderr);
    }
    let r = s.run(
        &s.agent.workspace,
        &["clone", &format!("http://{}/evil/app.git", s.server.host())],
    );
    assert_eq!(r.code, 126);
    assert_eq!(s.server.request_count(), n);
}

// ---- hostile workspace (DESIGN §9.1, §9.6) ----

/// A second, "attacker" server on another loopback port, that must receive nothing.
fn attacker(token: &str) -> (tempfile::TempDir, GitHttpServer) {
    let root = tempfile::tempdir().unwrap();
    init_bare(root.path(), "acme", "app");
    let srv = GitHttpServer::start(root.path(), token).unwrap();
    (root, srv)
}

fn hostile_repo(s: &Setup, name: &str) -> PathBuf {
    let a = s.clone(name);
    git(&a, &["checkout", "-q", "-b", "claude/x"]);
    s.commit(&a, "a.txt", "a\n");
    a
}

#[test]
fn insteadof_pushurl_and_proxy_never_redirect_the_agent() {
    let s = setup();
    let (_root, evil) = attacker(&s.token);
    let real = s.server.url("acme", "app");
    let evil_url = evil.url("acme", "app");
    let a = hostile_repo(&s, "a");
    git(&a, &["config", &format!("url.{evil_url}.insteadOf"), &real]);
    git(
        &a,
        &["config", &format!("url.{evil_url}.pushInsteadOf"), &real],
    );
    git(&a, &["config", "remote.origin.pushurl", &evil_url]);
    git(
        &a,
        &["config", "http.proxy", &format!("http://{}", evil.host())],
    );
    git(
        &a,
        &[
            "config",
            &format!("http.{real}.proxy"),
            &format!("http://{}", evil.host()),
        ],
    );
    let r = s.run(&a, &["push", "origin", "claude/x"]);
    r.assert_code(0);
    assert_eq!(
        s.server_ref("refs/heads/claude/x"),
        Some(git(&a, &["rev-parse", "HEAD"]))
    );
    // A workspace insteadOf for the same URL would win the tie in the shim's local git: refused.
    for args in [
        &["fetch", "origin"][..],
        &["pull"],
        &["ls-remote", "origin"],
    ] {
        let r = s.run(&a, args);
        assert_eq!(r.code, 126, "{args:?}: {r:?}");
        assert!(r.stderr.contains("insteadOf"), "{}", r.stderr);
    }
    git(
        &a,
        &[
            "config",
            "--unset-all",
            &format!("url.{evil_url}.insteadOf"),
        ],
    );
    s.run(&a, &["fetch", "origin"]).assert_code(0);
    s.run(&a, &["ls-remote", "origin"]).assert_code(0);
    assert_eq!(
        evil.request_count(),
        0,
        "the attacker server was contacted: {:?}",
        evil.requests()
    );
}

#[test]
fn configured_mirror_push_refspecs_and_push_default_are_ignored() {
    let s = setup();
    let a = hostile_repo(&s, "a");
    git(&a, &["config", "remote.origin.mirror", "true"]);
    git(
        &a,
        &["config", "remote.origin.push", "+HEAD:refs/heads/main"],
    );
    git(&a, &["config", "push.default", "matching"]);
    git(&a, &["branch", "feature/other"]);
    let main_before = s.server_ref("refs/heads/main");
    let r = s.run(&a, &["push"]);
    r.assert_code(0);
    // Only the current branch went, to its own name; main and nothing else moved.
    assert_eq!(s.server_ref("refs/heads/main"), main_before);
    assert_eq!(
        s.server_ref("refs/heads/claude/x"),
        Some(git(&a, &["rev-parse", "HEAD"]))
    );
    assert_eq!(s.server_ref("refs/heads/feature/other"), None);
    // On main, the configured `+HEAD:refs/heads/main` would force-push main: refused instead.
    git(&a, &["checkout", "-q", "main"]);
    let r = s.run(&a, &["push"]);
    assert_eq!(r.code, 126, "{r:?}");
    assert_eq!(s.server_ref("refs/heads/main"), main_before);
}

#[test]
fn workspace_programs_never_run_in_the_agent() {
    let s = setup();
    let a = hostile_repo(&s, "a");
    let marker = s.agent.dir.path().join("MARKER");
    let script = s.agent.dir.path().join("evil.sh");
    // Each run appends every ancestor pid (bounded walk up /proc): a program started by the agent,
    // directly or through a git child of it, would have the agent among its ancestors. (Local git in
    // the AI container may legitimately run the repo's own hooks, e.g. for update-ref.)
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\np=$PPID\ni=0\nwhile [ \"$p\" -gt 1 ] && [ $i -lt 64 ]; do\n  echo $p >> {m}\n  p=$(awk '/^PPid:/ {{print $2}}' /proc/$p/status 2>/dev/null || echo 0)\n  i=$((i+1))\ndone\ncat\n",
            m = marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sp = script.display().to_string();
    git(&a, &["config", "core.fsmonitor", &sp]);
    git(
        &a,
        &[
            "config",
            "core.hooksPath",
            &s.agent.dir.path().display().to_string(),
        ],
    );
    git(&a, &["config", "filter.evil.clean", &sp]);
    git(&a, &["config", "filter.evil.smudge", &sp]);
    git(&a, &["config", "core.sshCommand", &sp]);
    git(&a, &["config", "credential.helper", &format!("!{sp}")]);
    git(&a, &["config", "core.askPass", &sp]);
    git(&a, &["config", "gpg.program", &sp]);
    git(&a, &["config", "alias.push", &format!("!{sp}")]);
    std::fs::write(a.join(".gitattributes"), "* filter=evil\n").unwrap();
    for hook in [
        "pre-push",
        "post-update",
        "reference-transaction",
        "push-to-checkout",
    ] {
        std::fs::copy(&script, a.join(".git/hooks").join(hook)).unwrap();
        std::fs::copy(&script, s.agent.dir.path().join(hook)).unwrap();
    }
    let r = s.run(&a, &["push", "origin", "claude/x"]);
    r.assert_code(0);
    let ran = std::fs::read_to_string(&marker).unwrap_or_default();
    // The walk works: the local git's reference-transaction hook ran in the "AI side" under this
    // test process.
    let me = std::process::id().to_string();
    assert!(
        ran.lines().any(|p| p.trim() == me),
        "ancestry walk recorded nothing useful: {ran:?}"
    );
    let agent_pid = s.agent.pid().to_string();
    assert!(
        !ran.lines().any(|p| p.trim() == agent_pid),
        "a workspace program ran in the agent: {ran}"
    );
}

#[test]
fn symlinked_config_and_alternates_are_refused() {
    let s = setup();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    std::fs::write(&target, "[remote \"origin\"]\n\turl = x\n").unwrap();

    // .git/config as a symlink to a file outside the workspace.
    let a = hostile_repo(&s, "a");
    let cfg = std::fs::read_to_string(a.join(".git/config")).unwrap();
    std::fs::write(&target, &cfg).unwrap();
    std::fs::remove_file(a.join(".git/config")).unwrap();
    std::os::unix::fs::symlink(&target, a.join(".git/config")).unwrap();
    let before = refs_of(&s.bare);
    let r = s.run(&a, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 126, "{r:?}");
    assert!(r.stderr.contains("symlink"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        cfg,
        "outside file changed"
    );

    // A ref symlinked to an agent-owned file.
    let b = hostile_repo(&s, "b");
    std::os::unix::fs::symlink(
        s.agent.state.join("audit.jsonl"),
        b.join(".git/refs/heads/claude/evil"),
    )
    .unwrap();
    let r = s.run(&b, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 126, "{r:?}");

    // objects/info/alternates pointing outside.
    let c = hostile_repo(&s, "c");
    std::fs::write(
        c.join(".git/objects/info/alternates"),
        format!("{}\n", s.agent.state.display()),
    )
    .unwrap();
    let r = s.run(&c, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 126, "{r:?}");
    assert!(r.stderr.contains("alternates"), "{}", r.stderr);

    // .git as a gitdir file pointing outside the workspace.
    let d = hostile_repo(&s, "d");
    let moved = outside.path().join("moved.git");
    std::fs::rename(d.join(".git"), &moved).unwrap();
    std::fs::write(d.join(".git"), format!("gitdir: {}\n", moved.display())).unwrap();
    let r = s.run(&d, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 126, "{r:?}");
    assert_eq!(refs_of(&s.bare), before);
}

#[test]
fn symlinked_fetch_head_is_not_written_through() {
    let s = setup();
    let a = s.clone("a");
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let _ = std::fs::remove_file(a.join(".git/FETCH_HEAD"));
    std::os::unix::fs::symlink(&victim, a.join(".git/FETCH_HEAD")).unwrap();
    let r = s.run(&a, &["fetch", "origin"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(r.code, 126, "{r:?}");
    assert!(r.stderr.contains("FETCH_HEAD is a symlink"), "{}", r.stderr);
}

#[test]
fn redirects_are_not_followed() {
    let s = setup();
    let (_root, evil) = attacker(&s.token);
    let a = hostile_repo(&s, "a");
    s.server.set_redirect(Some(evil.url("acme", "app")));
    let r = s.run(&a, &["push", "origin", "claude/x"]);
    assert_eq!(r.code, 128, "{r:?}");
    let r = s.run(&a, &["fetch", "origin"]);
    assert_eq!(r.code, 128, "{r:?}");
    // libgit2 follows no off-site redirect; a same-host redirect (another port) is followed for the
    // discovery request but gets no credentials: the credentials callback only answers the pinned URL.
    assert!(
        evil.requests().iter().all(|q| !q.had_auth),
        "credentials sent after a redirect: {:?}",
        evil.requests()
    );

    // Off-site (another host name): not contacted at all.
    let (_root2, evil2) = attacker(&s.token);
    s.server.set_redirect(Some(format!(
        "http://localhost:{}/acme/app.git",
        evil2.port()
    )));
    assert_eq!(s.run(&a, &["push", "origin", "claude/x"]).code, 128);
    assert_eq!(s.run(&a, &["fetch", "origin"]).code, 128);
    assert_eq!(evil2.request_count(), 0, "{:?}", evil2.requests());
}

/// The token appears nowhere: not in any file under the workspace or state dir, not in the agent's
/// environment, not in its log; core dumps are off for the agent.
#[test]
fn leak_scan_after_a_full_session() {
    let s = setup_with(None, &[]);
    let a = s.clone("a");
    git(&a, &["checkout", "-q", "-b", "claude/x"]);
    s.commit(&a, "a.txt", "a\n");
    s.run(&a, &["push", "-u", "origin", "claude/x"])
        .assert_code(0);
    s.run(&a, &["fetch"]).assert_code(0);
    s.run(&a, &["pull"]).assert_code(0);
    s.run(&a, &["push", "origin", "main"]); // denied
    s.agent.run("agent-status", &a, &[]).assert_code(0);

    // The audit log names the repository each allowed request resolved to.
    let audit = std::fs::read_to_string(s.agent.state.join("audit.jsonl")).unwrap();
    let pushed = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["argv"][0] == "push" && l["decision"] == "allow")
        .expect("an allowed push in the audit log");
    assert_eq!(pushed["repo"], "acme/app", "{pushed}");

    let forms = token_forms(&s.token);
    let mut files = 0;
    for root in [
        &s.agent.workspace,
        &s.agent.state,
        &s.agent.dir.path().to_path_buf(),
    ] {
        for entry in walk(root) {
            if entry.file_name().is_some_and(|n| n == "token") {
                continue; // GITHUB_TOKEN_FILE is not used here, but never scan a token file itself
            }
            if let Ok(bytes) = std::fs::read(&entry) {
                files += 1;
                let text = String::from_utf8_lossy(&bytes);
                for f in &forms {
                    assert!(
                        !text.contains(f.as_str()),
                        "token found in {}",
                        entry.display()
                    );
                }
            }
        }
    }
    assert!(files > 20, "scanned too few files ({files})");
    let pid = s.agent.pid();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        !environ.contains(&s.token),
        "token in /proc/<agent>/environ"
    );
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().filter(|w| *w == "0").count() >= 2,
        "{core}"
    );
    let log = s.agent.log_text();
    for f in &forms {
        assert!(!log.contains(f.as_str()));
    }
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn pre_push_hook_is_installed_and_advises() {
    let s = setup();
    let a = s.clone("a");
    let hook = a.join(".git/hooks/pre-push");
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../hooks/pre-push"))
            .unwrap();
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        shipped,
        "hook installed on clone"
    );
    let r = s.agent.run("agent-status", &a, &[]);
    assert!(
        r.stdout.contains("pre-push hook:     installed"),
        "{}",
        r.stdout
    );

    // A repo with its own hook keeps it; agent-status says ours is not installed.
    let b = s.agent.workspace_repo("b", &s.server.url("acme", "app"));
    std::fs::write(b.join(".git/hooks/pre-push"), "#!/bin/sh\nexit 0\n").unwrap();
    s.run(&b, &["fetch"]).assert_code(0);
    assert_eq!(
        std::fs::read_to_string(b.join(".git/hooks/pre-push")).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
    assert!(s
        .agent
        .run("agent-status", &b, &[])
        .stdout
        .contains("NOT installed"));

    // The real git, bypassing the shim, runs the hook, which asks the agent: main is refused.
    let other = tempfile::tempdir().unwrap();
    let local_bare = init_bare(other.path(), "x", "y");
    let before = refs_of(&local_bare);
    let mut direct = std::process::Command::new(REAL_GIT);
    direct
        .current_dir(&a)
        .envs(
            s.agent
                .cmd("git", &a)
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .args(["push", &local_bare.display().to_string(), "HEAD:main"]);
    let r = Run::from(direct.output().unwrap());
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("gitgate: "), "{}", r.stderr);
    assert_eq!(refs_of(&local_bare), before);
}

/// A server that echoes the token (raw and as Basic-auth base64) in its messages: the client sees
/// `***` — the redactor sits on every output stream.
#[test]
fn server_messages_echoing_the_token_stop_the_stream() {
    let s = setup();
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", s.token));
    githttp::install_hook(
        &s.bare,
        "pre-receive",
        &format!(
            "#!/bin/sh\necho 'raw {} basic {}'\necho 'split {}'\nexit 0\n",
            s.token, b64, s.token
        ),
    );
    let a = s.clone("a");
    git(&a, &["checkout", "-q", "-b", "claude/x"]);
    s.commit(&a, "a.txt", "a\n");
    let r = s.run(&a, &["push", "origin", "claude/x"]);
    // Forwarded bytes are never rewritten: the output stops before the token, and the request
    // ends with an error that says why (the push itself had already been applied).
    assert_eq!(r.code, 125, "{r:?}");
    assert_no_token(&r, &s.token);
    assert!(
        r.stderr
            .ends_with("gitgate: the upstream response contained the token; it was stopped\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn token_from_a_file_authenticates() {
    let token = random_token();
    let srv_root = tempfile::tempdir().unwrap();
    let bare = init_bare(srv_root.path(), "acme", "app");
    let server = GitHttpServer::start(srv_root.path(), &token).unwrap();
    let agent = Agent::builder()
        .token_file(&token)
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .start();
    let repo = agent.workspace_repo("app", &server.url("acme", "app"));
    git(&repo, &["checkout", "-q", "-b", "claude/x"]);
    let r = agent.run("git", &repo, &["push", "origin", "claude/x"]);
    r.assert_code(0);
    assert_no_token(&r, &token);
    assert!(git_status(
        &bare,
        &["rev-parse", "--verify", "-q", "refs/heads/claude/x"]
    )
    .status
    .success());
}
