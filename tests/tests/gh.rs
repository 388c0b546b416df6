//! End-to-end tests of `gh` (issue 4): the built shim and agent against the fake GitHub API.
//! Every test asserts what reached the server (method, path, body) as well as what the user sees,
//! and that the token never appears in any output.

use gitgate_e2e::*;
use gitgate_testsupport::github::{FakeGitHub, FAILED_LOG_LINE, PR1_SHA};
use serde_json::Value;
use std::path::PathBuf;

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
        .env("ALLOWED_REPOS", r#"["acme/*"]"#);
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
    fn gh(&self, args: &[&str]) -> Run {
        let r = self.agent.run("gh", &self.repo, args);
        self.no_token(&r);
        r
    }
    fn gh_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let r = self
            .agent
            .run_with_stdin("gh", &self.repo, args, stdin.as_bytes());
        self.no_token(&r);
        r
    }
    fn no_token(&self, r: &Run) {
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(&self.token), "token leaked in output: {out}");
            let b64 = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("x-access-token:{}", self.token),
            );
            assert!(!out.contains(&b64), "basic-auth token leaked: {out}");
        }
    }
}

fn denied_one_line(r: &Run) {
    assert_eq!(r.code, 126, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {:?}", r.stderr);
    assert!(lines[0].starts_with("gitgate: "), "{}", lines[0]);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn pr_list_text_and_json() {
    let e = env();
    let r = e.gh(&["pr", "list"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "3\tWIP draft\tclaude/draft\tDRAFT\t2024-01-01T00:00:00Z\n\
         1\tAdd feature\tclaude/feature\tOPEN\t2024-01-01T00:00:00Z\n"
    );
    let reqs = e.fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/repos/acme/app/pulls");
    assert_eq!(reqs[0].param("state").as_deref(), Some("open"));
    assert!(reqs[0].auth_ok);

    let r = e.gh(&[
        "pr",
        "list",
        "--json",
        "number,title,isDraft,author",
        "-L",
        "1",
    ]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "[{\"author\":{\"is_bot\":false,\"login\":\"octo-bot\"},\"isDraft\":true,\"number\":3,\"title\":\"WIP draft\"}]\n"
    );
    assert_eq!(e.fake.requests()[1].param("per_page").as_deref(), Some("1"));

    let r = e.gh(&[
        "pr",
        "list",
        "--head",
        "claude/feature",
        "--state",
        "all",
        "--json",
        "number",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "[{\"number\":1}]\n");
    let last = e.fake.requests().pop().unwrap();
    assert_eq!(
        last.param("head").as_deref(),
        Some("acme%3Aclaude%2Ffeature")
    );
    assert_eq!(last.param("state").as_deref(), Some("all"));

    // --json without fields lists them; unknown fields are named
    let r = e.gh(&["pr", "list", "--json", "bogus"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Unknown JSON field: \"bogus\""),
        "{}",
        r.stderr
    );
    // --jq is refused with a hint, before any request
    let n = e.fake.request_count();
    let r = e.gh(&["pr", "list", "--json", "number", "--jq", ".[]"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("--jq"), "{}", r.stderr);
    assert_eq!(e.fake.request_count(), n);
}

#[test]
fn pr_view_by_number_branch_and_current() {
    let e = env();
    let r = e.gh(&["pr", "view", "1"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with("title:\tAdd feature\nstate:\tOPEN\nauthor:\tocto-bot\nlabels:\tbug\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("reviewers:\treviewer1\n"));
    assert!(r
        .stdout
        .contains("number:\t1\nurl:\thttps://github.com/acme/app/pull/1\n"));
    assert!(r.stdout.ends_with("--\nThis adds the feature.\n"));
    assert_eq!(e.fake.requests()[0].path, "/repos/acme/app/pulls/1");

    // no argument: the PR of the current branch (claude/feature)
    e.fake.clear_requests();
    let r = e.gh(&[
        "pr",
        "view",
        "--json",
        "number,headRefName,state,labels,comments",
    ]);
    r.assert_code(0);
    let v = json(&r.stdout);
    assert_eq!(v["number"], 1);
    assert_eq!(v["headRefName"], "claude/feature");
    assert_eq!(v["labels"][0]["name"], "bug");
    assert_eq!(v["comments"], serde_json::json!([]));
    let reqs = e.fake.requests();
    assert_eq!(reqs[0].path, "/repos/acme/app/pulls");
    assert_eq!(
        reqs[0].param("head").as_deref(),
        Some("acme%3Aclaude%2Ffeature")
    );
    assert!(reqs
        .iter()
        .any(|r| r.path == "/repos/acme/app/issues/1/comments"));

    let r = e.gh(&["pr", "view", "claude/draft", "--json", "isDraft,number"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "{\"isDraft\":true,\"number\":3}\n");

    let r = e.gh(&["pr", "view", "9"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "gitgate: pull request #9 not found in acme/app\n");

    let r = e.gh(&["pr", "view", "no-such-branch"]);
    assert_eq!(r.code, 1);
    assert!(r
        .stderr
        .contains("no pull requests found for branch \"no-such-branch\""));
}

#[test]
fn pr_create_with_stdin_body_and_defaults() {
    let e = env();
    git(&e.repo, &["checkout", "-q", "-b", "claude/new"]);
    let r = e.gh_stdin(
        &[
            "pr",
            "create",
            "--title",
            "New thing",
            "--body-file",
            "-",
            "--draft",
            "-l",
            "enhancement",
        ],
        "Body from stdin\n",
    );
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/4\n");
    let posts = e.fake.requests_to("POST", "/repos/acme/app/pulls");
    assert_eq!(posts.len(), 1);
    let b = posts[0].json();
    assert_eq!(b["title"], "New thing");
    assert_eq!(b["body"], "Body from stdin\n");
    assert_eq!(b["head"], "claude/new");
    assert_eq!(
        b["base"], "main",
        "default base = the repository's default branch"
    );
    assert_eq!(b["draft"], true);
    let labels = e
        .fake
        .requests_to("POST", "/repos/acme/app/issues/4/labels");
    assert_eq!(
        labels[0].json()["labels"],
        serde_json::json!(["enhancement"])
    );
    assert_eq!(e.fake.pull("acme/app", 4).unwrap()["draft"], true);

    // body from a file the shim reads; explicit head and base
    std::fs::write(e.repo.join("body.md"), "file body\n").unwrap();
    let r = e.gh(&[
        "pr",
        "create",
        "-t",
        "Other",
        "-F",
        "body.md",
        "-H",
        "claude/other",
        "-B",
        "develop",
    ]);
    r.assert_code(0);
    let b = e.fake.requests_to("POST", "/repos/acme/app/pulls")[1].json();
    assert_eq!(b["body"], "file body\n");
    assert_eq!(b["head"], "claude/other");
    assert_eq!(b["base"], "develop");

    // GitHub's 422 for an existing PR becomes a gh-like line, exit 1
    let r = e.gh(&[
        "pr",
        "create",
        "-t",
        "Again",
        "-b",
        "x",
        "-H",
        "claude/feature",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("gitgate: HTTP 422: Validation Failed: A pull request already exists for acme:claude/feature."),
        "{}",
        r.stderr
    );
}

#[test]
fn pr_create_fill_from_commits() {
    let e = env();
    git(&e.repo, &["checkout", "-q", "-b", "claude/fill"]);
    std::fs::write(e.repo.join("f.txt"), "x\n").unwrap();
    git(&e.repo, &["add", "f.txt"]);
    git(
        &e.repo,
        &[
            "commit",
            "-q",
            "-m",
            "Fix the widget\n\nLonger explanation.",
        ],
    );
    let r = e.gh(&["pr", "create", "--fill", "--base", "main"]);
    r.assert_code(0);
    let b = e.fake.requests_to("POST", "/repos/acme/app/pulls")[0].json();
    assert_eq!(b["title"], "Fix the widget");
    assert_eq!(b["body"], "Longer explanation.");
}

#[test]
fn pr_create_head_must_pass_the_push_policy() {
    let e = env();
    for args in [
        &["pr", "create", "-t", "x", "-b", "y", "--head", "main"][..],
        &["pr", "create", "-t", "x", "-b", "y", "--head", "MASTER"],
        &[
            "pr",
            "create",
            "-t",
            "x",
            "-b",
            "y",
            "--head",
            "evil:claude/x",
        ],
    ] {
        let r = e.gh(args);
        denied_one_line(&r);
    }
    // the current branch is checked too
    git(&e.repo, &["checkout", "-q", "main"]);
    denied_one_line(&e.gh(&["pr", "create", "-t", "x", "-b", "y"]));
    assert_eq!(e.fake.request_count(), 0);
}

#[test]
fn pr_status_diff_checks() {
    let e = env();
    let r = e.gh(&["pr", "status"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("Relevant pull requests in acme/app"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Current branch\n  #1  Add feature [claude/feature] - OPEN\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Created by you\n  #3  WIP draft [claude/draft] - DRAFT\n  #1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("You have no pull requests to review"));
    assert!(e.fake.requests().iter().any(|r| r.path == "/user"));

    let r = e.gh(&["pr", "status", "--json", "number"]);
    r.assert_code(0);
    let v = json(&r.stdout);
    assert_eq!(v["currentBranch"]["number"], 1);
    assert_eq!(v["createdBy"].as_array().unwrap().len(), 2);

    let r = e.gh(&["pr", "diff", "1"]);
    r.assert_code(0);
    assert!(r
        .stdout
        .starts_with("diff --git a/src/lib.rs b/src/lib.rs\n"));
    let last = e.fake.requests().pop().unwrap();
    assert_eq!(last.path, "/repos/acme/app/pulls/1");
    assert!(last.accept.contains("diff"), "{}", last.accept);
    let r = e.gh(&["pr", "diff", "1", "--name-only"]);
    assert_eq!(r.stdout, "src/lib.rs\n");

    // checks: one failure → exit 1, like gh
    let r = e.gh(&["pr", "checks", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "build\tpass\t1m5s\thttps://github.com/acme/app/runs/301\tbuild success\n\
         ci/lint\tpass\t1m5s\thttps://ci.example.com/lint/1\tlint ok\n\
         test\tfail\t1m5s\thttps://github.com/acme/app/runs/302\ttest failure\n"
    );
    let paths: Vec<String> = e.fake.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&format!("/repos/acme/app/commits/{PR1_SHA}/check-runs")));
    assert!(paths.contains(&format!("/repos/acme/app/commits/{PR1_SHA}/status")));
    let r = e.gh(&["pr", "checks", "--json", "name,bucket"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "[{\"bucket\":\"pass\",\"name\":\"build\"},{\"bucket\":\"pass\",\"name\":\"ci/lint\"},{\"bucket\":\"fail\",\"name\":\"test\"}]\n"
    );
}

#[test]
fn pr_comment_edit_close_ready() {
    let e = env();
    let r = e.gh(&["pr", "comment", "1", "--body", "LGTM"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with("https://github.com/acme/app/issues/1#issuecomment-"),
        "{}",
        r.stdout
    );
    let c = e
        .fake
        .requests_to("POST", "/repos/acme/app/issues/1/comments");
    assert_eq!(c[0].json()["body"], "LGTM");

    // comment body from stdin
    let r = e.gh_stdin(&["pr", "comment", "1", "-F", "-"], "from stdin");
    r.assert_code(0);
    assert_eq!(e.fake.comments("acme/app", 1)[1]["body"], "from stdin");

    let r = e.gh(&[
        "pr",
        "edit",
        "1",
        "--title",
        "Better title",
        "--add-label",
        "x,y",
        "--remove-label",
        "bug",
        "--add-reviewer",
        "carol",
        "--remove-reviewer",
        "reviewer1",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/pull/1\n");
    assert_eq!(
        e.fake.requests_to("PATCH", "/repos/acme/app/pulls/1")[0].json(),
        serde_json::json!({"title": "Better title"})
    );
    assert_eq!(
        e.fake
            .requests_to("DELETE", "/repos/acme/app/issues/1/labels/bug")
            .len(),
        1
    );
    let pr = e.fake.pull("acme/app", 1).unwrap();
    assert_eq!(pr["title"], "Better title");
    let labels: Vec<&str> = pr["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["x", "y"]);
    assert_eq!(pr["requested_reviewers"][0]["login"], "carol");
    assert_eq!(pr["requested_reviewers"].as_array().unwrap().len(), 1);

    let r = e.gh(&["pr", "ready", "3"]);
    r.assert_code(0);
    assert_eq!(
        r.stderr,
        "✓ Pull request acme/app#3 is marked as \"ready for review\"\n"
    );
    let g = e.fake.requests_to("POST", "/graphql");
    assert!(g[0].json()["query"]
        .as_str()
        .unwrap()
        .contains("markPullRequestReadyForReview"));
    assert_eq!(g[0].json()["variables"]["id"], "PR_103");
    assert_eq!(e.fake.pull("acme/app", 3).unwrap()["draft"], false);
    let r = e.gh(&["pr", "ready", "3"]);
    r.assert_code(0);
    assert!(r.stderr.contains("already \"ready for review\""));

    let r = e.gh(&["pr", "close", "3", "-c", "superseded"]);
    r.assert_code(0);
    assert_eq!(r.stderr, "✓ Closed pull request acme/app#3 (WIP draft)\n");
    assert_eq!(
        e.fake.requests_to("PATCH", "/repos/acme/app/pulls/3")[0].json(),
        serde_json::json!({"state": "closed"})
    );
    assert_eq!(e.fake.comments("acme/app", 3)[0]["body"], "superseded");
    denied_one_line(&e.gh(&["pr", "close", "1", "--delete-branch"]));
}

#[test]
fn pr_merge_only_with_allow_pr_merge() {
    let e = env();
    denied_one_line(&e.gh(&["pr", "merge", "1", "--squash"]));
    assert_eq!(e.fake.request_count(), 0);

    let e = env_with(&[("ALLOW_PR_MERGE", "true")]);
    let r = e.gh(&["pr", "merge", "1", "--squash"]);
    r.assert_code(0);
    assert_eq!(
        r.stderr,
        "✓ Squashed and merged pull request acme/app#1 (Add feature)\n"
    );
    let m = e.fake.requests_to("PUT", "/repos/acme/app/pulls/1/merge");
    assert_eq!(m[0].json()["merge_method"], "squash");
    assert_eq!(m[0].json()["sha"], PR1_SHA);
}

#[test]
fn issues() {
    let e = env();
    let r = e.gh(&["issue", "list"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout, "2\tOPEN\tCrash on start\tbug\t2024-01-01T00:00:00Z\n",
        "PRs are not listed as issues"
    );
    let r = e.gh(&[
        "issue",
        "list",
        "--json",
        "number,title,labels",
        "-l",
        "bug",
        "-A",
        "alice",
    ]);
    r.assert_code(0);
    let v = json(&r.stdout);
    assert_eq!(v[0]["number"], 2);
    let last = e.fake.requests().pop().unwrap();
    assert_eq!(last.param("labels").as_deref(), Some("bug"));
    assert_eq!(last.param("creator").as_deref(), Some("alice"));

    let r = e.gh(&["issue", "view", "2", "--comments"]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with(
            "title:\tCrash on start\nstate:\tOPEN\nauthor:\talice\nlabels:\tbug\ncomments:\t1\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("--\nIt crashes.\n--\nauthor:\tbob\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("Me too.\n"));
    let r = e.gh(&["issue", "view", "#2", "--json", "author,comments,state"]);
    r.assert_code(0);
    let v = json(&r.stdout);
    assert_eq!(v["author"]["login"], "alice");
    assert_eq!(v["comments"][0]["body"], "Me too.");
    assert_eq!(v["state"], "OPEN");
    let r = e.gh(&["issue", "view", "77"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "gitgate: issue #77 not found in acme/app\n");

    let r = e.gh_stdin(
        &[
            "issue", "create", "-t", "New bug", "-F", "-", "-l", "bug", "-a", "octo-bot",
        ],
        "details",
    );
    r.assert_code(0);
    assert_eq!(r.stdout, "https://github.com/acme/app/issues/4\n");
    let b = e.fake.requests_to("POST", "/repos/acme/app/issues")[0].json();
    assert_eq!(
        b,
        serde_json::json!({"title": "New bug", "body": "details", "labels": ["bug"], "assignees": ["octo-bot"]})
    );

    let r = e.gh(&["issue", "comment", "2", "-b", "Fixed in #1"]);
    r.assert_code(0);
    assert!(r.stdout.contains("/issues/2#issuecomment-"));
    let r = e.gh(&["issue", "close", "2", "-r", "not planned", "-c", "dup"]);
    r.assert_code(0);
    assert_eq!(r.stderr, "✓ Closed issue acme/app#2 (Crash on start)\n");
    assert_eq!(
        e.fake.requests_to("PATCH", "/repos/acme/app/issues/2")[0].json(),
        serde_json::json!({"state": "closed", "state_reason": "not_planned"})
    );
    assert_eq!(e.fake.issue("acme/app", 2).unwrap()["state"], "closed");
}

#[test]
fn repo_view() {
    let e = env();
    let r = e.gh(&["repo", "view"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "name:\tacme/app\ndescription:\tThe app repository\n--\n# app\n\nThe acme app.\n"
    );
    let r = e.gh(&[
        "repo",
        "view",
        "acme/app",
        "--json",
        "nameWithOwner,defaultBranchRef,isPrivate",
    ]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "{\"defaultBranchRef\":{\"name\":\"main\"},\"isPrivate\":true,\"nameWithOwner\":\"acme/app\"}\n"
    );
    e.fake.add_repo("acme", "other");
    let r = e.gh(&["repo", "view", "-R", "acme/other", "--json", "name"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "{\"name\":\"other\"}\n");
}

#[test]
fn runs_and_failed_logs() {
    let e = env();
    let r = e.gh(&["run", "list"]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "completed\tfailure\tAdd feature\tCI\tclaude/feature\tpush\t100\t1m5s\t2024-01-01T00:00:00Z\n"
    );
    let r = e.gh(&[
        "run",
        "list",
        "-b",
        "claude/feature",
        "--json",
        "databaseId,conclusion,workflowName",
    ]);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        "[{\"conclusion\":\"failure\",\"databaseId\":100,\"workflowName\":\"CI\"}]\n"
    );
    assert_eq!(
        e.fake.requests().pop().unwrap().param("branch").as_deref(),
        Some("claude%2Ffeature")
    );

    let r = e.gh(&["run", "view", "100"]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("X claude/feature CI · 100\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("✓ build in 1m5s (ID 200)\nX test in 1m5s (ID 201)\n  X Run tests\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("gh run view 100 --log-failed"));

    e.fake.clear_requests();
    let r = e.gh(&["run", "view", "100", "--log-failed"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(&format!(
            "test\tRun tests\t2024-01-01T00:00:03.0000000Z {FAILED_LOG_LINE}\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("cargo build"),
        "only failed jobs: {}",
        r.stdout
    );
    let paths: Vec<String> = e.fake.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&"/repos/acme/app/actions/jobs/201/logs".to_owned()));
    assert!(
        paths.contains(&"/_download/logs/201".to_owned()),
        "{paths:?}"
    );
    assert!(!paths.contains(&"/repos/acme/app/actions/jobs/200/logs".to_owned()));

    let r = e.gh(&[
        "run",
        "view",
        "100",
        "--exit-status",
        "--json",
        "jobs,conclusion",
    ]);
    assert_eq!(r.code, 1);
    let v = json(&r.stdout);
    assert_eq!(v["jobs"][1]["name"], "test");
    assert_eq!(v["jobs"][1]["steps"][1]["conclusion"], "failure");

    let r = e.gh(&["run", "view"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("run or job ID required"));
}

#[test]
fn api_get_only_under_allowed_repos_and_redacted() {
    let e = env();
    let r = e.gh(&["api", "repos/acme/app/pulls/1"]);
    r.assert_code(0);
    assert_eq!(json(&r.stdout)["number"], 1);
    let r = e.gh(&["api", "repos/{owner}/{repo}/issues?state=all&per_page=1"]);
    r.assert_code(0);
    let last = e.fake.requests().pop().unwrap();
    assert_eq!(last.path, "/repos/acme/app/issues");
    assert_eq!(last.query, "state=all&per_page=1");
    let r = e.gh(&[
        "api",
        "-X",
        "GET",
        "-H",
        "Accept: application/vnd.github.v3.diff",
        "/repos/acme/app/pulls/1",
    ]);
    r.assert_code(0);
    assert!(r.stdout.starts_with("diff --git"));

    // The server echoes the Authorization header: forwarded output is never rewritten, so the
    // stream stops before the token and the request fails, saying why.
    let r = e.gh(&["api", "repos/acme/app/echo-headers"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(!r.stdout.contains(&e.token) && !r.stderr.contains(&e.token));
    assert_eq!(
        r.stderr,
        "gitgate: the upstream response contained the token; it was stopped\n"
    );
    // …and in an error body (forwarded: stopped) and message (the agent's own text: redacted)
    let r = e.gh(&["api", "repos/acme/app/echo-error"]);
    assert_eq!(r.code, 1);
    assert!(!r.stdout.contains(&e.token), "{}", r.stdout);
    assert!(
        r.stderr.starts_with("gitgate: HTTP 422: Validation Failed"),
        "{}",
        r.stderr
    );
    assert!(e.fake.requests().iter().all(|r| r.auth_ok));

    let r = e.gh(&["api", "repos/acme/app/pulls/99"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "gitgate: HTTP 404: Not Found ({}/repos/acme/app/pulls/99)\n",
            e.fake.url()
        )
    );
}

#[test]
fn always_denied_commands_reach_nothing() {
    let e = env();
    for args in [
        &["auth", "token"][..],
        &["auth", "status", "-t"],
        &["auth", "status", "--show-token"],
        &["auth", "login", "--with-token"],
        &["auth", "logout"],
        &["auth", "refresh"],
        &["auth", "setup-git"],
        &["secret", "list"],
        &["secret", "set", "X", "--body", "y"],
        &["variable", "list"],
        &["extension", "install", "owner/gh-x"],
        &["alias", "set", "co", "pr checkout"],
        &["alias", "set", "--shell", "x", "cat /run/secrets/*"],
        &["config", "get", "oauth_token"],
        &["codespace", "list"],
        &["ssh-key", "list"],
        &["gpg-key", "list"],
        &["gist", "create", "README.md"],
        &["repo", "delete", "acme/app", "--yes"],
        &["repo", "rename", "x"],
        &["repo", "archive", "acme/app"],
        &["repo", "edit", "--visibility", "public"],
        &["workflow", "run", "ci.yml"],
        &["release", "create", "v1.0"],
        &["api", "-X", "POST", "repos/acme/app/issues"],
        &["api", "--method", "DELETE", "repos/acme/app"],
        &["api", "--method=PATCH", "repos/acme/app"],
        &["api", "repos/acme/app/issues", "-f", "title=x"],
        &["api", "repos/acme/app/issues", "-F", "title=x"],
        &["api", "repos/acme/app/issues", "--raw-field", "title=x"],
        &["api", "-X", "GET", "repos/acme/app/issues", "-f", "q=x"],
        &["api", "repos/acme/app/issues", "--input", "-"],
        &["api", "graphql", "-f", "query=mutation{x}"],
        &["api", "graphql"],
        &["api", "user"],
        &["api", "/user"],
        &["api", "-H", "Authorization: token x", "repos/acme/app"],
        &["api", "--hostname", "evil.example", "repos/acme/app"],
        &["api", "https://api.github.com/repos/acme/app"],
        &["pr", "merge", "1", "--merge"],
        &["pr", "checkout", "1"],
        &["pr", "review", "1", "--approve"],
        &["run", "rerun", "100"],
        &["browse"],
        &["search", "repos", "x"],
    ] {
        let r = e.gh(args);
        assert_eq!(r.code, 126, "{args:?}: {}", r.stderr);
        denied_one_line(&r);
    }
    assert_eq!(e.fake.request_count(), 0, "{:?}", e.fake.requests());
}

#[test]
fn repositories_outside_allowed_repos_are_denied() {
    let e = env();
    for args in [
        &["pr", "list", "-R", "other/x"][..],
        &["-R", "evil/repo", "issue", "view", "1"],
        &["pr", "list", "--repo=other/x"],
        &["repo", "view", "other/x"],
        &["repo", "view", "evil.example/acme/app"],
        &["api", "repos/other/x"],
        &["api", "repos/acme/app/../../other/x/pulls"],
        &["api", "repos/acme/app/%2e%2e/%2e%2e/other/x"],
    ] {
        denied_one_line(&e.gh(args));
    }
    // via the workspace origin
    let other = e
        .agent
        .workspace_repo("other", "https://github.com/other/x.git");
    let r = e.agent.run("gh", &other, &["pr", "list"]);
    denied_one_line(&r);
    let evil = e
        .agent
        .workspace_repo("evil", "https://evil.example/acme/app.git");
    denied_one_line(&e.agent.run("gh", &evil, &["issue", "list"]));
    let r = e
        .agent
        .run("gh", &other, &["api", "repos/{owner}/{repo}/pulls"]);
    denied_one_line(&r);
    assert_eq!(e.fake.request_count(), 0, "{:?}", e.fake.requests());
}

#[test]
fn errors_rate_limit_and_usage() {
    let e = env();
    let reset = 4_102_444_800; // 2100-01-01T00:00:00Z
    e.fake.set_rate_limited(Some(reset));
    let r = e.gh(&["pr", "list"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("gitgate: API rate limit exceeded; resets at 2100-01-01T00:00:00Z (in "),
        "{}",
        r.stderr
    );
    e.fake.set_rate_limited(None);

    e.fake.respond(
        "GET",
        "/repos/acme/app/pulls/1",
        500,
        "{\"message\":\"Server Error\"}",
    );
    let r = e.gh(&["pr", "view", "1"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "gitgate: HTTP 500: Server Error ({}/repos/acme/app/pulls/1)\n",
            e.fake.url()
        )
    );
    assert_eq!(
        e.fake.requests_to("GET", "/repos/acme/app/pulls/1").len(),
        1,
        "no retries"
    );

    let n = e.fake.request_count();
    let r = e.gh(&["pr", "list", "--bogus"]);
    assert_eq!(r.code, 129);
    assert!(r.stderr.contains("unknown flag: --bogus"), "{}", r.stderr);
    let r = e.gh(&["pr", "list", "--state", "weird"]);
    assert_eq!(r.code, 129);
    let r = e.gh(&["pr", "create", "-b", "no title"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("must provide `--title`"));
    assert_eq!(e.fake.request_count(), n);

    let r = e.gh(&["--help"]);
    r.assert_code(0);
    assert!(r.stdout.contains("Always denied"));
}

#[test]
fn wrong_or_missing_token() {
    let token = random_token();
    let fake = FakeGitHub::start(&token);
    let agent = Agent::builder()
        .token("ghp_wrongwrongwrongwrong")
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    let r = agent.run("gh", &repo, &["pr", "list"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("HTTP 401: Bad credentials"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("ghp_wrong"));
    assert!(!fake.requests()[0].auth_ok);
    drop(agent);

    let agent = Agent::builder()
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    let r = agent.run("gh", &repo, &["pr", "list"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "gitgate: no token loaded (set GITHUB_TOKEN for the agent)\n"
    );
    assert_eq!(fake.request_count(), 1);
}
