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
//! GitHub App installation tokens (`app_token.rs`) rotate behind the same API: each new token is
//! copied into a fresh locked buffer and swapped in atomically ([`Token::replace`]). A request that
//! already borrowed the old buffer keeps its `Arc` to it until its closure returns; the old buffer
//! is zeroized and unlocked when the last borrower is done. The App's private key ([`AppKey`]) is
//! held the same way (its DER bytes in a locked buffer, lent only to closures); the signing
//! library's parsed key (ring's `RsaKeyPair`) exists only inside that closure.

use secrecy::{ExposeSecret, SecretBox};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
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
    #[error("GITHUB_APP_PRIVATE_KEY_FILE: cannot read '{path}': {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("GITHUB_APP_PRIVATE_KEY_FILE: '{path}' is not an RSA private key in PEM form ({problem}); use the .pem file downloaded from the GitHub App's settings")]
    KeyFormat { path: String, problem: String },
}

/// Largest App private key file accepted (a 4096-bit RSA key in PEM is about 3.3 KB).
const KEY_FILE_MAX: u64 = 64 * 1024;
/// Locked capacity for the App key's DER bytes (4096-bit PKCS#8 DER is under 2.5 KB).
const KEY_CAPACITY: usize = 16 * 1024;

/// A fixed, page-aligned, locked buffer. Never reallocated, so no stray copies are left behind.
struct LockedBytes {
    ptr: *mut u8,
    len: usize,
    cap: usize,
    locked: bool,
}

// SAFETY: the buffer is owned exclusively and only read through `&self`.
unsafe impl Send for LockedBytes {}
unsafe impl Sync for LockedBytes {}

impl LockedBytes {
    fn layout(cap: usize) -> Layout {
        // cap is CAPACITY or KEY_CAPACITY: powers of two and multiples of the page size on every
        // Linux target we build for.
        Layout::from_size_align(cap, CAPACITY).expect("static layout")
    }

    fn new(value: &[u8]) -> LockedBytes {
        Self::with_capacity(value, CAPACITY)
    }

    /// `value.len() < cap` (checked by the caller), leaving room for a NUL.
    fn with_capacity(value: &[u8], cap: usize) -> LockedBytes {
        // SAFETY: non-zero size layout; checked for null below.
        let ptr = unsafe { alloc_zeroed(Self::layout(cap)) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(Self::layout(cap));
        }
        // SAFETY: ptr is valid for cap bytes; mlock also applies MADV_DONTDUMP.
        let locked = unsafe { memsec::mlock(ptr, cap) };
        let len = value.len().min(cap - 1);
        // SAFETY: len < cap, leaving room for the NUL.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), ptr, len) };
        LockedBytes {
            ptr,
            len,
            cap,
            locked,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: ptr holds `len` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    fn as_str(&self) -> &str {
        // Validated as ASCII at construction.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl Zeroize for LockedBytes {
    fn zeroize(&mut self) {
        // SAFETY: ptr is valid for cap bytes.
        unsafe { memsec::memzero(self.ptr, self.cap) };
        self.len = 0;
    }
}

impl Drop for LockedBytes {
    fn drop(&mut self) {
        self.zeroize();
        // SAFETY: ptr came from alloc_zeroed with this layout; munlock zeroes again before unlocking.
        unsafe {
            if self.locked {
                memsec::munlock(self.ptr, self.cap);
            }
            dealloc(self.ptr, Self::layout(self.cap));
        }
    }
}

type Locked = Arc<SecretBox<LockedBytes>>;

/// One token value and its generation (counts replacements, for the retry-once-after-401 rule).
#[derive(Clone)]
struct Current {
    secret: Locked,
    generation: u64,
}

/// The GitHub token, or its absence. Cheap to share behind an `Arc`. Rotatable: see the module docs.
pub struct Token {
    current: RwLock<Option<Current>>,
    generation: AtomicU64,
    /// Tokens replaced but still alive (held until revoked upstream, or by a request in flight):
    /// the redactor and the stream scanner look for them too.
    retired: std::sync::Mutex<Vec<std::sync::Weak<SecretBox<LockedBytes>>>>,
}

/// A token taken out of service by [`Token::replace`] or [`Token::clear`], kept only to revoke it
/// upstream. Zeroized when dropped (and when the last in-flight borrower is done).
pub struct RetiredToken(Locked);

impl RetiredToken {
    pub fn with_exposed<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(self.0.expose_secret().as_str())
    }
}

fn check_value(value: &str, source: &'static str) -> Result<(), SecretError> {
    if value.is_empty() {
        Err(SecretError::Empty(source))
    } else if value.len() >= CAPACITY {
        Err(SecretError::TooLong(source))
    } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
        Err(SecretError::Invalid(source))
    } else {
        Ok(())
    }
}

impl Token {
    /// No token loaded: every operation that needs one fails with a clear error.
    pub fn none() -> Token {
        Token {
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
            retired: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn loaded(&self) -> Option<Current> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Install a new value (a freshly minted App installation token; consumed and zeroized) in a
    /// fresh locked buffer, swapped in atomically. Returns the previous token, if any, for
    /// revocation. Requests that already borrowed the previous one finish with it.
    pub fn replace(
        &self,
        mut value: String,
        source: &'static str,
    ) -> Result<Option<RetiredToken>, SecretError> {
        let checked = check_value(&value, source);
        let fresh = checked
            .map(|()| Arc::new(SecretBox::new(Box::new(LockedBytes::new(value.as_bytes())))));
        value.zeroize();
        let fresh = fresh?;
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        let old = slot.replace(Current {
            secret: fresh,
            generation,
        });
        drop(slot);
        Ok(old.map(|c| self.retire(c.secret)))
    }

    /// Take the token out of service (an App token that expired without a replacement).
    pub fn clear(&self) -> Option<RetiredToken> {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let old = self
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        old.map(|c| self.retire(c.secret))
    }

    fn retire(&self, secret: Locked) -> RetiredToken {
        let mut list = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&secret));
        RetiredToken(secret)
    }

    /// Lend the current token and every replaced one still alive (not yet revoked) to `f`, one at
    /// a time: for the redactor's patterns only.
    pub fn with_each_exposed(&self, mut f: impl FnMut(&str)) {
        if let Some(c) = self.loaded() {
            f(c.secret.expose_secret().as_str());
        }
        let alive: Vec<Locked> = {
            let mut list = self.retired.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(std::sync::Weak::upgrade).collect()
        };
        for s in &alive {
            f(s.expose_secret().as_str());
        }
    }

    /// How many times the token was replaced or cleared (0 for a personal token).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Build from a value (consumed and zeroized). `source` names the setting for errors.
    pub fn from_value(mut value: String, source: &'static str) -> Result<Token, SecretError> {
        let trimmed_len = value.trim_end_matches(['\n', '\r']).len();
        value.truncate(trimmed_len);
        if let Err(e) = check_value(&value, source) {
            value.zeroize();
            return Err(e);
        }
        let token = Token::none();
        token.replace(value, source)?;
        // A personal token starts at generation 0.
        token.generation.store(0, Ordering::Release);
        if let Some(c) = token
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            c.generation = 0;
        }
        Ok(token)
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
        self.loaded().is_some()
    }

    pub fn mlock_state(&self) -> MlockState {
        match self.loaded() {
            None => MlockState::NotNeeded,
            Some(c) if c.secret.expose_secret().locked => MlockState::Locked,
            Some(_) => MlockState::Failed,
        }
    }

    /// Lend the token to `f`. Returns `None` when no token is loaded.
    /// Keep the closure short and never store, log or format the value.
    pub fn with_exposed<R>(&self, f: impl FnOnce(&str) -> R) -> Option<R> {
        self.with_exposed_versioned(|t, _| f(t))
    }

    /// Like [`Token::with_exposed`], also telling which generation was lent (so a request that got
    /// a 401 can tell whether the token was already replaced since: see `app_token.rs`).
    pub fn with_exposed_versioned<R>(&self, f: impl FnOnce(&str, u64) -> R) -> Option<R> {
        // The Arc keeps this buffer alive even if a rotation swaps it out meanwhile.
        self.loaded()
            .map(|c| f(c.secret.expose_secret().as_str(), c.generation))
    }

    /// A libgit2 plaintext credential built straight from the locked buffer (NUL-terminated in
    /// place), avoiding git2's intermediate `CString` copy of the password.
    pub fn git_credential(&self) -> Option<Result<git2::Cred, git2::Error>> {
        // Held until libgit2 has copied the string (below), even across a rotation.
        let current = self.loaded()?;
        let bytes = current.secret.expose_secret();
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

/// Which DER structure the App key is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// `-----BEGIN RSA PRIVATE KEY-----` (what GitHub hands out).
    Pkcs1,
    /// `-----BEGIN PRIVATE KEY-----`.
    Pkcs8,
}

/// The GitHub App's private key: its DER bytes in a locked, zeroized buffer, lent only to closures.
/// The PEM text read from the file is zeroized once decoded.
pub struct AppKey {
    der: SecretBox<LockedBytes>,
    form: KeyForm,
}

impl AppKey {
    /// Read and decode `GITHUB_APP_PRIVATE_KEY_FILE`. Errors name the file, never its contents.
    pub fn load_file(path: &std::path::Path) -> Result<AppKey, SecretError> {
        use std::io::Read;
        let shown = path.display().to_string();
        let mut text = zeroize::Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .and_then(|f| f.take(KEY_FILE_MAX).read_to_end(&mut text))
            .map_err(|source| SecretError::KeyFile {
                path: shown.clone(),
                source,
            })?;
        let bad = |problem: &str| SecretError::KeyFormat {
            path: shown.clone(),
            problem: problem.to_owned(),
        };
        let text_str = std::str::from_utf8(&text).map_err(|_| bad("not text"))?;
        let (form, label) = if text_str.contains("-----BEGIN RSA PRIVATE KEY-----") {
            (KeyForm::Pkcs1, "RSA PRIVATE KEY")
        } else if text_str.contains("-----BEGIN PRIVATE KEY-----") {
            (KeyForm::Pkcs8, "PRIVATE KEY")
        } else {
            return Err(bad("no '-----BEGIN RSA PRIVATE KEY-----' line"));
        };
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = text_str.find(&begin).map(|i| i + begin.len()).unwrap_or(0);
        let stop = text_str[start..]
            .find(&end)
            .map(|i| start + i)
            .ok_or_else(|| bad("no END line"))?;
        let mut b64 = zeroize::Zeroizing::new(String::with_capacity(stop - start));
        b64.extend(
            text_str[start..stop]
                .chars()
                .filter(|c| !c.is_ascii_whitespace()),
        );
        let mut der = zeroize::Zeroizing::new(Vec::new());
        base64::Engine::decode_vec(
            &base64::engine::general_purpose::STANDARD,
            b64.as_bytes(),
            &mut der,
        )
        .map_err(|_| bad("invalid base64"))?;
        if der.is_empty() || der.len() >= KEY_CAPACITY {
            return Err(bad("unexpected size"));
        }
        let key = AppKey {
            der: SecretBox::new(Box::new(LockedBytes::with_capacity(&der, KEY_CAPACITY))),
            form,
        };
        Ok(key)
    }

    /// Lend the key's DER bytes to `f`. Keep the closure short; never store, log or format them.
    pub fn with_exposed<R>(&self, f: impl FnOnce(&[u8], KeyForm) -> R) -> R {
        f(self.der.expose_secret().as_bytes(), self.form)
    }

    pub fn mlock_state(&self) -> MlockState {
        if self.der.expose_secret().locked {
            MlockState::Locked
        } else {
            MlockState::Failed
        }
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

/// Buffers of 1 MiB and more (a pushed pack's objects while it is indexed) come from mmap and go
/// back to the system when freed: glibc's adaptive threshold would otherwise move it up after the
/// first such free and keep later ones in the heap (agent RSS over two 50 MB pushes: 68 MB with
/// it, 57 MB without). Call before any other thread exists.
pub fn fixed_mmap_threshold() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt(3) with constants, at start-up before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
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
    fn rotation_swaps_buffers_and_borrowers_keep_theirs() {
        let t = Token::from_value("ghs_first".into(), "app").unwrap();
        assert_eq!(t.generation(), 0);
        let seen = t.with_exposed_versioned(|s, g| {
            // A rotation while this request holds the old token.
            let old = t.replace("ghs_second".into(), "app").unwrap().unwrap();
            old.with_exposed(|o| assert_eq!(o, "ghs_first"));
            (s.to_owned(), g)
        });
        assert_eq!(seen.unwrap(), ("ghs_first".to_owned(), 0));
        assert_eq!(
            t.with_exposed_versioned(|s, g| (s.to_owned(), g)).unwrap(),
            ("ghs_second".to_owned(), 1)
        );
        assert!(t.replace("bad value".into(), "app").is_err());
        assert_eq!(t.with_exposed(|s| s.to_owned()).unwrap(), "ghs_second");
        let mut seen = Vec::new();
        t.with_each_exposed(|s| seen.push(s.to_owned()));
        assert_eq!(
            seen,
            ["ghs_second"],
            "the first one was dropped: no longer lent"
        );
        let retired = t.clear().unwrap();
        assert!(!t.is_loaded());
        let mut seen = Vec::new();
        t.with_each_exposed(|s| seen.push(s.to_owned()));
        assert_eq!(
            seen,
            ["ghs_second"],
            "retired but not yet revoked: still redacted"
        );
        drop(retired);
        t.with_each_exposed(|_| panic!("nothing alive"));
        assert_eq!(t.generation(), 2);
    }

    #[test]
    fn app_key_errors_never_show_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        std::fs::write(&p, "secretstuff-not-a-key").unwrap();
        let e = AppKey::load_file(&p).err().unwrap().to_string();
        assert!(e.starts_with("GITHUB_APP_PRIVATE_KEY_FILE"), "{e}");
        assert!(!e.contains("secretstuff"), "{e}");
        let e = AppKey::load_file(&dir.path().join("missing"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::write(
            &p,
            "-----BEGIN RSA PRIVATE KEY-----\nAAECAw==\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let k = AppKey::load_file(&p).unwrap();
        k.with_exposed(|der, form| {
            assert_eq!(der, &[0, 1, 2, 3]);
            assert_eq!(form, KeyForm::Pkcs1);
        });
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
