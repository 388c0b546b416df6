//! End-to-end tests of what the Kubernetes deployment relies on (issue 14, deploy/kubernetes):
//! `AUDIT_LOG=-` (audit records as whole JSON lines on the agent's stdout, with the pod's name
//! from POD_NAME) and `gitgate-agent --probe` (the readiness/liveness exec probe) against a running,
//! a missing, a crashed, a stopped (SIGSTOP) and a refusing agent. The manifests themselves are
//! checked by tests/shell/test_kubernetes.sh (run by the `shell` test).

use gitgate_e2e::*;
use std::process::Command;
use std::time::Duration;

const POD: &str = "gitgate-session-7-x2k9q";

/// The JSON lines of the agent's output (its stdout and stderr share one file in the harness; log
/// lines start with a time, audit records with `{`).
fn json_lines(agent: &Agent) -> Vec<serde_json::Value> {
    agent
        .log_text()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a whole JSON line {l:?}: {e}"))
        })
        .collect()
}

fn wait_records(agent: &Agent, n: usize) -> Vec<serde_json::Value> {
    raw::wait_for("audit records on stdout", Duration::from_secs(20), || {
        let v = json_lines(agent);
        (v.len() >= n).then_some(v)
    })
}

#[test]
fn audit_records_go_to_stdout_as_whole_json_lines_with_the_pod_name() {
    let token = random_token();
    let srv_root = tempfile::tempdir().unwrap();
    let bare = init_bare(srv_root.path(), "acme", "app");
    let server = GitHttpServer::start(srv_root.path(), &token).unwrap();
    let agent = Agent::builder()
        .token_file(&token)
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("AUDIT_LOG", "-")
        .env("POD_NAME", POD)
        .start();
    let repo = agent.workspace_repo("app", &server.url("acme", "app"));
    let refused = agent.run("git", &repo, &["push", "origin", "HEAD:main"]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("! [remote rejected] HEAD -> main (gitgate: "),
        "{refused:?}"
    );
    git(&repo, &["checkout", "-q", "-b", "claude/k8s"]);
    agent
        .run("git", &repo, &["push", "origin", "claude/k8s"])
        .assert_code(0);
    assert!(refs_of(&bare).contains("refs/heads/claude/k8s"));
    agent.run("agent-status", &repo, &[]).assert_code(0);

    let records = wait_records(&agent, 3);
    assert_eq!(records.len(), 3, "one line per request: {records:?}");
    for r in &records {
        assert_eq!(r["pod"], POD, "{r}");
        assert!(r["time"].is_f64() && r["uid"].is_u64(), "{r}");
    }
    let denied = &records[0];
    assert_eq!(denied["decision"], "deny", "{denied}");
    assert!(
        denied["reason"]
            .as_str()
            .unwrap()
            .contains("BLOCKED_BRANCHES"),
        "{denied}"
    );
    let pushed = &records[1];
    assert_eq!(pushed["decision"], "allow", "{pushed}");
    assert_eq!(pushed["repo"], "acme/app", "{pushed}");
    assert_eq!(records[2]["tool"], "agent-status");
    // Nothing on disk: stdout replaces the file (and its rotation).
    assert!(!agent.state.join("audit.jsonl").exists());
    assert!(!agent.dir.path().join("-").exists() && !agent.workspace.join("-").exists());
    assert!(
        !agent.log_text().contains(&token),
        "the token reached the agent's output"
    );

    // Many clients at once: every record is still one whole line.
    let before = records.len();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..5 {
                    assert!(raw::status_ok(&agent));
                }
            });
        }
    });
    let all = wait_records(&agent, before + 40);
    assert_eq!(all.len(), before + 40);
    assert!(all.iter().all(|r| r["pod"] == POD));
}

#[test]
fn gh_api_records_go_to_stdout_with_the_pod_name() {
    let token = random_token();
    let fake = gitgate_testsupport::github::FakeGitHub::start(&token);
    let agent = Agent::builder()
        .token(&token)
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#)
        .env("AUDIT_LOG", "-")
        .env("POD_NAME", POD)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    let d = agent.dir.path();
    let r = Run::from(
        agent
            .cmd("gh", &repo)
            .args(["pr", "list"])
            .env("GITGATE_GH_CONFIG_DIR", d.join("gh-config"))
            .env("TMPDIR", d)
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("XDG_STATE_HOME", d.join("state-home"))
            .env("GH_PAGER", "")
            .env("NO_COLOR", "1")
            .output()
            .expect("run gh"),
    );
    r.assert_code(0);
    let records = wait_records(&agent, 1);
    let api: Vec<_> = records.iter().filter(|r| r["tool"] == "api").collect();
    assert!(!api.is_empty(), "no API record on stdout: {records:?}");
    assert!(api.iter().all(|r| r["pod"] == POD), "{api:?}");
    assert!(!agent.state.join("audit.jsonl").exists());
    assert!(!agent.log_text().contains(&token));
}

#[test]
fn without_pod_name_records_have_no_pod_field() {
    let agent = Agent::builder().env("AUDIT_LOG", "-").start();
    assert!(raw::status_ok(&agent));
    let records = wait_records(&agent, 1);
    assert!(records[0].get("pod").is_none(), "{}", records[0]);
    assert_eq!(records[0]["tool"], "agent-status");
}

/// `gitgate-agent --probe` with only GITGATE_SOCKET (no token, no .env, nothing else).
fn probe(socket: &std::path::Path) -> Run {
    let out = Command::new(agent_bin())
        .arg("--probe")
        .env_clear()
        .env("GITGATE_SOCKET", socket)
        .output()
        .expect("run gitgate-agent --probe");
    Run::from(out)
}

fn one_line(r: &Run, starts: &str) {
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {:?}", r.stderr);
    assert!(
        r.stderr
            .starts_with(&format!("gitgate-agent --probe: {starts}")),
        "{:?}",
        r.stderr
    );
}

#[test]
fn probe_succeeds_only_while_the_agent_answers() {
    let token = random_token();
    let mut agent = Agent::builder().token(&token).env("AUDIT_LOG", "-").start();
    let ok = probe(&agent.socket);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.is_empty() && ok.stderr.is_empty(), "{ok:?}");
    // The probe really asked: its agent-status request is in the audit (stdout).
    let records = wait_records(&agent, 1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["tool"], "agent-status");
    assert_eq!(records[0]["code"], 0);

    // A stopped process (SIGSTOP: hung) accepts nothing: the probe gives up within its bound.
    agent.signal(libc::SIGSTOP);
    let hung = probe(&agent.socket);
    agent.signal(libc::SIGCONT);
    one_line(&hung, "no answer from the agent within 3 s");
    assert_eq!(probe(&agent.socket).code, 0, "the agent answers again");

    // Crashed (kill -9): the socket file is left behind, nobody listens.
    agent.kill9();
    assert!(agent.socket.exists());
    let crashed = probe(&agent.socket);
    one_line(&crashed, "cannot connect to ");
    assert!(crashed.stderr.contains("GITGATE_SOCKET"), "{crashed:?}");

    // Restarted, then stopped cleanly: the socket is gone.
    agent.restart();
    assert_eq!(probe(&agent.socket).code, 0);
    agent.stop();
    assert!(!agent.socket.exists());
    one_line(&probe(&agent.socket), "cannot connect to ");
}

#[test]
fn probe_reports_a_refusal_naming_the_setting() {
    // The probe runs as the agent's own uid (Kubernetes: in the agent container): it must be in
    // ALLOWED_UIDS, and the probe says so when it is not.
    let other = unsafe { libc::getuid() } + 1;
    let agent = Agent::builder()
        .env("ALLOWED_UIDS", &format!("[{other}]"))
        .start();
    let r = probe(&agent.socket);
    one_line(&r, "the agent refused agent-status: ");
    assert!(r.stderr.contains("ALLOWED_UIDS"), "{r:?}");
}

#[test]
fn probe_with_no_agent_and_with_other_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let r = probe(&dir.path().join("agent.sock"));
    one_line(&r, "cannot connect to ");
    assert!(r.stderr.contains("agent.sock"), "{r:?}");
    let r = Run::from(
        Command::new(agent_bin())
            .args(["--probe", "--env-file", "/nonexistent/.env"])
            .env_clear()
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--probe takes no other arguments"),
        "{r:?}"
    );
}
