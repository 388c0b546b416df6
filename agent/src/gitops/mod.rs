//! Network git, in-process with libgit2, on agent-owned repositories, to URLs from the agent's own
//! config (DESIGN §4). The workspace is only read (see `workspace`).

pub mod fetch;
pub mod mirror;
pub mod push;
pub mod workspace;

use crate::config::Settings;
use crate::error::AgentError;
use crate::secret::Token;
use gitgate_policy::{url::parse_remote_url, Policy};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Make libgit2 ignore every gitconfig outside the repositories we open ourselves, and skip the
/// ownership check (it protects against config-driven program execution, which libgit2 never does
/// for our reads; the workspace is owned by the AI's uid by design).
///
/// Every libgit2 connection gets a connect timeout and an idle timeout (no byte either way for
/// that long fails the read or write), so a silent server never pins a thread forever.
pub fn init_libgit2(
    empty_dir: &Path,
    connect_timeout: std::time::Duration,
    io_timeout: std::time::Duration,
) -> Result<(), String> {
    std::fs::create_dir_all(empty_dir).map_err(|e| format!("{}: {e}", empty_dir.display()))?;
    let millis = |d: std::time::Duration| -> libc::c_int {
        d.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int
    };
    // SAFETY: called once at start-up before any libgit2 use on other threads.
    unsafe {
        for level in [
            git2::ConfigLevel::System,
            git2::ConfigLevel::Global,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::ProgramData,
        ] {
            git2::opts::set_search_path(level, empty_dir).map_err(|e| e.message().to_owned())?;
        }
        git2::opts::set_verify_owner_validation(false).map_err(|e| e.message().to_owned())?;
        git2::opts::set_server_connect_timeout_in_milliseconds(millis(connect_timeout))
            .map_err(|e| e.message().to_owned())?;
        git2::opts::set_server_timeout_in_milliseconds(millis(io_timeout))
            .map_err(|e| e.message().to_owned())?;
    }
    Ok(())
}

/// An allowed repository resolved from what the client named.
#[derive(Debug, Clone)]
pub struct Target {
    /// `owner/name`, as configured on the host.
    pub slug: String,
    /// The URL the agent contacts, built from its own config (never the workspace's).
    pub url: String,
    pub mirror: PathBuf,
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(h, "127.0.0.1" | "localhost" | "[::1]")
}

/// Map a URL as the client wrote it to an allowed repository and the agent's pinned URL.
pub fn target_for_url(
    settings: &Settings,
    policy: &Policy,
    url: &str,
) -> Result<Target, AgentError> {
    let r = parse_remote_url(url).ok_or_else(|| {
        AgentError::denied(format!(
            "'{url}' is not a repository URL gitgate understands (https://HOST/OWNER/NAME.git)"
        ))
    })?;
    if !policy.host_allowed(&r.host) {
        return Err(AgentError::denied(format!(
            "'{url}' refused: host '{}' is not in ALLOWED_HOSTS",
            r.host
        )));
    }
    let slug = r.slug();
    if !policy.repo_allowed(&slug) {
        return Err(AgentError::denied(format!(
            "'{url}' refused: repository '{slug}' is not in ALLOWED_REPOS"
        )));
    }
    let scheme = if settings.allow_http_loopback && is_loopback(&r.host) {
        "http"
    } else {
        "https"
    };
    let mirror = settings
        .state_dir
        .join("mirrors")
        .join(r.owner.to_ascii_lowercase())
        .join(format!("{}.git", r.name.to_ascii_lowercase()));
    Ok(Target {
        url: format!("{scheme}://{}/{}/{}.git", r.host, r.owner, r.name),
        slug,
        mirror,
    })
}

/// libgit2 callbacks shared by fetch and push: credentials for exactly the pinned URL, plaintext
/// only, at most twice; cancellation; no certificate override.
pub fn callbacks<'a>(
    token: &'a Arc<Token>,
    pinned_url: &'a str,
    cancel: &'a CancellationToken,
) -> git2::RemoteCallbacks<'a> {
    let attempts = AtomicUsize::new(0);
    let mut cb = git2::RemoteCallbacks::new();
    cb.credentials(move |url, _user, allowed| {
        if url != pinned_url {
            return Err(git2::Error::from_str(
                "credentials refused: URL does not match the configured repository",
            ));
        }
        if !allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            return Err(git2::Error::from_str(
                "credentials refused: only HTTPS token auth is supported",
            ));
        }
        if attempts.fetch_add(1, Ordering::SeqCst) >= 2 {
            return Err(git2::Error::new(
                git2::ErrorCode::Auth,
                git2::ErrorClass::Http,
                "authentication failed",
            ));
        }
        match token.git_credential() {
            Some(c) => c,
            None => Err(git2::Error::new(
                git2::ErrorCode::Auth,
                git2::ErrorClass::Http,
                "no token loaded (set GITHUB_TOKEN for the agent)",
            )),
        }
    });
    cb.transfer_progress(move |_| !cancel.is_cancelled());
    cb
}

/// Turn a libgit2 error into a git-like failure.
pub fn git_error(e: &git2::Error, url: &str, cancel: &CancellationToken) -> AgentError {
    if cancel.is_cancelled() {
        return AgentError::Cancelled;
    }
    let msg = e.message();
    if e.code() == git2::ErrorCode::Auth || msg.contains("authentication") || msg.contains("401") {
        return AgentError::failed(format!("fatal: Authentication failed for '{url}'"), 128);
    }
    if msg.contains("404") || msg.contains("not found") {
        return AgentError::failed(format!("fatal: repository '{url}' not found"), 128);
    }
    if msg.contains("redirect") {
        return AgentError::failed(
            format!("fatal: unable to access '{url}': the server redirected and gitgate does not follow redirects"),
            128,
        );
    }
    AgentError::failed(format!("fatal: unable to access '{url}': {msg}"), 128)
}

/// git's answer when a remote name is not configured.
pub fn missing_remote(name: &str) -> AgentError {
    AgentError::failed(
        format!("fatal: '{name}' does not appear to be a git repository\nfatal: Could not read from remote repository."),
        128,
    )
}
