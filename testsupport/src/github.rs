//! A fake GitHub API (REST and GraphQL) for tests and benchmarks: an axum app on `127.0.0.1`
//! (ephemeral port; optionally also on a Unix socket, for gh talking to it directly) in its own
//! thread and tokio runtime (like [`crate::githttp`]), serving GitHub's real JSON shapes from an
//! in-memory model: repositories, pull requests, issues, comments, labels, reviewers, check runs
//! and commit statuses, Actions runs/jobs/logs (job logs and the run-log zip behind a redirect),
//! workflows, issue search, the authenticated user, and the GraphQL operations Debian's gh 2.23
//! sends (see `github_graphql.rs`; answers are shaped like the query, as gh's decoder requires).
//!
//! Every request must carry `Authorization: Bearer <token>` (or `token <token>`); otherwise `401`.
//! Every request is recorded ([`FakeGitHub::requests`]): method, path, query, body, whether the
//! token was right. Job logs answer `302` to `/_download/logs/{id}` on the same server, like
//! GitHub's redirect to storage; that path needs no token.
//!
//! Test hooks: [`FakeGitHub::respond`] overrides one route with any status and body;
//! [`FakeGitHub::set_rate_limited`] makes every API call answer GitHub's rate-limit 403;
//! `GET /repos/{o}/{r}/echo-headers` returns the request headers (Authorization included) and
//! `GET /repos/{o}/{r}/echo-error` a 422 whose message contains it, to prove the agent's redactor.
//!
//! Seed data (see [`FakeGitHub::start`]): repository `acme/app` (default branch `main`) with
//! PR #1 (`claude/feature` → `main`, open, by `octo-bot`, label `bug`, reviewer `reviewer1`),
//! issue #2 (by `alice`, one comment by `bob`), draft PR #3 (`claude/draft`), check runs `build`
//! (success) and `test` (failure) plus status `ci/lint` (success) on PR #1's head, and Actions run
//! 100 (`CI`, failed) with jobs 200 `build` (success) and 201 `test` (failure, with a log).

#[path = "github_graphql.rs"]
mod graphql;
// GitHub App endpoints (issue 12): off unless `FakeGitHub::enable_app` is called.
#[path = "github_app.rs"]
pub mod app;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

/// The API URL in the JSON the fake returns (`url`, `jobs_url`, …), as on github.com: clients
/// follow these through their own transport. Redirects to storage use the fake's own address.
pub const API_URL: &str = "https://api.github.com";
/// The login of the token's user.
pub const USER: &str = "octo-bot";
/// Head SHA of the seeded PR #1.
pub const PR1_SHA: &str = "1111111111111111111111111111111111111111";
/// The failing line in job 201's log.
pub const FAILED_LOG_LINE: &str =
    "thread 'tests::it_works' panicked at src/lib.rs:10:5: assertion `left == right` failed";
const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-01T00:01:05Z";

/// One request as the fake server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Path without the query, e.g. `/repos/acme/app/pulls`.
    pub path: String,
    /// Raw query string (empty if none).
    pub query: String,
    /// Request body as text.
    pub body: String,
    /// `Accept` header.
    pub accept: String,
    /// The Authorization header carried the right token.
    pub auth_ok: bool,
    /// Status answered.
    pub status: u16,
    /// GraphQL: the operation name (from `operationName` or the document).
    pub operation: Option<String>,
    /// GraphQL: the variables (`Null` otherwise).
    pub variables: Value,
    /// The `Host` header.
    pub host: String,
}

impl Recorded {
    /// The body parsed as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// A query parameter's (raw, still percent-encoded) value.
    pub fn param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| v.to_owned())
        })
    }
}

#[derive(Default)]
struct Db {
    repos: Vec<Value>,
    /// Pull requests and issues share a number space per repository, as on GitHub.
    pulls: Vec<Value>,
    issues: Vec<Value>,
    comments: Vec<(String, u64, Value)>,
    check_runs: Vec<(String, Value)>,
    statuses: Vec<(String, Value)>,
    runs: Vec<Value>,
    jobs: Vec<Value>,
    logs: HashMap<u64, String>,
    diffs: HashMap<(String, u64), String>,
    readmes: HashMap<String, String>,
    next_id: u64,
    overrides: Vec<(String, String, u16, String)>,
    /// Reviews submitted through GraphQL: (PR node id, event, body).
    reviews: Vec<(String, String, String)>,
    rate_limited: Option<i64>,
}

struct Shared {
    token: String,
    base: String,
    db: Mutex<Db>,
    requests: Mutex<Vec<Recorded>>,
    app: Mutex<Option<app::FakeApp>>,
}

/// The fake GitHub API server (see the module docs). Stops on drop.
pub struct FakeGitHub {
    port: u16,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn user(login: &str, id: u64) -> Value {
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "followers_url": "", "following_url": "", "gists_url": "", "starred_url": "",
        "subscriptions_url": "", "organizations_url": "", "repos_url": "", "events_url": "",
        "received_events_url": "", "type": "User", "site_admin": false,
    })
}

fn user_id(login: &str) -> u64 {
    login
        .bytes()
        .fold(1000u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64))
        % 1_000_000
}

fn label(name: &str) -> Value {
    json!({
        "id": user_id(name), "node_id": format!("LA_{name}"),
        "url": format!("https://api.github.com/labels/{name}"), "name": name,
        "description": "", "color": "d73a4a", "default": false,
    })
}

impl Db {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    fn repo(&self, slug: &str) -> Option<&Value> {
        self.repos.iter().find(|r| {
            r["full_name"]
                .as_str()
                .is_some_and(|f| f.eq_ignore_ascii_case(slug))
        })
    }
    fn next_number(&self, slug: &str) -> u64 {
        let of = |v: &Vec<Value>| {
            v.iter()
                .filter(|x| slug_of(x).eq_ignore_ascii_case(slug))
                .filter_map(|x| x["number"].as_u64())
                .max()
                .unwrap_or(0)
        };
        of(&self.pulls).max(of(&self.issues)) + 1
    }
    fn pull_mut(&mut self, slug: &str, n: u64) -> Option<&mut Value> {
        self.pulls
            .iter_mut()
            .find(|p| slug_of(p).eq_ignore_ascii_case(slug) && p["number"] == n)
    }
    fn issue_mut(&mut self, slug: &str, n: u64) -> Option<&mut Value> {
        self.issues
            .iter_mut()
            .find(|p| slug_of(p).eq_ignore_ascii_case(slug) && p["number"] == n)
    }
    /// A pull request or an issue by number (the issues API addresses both).
    fn item_mut(&mut self, slug: &str, n: u64) -> Option<&mut Value> {
        if self.pull_mut(slug, n).is_some() {
            return self.pull_mut(slug, n);
        }
        self.issue_mut(slug, n)
    }
}

/// `owner/name` an item belongs to (pulls: base repo; issues: `repository_url`).
fn slug_of(v: &Value) -> String {
    if let Some(f) = v.pointer("/base/repo/full_name").and_then(Value::as_str) {
        return f.to_owned();
    }
    v["repository_url"]
        .as_str()
        .and_then(|u| u.split("/repos/").nth(1))
        .unwrap_or("")
        .to_owned()
}

impl Shared {
    fn repo_json(&self, owner: &str, name: &str, id: u64) -> Value {
        let full = format!("{owner}/{name}");
        json!({
            "id": id, "node_id": format!("R_{id}"), "name": name, "full_name": full,
            "private": true, "owner": user(owner, user_id(owner)),
            "html_url": format!("https://github.com/{full}"),
            "description": format!("The {name} repository"), "fork": false,
            "url": format!("{}/repos/{full}", API_URL),
            "clone_url": format!("https://github.com/{full}.git"),
            "ssh_url": format!("git@github.com:{full}.git"),
            "homepage": null, "size": 10, "stargazers_count": 3, "watchers_count": 3,
            "language": "Rust", "has_issues": true, "forks_count": 1, "archived": false,
            "disabled": false, "open_issues_count": 2, "visibility": "private",
            "default_branch": "main", "created_at": T0, "updated_at": T0, "pushed_at": T0,
            "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true},
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn pull_json(
        &self,
        slug: &str,
        n: u64,
        id: u64,
        title: &str,
        body: &str,
        head: &str,
        head_sha: &str,
        base: &str,
        author: &str,
        draft: bool,
        repo: &Value,
    ) -> Value {
        let owner = slug.split('/').next().unwrap_or("");
        json!({
            "url": format!("{}/repos/{slug}/pulls/{n}", API_URL),
            "id": id, "node_id": format!("PR_{id}"),
            "html_url": format!("https://github.com/{slug}/pull/{n}"),
            "diff_url": format!("https://github.com/{slug}/pull/{n}.diff"),
            "patch_url": format!("https://github.com/{slug}/pull/{n}.patch"),
            "issue_url": format!("{}/repos/{slug}/issues/{n}", API_URL),
            "number": n, "state": "open", "locked": false, "title": title,
            "user": user(author, user_id(author)), "body": body, "labels": [],
            "milestone": null, "active_lock_reason": null,
            "created_at": T0, "updated_at": T0, "closed_at": null, "merged_at": null,
            "merge_commit_sha": null, "assignee": null, "assignees": [],
            "requested_reviewers": [], "requested_teams": [],
            "head": {"label": format!("{owner}:{head}"), "ref": head, "sha": head_sha,
                     "user": user(owner, user_id(owner)), "repo": repo},
            "base": {"label": format!("{owner}:{base}"), "ref": base,
                     "sha": "0000000000000000000000000000000000000001",
                     "user": user(owner, user_id(owner)), "repo": repo},
            "author_association": "MEMBER", "auto_merge": null, "draft": draft,
            "merged": false, "mergeable": true, "rebaseable": true, "mergeable_state": "clean",
            "merged_by": null, "comments": 0, "review_comments": 0,
            "maintainer_can_modify": false, "commits": 1, "additions": 10, "deletions": 2,
            "changed_files": 1,
        })
    }

    fn issue_json(
        &self,
        slug: &str,
        n: u64,
        id: u64,
        title: &str,
        body: &str,
        author: &str,
    ) -> Value {
        json!({
            "url": format!("{}/repos/{slug}/issues/{n}", API_URL),
            "repository_url": format!("{}/repos/{slug}", API_URL),
            "labels_url": "", "comments_url": format!("{}/repos/{slug}/issues/{n}/comments", API_URL),
            "events_url": "", "html_url": format!("https://github.com/{slug}/issues/{n}"),
            "id": id, "node_id": format!("I_{id}"), "number": n, "title": title,
            "user": user(author, user_id(author)), "labels": [], "state": "open",
            "state_reason": null, "locked": false, "assignee": null, "assignees": [],
            "milestone": null, "comments": 0, "created_at": T0, "updated_at": T0,
            "closed_at": null, "author_association": "MEMBER", "active_lock_reason": null,
            "body": body,
        })
    }

    /// A pull request as the issues API shows it.
    fn pull_as_issue(&self, p: &Value) -> Value {
        let slug = slug_of(p);
        let mut i = self.issue_json(
            &slug,
            p["number"].as_u64().unwrap_or(0),
            p["id"].as_u64().unwrap_or(0),
            p["title"].as_str().unwrap_or(""),
            p["body"].as_str().unwrap_or(""),
            p.pointer("/user/login")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        for k in ["labels", "assignees", "state", "closed_at", "comments"] {
            i[k] = p[k].clone();
        }
        i["html_url"] = p["html_url"].clone();
        i["pull_request"] = json!({
            "url": p["url"], "html_url": p["html_url"], "diff_url": p["diff_url"],
            "patch_url": p["patch_url"], "merged_at": p["merged_at"],
        });
        i
    }

    fn comment_json(&self, slug: &str, n: u64, id: u64, author: &str, body: &str) -> Value {
        json!({
            "id": id, "node_id": format!("IC_{id}"),
            "url": format!("{}/repos/{slug}/issues/comments/{id}", API_URL),
            "html_url": format!("https://github.com/{slug}/issues/{n}#issuecomment-{id}"),
            "issue_url": format!("{}/repos/{slug}/issues/{n}", API_URL),
            "body": body, "user": user(author, user_id(author)),
            "created_at": T0, "updated_at": T0, "author_association": "MEMBER",
        })
    }

    fn seed(&self) {
        let mut db = self.db.lock().unwrap();
        db.next_id = 5000;
        let repo = self.repo_json("acme", "app", 42);
        db.repos.push(repo.clone());
        db.readmes
            .insert("acme/app".into(), "# app\n\nThe acme app.\n".into());
        let mut p1 = self.pull_json(
            "acme/app",
            1,
            101,
            "Add feature",
            "This adds the feature.",
            "claude/feature",
            PR1_SHA,
            "main",
            USER,
            false,
            &repo,
        );
        p1["labels"] = json!([label("bug")]);
        p1["requested_reviewers"] = json!([user("reviewer1", 7)]);
        db.pulls.push(p1);
        let p3 = self.pull_json(
            "acme/app",
            3,
            103,
            "WIP draft",
            "",
            "claude/draft",
            "3333333333333333333333333333333333333333",
            "main",
            USER,
            true,
            &repo,
        );
        db.pulls.push(p3);
        let mut i2 = self.issue_json("acme/app", 2, 102, "Crash on start", "It crashes.", "alice");
        i2["labels"] = json!([label("bug")]);
        i2["comments"] = json!(1);
        db.issues.push(i2);
        let c = self.comment_json("acme/app", 2, 900, "bob", "Me too.");
        db.comments.push(("acme/app".into(), 2, c));
        db.diffs.insert(
            ("acme/app".into(), 1),
            "diff --git a/src/lib.rs b/src/lib.rs\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-old\n+new\n".into(),
        );
        for (id, name, concl) in [(301u64, "build", "success"), (302, "test", "failure")] {
            db.check_runs.push((
                PR1_SHA.into(),
                json!({
                    "id": id, "node_id": format!("CR_{id}"), "head_sha": PR1_SHA,
                    "external_id": "", "url": format!("{}/repos/acme/app/check-runs/{id}", API_URL),
                    "html_url": format!("https://github.com/acme/app/runs/{id}"),
                    "details_url": format!("https://github.com/acme/app/runs/{id}"),
                    "status": "completed", "conclusion": concl, "started_at": T0,
                    "completed_at": T1, "name": name,
                    "output": {"title": format!("{name} {concl}"), "summary": "", "text": null,
                               "annotations_count": 0, "annotations_url": ""},
                    "check_suite": {"id": 77}, "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
                    "pull_requests": [],
                }),
            ));
        }
        db.statuses.push((
            PR1_SHA.into(),
            json!({
                "url": "", "avatar_url": null, "id": 401, "node_id": "SC_401", "state": "success",
                "description": "lint ok", "target_url": "https://ci.example.com/lint/1",
                "context": "ci/lint", "created_at": T0, "updated_at": T1,
            }),
        ));
        db.runs.push(json!({
            "id": 100, "name": "CI", "node_id": "WFR_100", "head_branch": "claude/feature",
            "head_sha": PR1_SHA, "path": ".github/workflows/ci.yml", "display_title": "Add feature",
            "run_number": 7, "event": "push", "status": "completed", "conclusion": "failure",
            "workflow_id": 9, "check_suite_id": 77, "url": format!("{}/repos/acme/app/actions/runs/100", API_URL),
            "html_url": "https://github.com/acme/app/actions/runs/100", "pull_requests": [],
            "created_at": T0, "updated_at": T1, "run_attempt": 1, "run_started_at": T0,
            "actor": user(USER, user_id(USER)), "triggering_actor": user(USER, user_id(USER)),
            "jobs_url": format!("{}/repos/acme/app/actions/runs/100/jobs", API_URL),
            "logs_url": format!("{}/repos/acme/app/actions/runs/100/logs", API_URL),
            "repository": repo,
        }));
        for (id, name, concl, steps) in [
            (
                200u64,
                "build",
                "success",
                vec![("Set up job", "success"), ("Build", "success")],
            ),
            (
                201,
                "test",
                "failure",
                vec![("Set up job", "success"), ("Run tests", "failure")],
            ),
        ] {
            let steps: Vec<Value> = steps
                .iter()
                .enumerate()
                .map(|(i, (n, c))| {
                    json!({"name": n, "status": "completed", "conclusion": c,
                    "number": i + 1, "started_at": T0, "completed_at": T1})
                })
                .collect();
            db.jobs.push(json!({
                "id": id, "run_id": 100, "run_url": format!("{}/repos/acme/app/actions/runs/100", API_URL),
                "node_id": format!("J_{id}"), "head_sha": PR1_SHA,
                "url": format!("{}/repos/acme/app/actions/jobs/{id}", API_URL),
                "html_url": format!("https://github.com/acme/app/actions/runs/100/job/{id}"),
                "status": "completed", "conclusion": concl, "started_at": T0, "completed_at": T1,
                "name": name, "steps": steps, "check_run_url": "", "labels": ["ubuntu-latest"],
                "runner_id": 1, "runner_name": "GitHub Actions 1", "workflow_name": "CI",
                "head_branch": "claude/feature", "created_at": T0,
            }));
        }
        db.logs.insert(200, "2024-01-01T00:00:01.0000000Z ##[group]Run cargo build\n2024-01-01T00:00:02.0000000Z Finished\n".into());
        db.logs.insert(
            201,
            format!("2024-01-01T00:00:01.0000000Z ##[group]Run cargo test\n2024-01-01T00:00:02.0000000Z running 1 test\n2024-01-01T00:00:03.0000000Z {FAILED_LOG_LINE}\n2024-01-01T00:00:04.0000000Z ##[error]Process completed with exit code 101.\n"),
        );
    }
}

impl FakeGitHub {
    /// Start the server; requests must carry `token`. Panics if it cannot bind (tests only).
    pub fn start(token: &str) -> FakeGitHub {
        Self::try_start(token).expect("start the fake GitHub API")
    }

    pub fn try_start(token: &str) -> std::io::Result<FakeGitHub> {
        Self::try_start_with_unix(token, None)
    }

    /// Like [`FakeGitHub::start`], also serving the same API on a Unix socket at `path` (so a real
    /// gh can talk to it directly with `http_unix_socket`, as a baseline for the gateway).
    pub fn start_with_unix(token: &str, path: &std::path::Path) -> FakeGitHub {
        Self::try_start_with_unix(token, Some(path)).expect("start the fake GitHub API")
    }

    fn try_start_with_unix(
        token: &str,
        unix: Option<&std::path::Path>,
    ) -> std::io::Result<FakeGitHub> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            db: Mutex::new(Db::default()),
            requests: Mutex::new(Vec::new()),
            app: Mutex::new(None),
        });
        shared.seed();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("fake-github")
            .build()?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let unix_listener = match unix {
            Some(p) => {
                let _guard = rt.enter();
                Some(tokio::net::UnixListener::bind(p)?)
            }
            None => None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let unix_app = app.clone();
        let thread = std::thread::Builder::new()
            .name("fake-github".into())
            .spawn(move || {
                rt.block_on(async move {
                    if let Some(l) = unix_listener {
                        tokio::spawn(async move {
                            let _ = axum::serve(l, unix_app).await;
                        });
                    }
                    tokio::select! {
                        r = axum::serve(listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); }), app) => {
                            if let Err(e) = r { eprintln!("fake github: {e}"); }
                        }
                        _ = rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(5));
            })?;
        Ok(FakeGitHub {
            port,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (the value for `GITHUB_API_URL`).
    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    pub fn clear_requests(&self) {
        self.shared.requests.lock().unwrap().clear();
    }

    /// Requests with this method and path (query ignored).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Answer `method path` (exact path, query ignored) with `status` and `body` from now on.
    pub fn respond(&self, method: &str, path: &str, status: u16, body: &str) {
        self.shared.db.lock().unwrap().overrides.push((
            method.to_owned(),
            path.to_owned(),
            status,
            body.to_owned(),
        ));
    }

    /// With `Some(reset_epoch)`, every authenticated API call answers GitHub's primary rate-limit 403.
    pub fn set_rate_limited(&self, reset: Option<i64>) {
        self.shared.db.lock().unwrap().rate_limited = reset;
    }

    /// Add a repository `owner/name` (empty: no pulls or issues).
    pub fn add_repo(&self, owner: &str, name: &str) {
        let mut db = self.shared.db.lock().unwrap();
        let id = db.id();
        let r = self.shared.repo_json(owner, name, id);
        db.repos.push(r);
    }

    /// Add a check run on commit `sha` (`status`: queued/in_progress/completed; `conclusion` for
    /// completed ones).
    pub fn add_check_run(&self, sha: &str, name: &str, status: &str, conclusion: Option<&str>) {
        let mut db = self.shared.db.lock().unwrap();
        let id = db.id();
        db.check_runs.push((
            sha.to_owned(),
            json!({
                "id": id, "node_id": format!("CR_{id}"), "head_sha": sha, "name": name,
                "status": status, "conclusion": conclusion, "started_at": T0, "completed_at": null,
                "details_url": format!("https://github.com/acme/app/runs/{id}"),
            }),
        ));
    }

    /// Add an open pull request; returns its number.
    pub fn add_pull(&self, slug: &str, head: &str, base: &str, title: &str, author: &str) -> u64 {
        let mut db = self.shared.db.lock().unwrap();
        let repo = db.repo(slug).cloned().expect("add_repo first");
        let n = db.next_number(slug);
        let id = db.id();
        let sha = format!("{:040x}", id);
        let p = self.shared.pull_json(
            slug, n, id, title, "", head, &sha, base, author, false, &repo,
        );
        db.pulls.push(p);
        n
    }

    /// A pull request as stored (after any edits).
    pub fn pull(&self, slug: &str, n: u64) -> Option<Value> {
        self.shared.db.lock().unwrap().pull_mut(slug, n).cloned()
    }

    /// An issue as stored.
    pub fn issue(&self, slug: &str, n: u64) -> Option<Value> {
        self.shared.db.lock().unwrap().issue_mut(slug, n).cloned()
    }

    /// Comments on issue or pull request `n`.
    pub fn comments(&self, slug: &str, n: u64) -> Vec<Value> {
        let db = self.shared.db.lock().unwrap();
        db.comments
            .iter()
            .filter(|(s, m, _)| s.eq_ignore_ascii_case(slug) && *m == n)
            .map(|(_, _, c)| c.clone())
            .collect()
    }

    /// Change one top-level field of a stored pull request (e.g. `state`, `draft`).
    pub fn set_pull_field(&self, slug: &str, n: u64, key: &str, value: Value) {
        if let Some(p) = self.shared.db.lock().unwrap().pull_mut(slug, n) {
            p[key] = value;
        }
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json_response(status: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn text_response(status: u16, text: String, ctype: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn not_found() -> Response {
    json_response(
        404,
        &json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

fn unprocessable(msg: &str) -> Response {
    json_response(
        422,
        &json!({"message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom", "message": msg}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                "status": "422"}),
    )
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `per_page`/`page` over a list.
fn paginate(items: Vec<Value>, query: &str) -> Vec<Value> {
    let per = query_param(query, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query_param(query, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    items.into_iter().skip((page - 1) * per).take(per).collect()
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let auth_ok = auth == format!("Bearer {}", sh.token) || auth == format!("token {}", sh.token);
    let body = to_bytes(req.into_body(), 16 * 1024 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    // App mode: the App endpoints, and only live installation tokens are accepted (github_app.rs).
    let app_resp = app::route(&sh, &method, &path, &query, &auth, &body);
    let auth_ok = match &app_resp {
        Some(_) => true,
        None if path.starts_with("/_download/") => auth_ok,
        None => app::authorize(&sh, &method, &path, &auth).unwrap_or(auth_ok),
    };
    let resp = if let Some(r) = app_resp {
        r
    } else if let Some(id) = path.strip_prefix("/_download/runlogs/") {
        let db = sh.db.lock().unwrap();
        let zip = run_logs_zip(&db, id.parse().unwrap_or(0));
        let mut r = Response::new(Body::from(zip));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        r
    } else if let Some(id) = path.strip_prefix("/_download/logs/") {
        // Like GitHub's storage URL: no token needed (or wanted).
        let db = sh.db.lock().unwrap();
        match id.parse::<u64>().ok().and_then(|id| db.logs.get(&id)) {
            Some(log) => text_response(200, log.clone(), "text/plain"),
            None => text_response(404, "BlobNotFound".into(), "text/plain"),
        }
    } else if !auth_ok {
        json_response(
            401,
            &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        )
    } else {
        route(&sh, &method, &path, &query, &body, &accept, &headers)
    };
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (operation, variables) = if path == "/graphql" {
        (
            graphql::operation_name(&parsed),
            parsed["variables"].clone(),
        )
    } else {
        (None, Value::Null)
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    sh.requests.lock().unwrap().push(Recorded {
        method,
        path,
        query,
        body,
        accept,
        auth_ok,
        status: resp.status().as_u16(),
        operation,
        variables,
        host,
    });
    resp
}

fn route(
    sh: &Shared,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
    accept: &str,
    headers: &axum::http::HeaderMap,
) -> Response {
    let mut db = sh.db.lock().unwrap();
    if let Some((_, _, st, b)) = db
        .overrides
        .iter()
        .rev()
        .find(|(m, p, _, _)| m == method && p == path)
    {
        return text_response(*st, b.clone(), "application/json; charset=utf-8");
    }
    if let Some(reset) = db.rate_limited {
        let mut r = json_response(
            403,
            &json!({"message": "API rate limit exceeded for user ID 1. (But here's the good news: Authenticated requests get a higher rate limit.)",
                    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}),
        );
        let h = r.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&reset.to_string()).unwrap(),
        );
        return r;
    }
    let input: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["user"]) => json_response(200, &user(USER, user_id(USER))),
        ("POST", ["graphql"]) => json_response(200, &graphql::answer(sh, &mut db, &input)),
        ("GET", ["search", "issues"]) => {
            let q = query_param(query, "q").unwrap_or_default();
            let repos: Vec<String> = q
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("repo:").map(str::to_owned))
                .collect();
            let words: Vec<String> = q
                .split_whitespace()
                .filter(|w| !w.contains(':'))
                .map(str::to_lowercase)
                .collect();
            let mut items: Vec<Value> = Vec::new();
            if !q.contains("type:issue") {
                items.extend(db.pulls.iter().map(|p| sh.pull_as_issue(p)));
            }
            if !q.contains("type:pr") {
                items.extend(db.issues.iter().cloned());
            }
            items.retain(|i| repos.iter().any(|r| slug_of(i).eq_ignore_ascii_case(r)));
            items.retain(|i| {
                let t = i["title"].as_str().unwrap_or("").to_lowercase();
                words.iter().all(|w| t.contains(w.as_str()))
            });
            json_response(
                200,
                &json!({"total_count": items.len(), "incomplete_results": false, "items": items}),
            )
        }
        (_, ["repos", o, r, rest @ ..]) => {
            let slug = format!("{o}/{r}");
            if rest == ["echo-headers"] {
                let h: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                    .collect();
                return json_response(200, &json!({"headers": h}));
            }
            if rest == ["echo-error"] {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                return json_response(
                    422,
                    &json!({"message": format!("Validation Failed for request with Authorization: {auth}"), "errors": [{"message": format!("header was {auth}")}]}),
                );
            }
            let Some(repo) = db.repo(&slug).cloned() else {
                return not_found();
            };
            let slug = repo["full_name"].as_str().unwrap_or("").to_owned();
            repo_route(
                sh, &mut db, method, &slug, &repo, rest, query, &input, accept,
            )
        }
        _ => not_found(),
    }
}

#[allow(clippy::too_many_arguments)]
fn repo_route(
    sh: &Shared,
    db: &mut Db,
    method: &str,
    slug: &str,
    repo: &Value,
    rest: &[&str],
    query: &str,
    input: &Value,
    accept: &str,
) -> Response {
    let num = |s: &str| s.parse::<u64>().ok();
    let logins = |v: &Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    match (method, rest) {
        ("GET", []) => json_response(200, repo),
        ("GET", ["readme"]) => match db.readmes.get(slug) {
            Some(t) => json_response(
                200,
                &json!({"type": "file", "encoding": "base64", "name": "README.md", "path": "README.md",
                        "content": base64::engine::general_purpose::STANDARD.encode(t)}),
            ),
            None => not_found(),
        },
        ("GET", ["pulls"]) => {
            let state = query_param(query, "state").unwrap_or_else(|| "open".into());
            let head = query_param(query, "head");
            let base = query_param(query, "base");
            let items: Vec<Value> = db
                .pulls
                .iter()
                .filter(|p| slug_of(p).eq_ignore_ascii_case(slug))
                .filter(|p| state == "all" || p["state"] == state.as_str())
                .filter(|p| head.iter().all(|h| p["head"]["label"] == h.as_str()))
                .filter(|p| base.iter().all(|b| p["base"]["ref"] == b.as_str()))
                .cloned()
                .rev()
                .collect();
            json_response(200, &Value::Array(paginate(items, query)))
        }
        ("POST", ["pulls"]) => {
            let (Some(title), Some(head), Some(base)) = (
                input["title"].as_str(),
                input["head"].as_str(),
                input["base"].as_str(),
            ) else {
                return unprocessable("title, head and base are required");
            };
            let owner = slug.split('/').next().unwrap_or("");
            let label = if head.contains(':') {
                head.to_owned()
            } else {
                format!("{owner}:{head}")
            };
            if db.pulls.iter().any(|p| {
                slug_of(p) == slug && p["state"] == "open" && p["head"]["label"] == label.as_str()
            }) {
                return unprocessable(&format!("A pull request already exists for {label}."));
            }
            let n = db.next_number(slug);
            let id = db.id();
            let branch = label.split_once(':').map(|x| x.1).unwrap_or(head);
            let p = sh.pull_json(
                slug,
                n,
                id,
                title,
                input["body"].as_str().unwrap_or(""),
                branch,
                &format!("{:040x}", id),
                base,
                USER,
                input["draft"].as_bool().unwrap_or(false),
                repo,
            );
            db.pulls.push(p.clone());
            json_response(201, &p)
        }
        ("GET", ["pulls", n]) => {
            let Some(p) = num(n).and_then(|n| db.pull_mut(slug, n)).cloned() else {
                return not_found();
            };
            if accept.contains("diff") || accept.contains("patch") {
                let n = p["number"].as_u64().unwrap_or(0);
                let d = db
                    .diffs
                    .get(&(slug.to_owned(), n))
                    .cloned()
                    .unwrap_or_default();
                return text_response(200, d, "text/plain; charset=utf-8");
            }
            json_response(200, &p)
        }
        ("GET", ["pulls", n, "files"]) => match num(n).and_then(|n| db.pull_mut(slug, n)) {
            Some(_) => json_response(
                200,
                &json!([{"sha": "abc", "filename": "src/lib.rs", "status": "modified",
                         "additions": 1, "deletions": 1, "changes": 2, "patch": "@@ -1 +1 @@\n-old\n+new"}]),
            ),
            None => not_found(),
        },
        ("PATCH", ["pulls", n]) => {
            let Some(p) = num(n).and_then(|n| db.pull_mut(slug, n)) else {
                return not_found();
            };
            for k in ["title", "body", "state"] {
                if let Some(v) = input.get(k) {
                    p[k] = v.clone();
                }
            }
            if let Some(b) = input.get("base") {
                p["base"]["ref"] = b.clone();
            }
            if input["state"] == "closed" {
                p["closed_at"] = json!(T1);
            }
            p["updated_at"] = json!(T1);
            json_response(200, p)
        }
        ("PUT", ["pulls", n, "merge"]) => {
            let Some(p) = num(n).and_then(|n| db.pull_mut(slug, n)) else {
                return not_found();
            };
            p["state"] = json!("closed");
            p["merged"] = json!(true);
            p["merged_at"] = json!(T1);
            json_response(
                200,
                &json!({"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "merged": true, "message": "Pull Request successfully merged"}),
            )
        }
        (m @ ("POST" | "DELETE"), ["pulls", n, "requested_reviewers"]) => {
            let who = logins(input, "reviewers");
            let Some(p) = num(n).and_then(|n| db.pull_mut(slug, n)) else {
                return not_found();
            };
            let mut cur: Vec<Value> = p["requested_reviewers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if m == "POST" {
                for w in &who {
                    cur.push(user(w, user_id(w)));
                }
            } else {
                cur.retain(|u| !who.iter().any(|w| u["login"] == w.as_str()));
            }
            p["requested_reviewers"] = Value::Array(cur);
            json_response(if m == "POST" { 201 } else { 200 }, p)
        }
        ("GET", ["issues"]) => {
            let state = query_param(query, "state").unwrap_or_else(|| "open".into());
            let mut items: Vec<Value> = db
                .issues
                .iter()
                .filter(|i| slug_of(i).eq_ignore_ascii_case(slug))
                .cloned()
                .collect();
            items.extend(
                db.pulls
                    .iter()
                    .filter(|p| slug_of(p).eq_ignore_ascii_case(slug))
                    .map(|p| sh.pull_as_issue(p)),
            );
            items.retain(|i| state == "all" || i["state"] == state.as_str());
            if let Some(l) = query_param(query, "labels") {
                items.retain(|i| {
                    l.split(',').all(|l| {
                        i["labels"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x["name"] == l))
                    })
                });
            }
            if let Some(c) = query_param(query, "creator") {
                items.retain(|i| i["user"]["login"] == c.as_str());
            }
            items.sort_by_key(|i| std::cmp::Reverse(i["number"].as_u64()));
            json_response(200, &Value::Array(paginate(items, query)))
        }
        ("POST", ["issues"]) => {
            let Some(title) = input["title"].as_str() else {
                return unprocessable("title is required");
            };
            let n = db.next_number(slug);
            let id = db.id();
            let mut i = sh.issue_json(
                slug,
                n,
                id,
                title,
                input["body"].as_str().unwrap_or(""),
                USER,
            );
            if let Some(ls) = input["labels"].as_array() {
                i["labels"] =
                    Value::Array(ls.iter().filter_map(Value::as_str).map(label).collect());
            }
            if let Some(a) = input["assignees"].as_array() {
                i["assignees"] = Value::Array(
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|w| user(w, user_id(w)))
                        .collect(),
                );
            }
            db.issues.push(i.clone());
            json_response(201, &i)
        }
        ("GET", ["issues", n]) => {
            let Some(n) = num(n) else { return not_found() };
            if let Some(i) = db.issue_mut(slug, n) {
                return json_response(200, i);
            }
            match db.pull_mut(slug, n).cloned() {
                Some(p) => json_response(200, &sh.pull_as_issue(&p)),
                None => not_found(),
            }
        }
        ("PATCH", ["issues", n]) => {
            let Some(i) = num(n).and_then(|n| db.item_mut(slug, n)) else {
                return not_found();
            };
            for k in ["title", "body", "state", "state_reason"] {
                if let Some(v) = input.get(k) {
                    i[k] = v.clone();
                }
            }
            json_response(200, i)
        }
        ("GET", ["issues", n, "comments"]) => {
            let Some(n) = num(n) else { return not_found() };
            if db.item_mut(slug, n).is_none() {
                return not_found();
            }
            let items: Vec<Value> = db
                .comments
                .iter()
                .filter(|(s, m, _)| s == slug && *m == n)
                .map(|(_, _, c)| c.clone())
                .collect();
            json_response(200, &Value::Array(paginate(items, query)))
        }
        ("POST", ["issues", n, "comments"]) => {
            let Some(n) = num(n) else { return not_found() };
            let Some(item) = db.item_mut(slug, n) else {
                return not_found();
            };
            item["comments"] = json!(item["comments"].as_u64().unwrap_or(0) + 1);
            let id = db.id();
            let c = sh.comment_json(slug, n, id, USER, input["body"].as_str().unwrap_or(""));
            db.comments.push((slug.to_owned(), n, c.clone()));
            json_response(201, &c)
        }
        ("POST", ["issues", n, "labels"]) => {
            let add = logins(input, "labels");
            let Some(i) = num(n).and_then(|n| db.item_mut(slug, n)) else {
                return not_found();
            };
            let mut cur = i["labels"].as_array().cloned().unwrap_or_default();
            for l in &add {
                if !cur.iter().any(|x| x["name"] == l.as_str()) {
                    cur.push(label(l));
                }
            }
            i["labels"] = Value::Array(cur.clone());
            json_response(200, &Value::Array(cur))
        }
        ("DELETE", ["issues", n, "labels", name]) => {
            let name = percent_decode(name);
            let Some(i) = num(n).and_then(|n| db.item_mut(slug, n)) else {
                return not_found();
            };
            let mut cur = i["labels"].as_array().cloned().unwrap_or_default();
            let before = cur.len();
            cur.retain(|x| x["name"] != name.as_str());
            if cur.len() == before {
                return json_response(404, &json!({"message": "Label does not exist"}));
            }
            i["labels"] = Value::Array(cur.clone());
            json_response(200, &Value::Array(cur))
        }
        (m @ ("POST" | "DELETE"), ["issues", n, "assignees"]) => {
            let who = logins(input, "assignees");
            let Some(i) = num(n).and_then(|n| db.item_mut(slug, n)) else {
                return not_found();
            };
            let mut cur = i["assignees"].as_array().cloned().unwrap_or_default();
            if m == "POST" {
                cur.extend(who.iter().map(|w| user(w, user_id(w))));
            } else {
                cur.retain(|u| !who.iter().any(|w| u["login"] == w.as_str()));
            }
            i["assignees"] = Value::Array(cur);
            json_response(if m == "POST" { 201 } else { 200 }, i)
        }
        ("GET", ["commits", sha, "check-runs"]) => {
            let items: Vec<Value> = db
                .check_runs
                .iter()
                .filter(|(s, _)| s == sha)
                .map(|(_, c)| c.clone())
                .collect();
            let total = items.len();
            json_response(
                200,
                &json!({"total_count": total, "check_runs": paginate(items, query)}),
            )
        }
        ("GET", ["commits", sha, "status"]) => {
            let items: Vec<Value> = db
                .statuses
                .iter()
                .filter(|(s, _)| s == sha)
                .map(|(_, c)| c.clone())
                .collect();
            let state = if items
                .iter()
                .any(|s| s["state"] == "failure" || s["state"] == "error")
            {
                "failure"
            } else if items.iter().any(|s| s["state"] == "pending") || items.is_empty() {
                "pending"
            } else {
                "success"
            };
            json_response(
                200,
                &json!({"state": state, "sha": sha, "total_count": items.len(), "statuses": items, "repository": repo}),
            )
        }
        ("GET", ["actions", "runs"]) | ("GET", ["actions", "workflows", _, "runs"]) => {
            let mut items: Vec<Value> = db
                .runs
                .iter()
                .filter(|r| r["repository"]["full_name"] == slug)
                .cloned()
                .collect();
            for (param, field) in [
                ("branch", "head_branch"),
                ("event", "event"),
                ("head_sha", "head_sha"),
            ] {
                if let Some(v) = query_param(query, param) {
                    items.retain(|r| r[field] == v.as_str());
                }
            }
            if let Some(v) = query_param(query, "status") {
                items.retain(|r| r["status"] == v.as_str() || r["conclusion"] == v.as_str());
            }
            if let ["actions", "workflows", w, "runs"] = rest {
                let w = percent_decode(w);
                items.retain(|r| {
                    r["path"].as_str().is_some_and(|p| p.ends_with(&w))
                        || r["workflow_id"].as_u64().map(|x| x.to_string()) == Some(w.clone())
                });
            }
            let total = items.len();
            json_response(
                200,
                &json!({"total_count": total, "workflow_runs": paginate(items, query)}),
            )
        }
        ("GET", ["actions", "workflows"]) => {
            let w = workflow_json(API_URL, slug);
            json_response(200, &json!({"total_count": 1, "workflows": [w]}))
        }
        ("GET", ["actions", "workflows", id]) => {
            let w = workflow_json(API_URL, slug);
            if *id == "9" || *id == "ci.yml" {
                json_response(200, &w)
            } else {
                not_found()
            }
        }
        ("GET", ["actions", "runs", id]) => {
            match db.runs.iter().find(|r| {
                r["id"].as_u64() == id.parse::<u64>().ok() && r["repository"]["full_name"] == slug
            }) {
                Some(r) => json_response(200, r),
                None => not_found(),
            }
        }
        ("GET", ["actions", "runs", _, "artifacts"]) => {
            json_response(200, &json!({"total_count": 0, "artifacts": []}))
        }
        ("GET", ["actions", "runs", id, "jobs"]) => {
            let items: Vec<Value> = db
                .jobs
                .iter()
                .filter(|j| j["run_id"].as_u64() == id.parse::<u64>().ok())
                .cloned()
                .collect();
            let total = items.len();
            json_response(
                200,
                &json!({"total_count": total, "jobs": paginate(items, query)}),
            )
        }
        ("GET", ["actions", "jobs", id]) => {
            match db
                .jobs
                .iter()
                .find(|j| j["id"].as_u64() == id.parse::<u64>().ok())
            {
                Some(j) => json_response(200, j),
                None => not_found(),
            }
        }
        ("GET", ["actions", "runs", id, "logs"]) => {
            if !db
                .runs
                .iter()
                .any(|r| r["id"].as_u64() == id.parse::<u64>().ok())
            {
                return not_found();
            }
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&format!("{}/_download/runlogs/{id}", sh.base)).unwrap(),
            );
            r
        }
        ("GET", ["actions", "jobs", id, "logs"]) => {
            if !db.logs.contains_key(&id.parse::<u64>().unwrap_or(0)) {
                return not_found();
            }
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&format!("{}/_download/logs/{id}", sh.base)).unwrap(),
            );
            r
        }
        _ => not_found(),
    }
}

/// CRC-32 (IEEE), bitwise: enough for the few small files of a fake log archive.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive with stored (uncompressed) entries, like the run-log archive GitHub serves.
fn zip_stored(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let header = |sig: u32, central: bool, buf: &mut Vec<u8>| {
            buf.extend_from_slice(&sig.to_le_bytes());
            if central {
                buf.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            buf.extend_from_slice(&20u16.to_le_bytes()); // needed
            buf.extend_from_slice(&0u16.to_le_bytes()); // flags
            buf.extend_from_slice(&0u16.to_le_bytes()); // stored
            buf.extend_from_slice(&0u32.to_le_bytes()); // time+date
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                buf.extend_from_slice(&0u16.to_le_bytes()); // comment
                buf.extend_from_slice(&0u16.to_le_bytes()); // disk
                buf.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
                buf.extend_from_slice(&0u32.to_le_bytes()); // external attrs
                buf.extend_from_slice(&offset.to_le_bytes());
            }
            buf.extend_from_slice(name.as_bytes());
        };
        header(0x0403_4b50, false, &mut out);
        out.extend_from_slice(data);
        header(0x0201_4b50, true, &mut central);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The log archive of run `run`: one file per job step (`job/N_step.txt`), as GitHub lays it out.
fn run_logs_zip(db: &Db, run: u64) -> Vec<u8> {
    let mut files = Vec::new();
    for j in db.jobs.iter().filter(|j| j["run_id"].as_u64() == Some(run)) {
        let job = j["name"].as_str().unwrap_or("");
        let log = j["id"]
            .as_u64()
            .and_then(|id| db.logs.get(&id))
            .cloned()
            .unwrap_or_default();
        for st in j["steps"].as_array().cloned().unwrap_or_default() {
            let n = st["number"].as_u64().unwrap_or(0);
            let name = st["name"].as_str().unwrap_or("");
            let text = if st["conclusion"] == "failure" {
                log.clone()
            } else {
                format!("2024-01-01T00:00:00.0000000Z {name}\n")
            };
            files.push((format!("{job}/{n}_{name}.txt"), text.into_bytes()));
        }
    }
    zip_stored(&files)
}

fn workflow_json(base: &str, slug: &str) -> Value {
    json!({
        "id": 9, "node_id": "W_9", "name": "CI", "path": ".github/workflows/ci.yml",
        "state": "active", "created_at": T0, "updated_at": T0,
        "url": format!("{base}/repos/{slug}/actions/workflows/9"),
        "html_url": format!("https://github.com/{slug}/blob/main/.github/workflows/ci.yml"),
        "badge_url": format!("https://github.com/{slug}/workflows/CI/badge.svg"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("acme%3Aclaude%2Fx"), "acme:claude/x");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(
            query_param("state=all&head=acme%3Ax", "head").as_deref(),
            Some("acme:x")
        );
    }
}
