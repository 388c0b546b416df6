//! `gh run list|view` (GitHub Actions), including `--log-failed`: the AI needs CI failures.

use super::client::{enc, Api};
use super::errors::not_found;
use super::format::{self as fmt, s};
use super::{Ctx, Repo};
use crate::error::AgentError;
use crate::session::Request;
use gitgate_policy::denial::quote;
use gitgate_proto::Exit;
use serde_json::Value;

pub async fn run(
    ctx: &Ctx<'_>,
    req: &mut Request,
    repo: &Repo,
    sub: &str,
) -> Result<Exit, AgentError> {
    match sub {
        "list" => list(ctx, req, repo).await,
        "view" => view(ctx, req, repo).await,
        _ => Err(AgentError::Internal(format!("unrouted gh run {sub}"))),
    }
}

fn id_of(v: &Value) -> u64 {
    v.get("id").and_then(Value::as_u64).unwrap_or(0)
}

fn list_fields() -> Vec<&'static str> {
    fmt::RUN_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "jobs")
        .collect()
}

async fn list(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(&list_fields())?;
    let limit = ctx.limit(20)?;
    let mut base = format!("{}/actions/runs", repo.path());
    let mut name_filter = None;
    if let Some(w) = ctx.p.get("workflow") {
        let is_file = w.ends_with(".yml") || w.ends_with(".yaml") || w.parse::<u64>().is_ok();
        if is_file {
            base = format!("{}/actions/workflows/{}/runs", repo.path(), enc(w));
        } else {
            name_filter = Some(w.to_owned());
        }
    }
    let mut q = Vec::new();
    for (flag, param) in [
        ("branch", "branch"),
        ("status", "status"),
        ("event", "event"),
        ("user", "actor"),
        ("commit", "head_sha"),
    ] {
        if let Some(v) = ctx.p.get(flag) {
            q.push(format!("{param}={}", enc(v)));
        }
    }
    let path = if q.is_empty() {
        base
    } else {
        format!("{base}?{}", q.join("&"))
    };
    let api = ctx.api()?;
    let keep = move |r: &Value| {
        name_filter
            .iter()
            .all(|n| s(r, "/name").eq_ignore_ascii_case(n))
    };
    let runs = api
        .get_list(&path, limit, Some("workflow_runs"), &keep)
        .await?;
    if let Some(f) = fields {
        req.out
            .stdout(fmt::json_list(&runs, &f, |r| fmt::run_json(r, None)))
            .await;
        return Ok(Exit::code(0));
    }
    if runs.is_empty() {
        req.out.stderr("no runs found\n").await;
        return Ok(Exit::code(0));
    }
    let mut out = String::new();
    for r in &runs {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            s(r, "/status"),
            s(r, "/conclusion"),
            s(r, "/display_title"),
            s(r, "/name"),
            s(r, "/head_branch"),
            s(r, "/event"),
            id_of(r),
            fmt::elapsed(s(r, "/run_started_at"), s(r, "/updated_at")),
            s(r, "/created_at"),
        ));
    }
    req.out.stdout(out).await;
    Ok(Exit::code(0))
}

fn symbol(status: &str, conclusion: &str) -> &'static str {
    if status != "completed" {
        return "*";
    }
    match conclusion {
        "success" => "✓",
        "skipped" | "neutral" => "-",
        "cancelled" => "X",
        _ => "X",
    }
}

fn failed(j: &Value) -> bool {
    matches!(
        s(j, "/conclusion"),
        "failure" | "timed_out" | "startup_failure" | "cancelled"
    )
}

async fn job_log(api: &Api, repo: &Repo, job: &Value) -> Result<String, AgentError> {
    let id = id_of(job);
    api.get_following(&format!("{}/actions/jobs/{id}/logs", repo.path()))
        .await
        .map_err(not_found(format!(
            "log not found for job {id} (logs expire, or the job has not finished)"
        )))
}

/// Prefix every log line with `job\tstep\t` as gh does. Steps are attributed by the
/// `##[group]Run …`/step markers when they match a step name, else the failed step (`--log-failed`).
fn prefix_log(job: &Value, log: &str) -> String {
    let job_name = s(job, "/name");
    let steps: Vec<&Value> = job
        .get("steps")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let failed_step = steps
        .iter()
        .find(|st| s(st, "/conclusion") == "failure")
        .map(|st| s(st, "/name"))
        .unwrap_or("UNKNOWN STEP");
    let mut out = String::with_capacity(log.len() + log.len() / 4);
    for line in log.lines() {
        out.push_str(job_name);
        out.push('\t');
        out.push_str(failed_step);
        out.push('\t');
        out.push_str(line);
        out.push('\n');
    }
    out
}

async fn view(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::RUN_FIELDS)?;
    let api_ = ctx.api();
    let job_arg = ctx.p.get("job").map(str::to_owned);
    let run_id = match (ctx.p.positionals.as_slice(), &job_arg) {
        ([a], _) => Some(
            a.parse::<u64>()
                .map_err(|_| AgentError::Usage(format!("invalid run ID {}", quote(a))))?,
        ),
        ([], Some(_)) => None,
        ([], None) => {
            return Err(AgentError::failed(
                "run or job ID required when not running interactively",
                1,
            ))
        }
        (more, _) => {
            return Err(AgentError::Usage(format!(
                "accepts at most 1 arg(s), received {}",
                more.len()
            )))
        }
    };
    let api = api_?;
    let p = repo.path();
    let only_job = match &job_arg {
        Some(j) => {
            let jid = j
                .parse::<u64>()
                .map_err(|_| AgentError::Usage(format!("invalid job ID {}", quote(j))))?;
            Some(
                api.get(&format!("{p}/actions/jobs/{jid}"))
                    .await
                    .map_err(not_found(format!("job {jid} not found in {}", repo.slug())))?,
            )
        }
        None => None,
    };
    let run_id = run_id
        .or_else(|| {
            only_job
                .as_ref()
                .and_then(|j| j.get("run_id").and_then(Value::as_u64))
        })
        .unwrap_or(0);
    let run = api
        .get(&format!("{p}/actions/runs/{run_id}"))
        .await
        .map_err(not_found(format!(
            "run {run_id} not found in {}",
            repo.slug()
        )))?;
    let jobs = match &only_job {
        Some(j) => vec![j.clone()],
        None => {
            api.get_list(
                &format!("{p}/actions/runs/{run_id}/jobs"),
                1000,
                Some("jobs"),
                &|_| true,
            )
            .await?
        }
    };
    let conclusion = s(&run, "/conclusion");
    let exit_code = if ctx.p.has("exit-status")
        && s(&run, "/status") == "completed"
        && conclusion != "success"
        && conclusion != "skipped"
        && conclusion != "neutral"
    {
        1
    } else {
        0
    };
    if ctx.p.has("log") || ctx.p.has("log-failed") {
        let failed_only = ctx.p.has("log-failed");
        let mut out = String::new();
        for j in &jobs {
            if failed_only && !failed(j) {
                continue;
            }
            let log = job_log(&api, repo, j).await?;
            out.push_str(&prefix_log(j, &log));
        }
        if failed_only && out.is_empty() {
            req.out
                .stderr(format!("no failed jobs in run {run_id}\n"))
                .await;
        }
        req.out.stdout(out).await;
        return Ok(Exit::code(exit_code));
    }
    if let Some(f) = fields {
        req.out
            .stdout(fmt::json_line(&fmt::select(
                &fmt::run_json(&run, Some(&jobs)),
                &f,
            )))
            .await;
        return Ok(Exit::code(exit_code));
    }
    let mut out = format!(
        "{} {} {} · {run_id}\nTriggered via {} {}\n\nJOBS\n",
        symbol(s(&run, "/status"), conclusion),
        s(&run, "/head_branch"),
        s(&run, "/name"),
        s(&run, "/event"),
        s(&run, "/created_at"),
    );
    for j in &jobs {
        out.push_str(&format!(
            "{} {} in {} (ID {})\n",
            symbol(s(j, "/status"), s(j, "/conclusion")),
            s(j, "/name"),
            fmt::elapsed(s(j, "/started_at"), s(j, "/completed_at")),
            id_of(j)
        ));
        if failed(j) || ctx.p.has("verbose") {
            for st in j
                .get("steps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if ctx.p.has("verbose") || s(st, "/conclusion") == "failure" {
                    out.push_str(&format!(
                        "  {} {}\n",
                        symbol(s(st, "/status"), s(st, "/conclusion")),
                        s(st, "/name")
                    ));
                }
            }
        }
    }
    if jobs.iter().any(failed) {
        out.push_str(&format!(
            "\nTo see what failed, try: gh run view {run_id} --log-failed\n"
        ));
    }
    out.push_str(&format!(
        "View this run on GitHub: {}\n",
        s(&run, "/html_url")
    ));
    req.out.stdout(out).await;
    Ok(Exit::code(exit_code))
}
