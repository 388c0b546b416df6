//! End-to-end tests of gh v3 (issue 11): the real gh (Debian's 2.23, `/usr/bin/gh`) exec'd by the
//! shim, talking HTTP over the agent's API socket; the gateway checks each request, adds the token
//! and forwards to the fake GitHub API. Every test asserts gh's own output and exit code and the
//! exact requests that reached the fake, and that the token appears in no output, log or audit.
//! The agents run with every workspace hidden from them (`AgentBuilder::hide_workspaces`).

use gitgate_e2e::*;
use gitgate_testsupport::github::{FakeGitHub, Recorded, FAILED_LOG_LINE, PR1_SHA};
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
        .hide_workspaces()
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
        // gh caches responses and run logs in $TMPDIR/gh-cli-cache and keeps state under the XDG
        // dirs: per test, so no test sees another's cache.
        let d = self.agent.dir.path();
        c.env("GITGATE_GH_CONFIG_DIR", d.join("gh-config"))
            .env("TMPDIR", d)
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("XDG_STATE_HOME", d.join("state-home"))
            .env("XDG_DATA_HOME", d.join("data-home"))
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
        for form in token_forms(&self.token) {
            for out in [&r.stdout, &r.stderr] {
                assert!(!out.contains(&form), "token leaked in output: {out}");
            }
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

    /// Every request the fake received; API requests all carried the real token.
    fn requests(&self) -> Vec<Recorded> {
        let r = self.fake.requests();
        for q in &r {
            if !q.path.starts_with("/_download/") {
                assert!(q.auth_ok, "request without the real token: {q:?}");
            }
        }
        r
    }

    fn since(&self, n: usize) -> Vec<String> {
        summary(&self.requests()[n..])
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

/// A refusal after gh's own reads: gh fails with the gitgate message and no write reached GitHub.
fn refused_write(e: &Env, args: &[&str], want: &str) {
    let before = e.fake.request_count();
    let r = e.gh(args);
    assert_ne!(r.code, 0, "{args:?} succeeded: {}", r.stdout);
    assert!(
        r.stderr.contains("gitgate: ") && r.stderr.contains(want),
        "{args:?}: stderr lacks gitgate message with {want:?}: {}",
        r.stderr
    );
    for q in &e.fake.requests()[before..] {
        let mutation = q.body.trim_start().starts_with("{\"query\":\"mutation")
            || q.operation
                .as_deref()
                .is_some_and(|o| o != "GitgateNodes" && q.body.contains("mutation"));
        assert!(
            (q.method == "GET" || q.path == "/graphql") && !mutation,
            "{args:?}: a write reached GitHub: {q:?}"
        );
    }
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

#[test]
fn pr_create_head_must_be_pushable() {
    let e = env();
    let r = e.gh(&[
        "pr", "create", "--title", "T", "--body", "B", "--head", "feat", "--base", "dev",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/4\n");
    let reqs = e.requests();
    assert_eq!(
        summary(&reqs),
        [
            "POST /graphql RepositoryInfo",
            "POST /graphql PullRequestForBranch",
            "POST /graphql GitgateNodes",
            "POST /graphql PullRequestCreate"
        ]
    );
    let input = &reqs[3].variables["input"];
    assert_eq!(input["headRefName"], "feat");
    assert_eq!(input["baseRefName"], "dev");
    assert_eq!(input["title"], "T");
    let p = e.fake.pull("acme/app", 4).unwrap();
    assert_eq!(p["head"]["ref"], "feat");

    // main is protected: the mutation never reaches GitHub.
    refused_write(
        &e,
        &[
            "pr", "create", "--title", "T", "--body", "B", "--head", "main", "--base", "dev",
        ],
        "pull request head 'main' refused: branch 'main' is protected (BLOCKED_BRANCHES)",
    );
    assert!(e.fake.pull("acme/app", 5).is_none());
}

#[test]
fn pr_workflow_writes() {
    let e = env();
    e.gh(&["pr", "close", "1"]).assert_code(0);
    assert_eq!(e.fake.pull("acme/app", 1).unwrap()["state"], "closed");
    let r = e.gh(&["pr", "reopen", "1"]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("Reopened pull request #1"),
        "{}",
        r.stderr
    );
    assert_eq!(e.fake.pull("acme/app", 1).unwrap()["state"], "open");
    let r = e.gh(&["pr", "ready", "3"]);
    r.assert_code(0);
    assert_eq!(e.fake.pull("acme/app", 3).unwrap()["draft"], false);
    let n = e.fake.request_count();
    e.gh(&["pr", "review", "1", "--approve"]).assert_code(0);
    let reqs = e.requests();
    assert_eq!(
        e.since(n),
        [
            "POST /graphql PullRequestByNumber",
            "POST /graphql PullRequestReviewAdd"
        ]
    );
    assert_eq!(reqs.last().unwrap().variables["input"]["event"], "APPROVE");
    let n = e.fake.request_count();
    e.gh(&["pr", "review", "1", "--request-changes", "--body", "fix it"])
        .assert_code(0);
    assert_eq!(
        e.requests().last().unwrap().variables["input"]["event"],
        "REQUEST_CHANGES"
    );
    assert_eq!(e.since(n).len(), 2);
    let r = e.gh(&["pr", "edit", "1", "--add-label", "enhancement"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("https://github.com/acme/app/pull/1"),
        "{}",
        r.stdout
    );
    let ops: Vec<String> = e
        .fake
        .requests()
        .iter()
        .filter_map(|r| r.operation.clone())
        .collect();
    assert!(ops.contains(&"RepositoryLabelList".to_owned()), "{ops:?}");
    assert!(ops.contains(&"LabelAdd".to_owned()), "{ops:?}");
    assert_eq!(
        label_names(&e.fake.pull("acme/app", 1).unwrap()),
        ["bug", "enhancement"]
    );
    e.no_token_in_logs();
}

#[test]
fn issues() {
    let e = env();
    let r = e.gh(&["issue", "list"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "2\tOPEN\tCrash on start\tbug\t2024-01-01 00:00:00 +0000 UTC\n"
    );
    let r = e.gh(&[
        "issue",
        "view",
        "2",
        "--json",
        "title,author",
        "--jq",
        ".author.login + \": \" + .title",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "alice: Crash on start\n");
    let r = e.gh(&["issue", "create", "--title", "New bug", "--body", "details"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/issues/4\n");
    assert_eq!(e.fake.issue("acme/app", 4).unwrap()["title"], "New bug");
    let r = e.gh(&["issue", "comment", "2", "--body", "same here"]);
    r.assert_code(0);
    assert_eq!(e.fake.comments("acme/app", 2).len(), 2);
    e.gh(&["issue", "close", "2"]).assert_code(0);
    assert_eq!(e.fake.issue("acme/app", 2).unwrap()["state"], "closed");
    assert_eq!(
        summary(&e.requests()),
        [
            "POST /graphql IssueList",
            "POST /graphql IssueByNumber",
            "POST /graphql RepositoryInfo",
            "POST /graphql GitgateNodes",
            "POST /graphql IssueCreate",
            "POST /graphql IssueByNumber",
            "POST /graphql GitgateNodes",
            "POST /graphql CommentCreate",
            "POST /graphql IssueByNumber",
            "POST /graphql IssueClose",
        ]
    );
}

#[test]
fn actions_search_labels_repo_and_checks() {
    let e = env();
    let r = e.gh(&["run", "list"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with("completed\tfailure\tAdd feature\tCI\tclaude/feature\tpush\t100\t"),
        "{}",
        r.stdout
    );
    let r = e.gh(&["workflow", "list"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "CI\tactive\t9\n");
    let r = e.gh(&["search", "prs", "--repo", "acme/app", "feature"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "acme/app\t1\topen\tAdd feature\tbug\t2024-01-01T00:00:00Z\n"
    );
    let r = e.gh(&["label", "list"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "bug\t\t#d73a4a\nenhancement\t\t#d73a4a\n");
    let r = e.gh(&[
        "repo",
        "view",
        "--json",
        "name,description,defaultBranchRef",
    ]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "{\"defaultBranchRef\":{\"name\":\"main\"},\"description\":\"The app repository\",\"name\":\"app\"}\n"
    );
    let r = e.gh(&["pr", "checks", "1"]);
    assert_eq!(r.code, 1, "a failed check exits 1: {}", r.stderr);
    assert!(r.stdout.contains("test\tfail\t"), "{}", r.stdout);
    assert!(r.stdout.contains("build\tpass\t"), "{}", r.stdout);
    let r = e.gh(&[
        "api",
        "--paginate",
        "repos/{owner}/{repo}/pulls",
        "--jq",
        ".[].number",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "3\n1\n");
    let s = summary(&e.requests());
    assert_eq!(
        s[0],
        "GET /repos/acme/app/actions/runs?per_page=20&exclude_pull_requests=true"
    );
    assert!(s.contains(
        &"GET /search/issues?page=1&per_page=30&q=feature+repo%3Aacme%2Fapp+type%3Apr".to_owned()
    ));
    assert!(s.contains(&"POST /graphql PullRequestStatusChecks".to_owned()));
    // Searching without an allowed repo: refused.
    refused(&e, &["search", "prs", "feature"], "repo:OWNER/NAME");
    refused(
        &e,
        &["search", "prs", "--repo", "other/x", "feature"],
        "ALLOWED_REPOS",
    );
}

#[test]
fn job_log_redirect_is_followed_by_the_agent_without_the_token() {
    let e = env();
    let r = e.gh(&["api", "repos/acme/app/actions/jobs/201/logs"]);
    r.assert_code(0);
    assert!(r.stdout.contains(FAILED_LOG_LINE), "{}", r.stdout);
    let reqs = e.requests();
    assert_eq!(
        summary(&reqs),
        [
            "GET /repos/acme/app/actions/jobs/201/logs",
            "GET /_download/logs/201"
        ]
    );
    assert!(!reqs[1].auth_ok, "the storage download carried the token");
}

#[test]
fn a_response_echoing_the_token_is_stopped() {
    let e = env();
    let r = e.gh(&["api", "repos/acme/app/echo-headers"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    // no_token() inside gh() proved stdout and stderr hold no token.
    e.no_token_in_logs();
}

#[test]
fn refusals_after_reads_send_no_write() {
    let e = env();
    refused_write(
        &e,
        &["pr", "merge", "1", "--merge"],
        "merging pull requests is disabled (ALLOW_PR_MERGE)",
    );
    assert_eq!(e.fake.pull("acme/app", 1).unwrap()["merged"], false);
    refused_write(&e, &["workflow", "run", "ci.yml"], "(ALLOW_WORKFLOW_RUN)");
    refused_write(
        &e,
        &["run", "rerun", "100"],
        "HTTP 422: gitgate: POST /repos/acme/app/actions/runs/100/rerun refused",
    );
    let audit = e.audit();
    assert!(
        audit
            .iter()
            .any(|a| a["decision"] == "deny"
                && a["path"] == "/repos/acme/app/actions/runs/100/rerun"),
        "{audit:?}"
    );
}

#[test]
fn graphql_writes_on_other_repositories_and_refs() {
    let e = env();
    e.fake.add_repo("other", "x");
    let n = e.fake.add_pull("other/x", "f", "main", "Other", "mallory");
    let id = e.fake.pull("other/x", n).unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = e.fake.request_count();
    let q = format!("query=mutation {{ addComment(input:{{subjectId:\"{id}\", body:\"x\"}}) {{ clientMutationId }} }}");
    let r = e.gh(&["api", "graphql", "-f", &q]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("gitgate: addComment.input.subjectId refused: repository 'other/x' is not in ALLOWED_REPOS (ALLOWED_REPOS)"),
        "{}",
        r.stderr
    );
    // Only the agent's own lookup reached GitHub.
    assert_eq!(e.since(before), ["POST /graphql GitgateNodes"]);
    assert!(e.fake.comments("other/x", n).is_empty());

    let before = e.fake.request_count();
    let r = e.gh(&[
        "api",
        "graphql",
        "-f",
        "query=mutation { updateRef(input:{refId:\"REF_acme_app_main\", oid:\"1111111111111111111111111111111111111111\", force:true}) { clientMutationId } }",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("branch 'main' is protected (BLOCKED_BRANCHES)"),
        "{}",
        r.stderr
    );
    assert_eq!(e.since(before), ["POST /graphql GitgateNodes"]);
}

#[test]
fn other_hosts_are_refused_before_anything_is_sent() {
    use std::io::{Read, Write};
    let e = env();
    let sock = e.agent.socket.parent().unwrap().join("api.sock");
    let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("api socket");
    s.write_all(b"POST /repos/acme/app/releases/1/assets?name=x HTTP/1.1\r\nHost: uploads.github.com\r\nAuthorization: token x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{out}");
    assert!(
        out.contains("gitgate: requests to 'uploads.github.com' are refused: only the GitHub API"),
        "{out}"
    );
    assert_eq!(e.fake.request_count(), 0);
}

#[test]
fn no_token_is_refused_with_the_exact_message() {
    let fake = FakeGitHub::start("ghp_unused");
    let agent = Agent::builder()
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    let gh = |args: &[&str]| {
        Run::from(
            agent
                .cmd("gh", &repo)
                .env("GITGATE_GH_CONFIG_DIR", agent.dir.path().join("gh-config"))
                .env("TMPDIR", agent.dir.path())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    const NO_TOKEN: &str = "gitgate: no GitHub token is loaded (set GITHUB_TOKEN or GITHUB_TOKEN_FILE in .env and restart)";
    let r = gh(&["api", "user"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("gh: {NO_TOKEN} (HTTP 403)")),
        "{}",
        r.stderr
    );
    let r = gh(&["pr", "list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(NO_TOKEN), "{}", r.stderr);
    let r = gh(&["issue", "list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(NO_TOKEN), "{}", r.stderr);
    assert_eq!(fake.request_count(), 0);
}

#[test]
fn shim_without_a_real_gh_says_so() {
    let e = env();
    let out = e
        .cmd()
        .env("PATH", e.agent.bin.display().to_string())
        .arg("pr")
        .output()
        .unwrap();
    let r = Run::from(out);
    assert_eq!(r.code, 127);
    assert_eq!(
        r.stderr,
        "gitgate: gh is not installed: no gh on PATH besides the gitgate shim (install GitHub CLI, or set GITGATE_REAL_GH)\n"
    );
}

#[test]
fn unreachable_agent_exits_127_naming_the_api_socket() {
    let mut e = env();
    e.agent.stop();
    let r = e.gh(&["pr", "list"]);
    assert_eq!(r.code, 127, "{r:?}");
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "gitgate: cannot reach the agent's API gateway at {} (start it: ./run.sh; check: ./run.sh --status)",
            e.agent.socket.parent().unwrap().join("api.sock").display()
        )
    );
}

#[test]
fn peer_uid_not_allowed_is_refused() {
    let other = unsafe { libc::getuid() } + 4242;
    let e = env_with(&[("ALLOWED_UIDS", &format!("[{other}]"))]);
    let me = unsafe { libc::getuid() };
    refused(
        &e,
        &["api", "user"],
        &format!(
            "gitgate: connection refused: uid {me} is not allowed on this socket (ALLOWED_UIDS)"
        ),
    );
}

#[test]
fn pr_view_text_status_diff_and_run_views() {
    let e = env();
    // By number, and by the current branch (claude/feature has PR #1).
    let r = e.gh(&["pr", "view", "1"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with("title:\tAdd feature\nstate:\tOPEN\nauthor:\tocto-bot\nlabels:\tbug\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("--\nThis adds the feature.\n"),
        "{}",
        r.stdout
    );
    let r = e.gh(&["pr", "view", "--json", "number", "--jq", ".number"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "1\n");
    let r = e.gh(&["pr", "status"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("Relevant pull requests in acme/app"),
        "{}",
        r.stdout
    );
    let r = e.gh(&["pr", "diff", "1"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-old\n+new\n"
    );
    let n = e.fake.request_count();
    let r = e.gh(&["run", "view", "100", "--exit-status"]);
    assert_eq!(
        r.code, 1,
        "a failed run exits 1 with --exit-status: {}",
        r.stderr
    );
    assert!(r.stdout.contains("CI"), "{}", r.stdout);
    assert!(e
        .since(n)
        .contains(&"GET /repos/acme/app/actions/runs/100/jobs".to_owned()));
    let r = e.gh(&["run", "watch", "100"]);
    assert!(
        r.stdout.contains("already completed") || r.stderr.contains("already completed"),
        "{r:?}"
    );
    let r = e.gh(&["workflow", "view", "ci.yml"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("CI - ci.yml") || r.stdout.contains("CI"),
        "{}",
        r.stdout
    );
}

#[test]
fn repository_administration_is_refused() {
    let e = env();
    refused(
        &e,
        &["repo", "rename", "newname", "--yes"],
        "repository settings",
    );
    refused(
        &e,
        &["repo", "edit", "--description", "x"],
        "repository settings",
    );
    refused_write(&e, &["repo", "archive", "--yes"], "archiveRepository");
    refused(&e, &["gist", "create", "-f", "x.txt", "-"], "gists");
}

/// Non-negotiable 3: the same gh command through gitgate and straight to the same server (gh's
/// own `http_unix_socket` pointed at the fake, with the real token) prints the same bytes and
/// exits the same.
#[test]
fn differential_reads_match_gh_without_gitgate() {
    let token = random_token();
    let dir = tempfile::tempdir().unwrap();
    let fake_sock = dir.path().join("fake.sock");
    let fake = FakeGitHub::start_with_unix(&token, &fake_sock);
    let agent = Agent::builder()
        .token(&token)
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    git(&repo, &["checkout", "-q", "-b", "claude/feature"]);
    let direct_cfg = dir.path().join("direct-config");
    std::fs::create_dir_all(&direct_cfg).unwrap();
    std::fs::write(
        direct_cfg.join("config.yml"),
        format!(
            "git_protocol: https\nhttp_unix_socket: {}\n",
            fake_sock.display()
        ),
    )
    .unwrap();
    let run = |via_gitgate: bool, args: &[&str]| -> Run {
        let mut c = agent.cmd("gh", &repo);
        let tmp = dir
            .path()
            .join(if via_gitgate { "t-gitgate" } else { "t-direct" });
        std::fs::create_dir_all(&tmp).unwrap();
        c.env("TMPDIR", &tmp)
            .env("NO_COLOR", "1")
            .env("GH_PAGER", "");
        if via_gitgate {
            c.env("GITGATE_GH_CONFIG_DIR", dir.path().join("gitgate-config"));
        } else {
            c = {
                let mut d = std::process::Command::new("/usr/bin/gh");
                d.current_dir(&repo)
                    .env_clear()
                    .env("PATH", "/usr/bin:/bin")
                    .env("HOME", test_home())
                    .env("LANG", "C")
                    .env("LC_ALL", "C")
                    .env("TZ", "UTC")
                    .env("TMPDIR", &tmp)
                    .env("NO_COLOR", "1")
                    .env("GH_PAGER", "")
                    .env("GH_CONFIG_DIR", &direct_cfg)
                    .env("GH_TOKEN", &token)
                    .env("GH_NO_UPDATE_NOTIFIER", "1")
                    .stdin(std::process::Stdio::null());
                d
            };
        }
        Run::from(c.args(args).output().unwrap())
    };
    for args in [
        &["pr", "list"][..],
        &[
            "pr",
            "list",
            "--state",
            "all",
            "--json",
            "number,title,headRefName,isDraft,labels",
        ],
        &["pr", "view", "1"],
        &[
            "pr",
            "view",
            "1",
            "--json",
            "number,title,body,state,author,labels,reviewRequests,additions,deletions",
        ],
        &["pr", "view", "--json", "number", "--jq", ".number"],
        &["pr", "checks", "1"],
        &["pr", "diff", "1"],
        &["pr", "status"],
        &["issue", "list"],
        &["issue", "view", "2"],
        &["issue", "view", "2", "--comments"],
        &["pr", "list", "--author", "@me"],
        &["pr", "view", "1", "--comments"],
        &["run", "list"],
        &["run", "view", "100"],
        &["workflow", "list"],
        &["label", "list"],
        &["repo", "view"],
        &["search", "prs", "--repo", "acme/app", "feature"],
        &["api", "user"],
        &["api", "repos/{owner}/{repo}/pulls", "--jq", ".[].title"],
        &["api", "graphql", "-f", "query=query { viewer { login } }"],
    ] {
        let a = run(false, args);
        let b = run(true, args);
        assert_eq!(
            (a.code, &a.stdout, &a.stderr),
            (b.code, &b.stdout, &b.stderr),
            "gh {args:?} differs through gitgate"
        );
        assert!(!b.stdout.contains(&token) && !b.stderr.contains(&token));
    }
}

#[test]
fn more_pr_and_issue_commands() {
    let e = env();
    // A pending check: Debian's gh 2.23 exits 1 (later gh releases exit 8); it is gh's own code.
    let n = e
        .fake
        .add_pull("acme/app", "claude/pending", "main", "Pending", "octo-bot");
    let sha = e.fake.pull("acme/app", n).unwrap()["head"]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    e.fake.add_check_run(&sha, "slow", "in_progress", None);
    let r = e.gh(&["pr", "checks", &n.to_string()]);
    assert_eq!(r.code, 1, "pending checks: {r:?}");
    assert!(r.stdout.contains("slow\tpending"), "{}", r.stdout);
    // Drafts and --fill-like bodies.
    let r = e.gh(&[
        "pr", "create", "--draft", "--title", "D", "--body", "", "--head", "claude/d", "--base",
        "main",
    ]);
    r.assert_code(0);
    let created: u64 = r.stdout.trim().rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(e.fake.pull("acme/app", created).unwrap()["draft"], true);
    // gh api -f: a write the table allows, and one it does not.
    let before = e.fake.request_count();
    let r = e.gh(&[
        "api",
        "repos/{owner}/{repo}/issues/2/comments",
        "-f",
        "body=via api",
        "--jq",
        ".body",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "via api\n");
    assert_eq!(e.since(before), ["POST /repos/acme/app/issues/2/comments"]);
    refused(
        &e,
        &[
            "api",
            "-X",
            "PUT",
            "repos/{owner}/{repo}/pulls/1/merge",
            "-f",
            "merge_method=squash",
        ],
        "(ALLOW_PR_MERGE)",
    );
    refused(
        &e,
        &[
            "api",
            "repos/{owner}/{repo}/git/refs",
            "-f",
            "ref=refs/heads/main",
            "-f",
            "sha=abc",
        ],
        "(BLOCKED_BRANCHES)",
    );
    refused(
        &e,
        &[
            "api",
            "-X",
            "PATCH",
            "repos/{owner}/{repo}/git/refs/heads/claude/feature",
            "-F",
            "force=true",
            "-f",
            "sha=abc",
        ],
        "(ALLOW_FORCE_PUSH)",
    );
    // Issue reopen.
    e.gh(&["issue", "close", "2"]).assert_code(0);
    e.gh(&["issue", "reopen", "2"]).assert_code(0);
    assert_eq!(e.fake.issue("acme/app", 2).unwrap()["state"], "open");
}

#[test]
fn merge_and_workflow_runs_with_their_settings() {
    let e = env_with(&[("ALLOW_PR_MERGE", "true")]);
    let r = e.gh(&["pr", "merge", "1", "--merge"]);
    r.assert_code(0);
    assert_eq!(e.fake.pull("acme/app", 1).unwrap()["merged"], true);
    let ops: Vec<String> = e
        .requests()
        .iter()
        .filter_map(|r| r.operation.clone())
        .collect();
    assert!(ops.contains(&"PullRequestMerge".to_owned()), "{ops:?}");
}

#[test]
fn run_logs_come_through_the_agent_followed_redirect() {
    let e = env();
    let r = e.gh(&["run", "view", "100", "--log-failed"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "test\tRun tests\t2024-01-01T00:00:03.0000000Z {FAILED_LOG_LINE}"
        )),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("build\t"),
        "only failed steps: {}",
        r.stdout
    );
    let r = e.gh(&["run", "view", "100", "--log"]);
    r.assert_code(0);
    assert!(r.stdout.contains("build\tBuild\t"), "{}", r.stdout);
    let reqs = e.requests();
    let dl: Vec<&Recorded> = reqs
        .iter()
        .filter(|q| q.path == "/_download/runlogs/100")
        .collect();
    assert!(!dl.is_empty(), "{:?}", summary(&reqs));
    assert!(
        dl.iter().all(|q| !q.auth_ok),
        "storage downloads carry no token"
    );
}

#[test]
fn comments_and_author_search() {
    let e = env();
    let r = e.gh(&["issue", "view", "2", "--comments"]);
    r.assert_code(0);
    assert!(r.stdout.starts_with("author:\tbob\n"), "{}", r.stdout);
    assert!(r.stdout.contains("Me too."), "{}", r.stdout);
    let r = e.gh(&["pr", "list", "--author", "@me"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "3\tWIP draft\tclaude/draft\tDRAFT\t2024-01-01 00:00:00 +0000 UTC\n\
         1\tAdd feature\tclaude/feature\tOPEN\t2024-01-01 00:00:00 +0000 UTC\n"
    );
    let reqs = e.requests();
    assert_eq!(
        summary(&reqs),
        [
            "POST /graphql IssueByNumber",
            "POST /graphql GitgateNodes",
            "POST /graphql CommentsForIssue",
            "POST /graphql PullRequestSearch"
        ]
    );
    let q = reqs[3].variables["q"].as_str().unwrap();
    assert!(
        q.contains("repo:acme/app") && q.contains("author:@me"),
        "{q}"
    );
}

#[test]
fn github_errors_and_rate_limit_headers_pass_through() {
    let e = env();
    e.fake.set_rate_limited(Some(4_102_444_800));
    let r = e.gh(&["api", "-i", "user"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.starts_with("HTTP/1.1 403 Forbidden"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("X-Ratelimit-Remaining: 0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("X-Ratelimit-Reset: 4102444800"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("API rate limit exceeded"), "{}", r.stderr);
    e.fake.set_rate_limited(None);
    let r = e.gh(&["api", "repos/acme/app/pulls/999"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("gh: Not Found (HTTP 404)"),
        "{}",
        r.stderr
    );
}

/// gh with git: the fake GitHub for the API and a real smart-HTTP server for git. The agent's
/// GITHUB_GIT_URL sends the git traffic for github.com remotes to the loopback server, so gh
/// and git see exactly what they would see with github.com: `https://github.com/acme/app.git`
/// remotes, FETCH_HEAD and messages naming it.
struct GitEnv {
    e: Env,
    server: GitHttpServer,
    srv: tempfile::TempDir,
    seed: tempfile::TempDir,
}

/// The server's acme/app: `main` (one commit) and `claude/feature` (one more), the head of the
/// fake's pull request #1.
fn git_env() -> GitEnv {
    let token = random_token();
    let fake = FakeGitHub::start(&token);
    let srv = tempfile::tempdir().unwrap();
    init_bare(srv.path(), "acme", "app");
    let server = GitHttpServer::start(srv.path(), &token).unwrap();
    let seed = tempfile::tempdir().unwrap();
    let s = seed.path();
    git(s, &["init", "-q", "-b", "main"]);
    std::fs::write(s.join("README.md"), "# app\n").unwrap();
    git(s, &["add", "."]);
    git(s, &["commit", "-q", "-m", "initial"]);
    git(s, &["checkout", "-q", "-b", "claude/feature"]);
    std::fs::write(s.join("feature.txt"), "feature\n").unwrap();
    git(s, &["add", "."]);
    git(s, &["commit", "-q", "-m", "feature"]);
    let url = server.url_with_token("acme", "app", &token);
    git(s, &["push", "-q", &url, "main", "claude/feature"]);
    let agent = Agent::builder()
        .token(&token)
        .env("GITHUB_API_URL", &fake.url())
        .env("GITHUB_GIT_URL", &format!("http://{}", server.host()))
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#)
        .start();
    // The harness waits for the git socket; the API socket is bound just after it.
    let api = agent.socket.with_file_name("api.sock");
    gitgate_e2e::raw::wait_for("the API socket", std::time::Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&api).ok()
    });
    let repo = agent.workspace.clone();
    GitEnv {
        e: Env {
            fake,
            agent,
            repo,
            token,
        },
        server,
        srv,
        seed,
    }
}

impl GitEnv {
    fn gh_in(&self, cwd: &std::path::Path, args: &[&str]) -> Run {
        let out = self
            .e
            .cmd()
            .current_dir(cwd)
            .env(
                "GITGATE_OVERLAY_DIR",
                self.e.agent.dir.path().join("overlay"),
            )
            .env("GIT_AUTHOR_NAME", "Gitgate Test")
            .env("GIT_AUTHOR_EMAIL", "test@gitgate.invalid")
            .env("GIT_COMMITTER_NAME", "Gitgate Test")
            .env("GIT_COMMITTER_EMAIL", "test@gitgate.invalid")
            .args(args)
            .output()
            .expect("run gh");
        let r = Run::from(out);
        self.e.no_token(&r);
        r
    }

    /// Push a new commit on `branch` (or to `dest`) to the server directly (another developer);
    /// returns its sha.
    fn upstream_commit(&self, branch: &str, dest: &str, file: &str) -> String {
        let s = self.seed.path();
        git(s, &["checkout", "-q", branch]);
        std::fs::write(s.join(file), format!("{file}\n")).unwrap();
        git(s, &["add", "."]);
        git(s, &["commit", "-q", "-m", file]);
        let url = self.server.url_with_token("acme", "app", &self.e.token);
        git(s, &["push", "-q", &url, &format!("HEAD:{dest}")]);
        git(s, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// The git requests the server received since `n`; all carried the token.
    fn git_since(&self, n: usize) -> Vec<String> {
        let reqs = self.server.requests();
        reqs[n..]
            .iter()
            .map(|q| {
                assert!(q.auth_ok, "git request without the token: {q:?}");
                format!("{} {}", q.method, q.path)
            })
            .collect()
    }

    fn server_sha(&self, refname: &str) -> String {
        git(
            &self.srv.path().join("acme/app.git"),
            &["rev-parse", refname],
        )
        .trim()
        .to_owned()
    }
}

const FETCH: [&str; 3] = [
    "GET /acme/app.git/info/refs?service=git-upload-pack",
    "POST /acme/app.git/git-upload-pack",
    "POST /acme/app.git/git-upload-pack",
];

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// refs with their upstreams, and the remote/branch config, of a clone (each line ending in
/// a newline; `git()` trims its output).
fn refs_and_config(dir: &std::path::Path) -> (String, String) {
    let lines = |s: String| s.lines().map(|l| format!("{l}\n")).collect::<String>();
    let (refs, config) = (
        git(
            dir,
            &[
                "for-each-ref",
                "--format=%(objectname) %(refname) [%(upstream)]",
            ],
        ),
        git(dir, &["config", "--get-regexp", "^(remote|branch)\\."]),
    );
    (lines(refs), lines(config))
}

#[test]
fn repo_clone_and_pr_checkout_run_the_real_git_through_the_transport() {
    let g = git_env();
    let ws = g.e.agent.workspace.clone();
    let git0 = g.server.request_count();
    let r = g.gh_in(&ws, &["repo", "clone", "acme/app"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "Cloning into 'app'...\n");
    let reqs = g.e.requests();
    assert_eq!(summary(&reqs), ["POST /graphql RepositoryInfo"]);
    assert_eq!(reqs[0].variables["owner"], "acme");
    assert_eq!(reqs[0].variables["name"], "app");
    assert_eq!(g.git_since(git0), FETCH);
    // gh ran the real git itself (first on its PATH, the shim's `bin-*` dir holding only `git`),
    // with the overlay as its exec path: no git shim in between, and still gitgate's transport.
    let bins: Vec<_> = std::fs::read_dir(g.e.agent.dir.path().join("overlay"))
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("bin-"))
        .collect();
    assert_eq!(bins.len(), 1);
    assert_eq!(
        std::fs::read_link(bins[0].path().join("git")).unwrap(),
        std::path::Path::new(REAL_GIT)
    );
    let app = ws.join("app");
    let main = g.server_sha("refs/heads/main");
    let feature = g.server_sha("refs/heads/claude/feature");
    let (refs, config) = refs_and_config(&app);
    assert_eq!(
        refs,
        format!(
            "{main} refs/heads/main [refs/remotes/origin/main]\n\
             {main} refs/remotes/origin/HEAD []\n\
             {feature} refs/remotes/origin/claude/feature []\n\
             {main} refs/remotes/origin/main []\n"
        )
    );
    assert_eq!(
        config,
        "remote.origin.url https://github.com/acme/app.git\n\
         remote.origin.fetch +refs/heads/*:refs/remotes/origin/*\n\
         branch.main.remote origin\n\
         branch.main.merge refs/heads/main\n"
    );

    // Someone pushes to the PR's branch; gh pr checkout fetches it and makes a tracking branch.
    let new = g.upstream_commit("claude/feature", "refs/heads/claude/feature", "more.txt");
    let (api0, git0) = (g.e.fake.request_count(), g.server.request_count());
    let r = g.gh_in(&app, &["pr", "checkout", "1"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "branch 'claude/feature' set up to track 'origin/claude/feature'.\n"
    );
    assert_eq!(
        r.stderr,
        format!(
            "From https://github.com/acme/app\n   {}..{}  claude/feature -> origin/claude/feature\n\
             Switched to a new branch 'claude/feature'\n",
            short(&feature),
            short(&new)
        )
    );
    assert_eq!(g.e.since(api0), ["POST /graphql PullRequestByNumber"]);
    assert_eq!(g.e.requests()[api0].variables["pr_number"], 1);
    assert_eq!(g.git_since(git0), FETCH);
    let (refs, config) = refs_and_config(&app);
    assert_eq!(
        refs,
        format!(
            "{new} refs/heads/claude/feature [refs/remotes/origin/claude/feature]\n\
             {main} refs/heads/main [refs/remotes/origin/main]\n\
             {main} refs/remotes/origin/HEAD []\n\
             {new} refs/remotes/origin/claude/feature []\n\
             {main} refs/remotes/origin/main []\n"
        )
    );
    assert!(
        config.ends_with(
            "branch.claude/feature.remote origin\nbranch.claude/feature.merge refs/heads/claude/feature\n"
        ),
        "{config}"
    );
    assert_eq!(
        git(&app, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/claude/feature"
    );
    assert_eq!(
        std::fs::read_to_string(app.join(".git/FETCH_HEAD")).unwrap(),
        format!("{new}\t\tbranch 'claude/feature' of https://github.com/acme/app\n")
    );

    // The branch exists now: gh checks it out and fast-forwards it.
    let newer = g.upstream_commit("claude/feature", "refs/heads/claude/feature", "again.txt");
    git(&app, &["checkout", "-q", "main"]);
    let git0 = g.server.request_count();
    let r = g.gh_in(&app, &["pr", "checkout", "1"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        format!(
            "Your branch is behind 'origin/claude/feature' by 1 commit, and can be fast-forwarded.\n  \
             (use \"git pull\" to update your local branch)\n\
             Updating {}..{}\nFast-forward\n again.txt | 1 +\n 1 file changed, 1 insertion(+)\n \
             create mode 100644 again.txt\n",
            short(&new),
            short(&newer)
        )
    );
    assert_eq!(g.git_since(git0), FETCH);
    assert_eq!(git(&app, &["rev-parse", "HEAD"]).trim(), newer);
    assert_eq!(
        git(&app, &["status", "--porcelain=v1", "-b"]),
        "## claude/feature...origin/claude/feature"
    );
    g.e.no_token_in_logs();
    // The audit names the git operations and the repository.
    let log = std::fs::read_to_string(g.e.agent.state.join("audit.jsonl")).unwrap();
    assert!(
        log.lines().filter(|l| l.contains("\"transport\"")).count() >= 3,
        "{log}"
    );
}

#[test]
fn pr_checkout_of_a_fork_fetches_the_pull_ref_from_the_base_repository() {
    let g = git_env();
    let ws = g.e.agent.workspace.clone();
    g.gh_in(&ws, &["repo", "clone", "acme/app"]).assert_code(0);
    let app = ws.join("app");
    let n =
        g.e.fake
            .add_pull("acme/app", "fix", "main", "From a fork", "contributor");
    g.e.fake.set_pull_field(
        "acme/app",
        n,
        "head",
        json!({"ref": "fix", "label": "contributor:fix", "sha": "0",
               "repo": {"full_name": "contributor/app", "name": "app", "node_id": "R_fork",
                        "owner": {"login": "contributor"}}}),
    );
    let pull_ref = format!("refs/pull/{n}/head");
    let sha = g.upstream_commit("main", &pull_ref, "fix.txt");
    let (api0, git0) = (g.e.fake.request_count(), g.server.request_count());
    let r = g.gh_in(&app, &["pr", "checkout", &n.to_string()]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "From https://github.com/acme/app\n * [new ref]         {pull_ref} -> fix\n\
             Switched to branch 'fix'\n"
        )
    );
    assert_eq!(
        g.e.since(api0),
        [
            "POST /graphql PullRequestByNumber",
            "POST /graphql RepositoryInfo"
        ]
    );
    assert_eq!(g.git_since(git0), FETCH);
    assert_eq!(git(&app, &["rev-parse", "refs/heads/fix"]).trim(), sha);
    let (_, config) = refs_and_config(&app);
    assert!(
        config.ends_with(&format!(
            "branch.fix.remote origin\nbranch.fix.pushremote origin\nbranch.fix.merge {pull_ref}\n"
        )),
        "{config}"
    );
}

#[test]
fn repo_clone_of_a_repository_outside_the_allowlist_reaches_nothing() {
    let g = git_env();
    let ws = g.e.agent.workspace.clone();
    let git0 = g.server.request_count();
    let r = g.gh_in(&ws, &["repo", "clone", "other/thing"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("gitgate: ") && r.stderr.contains("(ALLOWED_REPOS)"),
        "{}",
        r.stderr
    );
    assert_eq!(g.e.fake.request_count(), 0);
    assert_eq!(g.server.request_count(), git0);
    assert!(!ws.join("thing").exists());
}

/// Label names of a fake pull request or issue, sorted.
fn label_names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

#[test]
fn issue_and_pr_edit() {
    let e = env();
    let r = e.gh(&[
        "issue",
        "edit",
        "2",
        "--title",
        "New title",
        "--body",
        "New body",
        "--add-label",
        "enhancement",
        "--remove-label",
        "bug",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/issues/2\n");
    assert_eq!(r.stderr, "");
    let i = e.fake.issue("acme/app", 2).unwrap();
    assert_eq!(i["title"], "New title");
    assert_eq!(i["body"], "New body");
    assert_eq!(label_names(&i), ["enhancement"]);
    // gh reads the issue and the labels, then sends its mutations in parallel (any order); the
    // gateway checks their node ids first.
    let reqs = e.requests();
    let ops = summary(&reqs);
    assert_eq!(
        ops[..2],
        [
            "POST /graphql IssueByNumber",
            "POST /graphql RepositoryLabelList"
        ]
    );
    let mut rest: Vec<&str> = ops[2..]
        .iter()
        .map(String::as_str)
        .filter(|o| !o.ends_with("GitgateNodes"))
        .collect();
    rest.sort();
    assert_eq!(
        rest,
        [
            "POST /graphql IssueUpdate",
            "POST /graphql LabelAdd",
            "POST /graphql LabelRemove"
        ]
    );
    let issue_id = i["node_id"].as_str().unwrap();
    for q in &reqs[2..] {
        match q.operation.as_deref() {
            Some("IssueUpdate") => assert_eq!(
                q.variables["input"],
                json!({"id": issue_id, "title": "New title", "body": "New body"})
            ),
            Some("LabelAdd") => assert_eq!(
                q.variables["input"],
                json!({"labelableId": issue_id, "labelIds": ["LA_enhancement"]})
            ),
            Some("LabelRemove") => assert_eq!(
                q.variables["input"],
                json!({"labelableId": issue_id, "labelIds": ["LA_bug"]})
            ),
            Some("GitgateNodes") => {
                for id in q.variables["ids"].as_array().unwrap() {
                    assert!(
                        [issue_id, "LA_enhancement", "LA_bug"].contains(&id.as_str().unwrap()),
                        "{q:?}"
                    );
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // gh issue view shows the edit (gh's own rendering of what GitHub now holds).
    let r = e.gh(&[
        "issue",
        "view",
        "2",
        "--json",
        "title,body,labels",
        "--jq",
        "[.title, .body, (.labels | map(.name) | join(\",\"))] | join(\"|\")",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "New title|New body|enhancement\n");

    // pr edit: title, body and a label on the PR.
    let n = e.fake.request_count();
    let r = e.gh(&[
        "pr",
        "edit",
        "1",
        "--title",
        "Better title",
        "--body",
        "Better body",
        "--add-label",
        "bug",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/1\n");
    let p = e.fake.pull("acme/app", 1).unwrap();
    assert_eq!(p["title"], "Better title");
    assert_eq!(p["body"], "Better body");
    assert_eq!(label_names(&p), ["bug"]);
    let mut ops: Vec<String> = e
        .since(n)
        .into_iter()
        .filter(|o| !o.ends_with("GitgateNodes"))
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            "POST /graphql LabelAdd",
            "POST /graphql PullRequestByNumber",
            "POST /graphql PullRequestProjectItems",
            "POST /graphql PullRequestUpdate",
            "POST /graphql RepositoryLabelList",
        ]
    );

    // Another repository's issue: refused before anything reaches GitHub.
    refused(
        &e,
        &["issue", "edit", "1", "-R", "other/thing", "--title", "x"],
        "(ALLOWED_REPOS)",
    );
    e.no_token_in_logs();
}

#[test]
fn pr_create_fill_after_a_push_through_the_transport() {
    let g = git_env();
    let ws = g.e.agent.workspace.clone();
    g.gh_in(&ws, &["repo", "clone", "acme/app"]).assert_code(0);
    let app = ws.join("app");
    git(&app, &["checkout", "-q", "-b", "claude/new"]);
    std::fs::write(app.join("new.txt"), "new\n").unwrap();
    git(&app, &["add", "."]);
    git(
        &app,
        &["commit", "-q", "-m", "Add the new thing\n\nWhy it matters."],
    );
    let push = Run::from(
        g.e.agent
            .cmd("git", &app)
            .env("GITGATE_OVERLAY_DIR", g.e.agent.dir.path().join("overlay"))
            .args(["push", "-u", "origin", "claude/new"])
            .output()
            .unwrap(),
    );
    push.assert_code(0);
    assert_eq!(
        push.stderr,
        "To https://github.com/acme/app.git\n * [new branch]      claude/new -> claude/new\n"
    );
    let head = git(&app, &["rev-parse", "HEAD"]);
    assert_eq!(g.server_sha("refs/heads/claude/new"), head.trim());

    let n = g.e.fake.request_count();
    let r = g.gh_in(&app, &["pr", "create", "--fill"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/4\n");
    assert_eq!(r.stderr, "");
    let reqs = g.e.requests();
    assert_eq!(
        summary(&reqs[n..]),
        [
            "POST /graphql RepositoryInfo",
            "POST /graphql PullRequestForBranch",
            "POST /graphql GitgateNodes",
            "POST /graphql PullRequestCreate"
        ]
    );
    let repo_id = reqs[n + 3].variables["input"]["repositoryId"].clone();
    assert_eq!(
        reqs[n + 3].variables["input"],
        json!({"baseRefName": "main", "body": "Why it matters.\n", "draft": false,
               "headRefName": "claude/new", "maintainerCanModify": true,
               "repositoryId": repo_id, "title": "Add the new thing"})
    );
    assert_eq!(reqs[n + 2].variables["ids"], json!([repo_id]));
    let p = g.e.fake.pull("acme/app", 4).unwrap();
    assert_eq!(p["title"], "Add the new thing");
    assert_eq!(p["head"]["ref"], "claude/new");

    // --fill --base: the same, into another base.
    git(&app, &["checkout", "-q", "-b", "claude/second"]);
    std::fs::write(app.join("second.txt"), "second\n").unwrap();
    git(&app, &["add", "."]);
    git(&app, &["commit", "-q", "-m", "Second step"]);
    let push = Run::from(
        g.e.agent
            .cmd("git", &app)
            .env("GITGATE_OVERLAY_DIR", g.e.agent.dir.path().join("overlay"))
            .args(["push", "-q", "-u", "origin", "claude/second"])
            .output()
            .unwrap(),
    );
    push.assert_code(0);
    let r = g.gh_in(&app, &["pr", "create", "--fill", "--base", "claude/new"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/5\n");
    let p = g.e.fake.pull("acme/app", 5).unwrap();
    assert_eq!(p["base"]["ref"], "claude/new");
    assert_eq!(p["head"]["ref"], "claude/second");

    // A branch that is not pushed: gh's own refusal (it pushes only when it can ask).
    git(&app, &["checkout", "-q", "-b", "claude/unpushed"]);
    let n = g.e.fake.request_count();
    let r = g.gh_in(&app, &["pr", "create", "--fill"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "aborted: you must first push the current branch to a remote, or use the --head flag"
    );
    assert_eq!(g.e.since(n), ["POST /graphql RepositoryInfo"]);
    g.e.no_token_in_logs();
}

#[test]
fn pr_create_head_must_match_the_branch_patterns() {
    let e = env_with(&[("ALLOWED_BRANCH_PATTERNS", r#"["claude/*"]"#)]);
    refused_write(
        &e,
        &[
            "pr", "create", "--title", "T", "--body", "B", "--head", "feat", "--base", "main",
        ],
        "pull request head 'feat' refused:",
    );
    let r = e.gh(&[
        "pr", "create", "--title", "T", "--body", "B", "--head", "feat", "--base", "main",
    ]);
    assert!(
        r.stderr.contains("(ALLOWED_BRANCH_PATTERNS)"),
        "{}",
        r.stderr
    );
    // A fork's head (`owner:branch`) is checked by its branch.
    refused_write(
        &e,
        &[
            "pr",
            "create",
            "--title",
            "T",
            "--body",
            "B",
            "--head",
            "someone:master",
            "--base",
            "main",
        ],
        "pull request head 'master' refused: branch 'master' is protected (BLOCKED_BRANCHES)",
    );
    assert!(e.fake.pull("acme/app", 4).is_none());
    let r = e.gh(&[
        "pr", "create", "--title", "T", "--body", "B", "--head", "claude/x", "--base", "main",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/4\n");
    assert_eq!(
        e.fake.pull("acme/app", 4).unwrap()["head"]["ref"],
        "claude/x"
    );
}
