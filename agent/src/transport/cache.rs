//! The agent's own bare copy of each upstream repository, under the state dir, fetched with the
//! token through libgit2 (GitHub's data, not the client's). Used for ancestry decisions and as the
//! base-object source for thin packs. Refreshed at most once per push, on a miss, under the
//! repository lock. Blocking: use from a blocking thread only.

use super::Upstream;
use crate::secret::Token;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

pub fn dir_for(state_dir: &Path, up: &Upstream) -> PathBuf {
    let host: String = up
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (owner, name) = up.slug.split_once('/').unwrap_or((&up.slug, ""));
    state_dir
        .join("cache")
        .join(host)
        .join(owner.to_ascii_lowercase())
        .join(format!("{}.git", name.to_ascii_lowercase()))
}

pub struct Cache {
    dir: PathBuf,
    url: String,
    token: Arc<Token>,
    cancel: CancellationToken,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The agent's start: older lock files and temp packs in the cache are crash leftovers.
    started: std::time::SystemTime,
    repo: RefCell<Option<git2::Repository>>,
    refreshed: Cell<bool>,
    /// Why the last refresh failed, for the message.
    pub refresh_error: RefCell<Option<String>>,
}

fn oid2(id: &gix_hash::oid) -> Option<git2::Oid> {
    git2::Oid::from_bytes(id.as_bytes()).ok()
}

impl Cache {
    pub fn new(
        state_dir: &Path,
        up: &Upstream,
        token: Arc<Token>,
        cancel: CancellationToken,
        lock: Arc<tokio::sync::Mutex<()>>,
        started: std::time::SystemTime,
    ) -> Cache {
        Cache {
            dir: dir_for(state_dir, up),
            url: up.base.clone(),
            token,
            cancel,
            lock,
            started,
            repo: RefCell::new(None),
            refreshed: Cell::new(false),
            refresh_error: RefCell::new(None),
        }
    }

    /// Open the cache repository (created under the repository lock if it does not exist yet:
    /// two pushes, or a push's two readers, may get here at once).
    fn open(&self) -> Result<(), String> {
        if self.repo.borrow().is_some() {
            return Ok(());
        }
        crate::gitops::ensure_libgit2()?;
        if let Ok(r) = git2::Repository::open_bare(&self.dir) {
            *self.repo.borrow_mut() = Some(r);
            return Ok(());
        }
        let _held = self.lock.blocking_lock();
        self.open_held()
    }

    /// `open` with the repository lock held.
    fn open_held(&self) -> Result<(), String> {
        if self.repo.borrow().is_some() {
            return Ok(());
        }
        crate::gitops::ensure_libgit2()?;
        let init = |dir: &Path| -> Result<git2::Repository, String> {
            let r = git2::Repository::init_bare(dir)
                .map_err(|e| format!("cannot create the cache repository: {}", e.message()))?;
            let _ = r
                .config()
                .and_then(|mut c| c.set_bool("core.logallrefupdates", false));
            Ok(r)
        };
        let repo = match git2::Repository::open_bare(&self.dir) {
            Ok(r) => r,
            Err(_) => {
                let parent = self.dir.parent().unwrap_or(&self.dir);
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                if !self.dir.exists() {
                    // Made aside and renamed into place: a reader opening it without the lock
                    // finds no repository or a whole one, never one being made.
                    let aside = tempfile::Builder::new()
                        .prefix(".init-")
                        .tempdir_in(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                    drop(init(aside.path())?);
                    let aside = aside.keep();
                    if std::fs::rename(&aside, &self.dir).is_err() {
                        let _ = std::fs::remove_dir_all(&aside);
                    }
                }
                // An existing directory that is not a repository (yet): made one in place.
                match git2::Repository::open_bare(&self.dir) {
                    Ok(r) => r,
                    Err(_) => init(&self.dir)?,
                }
            }
        };
        *self.repo.borrow_mut() = Some(repo);
        Ok(())
    }

    /// Fetch every branch and tag from upstream (once per push).
    fn refresh(&self) -> bool {
        if self.refreshed.replace(true) {
            return false;
        }
        let _held = self.lock.blocking_lock();
        // Under the lock: what an earlier, killed agent left in this repository goes first.
        crate::housekeeping::sweep(&self.dir, self.started);
        let result = (|| -> Result<(), String> {
            self.open_held()?;
            let guard = self.repo.borrow();
            let repo = guard.as_ref().ok_or("no cache repository")?;
            let mut remote = repo
                .remote_anonymous(&self.url)
                .map_err(|e| e.message().to_owned())?;
            let mut opts = git2::FetchOptions::new();
            opts.remote_callbacks(crate::gitops::callbacks(
                &self.token,
                &self.url,
                &self.cancel,
            ))
            .prune(git2::FetchPrune::On)
            .download_tags(git2::AutotagOption::None)
            .follow_redirects(git2::RemoteRedirect::None);
            remote
                .fetch(&REFSPECS, Some(&mut opts), Some("gitgate: cache refresh"))
                .map_err(|e| e.message().to_owned())?;
            if let Ok(odb) = repo.odb() {
                let _ = odb.refresh();
            }
            Ok(())
        })();
        match result {
            Ok(()) => true,
            Err(e) => {
                *self.refresh_error.borrow_mut() = Some(e);
                false
            }
        }
    }

    /// Take in a pack upstream accepted (complete, verified and indexed by gix-pack), so the
    /// next push's thin-pack bases and ancestry are found here without a refresh (without it,
    /// every push of an edit to an existing file refetched from upstream what the previous push
    /// had just sent). Its objects are content-addressed: a commit's parents are part of its id,
    /// so an ancestry answer does not depend on where the object came from. Blocking; takes the
    /// repository lock.
    pub fn import_pack(&self, pack: &Path, index: &Path) -> Result<(), String> {
        let _held = self.lock.blocking_lock();
        self.open_held()?;
        let dir = self.dir.join("objects").join("pack");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (Some(p), Some(i)) = (pack.file_name(), index.file_name()) else {
            return Err("pack without a file name".into());
        };
        if dir.join(i).exists() {
            return Ok(());
        }
        // The pack first: a pack becomes visible with its index.
        std::fs::rename(pack, dir.join(p)).map_err(|e| format!("cannot move the pack: {e}"))?;
        std::fs::rename(index, dir.join(i)).map_err(|e| format!("cannot move the index: {e}"))?;
        Ok(())
    }

    fn with_repo<R>(&self, f: impl Fn(&git2::Repository) -> Option<R>) -> Option<R> {
        if let Err(e) = self.open() {
            // Said in the refusal, like a failed refresh (upstream's history cannot be read).
            *self.refresh_error.borrow_mut() = Some(e);
            return None;
        }
        let found = self.repo.borrow().as_ref().and_then(&f);
        if found.is_some() {
            return found;
        }
        if self.refresh() {
            return self.repo.borrow().as_ref().and_then(&f);
        }
        None
    }

    /// Is `ancestor` reachable from `commit` (or equal to it) in upstream's history?
    pub fn descends(&self, commit: &gix_hash::oid, ancestor: &gix_hash::oid) -> bool {
        let (Some(c), Some(a)) = (oid2(commit), oid2(ancestor)) else {
            return false;
        };
        let both = |r: &git2::Repository| {
            let have = r.find_commit(c).is_ok() && r.find_commit(a).is_ok();
            have.then_some(())
        };
        if self.with_repo(both).is_none() {
            return false;
        }
        if c == a {
            return true;
        }
        // libgit2's merge-base walk is iterative.
        self.repo
            .borrow()
            .as_ref()
            .and_then(|r| r.graph_descendant_of(c, a).ok())
            .unwrap_or(false)
    }
}

impl gix_object::Find for Cache {
    fn try_find<'a>(
        &self,
        id: &gix_hash::oid,
        buffer: &'a mut Vec<u8>,
    ) -> Result<Option<gix_object::Data<'a>>, gix_error::Error> {
        let Some(oid) = oid2(id) else {
            return Ok(None);
        };
        let found = self.with_repo(|r| {
            let odb = r.odb().ok()?;
            let obj = odb.read(oid).ok()?;
            let kind = match obj.kind() {
                git2::ObjectType::Commit => gix_object::Kind::Commit,
                git2::ObjectType::Tree => gix_object::Kind::Tree,
                git2::ObjectType::Blob => gix_object::Kind::Blob,
                git2::ObjectType::Tag => gix_object::Kind::Tag,
                _ => return None,
            };
            Some((kind, obj.data().to_vec()))
        });
        Ok(found.map(|(kind, data)| {
            *buffer = data;
            gix_object::Data::new(buffer, kind, gix_hash::Kind::Sha1)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_opening_a_new_cache_at_once_all_get_the_one_repository() {
        // A push's pack reader and its leading-commit reader may both be first to open a
        // repository's cache; neither may see it half made (a failed open read as "not a
        // fast-forward").
        let state = tempfile::tempdir().unwrap();
        crate::gitops::init_libgit2(
            &state.path().join("empty"),
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        let up = Upstream {
            slug: "acme/app".into(),
            host: "127.0.0.1:1".into(),
            base: "http://127.0.0.1:1/acme/app.git".into(),
            anonymous: false,
        };
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let token = Arc::new(Token::from_value("x".repeat(40), "test").unwrap());
        for round in 0..5 {
            let dir = state.path().join(format!("s{round}"));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (dir, up, lock, token) =
                        (dir.clone(), up.clone(), lock.clone(), token.clone());
                    std::thread::spawn(move || {
                        let c = Cache::new(
                            &dir,
                            &up,
                            token,
                            CancellationToken::new(),
                            lock,
                            std::time::SystemTime::now(),
                        );
                        c.open()
                    })
                })
                .collect();
            for t in threads {
                assert_eq!(t.join().unwrap(), Ok(()));
            }
            assert!(git2::Repository::open_bare(dir_for(&dir, &up))
                .unwrap()
                .is_bare());
        }
    }
}
