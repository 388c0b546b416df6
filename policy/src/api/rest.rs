//! REST: a route table, method + path template → rule (DESIGN §5). First match wins; anything that
//! matches no route is refused.
//!
//! Templates are `/`-separated segments: a literal, `*` (one segment) or `**` (the rest, possibly
//! empty). Repository routes are relative to `/repos/{owner}/{name}`, whose repository must be in
//! `ALLOWED_REPOS` before any rule is looked at.

use super::refs::{check_api_ref_update, check_branch_write, ApiRefUpdate};
use super::search::check_search_query;
use super::{query_values, Allowed, ApiRequest, Kind};
use crate::config::{ALLOWED_REPOS, ALLOW_PR_MERGE, ALLOW_WORKFLOW_RUN};
use crate::denial::{quote, Denial};
use crate::Policy;
use serde_json::Value;

/// What a matched route allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A read.
    Read,
    /// A write of the PR workflow on an allowed repository.
    Write,
    /// `/search/…?q=`: the query must be confined to allowed repositories.
    Search,
    /// `POST /repos/o/r/pulls`: the head must be a branch the push policy allows.
    PullCreate,
    /// Merging (and updating a PR branch from its base): `ALLOW_PR_MERGE`.
    Merge,
    /// Actions dispatch/rerun/cancel/enable: `ALLOW_WORKFLOW_RUN`.
    Workflow,
    /// `POST git/refs` (body `ref`).
    RefCreate,
    /// `PATCH git/refs/…` (body `force`).
    RefUpdate,
    /// `DELETE git/refs/…`.
    RefDelete,
    /// `PUT`/`DELETE contents/…` (body `branch`).
    ContentsWrite,
    /// `POST merges` (body `base`).
    MergesPost,
    /// Always refused; the text says what it is.
    Never(&'static str),
}

use Rule::*;

const ANY: &str = "*";

/// Routes under `/repos/{owner}/{name}` (template relative to that; "" is the repository itself).
const REPO_ROUTES: &[(&str, &str, Rule)] = &[
    ("DELETE", "", Never("deleting a repository")),
    (
        "PATCH",
        "",
        Never("changing repository settings (rename, archive, visibility, …)"),
    ),
    ("POST", "transfer", Never("transferring a repository")),
    ("POST", "forks", Never("creating a fork")),
    ("GET", "collaborators/**", Read),
    (ANY, "collaborators/**", Never("changing collaborators")),
    (ANY, "invitations/**", Never("repository invitations")),
    ("GET", "releases/**", Read),
    (ANY, "releases/**", Never("creating or changing releases")),
    (
        ANY,
        "environments/**",
        Never("changing deployment environments"),
    ),
    (ANY, "deployments/**", Never("creating deployments")),
    (ANY, "pages/**", Never("changing GitHub Pages")),
    (ANY, "rulesets/**", Never("changing rulesets")),
    (
        ANY,
        "branches/**/protection/**",
        Never("changing branch protection"),
    ),
    // The PR workflow.
    ("POST", "pulls", PullCreate),
    ("PATCH", "pulls/*", Write),
    ("PUT", "pulls/*/merge", Merge),
    ("PUT", "pulls/*/update-branch", Merge),
    ("POST", "pulls/*/comments", Write),
    ("POST", "pulls/*/comments/*/replies", Write),
    ("PATCH", "pulls/comments/*", Write),
    ("POST", "pulls/comments/*/reactions", Write),
    ("POST", "pulls/*/reviews", Write),
    ("PUT", "pulls/*/reviews/*", Write),
    ("POST", "pulls/*/reviews/*/events", Write),
    ("POST", "pulls/*/requested_reviewers", Write),
    ("DELETE", "pulls/*/requested_reviewers", Write),
    ("POST", "issues", Write),
    ("PATCH", "issues/*", Write),
    ("POST", "issues/*/comments", Write),
    ("PATCH", "issues/comments/*", Write),
    ("POST", "issues/comments/*/reactions", Write),
    ("POST", "issues/*/reactions", Write),
    ("POST", "issues/*/labels", Write),
    ("PUT", "issues/*/labels", Write),
    ("DELETE", "issues/*/labels", Write),
    ("DELETE", "issues/*/labels/*", Write),
    ("POST", "issues/*/assignees", Write),
    ("DELETE", "issues/*/assignees", Write),
    ("POST", "labels", Write),
    ("PATCH", "labels/*", Write),
    // Git objects do not move any ref; refs go through the push rules.
    ("POST", "git/blobs", Write),
    ("POST", "git/trees", Write),
    ("POST", "git/commits", Write),
    ("POST", "git/tags", Write),
    ("POST", "git/refs", RefCreate),
    ("PATCH", "git/refs/**", RefUpdate),
    ("DELETE", "git/refs/**", RefDelete),
    ("PUT", "contents/**", ContentsWrite),
    ("DELETE", "contents/**", ContentsWrite),
    ("POST", "merges", MergesPost),
    // Actions.
    ("POST", "actions/workflows/*/dispatches", Workflow),
    ("PUT", "actions/workflows/*/enable", Workflow),
    ("PUT", "actions/workflows/*/disable", Workflow),
    ("POST", "actions/runs/*/rerun", Workflow),
    ("POST", "actions/runs/*/rerun-failed-jobs", Workflow),
    ("POST", "actions/runs/*/cancel", Workflow),
    ("POST", "actions/runs/*/force-cancel", Workflow),
    ("POST", "actions/jobs/*/rerun", Workflow),
    ("POST", "dispatches", Workflow),
    // Reads of everything else under the repository.
    ("GET", "**", Read),
    ("HEAD", "**", Read),
];

/// Routes outside `/repos/…`.
const GLOBAL_ROUTES: &[(&str, &str, Rule)] = &[
    ("GET", "", Read),
    ("GET", "user", Read),
    ("GET", "rate_limit", Read),
    ("GET", "meta", Read),
    ("GET", "search/issues", Search),
    ("GET", "search/commits", Search),
    ("GET", "search/code", Search),
    (ANY, "gists/**", Never("gists")),
    (ANY, "user/codespaces/**", Never("codespaces")),
    (ANY, "orgs/**/codespaces/**", Never("codespaces")),
];

/// Path segments that name secrets, variables, keys or webhooks, refused for every method.
const SECRET_SEGMENTS: &[&str] = &["secrets", "variables", "keys", "hooks"];

fn matches(template: &str, segs: &[&str]) -> bool {
    if template.is_empty() {
        return segs.is_empty();
    }
    let t: Vec<&str> = template.split('/').collect();
    let mut i = 0;
    for (n, part) in t.iter().enumerate() {
        if *part == "**" {
            // `**` in the middle matches any run of segments: try each split (templates are
            // short and segment counts bounded, so this is cheap).
            let rest = t[n + 1..].join("/");
            return (i..=segs.len()).any(|k| {
                if rest.is_empty() {
                    true
                } else {
                    matches(&rest, &segs[k..])
                }
            });
        }
        let Some(s) = segs.get(i) else { return false };
        if *part != "*" && part != s {
            return false;
        }
        i += 1;
    }
    i == segs.len()
}

fn lookup(table: &[(&str, &str, Rule)], method: &str, segs: &[&str]) -> Option<Rule> {
    table
        .iter()
        .find(|(m, t, _)| (*m == ANY || *m == method) && matches(t, segs))
        .map(|(_, _, r)| *r)
}

/// Most path segments considered (GitHub paths are short; a contents path may be deeper).
const MAX_SEGMENTS: usize = 64;

/// Split and sanity-check a request path: no `.`/`..`/empty segments, no encoded separators or
/// dots, no backslashes or control characters. These are refused rather than normalised: a path
/// GitHub would normalise differently from us is a way around the table.
fn segments<'a>(method: &str, path: &'a str) -> Result<Vec<&'a str>, Denial> {
    let bad = || {
        Denial::new(format!(
            "{method} '{}' refused: not a plain API path",
            quote(path)
        ))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return Err(bad());
    };
    let lower = rest.to_ascii_lowercase();
    if lower.contains("%2f")
        || lower.contains("%2e")
        || lower.contains("%5c")
        || lower.contains("%00")
        || rest.contains('\\')
        || rest.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(bad());
    }
    if rest.is_empty() {
        return Ok(vec![]);
    }
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.len() > MAX_SEGMENTS || segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(bad());
    }
    Ok(segs)
}

fn body_json(req: &ApiRequest<'_>) -> Result<Value, Denial> {
    if req.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(req.body).map_err(|_| {
        Denial::new(format!(
            "{} {} refused: the request body is not JSON",
            req.method,
            quote(req.path)
        ))
    })
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

impl Policy {
    /// Decide a REST request.
    pub fn check_rest(&self, req: &ApiRequest<'_>) -> Result<Allowed, Denial> {
        let method = req.method;
        let segs = segments(method, req.path)?;
        let what = format!("{method} {}", quote(req.path));
        if let Some(s) = segs.iter().find(|s| SECRET_SEGMENTS.contains(s)) {
            return Err(Denial::new(format!(
                "{what} refused: gitgate never gives access to repository {s} \
                 (secrets, variables, deploy keys and webhooks are not reachable through the agent)"
            )));
        }
        if segs.first() == Some(&"repos") {
            let (Some(owner), Some(name)) = (segs.get(1), segs.get(2)) else {
                return Err(Denial::new(format!(
                    "{what} refused: not a repository path"
                )));
            };
            let slug = format!("{owner}/{name}");
            if !self.repo_allowed(&slug) || slug.contains('%') {
                return Err(Denial::with_setting(
                    format!(
                        "{what} refused: repository '{}' is not in ALLOWED_REPOS",
                        quote(&slug)
                    ),
                    ALLOWED_REPOS,
                ));
            }
            let rel = &segs[3..];
            let rule = lookup(REPO_ROUTES, method, rel);
            return self.apply(rule, req, &what, Some(slug), rel);
        }
        let rule = lookup(GLOBAL_ROUTES, method, &segs);
        self.apply(rule, req, &what, None, &segs)
    }

    fn apply(
        &self,
        rule: Option<Rule>,
        req: &ApiRequest<'_>,
        what: &str,
        repo: Option<String>,
        rel: &[&str],
    ) -> Result<Allowed, Denial> {
        let allowed = |kind: Kind, reason: String| Allowed {
            kind,
            reason,
            repo: repo.clone(),
            nodes: vec![],
        };
        let write = |reason: &str| Ok(allowed(Kind::Write, reason.to_owned()));
        match rule {
            None => {
                let scope = if repo.is_some() {
                    "it is not a write an AI's pull-request workflow needs"
                } else if req.method == "GET" || req.method == "HEAD" {
                    "it reads outside ALLOWED_REPOS"
                } else {
                    "only pull-request work on ALLOWED_REPOS is allowed"
                };
                Err(Denial::new(format!("{what} refused: {scope}")))
            }
            Some(Never(thing)) => Err(Denial::new(format!(
                "{what} refused: {thing} is never allowed through gitgate"
            ))),
            Some(Read) => Ok(allowed(Kind::Read, "read".into())),
            Some(Write) => write("pull-request workflow write"),
            Some(Search) => {
                let qs: Vec<String> = query_values(req.query, "q").collect();
                if qs.len() != 1 {
                    return Err(Denial::with_setting(
                        format!(
                            "{what} refused: a search needs exactly one q= with repo:OWNER/NAME"
                        ),
                        ALLOWED_REPOS,
                    ));
                }
                check_search_query(self, &qs[0])?;
                Ok(allowed(
                    Kind::Read,
                    "search confined to ALLOWED_REPOS".into(),
                ))
            }
            Some(Merge) => {
                if self.config().allow_pr_merge {
                    write("merge (ALLOW_PR_MERGE)")
                } else {
                    Err(Denial::with_setting(
                        format!(
                            "{what} refused: merging pull requests is disabled (ALLOW_PR_MERGE)"
                        ),
                        ALLOW_PR_MERGE,
                    ))
                }
            }
            Some(Workflow) => {
                if self.config().allow_workflow_run {
                    write("workflow run (ALLOW_WORKFLOW_RUN)")
                } else {
                    Err(Denial::with_setting(
                        format!(
                            "{what} refused: running, re-running or cancelling workflows is disabled (ALLOW_WORKFLOW_RUN)"
                        ),
                        ALLOW_WORKFLOW_RUN,
                    ))
                }
            }
            Some(PullCreate) => {
                let body = body_json(req)?;
                let Some(head) = str_field(&body, "head") else {
                    return Err(Denial::new(format!(
                        "{what} refused: no 'head' branch given"
                    )));
                };
                let branch = head.split_once(':').map(|(_, b)| b).unwrap_or(head);
                check_branch_write(self, branch).map_err(|d| pr_head(d, branch))?;
                write("pull request create")
            }
            Some(RefCreate) => {
                let body = body_json(req)?;
                let Some(r) = str_field(&body, "ref") else {
                    return Err(Denial::new(format!("{what} refused: no 'ref' given")));
                };
                check_api_ref_update(
                    self,
                    &ApiRefUpdate {
                        ref_name: r,
                        delete: false,
                        force: false,
                    },
                )?;
                write("ref create (push rules)")
            }
            Some(RefUpdate) | Some(RefDelete) => {
                // rel = ["git", "refs", ...the ref without "refs/"]
                let name = format!("refs/{}", rel[2..].join("/"));
                let delete = rule == Some(RefDelete);
                let force = if delete {
                    false
                } else {
                    super::refs::asks_force(body_json(req)?.get("force"))
                };
                check_api_ref_update(
                    self,
                    &ApiRefUpdate {
                        ref_name: &name,
                        delete,
                        force,
                    },
                )?;
                write("ref update (push rules)")
            }
            Some(ContentsWrite) => {
                let body = body_json(req)?;
                let Some(branch) = str_field(&body, "branch") else {
                    return Err(Denial::new(format!(
                        "{what} refused: name the branch to write ('branch'); without it GitHub writes the default branch"
                    )));
                };
                check_branch_write(self, branch)?;
                write("contents write (push rules)")
            }
            Some(MergesPost) => {
                let body = body_json(req)?;
                let Some(base) = str_field(&body, "base") else {
                    return Err(Denial::new(format!(
                        "{what} refused: no 'base' branch given"
                    )));
                };
                check_branch_write(self, base)?;
                write("merge into a branch (push rules)")
            }
        }
    }
}

/// A refused PR head says so (the push rule's text names the setting).
pub(crate) fn pr_head(d: Denial, branch: &str) -> Denial {
    Denial {
        message: format!(
            "pull request head '{}' refused: {}",
            quote(branch),
            d.message
        ),
        setting: d.setting,
    }
}
