//! Reading the workspace repository for the v2 gh front-end only (goes with agent/src/gh when the
//! gh gateway replaces it). Read-only, as hostile input (DESIGN §0).
//!
//! We only ever read refs, HEAD, the local config's `remote.<name>.url` / `branch.<name>.remote`
//! (to pick *which allowed repository* is meant, never as a URL to contact) and objects. Before
//! opening anything we refuse layouts that would make us read outside the workspace:
//! a `.git` file pointing outside, `objects/info/alternates`, and symlinks under `.git` that
//! resolve outside the workspace. libgit2 never runs hooks, fsmonitor, filters or helpers for
//! the reads we do.

use crate::error::AgentError;
use gitgate_policy::LocalRepo;
use std::path::{Path, PathBuf};

/// Entries visited by the symlink scan at most; a larger `.git/refs` tree is refused.
const SCAN_LIMIT: usize = 200_000;

pub struct Workspace {
    /// The shared git dir (differs from `git_dir` for linked worktrees).
    pub common_dir: PathBuf,
    repo: git2::Repository,
}

/// Canonicalize `cwd` and require it inside the canonical workspace root.
pub fn check_cwd(ws_root: &Path, cwd: &str) -> Result<(PathBuf, PathBuf), AgentError> {
    let root = ws_root.canonicalize().map_err(|e| {
        AgentError::Internal(format!(
            "workspace '{}' is not accessible: {e}",
            ws_root.display()
        ))
    })?;
    let outside = || {
        AgentError::denied(format!(
            "working directory '{cwd}' is outside the workspace (GITGATE_WORKSPACE={})",
            ws_root.display()
        ))
    };
    let path = Path::new(cwd);
    if !path.is_absolute() {
        return Err(outside());
    }
    let canon = path.canonicalize().map_err(|_| outside())?;
    if !canon.starts_with(&root) {
        return Err(outside());
    }
    Ok((root, canon))
}

fn inside(root: &Path, p: &Path) -> bool {
    p.canonicalize()
        .map(|c| c.starts_with(root))
        .unwrap_or(false)
}

fn refuse(what: impl std::fmt::Display) -> AgentError {
    AgentError::denied(format!("refusing to read this repository: {what}"))
}

/// Find the git dir for `cwd` (walking up, never above the workspace root).
fn find_git_dir(root: &Path, cwd: &Path) -> Result<PathBuf, AgentError> {
    let mut dir = cwd.to_path_buf();
    loop {
        let dotgit = dir.join(".git");
        if let Ok(meta) = std::fs::symlink_metadata(&dotgit) {
            if meta.is_file() {
                let text = std::fs::read_to_string(&dotgit)
                    .map_err(|e| refuse(format!("cannot read {}: {e}", dotgit.display())))?;
                let target = text
                    .trim()
                    .strip_prefix("gitdir:")
                    .map(str::trim)
                    .ok_or_else(|| refuse(format!("{} is not a gitdir file", dotgit.display())))?;
                let target = dir.join(target);
                if !inside(root, &target) {
                    return Err(refuse(format!(
                        "{} points outside the workspace",
                        dotgit.display()
                    )));
                }
                return target.canonicalize().map_err(refuse);
            }
            if !inside(root, &dotgit) {
                return Err(refuse(format!(
                    "{} resolves outside the workspace",
                    dotgit.display()
                )));
            }
            return dotgit.canonicalize().map_err(refuse);
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            return Err(AgentError::failed(
                "fatal: not a git repository (or any of the parent directories): .git",
                128,
            ));
        }
    }
}

/// Every symlink under `dir` must resolve inside `root`.
fn scan_symlinks(root: &Path, dir: &Path, budget: &mut usize) -> Result<(), AgentError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return Err(refuse("too many entries under .git/refs"));
        }
        *budget -= 1;
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_symlink() {
            if !inside(root, &path) {
                return Err(refuse(format!(
                    "{} is a symlink pointing outside the workspace",
                    path.display()
                )));
            }
        } else if ft.is_dir() {
            scan_symlinks(root, &path, budget)?;
        }
    }
    Ok(())
}

impl Workspace {
    pub fn open(root: &Path, cwd: &Path) -> Result<Workspace, AgentError> {
        let git_dir = find_git_dir(root, cwd)?;
        let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
            Ok(text) => {
                let p = git_dir.join(text.trim());
                if !inside(root, &p) {
                    return Err(refuse("commondir points outside the workspace"));
                }
                p.canonicalize().map_err(refuse)?
            }
            Err(_) => git_dir.clone(),
        };
        if common_dir.join("objects/info/alternates").exists() {
            return Err(refuse(
                "objects/info/alternates is set (objects outside the repository are not read)",
            ));
        }
        for name in [
            "HEAD",
            "packed-refs",
            "config",
            "objects",
            "refs",
            "commondir",
        ] {
            for base in [&git_dir, &common_dir] {
                let p = base.join(name);
                if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink())
                    && !inside(root, &p)
                {
                    return Err(refuse(format!(
                        "{} is a symlink pointing outside the workspace",
                        p.display()
                    )));
                }
            }
        }
        let mut budget = SCAN_LIMIT;
        scan_symlinks(root, &common_dir.join("refs"), &mut budget)?;
        if git_dir != common_dir {
            scan_symlinks(root, &git_dir.join("refs"), &mut budget)?;
        }
        let repo = git2::Repository::open_ext(
            &git_dir,
            git2::RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&std::ffi::OsStr>(),
        )
        .map_err(|e| {
            AgentError::failed(
                format!("fatal: cannot open the repository: {}", e.message()),
                128,
            )
        })?;
        Ok(Workspace { common_dir, repo })
    }

    /// A local config value (`remote.origin.url`), read from this repository's own config file only.
    pub fn config_string(&self, key: &str) -> Option<String> {
        let cfg = git2::Config::open(&self.common_dir.join("config")).ok()?;
        cfg.get_string(key).ok()
    }

    /// The URL of a named remote as written (`remote.<name>.url` only; never pushurl/insteadOf).
    pub fn remote_url(&self, name: &str) -> Option<String> {
        self.config_string(&format!("remote.{name}.url"))
    }
}

impl LocalRepo for Workspace {
    fn current_branch(&self) -> Option<String> {
        let head = self.repo.find_reference("HEAD").ok()?;
        head.symbolic_target()?
            .strip_prefix("refs/heads/")
            .map(str::to_owned)
    }
}
