//! gh-compatible output: the `--json` field names gh uses (mapped from GitHub's REST shapes) and
//! the plain-text forms gh prints when stdout is not a terminal (the AI's case): tab-separated
//! list rows and `key:\tvalue` views.

use serde_json::{json, Map, Value};

pub fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn login(v: &Value) -> Value {
    match v.get("login").and_then(Value::as_str) {
        Some(l) => json!({
            "login": l,
            "is_bot": v.get("type").and_then(Value::as_str) == Some("Bot"),
        }),
        None => Value::Null,
    }
}

fn logins(v: Option<&Value>) -> Value {
    Value::Array(
        v.and_then(Value::as_array)
            .map(|a| a.iter().map(login).collect())
            .unwrap_or_default(),
    )
}

fn labels(v: &Value) -> Value {
    Value::Array(
        v.get("labels")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|l| {
                        json!({
                            "id": l.get("node_id").cloned().unwrap_or(Value::Null),
                            "name": l.get("name").cloned().unwrap_or(Value::Null),
                            "color": l.get("color").cloned().unwrap_or(Value::Null),
                            "description": l.get("description").cloned().unwrap_or(Value::Null),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

pub fn label_names(v: &Value) -> String {
    v.get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn names_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("login").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn get(v: &Value, k: &str) -> Value {
    v.get(k).cloned().unwrap_or(Value::Null)
}

/// gh's PR state: OPEN, CLOSED or MERGED.
pub fn pr_state(p: &Value) -> &'static str {
    if p.get("merged_at").is_some_and(|m| !m.is_null())
        || p.get("merged").and_then(Value::as_bool) == Some(true)
    {
        "MERGED"
    } else if s(p, "/state") == "closed" {
        "CLOSED"
    } else {
        "OPEN"
    }
}

/// The state column of `gh pr list` (DRAFT for open drafts).
pub fn pr_state_with_draft(p: &Value) -> &'static str {
    match pr_state(p) {
        "OPEN" if p.get("draft").and_then(Value::as_bool) == Some(true) => "DRAFT",
        st => st,
    }
}

pub fn comments(list: &[Value]) -> Value {
    Value::Array(
        list.iter()
            .map(|c| {
                json!({
                    "id": get(c, "node_id"),
                    "author": login(c.get("user").unwrap_or(&Value::Null)),
                    "authorAssociation": get(c, "author_association"),
                    "body": get(c, "body"),
                    "createdAt": get(c, "created_at"),
                    "url": get(c, "html_url"),
                })
            })
            .collect(),
    )
}

pub const PR_FIELDS: &[&str] = &[
    "additions",
    "assignees",
    "author",
    "baseRefName",
    "body",
    "changedFiles",
    "closed",
    "closedAt",
    "comments",
    "createdAt",
    "deletions",
    "headRefName",
    "headRefOid",
    "headRepositoryOwner",
    "id",
    "isCrossRepository",
    "isDraft",
    "labels",
    "locked",
    "maintainerCanModify",
    "mergeable",
    "mergedAt",
    "milestone",
    "number",
    "reviewRequests",
    "state",
    "title",
    "updatedAt",
    "url",
];

/// A REST pull request as gh's JSON fields (`comments` given separately when fetched).
pub fn pr_json(p: &Value, comment_list: Option<&[Value]>) -> Map<String, Value> {
    let mergeable = match p.get("mergeable") {
        Some(Value::Bool(true)) => "MERGEABLE",
        Some(Value::Bool(false)) => "CONFLICTING",
        _ => "UNKNOWN",
    };
    let head_repo = s(p, "/head/repo/full_name");
    let base_repo = s(p, "/base/repo/full_name");
    let m = json!({
        "additions": get(p, "additions"),
        "assignees": logins(p.get("assignees")),
        "author": login(p.get("user").unwrap_or(&Value::Null)),
        "baseRefName": s(p, "/base/ref"),
        "body": p.get("body").cloned().filter(|b| !b.is_null()).unwrap_or(json!("")),
        "changedFiles": get(p, "changed_files"),
        "closed": s(p, "/state") == "closed",
        "closedAt": get(p, "closed_at"),
        "comments": comments(comment_list.unwrap_or(&[])),
        "createdAt": get(p, "created_at"),
        "deletions": get(p, "deletions"),
        "headRefName": s(p, "/head/ref"),
        "headRefOid": s(p, "/head/sha"),
        "headRepositoryOwner": login(p.pointer("/head/repo/owner").unwrap_or(&Value::Null)),
        "id": get(p, "node_id"),
        "isCrossRepository": !head_repo.is_empty() && head_repo != base_repo,
        "isDraft": p.get("draft").and_then(Value::as_bool).unwrap_or(false),
        "labels": labels(p),
        "locked": p.get("locked").and_then(Value::as_bool).unwrap_or(false),
        "maintainerCanModify": p.get("maintainer_can_modify").and_then(Value::as_bool).unwrap_or(false),
        "mergeable": mergeable,
        "mergedAt": get(p, "merged_at"),
        "milestone": p.get("milestone").filter(|m| !m.is_null()).map(|m| json!({"title": get(m, "title"), "number": get(m, "number")})).unwrap_or(Value::Null),
        "number": get(p, "number"),
        "reviewRequests": logins(p.get("requested_reviewers")),
        "state": pr_state(p),
        "title": get(p, "title"),
        "updatedAt": get(p, "updated_at"),
        "url": get(p, "html_url"),
    });
    match m {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub const ISSUE_FIELDS: &[&str] = &[
    "assignees",
    "author",
    "body",
    "closed",
    "closedAt",
    "comments",
    "createdAt",
    "id",
    "labels",
    "locked",
    "milestone",
    "number",
    "state",
    "stateReason",
    "title",
    "updatedAt",
    "url",
];

pub fn issue_json(i: &Value, comment_list: Option<&[Value]>) -> Map<String, Value> {
    let m = json!({
        "assignees": logins(i.get("assignees")),
        "author": login(i.get("user").unwrap_or(&Value::Null)),
        "body": i.get("body").cloned().filter(|b| !b.is_null()).unwrap_or(json!("")),
        "closed": s(i, "/state") == "closed",
        "closedAt": get(i, "closed_at"),
        "comments": comments(comment_list.unwrap_or(&[])),
        "createdAt": get(i, "created_at"),
        "id": get(i, "node_id"),
        "labels": labels(i),
        "locked": i.get("locked").and_then(Value::as_bool).unwrap_or(false),
        "milestone": i.get("milestone").filter(|m| !m.is_null()).map(|m| json!({"title": get(m, "title"), "number": get(m, "number")})).unwrap_or(Value::Null),
        "number": get(i, "number"),
        "state": s(i, "/state").to_ascii_uppercase(),
        "stateReason": i.get("state_reason").and_then(Value::as_str).map(str::to_ascii_uppercase).map(Value::String).unwrap_or(json!("")),
        "title": get(i, "title"),
        "updatedAt": get(i, "updated_at"),
        "url": get(i, "html_url"),
    });
    match m {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub const REPO_FIELDS: &[&str] = &[
    "createdAt",
    "defaultBranchRef",
    "description",
    "forkCount",
    "hasIssuesEnabled",
    "homepageUrl",
    "id",
    "isArchived",
    "isFork",
    "isPrivate",
    "name",
    "nameWithOwner",
    "owner",
    "pushedAt",
    "sshUrl",
    "stargazerCount",
    "updatedAt",
    "url",
    "visibility",
];

pub fn repo_json(r: &Value) -> Map<String, Value> {
    let m = json!({
        "createdAt": get(r, "created_at"),
        "defaultBranchRef": {"name": s(r, "/default_branch")},
        "description": r.get("description").cloned().filter(|d| !d.is_null()).unwrap_or(json!("")),
        "forkCount": get(r, "forks_count"),
        "hasIssuesEnabled": get(r, "has_issues"),
        "homepageUrl": r.get("homepage").cloned().filter(|d| !d.is_null()).unwrap_or(json!("")),
        "id": get(r, "node_id"),
        "isArchived": get(r, "archived"),
        "isFork": get(r, "fork"),
        "isPrivate": get(r, "private"),
        "name": get(r, "name"),
        "nameWithOwner": get(r, "full_name"),
        "owner": {"login": s(r, "/owner/login")},
        "pushedAt": get(r, "pushed_at"),
        "sshUrl": get(r, "ssh_url"),
        "stargazerCount": get(r, "stargazers_count"),
        "updatedAt": get(r, "updated_at"),
        "url": get(r, "html_url"),
        "visibility": s(r, "/visibility").to_ascii_uppercase(),
    });
    match m {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub const RUN_FIELDS: &[&str] = &[
    "attempt",
    "conclusion",
    "createdAt",
    "databaseId",
    "displayTitle",
    "event",
    "headBranch",
    "headSha",
    "jobs",
    "name",
    "number",
    "startedAt",
    "status",
    "updatedAt",
    "url",
    "workflowDatabaseId",
    "workflowName",
];

pub fn run_json(r: &Value, jobs: Option<&[Value]>) -> Map<String, Value> {
    let jobs = jobs.map(|j| {
        Value::Array(
            j.iter()
                .map(|j| {
                    json!({
                        "databaseId": get(j, "id"),
                        "name": get(j, "name"),
                        "status": get(j, "status"),
                        "conclusion": j.get("conclusion").cloned().filter(|c| !c.is_null()).unwrap_or(json!("")),
                        "startedAt": get(j, "started_at"),
                        "completedAt": get(j, "completed_at"),
                        "url": get(j, "html_url"),
                        "steps": j.get("steps").and_then(Value::as_array).map(|s| s.iter().map(|st| json!({
                            "name": get(st, "name"),
                            "number": get(st, "number"),
                            "status": get(st, "status"),
                            "conclusion": st.get("conclusion").cloned().filter(|c| !c.is_null()).unwrap_or(json!("")),
                        })).collect::<Vec<_>>()).unwrap_or_default(),
                    })
                })
                .collect(),
        )
    });
    let m = json!({
        "attempt": get(r, "run_attempt"),
        "conclusion": r.get("conclusion").cloned().filter(|c| !c.is_null()).unwrap_or(json!("")),
        "createdAt": get(r, "created_at"),
        "databaseId": get(r, "id"),
        "displayTitle": get(r, "display_title"),
        "event": get(r, "event"),
        "headBranch": get(r, "head_branch"),
        "headSha": get(r, "head_sha"),
        "jobs": jobs.unwrap_or(json!([])),
        "name": get(r, "name"),
        "number": get(r, "run_number"),
        "startedAt": get(r, "run_started_at"),
        "status": get(r, "status"),
        "updatedAt": get(r, "updated_at"),
        "url": get(r, "html_url"),
        "workflowDatabaseId": get(r, "workflow_id"),
        "workflowName": get(r, "name"),
    });
    match m {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub const CHECK_FIELDS: &[&str] = &[
    "bucket",
    "completedAt",
    "description",
    "event",
    "link",
    "name",
    "startedAt",
    "state",
    "workflow",
];

/// Parse `--json a,b` against the available fields. Empty → gh's "Specify one or more…" list.
pub fn json_fields(spec: &str, available: &[&str]) -> Result<Vec<String>, String> {
    let list = || available.join(", ");
    let fields: Vec<String> = spec
        .split(',')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return Err(format!(
            "Specify one or more comma-separated fields for `--json`: {}",
            list()
        ));
    }
    for f in &fields {
        if !available.contains(&f.as_str()) {
            return Err(format!(
                "Unknown JSON field: {:?}; available fields: {}",
                f,
                list()
            ));
        }
    }
    Ok(fields)
}

/// Keep only `fields` (gh prints them with sorted keys, as serde_json's default map does).
pub fn select(m: &Map<String, Value>, fields: &[String]) -> Value {
    let mut fields = fields.to_vec();
    fields.sort();
    fields.dedup();
    Value::Object(
        fields
            .iter()
            .map(|f| (f.clone(), m.get(f).cloned().unwrap_or(Value::Null)))
            .collect(),
    )
}

/// `1h2m3s`, `4m0s`, `12s` (Go's time.Duration style, whole seconds).
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

pub fn parse_time(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp())
}

/// Elapsed between two RFC 3339 times, gh style; empty if either is missing.
pub fn elapsed(start: &str, end: &str) -> String {
    match (parse_time(start), parse_time(end)) {
        (Some(a), Some(b)) if b >= a => duration(b - a),
        _ => "0s".into(),
    }
}

/// `gh pr view` without a terminal.
pub fn pr_view_text(p: &Value, comment_list: Option<&[Value]>) -> String {
    let mut out = String::new();
    let reviewers = names_of(p.get("requested_reviewers"));
    out.push_str(&format!("title:\t{}\n", s(p, "/title")));
    out.push_str(&format!("state:\t{}\n", pr_state_with_draft(p)));
    out.push_str(&format!("author:\t{}\n", s(p, "/user/login")));
    out.push_str(&format!("labels:\t{}\n", label_names(p)));
    out.push_str(&format!("assignees:\t{}\n", names_of(p.get("assignees"))));
    out.push_str(&format!("reviewers:\t{reviewers}\n"));
    out.push_str("projects:\t\n");
    out.push_str(&format!("milestone:\t{}\n", s(p, "/milestone/title")));
    out.push_str(&format!("number:\t{}\n", get(p, "number")));
    out.push_str(&format!("url:\t{}\n", s(p, "/html_url")));
    out.push_str(&format!(
        "additions:\t{}\n",
        p.get("additions").and_then(Value::as_u64).unwrap_or(0)
    ));
    out.push_str(&format!(
        "deletions:\t{}\n",
        p.get("deletions").and_then(Value::as_u64).unwrap_or(0)
    ));
    out.push_str(&format!(
        "auto-merge:\t{}\n",
        if p.get("auto_merge").is_some_and(|a| !a.is_null()) {
            "enabled"
        } else {
            "disabled"
        }
    ));
    out.push_str(&format!("head:\t{}\n", s(p, "/head/ref")));
    out.push_str(&format!("base:\t{}\n", s(p, "/base/ref")));
    out.push_str("--\n");
    out.push_str(s(p, "/body"));
    out.push('\n');
    if let Some(list) = comment_list {
        out.push_str(&comments_text(list));
    }
    out
}

/// Comments as gh prints them without a terminal.
pub fn comments_text(list: &[Value]) -> String {
    let mut out = String::new();
    for c in list {
        out.push_str("--\n");
        out.push_str(&format!("author:\t{}\n", s(c, "/user/login")));
        out.push_str(&format!(
            "association:\t{}\n",
            s(c, "/author_association").to_ascii_lowercase()
        ));
        out.push_str("edited:\tfalse\n");
        out.push_str("--\n");
        out.push_str(s(c, "/body"));
        out.push('\n');
    }
    out
}

/// `gh issue view` without a terminal.
pub fn issue_view_text(i: &Value, comment_list: Option<&[Value]>) -> String {
    let mut out = String::new();
    out.push_str(&format!("title:\t{}\n", s(i, "/title")));
    out.push_str(&format!(
        "state:\t{}\n",
        s(i, "/state").to_ascii_uppercase()
    ));
    out.push_str(&format!("author:\t{}\n", s(i, "/user/login")));
    out.push_str(&format!("labels:\t{}\n", label_names(i)));
    out.push_str(&format!(
        "comments:\t{}\n",
        i.get("comments").and_then(Value::as_u64).unwrap_or(0)
    ));
    out.push_str(&format!("assignees:\t{}\n", names_of(i.get("assignees"))));
    out.push_str("projects:\t\n");
    out.push_str(&format!("milestone:\t{}\n", s(i, "/milestone/title")));
    out.push_str(&format!("number:\t{}\n", get(i, "number")));
    out.push_str("--\n");
    out.push_str(s(i, "/body"));
    out.push('\n');
    if let Some(list) = comment_list {
        out.push_str(&comments_text(list));
    }
    out
}

/// `--json` output of a list command: each item in gh's shape (`to_map`), only the asked fields.
pub fn json_list(
    items: &[Value],
    fields: &[String],
    to_map: impl Fn(&Value) -> Map<String, Value>,
) -> String {
    json_line(&Value::Array(
        items.iter().map(|i| select(&to_map(i), fields)).collect(),
    ))
}

/// Print JSON as gh does without a terminal: compact, one value, newline.
pub fn json_line(v: &Value) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(3), "3s");
        assert_eq!(duration(62), "1m2s");
        assert_eq!(duration(3723), "1h2m3s");
        assert_eq!(
            elapsed("2024-01-01T00:00:00Z", "2024-01-01T00:01:05Z"),
            "1m5s"
        );
    }

    #[test]
    fn fields() {
        assert!(json_fields("number,title", PR_FIELDS).is_ok());
        assert!(json_fields("", PR_FIELDS)
            .unwrap_err()
            .starts_with("Specify one or more"));
        assert!(json_fields("number,bogus", PR_FIELDS)
            .unwrap_err()
            .contains("Unknown JSON field: \"bogus\""));
        let p = json!({"number": 3, "state": "closed", "merged_at": "2024-01-01T00:00:00Z", "draft": false,
            "head": {"ref": "x"}, "user": {"login": "u", "type": "User"}});
        let m = pr_json(&p, None);
        assert_eq!(m["state"], "MERGED");
        assert_eq!(
            json_line(&select(
                &m,
                &["state".into(), "number".into(), "author".into()]
            )),
            "{\"author\":{\"is_bot\":false,\"login\":\"u\"},\"number\":3,\"state\":\"MERGED\"}\n"
        );
    }
}
