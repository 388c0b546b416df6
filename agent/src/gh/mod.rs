//! GitHub operations through octocrab, in-process (DESIGN §5). No gh binary runs anywhere.
//!
//! Order of a request, so that nothing reaches GitHub before every decision is made:
//! 1. [`args::classify`]: always-denied groups and unknown commands are refused (exit 126);
//!    `pr merge` only with `ALLOW_PR_MERGE=true`.
//! 2. [`args::parse_command`]: strict per-command flags; unknown flags are usage errors.
//! 3. The repository: `-R owner/name` or the workspace `origin` URL (read read-only), checked
//!    against `ALLOWED_REPOS` (and `ALLOWED_HOSTS` for the URL). `api` checks its path instead.
//! 4. Command-specific policy (`pr create --head` through the push policy; `api` GET only).
//! 5. Only then the client is built ([`client::Api`]) and GitHub is called.
//!
//! Bodies named by `--body-file F` come from `Hello.files` (read by the shim); `-` means the
//! client's stdin, which the shim streams for exactly those commands. The agent never opens a path
//! the client names.

mod actions;
pub use gitgate_policy::gh as args;
mod client;
mod errors;
mod format;
mod issue;
mod pr;
mod repo;

use crate::error::AgentError;
use crate::gitops::workspace::Workspace;
use crate::session::Request;
use crate::state::AgentState;
use args::{Class, Parsed};
use client::Api;
use gitgate_policy::denial::quote;
use gitgate_proto::Exit;
use std::path::Path;

pub async fn run(
    state: &AgentState,
    req: &mut Request,
    root: &Path,
    cwd: &Path,
) -> Result<Exit, AgentError> {
    let argv = req.hello.args.clone();
    let (group, sub) = match args::classify(&argv) {
        Class::Help => {
            req.out.stdout(HELP).await;
            return Ok(Exit::code(0));
        }
        Class::Denied(m) => return Err(AgentError::Denied(m)),
        Class::Merge => {
            if !state.policy().config().allow_pr_merge {
                return Err(AgentError::denied(
                    "gh pr merge is denied: merging pull requests needs ALLOW_PR_MERGE=true in the agent's settings",
                ));
            }
            ("pr", "merge")
        }
        Class::Supported(g, s) => (g, s),
    };
    let cmd = if sub.is_empty() {
        group.to_owned()
    } else {
        format!("{group} {sub}")
    };
    let p = args::parse_command(&argv, group, sub).map_err(|m| {
        AgentError::Usage(format!(
            "{m} (usage: gh {cmd} [flags]; see gh {cmd} --help)"
        ))
    })?;
    if p.has("help") {
        req.out.stdout(command_help(group, sub)).await;
        return Ok(Exit::code(0));
    }
    if p.given("web") {
        return Err(AgentError::Usage(format!(
            "gh {cmd} --web is not supported: the agent has no browser"
        )));
    }
    if p.given("jq") || p.given("template") {
        return Err(AgentError::Usage(format!(
            "gh {cmd}: --jq and --template are not supported by gitgate; use --json FIELDS and filter the output locally (e.g. | jq)"
        )));
    }
    let ctx = Ctx {
        state,
        audit: req.audit.clone(),
        root,
        cwd,
        p,
    };
    if group == "api" {
        return repo::api(&ctx, req).await;
    }
    let explicit = if (group, sub) == ("repo", "view") {
        ctx.p.positionals.first().cloned()
    } else {
        None
    };
    let target = ctx.repo(explicit.as_deref())?;
    match (group, sub) {
        ("pr", _) => pr::run(&ctx, req, &target, sub).await,
        ("issue", _) => issue::run(&ctx, req, &target, sub).await,
        ("run", _) => actions::run(&ctx, req, &target, sub).await,
        ("repo", "view") => repo::view(&ctx, req, &target).await,
        _ => Err(AgentError::Internal(format!("unrouted gh {cmd}"))),
    }
}

/// What a handler needs besides the request.
pub struct Ctx<'a> {
    pub state: &'a AgentState,
    /// Records the repository resolved, for the audit log.
    pub audit: std::sync::Arc<crate::session::AuditNote>,
    pub root: &'a Path,
    pub cwd: &'a Path,
    pub p: Parsed,
}

/// An allowed repository.
#[derive(Debug, Clone)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
    /// `repos/owner/name` (API path prefix).
    pub fn path(&self) -> String {
        format!("repos/{}/{}", self.owner, self.name)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `owner/name` (or `HOST/owner/name`, or a repository URL) as written by the client.
pub fn parse_repo_arg(arg: &str) -> Option<(Option<String>, String, String)> {
    if arg.contains("://") || (arg.contains('@') && arg.contains(':')) {
        let r = gitgate_policy::parse_remote_url(arg)?;
        return Some((Some(r.host), r.owner, r.name));
    }
    let parts: Vec<&str> = arg.split('/').collect();
    let (host, owner, name) = match parts.as_slice() {
        [o, n] => (None, *o, *n),
        [h, o, n] => (Some(h.to_ascii_lowercase()), *o, *n),
        _ => return None,
    };
    let name = name.strip_suffix(".git").unwrap_or(name);
    (valid_name(owner) && valid_name(name)).then(|| (host, owner.to_owned(), name.to_owned()))
}

impl Ctx<'_> {
    /// The repository of this request: `explicit` (repo view's argument), else `-R`, else the
    /// workspace origin. Denied unless in `ALLOWED_REPOS`.
    pub fn repo(&self, explicit: Option<&str>) -> Result<Repo, AgentError> {
        let policy = self.state.policy();
        if let Some(arg) = explicit.or(self.p.get("repo")) {
            let (host, owner, name) = parse_repo_arg(arg).ok_or_else(|| {
                AgentError::Usage(format!(
                    "expected the \"[HOST/]OWNER/REPO\" format, got {}",
                    quote(arg)
                ))
            })?;
            if let Some(h) = host {
                if !policy.host_allowed(&h) {
                    return Err(AgentError::denied(format!(
                        "repository {} refused: host '{}' is not in ALLOWED_HOSTS",
                        quote(arg),
                        quote(&h)
                    )));
                }
            }
            let slug = format!("{owner}/{name}");
            if !policy.repo_allowed(&slug) {
                return Err(AgentError::denied(format!(
                    "repository '{}' refused: not in ALLOWED_REPOS",
                    quote(&slug)
                )));
            }
            self.audit.set_repo(&slug);
            return Ok(Repo { owner, name });
        }
        let ws = Workspace::open(self.root, self.cwd).map_err(|e| match e {
            AgentError::Failed { .. } => AgentError::failed(
                "could not determine the repository: not in a git repository (use -R OWNER/REPO)",
                1,
            ),
            other => other,
        })?;
        let url = ws.remote_url("origin").ok_or_else(|| {
            AgentError::failed(
                "could not determine the repository: no 'origin' remote (use -R OWNER/REPO)",
                1,
            )
        })?;
        let r = policy.check_repo_url(&url)?;
        self.audit.set_repo(&r.slug());
        Ok(Repo {
            owner: r.owner,
            name: r.name,
        })
    }

    /// The workspace's current branch (read-only).
    pub fn current_branch(&self) -> Result<String, AgentError> {
        use gitgate_policy::LocalRepo;
        let ws = Workspace::open(self.root, self.cwd)?;
        ws.current_branch().ok_or_else(|| {
            AgentError::failed(
                "could not determine the current branch (detached HEAD?); name the branch or number",
                1,
            )
        })
    }

    pub fn api(&self) -> Result<Api, AgentError> {
        Api::new(self.state)
    }

    /// `--json` fields, if asked for.
    pub fn json_fields(&self, available: &[&str]) -> Result<Option<Vec<String>>, AgentError> {
        match self.p.get("json") {
            None if self.p.given("json") => Err(AgentError::failed(
                format::json_fields("", available).unwrap_err(),
                1,
            )),
            None => Ok(None),
            Some(spec) => format::json_fields(spec, available)
                .map(Some)
                .map_err(|m| AgentError::failed(m, 1)),
        }
    }

    /// `--limit N` (default `def`).
    pub fn limit(&self, def: usize) -> Result<usize, AgentError> {
        match self.p.get("limit") {
            None => Ok(def),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n.min(1000)),
                _ => Err(AgentError::Usage(format!(
                    "invalid value for --limit: {} (a positive number)",
                    quote(v)
                ))),
            },
        }
    }

    /// The body from `--body` or `--body-file` (a file the shim sent, or `-` for stdin).
    pub async fn body(&self, req: &mut Request) -> Result<Option<String>, AgentError> {
        let file = self.p.get("body-file");
        if file.is_some() && self.p.get("body").is_some() {
            return Err(AgentError::Usage(
                "specify only one of `--body` or `--body-file`".into(),
            ));
        }
        let Some(f) = file else {
            return Ok(self.p.get("body").map(str::to_owned));
        };
        if f == "-" {
            let bytes = req
                .stdin
                .read_all(crate::server::STDIN_LIMIT)
                .await
                .map_err(|m| AgentError::failed(m, 1))?;
            return String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| AgentError::failed("standard input is not valid UTF-8 text", 1));
        }
        req.hello
            .files
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, c)| Some(c.clone()))
            .ok_or_else(|| {
                AgentError::failed(
                    format!(
                        "the file {} was not sent by the client (the agent never opens client paths; update the gh shim)",
                        quote(f)
                    ),
                    1,
                )
            })
    }
}

/// Parse a number argument (`12` or `#12`).
pub fn number(arg: &str) -> Option<u64> {
    arg.strip_prefix('#')
        .unwrap_or(arg)
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
}

const HELP: &str =
    "gh (gitgate): GitHub operations performed by the gitgate agent with its token, \
for the allowed repositories only.

USAGE
  gh <command> <subcommand> [flags]

COMMANDS
  pr create|list|view|status|diff|checks|comment|edit|close|ready   (merge with ALLOW_PR_MERGE=true)
  issue list|view|create|comment|close
  repo view
  run list|view            (run view --log-failed shows CI failures)
  api <path>               (GET only, under repos/OWNER/REPO of an allowed repository)

FLAGS
  -R, --repo OWNER/REPO    default: the workspace's origin remote
  --json FIELDS            machine-readable output (no --jq/--template: filter locally)

Always denied: auth, secret, variable, extension, alias, config, codespace, ssh-key, gpg-key,
gist, release, workflow, repo delete|rename|archive|edit, non-GET api, graphql.
";

fn command_help(group: &str, sub: &str) -> String {
    let mut out = format!("Usage: gh {group} {sub} [flags]\n\nFlags:\n");
    if let Some((flags, json)) = args::spec(group, sub) {
        for f in flags {
            let short = f.short.map(|c| format!("-{c}, ")).unwrap_or_default();
            let val = if f.value { " <value>" } else { "" };
            out.push_str(&format!("  {short}--{}{val}\n", f.long));
        }
        out.push_str("  -R, --repo <OWNER/REPO>\n");
        if json {
            out.push_str("      --json <fields>\n");
        }
    }
    out
}

/// The comment body a `comment` subcommand needs (gh refuses to prompt when not interactive).
pub async fn required_body(ctx: &Ctx<'_>, req: &mut Request) -> Result<String, AgentError> {
    ctx.body(req).await?.ok_or_else(|| {
        AgentError::failed(
            "`--body` or `--body-file` required when not running interactively",
            1,
        )
    })
}

/// Post a comment on issue or pull request `n` (both use the issues endpoint) and print its URL.
pub async fn post_comment(
    api: &client::Api,
    req: &mut Request,
    repo: &Repo,
    n: u64,
    body: String,
    what: &str,
) -> Result<Exit, AgentError> {
    let c = api
        .post(
            &format!("{}/issues/{n}/comments", repo.path()),
            &serde_json::json!({ "body": body }),
        )
        .await
        .map_err(errors::not_found(format!(
            "{what} #{n} not found in {}",
            repo.slug()
        )))?;
    req.out
        .stdout(format!("{}\n", format::s(&c, "/html_url")))
        .await;
    Ok(Exit::code(0))
}
