//! Running the real git binary: `exec` for local commands, and the shim's own local runs after
//! the agent answered (fetch/pull/clone from the read-only mirror, `local_git` steps).

use crate::Fail;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

pub const DEFAULT_REAL_GIT: &str = "/usr/bin/git";

/// `GITGATE_REAL_GIT`, or `/usr/bin/git` when unset or empty.
pub fn path() -> PathBuf {
    match std::env::var_os("GITGATE_REAL_GIT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_REAL_GIT),
    }
}

/// Whether `real` is the very file `exe` (same device and inode, symlinks followed).
pub fn is_same_file(real: &Path, exe: &Path) -> bool {
    match (std::fs::metadata(real), std::fs::metadata(exe)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Refuse to run the shim itself as "the real git" (it would exec itself forever), and a
/// relative path (which `exec` would look up in PATH, where `git` is the shim).
pub fn refuse_self(real: &Path) -> Result<(), Fail> {
    if !real.is_absolute() {
        return Err(Fail::new(
            crate::EXIT_PROTOCOL,
            format!(
                "GITGATE_REAL_GIT ({}) must be an absolute path to the real git binary",
                real.display()
            ),
        ));
    }
    let Ok(exe) = std::env::current_exe() else {
        return Ok(());
    };
    if is_same_file(real, &exe) {
        return Err(Fail::new(
            crate::EXIT_PROTOCOL,
            format!(
                "GITGATE_REAL_GIT ({}) points at the gitgate shim itself; set it to the real git binary",
                real.display()
            ),
        ));
    }
    Ok(())
}

fn cannot_run(real: &Path, e: std::io::Error) -> Fail {
    Fail::new(
        crate::EXIT_PROTOCOL,
        format!("cannot run the real git ({}): {e}", real.display()),
    )
}

/// Replace this process with the real git, argv[0] `git`, same arguments, untouched env.
/// Returns only on failure.
pub fn exec(real: &Path, args: &[impl AsRef<OsStr>]) -> Fail {
    if let Err(f) = refuse_self(real) {
        return f;
    }
    let err = Command::new(real).arg0("git").args(args).exec();
    cannot_run(real, err)
}

/// A shell-style exit code for a finished child (128 + signal when killed).
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Where the agent's mirror is visible here: with `GITGATE_MIRROR_DIR` set, that directory plus
/// the part of `mirror` after its first `/mirrors/` component; otherwise `mirror` unchanged
/// (also when it has no `mirrors` component).
pub fn remap_mirror(mirror: &str, mirror_dir: Option<&OsStr>) -> OsString {
    let Some(dir) = mirror_dir.filter(|d| !d.is_empty()) else {
        return mirror.into();
    };
    let rest = if let Some(r) = mirror.strip_prefix("mirrors/") {
        r
    } else if let Some(at) = mirror.find("/mirrors/") {
        &mirror[at + "/mirrors/".len()..]
    } else {
        return mirror.into();
    };
    let mut out = dir.to_os_string();
    if !dir.as_encoded_bytes().ends_with(b"/") {
        out.push("/");
    }
    out.push(rest);
    out
}

/// Arguments for the local run against the mirror:
/// `-c safe.directory=<mirror> -c url.<mirror>.insteadOf=<url> <global opts> <command>`.
pub fn mirror_args(
    mirror: &OsStr,
    url: &str,
    global: &[&OsStr],
    command: &[OsString],
) -> Vec<OsString> {
    let mut safe = OsString::from("safe.directory=");
    safe.push(mirror);
    let mut instead = OsString::from("url.");
    instead.push(mirror);
    instead.push(".insteadOf=");
    instead.push(url);
    let mut args = vec!["-c".into(), safe, "-c".into(), instead];
    args.extend(global.iter().map(|a| a.to_os_string()));
    args.extend(command.iter().cloned());
    args
}

/// The git dir of the repository containing `cwd` (following a `.git` gitdir file), found with a
/// few `lstat`s and no git process.
pub fn find_git_dir(cwd: &Path) -> Option<PathBuf> {
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        let dotgit = d.join(".git");
        if let Ok(meta) = std::fs::symlink_metadata(&dotgit) {
            if !meta.is_file() {
                return Some(dotgit);
            }
            let text = std::fs::read_to_string(&dotgit).ok()?;
            return text
                .trim()
                .strip_prefix("gitdir:")
                .map(|p| d.join(p.trim()));
        }
        dir = d.parent();
    }
    None
}

/// git writes `FETCH_HEAD` by following symlinks; a workspace could aim it at any file the user
/// can write. Refuse before the local fetch/pull runs.
pub fn refuse_symlinked_fetch_head(cwd: &Path) -> Result<(), Fail> {
    let Some(git_dir) = find_git_dir(cwd) else {
        return Ok(());
    };
    let fetch_head = git_dir.join("FETCH_HEAD");
    if std::fs::symlink_metadata(&fetch_head).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Fail::new(
            gitgate_proto::exit::DENIED,
            format!(
                "{} is a symlink; refusing to let git write through it (remove it and retry)",
                fetch_head.display()
            ),
        ));
    }
    Ok(())
}

/// Run the real git and wait; its exit code.
pub fn run(real: &Path, args: &[OsString]) -> Result<i32, Fail> {
    refuse_self(real)?;
    let status = Command::new(real)
        .arg0("git")
        .args(args)
        .status()
        .map_err(|e| cannot_run(real, e))?;
    Ok(exit_code(status))
}

/// Run one `local_git` step as `git -C <cwd> <global opts> <argv…>`; a failure is a warning.
pub fn run_local_step(real: &Path, cwd: &Path, global: &[&OsStr], argv: &[String]) {
    let mut args: Vec<OsString> = vec!["-C".into(), cwd.as_os_str().to_os_string()];
    args.extend(global.iter().map(|a| a.to_os_string()));
    args.extend(argv.iter().map(OsString::from));
    let ok = matches!(run(real, &args), Ok(0));
    if !ok {
        eprintln!(
            "gitgate: warning: local update failed: git {}",
            argv.join(" ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_remap() {
        let d = Some(OsStr::new("/mnt/gitgate"));
        let table: &[(&str, Option<&OsStr>, &str)] = &[
            (
                "/var/lib/gitgate/mirrors/o/r.git",
                None,
                "/var/lib/gitgate/mirrors/o/r.git",
            ),
            (
                "/var/lib/gitgate/mirrors/o/r.git",
                Some(OsStr::new("")),
                "/var/lib/gitgate/mirrors/o/r.git",
            ),
            (
                "/var/lib/gitgate/mirrors/o/r.git",
                d,
                "/mnt/gitgate/o/r.git",
            ),
            (
                "/var/lib/gitgate/mirrors/o/r.git",
                Some(OsStr::new("/mnt/m/")),
                "/mnt/m/o/r.git",
            ),
            ("/s/mirrors/mirrors/x.git", d, "/mnt/gitgate/mirrors/x.git"),
            ("mirrors/o/r.git", d, "/mnt/gitgate/o/r.git"),
            ("/elsewhere/o/r.git", d, "/elsewhere/o/r.git"),
            (
                "/var/lib/gitgate/mirrorsx/o/r.git",
                d,
                "/var/lib/gitgate/mirrorsx/o/r.git",
            ),
        ];
        for (mirror, dir, want) in table {
            assert_eq!(
                remap_mirror(mirror, *dir),
                OsString::from(want),
                "{mirror} {dir:?}"
            );
        }
    }

    #[test]
    fn mirror_arguments() {
        let cmd: Vec<OsString> = vec!["fetch".into(), "origin".into()];
        let global = [OsStr::new("-C"), OsStr::new("sub")];
        let got = mirror_args(
            OsStr::new("/m/o/r.git"),
            "https://github.com/o/r.git",
            &global,
            &cmd,
        );
        let want = [
            "-c",
            "safe.directory=/m/o/r.git",
            "-c",
            "url./m/o/r.git.insteadOf=https://github.com/o/r.git",
            "-C",
            "sub",
            "fetch",
            "origin",
        ];
        assert_eq!(got, want.map(OsString::from));
    }

    #[test]
    fn self_exec_detection() {
        let exe = std::env::current_exe().unwrap();
        assert!(is_same_file(&exe, &exe));
        assert!(refuse_self(&exe).is_err());
        let msg = refuse_self(&exe).unwrap_err().message;
        assert!(msg.contains("points at the gitgate shim itself"), "{msg}");
        // through a symlink
        let dir = std::env::temp_dir().join(format!("gitgate-shim-self-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("git");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link).unwrap();
        assert!(refuse_self(&link).is_err());
        // another file, and a missing one, are fine
        assert!(!is_same_file(Path::new("/bin/sh"), &exe));
        assert!(refuse_self(&dir.join("missing")).is_ok());
        // a bare name would be looked up in PATH, where `git` is the shim
        let msg = refuse_self(Path::new("git")).unwrap_err().message;
        assert!(msg.contains("must be an absolute path"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exit_codes_of_children() {
        let st = Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .status()
            .unwrap();
        assert_eq!(exit_code(st), 3);
        let st = Command::new("/bin/sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .unwrap();
        assert_eq!(exit_code(st), 143);
    }
}
