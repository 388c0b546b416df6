//! Crash-safe state: what a killed agent leaves in the state dir (lock files, temp packs, push
//! scratch dirs) is removed at start and before each operation on a cached repository, so one
//! crash never breaks later fetches or fills the disk. Only entries older than this agent's start
//! are touched: anything newer belongs to work this process is doing.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Deepest directory level walked (state/mirrors/owner/name.git/objects/pack is 6).
const MAX_DEPTH: usize = 8;
/// Most entries looked at in one sweep (bounded work however large the state dir grows).
const MAX_ENTRIES: usize = 200_000;

/// Is this a leftover of interrupted work (given its name and parent directory name)?
fn is_leftover(name: &str, parent: &str, is_dir: bool) -> bool {
    if is_dir {
        // v2 push scratch repositories; v3 push index scratch dirs (transport/pack.rs).
        return (parent == "shadow" && name.starts_with("push-"))
            || (parent == "spool" && name.starts_with("index-"));
    }
    // v3 spooled push packs (transport/pack.rs).
    if parent == "spool" && name.starts_with("push-") {
        return true;
    }
    name.ends_with(".lock")
        // libgit2's and git's temporary packs and indexes.
        || (parent == "pack" && (name.starts_with("pack_git2_") || name.starts_with("tmp_") || name.starts_with("pack") && name.ends_with(".tmp")))
        // Spill files of pushes (tempfile's default prefix).
        || (parent == "tmp" && name.starts_with(".tmp"))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(path).ok()?.modified().ok()
}

/// Remove leftovers under `root` older than `started`. Never follows symlinks. Returns what was
/// removed.
pub fn sweep(root: &Path, started: SystemTime) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let parent = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return removed;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if ft.is_symlink() {
                continue;
            }
            let old = modified(&path).is_some_and(|m| m < started);
            if old && is_leftover(&name, &parent, ft.is_dir()) {
                let ok = if ft.is_dir() {
                    std::fs::remove_dir_all(&path).is_ok()
                } else {
                    std::fs::remove_file(&path).is_ok()
                };
                if ok {
                    removed.push(path);
                }
            } else if ft.is_dir() && depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            }
        }
    }
    removed
}

/// Total size of the files under `root` (bounded walk, symlinks not followed).
pub fn disk_usage(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return total;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() && depth < MAX_DEPTH * 2 {
                stack.push((entry.path(), depth + 1));
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn old_leftovers_go_and_everything_else_stays() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let repo = root.join("mirrors/acme/app.git");
        let leftovers = [
            repo.join("refs/heads/main.lock"),
            repo.join("packed-refs.lock"),
            repo.join("objects/pack/pack_git2_a1b2c3"),
            repo.join("objects/pack/tmp_pack_XYZ"),
            root.join("tmp/.tmpAbC12"),
        ];
        let kept = [
            repo.join("refs/heads/main"),
            repo.join("objects/pack/pack-1234.pack"),
            repo.join("objects/pack/pack-1234.idx"),
            repo.join("HEAD"),
            root.join("audit.jsonl"),
        ];
        for p in leftovers.iter().chain(&kept) {
            touch(p);
        }
        std::fs::create_dir_all(root.join("shadow/push-abc/objects")).unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        let removed = sweep(root, later);
        for p in &leftovers {
            assert!(!p.exists(), "{} should be gone", p.display());
        }
        assert!(!root.join("shadow/push-abc").exists());
        for p in &kept {
            assert!(p.exists(), "{} should stay", p.display());
        }
        assert_eq!(removed.len(), leftovers.len() + 1);
    }

    #[test]
    fn leftovers_newer_than_the_start_belong_to_running_work() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("mirrors/a/b.git/packed-refs.lock");
        touch(&lock);
        let earlier = SystemTime::now() - Duration::from_secs(60);
        assert!(sweep(dir.path(), earlier).is_empty());
        assert!(lock.exists());
    }

    #[test]
    fn symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        touch(&outside.path().join("victim.lock"));
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        sweep(dir.path(), SystemTime::now() + Duration::from_secs(5));
        assert!(outside.path().join("victim.lock").exists());
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 1), "3.0 MiB");
    }
}
