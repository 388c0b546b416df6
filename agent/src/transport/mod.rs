//! The git transport bridge (DESIGN §2): the shim's `git-remote-https` pipes git's protocol bytes
//! here; the agent checks them, adds the token and talks smart HTTP to the upstream it builds
//! itself from the allowlisted host and repository.
//!
//! - `upload.rs`: fetch, clone, ls-remote (protocol v2, one POST per command request).
//! - `receive.rs`: push (commands checked before anything goes upstream, pack parsed for
//!   ancestry, report-status answered locally on refusal).

mod cache;
mod http;
mod leading;
mod pack;
mod pkt;
mod receive;
mod stream;
mod upload;

use crate::error::AgentError;
use crate::session::{Request, Stdin};
use crate::state::AgentState;
use gitgate_policy::url::parse_remote_url;
use gitgate_proto::Exit;
use std::time::Duration;

/// The repository the agent talks to, built from the parsed and allowlisted host and repository.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `owner/name`.
    pub slug: String,
    /// `host[:port]`, lowercased.
    pub host: String,
    /// `https://host/owner/name.git` (http only to loopback when allowed, for tests).
    pub base: String,
    /// Not in `ALLOWED_REPOS`, fetched without credentials (`ALLOW_PUBLIC_FETCH`).
    pub anonymous: bool,
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(h, "127.0.0.1" | "localhost")
}

const USE_HTTPS: &str = "use https://HOST/OWNER/NAME.git";

/// Parse and check the URL git handed the helper for a fetch or a push. The URL itself is never
/// forwarded.
pub fn upstream_for(
    settings: &crate::config::Settings,
    policy: &gitgate_policy::Policy,
    url: &str,
    push: bool,
) -> Result<Upstream, AgentError> {
    let denied = |m: String| AgentError::denied(format!("gitgate: {m}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        if url.contains(':') {
            return Err(denied(format!(
                "ssh remotes (host:path) are not supported; {USE_HTTPS}"
            )));
        }
        return Err(denied(format!(
            "not a repository URL gitgate understands; {USE_HTTPS}"
        )));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => {}
        "ssh" | "git+ssh" | "ssh+git" => {
            return Err(denied(format!(
                "ssh remotes are not supported; {USE_HTTPS}"
            )))
        }
        _ => {
            return Err(denied(format!(
                "'{}' remotes are not supported; {USE_HTTPS}",
                gitgate_policy::denial::quote(&scheme)
            )))
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        // The userinfo may hold a password: never repeat it.
        return Err(denied(format!(
            "URLs with a user name or credentials are refused (gitgate adds the credentials itself); {USE_HTTPS}"
        )));
    }
    let r = parse_remote_url(url).ok_or_else(|| {
        denied(format!(
            "not a repository URL gitgate understands; {USE_HTTPS}"
        ))
    })?;
    gitgate_policy::url::check_plain_http(url, settings.allow_http_loopback).map_err(denied)?;
    if !policy.host_allowed(&r.host) {
        return Err(denied(format!(
            "host '{}' is not in ALLOWED_HOSTS (ALLOWED_HOSTS)",
            r.host
        )));
    }
    let slug = r.slug();
    let access = policy
        .git_access(&slug, push)
        .map_err(|d| denied(d.message))?;
    let http_ok = settings.allow_http_loopback && is_loopback(&r.host);
    let out_scheme = if http_ok { "http" } else { "https" };
    let base = match settings.github_git_url.as_deref().filter(|u| !u.is_empty()) {
        // GITHUB_GIT_URL (validated at load): the same path under the configured base.
        Some(git_url) => format!(
            "{}/{}/{}.git",
            git_url.trim_end_matches('/'),
            r.owner,
            r.name
        ),
        None => format!("{out_scheme}://{}/{}/{}.git", r.host, r.owner, r.name),
    };
    Ok(Upstream {
        base,
        host: r.host,
        slug,
        anonymous: access == gitgate_policy::GitAccess::Anonymous,
    })
}

/// Bytes from git, as pkt-lines, with the I/O timeout applied to every wait.
pub struct Input<'a> {
    stdin: &'a mut Stdin,
    pub buf: Vec<u8>,
    eof: bool,
    timeout: Duration,
}

impl<'a> Input<'a> {
    pub fn new(stdin: &'a mut Stdin, timeout: Duration) -> Input<'a> {
        Input {
            stdin,
            buf: Vec::new(),
            eof: false,
            timeout,
        }
    }

    /// Read one more chunk; `false` at the end of git's input.
    pub async fn fill(&mut self) -> Result<bool, AgentError> {
        if self.eof {
            return Ok(false);
        }
        match tokio::time::timeout(self.timeout, self.stdin.next()).await {
            Ok(Some(chunk)) => {
                self.buf.extend_from_slice(&chunk);
                Ok(true)
            }
            Ok(None) => {
                self.eof = true;
                Ok(false)
            }
            Err(_) => Err(AgentError::failed(
                format!(
                    "gitgate: git sent nothing for {} s (GITGATE_IO_TIMEOUT_SECS)",
                    self.timeout.as_secs()
                ),
                128,
            )),
        }
    }

    /// Read pkt-lines up to and including the next flush; returns their raw bytes and the
    /// number of pkt-lines before the flush. `None` when git closed at a request boundary.
    pub async fn until_flush(
        &mut self,
        limit: usize,
    ) -> Result<Option<(Vec<u8>, usize)>, AgentError> {
        let mut pos = 0;
        let mut count = 0;
        loop {
            match pkt::parse(&self.buf[pos..]).map_err(protocol_error)? {
                Some((pkt::Pkt::Flush, n)) => {
                    pos += n;
                    let raw: Vec<u8> = self.buf.drain(..pos).collect();
                    return Ok(Some((raw, count)));
                }
                Some((_, n)) => {
                    pos += n;
                    count += 1;
                    if pos > limit {
                        return Err(protocol_error(format!(
                            "a request from git is larger than {limit} bytes"
                        )));
                    }
                }
                None => {
                    if !self.fill().await? {
                        if self.buf.is_empty() {
                            return Ok(None);
                        }
                        return Err(protocol_error("git closed the connection inside a request"));
                    }
                }
            }
        }
    }

    /// Hand what is buffered and the rest of the stream over (for the pack).
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, AgentError> {
        if !self.buf.is_empty() {
            return Ok(Some(std::mem::take(&mut self.buf)));
        }
        if self.fill().await? {
            Ok(Some(std::mem::take(&mut self.buf)))
        } else {
            Ok(None)
        }
    }
}

pub fn protocol_error(e: impl std::fmt::Display) -> AgentError {
    AgentError::failed(format!("gitgate: protocol error from git: {e}"), 128)
}

/// `tool: transport`.
pub async fn run(state: &AgentState, req: &mut Request) -> Result<Exit, AgentError> {
    let settings = state.settings();
    let policy = state.policy();
    let push = match req.hello.service.as_str() {
        "git-upload-pack" => false,
        "git-receive-pack" => true,
        other => {
            return Err(AgentError::Usage(format!(
                "gitgate: unknown git service '{}'",
                other.escape_default()
            )))
        }
    };
    let up = upstream_for(&settings, &policy, &req.hello.url, push)?;
    req.audit.set_repo(&up.slug);
    if up.anonymous {
        req.audit.set_anonymous();
    } else {
        if state.app.get().is_some() && !state.token.is_loaded() {
            // GitHub App mode: why no token was minted.
            return Err(http::no_token(state));
        }
        crate::error::require_token(&state.token)?;
    }
    let client = http::client(&settings).map_err(AgentError::Internal)?;
    if push {
        receive::run(state, req, &client, &up).await
    } else {
        upload::run(state, req, &client, &up).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_with(url: &str, public: bool, push: bool) -> Result<Upstream, String> {
        let s = crate::config::Settings {
            allowed_repos: vec!["acme/*".into()],
            allowed_hosts: vec!["github.com".into(), "127.0.0.1:8080".into()],
            allow_public_fetch: public,
            ..Default::default()
        };
        let p = s.policy().unwrap();
        upstream_for(&s, &p, url, push).map_err(|e| e.to_string())
    }

    fn check(url: &str) -> Result<Upstream, String> {
        check_with(url, false, false)
    }

    #[test]
    fn public_fetch_is_anonymous_and_never_a_push() {
        assert!(!check("https://github.com/acme/app.git").unwrap().anonymous);
        let u = check_with("https://github.com/rust-lang/rust.git", true, false).unwrap();
        assert!(u.anonymous);
        assert_eq!(u.base, "https://github.com/rust-lang/rust.git");
        let e = check_with("https://github.com/rust-lang/rust.git", true, true).unwrap_err();
        assert!(
            e.ends_with("repository 'rust-lang/rust' is not in ALLOWED_REPOS (ALLOWED_REPOS)"),
            "{e}"
        );
        let e = check("https://github.com/rust-lang/rust.git").unwrap_err();
        assert!(e.contains("ALLOW_PUBLIC_FETCH=true"), "{e}");
        // the host allowlist still applies
        let e = check_with("https://evil.example/a/b.git", true, false).unwrap_err();
        assert!(e.contains("ALLOWED_HOSTS"), "{e}");
    }

    #[test]
    fn github_git_url_replaces_the_base_after_the_checks() {
        let s = crate::config::Settings {
            allowed_repos: vec!["acme/*".into()],
            github_git_url: Some("http://127.0.0.1:9/".into()),
            allow_http_loopback: true,
            ..Default::default()
        };
        let p = s.policy().unwrap();
        let u = upstream_for(&s, &p, "https://github.com/acme/app.git", false).unwrap();
        assert_eq!(u.base, "http://127.0.0.1:9/acme/app.git");
        assert_eq!(u.host, "github.com");
        let e = upstream_for(&s, &p, "https://example.com/acme/app.git", false).unwrap_err();
        assert!(e.to_string().contains("(ALLOWED_HOSTS)"), "{e}");
        let e = upstream_for(&s, &p, "https://github.com/other/app.git", false).unwrap_err();
        assert!(e.to_string().contains("(ALLOWED_REPOS"), "{e}");
    }

    #[test]
    fn urls_are_parsed_checked_and_rebuilt() {
        let u = check("https://github.com/acme/app.git").unwrap();
        assert_eq!(u.base, "https://github.com/acme/app.git");
        assert_eq!(u.slug, "acme/app");
        assert_eq!(
            check("https://GitHub.com/acme/app").unwrap().base,
            "https://github.com/acme/app.git"
        );
        for (url, want) in [
            (
                "git@github.com:acme/app.git",
                "ssh remotes (host:path) are not supported; use https://",
            ),
            (
                "ssh://git@github.com/acme/app.git",
                "ssh remotes are not supported; use https://",
            ),
            (
                "https://x-access-token:ghp_secret@github.com/acme/app.git",
                "URLs with a user name or credentials are refused",
            ),
            (
                "https://me@github.com/acme/app.git",
                "URLs with a user name or credentials are refused",
            ),
            (
                "https://evil.example/acme/app.git",
                "host 'evil.example' is not in ALLOWED_HOSTS (ALLOWED_HOSTS)",
            ),
            (
                "https://github.com/other/app.git",
                "repository 'other/app' is not in ALLOWED_REPOS (ALLOWED_REPOS; or ALLOW_PUBLIC_FETCH=true",
            ),
            (
                "https://github.com/acme/app/extra",
                "not a repository URL gitgate understands",
            ),
            (
                "http://github.com/acme/app.git",
                "uses plain http:// to 'github.com': use https://",
            ),
            (
                "http://127.0.0.1:8080/acme/app.git",
                "needs GITGATE_ALLOW_HTTP_LOOPBACK=true",
            ),
            ("file:///etc/passwd", "'file' remotes are not supported"),
            ("ext::sh -c evil", "ssh remotes (host:path)"),
        ] {
            let e = check(url).unwrap_err();
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("ghp_secret"), "{e}");
        }
    }
}
