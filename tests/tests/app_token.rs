//! End-to-end tests of GitHub App installation tokens (issue 12): the agent signs its JWT with a
//! key pair made at test time, the fake GitHub verifies it against the public key, mints
//! restricted tokens (with a short lifetime where the test says so), and records which token each
//! request used. The real gh goes through the agent's API socket; the load test uses raw HTTP
//! clients on that socket.

use gitgate_e2e::*;
use gitgate_testsupport::github::app::test_keys;
use gitgate_testsupport::github::FakeGitHub;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const APP_ID: u64 = 4711;
const INSTALLATION: u64 = 99;

struct Env {
    fake: FakeGitHub,
    agent: Agent,
    repo: PathBuf,
    _keys: tempfile::TempDir,
}

fn fake(lifetime: Option<Duration>) -> FakeGitHub {
    // The fake's static token is never given to the agent: only minted tokens work.
    let fake = FakeGitHub::start(&random_token());
    fake.add_repo("acme", "lib");
    fake.enable_app(
        APP_ID,
        INSTALLATION,
        "acme",
        &test_keys()[0].public,
        &["app", "lib", "other"],
    );
    if let Some(l) = lifetime {
        fake.set_app_token_lifetime(l);
    }
    fake
}

fn key_file(dir: &Path, which: usize) -> PathBuf {
    let p = dir.join(format!("app-key-{which}.pem"));
    std::fs::write(&p, &test_keys()[which].private_pem).unwrap();
    p
}

fn builder(fake: &FakeGitHub, key: &Path, repos: &str) -> AgentBuilder {
    Agent::builder()
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", repos)
        .env("GITHUB_APP_ID", &APP_ID.to_string())
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key.display().to_string())
}

fn env_with(fake: FakeGitHub, key: usize, repos: &str, extra: &[(&str, &str)]) -> Env {
    let keys = tempfile::tempdir().unwrap();
    let mut b = builder(&fake, &key_file(keys.path(), key), repos);
    for (k, v) in extra {
        b = b.env(k, v);
    }
    let agent = b.start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    Env {
        fake,
        agent,
        repo,
        _keys: keys,
    }
}

impl Env {
    fn gh(&self, args: &[&str]) -> Run {
        let out = self
            .agent
            .cmd("gh", &self.repo)
            .env(
                "GITGATE_GH_CONFIG_DIR",
                self.agent.dir.path().join("gh-config"),
            )
            .env("GH_PAGER", "")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("run gh");
        let r = Run::from(out);
        self.nothing_secret(&r.stdout);
        self.nothing_secret(&r.stderr);
        r
    }

    fn status(&self) -> String {
        let r = self.agent.run("agent-status", &self.agent.workspace, &[]);
        r.assert_code(0);
        self.nothing_secret(&r.stdout);
        r.stdout
    }

    /// No issued token, no key bytes (PEM body lines, DER base64) in `text`.
    fn nothing_secret(&self, text: &str) {
        for t in self.fake.app_tokens() {
            assert!(
                !text.contains(&t.token),
                "an installation token leaked: {text}"
            );
        }
        for k in test_keys() {
            assert!(!text.contains(&k.private_der_b64), "the key (DER) leaked");
            for line in k.private_pem.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!text.contains(line), "the key (PEM) leaked: {line}");
            }
        }
    }

    /// The agent's log, audit and environment hold no token or key bytes.
    fn nothing_secret_anywhere(&self) {
        self.nothing_secret(&self.agent.log_text());
        let audit =
            std::fs::read_to_string(self.agent.state.join("audit.jsonl")).unwrap_or_default();
        self.nothing_secret(&audit);
        let environ = std::fs::read(format!("/proc/{}/environ", self.agent.pid()))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        self.nothing_secret(&environ);
    }
}

fn expected_permissions() -> Value {
    json!({"actions": "read", "contents": "write", "issues": "write", "metadata": "read",
           "pull_requests": "write"})
}

/// One raw HTTP/1.1 request to the fake with `token`: the status code.
fn fake_status(fake: &FakeGitHub, token: &str, path: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// One raw gh-like request over the agent's API socket: the status code.
fn gateway_status(api: &Path, path: &str) -> u16 {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(api) else {
        return 0;
    };
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: token placeholder\r\nAccept: application/vnd.github+json\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return 0;
    }
    let mut out = Vec::new();
    if s.read_to_end(&mut out).is_err() {
        return 0;
    }
    let text = String::from_utf8_lossy(&out);
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if code == 200 && !text.contains("\"full_name\":\"acme/app\"") {
        return 1;
    }
    code
}

#[test]
fn mints_on_start_restricted_to_the_allowed_repos_and_gh_uses_it() {
    let e = env_with(fake(None), 0, r#"["acme/app","acme/lib"]"#, &[]);
    // Installation discovered from the first allowed repository, then exactly one mint.
    let mints = e.fake.app_mints();
    assert_eq!(
        mints,
        vec![json!({"repositories": ["app", "lib"], "permissions": expected_permissions()})]
    );
    let r = e.gh(&["api", "repos/acme/app", "--jq", ".full_name"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "acme/app\n");
    let uses = e.fake.app_token_uses();
    assert!(
        uses.iter()
            .any(|(m, p, i)| m == "GET" && p == "/repos/acme/app" && *i == Some(0)),
        "{uses:?}"
    );
    assert!(uses.iter().all(|(_, _, i)| *i == Some(0)), "{uses:?}");
    let status = e.status();
    assert!(
        status.contains(&format!(
            "token:             GitHub App {APP_ID}, installation {INSTALLATION} (account acme)"
        )),
        "{status}"
    );
    assert!(
        status.contains(r#"app token:         minted for ["acme/app","acme/lib"] with actions:read, contents:write, issues:write, metadata:read, pull_requests:write; expires in 59 min"#),
        "{status}"
    );
    assert!(!status.contains("workflows") && !status.contains("administration"));
    e.nothing_secret_anywhere();
}

#[test]
fn a_pattern_resolves_through_the_installation_list_with_a_configured_installation() {
    let e = env_with(
        fake(None),
        0,
        r#"["acme/*"]"#,
        &[("GITHUB_APP_INSTALLATION_ID", &INSTALLATION.to_string())],
    );
    let mints = e.fake.app_mints();
    assert_eq!(
        mints,
        vec![
            json!({"permissions": {"metadata": "read"}}),
            json!({"repositories": ["app", "lib", "other"], "permissions": expected_permissions()}),
        ]
    );
    let tokens = e.fake.app_tokens();
    assert!(tokens[0].revoked, "the listing token was not revoked");
    assert!(!tokens[1].revoked);
    let r = e.gh(&["api", "repos/acme/lib", "--jq", ".full_name"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "acme/lib\n");
}

#[test]
fn a_token_revoked_early_gets_one_refresh_and_the_request_one_retry() {
    let e = env_with(fake(None), 0, r#"["acme/app"]"#, &[]);
    e.fake.revoke_app_token(0);
    let r = e.gh(&["api", "repos/acme/app", "--jq", ".full_name"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "acme/app\n");
    assert_eq!(e.fake.app_mints().len(), 2, "exactly one refresh");
    let uses: Vec<_> = e
        .fake
        .app_token_uses()
        .into_iter()
        .filter(|(_, p, _)| p == "/repos/acme/app")
        .map(|(_, _, i)| i)
        .collect();
    assert_eq!(uses, [Some(0), Some(1)], "one 401, one retry");
    e.nothing_secret_anywhere();
}

#[test]
fn rotations_under_load_lose_no_request_and_old_tokens_stop_working() {
    let e = env_with(
        fake(Some(Duration::from_secs(3))),
        0,
        r#"["acme/app"]"#,
        &[],
    );
    let api = e.agent.socket.parent().unwrap().join("api.sock");
    let start_tokens = e.fake.app_tokens().len();
    let mut rounds = 0;
    let mut errors = Vec::new();
    // 64 clients × 200 requests, repeated until the load has spanned at least two rotations.
    while e.fake.app_tokens().len() < start_tokens + 2 || rounds == 0 {
        assert!(rounds < 10, "no two rotations within 10 rounds");
        rounds += 1;
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let api = api.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|_| gateway_status(&api, "/repos/acme/app"))
                        .filter(|c| *c != 200)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            errors.extend(h.join().unwrap());
        }
    }
    assert!(
        errors.is_empty(),
        "{} failed requests: {errors:?}",
        errors.len()
    );
    let tokens = e.fake.app_tokens();
    let used: std::collections::BTreeSet<_> = e
        .fake
        .app_token_uses()
        .into_iter()
        .filter_map(|(_, _, i)| i)
        .collect();
    assert!(used.len() >= 3, "the load spanned {} tokens", used.len());
    // The first token is refused by GitHub now (revoked by the agent after its rotation, or expired).
    assert_eq!(
        fake_status(&e.fake, &tokens[0].token, "/repos/acme/app"),
        401
    );
    // The current one works.
    let current = tokens.iter().rev().find(|t| !t.revoked).unwrap();
    let status = e.status();
    assert!(status.contains("minted for [\"acme/app\"]"), "{status}");
    if !current.expired() {
        assert_eq!(fake_status(&e.fake, &current.token, "/repos/acme/app"), 200);
    }
    e.nothing_secret_anywhere();
}

#[test]
fn shutdown_revokes_the_current_token() {
    let mut e = env_with(fake(None), 0, r#"["acme/app"]"#, &[]);
    e.agent.stop();
    let tokens = e.fake.app_tokens();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked, "not revoked on shutdown");
    assert_eq!(
        fake_status(&e.fake, &tokens[0].token, "/repos/acme/app"),
        401
    );
}

/// Run the agent expecting it to refuse to start: its stderr.
fn start_fails(envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let mut cmd = std::process::Command::new(agent_bin());
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GITGATE_SOCKET", dir.path().join("agent.sock"))
        .env("GITGATE_WORKSPACE", &ws)
        .env("GITGATE_STATE_DIR", dir.path().join("state"))
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn start_up_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 0);
    let key = key.display().to_string();
    let id = APP_ID.to_string();
    let missing = dir.path().join("missing.pem").display().to_string();
    let err = start_fails(&[
        ("GITHUB_APP_ID", &id),
        ("GITHUB_APP_PRIVATE_KEY_FILE", &missing),
    ]);
    assert!(
        err.contains(&format!(
            "GITHUB_APP_PRIVATE_KEY_FILE: cannot read '{missing}'"
        )),
        "{err}"
    );
    let err = start_fails(&[
        ("GITHUB_APP_ID", &id),
        ("GITHUB_APP_PRIVATE_KEY_FILE", &key),
        ("GITHUB_TOKEN", "ghp_personal"),
    ]);
    assert!(
        err.contains("GITHUB_TOKEN (or GITHUB_TOKEN_FILE) and GITHUB_APP_ID are both set"),
        "{err}"
    );
    let err = start_fails(&[("GITHUB_APP_ID", &id)]);
    assert!(
        err.contains("GITHUB_APP_PRIVATE_KEY_FILE: GITHUB_APP_ID is set"),
        "{err}"
    );
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = start_fails(&[
        ("GITHUB_APP_ID", &id),
        (
            "GITHUB_APP_PRIVATE_KEY_FILE",
            &not_pem.display().to_string(),
        ),
    ]);
    assert!(
        err.contains("is not an RSA private key in PEM form"),
        "{err}"
    );
    for k in test_keys() {
        assert!(!err.contains(&k.private_der_b64));
    }
}

#[test]
fn a_key_that_does_not_match_the_app_is_named_in_log_status_and_gh() {
    let e = env_with(fake(None), 1, r#"["acme/app"]"#, &[]);
    let want = format!("the key in GITHUB_APP_PRIVATE_KEY_FILE does not match GitHub App GITHUB_APP_ID={APP_ID} (GitHub answered 401: A JSON web token could not be decoded)");
    assert!(e.agent.log_text().contains(&want), "{}", e.agent.log_text());
    let status = e.status();
    assert!(
        status.contains(&format!("app token error:   {want}")),
        "{status}"
    );
    assert!(
        status.contains("app token:         none (not minted)"),
        "{status}"
    );
    let r = e.gh(&["api", "repos/acme/app"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    assert!(e.fake.app_tokens().is_empty());
    e.nothing_secret_anywhere();
}

#[test]
fn an_app_not_installed_on_an_allowed_repo_is_named() {
    // Discovery through the first repository, which lacks the App.
    let e = env_with(fake(None), 0, r#"["acme/secret","acme/app"]"#, &[]);
    let status = e.status();
    assert!(
        status.contains(&format!("app token error:   GitHub App {APP_ID} is not installed on 'acme/secret' (GitHub answered 404)")),
        "{status}"
    );
    drop(e);
    // A configured installation: the mint is refused and the missing repository named.
    let e = env_with(
        fake(None),
        0,
        r#"["acme/app","acme/secret"]"#,
        &[("GITHUB_APP_INSTALLATION_ID", &INSTALLATION.to_string())],
    );
    let status = e.status();
    assert!(
        status.contains(&format!("app token error:   ALLOWED_REPOS: GitHub App {APP_ID} (installation {INSTALLATION}) cannot get a token for [\"acme/secret\"] (GitHub answered 422: There is at least one repository that does not exist or is not accessible to the parent installation.)")),
        "{status}"
    );
    e.nothing_secret_anywhere();
}

#[test]
fn clock_skew_is_named() {
    let f = fake(None);
    f.set_app_clock_skew(600);
    let e = env_with(f, 0, r#"["acme/app"]"#, &[]);
    let status = e.status();
    assert!(
        status.contains(
            "app token error:   clock skew: this machine's clock is about 600 s behind GitHub's"
        ),
        "{status}"
    );
}

#[test]
fn a_sighup_that_changes_allowed_repos_mints_a_token_for_the_new_list() {
    let fake = fake(None);
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 0);
    let env_file = dir.path().join("gitgate.env");
    std::fs::write(&env_file, "ALLOWED_REPOS='[\"acme/app\"]'\n").unwrap();
    let agent = Agent::builder()
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("GITHUB_APP_ID", &APP_ID.to_string())
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key.display().to_string())
        .arg("--env-file")
        .arg(&env_file.display().to_string())
        .start();
    assert_eq!(fake.app_mints().len(), 1);
    std::fs::write(&env_file, "ALLOWED_REPOS='[\"acme/app\",\"acme/lib\"]'\n").unwrap();
    unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fake.app_mints().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no new mint: {}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        fake.app_mints()[1],
        json!({"repositories": ["app", "lib"], "permissions": expected_permissions()})
    );
}

// ------------------------------------------------------------------------------------------------
// git in App mode: the real git (both binaries) with the shim as its https transport, a real
// `git http-backend` that accepts exactly the installation tokens the fake App minted and still
// considers live (the fake's registry, shared), and requests recorded with which token each used.
// ------------------------------------------------------------------------------------------------

use gitgate_e2e::githttp::{CredentialCheck, CredentialVerdict};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct GitEnv {
    fake: FakeGitHub,
    server: GitHttpServer,
    agent: Agent,
    git: PathBuf,
    overlay: PathBuf,
    bare: PathBuf,
    env_file: PathBuf,
    work: tempfile::TempDir,
    _dirs: Vec<tempfile::TempDir>,
}

/// Where the git server revokes the token a request presents, as it arrives (once): the
/// request method and the end of its path.
type RevokeAt = Option<(&'static str, &'static str)>;

/// A git server for acme/app (main with one commit; seeded through the file system, so no token
/// exists before the agent mints one) judging credentials by the fake App's registry, and an
/// App-mode agent allowed to use it (ALLOWED_REPOS from an env file, for a SIGHUP rotation).
fn git_env(git_bin: &Path, revoke_at: RevokeAt) -> GitEnv {
    git_env_with_key(git_bin, revoke_at, 0)
}

/// [`git_env`] with the App key `key` (1: a key that does not belong to the App).
fn git_env_with_key(git_bin: &Path, revoke_at: RevokeAt, which_key: usize) -> GitEnv {
    let fake = fake(None);
    let creds = fake.app_git_credentials();
    let check: Arc<dyn CredentialCheck> = match revoke_at {
        None => Arc::new(creds),
        Some((method, suffix)) => {
            let done = AtomicBool::new(false);
            Arc::new(
                move |m: &str, p: &str, u: &str, pw: &str| -> CredentialVerdict {
                    if m == method && p.ends_with(suffix) && !done.swap(true, Ordering::SeqCst) {
                        creds.revoke_presented(pw);
                    }
                    creds.check(m, p, u, pw)
                },
            )
        }
    };
    let srv = tempfile::tempdir().unwrap();
    let bare = init_bare(srv.path(), "acme", "app");
    let seed = tempfile::tempdir().unwrap();
    let s = seed.path();
    git(s, &["init", "-q", "-b", "main"]);
    std::fs::write(s.join("README.md"), "seed\n").unwrap();
    git(s, &["add", "."]);
    git(s, &["commit", "-q", "-m", "seed"]);
    git(s, &["push", "-q", &bare.display().to_string(), "main"]);
    let server = GitHttpServer::start_with(srv.path(), check).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), which_key);
    let env_file = keys.path().join("gitgate.env");
    std::fs::write(&env_file, "ALLOWED_REPOS='[\"acme/app\"]'\n").unwrap();
    let agent = Agent::builder()
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("GITHUB_APP_ID", &APP_ID.to_string())
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key.display().to_string())
        .arg("--env-file")
        .arg(&env_file.display().to_string())
        .start();
    assert_eq!(
        fake.app_mints().len(),
        usize::from(which_key == 0),
        "{}",
        agent.log_text()
    );
    let ovl = tempfile::tempdir().unwrap();
    let overlay = exec_overlay(git_bin, &ovl.path().join("exec"));
    GitEnv {
        fake,
        server,
        agent,
        git: git_bin.to_path_buf(),
        overlay,
        bare,
        env_file,
        work: tempfile::tempdir().unwrap(),
        _dirs: vec![srv, seed, keys, ovl],
    }
}

/// Every form of every issued token that could leak: raw, base64, base64 of the Basic pair.
fn token_forms(fake: &FakeGitHub) -> Vec<String> {
    fake.app_tokens()
        .into_iter()
        .flat_map(|t| gitgate_e2e::token_forms(&t.token))
        .collect()
}

impl GitEnv {
    /// The real git with gitgate as its transport; asserts no token form in its output.
    fn git(&self, cwd: &Path, args: &[&str]) -> Run {
        let r = Run::from(
            git_via_gitgate(&self.git, cwd, &self.overlay, &self.agent.socket)
                .args(args)
                .output()
                .unwrap(),
        );
        self.no_token_in(&format!("{}\n{}", r.stdout, r.stderr));
        r
    }

    fn no_token_in(&self, text: &str) {
        for f in token_forms(&self.fake) {
            assert!(!text.contains(&f), "an installation token leaked: {text}");
        }
    }

    /// Log, audit and environment: no token form, no key bytes.
    fn nothing_secret_anywhere(&self) {
        // The agent writes a request's audit line after git has its answer: wait (bounded).
        let read = || std::fs::read_to_string(self.agent.state.join("audit.jsonl"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !read().unwrap_or_default().contains("transport")
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let audit = read().unwrap_or_default();
        assert!(audit.contains("transport"), "no git audit lines: {audit}");
        let environ = std::fs::read(format!("/proc/{}/environ", self.agent.pid()))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        for text in [self.agent.log_text(), audit, environ] {
            self.no_token_in(&text);
            for k in test_keys() {
                assert!(!text.contains(&k.private_der_b64), "the key (DER) leaked");
            }
        }
    }

    fn w(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn clone(&self, rel: &str) -> PathBuf {
        let url = self.server.url("acme", "app");
        self.git(self.work.path(), &["clone", "-q", &url, rel])
            .assert_code(0);
        self.w(rel)
    }

    fn commit(&self, repo: &Path, file: &str) {
        std::fs::write(repo.join(file), format!("{file}\n")).unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-q", "-m", file]);
    }

    /// `(method, path, credential label, status)` of the server's requests from `from` on.
    fn requests_since(&self, from: usize) -> Vec<(String, String, Option<String>, u16)> {
        self.server.requests()[from..]
            .iter()
            .map(|r| {
                (
                    r.method.clone(),
                    r.path.clone(),
                    r.credential.clone(),
                    r.status,
                )
            })
            .collect()
    }

    fn receive_pack_posts(&self) -> usize {
        self.server.receive_pack_posts().len()
    }

    /// Every request from `from` on carried token `i` and was served.
    fn all_used(&self, from: usize, i: usize) {
        let reqs = self.requests_since(from);
        assert!(!reqs.is_empty());
        let label = format!("app token #{i}");
        for r in &reqs {
            assert_eq!(r.2.as_deref(), Some(label.as_str()), "{reqs:#?}");
            assert!(r.3 < 400, "{reqs:#?}");
        }
    }

    /// The requests from `from` on: token #0 (served) up to exactly one 401 to `refused`
    /// (method, end of path) with token #0, then the same request again and everything after it
    /// with token #1, served.
    fn one_401_then_the_new_token(&self, from: usize, refused: (&str, &str)) {
        let reqs = self.requests_since(from);
        let k = reqs
            .iter()
            .position(|r| r.3 == 401)
            .unwrap_or_else(|| panic!("no 401: {reqs:#?}"));
        assert_eq!(reqs.iter().filter(|r| r.3 == 401).count(), 1, "{reqs:#?}");
        for r in &reqs[..k] {
            assert_eq!(r.2.as_deref(), Some("app token #0"), "{reqs:#?}");
            assert!(r.3 < 400, "{reqs:#?}");
        }
        assert_eq!(
            (reqs[k].0.as_str(), reqs[k].2.as_deref()),
            (refused.0, Some("app token #0")),
            "{reqs:#?}"
        );
        assert!(reqs[k].1.ends_with(refused.1), "{reqs:#?}");
        // The retry: the same request, with the new token.
        let retry = reqs
            .get(k + 1)
            .unwrap_or_else(|| panic!("no retry: {reqs:#?}"));
        assert_eq!((&retry.0, &retry.1), (&reqs[k].0, &reqs[k].1), "{reqs:#?}");
        for r in &reqs[k + 1..] {
            assert_eq!(r.2.as_deref(), Some("app token #1"), "{reqs:#?}");
            assert!(r.3 < 400, "{reqs:#?}");
        }
    }

    /// SIGHUP with a longer ALLOWED_REPOS: the agent mints (and installs) a second token.
    fn rotate(&self) {
        std::fs::write(
            &self.env_file,
            "ALLOWED_REPOS='[\"acme/app\",\"acme/lib\"]'\n",
        )
        .unwrap();
        self.agent.signal(libc::SIGHUP);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        // Installed once the agent logs it (the log line follows the swap).
        while !self
            .agent
            .log_text()
            .contains("for [\"acme/app\",\"acme/lib\"] with")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no rotation: {}",
                self.agent.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.fake.app_tokens().len(), 2);
    }
}

fn each_git(f: impl Fn(&Path)) {
    for g in real_gits() {
        eprintln!("--- {}", g.display());
        f(&g);
    }
}

const MAIN_REFUSED: &str =
    "! [remote rejected] main -> main (gitgate: branch 'main' is protected (BLOCKED_BRANCHES))";

#[test]
fn git_clone_fetch_and_push_use_the_minted_token_and_after_a_rotation_only_the_new_one() {
    each_git(|g| {
        let e = git_env(g, None);
        let a = e.clone("a");
        e.commit(&a, "one.txt");
        e.git(&a, &["push", "-q", "origin", "HEAD:refs/heads/topic"])
            .assert_code(0);
        e.all_used(0, 0);
        assert_eq!(
            git(&e.bare, &["rev-parse", "refs/heads/topic"]),
            git(&a, &["rev-parse", "HEAD"])
        );

        e.rotate();
        let from = e.server.request_count();
        e.git(&a, &["fetch", "-q", "origin"]).assert_code(0);
        e.commit(&a, "two.txt");
        e.git(&a, &["push", "-q", "origin", "HEAD:refs/heads/topic"])
            .assert_code(0);
        let b = e.clone("b");
        assert_eq!(
            git(&b, &["rev-parse", "origin/topic"]),
            git(&a, &["rev-parse", "HEAD"])
        );
        // Never the old token after the rotation, and no 401-driven mint.
        e.all_used(from, 1);
        assert_eq!(e.fake.app_mints().len(), 2);

        // A refused push in App mode: git's own format, nothing sent to receive-pack.
        let posts = e.receive_pack_posts();
        let before = refs_of(&e.bare);
        let r = e.git(&a, &["push", "origin", "main"]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(r.stderr.contains(MAIN_REFUSED), "{}", r.stderr);
        assert_eq!(
            e.receive_pack_posts(),
            posts,
            "the refused push reached receive-pack"
        );
        assert_eq!(refs_of(&e.bare), before);
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_token_revoked_early_gets_one_refresh_and_git_fetch_one_retry() {
    each_git(|g| {
        let e = git_env(g, None);
        let a = e.clone("a");
        e.all_used(0, 0);
        e.fake.revoke_app_token(0);
        let from = e.server.request_count();
        let r = e.git(&a, &["fetch", "origin"]);
        r.assert_code(0);
        assert_eq!(e.fake.app_mints().len(), 2, "exactly one refresh");
        e.one_401_then_the_new_token(from, ("GET", "/info/refs?service=git-upload-pack"));
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_token_revoked_early_gets_one_refresh_and_git_push_one_retry_and_refusals_stay_refused() {
    each_git(|g| {
        let e = git_env(g, None);
        let a = e.clone("a");
        e.commit(&a, "one.txt");
        e.fake.revoke_app_token(0);
        let from = e.server.request_count();
        e.git(&a, &["push", "-q", "origin", "HEAD:refs/heads/topic"])
            .assert_code(0);
        assert_eq!(e.fake.app_mints().len(), 2, "exactly one refresh");
        e.one_401_then_the_new_token(from, ("GET", "/info/refs?service=git-receive-pack"));
        assert_eq!(e.receive_pack_posts(), 1);
        assert_eq!(
            git(&e.bare, &["rev-parse", "refs/heads/topic"]),
            git(&a, &["rev-parse", "HEAD"])
        );
        // Refused after the refresh too: no receive-pack POST, no further mint.
        let r = e.git(&a, &["push", "origin", "main"]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(r.stderr.contains(MAIN_REFUSED), "{}", r.stderr);
        assert_eq!(e.receive_pack_posts(), 1);
        assert_eq!(e.fake.app_mints().len(), 2);
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_401_on_an_upload_pack_post_is_retried_once_with_the_same_request() {
    each_git(|g| {
        // Revoked as git's first v2 command (ls-refs) arrives, after the advertisement went to git.
        let e = git_env(g, Some(("POST", "/git-upload-pack")));
        let a = e.clone("a");
        assert_eq!(e.fake.app_mints().len(), 2, "exactly one refresh");
        e.one_401_then_the_new_token(0, ("POST", "/git-upload-pack"));
        assert_eq!(
            git(&a, &["rev-parse", "HEAD"]),
            git(&e.bare, &["rev-parse", "main"])
        );
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_401_on_the_receive_pack_post_is_retried_once_with_the_spooled_pack() {
    each_git(|g| {
        // Revoked as the pack arrives: the push is replayed from the agent's spool.
        let e = git_env(g, Some(("POST", "/git-receive-pack")));
        let a = e.clone("a");
        e.commit(&a, "one.txt");
        let from = e.server.request_count();
        e.git(&a, &["push", "-q", "origin", "HEAD:refs/heads/topic"])
            .assert_code(0);
        assert_eq!(e.fake.app_mints().len(), 2, "exactly one refresh");
        e.one_401_then_the_new_token(from, ("POST", "/git-receive-pack"));
        let posts: Vec<_> = e
            .server
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/git-receive-pack"))
            .map(|r| (r.status, r.content_length))
            .collect();
        assert_eq!(posts.len(), 2, "{posts:?}");
        assert_eq!(posts[0].1, posts[1].1, "the same body, twice: {posts:?}");
        assert_eq!(
            git(&e.bare, &["rev-parse", "refs/heads/topic"]),
            git(&a, &["rev-parse", "HEAD"])
        );
        git(&e.bare, &["fsck", "--no-progress"]);
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_personal_token_refused_by_the_server_is_not_retried_and_git_says_authentication_failed() {
    each_git(|g| {
        let srv = tempfile::tempdir().unwrap();
        init_bare(srv.path(), "acme", "app");
        let server = GitHttpServer::start(srv.path(), &random_token()).unwrap();
        let wrong = random_token();
        let agent = Agent::builder()
            .token(&wrong)
            .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
            .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
            .env("ALLOWED_REPOS", r#"["acme/app"]"#)
            .start();
        let ovl = tempfile::tempdir().unwrap();
        let overlay = exec_overlay(g, &ovl.path().join("exec"));
        let url = server.url("acme", "app");
        let r = Run::from(
            git_via_gitgate(g, srv.path(), &overlay, &agent.socket)
                .args(["ls-remote", &url])
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 128, "{r:?}");
        assert!(
            r.stderr
                .contains(&format!("fatal: Authentication failed for '{url}/'")),
            "{}",
            r.stderr
        );
        assert_eq!(
            server.request_count(),
            1,
            "retried: {:?}",
            server.requests()
        );
        for f in gitgate_e2e::token_forms(&wrong) {
            assert!(!r.stderr.contains(&f) && !r.stdout.contains(&f));
            assert!(!agent.log_text().contains(&f));
        }
    });
}

#[test]
fn concurrent_401s_from_git_cause_one_mint_and_every_command_succeeds() {
    each_git(|g| {
        let e = git_env(g, None);
        e.clone("a");
        e.fake.revoke_app_token(0);
        let from = e.server.request_count();
        let url = e.server.url("acme", "app");
        let runs: Vec<Run> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| e.git(e.work.path(), &["ls-remote", &url])))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &runs {
            r.assert_code(0);
            assert!(r.stdout.contains("refs/heads/main"), "{r:?}");
        }
        // One mint for all of them (single-flight), each 401 retried once with the new token.
        assert_eq!(e.fake.app_mints().len(), 2, "{}", e.agent.log_text());
        let reqs = e.requests_since(from);
        let refused: Vec<_> = reqs.iter().filter(|r| r.3 == 401).collect();
        assert!(!refused.is_empty() && refused.len() <= 8, "{reqs:#?}");
        assert!(
            refused
                .iter()
                .all(|r| r.2.as_deref() == Some("app token #0")),
            "{reqs:#?}"
        );
        assert!(
            reqs.iter()
                .filter(|r| r.3 < 400)
                .all(|r| r.2.as_deref() == Some("app token #1")),
            "{reqs:#?}"
        );
        e.nothing_secret_anywhere();
    });
}

#[test]
fn without_a_minted_token_git_is_told_why_and_nothing_goes_upstream() {
    each_git(|g| {
        let e = git_env_with_key(g, None, 1);
        let url = e.server.url("acme", "app");
        let r = e.git(e.work.path(), &["ls-remote", &url]);
        assert_ne!(r.code, 0, "{r:?}");
        let want = format!("gitgate: no GitHub App installation token: the key in GITHUB_APP_PRIVATE_KEY_FILE does not match GitHub App GITHUB_APP_ID={APP_ID}");
        assert!(r.stderr.contains(&want), "{}", r.stderr);
        assert_eq!(e.server.request_count(), 0);
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_401_whose_refresh_fails_is_not_retried_and_git_says_why() {
    each_git(|g| {
        let e = git_env(g, None);
        let a = e.clone("a");
        // GitHub's clock moves: the agent's JWT is refused, so no new token can be minted.
        e.fake.set_app_clock_skew(600);
        e.fake.revoke_app_token(0);
        let from = e.server.request_count();
        let r = e.git(&a, &["fetch", "origin"]);
        assert_eq!(r.code, 128, "{r:?}");
        let url = e.server.url("acme", "app");
        assert!(
            r.stderr.contains("gitgate: GitHub refused the App installation token and a new one could not be minted: clock skew: this machine's clock is about 600 s behind GitHub's"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains(&format!("fatal: Authentication failed for '{url}/'")),
            "{}",
            r.stderr
        );
        let reqs = e.requests_since(from);
        assert_eq!(reqs.len(), 1, "retried: {reqs:#?}");
        assert_eq!(reqs[0].3, 401);
        assert_eq!(e.fake.app_mints().len(), 1);
        e.nothing_secret_anywhere();
    });
}

#[test]
fn a_large_push_settles_authentication_with_a_probe_first() {
    each_git(|g| {
        // A server refusing the credentials answers before reading a large body and closes,
        // which can reach the agent as a broken connection instead of the 401. So above 1 MiB
        // the agent first sends a flush-only probe (as git's remote-curl does): the 401 comes
        // there, one refresh, the probe again, then the pack once.
        let e = git_env(g, Some(("POST", "/git-receive-pack")));
        let a = e.clone("a");
        let mut data = vec![0u8; 24 * 1024 * 1024];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut data)
            .unwrap();
        std::fs::write(a.join("big.bin"), &data).unwrap();
        drop(data);
        git(&a, &["add", "."]);
        git(&a, &["commit", "-q", "-m", "big"]);
        let from = e.server.request_count();
        e.git(&a, &["push", "-q", "origin", "HEAD:refs/heads/topic"])
            .assert_code(0);
        assert_eq!(e.fake.app_mints().len(), 2, "exactly one refresh");
        e.one_401_then_the_new_token(from, ("POST", "/git-receive-pack"));
        let posts: Vec<_> = e
            .server
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/git-receive-pack"))
            .map(|r| (r.status, r.content_length, r.credential))
            .collect();
        assert_eq!(posts.len(), 3, "{posts:?}");
        let probe = (Some(4), Some("app token #0".to_owned()));
        assert_eq!((posts[0].1, posts[0].2.clone()), probe, "{posts:?}");
        assert_eq!(posts[1].1, Some(4), "{posts:?}");
        // The pack itself streamed while git sent it: no Content-Length (chunked).
        assert_eq!((posts[2].0, posts[2].1), (200, None), "{posts:?}");
        assert_eq!(
            git(&e.bare, &["rev-parse", "refs/heads/topic"]),
            git(&a, &["rev-parse", "HEAD"])
        );
        e.nothing_secret_anywhere();
    });
}
