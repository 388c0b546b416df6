//! libgit2 set-up and the credential callbacks the agent's cache fetches use (transport/cache.rs).

use crate::secret::Token;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// Make libgit2 ignore every gitconfig outside the repositories we open ourselves, and skip the
/// ownership check (it protects against config-driven program execution, which libgit2 never does
/// for our reads; the workspace is owned by the AI's uid by design).
///
/// Every libgit2 connection gets a connect timeout and an idle timeout (no byte either way for
/// that long fails the read or write), so a silent server never pins a thread forever.
///
/// At start this only records the settings (and creates `empty_dir`): libgit2 itself is set up on
/// first use ([`ensure_libgit2`]), because its global initialisation also initialises OpenSSL,
/// which parses the whole system CA bundle — most of the agent's start-up time, for a library
/// only the cache's refresh needs.
pub fn init_libgit2(
    empty_dir: &Path,
    connect_timeout: std::time::Duration,
    io_timeout: std::time::Duration,
) -> Result<(), String> {
    std::fs::create_dir_all(empty_dir).map_err(|e| format!("{}: {e}", empty_dir.display()))?;
    let _ = PARAMS.set(Params {
        empty_dir: empty_dir.to_path_buf(),
        connect_timeout,
        io_timeout,
    });
    Ok(())
}

struct Params {
    empty_dir: PathBuf,
    connect_timeout: std::time::Duration,
    io_timeout: std::time::Duration,
}

static PARAMS: OnceLock<Params> = OnceLock::new();
static READY: OnceLock<Result<(), String>> = OnceLock::new();

/// Set libgit2 up (once, the first caller does it while the others wait) with what
/// [`init_libgit2`] recorded. Every use of libgit2 goes through this first. Blocking.
pub fn ensure_libgit2() -> Result<(), String> {
    READY
        .get_or_init(|| {
            let p = PARAMS
                .get()
                .ok_or("libgit2 used before its settings were recorded")?;
            let millis = |d: std::time::Duration| -> libc::c_int {
                d.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int
            };
            // SAFETY: runs once, inside the OnceLock, before any other libgit2 use: every
            // libgit2 caller waits here first.
            unsafe {
                for level in [
                    git2::ConfigLevel::System,
                    git2::ConfigLevel::Global,
                    git2::ConfigLevel::XDG,
                    git2::ConfigLevel::ProgramData,
                ] {
                    git2::opts::set_search_path(level, &p.empty_dir)
                        .map_err(|e| e.message().to_owned())?;
                }
                git2::opts::set_verify_owner_validation(false)
                    .map_err(|e| e.message().to_owned())?;
                git2::opts::set_server_connect_timeout_in_milliseconds(millis(p.connect_timeout))
                    .map_err(|e| e.message().to_owned())?;
                git2::opts::set_server_timeout_in_milliseconds(millis(p.io_timeout))
                    .map_err(|e| e.message().to_owned())?;
            }
            Ok(())
        })
        .clone()
        .map_err(|e| format!("libgit2 initialisation failed: {e}"))
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
