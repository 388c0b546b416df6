//! The fake's GraphQL endpoint: answers the operations Debian's gh 2.23 sends (by operation name),
//! from the same in-memory model as the REST routes, with GitHub's GraphQL field names. Answers are
//! supersets of what each query asks (gh ignores extra fields). Unknown operations answer a GraphQL
//! error, so a test notices.

use super::{slug_of, user_id, Db, Shared, T0, T1, USER};
use serde_json::{json, Value};

/// `operationName`, or the name after the first `query`/`mutation` keyword of the document.
pub fn operation_name(body: &Value) -> Option<String> {
    if let Some(n) = body["operationName"].as_str().filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    let q = body["query"].as_str()?;
    // The first `query NAME` / `mutation NAME` outside fragments (a rough scan is enough here).
    for kw in ["query", "mutation"] {
        let mut from = 0;
        while let Some(at) = q[from..].find(kw) {
            let start = from + at;
            let before_ok = start == 0 || !q.as_bytes()[start - 1].is_ascii_alphanumeric();
            let rest = q[start + kw.len()..].trim_start();
            let after_kw = q.as_bytes().get(start + kw.len()).copied().unwrap_or(b' ');
            if before_ok && !(after_kw.is_ascii_alphanumeric() || after_kw == b'_') {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return (!name.is_empty()).then_some(name);
            }
            from = start + kw.len();
        }
    }
    None
}

fn owner_name(slug: &str) -> (&str, &str) {
    slug.split_once('/').unwrap_or((slug, ""))
}

fn actor(login: &str) -> Value {
    json!({"__typename": "User", "login": login, "id": format!("U_{}", user_id(login)), "name": ""})
}

fn labels(v: &Value) -> Value {
    let nodes: Vec<Value> = v["labels"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| json!({"id": l["node_id"], "name": l["name"], "description": l["description"], "color": l["color"]}))
        .collect();
    json!({"totalCount": nodes.len(), "nodes": nodes})
}

fn state_of(v: &Value) -> &'static str {
    if v["merged"] == true {
        "MERGED"
    } else if v["state"] == "closed" {
        "CLOSED"
    } else {
        "OPEN"
    }
}

fn comments(db: &Db, slug: &str, n: u64) -> Value {
    let nodes: Vec<Value> = db
        .comments
        .iter()
        .filter(|(s, num, _)| s == slug && *num == n)
        .map(|(_, _, c)| {
            json!({
                "id": c["node_id"], "author": actor(c["user"]["login"].as_str().unwrap_or("")),
                "authorAssociation": "MEMBER", "body": c["body"], "createdAt": c["created_at"],
                "includesCreatedEdit": false, "isMinimized": false, "minimizedReason": "",
                "reactionGroups": [], "url": c["html_url"], "viewerDidAuthor": false,
            })
        })
        .collect();
    json!({"totalCount": nodes.len(), "nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}})
}

fn contexts(db: &Db, sha: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (s, c) in &db.check_runs {
        if s == sha {
            out.push(json!({
                "__typename": "CheckRun", "name": c["name"],
                "checkSuite": {"workflowRun": {"workflow": {"name": "CI"}}},
                "status": c["status"].as_str().unwrap_or("").to_uppercase(),
                "conclusion": c["conclusion"].as_str().unwrap_or("").to_uppercase(),
                "startedAt": c["started_at"], "completedAt": c["completed_at"],
                "detailsUrl": c["details_url"], "isRequired": false,
            }));
        }
    }
    for (s, c) in &db.statuses {
        if s == sha {
            out.push(json!({
                "__typename": "StatusContext", "context": c["context"],
                "state": c["state"].as_str().unwrap_or("").to_uppercase(),
                "targetUrl": c["target_url"], "createdAt": c["created_at"], "isRequired": false,
            }));
        }
    }
    out
}

fn pull(db: &Db, p: &Value) -> Value {
    let slug = slug_of(p);
    let (owner, name) = owner_name(&slug);
    let n = p["number"].as_u64().unwrap_or(0);
    let sha = p["head"]["sha"].as_str().unwrap_or("").to_owned();
    let ctx = contexts(db, &sha);
    let reviewers: Vec<Value> = p["requested_reviewers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|u| json!({"requestedReviewer": actor(u["login"].as_str().unwrap_or(""))}))
        .collect();
    let rollup =
        json!({"contexts": {"nodes": ctx, "pageInfo": {"hasNextPage": false, "endCursor": ""}}});
    // The head repository: the base one, or a fork's (`head.repo.full_name`).
    let head_repo = &p["head"]["repo"];
    let head_slug = head_repo["full_name"].as_str().unwrap_or(&slug).to_owned();
    let (head_owner, head_name) = owner_name(&head_slug);
    json!({
        "__typename": "PullRequest",
        "id": p["node_id"], "number": n, "title": p["title"], "body": p["body"],
        "url": p["html_url"], "state": state_of(p), "closed": p["state"] == "closed",
        "isDraft": p["draft"], "author": actor(p["user"]["login"].as_str().unwrap_or("")),
        "headRefName": p["head"]["ref"], "headRefOid": sha, "baseRefName": p["base"]["ref"],
        "headRepositoryOwner": {"id": format!("U_{}", user_id(head_owner)), "login": head_owner, "name": ""},
        "headRepository": {"id": head_repo["node_id"], "name": head_name},
        "isCrossRepository": head_slug != slug,
        "maintainerCanModify": p["maintainer_can_modify"] == true,
        "mergeable": "MERGEABLE", "mergeStateStatus": "CLEAN", "reviewDecision": "",
        "additions": p["additions"], "deletions": p["deletions"], "changedFiles": p["changed_files"],
        "createdAt": p["created_at"], "updatedAt": p["updated_at"], "closedAt": p["closed_at"],
        "mergedAt": p["merged_at"], "mergedBy": null,
        "labels": labels(p),
        "assignees": {"nodes": [], "totalCount": 0},
        "reviewRequests": {"nodes": reviewers},
        "reviews": {"nodes": [], "totalCount": 0, "pageInfo": {"hasNextPage": false, "endCursor": null}},
        "latestReviews": {"nodes": []},
        "comments": comments(db, &slug, n),
        "commits": {"totalCount": 1, "nodes": [{"commit": {"oid": sha, "statusCheckRollup": rollup}}]},
        "projectCards": {"nodes": [], "totalCount": 0},
        "projectItems": {"nodes": [], "totalCount": 0, "pageInfo": {"hasNextPage": false, "endCursor": null}},
        "milestone": null, "reactionGroups": [],
        "repository": {"nameWithOwner": slug, "name": name, "owner": {"login": owner}},
    })
}

fn issue(db: &Db, i: &Value) -> Value {
    let slug = slug_of(i);
    let n = i["number"].as_u64().unwrap_or(0);
    json!({
        "__typename": "Issue",
        "id": i["node_id"], "number": n, "title": i["title"], "body": i["body"],
        "url": i["html_url"], "state": state_of(i), "stateReason": i["state_reason"],
        "closed": i["state"] == "closed",
        "createdAt": i["created_at"], "updatedAt": i["updated_at"], "closedAt": i["closed_at"],
        "author": actor(i["user"]["login"].as_str().unwrap_or("")),
        "labels": labels(i), "assignees": {"nodes": [], "totalCount": 0},
        "comments": comments(db, &slug, n), "milestone": null,
        "projectCards": {"nodes": [], "totalCount": 0},
        "projectItems": {"nodes": [], "totalCount": 0, "pageInfo": {"hasNextPage": false, "endCursor": null}},
        "reactionGroups": [],
        "repository": {"nameWithOwner": slug},
    })
}

fn repository(db: &Db, r: &Value) -> Value {
    let label_nodes: Vec<Value> = ["bug", "enhancement"]
        .iter()
        .map(|l| json!({"id": format!("LA_{l}"), "name": l, "color": "d73a4a", "description": ""}))
        .collect();
    let _ = db;
    json!({
        "id": r["node_id"], "name": r["name"], "nameWithOwner": r["full_name"],
        "owner": {"id": format!("U_{}", user_id(r["owner"]["login"].as_str().unwrap_or(""))), "login": r["owner"]["login"]},
        "description": r["description"], "url": r["html_url"], "sshUrl": r["ssh_url"],
        "homepageUrl": "", "hasIssuesEnabled": true, "hasWikiEnabled": false,
        "viewerPermission": "WRITE", "defaultBranchRef": {"name": r["default_branch"]},
        "parent": null, "isPrivate": true, "visibility": "PRIVATE", "isFork": false,
        "isArchived": false, "isTemplate": false, "stargazerCount": 3, "forkCount": 1,
        "createdAt": T0, "updatedAt": T0, "pushedAt": T0,
        "mergeCommitAllowed": true, "rebaseMergeAllowed": true, "squashMergeAllowed": true,
        "labels": {"totalCount": label_nodes.len(), "nodes": label_nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}},
    })
}

fn data(v: Value) -> Value {
    json!({ "data": v })
}

fn gql_error(kind: &str, msg: &str) -> Value {
    json!({"data": null, "errors": [{"type": kind, "message": msg}]})
}

fn node_by_id(db: &Db, id: &str) -> Option<Value> {
    if let Some(p) = db.pulls.iter().find(|p| p["node_id"] == id) {
        return Some(pull(db, p));
    }
    if let Some(i) = db.issues.iter().find(|i| i["node_id"] == id) {
        return Some(issue(db, i));
    }
    if let Some(r) = db.repos.iter().find(|r| r["node_id"] == id) {
        let mut v = repository(db, r);
        v["__typename"] = json!("Repository");
        return Some(v);
    }
    if let Some(rest) = id.strip_prefix("REF_") {
        // REF_<owner>_<name>_<branch>
        let mut parts = rest.splitn(3, '_');
        let (o, n, b) = (parts.next()?, parts.next()?, parts.next()?);
        return Some(
            json!({"__typename": "Ref", "name": b, "prefix": "refs/heads/",
            "repository": {"nameWithOwner": format!("{o}/{n}")}}),
        );
    }
    if let Some(l) = id.strip_prefix("LA_") {
        // Labels belong to the seeded repository.
        return Some(
            json!({"__typename": "Label", "name": l, "repository": {"nameWithOwner": "acme/app"}}),
        );
    }
    if id.starts_with("U_") {
        return Some(json!({"__typename": "User", "login": "someone"}));
    }
    None
}

fn repo_of<'a>(db: &'a Db, vars: &Value) -> Option<&'a Value> {
    let owner = vars["owner"].as_str()?;
    let name = vars["repo"].as_str().or(vars["name"].as_str())?;
    db.repo(&format!("{owner}/{name}"))
}

fn pulls_in<'a>(db: &'a Db, slug: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    db.pulls
        .iter()
        .filter(move |p| slug_of(p).eq_ignore_ascii_case(slug))
}

fn connection(nodes: Vec<Value>) -> Value {
    json!({"totalCount": nodes.len(), "nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}})
}

/// Answer one GraphQL request: the operation's superset answer, shaped like the query.
pub fn answer(sh: &Shared, db: &mut Db, body: &Value) -> Value {
    let mut v = superset(sh, db, body);
    if let (Some(d), Some(q)) = (
        v.get("data").filter(|d| !d.is_null()),
        body["query"].as_str(),
    ) {
        let op = operation_name(body);
        v["data"] = project(q, op.as_deref(), d);
    }
    v
}

fn superset(sh: &Shared, db: &mut Db, body: &Value) -> Value {
    let op = operation_name(body).unwrap_or_default();
    let vars = &body["variables"];
    let q = body["query"].as_str().unwrap_or("");
    let input = &vars["input"];
    let not_found = || {
        gql_error(
            "NOT_FOUND",
            "Could not resolve to a Repository with the name.",
        )
    };
    match op.as_str() {
        "UserCurrent" => data(json!({"viewer": {"login": USER}})),
        "GitgateNodes" => {
            let ids = vars["ids"].as_array().cloned().unwrap_or_default();
            let nodes: Vec<Value> = ids
                .iter()
                .map(|id| node_by_id(db, id.as_str().unwrap_or("")).unwrap_or(Value::Null))
                .collect();
            data(json!({"nodes": nodes}))
        }
        "RepositoryInfo" | "RepositoryFindFork" | "RepositoryNetwork" => match repo_of(db, vars) {
            Some(r) => data(json!({"repository": repository(db, r)})),
            None => not_found(),
        },
        "PullRequestList" => {
            let Some(r) = repo_of(db, vars) else {
                return not_found();
            };
            let slug = r["full_name"].as_str().unwrap_or("").to_owned();
            let states: Vec<String> = match &vars["state"] {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => vec!["OPEN".into()],
            };
            let limit = vars["limit"].as_u64().unwrap_or(30) as usize;
            let mut nodes: Vec<Value> = pulls_in(db, &slug)
                .filter(|p| states.iter().any(|s| s == state_of(p)))
                .filter(|p| {
                    vars["headBranch"]
                        .as_str()
                        .is_none_or(|h| p["head"]["ref"] == h)
                })
                .filter(|p| {
                    vars["baseBranch"]
                        .as_str()
                        .is_none_or(|b| p["base"]["ref"] == b)
                })
                .map(|p| pull(db, p))
                .collect();
            nodes.reverse();
            nodes.truncate(limit);
            data(json!({"repository": {"pullRequests": connection(nodes)}}))
        }
        "PullRequestByNumber" => {
            let Some(r) = repo_of(db, vars) else {
                return not_found();
            };
            let slug = r["full_name"].as_str().unwrap_or("").to_owned();
            let n = vars["pr_number"].as_u64().unwrap_or(0);
            let found = pulls_in(db, &slug)
                .find(|p| p["number"] == n)
                .map(|p| pull(db, p));
            match found {
                Some(p) => data(json!({"repository": {"pullRequest": p}})),
                None => gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a PullRequest with the number of {n}."),
                ),
            }
        }
        "PullRequestForBranch" => {
            let Some(r) = repo_of(db, vars) else {
                return not_found();
            };
            let slug = r["full_name"].as_str().unwrap_or("").to_owned();
            let head = vars["headRefName"].as_str().unwrap_or("");
            let nodes: Vec<Value> = pulls_in(db, &slug)
                .filter(|p| p["head"]["ref"] == head)
                .map(|p| pull(db, p))
                .collect();
            data(json!({"repository": {"pullRequests": connection(nodes)}}))
        }
        "PullRequestStatusChecks" => {
            let id = vars["id"].as_str().unwrap_or("");
            match node_by_id(db, id) {
                Some(n) => data(json!({"node": n})),
                None => gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{id}'"),
                ),
            }
        }
        "CommentsForIssue" | "CommentsForPullRequest" => {
            let id = vars["id"].as_str().unwrap_or("");
            data(json!({"node": node_by_id(db, id)}))
        }
        "PullRequestSearch" => {
            let q = vars["q"].as_str().unwrap_or("");
            let words: Vec<&str> = q.split_whitespace().collect();
            let repos: Vec<&str> = words
                .iter()
                .filter_map(|w| w.strip_prefix("repo:"))
                .collect();
            let author = words
                .iter()
                .find_map(|w| w.strip_prefix("author:"))
                .map(|a| if a == "@me" { USER } else { a });
            let open_only = words.contains(&"state:open") || words.contains(&"is:open");
            let mut nodes: Vec<Value> = db
                .pulls
                .iter()
                .filter(|p| repos.iter().any(|r| slug_of(p).eq_ignore_ascii_case(r)))
                .filter(|p| author.is_none_or(|a| p["user"]["login"] == a))
                .filter(|p| !open_only || p["state"] == "open")
                .map(|p| pull(db, p))
                .collect();
            nodes.reverse();
            let mut conn = connection(nodes);
            conn["issueCount"] = conn["totalCount"].clone();
            data(json!({"search": conn}))
        }
        "PullRequestProjectItems" => {
            data(json!({"repository": {"pullRequest": {"projectItems": connection(vec![])}}}))
        }
        "RepositoryLabelList" | "LabelList" => match repo_of(db, vars) {
            Some(r) => data(json!({"repository": {"labels": repository(db, r)["labels"].clone()}})),
            None => not_found(),
        },
        "IssueList" => {
            let Some(r) = repo_of(db, vars) else {
                return not_found();
            };
            let slug = r["full_name"].as_str().unwrap_or("").to_owned();
            let states: Vec<String> = match &vars["states"] {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                _ => vec!["OPEN".into()],
            };
            let mut nodes: Vec<Value> = db
                .issues
                .iter()
                .filter(|i| slug_of(i).eq_ignore_ascii_case(&slug))
                .filter(|i| states.iter().any(|s| s == state_of(i)))
                .map(|i| issue(db, i))
                .collect();
            nodes.reverse();
            data(json!({"repository": {"hasIssuesEnabled": true, "issues": connection(nodes)}}))
        }
        "IssueByNumber" => {
            let Some(r) = repo_of(db, vars) else {
                return not_found();
            };
            let slug = r["full_name"].as_str().unwrap_or("").to_owned();
            let n = vars["number"].as_u64().unwrap_or(0);
            let found = db
                .issues
                .iter()
                .find(|i| slug_of(i).eq_ignore_ascii_case(&slug) && i["number"] == n)
                .map(|i| issue(db, i))
                .or_else(|| {
                    pulls_in(db, &slug)
                        .find(|p| p["number"] == n)
                        .map(|p| pull(db, p))
                });
            match found {
                Some(i) => {
                    data(json!({"repository": {"hasIssuesEnabled": true, "issueOrPullRequest": i}}))
                }
                None => gql_error(
                    "NOT_FOUND",
                    &format!(
                        "Could not resolve to an issue or pull request with the number of {n}."
                    ),
                ),
            }
        }
        "CommentCreate" => {
            let id = input["subjectId"].as_str().unwrap_or("").to_owned();
            let target = db
                .pulls
                .iter()
                .chain(db.issues.iter())
                .find(|x| x["node_id"] == id.as_str())
                .map(|x| (slug_of(x), x["number"].as_u64().unwrap_or(0)));
            let Some((slug, n)) = target else {
                return gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{id}'"),
                );
            };
            let cid = db.id();
            let c = sh.comment_json(&slug, n, cid, USER, input["body"].as_str().unwrap_or(""));
            let url = c["html_url"].clone();
            db.comments.push((slug, n, c));
            data(json!({"addComment": {"commentEdge": {"node": {"url": url}}}}))
        }
        // Introspection (`__type(name: …)`), not a `__typename` selection.
        _ if q.contains("__type(") || q.contains("__type (") => {
            let fields: Vec<Value> = ["id", "number", "title", "isDraft", "mergeStateStatus"]
                .iter()
                .map(|n| json!({"name": n}))
                .collect();
            data(json!({"__type": {"fields": fields}}))
        }
        _ => mutation_or_query(sh, db, &op, q, input),
    }
}

fn set_pull(db: &mut Db, id: &str, f: impl FnOnce(&mut Value)) -> bool {
    match db.pulls.iter_mut().find(|p| p["node_id"] == id) {
        Some(p) => {
            f(p);
            p["updated_at"] = json!(T1);
            true
        }
        None => false,
    }
}

fn mutation_or_query(sh: &Shared, db: &mut Db, op: &str, q: &str, input: &Value) -> Value {
    let pr_id = input["pullRequestId"].as_str().unwrap_or("").to_owned();
    let done = |db: &Db, field: &str, ok: bool| {
        let p = db
            .pulls
            .iter()
            .find(|p| p["node_id"] == pr_id.as_str())
            .map(|p| pull(db, p));
        if ok {
            data(json!({ field: {"clientMutationId": null, "pullRequest": p}}))
        } else {
            gql_error(
                "NOT_FOUND",
                &format!("Could not resolve to a node with the global id of '{pr_id}'"),
            )
        }
    };
    match op {
        "PullRequestReviewAdd" => {
            let ok = db.pulls.iter().any(|p| p["node_id"] == pr_id.as_str());
            if ok {
                let event = input["event"].as_str().unwrap_or("COMMENT").to_owned();
                db.reviews.push((
                    pr_id.clone(),
                    event,
                    input["body"].as_str().unwrap_or("").to_owned(),
                ));
            }
            done(db, "addPullRequestReview", ok)
        }
        "PullRequestReadyForReview" => {
            let ok = set_pull(db, &pr_id, |p| p["draft"] = json!(false));
            done(db, "markPullRequestReadyForReview", ok)
        }
        "ConvertPullRequestToDraft" => {
            let ok = set_pull(db, &pr_id, |p| p["draft"] = json!(true));
            done(db, "convertPullRequestToDraft", ok)
        }
        "PullRequestClose" => {
            let ok = set_pull(db, &pr_id, |p| {
                p["state"] = json!("closed");
                p["closed_at"] = json!(T1);
            });
            done(db, "closePullRequest", ok)
        }
        "PullRequestReopen" => {
            let ok = set_pull(db, &pr_id, |p| {
                p["state"] = json!("open");
                p["closed_at"] = Value::Null;
            });
            done(db, "reopenPullRequest", ok)
        }
        "PullRequestMerge" => {
            let ok = set_pull(db, &pr_id, |p| {
                p["state"] = json!("closed");
                p["merged"] = json!(true);
                p["merged_at"] = json!(T1);
            });
            done(db, "mergePullRequest", ok)
        }
        "PullRequestCreate" => {
            let repo_id = input["repositoryId"].as_str().unwrap_or("");
            let Some(repo) = db.repos.iter().find(|r| r["node_id"] == repo_id).cloned() else {
                return gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{repo_id}'"),
                );
            };
            let slug = repo["full_name"].as_str().unwrap_or("").to_owned();
            let head = input["headRefName"].as_str().unwrap_or("");
            if db
                .pulls
                .iter()
                .any(|p| slug_of(p) == slug && p["state"] == "open" && p["head"]["ref"] == head)
            {
                return gql_error(
                    "UNPROCESSABLE",
                    &format!("A pull request already exists for {head}."),
                );
            }
            let n = db.next_number(&slug);
            let id = db.id();
            let p = sh.pull_json(
                &slug,
                n,
                id,
                input["title"].as_str().unwrap_or(""),
                input["body"].as_str().unwrap_or(""),
                head,
                &format!("{id:040x}"),
                input["baseRefName"].as_str().unwrap_or("main"),
                USER,
                input["draft"].as_bool().unwrap_or(false),
                &repo,
            );
            db.pulls.push(p.clone());
            data(json!({"createPullRequest": {"pullRequest": pull(db, &p)}}))
        }
        "IssueCreate" => {
            let repo_id = input["repositoryId"].as_str().unwrap_or("");
            let Some(repo) = db.repos.iter().find(|r| r["node_id"] == repo_id).cloned() else {
                return gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{repo_id}'"),
                );
            };
            let slug = repo["full_name"].as_str().unwrap_or("").to_owned();
            let n = db.next_number(&slug);
            let id = db.id();
            let i = sh.issue_json(
                &slug,
                n,
                id,
                input["title"].as_str().unwrap_or(""),
                input["body"].as_str().unwrap_or(""),
                USER,
            );
            db.issues.push(i.clone());
            data(json!({"createIssue": {"issue": issue(db, &i)}}))
        }
        "PullRequestUpdate" | "IssueUpdate" => {
            // updatePullRequest / updateIssue: the fields gh sends (absent = unchanged).
            let pr = op == "PullRequestUpdate";
            let id = input[if pr { "pullRequestId" } else { "id" }]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let list = if pr { &mut db.pulls } else { &mut db.issues };
            let Some(item) = list.iter_mut().find(|i| i["node_id"] == id.as_str()) else {
                return gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{id}'"),
                );
            };
            for (from, to) in [("title", "title"), ("body", "body")] {
                if let Some(v) = input.get(from).filter(|v| v.is_string()) {
                    item[to] = v.clone();
                }
            }
            if let Some(b) = input.get("baseRefName").filter(|v| v.is_string()) {
                item["base"]["ref"] = b.clone();
            }
            item["updated_at"] = json!(T1);
            let (field, typename) = if pr {
                ("updatePullRequest", "UpdatePullRequestPayload")
            } else {
                ("updateIssue", "UpdateIssuePayload")
            };
            data(json!({ field: {"__typename": typename}}))
        }
        "LabelAdd" | "LabelRemove" => {
            // addLabelsToLabelable / removeLabelsFromLabelable, labels by node id (`LA_name`).
            let id = input["labelableId"].as_str().unwrap_or("").to_owned();
            let names: Vec<String> = input["labelIds"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|l| l.as_str()?.strip_prefix("LA_").map(str::to_owned))
                .collect();
            let Some(item) = db
                .pulls
                .iter_mut()
                .chain(db.issues.iter_mut())
                .find(|i| i["node_id"] == id.as_str())
            else {
                return gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{id}'"),
                );
            };
            let mut have: Vec<Value> = item["labels"].as_array().cloned().unwrap_or_default();
            for n in &names {
                have.retain(|l| l["name"] != n.as_str());
                if op == "LabelAdd" {
                    have.push(super::label(n));
                }
            }
            item["labels"] = Value::Array(have);
            let (field, typename) = if op == "LabelAdd" {
                ("addLabelsToLabelable", "AddLabelsToLabelablePayload")
            } else {
                (
                    "removeLabelsFromLabelable",
                    "RemoveLabelsFromLabelablePayload",
                )
            };
            data(json!({ field: {"__typename": typename}}))
        }
        "IssueClose" | "IssueReopen" => {
            let id = input["issueId"].as_str().unwrap_or("");
            let close = op == "IssueClose";
            match db.issues.iter_mut().find(|i| i["node_id"] == id) {
                Some(i) => {
                    i["state"] = json!(if close { "closed" } else { "open" });
                    let field = if close { "closeIssue" } else { "reopenIssue" };
                    data(json!({ field: {"issue": {"id": id}}}))
                }
                None => gql_error(
                    "NOT_FOUND",
                    &format!("Could not resolve to a node with the global id of '{id}'"),
                ),
            }
        }
        _ if q.contains("viewer") && !q.contains("mutation") => data(
            json!({"viewer": {"login": USER, "id": format!("U_{}", user_id(USER)), "name": "Octo Bot"}}),
        ),
        _ => gql_error(
            "UNSUPPORTED",
            &format!("fake GitHub: operation '{op}' is not implemented"),
        ),
    }
}

/// Shape `data` like the query asks: only the selected fields, under their aliases, with inline
/// fragments and named fragments applied by `__typename` (gh's shurcooL decoder rejects fields it
/// did not ask for). Missing fields are `null`.
pub fn project(query: &str, operation: Option<&str>, data: &Value) -> Value {
    use apollo_compiler::ast::{Definition, Selection};
    let Ok(doc) = apollo_compiler::ast::Document::parse(query, "q.graphql") else {
        return data.clone();
    };
    let mut frags = std::collections::HashMap::new();
    let mut op = None;
    for d in &doc.definitions {
        match d {
            Definition::FragmentDefinition(f) => {
                frags.insert(f.name.to_string(), f.clone());
            }
            Definition::OperationDefinition(o) => {
                let name = o.name.as_ref().map(|n| n.to_string());
                if op.is_none() || (operation.is_some() && name.as_deref() == operation) {
                    op = Some(o.clone());
                }
            }
            _ => {}
        }
    }
    let Some(op) = op else { return data.clone() };
    fn sel(
        set: &[Selection],
        v: &Value,
        frags: &std::collections::HashMap<
            String,
            apollo_compiler::Node<apollo_compiler::ast::FragmentDefinition>,
        >,
        out: &mut serde_json::Map<String, Value>,
    ) {
        let typename = v.get("__typename").and_then(Value::as_str);
        for s in set {
            match s {
                Selection::Field(f) => {
                    let key = f.alias.as_ref().unwrap_or(&f.name).to_string();
                    let child = v.get(f.name.as_str()).cloned().unwrap_or(Value::Null);
                    let val = if f.selection_set.is_empty() {
                        child
                    } else {
                        shape(&f.selection_set, &child, frags)
                    };
                    out.insert(key, val);
                }
                Selection::InlineFragment(i) => {
                    let applies = match (&i.type_condition, typename) {
                        (Some(t), Some(tn)) => t.as_str() == tn,
                        _ => true,
                    };
                    if applies {
                        sel(&i.selection_set, v, frags, out);
                    }
                }
                Selection::FragmentSpread(fs) => {
                    if let Some(f) = frags.get(fs.fragment_name.as_str()) {
                        let applies = typename.is_none_or(|tn| f.type_condition.as_str() == tn);
                        if applies {
                            sel(&f.selection_set, v, frags, out);
                        }
                    }
                }
            }
        }
    }
    fn shape(
        set: &[Selection],
        v: &Value,
        frags: &std::collections::HashMap<
            String,
            apollo_compiler::Node<apollo_compiler::ast::FragmentDefinition>,
        >,
    ) -> Value {
        match v {
            Value::Null => Value::Null,
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| shape(set, i, frags)).collect())
            }
            Value::Object(_) => {
                let mut out = serde_json::Map::new();
                sel(set, v, frags, &mut out);
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
    shape(&op.selection_set, data, &frags)
}
