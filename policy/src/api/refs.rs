//! Ref-changing API writes (`git/refs`, `contents` PUT/DELETE, `merges`, GraphQL `createRef`,
//! `updateRef`, `deleteRef`, `updateRefs`, `createCommitOnBranch`, `pr create`'s head) decided by the
//! same rules as a `git push` of that ref (DESIGN §5, "Ref updates").
//!
//! One small function over the git transport's ref-update rules ([`Policy::check_ref_update`]):
//! an API write is decided exactly like the push of that ref.

use crate::denial::{quote, Denial};
use crate::wire::{Ancestry, RefUpdate};
use crate::Policy;

const ZERO: &str = "0000000000000000000000000000000000000000";
/// A stand-in object id: the API names no old or new object the policy could look at.
const SOME: &str = "1111111111111111111111111111111111111111";

/// One ref the API request would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRefUpdate<'a> {
    /// Full ref name (`refs/heads/x`); a bare branch name must be qualified by the caller.
    pub ref_name: &'a str,
    pub delete: bool,
    /// The request asks for a non-fast-forward update (`force: true`). The API cannot tell the
    /// agent whether an update without `force` is a fast-forward; GitHub refuses those itself.
    pub force: bool,
}

/// Decide one API ref update with the push rules.
pub fn check_api_ref_update(policy: &Policy, u: &ApiRefUpdate<'_>) -> Result<(), Denial> {
    if !u.ref_name.starts_with("refs/") {
        return Err(Denial::new(format!(
            "ref '{}' refused: name the full ref (refs/heads/BRANCH)",
            quote(u.ref_name)
        )));
    }
    let tag = u.ref_name.starts_with("refs/tags/");
    // delete: old → nothing; force: a rewrite; a tag without force: a creation (moving a tag is a
    // rewrite); a branch without force: an update GitHub itself only allows as a fast-forward.
    let (old, new, ancestry) = if u.delete {
        (SOME, ZERO, Ancestry::NotApplicable)
    } else if u.force {
        (SOME, SOME, Ancestry::NotFastForward)
    } else if tag {
        (ZERO, SOME, Ancestry::NotApplicable)
    } else {
        (SOME, SOME, Ancestry::FastForward)
    };
    policy.check_ref_update(
        &RefUpdate {
            name: u.ref_name.to_owned(),
            old: old.into(),
            new: new.into(),
        },
        ancestry,
    )
}

/// `refs/heads/B` for a branch named without its prefix (`main` or `refs/heads/main`).
pub fn qualify_branch(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_owned()
    } else {
        format!("refs/heads/{name}")
    }
}

/// Check a branch the request writes to (non-force update of `refs/heads/B`).
pub fn check_branch_write(policy: &Policy, branch: &str) -> Result<(), Denial> {
    check_api_ref_update(
        policy,
        &ApiRefUpdate {
            ref_name: &qualify_branch(branch),
            delete: false,
            force: false,
        },
    )
}

/// Does a `force` field ask for a forced update? Anything but absent, `null` or `false` counts
/// (a string `"true"` is not left for GitHub to interpret).
pub fn asks_force(v: Option<&serde_json::Value>) -> bool {
    !matches!(
        v,
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false))
    )
}
