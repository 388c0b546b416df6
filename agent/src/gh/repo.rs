//! `gh repo view` and `gh api` (GET only, only under `repos/OWNER/REPO` of an allowed repository).

use super::client::ApiError;
use super::errors::not_found;
use super::format::{self as fmt, s};
use super::{Ctx, Repo};
use crate::error::AgentError;
use crate::session::Request;
use base64::Engine as _;
use gitgate_policy::denial::quote;
use gitgate_policy::Policy;
use gitgate_proto::Exit;

pub async fn view(ctx: &Ctx<'_>, req: &mut Request, repo: &Repo) -> Result<Exit, AgentError> {
    let fields = ctx.json_fields(fmt::REPO_FIELDS)?;
    if ctx.p.positionals.len() > 1 {
        return Err(AgentError::Usage(format!(
            "accepts at most 1 arg(s), received {}",
            ctx.p.positionals.len()
        )));
    }
    let api = ctx.api()?;
    let r = api
        .get(&repo.path())
        .await
        .map_err(not_found(format!("repository {} not found", repo.slug())))?;
    if let Some(f) = fields {
        req.out
            .stdout(fmt::json_line(&fmt::select(&fmt::repo_json(&r), &f)))
            .await;
        return Ok(Exit::code(0));
    }
    let readme_path = match ctx.p.get("branch") {
        Some(b) => format!("{}/readme?ref={}", repo.path(), super::client::enc(b)),
        None => format!("{}/readme", repo.path()),
    };
    let readme = match api.get(&readme_path).await {
        Ok(v) => {
            let b64: String = s(&v, "/content")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
        Err(e) if e.status() == Some(404) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out = format!(
        "name:\t{}\ndescription:\t{}\n--\n",
        s(&r, "/full_name"),
        s(&r, "/description")
    );
    out.push_str(&readme);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    req.out.stdout(out).await;
    Ok(Exit::code(0))
}

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '-' | '_' | '.' | '~' | '/' | ',' | ':' | '@' | '+' | '=')
}

fn query_char(c: char) -> bool {
    path_char(c) || matches!(c, '&' | '%' | '*' | '[' | ']')
}

/// Check a `gh api` endpoint (placeholders already substituted): a relative path under
/// `repos/OWNER/REPO` of an allowed repository, plain characters only, no `.`/`..`/empty
/// segments, no percent-encoding in the path. Returns the path (and query) to request.
pub fn check_api_path(ep: &str, policy: &Policy) -> Result<String, AgentError> {
    let shown = quote(ep);
    let trimmed = ep.trim_start_matches('/');
    let deny_scope = || {
        AgentError::denied(format!(
            "gh api {shown} is denied: only GET requests under repos/OWNER/REPO of a repository in ALLOWED_REPOS are allowed"
        ))
    };
    if trimmed == "graphql" || trimmed.starts_with("graphql?") || trimmed.starts_with("graphql/") {
        return Err(AgentError::denied(
            "gh api graphql is denied: GraphQL requests can mutate anything the token can; use REST paths under repos/OWNER/REPO",
        ));
    }
    if ep.contains("://") {
        return Err(deny_scope());
    }
    let (path, query) = match trimmed.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (trimmed, None),
    };
    if !path.chars().all(path_char) || !query.unwrap_or("").chars().all(query_char) {
        return Err(AgentError::denied(format!(
            "gh api {shown} is denied: the path may only contain letters, digits and -_.~/,:@+= (no percent-encoding)"
        )));
    }
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(AgentError::denied(format!(
            "gh api {shown} is denied: empty, '.' or '..' path segments"
        )));
    }
    match segs.as_slice() {
        ["repos", owner, name, ..] => {
            let slug = format!("{owner}/{name}");
            if !policy.repo_allowed(&slug) {
                return Err(AgentError::denied(format!(
                    "gh api {shown} is denied: repository '{}' is not in ALLOWED_REPOS",
                    quote(&slug)
                )));
            }
        }
        _ => return Err(deny_scope()),
    }
    Ok(trimmed.to_owned())
}

pub async fn api(ctx: &Ctx<'_>, req: &mut Request) -> Result<Exit, AgentError> {
    let p = &ctx.p;
    if let Some(m) = p.get("method") {
        if !m.eq_ignore_ascii_case("GET") {
            return Err(AgentError::denied(format!(
                "gh api -X {} is denied: only GET requests are allowed",
                quote(m)
            )));
        }
    }
    if p.given("raw-field") || p.given("field") {
        return Err(AgentError::denied(
            "gh api -f/-F is denied: fields make gh send a POST and only GET is allowed; put query parameters in the path (e.g. repos/OWNER/REPO/pulls?state=all)",
        ));
    }
    if p.given("input") {
        return Err(AgentError::denied(
            "gh api --input is denied: a request body means a write and only GET is allowed",
        ));
    }
    if p.given("hostname") {
        return Err(AgentError::denied(
            "gh api --hostname is denied: the agent talks only to its configured GITHUB_API_URL",
        ));
    }
    for f in [
        "paginate", "include", "slurp", "cache", "preview", "verbose",
    ] {
        if p.given(f) {
            return Err(AgentError::Usage(format!(
                "gh api --{f} is not supported by gitgate"
            )));
        }
    }
    let mut accept = None;
    for h in p.flags.iter().filter(|(k, _)| *k == "header") {
        let v = h.1.as_deref().unwrap_or("");
        match v.split_once(':') {
            Some((k, val)) if k.trim().eq_ignore_ascii_case("accept") => {
                accept = Some(val.trim().to_owned())
            }
            _ => {
                return Err(AgentError::denied(format!(
                    "gh api -H {} is denied: only the Accept header may be set",
                    quote(v)
                )))
            }
        }
    }
    let ep = match p.positionals.as_slice() {
        [e] => e.clone(),
        [] => {
            return Err(AgentError::Usage(
                "gh api needs an endpoint (usage: gh api repos/OWNER/REPO/…)".into(),
            ))
        }
        more => {
            return Err(AgentError::Usage(format!(
                "accepts 1 arg(s), received {}",
                more.len()
            )))
        }
    };
    let mut ep = ep;
    if ["{owner}", "{repo}", ":owner", ":repo"]
        .iter()
        .any(|ph| ep.contains(ph))
    {
        let r = ctx.repo(None)?;
        ep = ep
            .replace("{owner}", &r.owner)
            .replace(":owner", &r.owner)
            .replace("{repo}", &r.name)
            .replace(":repo", &r.name);
    }
    if ep.contains("{branch}") {
        ep = ep.replace("{branch}", &ctx.current_branch()?);
    }
    let path = check_api_path(&ep, &ctx.state.policy())?;
    let api = ctx.api()?;
    match api.raw_get(&path, accept.as_deref()).await {
        Ok(raw) => {
            if !p.has("silent") {
                req.out.stdout(raw.body).await;
            }
            Ok(Exit::code(0))
        }
        Err(e) => {
            if let ApiError::Status { body, .. } = &e {
                if !p.has("silent") && !body.is_empty() {
                    let mut b = body.clone();
                    if !b.ends_with('\n') {
                        b.push('\n');
                    }
                    req.out.stdout(b).await;
                }
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitgate_policy::PolicyConfig;

    #[test]
    fn api_paths() {
        let policy = Policy::new(PolicyConfig {
            allowed_repos: vec!["acme/*".into()],
            ..PolicyConfig::default()
        })
        .unwrap();
        for ok in [
            "repos/acme/app",
            "/repos/acme/app/pulls?state=all&per_page=5",
            "repos/ACME/app/commits/main",
            "repos/acme/app/compare/main...claude/x",
            "repos/acme/app/contents/src/main.rs?ref=claude/x",
        ] {
            assert!(check_api_path(ok, &policy).is_ok(), "{ok}");
        }
        for bad in [
            "repos/other/x",
            "repos/acme/app/../../other/x",
            "repos/acme/app/%2e%2e/%2e%2e/other/x",
            "repos/acme",
            "repos//acme/app",
            "user",
            "graphql",
            "/graphql",
            "https://api.github.com/repos/acme/app",
            "repos/acme/app/pulls#x",
            "repos/acme/app/pulls\n",
            "orgs/acme/repos",
            "search/code?q=repo:acme/app",
        ] {
            let e = check_api_path(bad, &policy).unwrap_err();
            assert!(e.is_denial(), "{bad}: {e}");
        }
    }
}
