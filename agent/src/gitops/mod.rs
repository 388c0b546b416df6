//! libgit2 set-up and the credential callbacks the agent's cache fetches use (transport/cache.rs).

use crate::secret::Token;
use std::path::Path;
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

/// libgit2 callbacks for the cache fetch: credentials for exactly the pinned URL, plaintext
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
