//! `gh pr …`: create, list, view, status, diff, checks, comment, edit, close, ready, merge.

use super::client::{enc, Api};
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
        "create" => create(ctx, req, repo).await,
        "list" => list(ctx, req, repo).await,
        "view" => view(ctx, req, repo).await,
        "status" => status(ctx, req, repo).await,
        "diff" => diff(ctx, req, repo).await,
        "checks" => checks(ctx, req, repo).await,
        "comment" => comment(ctx, req, repo).await,
        "edit" => edit(ctx, req, repo).await,
        "close" => close(ctx, req, repo).await,
        "ready" => ready(ctx, req, repo).await,
        "merge" => merge(ctx, req, repo).await,
        _ => Err(AgentError::Internal(format!("unrouted gh pr {sub}"))),
    }
}

/// At most one positional argument (`[<number> | <branch>]`).
fn one_arg(ctx: &Ctx<'_>) -> Result<Option<String>, AgentError> {
    match ctx.p.positionals.as_slice() {
        [] => Ok(None),
        [a] => Ok(Some(a.clone())),
        more => Err(AgentError::Usage(format!(
            "accepts at most 1 arg(s), received {}",
            more.len()
        ))),
    }
}

/// Find the pull request named by `arg` (number, `#number`, URL of this repo, branch), or the one
/// for the workspace's current branch.
async fn find(
    ctx: &Ctx<'_>,
    api: &Api,
    repo: &Repo,
    arg: Option<&str>,
) -> Result<Value, AgentError> {
    let num = match arg {
        Some(a) if a.starts_with("http://") || a.starts_with("https://") => {
            let tail: Vec<&str> = a.trim_end_matches('/').rsplitn(4, '/').collect();
            // [N, "pull", name, "…/owner"]
            match tail.as_slice() {
                [n, "pull", name, rest]
                    if name.eq_ignore_ascii_case(&repo.name)
                        && rest
                            .rsplit('/')
                            .next()
                            .is_some_and(|o| o.eq_ignore_ascii_case(&repo.owner)) =>
                {
                    number(n)
                }
                _ => None,
            }
            .ok_or_else(|| {
                AgentError::Usage(format!(
                    "{} is not a pull request URL of {} (use -R for another allowed repository)",
                    quote(a),
                    repo.slug()
                ))
            })?
        }
        Some(a) => match number(a) {
            Some(n) => n,
            None => return by_branch(api, repo, a).await,
        },
        None => {
            let branch = ctx.current_branch()?;
            return by_branch(api, repo, &branch).await;
        }
    };
    api.get(&format!("{}/pulls/{num}", repo.path()))
        .await
        .map_err(not_found(format!(
            "pull request #{num} not found in {}",
            repo.slug()
        )))
}

async fn by_branch(api: &Api, repo: &Repo, branch: &str) -> Result<Value, AgentError> {
    let list = api
        .get_list(
            &format!(
                "{}/pulls?state=all&head={}",
                repo.path(),
                enc(&format!("{}:{branch}", repo.owner))
            ),
            30,
            None,
            &|_| true,
        )
        .await?;
    let pick = list
        .iter()
        .find(|p| s(p, "/state") == "open")
        .or(list.first())
        .ok_or_else(|| {
            AgentError::failed(format!("no pull requests found for branch {:?}", branch), 1)
        })?;
    let n = pick.get("number").and_then(Value::as_u64).unwrap_or(0);
    Ok(api.get(&format!("{}/pulls/{n}", repo.path())).await?)
}

fn num_of(p: &Value) -> u64 {
    p.get("number").and_then(Value::as_u64).unwrap_or(0)
}

async fn create(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    if !ctx.p.positionals.is_empty() {
        return Err(AgentError::Usage(format!(
            "unknown argument {}; gh pr create takes no arguments",
            quote(&ctx.p.positionals[0])
        )));
    }
    // Head: a branch the push policy allows, in this repository.
    let head_arg = match ctx.p.get("head") {
        Some(h) => h.to_owned(),
        None => ctx.current_branch()?,
    };
    let branch = match head_arg.split_once(':') {
        Some((owner, b)) => {
            if !owner.eq_ignore_ascii_case(&repo.owner) {
                return Err(AgentError::denied(format!(
                    "pr create --head {} refused: only branches of {} can be proposed",
                    quote(&head_arg),
                    repo.slug()
                )));
            }
            b.to_owned()
        }
        None => head_arg.clone(),
    };
    ctx.state
        .policy()
        .check_branch(&branch)
        .map_err(|d| AgentError::Denied(format!("pr create --head {}: {d}", quote(&branch))))?;
    let body_arg = ctx.body(req).await?;
    let fill = ctx.p.has("fill") || ctx.p.has("fill-first");
    if ctx.p.get("title").is_none() && !fill {
        return Err(AgentError::failed(
            "must provide `--title` and `--body` (or `--fill`) when not running interactively",
            1,
        ));
    }
    let api = ctx.api()?;
    let base = match ctx.p.get("base") {
        Some(b) => b.to_owned(),
        None => {
            let r = api.get(&repo.path()).await?;
            let b = s(&r, "/default_branch");
            if b.is_empty() { "main" } else { b }.to_owned()
        }
    };
    let (mut title, mut body) = (ctx.p.get("title").map(str::to_owned), body_arg.clone());
    if fill && (title.is_none() || body.is_none()) {
        let (t, b) = fill_from_commits(ctx, &branch, &base, ctx.p.has("fill-first"))?;
        title = title.or(Some(t));
        body = body.or(Some(b));
    }
    let payload = json!({
        "title": title.unwrap_or_default(),
        "head": branch,
        "base": base,
        "body": body.unwrap_or_default(),
        "draft": ctx.p.has("draft"),
    });
    let pr = api
        .post(&format!("{}/pulls", repo.path()), &payload)
        .await?;
    let n = num_of(&pr);
    let labels = ctx.p.all("label");
    if !labels.is_empty() {
        api.post(
            &format!("{}/issues/{n}/labels", repo.path()),
            &json!({ "labels": labels }),
        )
        .await?;
    }
    let reviewers = ctx.p.all("reviewer");
    if !reviewers.is_empty() {
        api.post(
            &format!("{}/pulls/{n}/requested_reviewers", repo.path()),
            &json!({ "reviewers": reviewers }),
        )
        .await?;
    }
    let assignees = ctx.p.all("assignee");
    if !assignees.is_empty() {
        api.post(
            &format!("{}/issues/{n}/assignees", repo.path()),
            &json!({ "assignees": assignees }),
        )
        .await?;
    }
    req.out.stdout(format!("{}\n", s(&pr, "/html_url"))).await;
    Ok(Exit::code(0))
}

/// `--fill`: title and body from the commits on `head` not on `base` (workspace, read-only).
fn fill_from_commits(
    ctx: &Ctx<'_>,
    head: &str,
    base: &str,
    first: bool,
) -> Result<(String, String), AgentError> {
    let ws = crate::gitops::workspace::Workspace::open(ctx.root, ctx.cwd)?;
    let fail =
        |m: &str| AgentError::failed(format!("could not compute title or body defaults: {m}"), 1);
    let repo = git2::Repository::open_ext(
        &ws.common_dir,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(|e| fail(e.message()))?;
    let head_id = repo
        .refname_to_id(&format!("refs/heads/{head}"))
        .map_err(|_| fail(&format!("no local branch '{head}'")))?;
    let mut walk = repo.revwalk().map_err(|e| fail(e.message()))?;
    walk.push(head_id).map_err(|e| fail(e.message()))?;
    for r in [
        format!("refs/remotes/origin/{base}"),
        format!("refs/heads/{base}"),
    ] {
        if let Ok(id) = repo.refname_to_id(&r) {
            let _ = walk.hide(id);
            break;
        }
    }
    let mut commits = Vec::new();
    for id in walk.take(200) {
        let id = id.map_err(|e| fail(e.message()))?;
        let c = repo.find_commit(id).map_err(|e| fail(e.message()))?;
        commits.push(c.message().unwrap_or("").to_owned());
    }
    commits.reverse();
    let split = |m: &str| {
        let mut it = m.splitn(2, '\n');
        let t = it.next().unwrap_or("").trim().to_owned();
        let b = it.next().unwrap_or("").trim().to_owned();
        (t, b)
    };
    match commits.as_slice() {
        [] => Err(fail(&format!("no commits between {base} and {head}"))),
        [one] => Ok(split(one)),
        [oldest, ..] if first => Ok(split(oldest)),
        many => {
            let title = head.replace(['-', '_'], " ");
            let body = many
                .iter()
                .map(|m| format!("- {}", split(m).0))
                .collect::<Vec<_>>()
                .join("\n");
            Ok((title, body))
        }
    }
}

async fn list(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::PR_FIELDS)?;
    let limit = ctx.limit(30)?;
    let state = ctx.p.get("state").unwrap_or("open").to_ascii_lowercase();
    let api_state = match state.as_str() {
        "open" | "closed" | "all" => state.clone(),
        "merged" => "closed".into(),
        other => {
            return Err(AgentError::Usage(format!(
                "invalid argument {} for \"-s, --state\" flag: valid values are {{open|closed|merged|all}}",
                quote(other)
            )))
        }
    };
    let mut path = format!("{}/pulls?state={api_state}", repo.path());
    if let Some(h) = ctx.p.get("head") {
        let h = if h.contains(':') {
            h.to_owned()
        } else {
            format!("{}:{h}", repo.owner)
        };
        path.push_str(&format!("&head={}", enc(&h)));
    }
    if let Some(b) = ctx.p.get("base") {
        path.push_str(&format!("&base={}", enc(b)));
    }
    let author = ctx.p.get("author").map(str::to_owned);
    let labels = ctx.p.all("label");
    let draft = ctx.p.has("draft");
    let merged_only = state == "merged";
    let keep = move |p: &Value| {
        (!merged_only || fmt::pr_state(p) == "MERGED")
            && author
                .as_deref()
                .iter()
                .all(|a| s(p, "/user/login").eq_ignore_ascii_case(a))
            && (!draft || p.get("draft").and_then(Value::as_bool) == Some(true))
            && labels.iter().all(|l| {
                p.get("labels")
                    .and_then(Value::as_array)
                    .is_some_and(|ls| ls.iter().any(|x| s(x, "/name").eq_ignore_ascii_case(l)))
            })
    };
    let api = ctx.api()?;
    let prs = api.get_list(&path, limit, None, &keep).await?;
    if let Some(fields) = fields {
        req.out
            .stdout(fmt::json_list(&prs, &fields, |p| fmt::pr_json(p, None)))
            .await;
        return Ok(Exit::code(0));
    }
    if prs.is_empty() {
        req.out
            .stderr(format!(
                "no pull requests match your search in {}\n",
                repo.slug()
            ))
            .await;
        return Ok(Exit::code(0));
    }
    let mut out = String::new();
    for p in &prs {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            num_of(p),
            s(p, "/title"),
            s(p, "/head/ref"),
            fmt::pr_state_with_draft(p),
            s(p, "/created_at")
        ));
    }
    req.out.stdout(out).await;
    Ok(Exit::code(0))
}

async fn comments_of(api: &Api, repo: &Repo, n: u64) -> Result<Vec<Value>, AgentError> {
    Ok(api
        .get_list(
            &format!("{}/issues/{n}/comments", repo.path()),
            1000,
            None,
            &|_| true,
        )
        .await?)
}

async fn view(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::PR_FIELDS)?;
    let arg = one_arg(ctx)?;
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let n = num_of(&pr);
    let want_comments = ctx.p.has("comments")
        || fields
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == "comments"));
    let comments = if want_comments {
        Some(comments_of(&api, repo, n).await?)
    } else {
        None
    };
    let text = match fields {
        Some(f) => fmt::json_line(&fmt::select(&fmt::pr_json(&pr, comments.as_deref()), &f)),
        None => fmt::pr_view_text(&pr, comments.as_deref()),
    };
    req.out.stdout(text).await;
    Ok(Exit::code(0))
}

async fn status(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::PR_FIELDS)?;
    let api = ctx.api()?;
    let me = api.get("user").await?;
    let me = s(&me, "/login").to_owned();
    let branch = ctx.current_branch().ok();
    let current = match &branch {
        Some(b) => match by_branch(&api, repo, b).await {
            Ok(p) => Some(p),
            Err(AgentError::Failed { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let open = api
        .get_list(
            &format!("{}/pulls?state=open", repo.path()),
            100,
            None,
            &|_| true,
        )
        .await?;
    let mine: Vec<&Value> = open
        .iter()
        .filter(|p| s(p, "/user/login").eq_ignore_ascii_case(&me))
        .collect();
    let review: Vec<&Value> = open
        .iter()
        .filter(|p| {
            p.get("requested_reviewers")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|u| s(u, "/login").eq_ignore_ascii_case(&me)))
        })
        .collect();
    if let Some(f) = fields {
        let sel = |p: &Value| fmt::select(&fmt::pr_json(p, None), &f);
        let v = json!({
            "currentBranch": current.as_ref().map(sel).unwrap_or(Value::Null),
            "createdBy": mine.iter().map(|p| sel(p)).collect::<Vec<_>>(),
            "needsReview": review.iter().map(|p| sel(p)).collect::<Vec<_>>(),
        });
        req.out.stdout(fmt::json_line(&v)).await;
        return Ok(Exit::code(0));
    }
    let line = |p: &Value| {
        format!(
            "  #{}  {} [{}] - {}\n",
            num_of(p),
            s(p, "/title"),
            s(p, "/head/ref"),
            fmt::pr_state_with_draft(p)
        )
    };
    let mut out = format!(
        "\nRelevant pull requests in {}\n\nCurrent branch\n",
        repo.slug()
    );
    match (&current, &branch) {
        (Some(p), _) => out.push_str(&line(p)),
        (None, Some(b)) => out.push_str(&format!(
            "  There is no pull request associated with [{b}]\n"
        )),
        (None, None) => out.push_str("  There is no current branch\n"),
    }
    out.push_str("\nCreated by you\n");
    if mine.is_empty() {
        out.push_str("  You have no open pull requests\n");
    }
    for p in &mine {
        out.push_str(&line(p));
    }
    out.push_str("\nRequesting a code review from you\n");
    if review.is_empty() {
        out.push_str("  You have no pull requests to review\n");
    }
    for p in &review {
        out.push_str(&line(p));
    }
    out.push('\n');
    req.out.stdout(out).await;
    Ok(Exit::code(0))
}

async fn diff(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    if let Some(c) = ctx.p.get("color") {
        if !matches!(c, "always" | "never" | "auto") {
            return Err(AgentError::Usage(format!(
                "invalid argument {} for \"--color\" flag: valid values are {{always|never|auto}}",
                quote(c)
            )));
        }
    }
    let arg = one_arg(ctx)?;
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let n = num_of(&pr);
    let out = if ctx.p.has("name-only") {
        let files = api
            .get_list(
                &format!("{}/pulls/{n}/files", repo.path()),
                3000,
                None,
                &|_| true,
            )
            .await?;
        files
            .iter()
            .map(|f| format!("{}\n", s(f, "/filename")))
            .collect()
    } else {
        let accept = if ctx.p.has("patch") {
            "application/vnd.github.v3.patch"
        } else {
            "application/vnd.github.v3.diff"
        };
        api.get_text(&format!("{}/pulls/{n}", repo.path()), accept)
            .await?
    };
    req.out.stdout(out).await;
    Ok(Exit::code(0))
}

struct Check {
    name: String,
    state: String,
    bucket: &'static str,
    link: String,
    started: String,
    completed: String,
    description: String,
    workflow: String,
}

async fn checks(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::CHECK_FIELDS)?;
    let arg = one_arg(ctx)?;
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let sha = s(&pr, "/head/sha").to_owned();
    let runs = api
        .get_list(
            &format!("{}/commits/{sha}/check-runs", repo.path()),
            1000,
            Some("check_runs"),
            &|_| true,
        )
        .await?;
    let status = api
        .get(&format!("{}/commits/{sha}/status", repo.path()))
        .await?;
    let mut list = Vec::new();
    for r in &runs {
        let st = s(r, "/status");
        let concl = s(r, "/conclusion");
        let bucket = if st != "completed" {
            "pending"
        } else {
            match concl {
                "success" => "pass",
                "failure" | "timed_out" | "action_required" | "startup_failure" | "stale" => "fail",
                "cancelled" => "cancel",
                "skipped" | "neutral" => "skipping",
                _ => "pending",
            }
        };
        list.push(Check {
            name: s(r, "/name").to_owned(),
            state: if st == "completed" { concl } else { st }.to_ascii_uppercase(),
            bucket,
            link: s(r, "/html_url").to_owned(),
            started: s(r, "/started_at").to_owned(),
            completed: s(r, "/completed_at").to_owned(),
            description: s(r, "/output/title").to_owned(),
            workflow: String::new(),
        });
    }
    for st in status
        .get("statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let state = s(st, "/state");
        list.push(Check {
            name: s(st, "/context").to_owned(),
            state: state.to_ascii_uppercase(),
            bucket: match state {
                "success" => "pass",
                "failure" | "error" => "fail",
                _ => "pending",
            },
            link: s(st, "/target_url").to_owned(),
            started: s(st, "/created_at").to_owned(),
            completed: s(st, "/updated_at").to_owned(),
            description: s(st, "/description").to_owned(),
            workflow: String::new(),
        });
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let required_only = ctx.p.has("required");
    if required_only {
        // Branch protection is not readable with every token; gh errors the same way without it.
        return Err(AgentError::Usage(
            "gh pr checks --required is not supported by gitgate".into(),
        ));
    }
    if let Some(f) = fields {
        let arr: Vec<Value> = list
            .iter()
            .map(|c| {
                let m = json!({
                    "bucket": c.bucket, "completedAt": c.completed, "description": c.description,
                    "event": "", "link": c.link, "name": c.name, "startedAt": c.started,
                    "state": c.state, "workflow": c.workflow,
                });
                match m {
                    Value::Object(m) => fmt::select(&m, &f),
                    _ => Value::Null,
                }
            })
            .collect();
        req.out.stdout(fmt::json_line(&Value::Array(arr))).await;
        return Ok(Exit::code(0));
    }
    if list.is_empty() {
        return Err(AgentError::failed(
            format!("no checks reported on the '{}' branch", s(&pr, "/head/ref")),
            1,
        ));
    }
    let mut out = String::new();
    for c in &list {
        let elapsed = if c.completed.is_empty() {
            "0".to_owned()
        } else {
            fmt::elapsed(&c.started, &c.completed)
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            c.name, c.bucket, elapsed, c.link, c.description
        ));
    }
    req.out.stdout(out).await;
    let code = if list.iter().any(|c| c.bucket == "fail") {
        1
    } else if list.iter().any(|c| c.bucket == "pending") {
        8
    } else {
        0
    };
    Ok(Exit::code(code))
}

async fn comment(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let arg = one_arg(ctx)?;
    let body = super::required_body(ctx, req).await?;
    let api = ctx.api()?;
    let n = match arg.as_deref().and_then(number) {
        Some(n) => n,
        None => num_of(&find(ctx, &api, repo, arg.as_deref()).await?),
    };
    super::post_comment(&api, req, repo, n, body, "pull request").await
}

async fn edit(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let arg = one_arg(ctx)?;
    let body = ctx.body(req).await?;
    let mut patch = serde_json::Map::new();
    if let Some(t) = ctx.p.get("title") {
        patch.insert("title".into(), json!(t));
    }
    if let Some(b) = body {
        patch.insert("body".into(), json!(b));
    }
    if let Some(b) = ctx.p.get("base") {
        patch.insert("base".into(), json!(b));
    }
    let (add_l, rm_l) = (ctx.p.all("add-label"), ctx.p.all("remove-label"));
    let (add_r, rm_r) = (ctx.p.all("add-reviewer"), ctx.p.all("remove-reviewer"));
    let (add_a, rm_a) = (ctx.p.all("add-assignee"), ctx.p.all("remove-assignee"));
    if patch.is_empty()
        && [&add_l, &rm_l, &add_r, &rm_r, &add_a, &rm_a]
            .iter()
            .all(|v| v.is_empty())
    {
        return Err(AgentError::Usage(
            "nothing to edit: use --title, --body, --body-file, --base, --add-label, --remove-label, --add-reviewer, --remove-reviewer, --add-assignee or --remove-assignee".into(),
        ));
    }
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let n = num_of(&pr);
    let p = repo.path();
    if !patch.is_empty() {
        api.patch(&format!("{p}/pulls/{n}"), &Value::Object(patch))
            .await?;
    }
    if !add_l.is_empty() {
        api.post(
            &format!("{p}/issues/{n}/labels"),
            &json!({ "labels": add_l }),
        )
        .await?;
    }
    for l in &rm_l {
        api.delete(&format!("{p}/issues/{n}/labels/{}", enc(l)), None)
            .await?;
    }
    if !add_r.is_empty() {
        api.post(
            &format!("{p}/pulls/{n}/requested_reviewers"),
            &json!({ "reviewers": add_r }),
        )
        .await?;
    }
    if !rm_r.is_empty() {
        api.delete(
            &format!("{p}/pulls/{n}/requested_reviewers"),
            Some(&json!({ "reviewers": rm_r })),
        )
        .await?;
    }
    if !add_a.is_empty() {
        api.post(
            &format!("{p}/issues/{n}/assignees"),
            &json!({ "assignees": add_a }),
        )
        .await?;
    }
    if !rm_a.is_empty() {
        api.delete(
            &format!("{p}/issues/{n}/assignees"),
            Some(&json!({ "assignees": rm_a })),
        )
        .await?;
    }
    req.out.stdout(format!("{}\n", s(&pr, "/html_url"))).await;
    Ok(Exit::code(0))
}

async fn close(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    if ctx.p.has("delete-branch") {
        return Err(AgentError::denied(
            "gh pr close --delete-branch is denied: deleting remote branches goes through `git push --delete` and the push policy",
        ));
    }
    let arg = one_arg(ctx)?;
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let n = num_of(&pr);
    let title = s(&pr, "/title").to_owned();
    if fmt::pr_state(&pr) != "OPEN" {
        req.out
            .stderr(format!(
                "! Pull request {}#{n} ({title}) can't be closed because it was already {}\n",
                repo.slug(),
                fmt::pr_state(&pr).to_ascii_lowercase()
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
    api.patch(
        &format!("{}/pulls/{n}", repo.path()),
        &json!({ "state": "closed" }),
    )
    .await?;
    req.out
        .stderr(format!(
            "✓ Closed pull request {}#{n} ({title})\n",
            repo.slug()
        ))
        .await;
    Ok(Exit::code(0))
}

/// GraphQL endpoint for the configured REST base (`…/api/v3` → `…/api/graphql` on Enterprise).
fn graphql_url(api: &Api) -> String {
    match api.base.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{}/graphql", api.base),
    }
}

async fn ready(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let arg = one_arg(ctx)?;
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let n = num_of(&pr);
    let undo = ctx.p.has("undo");
    let draft = pr.get("draft").and_then(Value::as_bool) == Some(true);
    if fmt::pr_state(&pr) != "OPEN" {
        return Err(AgentError::failed(
            format!(
                "Pull request {}#{n} is closed. Only draft pull requests can be marked as \"ready for review\"",
                repo.slug()
            ),
            1,
        ));
    }
    // Already in the requested state: ready (not draft) for `ready`, draft for `--undo`.
    if draft == undo {
        let msg = if undo {
            format!("! Pull request {}#{n} is already a draft\n", repo.slug())
        } else {
            format!(
                "! Pull request {}#{n} is already \"ready for review\"\n",
                repo.slug()
            )
        };
        req.out.stderr(msg).await;
        return Ok(Exit::code(0));
    }
    // REST cannot change the draft flag: a fixed mutation (never client-supplied GraphQL).
    let mutation = if undo {
        "mutation($id: ID!) { convertPullRequestToDraft(input: {pullRequestId: $id}) { pullRequest { isDraft } } }"
    } else {
        "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }"
    };
    let res = api
        .post(
            &graphql_url(&api),
            &json!({ "query": mutation, "variables": { "id": s(&pr, "/node_id") } }),
        )
        .await?;
    if let Some(e) = res
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Err(AgentError::failed(
            format!("GraphQL: {}", s(e, "/message")),
            1,
        ));
    }
    let msg = if undo {
        format!(
            "✓ Pull request {}#{n} is converted to \"draft\"\n",
            repo.slug()
        )
    } else {
        format!(
            "✓ Pull request {}#{n} is marked as \"ready for review\"\n",
            repo.slug()
        )
    };
    req.out.stderr(msg).await;
    Ok(Exit::code(0))
}

async fn merge(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    if ctx.p.has("delete-branch") {
        return Err(AgentError::denied(
            "gh pr merge --delete-branch is denied: deleting remote branches goes through `git push --delete` and the push policy",
        ));
    }
    if ctx.p.has("auto") {
        return Err(AgentError::Usage(
            "gh pr merge --auto is not supported by gitgate".into(),
        ));
    }
    let methods: Vec<&str> = [
        ("merge", "merge"),
        ("squash", "squash"),
        ("rebase", "rebase"),
    ]
    .iter()
    .filter(|(f, _)| ctx.p.has(f))
    .map(|(_, m)| *m)
    .collect();
    let method = match methods.as_slice() {
        [m] => *m,
        [] => {
            return Err(AgentError::failed(
                "--merge, --rebase, or --squash required when not running interactively",
                1,
            ))
        }
        _ => {
            return Err(AgentError::Usage(
                "only one of --merge, --rebase, or --squash can be enabled".into(),
            ))
        }
    };
    let arg = one_arg(ctx)?;
    let api = ctx.api()?;
    let pr = find(ctx, &api, repo, arg.as_deref()).await?;
    let n = num_of(&pr);
    let mut body = json!({ "merge_method": method, "sha": s(&pr, "/head/sha") });
    if let Some(t) = ctx.p.get("subject") {
        body["commit_title"] = json!(t);
    }
    if let Some(b) = ctx.p.get("body") {
        body["commit_message"] = json!(b);
    }
    api.put(&format!("{}/pulls/{n}/merge", repo.path()), &body)
        .await?;
    let verb = match method {
        "squash" => "Squashed and merged",
        "rebase" => "Rebased and merged",
        _ => "Merged",
    };
    req.out
        .stderr(format!(
            "✓ {verb} pull request {}#{n} ({})\n",
            repo.slug(),
            s(&pr, "/title")
        ))
        .await;
    Ok(Exit::code(0))
}
