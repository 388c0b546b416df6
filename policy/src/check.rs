//! The decision for one ref update, and for a whole `git push`.

use crate::config::{
    Policy, ALLOWED_BRANCH_PATTERNS, ALLOWED_HOSTS, ALLOWED_REPOS, ALLOW_DELETE_REMOTE,
    ALLOW_FORCE_PUSH, ALLOW_TAG_PUSH, BLOCKED_BRANCHES,
};
use crate::denial::{quote, Denial};
use crate::push::{resolve, LocalRepo, PushArgs, RefUpdate, Source};
use crate::refname;
use crate::url::{parse_remote_url, RepoRef};

impl Policy {
    /// Decide one update. Order (DESIGN §7): delete, tag, other refs, branch name validity, blocked,
    /// allowed patterns, force. A blocked branch is refused whatever else is allowed.
    pub fn check_update(&self, u: &RefUpdate) -> Result<(), Denial> {
        let cfg = self.config();
        let delete = u.src.is_none();
        if let Some(tag) = u.dst.strip_prefix("refs/tags/") {
            let what = if delete {
                format!("deleting remote tag '{}'", quote(tag))
            } else if u.force {
                format!("force-push of tag '{}'", quote(tag))
            } else {
                format!("push of tag '{}'", quote(tag))
            };
            if delete && !cfg.allow_delete_remote {
                return Err(Denial::with_setting(
                    format!(
                        "{what} refused: deleting remote tags is disabled (ALLOW_DELETE_REMOTE)"
                    ),
                    ALLOW_DELETE_REMOTE,
                ));
            }
            if !cfg.allow_tag_push {
                return Err(Denial::with_setting(
                    format!("{what} refused: pushing tags is disabled (ALLOW_TAG_PUSH)"),
                    ALLOW_TAG_PUSH,
                ));
            }
            refname::validate(tag)
                .map_err(|e| Denial::new(format!("{what} refused: invalid tag name: {e}")))?;
            if u.force && !delete && !cfg.allow_force_push {
                return Err(force_denial(&what));
            }
            return Ok(());
        }

        let Some(branch) = u.dst.strip_prefix("refs/heads/") else {
            let (what, verb) = if delete {
                ("deleting remote ref", "deleted")
            } else {
                ("push to", "pushed")
            };
            return Err(Denial::new(format!(
                "{what} '{}' refused: only branches (refs/heads/) and tags (refs/tags/) can be {verb}",
                quote(&u.dst)
            )));
        };
        let what = if delete {
            format!("deleting remote branch '{}'", quote(branch))
        } else if u.force {
            format!("force-push to '{}'", quote(branch))
        } else {
            format!("push to '{}'", quote(branch))
        };
        if delete && !cfg.allow_delete_remote {
            return Err(Denial::with_setting(
                format!(
                    "{what} refused: deleting remote branches is disabled (ALLOW_DELETE_REMOTE)"
                ),
                ALLOW_DELETE_REMOTE,
            ));
        }
        refname::check_branch_name(&what, branch)?;
        if self.is_blocked(branch) {
            return Err(Denial::with_setting(
                format!("{what} refused: branch is protected (BLOCKED_BRANCHES)"),
                BLOCKED_BRANCHES,
            ));
        }
        if self.matches_allowed_patterns(branch) == Some(false) {
            return Err(Denial::with_setting(
                format!(
                    "{what} refused: branch does not match ALLOWED_BRANCH_PATTERNS {}",
                    json_list(&cfg.allowed_branch_patterns)
                ),
                ALLOWED_BRANCH_PATTERNS,
            ));
        }
        if u.force && !delete && !cfg.allow_force_push {
            return Err(force_denial(&what));
        }
        Ok(())
    }

    /// Would a (non-force) push to `refs/heads/<short_name>` be allowed? Used for `gh pr create --head`.
    pub fn check_branch(&self, short_name: &str) -> Result<(), Denial> {
        self.check_update(&RefUpdate {
            src: Some(Source::Head),
            dst: format!("refs/heads/{short_name}"),
            force: false,
        })
    }

    /// Resolve `args` against `repo` and check every update; the first refusal wins. Nothing to push
    /// (e.g. `--tags` without tags, when tags are allowed) is `Ok(vec![])`.
    pub fn check_push(
        &self,
        args: &PushArgs,
        repo: &dyn LocalRepo,
    ) -> Result<Vec<RefUpdate>, Denial> {
        let cfg = self.config();
        // Refused up front even when there is nothing (yet) to push, so the answer does not depend on
        // which tags happen to exist.
        if (args.tags || args.follow_tags) && !cfg.allow_tag_push {
            return Err(Denial::with_setting(
                format!(
                    "git push {} refused: pushing tags is disabled (ALLOW_TAG_PUSH)",
                    if args.tags { "--tags" } else { "--follow-tags" }
                ),
                ALLOW_TAG_PUSH,
            ));
        }
        let updates = resolve(args, repo)?;
        for u in &updates {
            self.check_update(u)?;
        }
        Ok(updates)
    }
}

impl Policy {
    /// Check a remote URL given on the command line (or read from the workspace): it must name a
    /// repository, on an allowed host, that is an allowed repository. Returns the repository, so the
    /// agent can build its own URL for it.
    pub fn check_repo_url(&self, url: &str) -> Result<RepoRef, Denial> {
        let repo = parse_remote_url(url).ok_or_else(|| {
            Denial::new(format!(
                "remote '{}' refused: not a repository URL gitgate understands \
                 (https://host/owner/repo.git or git@host:owner/repo.git)",
                quote(url)
            ))
        })?;
        if !self.host_allowed(&repo.host) {
            return Err(Denial::with_setting(
                format!(
                    "remote '{}' refused: host '{}' is not in ALLOWED_HOSTS {}",
                    quote(url),
                    quote(&repo.host),
                    json_list(&self.config().allowed_hosts)
                ),
                ALLOWED_HOSTS,
            ));
        }
        if !self.repo_allowed(&repo.slug()) {
            return Err(Denial::with_setting(
                format!(
                    "remote '{}' refused: repository '{}' is not in ALLOWED_REPOS {}",
                    quote(url),
                    quote(&repo.slug()),
                    json_list(&self.config().allowed_repos)
                ),
                ALLOWED_REPOS,
            ));
        }
        Ok(repo)
    }
}

fn force_denial(what: &str) -> Denial {
    Denial::with_setting(
        format!("{what} refused: force-pushing is disabled (set ALLOW_FORCE_PUSH=true to allow)"),
        ALLOW_FORCE_PUSH,
    )
}

/// `["claude/*","feature/*"]`, as the setting is written.
pub(crate) fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{}\"", quote(s))).collect();
    format!("[{}]", quoted.join(","))
}
