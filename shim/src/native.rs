//! `git` in native mode (DESIGN §2): the real git for everything, with gitgate as its https
//! transport. We point `GIT_EXEC_PATH` at an overlay directory (links to every file of the real
//! exec path, except `git-remote-http(s)`, which are this shim) and `GIT_TEMPLATE_DIR` at a
//! template holding the advisory pre-push hook, then exec the real git. No argv is inspected.
//!
//! The real git: `GITGATE_REAL_GIT`, else the first `git` on `PATH` that is not this shim.
//! The overlay lives in `GITGATE_OVERLAY_DIR`, else `$XDG_RUNTIME_DIR/gitgate` or
//! `/tmp/gitgate-<uid>`, a directory that must be ours and private (else no overlay is used
//! and the shim says so: git then fails closed, without credentials).

use crate::Fail;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const HOOK: &str = include_str!("../../hooks/pre-push");

/// Whether `a` and `b` are the very same file (device and inode, symlinks followed).
pub fn is_same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The real git: `GITGATE_REAL_GIT`, or the first `git` on `PATH` that is not `me`.
pub fn real_git(me: &Path) -> Result<PathBuf, Fail> {
    let fail = |m: String| Fail::new(crate::EXIT_PROTOCOL, m);
    if let Some(p) = std::env::var_os("GITGATE_REAL_GIT").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_absolute() {
            return Err(fail(format!(
                "GITGATE_REAL_GIT ({}) must be an absolute path to the real git binary",
                p.display()
            )));
        }
        if is_same_file(&p, me) {
            return Err(fail(format!(
                "GITGATE_REAL_GIT ({}) points at the gitgate shim itself; set it to the real git binary",
                p.display()
            )));
        }
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("git");
        let exec = std::fs::metadata(&cand)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if exec && cand.is_absolute() && !is_same_file(&cand, me) {
            return Ok(cand);
        }
    }
    Err(fail(
        "cannot find the real git on PATH (set GITGATE_REAL_GIT to its absolute path)".into(),
    ))
}

fn own_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// A private directory of ours: created 0700 if missing; refused if someone else owns it or
/// others can write to it.
fn private_dir(dir: &Path) -> Option<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let m = std::fs::symlink_metadata(dir).ok()?;
    (m.is_dir() && Some(m.uid()) == own_uid() && m.permissions().mode() & 0o022 == 0).then_some(())
}

fn base_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GITGATE_OVERLAY_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("gitgate");
    }
    PathBuf::from(format!("/tmp/gitgate-{}", own_uid().unwrap_or(0)))
}

/// A stable name for one real git binary and shim pair (path, inode, mtime), so an upgraded
/// git or shim gets a fresh overlay.
fn key(real: &Path, me: &Path) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut feed = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    for p in [real, me] {
        feed(p.as_os_str().as_encoded_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            feed(&m.ino().to_le_bytes());
            feed(&m.mtime().to_le_bytes());
        }
    }
    format!("{h:016x}")
}

/// The overlay for `real` (built once, atomically), and the template dir with the hook.
fn overlay(real: &Path, me: &Path) -> Option<(PathBuf, PathBuf)> {
    let base = base_dir();
    private_dir(&base)?;
    let dir = base.join(format!("exec-{}", key(real, me)));
    let templates = base.join("templates");
    if !templates.join("hooks/pre-push").exists() {
        let tmp = base.join(format!("templates.tmp{}", std::process::id()));
        let _ = std::fs::create_dir_all(tmp.join("hooks"));
        let hook = tmp.join("hooks/pre-push");
        if std::fs::write(&hook, HOOK).is_ok() {
            let _ = std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755));
            if std::fs::rename(&tmp, &templates).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
    }
    if dir.join("git-remote-https").exists() {
        return Some((dir, templates));
    }
    let out = Command::new(real).arg("--exec-path").output().ok()?;
    let exec_path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !exec_path.is_dir() {
        return None;
    }
    let tmp = base.join(format!("exec.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).ok()?;
    for entry in std::fs::read_dir(&exec_path).ok()?.flatten() {
        let name = entry.file_name();
        if name == "git-remote-http" || name == "git-remote-https" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), tmp.join(&name)).ok()?;
    }
    for name in ["git-remote-http", "git-remote-https"] {
        std::os::unix::fs::symlink(me, tmp.join(name)).ok()?;
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Someone else built it meanwhile.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir.join("git-remote-https")
        .exists()
        .then_some((dir, templates))
}

/// `path` as one POSIX sh word (git runs `GIT_SSH_COMMAND` through the shell).
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// For gh (native mode): a directory holding only `git`, a link to the real git, plus the
/// overlay and template dirs. With that directory first on gh's PATH and the overlay in its
/// environment, gh's own git calls (`git remote -v` on every command, `fetch` for `pr
/// checkout`, `clone`) run the real git with gitgate as its transport directly, without one
/// shim exec each (~0.9 ms per call). `None`: no overlay; gh then finds the git shim as before.
pub fn git_for_gh(me: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let real = real_git(me).ok()?;
    let (exec, templates) = overlay(&real, me)?;
    let bin = base_dir().join(format!("bin-{}", key(&real, me)));
    if !is_same_file(&bin.join("git"), &real) {
        let tmp = base_dir().join(format!("bin.tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp).ok()?;
        std::os::unix::fs::symlink(&real, tmp.join("git")).ok()?;
        if std::fs::rename(&tmp, &bin).is_err() {
            // Someone else made it meanwhile.
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    is_same_file(&bin.join("git"), &real).then_some((bin, exec, templates))
}

/// ssh remotes would go around gitgate (the user's own keys): git runs the shim `me` instead,
/// which refuses and names the https URL. Variant `ssh`: no `-G` probe; its options are skipped.
pub fn refuse_ssh(cmd: &mut Command, me: &Path) {
    cmd.env("GIT_SSH_COMMAND", format!("{} ssh", sh_quote(me)))
        .env("GIT_SSH_VARIANT", "ssh")
        .env_remove("GIT_SSH");
}

/// git's exec path overlay (the shim as its https transport) and, unless the user set one, the
/// template dir with the pre-push hook; git's own children inherit both.
pub fn use_overlay(cmd: &mut Command, exec: PathBuf, templates: PathBuf) {
    cmd.env("GIT_EXEC_PATH", exec);
    if std::env::var_os("GIT_TEMPLATE_DIR").is_none() {
        cmd.env("GIT_TEMPLATE_DIR", templates);
    }
}

/// Exec the real git with the overlay. Returns only on failure.
pub fn run(args: &[OsString]) -> Fail {
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return Fail::new(
                crate::EXIT_PROTOCOL,
                format!("cannot find the shim itself: {e}"),
            )
        }
    };
    let real = match real_git(&me) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let mut cmd = Command::new(&real);
    cmd.arg0("git").args(args);
    refuse_ssh(&mut cmd, &me);
    // git's own children (submodules, `fetch --all`, hooks calling git) inherit both.
    let already = std::env::var_os("GIT_EXEC_PATH")
        .map(PathBuf::from)
        .is_some_and(|p| {
            p.join("git-remote-https").exists() && is_same_file(&p.join("git-remote-https"), &me)
        });
    if !already {
        match overlay(&real, &me) {
            Some((exec, templates)) => use_overlay(&mut cmd, exec, templates),
            None => {
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!(
                        "gitgate: warning: cannot set up the git overlay in {} (must be a private directory of yours; set GITGATE_OVERLAY_DIR); https remotes will not go through gitgate\n",
                        base_dir().display()
                    )
                    .as_bytes(),
                );
            }
        }
    }
    let err = cmd.exec();
    Fail::new(
        crate::EXIT_PROTOCOL,
        format!("cannot run the real git ({}): {err}", real.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_changes_with_the_binary() {
        let a = key(Path::new("/usr/bin/git"), Path::new("/x/shim"));
        let b = key(Path::new("/usr/local/bin/git"), Path::new("/x/shim"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn private_dir_refuses_shared_ones() {
        assert!(private_dir(Path::new("/tmp")).is_none());
        let d = std::env::temp_dir().join(format!("gitgate-native-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        assert!(private_dir(&d).is_some());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&d).is_none());
        let _ = std::fs::remove_dir_all(&d);
    }
}
