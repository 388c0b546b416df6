//! `gh issue …`: list, view, create, comment, close.

use super::client::enc;
use super::errors::not_found;
use super::format::{self as fmt, s};
use super::{number, Ctx, Repo};
use crate::error::AgentError;
use crate::session::Request;
use gitgate_policy::denial::quote;
use gitgate_proto::Exit;
use serde_json::{json, Value};

pub async fn run(
    ctx: &Ctx<'_>,
    req: &mut Request,
    repo: &Repo,
    sub: &str,
) -> Result<Exit, AgentError> {
    match sub {
        "list" => list(ctx, req, repo).await,
        "view" => view(ctx, req, repo).await,
        "create" => create(ctx, req, repo).await,
        "comment" => comment(ctx, req, repo).await,
        "close" => close(ctx, req, repo).await,
        _ => Err(AgentError::Internal(format!("unrouted gh issue {sub}"))),
    }
}

/// The single `<number>` argument.
fn the_number(ctx: &Ctx<'_>) -> Result<u64, AgentError> {
    match ctx.p.positionals.as_slice() {
        [a] => {
            let a = a
                .rsplit_once("/issues/")
                .map(|(_, n)| n)
                .unwrap_or(a.as_str());
            number(a)
                .ok_or_else(|| AgentError::Usage(format!("invalid issue format: {}", quote(a))))
        }
        [] => Err(AgentError::Usage(
            "an issue number is required (usage: gh issue <command> <number>)".into(),
        )),
        more => Err(AgentError::Usage(format!(
            "accepts 1 arg(s), received {}",
            more.len()
        ))),
    }
}

fn num_of(i: &Value) -> u64 {
    i.get("number").and_then(Value::as_u64).unwrap_or(0)
}

async fn list(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::ISSUE_FIELDS)?;
    if !ctx.p.positionals.is_empty() {
        return Err(AgentError::Usage(format!(
            "unknown argument {}",
            quote(&ctx.p.positionals[0])
        )));
    }
    let limit = ctx.limit(30)?;
    let state = ctx.p.get("state").unwrap_or("open").to_ascii_lowercase();
    if !matches!(state.as_str(), "open" | "closed" | "all") {
        return Err(AgentError::Usage(format!(
            "invalid argument {} for \"-s, --state\" flag: valid values are {{open|closed|all}}",
            quote(&state)
        )));
    }
    let mut path = format!("{}/issues?state={state}", repo.path());
    let labels = ctx.p.all("label");
    if !labels.is_empty() {
        path.push_str(&format!("&labels={}", enc(&labels.join(","))));
    }
    if let Some(a) = ctx.p.get("assignee") {
        path.push_str(&format!("&assignee={}", enc(a)));
    }
    if let Some(a) = ctx.p.get("author") {
        path.push_str(&format!("&creator={}", enc(a)));
    }
    let api = ctx.api()?;
    // The issues endpoint also returns pull requests; gh issue list does not show them.
    let issues = api
        .get_list(&path, limit, None, &|i: &Value| {
            i.get("pull_request").is_none()
        })
        .await?;
    if let Some(f) = fields {
        req.out
            .stdout(fmt::json_list(&issues, &f, |i| fmt::issue_json(i, None)))
            .await;
        return Ok(Exit::code(0));
    }
    if issues.is_empty() {
        req.out
            .stderr(format!("no issues match your search in {}\n", repo.slug()))
            .await;
        return Ok(Exit::code(0));
    }
    let mut out = String::new();
    for i in &issues {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            num_of(i),
            s(i, "/state").to_ascii_uppercase(),
            s(i, "/title"),
            fmt::label_names(i),
            s(i, "/updated_at")
        ));
    }
    req.out.stdout(out).await;
    Ok(Exit::code(0))
}

async fn view(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::ISSUE_FIELDS)?;
    let n = the_number(ctx)?;
    let api = ctx.api()?;
    let issue = api
        .get(&format!("{}/issues/{n}", repo.path()))
        .await
        .map_err(not_found(format!(
            "issue #{n} not found in {}",
            repo.slug()
        )))?;
    let want = ctx.p.has("comments")
        || fields
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == "comments"));
    let comments = if want {
        Some(
            api.get_list(
                &format!("{}/issues/{n}/comments", repo.path()),
                1000,
                None,
                &|_| true,
            )
            .await?,
        )
    } else {
        None
    };
    let text = match fields {
        Some(f) => fmt::json_line(&fmt::select(
            &fmt::issue_json(&issue, comments.as_deref()),
            &f,
        )),
        None => fmt::issue_view_text(&issue, comments.as_deref()),
    };
    req.out.stdout(text).await;
    Ok(Exit::code(0))
}

async fn create(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    if !ctx.p.positionals.is_empty() {
        return Err(AgentError::Usage(format!(
            "unknown argument {}; gh issue create takes no arguments",
            quote(&ctx.p.positionals[0])
        )));
    }
    let body = ctx.body(req).await?;
    let title = ctx.p.get("title").ok_or_else(|| {
        AgentError::failed(
            "must provide `--title` and `--body` when not running interactively",
            1,
        )
    })?;
    let mut payload = json!({ "title": title, "body": body.unwrap_or_default() });
    let labels = ctx.p.all("label");
    if !labels.is_empty() {
        payload["labels"] = json!(labels);
    }
    let assignees = ctx.p.all("assignee");
    if !assignees.is_empty() {
        payload["assignees"] = json!(assignees);
    }
    let api = ctx.api()?;
    let issue = api
        .post(&format!("{}/issues", repo.path()), &payload)
        .await?;
    req.out
        .stdout(format!("{}\n", s(&issue, "/html_url")))
        .await;
    Ok(Exit::code(0))
}

async fn comment(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let n = the_number(ctx)?;
    let body = super::required_body(ctx, req).await?;
    super::post_comment(&ctx.api()?, req, repo, n, body, "issue").await
}

async fn close(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let n = the_number(ctx)?;
    let reason = match ctx.p.get("reason").map(|r| r.to_ascii_lowercase()) {
        None => None,
        Some(r) if r == "completed" => Some("completed"),
        Some(r) if r == "not planned" || r == "not_planned" => Some("not_planned"),
        Some(r) => {
            return Err(AgentError::Usage(format!(
                "invalid argument {} for \"-r, --reason\" flag: valid values are {{completed|not planned}}",
                quote(&r)
            )))
        }
    };
    let api = ctx.api()?;
    let issue = api
        .get(&format!("{}/issues/{n}", repo.path()))
        .await
        .map_err(not_found(format!(
            "issue #{n} not found in {}",
            repo.slug()
        )))?;
    let title = s(&issue, "/title").to_owned();
    if s(&issue, "/state") == "closed" {
        req.out
            .stderr(format!(
                "! Issue {}#{n} ({title}) is already closed\n",
                repo.slug()
            ))
            .await;
        return Ok(Exit::code(0));
    }
    if let Some(c) = ctx.p.get("comment") {
        api.post(
            &format!("{}/issues/{n}/comments", repo.path()),
            &json!({ "body": c }),
        )
        .await?;
    }
    let mut body = json!({ "state": "closed" });
    if let Some(r) = reason {
        body["state_reason"] = json!(r);
    }
    api.patch(&format!("{}/issues/{n}", repo.path()), &body)
        .await?;
    req.out
        .stderr(format!("✓ Closed issue {}#{n} ({title})\n", repo.slug()))
        .await;
    Ok(Exit::code(0))
}
