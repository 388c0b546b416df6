//! Checks built on the ref-update rules (`wire`) and the repository allowlist.

use crate::config::{Policy, ALLOWED_HOSTS, ALLOWED_REPOS};
use crate::denial::{quote, Denial};
use crate::url::{parse_remote_url, RepoRef};
use crate::wire::{Ancestry, RefUpdate};

impl Policy {
    /// Would creating branch `short_name` be allowed? Used for `gh pr create --head`.
    pub fn check_branch(&self, short_name: &str) -> Result<(), Denial> {
        const ZERO: &str = "0000000000000000000000000000000000000000";
        const SOME: &str = "1111111111111111111111111111111111111111";
        self.check_ref_update(
            &RefUpdate {
                name: format!("refs/heads/{short_name}"),
                old: ZERO.into(),
                new: SOME.into(),
            },
            Ancestry::NotApplicable,
        )
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

/// `["claude/*","feature/*"]`, as the setting is written.
pub(crate) fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{}\"", quote(s))).collect();
    format!("[{}]", quoted.join(","))
}
