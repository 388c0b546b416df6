//! Installs gitgate's advisory pre-push hook (hooks/pre-push, embedded) into workspace repos on
//! clone and on first network use, and reports its state for `agent-status`. Never replaces or
//! writes through an existing hook, hooks dir symlink or `core.hooksPath` setup: the hook is
//! advisory, the agent is the enforcement.

use crate::realgit::find_git_dir;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const HOOK: &str = include_str!("../../hooks/pre-push");

pub enum HookState {
    Installed(PathBuf),
    /// Another pre-push hook is there; ours was not installed.
    Foreign(PathBuf),
    Absent(PathBuf),
}

/// `<common git dir>/hooks/pre-push` for the repo containing `cwd`.
fn hook_path(cwd: &Path) -> Option<PathBuf> {
    let git_dir = find_git_dir(cwd)?;
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir,
    };
    Some(common.join("hooks").join("pre-push"))
}

pub fn state(cwd: &Path) -> Option<HookState> {
    let path = hook_path(cwd)?;
    Some(match std::fs::symlink_metadata(&path) {
        Err(_) => HookState::Absent(path),
        Ok(m) if m.is_file() && std::fs::read_to_string(&path).is_ok_and(|t| t == HOOK) => {
            HookState::Installed(path)
        }
        Ok(_) => HookState::Foreign(path),
    })
}

/// Install the hook if there is none. Silent on any failure (it is advisory).
pub fn ensure(cwd: &Path) {
    let Some(HookState::Absent(path)) = state(cwd) else {
        return;
    };
    let Some(dir) = path.parent() else { return };
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return;
    }
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // create_new: never follow or replace something that appeared meanwhile.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&path)
    {
        let _ = f.write_all(HOOK.as_bytes());
    }
}

/// One line for `agent-status` run inside a repository.
pub fn report(cwd: &Path) -> Option<String> {
    Some(match state(cwd)? {
        HookState::Installed(p) => format!("pre-push hook:     installed ({})", p.display()),
        HookState::Foreign(p) => format!(
            "pre-push hook:     NOT installed: another hook exists at {} (gitgate's is advisory; see scripts/install-hook.sh)",
            p.display()
        ),
        HookState::Absent(p) => format!("pre-push hook:     not installed yet ({}; installed on the next push/fetch/clone)", p.display()),
    })
}

/// The directory `git clone <args>` creates (relative to `cwd`): the second positional argument,
/// else the last path component of the URL without `.git`.
pub fn clone_dir(cwd: &Path, args: &[String]) -> Option<PathBuf> {
    let pos = gitgate_proto::gitargs::positionals("clone", args.get(1..).unwrap_or(&[]));
    let dir = match pos.as_slice() {
        [_, dir, ..] => (*dir).to_owned(),
        [url] => {
            let trimmed = url.trim_end_matches('/');
            let trimmed = trimmed
                .strip_suffix(".git")
                .unwrap_or(trimmed)
                .trim_end_matches('/');
            trimmed.rsplit(['/', ':']).next()?.to_owned()
        }
        [] => return None,
    };
    Some(cwd.join(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn clone_directory() {
        let cwd = Path::new("/w");
        assert_eq!(
            clone_dir(cwd, &v(&["clone", "https://h/o/app.git"])),
            Some("/w/app".into())
        );
        assert_eq!(
            clone_dir(cwd, &v(&["clone", "-b", "dev", "https://h/o/app", "x"])),
            Some("/w/x".into())
        );
        assert_eq!(
            clone_dir(cwd, &v(&["clone", "git@h:o/app.git/"])),
            Some("/w/app".into())
        );
        assert_eq!(clone_dir(cwd, &v(&["clone"])), None);
    }

    #[test]
    fn installs_once_and_never_replaces() {
        let t = std::env::temp_dir().join(format!("gitgate-prepush-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(t.join(".git/hooks")).unwrap();
        assert!(matches!(state(&t), Some(HookState::Absent(_))));
        ensure(&t);
        assert!(matches!(state(&t), Some(HookState::Installed(_))));
        std::fs::write(t.join(".git/hooks/pre-push"), "#!/bin/sh\nexit 0\n").unwrap();
        ensure(&t);
        assert!(matches!(state(&t), Some(HookState::Foreign(_))));
        assert_eq!(
            std::fs::read_to_string(t.join(".git/hooks/pre-push")).unwrap(),
            "#!/bin/sh\nexit 0\n"
        );
        let _ = std::fs::remove_dir_all(&t);
    }
}
