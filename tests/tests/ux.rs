//! End-to-end tests of the configuration and newcomer experience (issue 9): the no-token refusal,
//! plain-http refusals naming the switch, unknown settings, SIGHUP reload of every source, log
//! times, the shim's hint per mode and agent-status's same-uid warning.

use gitgate_e2e::*;
use gitgate_testsupport::github::FakeGitHub;
use std::process::Command;
use std::time::{Duration, Instant};

const NO_TOKEN: &str =
    "gitgate: no GitHub token is loaded (set GITHUB_TOKEN or GITHUB_TOKEN_FILE in .env and restart)";

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hup(agent: &Agent) {
    assert_eq!(unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) }, 0);
}

/// The `n`th log line containing `needle` (waits for it).
fn log_line(agent: &Agent, needle: &str, n: usize) -> String {
    wait_for(needle, || {
        agent
            .log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .nth(n)
            .map(str::to_owned)
    })
}

#[test]
fn without_a_token_network_operations_refuse_locally() {
    let srv_token = random_token();
    let srv_root = tempfile::tempdir().unwrap();
    let bare = init_bare(srv_root.path(), "acme", "app");
    let server = GitHttpServer::start(srv_root.path(), &srv_token).unwrap();
    let fake = FakeGitHub::start(&srv_token);
    let agent = Agent::builder()
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("GITHUB_API_URL", &fake.url())
        .start();
    let repo = agent.workspace_repo("app", &server.url("acme", "app"));
    git(&repo, &["checkout", "-q", "-b", "claude/x"]);
    let before = refs_of(&bare);
    let url = server.url("acme", "app");
    for (tool, args) in [
        ("git", vec!["push", "origin", "claude/x"]),
        ("git", vec!["fetch", "origin"]),
        ("git", vec!["pull", "origin", "main"]),
        ("git", vec!["ls-remote", "origin"]),
        ("git", vec!["clone", url.as_str(), "copy"]),
        // gh (the real gh through the API gateway) prints it in its own idiom: tests/tests/gh.rs.
    ] {
        let r = agent.run(tool, &repo, &args);
        // v3: the real git, whose transport helper fails the way git's own helpers do.
        // (git pull reports its failed fetch with 1, as it does without gitgate)
        let want = if args[0] == "pull" { 1 } else { 128 };
        assert_eq!(r.code, want, "{tool} {args:?}: {r:?}");
        let said = r
            .stderr
            .strip_prefix("Cloning into 'copy'...\n")
            .unwrap_or(&r.stderr);
        assert_eq!(said, format!("fatal: {NO_TOKEN}\n"), "{tool} {args:?}");
        assert!(r.stdout.is_empty(), "{tool} {args:?}: {}", r.stdout);
    }
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    assert_eq!(fake.request_count(), 0, "{:?}", fake.requests());
    assert_eq!(refs_of(&bare), before);
    assert!(!repo.join("copy").exists());
    // A policy refusal still gives its own reason first: the pre-push hook's question needs no
    // token (the push itself does: its ref advertisement comes from GitHub).
    let r = agent.run_with_stdin(
        "gitgate-shim",
        &repo,
        &["hook", "pre-push", "origin", &url],
        format!(
            "refs/heads/x {} refs/heads/main {} na\n",
            "1".repeat(40),
            "0".repeat(40)
        )
        .as_bytes(),
    );
    assert_eq!(r.code, 126, "{r:?}");
    assert!(r.stderr.contains("BLOCKED_BRANCHES"), "{}", r.stderr);
}

#[test]
fn plain_http_remote_names_the_switch() {
    let token = random_token();
    let srv_root = tempfile::tempdir().unwrap();
    init_bare(srv_root.path(), "acme", "app");
    let server = GitHttpServer::start(srv_root.path(), &token).unwrap();
    // Loopback, but without GITGATE_ALLOW_HTTP_LOOPBACK.
    let agent = Agent::builder()
        .token(&token)
        .env(
            "ALLOWED_HOSTS",
            &format!("[\"{}\",\"github.com\"]", server.host()),
        )
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("app", &server.url("acme", "app"));
    let r = agent.run("git", &repo, &["fetch", "origin"]);
    // v3: git's transport helper reports it (`fatal: gitgate: …`) and git exits 128.
    assert_eq!(r.code, 128, "{r:?}");
    assert!(
        r.stderr.starts_with("fatal: gitgate: ")
            && r.stderr.contains("GITGATE_ALLOW_HTTP_LOOPBACK=true"),
        "{}",
        r.stderr
    );
    // Not loopback: refused whatever the switch says, naming it.
    git(
        &repo,
        &[
            "remote",
            "set-url",
            "origin",
            "http://github.com/acme/app.git",
        ],
    );
    let r = agent.run("git", &repo, &["fetch", "origin"]);
    assert_eq!(r.code, 128, "{r:?}");
    assert!(
        r.stderr.contains("use https://") && r.stderr.contains("GITGATE_ALLOW_HTTP_LOOPBACK"),
        "{}",
        r.stderr
    );
    assert_eq!(server.request_count(), 0);
}

fn agent_cmd(dir: &std::path::Path) -> Command {
    let mut c = Command::new(agent_bin());
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GITGATE_WORKSPACE", dir)
        .env("GITGATE_SOCKET", dir.join("s.sock"))
        .env("GITGATE_STATE_DIR", dir.join("state"));
    c
}

#[test]
fn unknown_settings_stop_the_agent_and_fail_check() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(
        &env_file,
        "GITHUB_TOKEN=\nWORKSPACE_DIR=/x\nPUID=1000\nCONTAINER_ENGINE=docker\nALLOWED_REPO=[\"a/b\"]\n",
    )
    .unwrap();
    for check in [true, false] {
        let mut c = agent_cmd(dir.path());
        c.arg("--env-file").arg(&env_file);
        if check {
            c.arg("--check");
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(
            err.trim_end(),
            format!(
                "gitgate-agent: --env-file '{}': unknown setting ALLOWED_REPO (did you mean ALLOWED_REPOS?)",
                env_file.display()
            )
        );
        assert!(!dir.path().join("s.sock").exists());
    }
    // The same name in the process environment, and a GITGATE_ typo.
    for (k, want) in [
        ("ALLOWED_REPO", "ALLOWED_REPOS"),
        ("GITGATE_STATEDIR", "GITGATE_STATE_DIR"),
    ] {
        let out = agent_cmd(dir.path())
            .arg("--check")
            .env(k, "[]")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "environment: unknown setting {k} (did you mean {want}?)"
            )),
            "{err}"
        );
    }
    // TOML.
    let toml = dir.path().join("gitgate.toml");
    std::fs::write(&toml, "blocked_branch = [\"main\"]\n").unwrap();
    let out = agent_cmd(dir.path())
        .args(["--check", "--config"])
        .arg(&toml)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown setting blocked_branch (did you mean blocked_branches?)"),
        "{err}"
    );
    // Unrelated environment (a CI runner's) and the known non-agent names pass.
    std::fs::write(
        &env_file,
        "WORKSPACE_DIR=/x\nPUID=1000\nPGID=1000\nCONTAINER_ENGINE=docker\nALLOWED_REPOS=[\"a/b\"]\n",
    )
    .unwrap();
    let out = agent_cmd(dir.path())
        .arg("--check")
        .arg("--env-file")
        .arg(&env_file)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SHA", "abc")
        .env("HOME", "/tmp")
        .env("GITGATE_MODE", "native")
        .env("GITGATE_REAL_GIT", "/usr/bin/git")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sighup_rereads_env_file_and_toml_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("gitgate.env");
    let toml = dir.path().join("gitgate.toml");
    std::fs::write(&env_file, "ALLOWED_REPOS=[\"acme/*\"]\n").unwrap();
    std::fs::write(&toml, "allow_tag_push = false\n").unwrap();
    let agent = Agent::builder()
        .arg("--env-file")
        .arg(env_file.to_str().unwrap())
        .arg("--config")
        .arg(toml.to_str().unwrap())
        .start();
    let status = |agent: &Agent| agent.run("agent-status", &agent.workspace, &[]).stdout;
    assert!(status(&agent).contains("tag push:                refused"));

    // A live setting from the TOML file, restart-only ones and a new token from the env file.
    let new_token = random_token();
    std::fs::write(&toml, "allow_tag_push = true\n").unwrap();
    std::fs::write(
        &env_file,
        format!(
            "ALLOWED_REPOS=[\"acme/*\"]\nGITHUB_TOKEN={}\nGITGATE_MAX_CONNECTIONS=3\nGITGATE_STATE_DIR={}\n",
            new_token,
            dir.path().join("elsewhere").display()
        ),
    )
    .unwrap();
    hup(&agent);
    let line = log_line(&agent, "configuration reloaded (SIGHUP)", 0);
    assert!(line.contains("changed ALLOW_TAG_PUSH"), "{line}");
    assert!(
        line.contains(
            "not applied until the agent restarts: GITGATE_MAX_CONNECTIONS, GITHUB_TOKEN"
        ),
        "{line}"
    );
    // GITGATE_STATE_DIR comes from the environment, which wins over the file: unchanged.
    assert!(!line.contains("GITGATE_STATE_DIR"), "{line}");
    let s = status(&agent);
    assert!(s.contains("tag push:                allowed"), "{s}");
    assert!(s.contains("token:             not loaded"), "{s}");
    assert!(!agent.log_text().contains(&new_token));

    // An unknown key: rejected, the old configuration stays, the log says why.
    std::fs::write(&toml, "allow_tag_push = false\nallow_tag_pushh = true\n").unwrap();
    hup(&agent);
    let line = log_line(&agent, "reload rejected", 0);
    assert!(
        line.contains("unknown setting allow_tag_pushh (did you mean allow_tag_push?)")
            && line.contains("keeping the previous configuration"),
        "{line}"
    );
    assert!(status(&agent).contains("tag push:                allowed"));

    // Nothing changed: said so.
    std::fs::write(&toml, "allow_tag_push = true\n").unwrap();
    std::fs::write(&env_file, "ALLOWED_REPOS=[\"acme/*\"]\n").unwrap();
    hup(&agent);
    let line = log_line(&agent, "configuration reloaded (SIGHUP)", 1);
    assert!(
        line.ends_with("configuration reloaded (SIGHUP): no setting changed"),
        "{line}"
    );
}

#[test]
fn log_lines_carry_rfc3339_utc_times() {
    let agent = Agent::builder().start();
    let line = log_line(&agent, "listening on", 0);
    let (stamp, rest) = line.split_once(' ').unwrap();
    assert!(rest.starts_with("gitgate-agent: listening on"), "{line}");
    // 2026-12-01T21:26:54.123Z
    let b = stamp.as_bytes();
    assert_eq!(b.len(), 24, "{stamp}");
    for (i, c) in b.iter().enumerate() {
        let want_digit = !matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23);
        assert_eq!(c.is_ascii_digit(), want_digit, "{stamp} at {i}");
    }
    assert_eq!(
        (b[4], b[7], b[10], b[13], b[16], b[19], b[23]),
        (b'-', b'-', b'T', b':', b':', b'.', b'Z'),
        "{stamp}"
    );
}

#[test]
fn unreachable_hint_names_the_command_for_the_mode() {
    let mut agent = Agent::builder().start();
    agent.stop();
    for (mode, hint) in [
        (
            Some("native"),
            "start it: ./run.sh --native; check: ./run.sh --native --status",
        ),
        (None, "start it: ./run.sh; check: ./run.sh --status"),
    ] {
        let mut c = agent.cmd("agent-status", &agent.workspace);
        if let Some(m) = mode {
            c.env("GITGATE_MODE", m);
        }
        let r = Run::from(c.output().unwrap());
        assert_eq!(r.code, 127, "{r:?}");
        assert_eq!(
            r.stderr.trim_end(),
            format!(
                "gitgate: cannot reach the agent at {} ({hint})",
                agent.socket.display()
            )
        );
    }
}

#[test]
fn agent_status_warns_when_clients_share_the_agents_uid() {
    let agent = Agent::builder().start();
    let own = unsafe { libc::getuid() };
    let r = agent.run("agent-status", &agent.workspace, &[]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "warning:           clients run as the agent's own uid {own}: they can read what the agent reads (.env, the token)"
        )),
        "{}",
        r.stdout
    );
}
