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
    json!({
        "__typename": "PullRequest",
        "id": p["node_id"], "number": n, "title": p["title"], "body": p["body"],
        "url": p["html_url"], "state": state_of(p), "closed": p["state"] == "closed",
        "isDraft": p["draft"], "author": actor(p["user"]["login"].as_str().unwrap_or("")),
        "headRefName": p["head"]["ref"], "headRefOid": sha, "baseRefName": p["base"]["ref"],
        "headRepositoryOwner": {"id": format!("U_{}", user_id(owner)), "login": owner, "name": ""},
        "headRepository": {"id": p["base"]["repo"]["node_id"], "name": name},
        "isCrossRepository": false, "maintainerCanModify": false,
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
        "commits": {"totalCount": 1, "nodes": [{"commit": {"oid": sha, "statusCheckRollup": {"state": "FAILURE"}}}]},
        "statusCheckRollup": {"nodes": [{"commit": {"statusCheckRollup": rollup}}]},
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

/// Answer one GraphQL request.
pub fn answer(sh: &Shared, db: &mut Db, body: &Value) -> Value {
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
                Some(i) => data(json!({"repository": {"hasIssuesEnabled": true, "issue": i}})),
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
        _ => mutation_or_query(db, &op, q, input),
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

fn mutation_or_query(db: &mut Db, op: &str, q: &str, input: &Value) -> Value {
    let pr_id = input["pullRequestId"].as_str().unwrap_or("").to_owned();
    let done = |field: &str, ok: bool| {
        if ok {
            data(
                json!({ field: {"clientMutationId": null, "pullRequest": {"id": pr_id, "isDraft": false}}}),
            )
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
            done("addPullRequestReview", ok)
        }
        "PullRequestReadyForReview" => {
            let ok = set_pull(db, &pr_id, |p| p["draft"] = json!(false));
            done("markPullRequestReadyForReview", ok)
        }
        "ConvertPullRequestToDraft" => {
            let ok = set_pull(db, &pr_id, |p| p["draft"] = json!(true));
            done("convertPullRequestToDraft", ok)
        }
        "PullRequestClose" => {
            let ok = set_pull(db, &pr_id, |p| {
                p["state"] = json!("closed");
                p["closed_at"] = json!(T1);
            });
            done("closePullRequest", ok)
        }
        "PullRequestReopen" => {
            let ok = set_pull(db, &pr_id, |p| {
                p["state"] = json!("open");
                p["closed_at"] = Value::Null;
            });
            done("reopenPullRequest", ok)
        }
        "PullRequestMerge" => {
            let ok = set_pull(db, &pr_id, |p| {
                p["state"] = json!("closed");
                p["merged"] = json!(true);
                p["merged_at"] = json!(T1);
            });
            done("mergePullRequest", ok)
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
