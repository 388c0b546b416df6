//! End-to-end tests of gh v3 (issue 11): the real gh (Debian's 2.23, `/usr/bin/gh`) exec'd by the
//! shim, talking HTTP over the agent's API socket; the gateway checks each request, adds the token
//! and forwards to the fake GitHub API. Every test asserts gh's own output and exit code and the
//! exact requests that reached the fake, and that the token appears in no output, log or audit.

use gitgate_e2e::*;
use gitgate_testsupport::github::{FakeGitHub, Recorded, PR1_SHA};
use serde_json::{json, Value};
use std::path::PathBuf;

const PLACEHOLDER: &str = "gitgate-placeholder-not-a-token";

struct Env {
    fake: FakeGitHub,
    agent: Agent,
    repo: PathBuf,
    token: String,
}

fn env_with(extra: &[(&str, &str)]) -> Env {
    let token = random_token();
    let fake = FakeGitHub::start(&token);
    let mut b = Agent::builder()
        .token(&token)
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#);
    for (k, v) in extra {
        b = b.env(k, v);
    }
    let agent = b.start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    git(&repo, &["checkout", "-q", "-b", "claude/feature"]);
    Env {
        fake,
        agent,
        repo,
        token,
    }
}

fn env() -> Env {
    env_with(&[])
}

impl Env {
    fn cmd(&self) -> std::process::Command {
        let mut c = self.agent.cmd("gh", &self.repo);
        c.env(
            "GITGATE_GH_CONFIG_DIR",
            self.agent.dir.path().join("gh-config"),
        )
        .env("GH_PAGER", "")
        .env("NO_COLOR", "1");
        c
    }

    fn gh(&self, args: &[&str]) -> Run {
        let out = self.cmd().args(args).output().expect("run gh");
        let r = Run::from(out);
        self.no_token(&r);
        r
    }

    fn no_token(&self, r: &Run) {
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("x-access-token:{}", self.token),
        );
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(&self.token), "token leaked in output: {out}");
            assert!(!out.contains(&b64), "basic-auth token leaked: {out}");
        }
    }

    /// The agent's log and audit hold no token.
    fn no_token_in_logs(&self) {
        let log = self.agent.log_text();
        assert!(!log.contains(&self.token), "token in agent log");
        let audit =
            std::fs::read_to_string(self.agent.state.join("audit.jsonl")).unwrap_or_default();
        assert!(!audit.contains(&self.token), "token in audit");
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.agent.state.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &Value| v["tool"] == "api")
            .collect()
    }

    fn requests(&self) -> Vec<Recorded> {
        let r = self.fake.requests();
        for q in &r {
            assert!(q.auth_ok, "request without the real token: {q:?}");
        }
        r
    }
}

/// `METHOD path` or `POST /graphql Operation` for each request the fake received.
fn summary(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .map(|r| match &r.operation {
            Some(op) => format!("{} {} {op}", r.method, r.path),
            None if r.query.is_empty() => format!("{} {}", r.method, r.path),
            None => format!("{} {}?{}", r.method, r.path, r.query),
        })
        .collect()
}

fn refused(e: &Env, args: &[&str], want: &str) {
    let before = e.fake.request_count();
    let r = e.gh(args);
    assert_ne!(r.code, 0, "{args:?} succeeded: {}", r.stdout);
    assert!(
        r.stderr.contains("gitgate: ") && r.stderr.contains(want),
        "{args:?}: stderr lacks gitgate message with {want:?}: {}",
        r.stderr
    );
    let after = e.fake.requests();
    assert_eq!(
        after.len(),
        before,
        "{args:?}: requests reached GitHub: {:?}",
        summary(&after[before..])
    );
}

#[test]
fn auth_token_prints_the_placeholder() {
    let e = env();
    let r = e.gh(&["auth", "token"]);
    r.assert_code(0);
    assert_eq!(r.stdout.trim(), PLACEHOLDER);
    assert_eq!(e.fake.request_count(), 0);
}

#[test]
fn pr_list_text_json_and_jq() {
    let e = env();
    let r = e.gh(&["pr", "list"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "3\tWIP draft\tclaude/draft\tDRAFT\t2024-01-01 00:00:00 +0000 UTC\n\
         1\tAdd feature\tclaude/feature\tOPEN\t2024-01-01 00:00:00 +0000 UTC\n"
    );
    let reqs = e.requests();
    assert_eq!(summary(&reqs), ["POST /graphql PullRequestList"]);
    assert_eq!(reqs[0].variables["owner"], "acme");
    assert_eq!(reqs[0].variables["repo"], "app");

    let r = e.gh(&[
        "pr",
        "list",
        "--json",
        "number,title,isDraft",
        "--jq",
        ".[].title",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "WIP draft\nAdd feature\n");
    let r = e.gh(&[
        "pr",
        "list",
        "--state",
        "all",
        "--json",
        "number,headRefName",
    ]);
    r.assert_code(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v,
        json!([{"headRefName":"claude/draft","number":3},{"headRefName":"claude/feature","number":1}])
    );
    let reqs = e.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs[2].variables["state"],
        json!(["OPEN", "CLOSED", "MERGED"])
    );
    e.no_token_in_logs();
    let audit = e.audit();
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert_eq!(audit[0]["operation"], "PullRequestList");
    assert_eq!(audit[0]["decision"], "allow");
    assert_eq!(audit[0]["status"], 200);
}

#[test]
fn pr_view_json_and_checks() {
    let e = env();
    let r = e.gh(&[
        "pr",
        "view",
        "1",
        "--json",
        "number,title,state,headRefName,baseRefName,labels,author,isDraft",
    ]);
    r.assert_code(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["number"], 1);
    assert_eq!(v["title"], "Add feature");
    assert_eq!(v["state"], "OPEN");
    assert_eq!(v["headRefName"], "claude/feature");
    assert_eq!(v["labels"][0]["name"], "bug");
    assert_eq!(v["author"]["login"], "octo-bot");
    let r = e.gh(&[
        "pr",
        "view",
        "1",
        "--json",
        "headRefOid",
        "--jq",
        ".headRefOid",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout.trim(), PR1_SHA);
    assert_eq!(
        summary(&e.requests()),
        [
            "POST /graphql PullRequestByNumber",
            "POST /graphql PullRequestByNumber"
        ]
    );
}

#[test]
fn api_rest_and_graphql_reads() {
    let e = env();
    let r = e.gh(&["api", "user", "--jq", ".login"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "octo-bot\n");
    let r = e.gh(&["api", "repos/{owner}/{repo}/pulls/1", "--jq", ".head.ref"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "claude/feature\n");
    let r = e.gh(&[
        "api",
        "graphql",
        "-f",
        "query=query { viewer { login } }",
        "--jq",
        ".data.viewer.login",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "octo-bot\n");
    assert_eq!(
        summary(&e.requests()),
        ["GET /user", "GET /repos/acme/app/pulls/1", "POST /graphql"]
    );
}

#[test]
fn pr_comment_goes_through_a_checked_node_id() {
    let e = env();
    let r = e.gh(&["pr", "comment", "1", "--body", "looks good"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("https://github.com/acme/app/issues/1#issuecomment-"),
        "{}",
        r.stdout
    );
    let reqs = e.requests();
    assert_eq!(
        summary(&reqs),
        [
            "POST /graphql PullRequestByNumber",
            "POST /graphql GitgateNodes",
            "POST /graphql CommentCreate"
        ]
    );
    assert_eq!(reqs[1].variables["ids"], json!(["PR_101"]));
    assert_eq!(reqs[2].variables["input"]["body"], "looks good");
}

#[test]
fn refusals_reach_nothing() {
    let e = env();
    refused(&e, &["secret", "list"], "secrets");
    refused(&e, &["secret", "set", "X", "--body", "v"], "secrets");
    // (gh 2.23 has no `variable` command; its API is refused below.)
    refused(
        &e,
        &["api", "repos/acme/app/actions/variables"],
        "variables",
    );
    refused(&e, &["api", "repos/acme/app/actions/secrets"], "secrets");
    refused(
        &e,
        &["repo", "delete", "acme/app", "--yes"],
        "deleting a repository",
    );
    refused(&e, &["release", "create", "v1"], "releases");
    refused(
        &e,
        &["api", "-X", "DELETE", "repos/acme/app/issues/2"],
        "not a write",
    );
    refused(&e, &["api", "repos/other/x/pulls"], "ALLOWED_REPOS");
    refused(&e, &["pr", "list", "-R", "other/x"], "ALLOWED_REPOS");
    refused(
        &e,
        &[
            "api",
            "graphql",
            "-f",
            r#"query=query { ...F } fragment F on Query { repository(owner:"other", name:"x") { id } }"#,
        ],
        "ALLOWED_REPOS",
    );
    refused(
        &e,
        &[
            "api",
            "graphql",
            "-f",
            "query=query($o: String!) { repository(owner:$o, name:\"x\") { id } }",
            "-f",
            "o=other",
        ],
        "ALLOWED_REPOS",
    );
    refused(
        &e,
        &[
            "api",
            "graphql",
            "-f",
            r#"query=mutation { a: addComment(input:{subjectId:"PR_101", body:"x"}) { clientMutationId } b: addComment(input:{subjectId:"PR_101", body:"y"}) { clientMutationId } }"#,
        ],
        "exactly one",
    );
    refused(
        &e,
        &[
            "api",
            "graphql",
            "-f",
            r#"query=mutation { createCommitOnBranch(input:{branch:{repositoryNameWithOwner:"acme/app", branchName:"main"}, message:{headline:"x"}, expectedHeadOid:"1", fileChanges:{}}) { clientMutationId } }"#,
        ],
        "BLOCKED_BRANCHES",
    );
    e.no_token_in_logs();
}
