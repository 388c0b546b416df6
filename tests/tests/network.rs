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
        assert!(!r.stdout.contains(&form) && !r.stderr.contains(&form), "token leaked in {r:?}");
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
    git(seed.path(), &["push", "-q", &server.url_with_token("acme", "app", &token), "main"]);
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
        let r = self.agent.run("git", &self.agent.workspace, &["clone", &self.server.url("acme", "app"), name]);
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
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
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
    assert_eq!(git(&a, &["remote", "get-url", "origin"]), s.server.url("acme", "app"));
    assert_eq!(git(&a, &["rev-parse", "origin/main"]), s.server_ref("main").unwrap());
    assert!(!std::fs::read_to_string(a.join(".git/config")).unwrap().contains(&s.token));

    // push -u of a new branch
    git(&a, &["checkout", "-q", "-b", "claude/feat"]);
    let c1 = s.commit(&a, "f.txt", "one\n");
    let r = s.run(&a, &["push", "-u", "origin", "claude/feat"]);
    r.assert_code(0);
    assert!(r.stderr.contains(&format!("To {}", s.server.url("acme", "app"))), "{}", r.stderr);
    assert!(r.stderr.contains(" * [new branch]      claude/feat -> claude/feat"), "{}", r.stderr);
    assert!(r.stdout.contains("branch 'claude/feat' set up to track 'origin/claude/feat'."), "{}", r.stdout);
    assert_eq!(s.server_ref("refs/heads/claude/feat").as_deref(), Some(c1.as_str()));
    assert_eq!(git(&a, &["rev-parse", "origin/claude/feat"]), c1);
    assert_eq!(git(&a, &["config", "branch.claude/feat.merge"]), "refs/heads/claude/feat");

    // fast-forward push with no arguments (current branch)
    let c2 = s.commit(&a, "f.txt", "two\n");
    let r = s.run(&a, &["push"]);
    r.assert_code(0);
    assert!(r.stderr.contains(&format!("   {}..{}  claude/feat -> claude/feat", &c1[..7], &c2[..7])), "{}", r.stderr);
    assert_eq!(s.server_ref("refs/heads/claude/feat").as_deref(), Some(c2.as_str()));

    // a second clone pushes; the first fetches and pulls
    let b = s.clone("b");
    git(&b, &["checkout", "-q", "claude/feat"]);
    let c3 = s.commit(&b, "g.txt", "from b\n");
    s.run(&b, &["push", "origin", "claude/feat"]).assert_code(0);
    let r = s.run(&a, &["fetch", "origin"]);
    r.assert_code(0);
    assert_eq!(git(&a, &["rev-parse", "origin/claude/feat"]), c3);
    assert_eq!(git(&a, &["rev-parse", "FETCH_HEAD"]).lines().next().unwrap_or(""), c3);
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
    assert_eq!(s.server_ref("refs/heads/claude/feat"), Some(git(&a, &["rev-parse", "HEAD"])));

    // merge pull: both sides have new commits
    s.run(&b, &["pull", "--ff-only"]).assert_code(0);
    s.commit(&b, "i.txt", "b3\n");
    let c5 = s.commit(&a, "j.txt", "a3\n");
    s.run(&a, &["push"]).assert_code(0);
    let r = s.run(&b, &["pull", "--no-rebase", "--no-edit"]);
    r.assert_code(0);
    assert_eq!(git(&b, &["rev-list", "--parents", "-1", "HEAD"]).split(' ').count(), 3, "a merge commit");
    assert_eq!(git(&b, &["rev-parse", "HEAD^2"]), c5);

    // ls-remote
    let r = s.run(&a, &["ls-remote", "origin"]);
    r.assert_code(0);
    assert!(r.stdout.contains("refs/heads/claude/feat"), "{}", r.stdout);
    assert!(r.stdout.contains("refs/heads/main"), "{}", r.stdout);
}
