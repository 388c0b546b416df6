//! The one place the GitHub token lives. Everything security-relevant about the secret is here.
//!
//! The token is read once at start from `GITHUB_TOKEN` (or the file named by `GITHUB_TOKEN_FILE`,
//! or the same keys of the `--env-file`), copied into a page-aligned buffer that is `mlock`ed and
//! `MADV_DONTDUMP` (via `memsec`), and wrapped in `secrecy::SecretBox` so it is zeroized on drop.
//! The original environment bytes are overwritten in place (so `/proc/<pid>/environ` no longer shows
//! them) and the variable is removed. The process is made non-dumpable and core dumps are disabled.
//!
//! The only way to read the token is [`Token::with_exposed`], which lends it to a closure.
//!
//! Copies that remain, and why:
//! - libgit2 duplicates the password while a connection authenticates (`git_credential_userpass_plaintext_new`
//!   strdup's it, and zeroes that copy when the credential is freed; its HTTP layer also builds the Basic
//!   header in a heap buffer). We hand libgit2 a pointer into the locked buffer directly (see
//!   [`Token::git_credential`]), so no unzeroized Rust `CString` copy is made.
//! - octocrab keeps the token in its own `SecretString` (zeroized on drop, not mlocked) and in the
//!   `Authorization` header of each request while it is in flight.
//! - The kernel keeps the original value in the initial environment page only until we overwrite it.
//!
//! A future GitHub App installation token would refresh into the same buffer behind the same API.

use secrecy::{ExposeSecret, SecretBox};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use zeroize::Zeroize;

/// Largest token accepted (GitHub tokens are well under 300 bytes).
const CAPACITY: usize = 4096;
/// Username GitHub expects with a token over HTTPS Basic auth.
pub const BASIC_USER: &str = "x-access-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlockState {
    /// No token loaded, nothing to lock.
    NotNeeded,
    Locked,
    /// mlock failed (usually RLIMIT_MEMLOCK or missing CAP_IPC_LOCK): the token may be swapped out.
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("GITHUB_TOKEN_FILE: cannot read '{path}': {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: the token is empty")]
    Empty(&'static str),
    #[error("{0}: the token is longer than {CAPACITY} bytes")]
    TooLong(&'static str),
    #[error("{0}: the token contains whitespace, a NUL byte or non-ASCII characters")]
    Invalid(&'static str),
    #[error("REQUIRE_MLOCK=true but the token memory could not be locked (grant CAP_IPC_LOCK or raise RLIMIT_MEMLOCK)")]
    MlockRequired,
}

/// A fixed, page-aligned, locked buffer. Never reallocated, so no stray copies are left behind.
struct LockedBytes {
    ptr: *mut u8,
    len: usize,
    locked: bool,
}

// SAFETY: the buffer is owned exclusively and only read through `&self`.
unsafe impl Send for LockedBytes {}
unsafe impl Sync for LockedBytes {}

impl LockedBytes {
    fn layout() -> Layout {
        // CAPACITY is a power of two and a multiple of the page size on every Linux target we build for.
        Layout::from_size_align(CAPACITY, CAPACITY).expect("static layout")
    }

    fn new(value: &[u8]) -> LockedBytes {
        // SAFETY: non-zero size layout; checked for null below.
        let ptr = unsafe { alloc_zeroed(Self::layout()) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(Self::layout());
        }
        // SAFETY: ptr is valid for CAPACITY bytes; mlock also applies MADV_DONTDUMP.
        let locked = unsafe { memsec::mlock(ptr, CAPACITY) };
        // SAFETY: value.len() < CAPACITY (checked by the caller), leaving room for the NUL.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), ptr, value.len()) };
        LockedBytes {
            ptr,
            len: value.len(),
            locked,
        }
    }

    fn as_str(&self) -> &str {
        // SAFETY: ptr holds `len` initialised bytes, validated as ASCII at construction.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).unwrap_or("")
    }
}

impl Zeroize for LockedBytes {
    fn zeroize(&mut self) {
        // SAFETY: ptr is valid for CAPACITY bytes.
        unsafe { memsec::memzero(self.ptr, CAPACITY) };
        self.len = 0;
    }
}

impl Drop for LockedBytes {
    fn drop(&mut self) {
        self.zeroize();
        // SAFETY: ptr came from alloc_zeroed with this layout; munlock zeroes again before unlocking.
        unsafe {
            if self.locked {
                memsec::munlock(self.ptr, CAPACITY);
            }
            dealloc(self.ptr, Self::layout());
        }
    }
}

/// The GitHub token, or its absence. Cheap to share behind an `Arc`.
pub struct Token {
    secret: Option<SecretBox<LockedBytes>>,
}

impl Token {
    /// No token loaded: every operation that needs one fails with a clear error.
    pub fn none() -> Token {
        Token { secret: None }
    }

    /// Build from a value (consumed and zeroized). `source` names the setting for errors.
    pub fn from_value(mut value: String, source: &'static str) -> Result<Token, SecretError> {
        let trimmed_len = value.trim_end_matches(['\n', '\r']).len();
        value.truncate(trimmed_len);
        let check = if value.is_empty() {
            Err(SecretError::Empty(source))
        } else if value.len() >= CAPACITY {
            Err(SecretError::TooLong(source))
        } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
            Err(SecretError::Invalid(source))
        } else {
            Ok(())
        };
        let result = check.map(|()| Token {
            secret: Some(SecretBox::new(Box::new(LockedBytes::new(value.as_bytes())))),
        });
        value.zeroize();
        result
    }

    /// Load from the environment (`GITHUB_TOKEN`, else `GITHUB_TOKEN_FILE`), falling back to the
    /// values of an env file. Scrubs the environment afterwards. A missing token is not an error.
    pub fn load(env_file: &mut Vec<(String, String)>) -> Result<Token, SecretError> {
        let from_env = std::env::var("GITHUB_TOKEN").ok();
        let file_env = std::env::var("GITHUB_TOKEN_FILE").ok();
        scrub_env("GITHUB_TOKEN");
        let take = |key: &str, list: &mut Vec<(String, String)>| -> Option<String> {
            let i = list.iter().position(|(k, _)| k == key)?;
            let (mut k, v) = list.remove(i);
            k.zeroize();
            Some(v)
        };
        let file_value = take("GITHUB_TOKEN", env_file);
        let file_path = take("GITHUB_TOKEN_FILE", env_file);
        let (value, source) = match (from_env, file_env.or(file_path), file_value) {
            (Some(v), _, other) if !v.is_empty() => {
                if let Some(mut o) = other {
                    o.zeroize();
                }
                (v, "GITHUB_TOKEN")
            }
            (_, Some(path), other) if !path.is_empty() => {
                if let Some(mut o) = other {
                    o.zeroize();
                }
                let v = std::fs::read_to_string(&path)
                    .map_err(|source| SecretError::File { path, source })?;
                (v, "GITHUB_TOKEN_FILE")
            }
            (_, _, Some(v)) if !v.is_empty() => (v, "GITHUB_TOKEN"),
            _ => return Ok(Token::none()),
        };
        Token::from_value(value, source)
    }

    pub fn is_loaded(&self) -> bool {
        self.secret.is_some()
    }

    pub fn mlock_state(&self) -> MlockState {
        match &self.secret {
            None => MlockState::NotNeeded,
            Some(s) if s.expose_secret().locked => MlockState::Locked,
            Some(_) => MlockState::Failed,
        }
    }

    /// Lend the token to `f`. Returns `None` when no token is loaded.
    /// Keep the closure short and never store, log or format the value.
    pub fn with_exposed<R>(&self, f: impl FnOnce(&str) -> R) -> Option<R> {
        self.secret.as_ref().map(|s| f(s.expose_secret().as_str()))
    }

    /// A libgit2 plaintext credential built straight from the locked buffer (NUL-terminated in
    /// place), avoiding git2's intermediate `CString` copy of the password.
    pub fn git_credential(&self) -> Option<Result<git2::Cred, git2::Error>> {
        let secret = self.secret.as_ref()?;
        let bytes = secret.expose_secret();
        let user = c"x-access-token";
        let mut out: *mut libgit2_sys::git_cred = std::ptr::null_mut();
        // The raw call does not go through git2, which initialises libgit2 lazily: do it here.
        libgit2_sys::init();
        // SAFETY: `bytes.ptr` is NUL-terminated (the buffer is zero-filled beyond `len` and
        // len < CAPACITY); libgit2 copies both strings before returning.
        let rc = unsafe {
            libgit2_sys::git_cred_userpass_plaintext_new(&mut out, user.as_ptr(), bytes.ptr.cast())
        };
        if rc < 0 || out.is_null() {
            return Some(Err(git2::Error::from_str(
                "could not create the git credential",
            )));
        }
        // SAFETY: git2::Cred is a single-pointer wrapper around `*mut git_cred` that frees it on
        // drop (git2 0.20 `struct Cred { raw }`); its `from_raw` is not public, so we build it by
        // transmute. The size check below and the unit test guard this assumption.
        const _: () = assert!(std::mem::size_of::<git2::Cred>() == std::mem::size_of::<usize>());
        Some(Ok(unsafe {
            std::mem::transmute::<*mut libgit2_sys::git_cred, git2::Cred>(out)
        }))
    }
}

/// SIGHUP: would a restart load a different token from these env-file pairs (and the
/// environment's `GITHUB_TOKEN_FILE`) than the one loaded? Same precedence as [`Token::load`]
/// (the environment's `GITHUB_TOKEN` was scrubbed at start). A removed token counts as unchanged:
/// the loaded one stays until a restart either way. Every copy read here is zeroized.
pub fn token_entries_differ(token: &Token, pairs: &[(String, String)]) -> bool {
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let path = std::env::var("GITHUB_TOKEN_FILE")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| get("GITHUB_TOKEN_FILE").map(str::to_owned));
    let mut candidate = match (path, get("GITHUB_TOKEN")) {
        (Some(p), _) => match std::fs::read_to_string(p) {
            Ok(v) => zeroize::Zeroizing::new(v),
            Err(_) => return false,
        },
        (None, Some(v)) => zeroize::Zeroizing::new(v.to_owned()),
        (None, None) => return false,
    };
    let len = candidate.trim_end_matches(['\n', '\r']).len();
    candidate.truncate(len);
    token
        .with_exposed(|t| t.as_bytes() != candidate.as_bytes())
        .unwrap_or(true)
}

/// Remove the token keys from env-file pairs, zeroizing them (SIGHUP reload never re-reads the token).
pub fn discard_token_entries(pairs: &mut Vec<(String, String)>) {
    pairs.retain_mut(|(k, v)| {
        let secret = k == "GITHUB_TOKEN" || k == "GITHUB_TOKEN_FILE";
        if secret {
            v.zeroize();
        }
        !secret
    });
}

/// Overwrite an environment variable's value bytes in place, then remove it. `remove_var` alone
/// only unlinks the pointer: the bytes stay in the initial environment block that
/// `/proc/<pid>/environ` shows.
fn scrub_env(key: &str) {
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let prefix = format!("{key}=");
    // SAFETY: called at start-up before any other thread reads the environment; every entry is a
    // valid NUL-terminated string owned by the process.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = *p;
            let bytes = std::ffi::CStr::from_ptr(entry).to_bytes();
            if bytes.starts_with(prefix.as_bytes()) {
                let value = entry.add(prefix.len()) as *mut u8;
                memsec::memzero(value, bytes.len() - prefix.len());
            }
            p = p.add(1);
        }
        std::env::remove_var(key);
    }
}

/// Make the process non-dumpable (no core dumps, no ptrace by same-uid processes, /proc/<pid>/mem
/// and environ unreadable by others) and set RLIMIT_CORE to 0.
pub fn harden_process() -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_only_through_closure() {
        let t = Token::from_value("ghp_abc123\n".into(), "GITHUB_TOKEN").unwrap();
        assert!(t.is_loaded());
        assert_eq!(t.with_exposed(|s| s.to_owned()).unwrap(), "ghp_abc123");
        assert!(Token::none().with_exposed(|_| ()).is_none());
    }

    #[test]
    fn rejects_bad_tokens() {
        assert!(Token::from_value(String::new(), "GITHUB_TOKEN").is_err());
        assert!(Token::from_value("a b".into(), "GITHUB_TOKEN").is_err());
        assert!(Token::from_value("x".repeat(CAPACITY), "GITHUB_TOKEN").is_err());
    }

    #[test]
    fn discarded_token_entries_are_gone() {
        let mut pairs = vec![
            ("GITHUB_TOKEN".to_owned(), "ghp_x".to_owned()),
            ("BLOCKED_BRANCHES".to_owned(), "[]".to_owned()),
            ("GITHUB_TOKEN_FILE".to_owned(), "/t".to_owned()),
        ];
        discard_token_entries(&mut pairs);
        assert_eq!(
            pairs,
            vec![("BLOCKED_BRANCHES".to_owned(), "[]".to_owned())]
        );
    }

    #[test]
    fn git_credential_is_plaintext() {
        let t = Token::from_value("ghp_abc123".into(), "GITHUB_TOKEN").unwrap();
        let cred = t.git_credential().unwrap().unwrap();
        assert_eq!(
            cred.credtype(),
            libgit2_sys::GIT_CREDTYPE_USERPASS_PLAINTEXT
        );
        drop(cred);
    }

    #[test]
    fn hardening_makes_the_process_non_dumpable_without_core_files() {
        harden_process().unwrap();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).unwrap();
        assert_eq!((soft, hard), (0, 0));
    }

    #[test]
    fn token_memory_is_locked_when_the_limit_allows() {
        let t = Token::from_value("ghp_abc123".into(), "GITHUB_TOKEN").unwrap();
        // As root (CI) mlock cannot fail; others depend on RLIMIT_MEMLOCK and only the state is checked.
        if nix::unistd::geteuid().is_root() {
            assert_eq!(t.mlock_state(), MlockState::Locked);
        } else {
            assert!(matches!(
                t.mlock_state(),
                MlockState::Locked | MlockState::Failed
            ));
        }
    }
}
