//! Ref updates as git really sends them to receive-pack (`<old> <new> <ref>`), decided against
//! the policy (DESIGN §5). Pure: the agent supplies the ancestry fact it computed from the pack
//! and its cache.

use crate::config::{
    Policy, ALLOWED_BRANCH_PATTERNS, ALLOW_DELETE_REMOTE, ALLOW_FORCE_PUSH, ALLOW_TAG_PUSH,
    BLOCKED_BRANCHES,
};
use crate::denial::{quote, Denial};
use crate::refname;

/// The all-zero object id git uses for "no object" (create / delete).
pub fn is_zero_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

/// One command of a push: update `name` from `old` to `new` (hex object ids; all zeros = none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub name: String,
    pub old: String,
    pub new: String,
}

impl RefUpdate {
    pub fn is_delete(&self) -> bool {
        is_zero_id(&self.new)
    }
    pub fn is_create(&self) -> bool {
        is_zero_id(&self.old)
    }
    /// Does the policy need to know whether `new` descends from `old`?
    pub fn needs_ancestry(&self) -> bool {
        !self.is_delete() && !self.is_create()
    }
}

/// Does `new` descend from `old`? Only meaningful for updates of an existing ref to a new value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancestry {
    FastForward,
    NotFastForward,
    /// Create or delete: there is nothing to compare.
    NotApplicable,
}

/// `Ok(())` = allowed; a [`Denial`] carries the reason (ending in the setting that would allow it).
pub type Decision = Result<(), Denial>;

fn with_setting(msg: String, setting: &'static str) -> Denial {
    Denial::with_setting(format!("{msg} ({setting})"), setting)
}

fn valid_hex_id(id: &str) -> bool {
    (id.len() == 40 || id.len() == 64) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Policy {
    /// Decide one ref update. Order: ref shape and name, protected branches, allowed patterns,
    /// delete, fast-forward. A blocked branch is refused whatever else is allowed.
    pub fn check_ref_update(&self, u: &RefUpdate, ancestry: Ancestry) -> Decision {
        let cfg = self.config();
        if !valid_hex_id(&u.old) || !valid_hex_id(&u.new) {
            return Err(Denial::new(format!(
                "malformed update of '{}': object ids must be hexadecimal",
                quote(&u.name)
            )));
        }
        if u.is_delete() && u.is_create() {
            return Err(Denial::new(format!(
                "malformed update of '{}': neither old nor new object",
                quote(&u.name)
            )));
        }
        if let Some(tag) = u.name.strip_prefix("refs/tags/") {
            refname::validate(tag).map_err(|e| {
                Denial::new(format!("'{}' is not a valid tag name: {e}", quote(tag)))
            })?;
            if !cfg.allow_tag_push {
                let what = if u.is_delete() { "deleting" } else { "pushing" };
                return Err(with_setting(
                    format!("{what} tag '{}' is not allowed", quote(tag)),
                    ALLOW_TAG_PUSH,
                ));
            }
            if u.is_delete() {
                if !cfg.allow_delete_remote {
                    return Err(with_setting(
                        format!("deleting tag '{}' is not allowed", quote(tag)),
                        ALLOW_DELETE_REMOTE,
                    ));
                }
                return Ok(());
            }
            // Moving an existing tag is always a rewrite.
            if !u.is_create() && !cfg.allow_force_push {
                return Err(with_setting(
                    format!("moving existing tag '{}' is not allowed", quote(tag)),
                    ALLOW_FORCE_PUSH,
                ));
            }
            return Ok(());
        }
        let Some(branch) = u.name.strip_prefix("refs/heads/") else {
            return Err(Denial::new(format!(
                "only branches (refs/heads/) and tags (refs/tags/) can be pushed; '{}' refused",
                quote(&u.name)
            )));
        };
        refname::validate(branch).map_err(|e| {
            Denial::new(format!(
                "'{}' is not a valid branch name: {e}",
                quote(branch)
            ))
        })?;
        if self.is_blocked(branch) {
            return Err(with_setting(
                format!("branch '{}' is protected", quote(branch)),
                BLOCKED_BRANCHES,
            ));
        }
        if self.matches_allowed_patterns(branch) == Some(false) {
            return Err(with_setting(
                format!(
                    "branch '{}' does not match ALLOWED_BRANCH_PATTERNS {}",
                    quote(branch),
                    crate::check::json_list(&cfg.allowed_branch_patterns)
                ),
                ALLOWED_BRANCH_PATTERNS,
            ));
        }
        if u.is_delete() {
            if !cfg.allow_delete_remote {
                return Err(with_setting(
                    format!("deleting branch '{}' is not allowed", quote(branch)),
                    ALLOW_DELETE_REMOTE,
                ));
            }
            return Ok(());
        }
        if u.needs_ancestry() && ancestry != Ancestry::FastForward && !cfg.allow_force_push {
            return Err(with_setting(
                format!(
                    "non-fast-forward update of branch '{}' is not allowed",
                    quote(branch)
                ),
                ALLOW_FORCE_PUSH,
            ));
        }
        Ok(())
    }

    /// Push options (`git push -o …`) are refused: they can trigger server-side behaviour the
    /// policy cannot see.
    pub fn check_push_options(&self, options: &[String]) -> Decision {
        match options.first() {
            None => Ok(()),
            Some(o) => Err(Denial::new(format!(
                "push options are not allowed ('{}')",
                quote(o)
            ))),
        }
    }
}
