//! Ref-changing API writes (`git/refs`, `contents` PUT/DELETE, `merges`, GraphQL `createRef`,
//! `updateRef`, `deleteRef`, `updateRefs`, `createCommitOnBranch`, `pr create`'s head) decided by the
//! same rules as a `git push` of that ref (DESIGN §5, "Ref updates").
//!
//! Kept as one small function over [`Policy::check_update`] so it can be unified with the git
//! transport's ref-update rules without touching the API checkers.

use crate::denial::{quote, Denial};
use crate::push::{RefUpdate, Source};
use crate::Policy;

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
    policy.check_update(&RefUpdate {
        src: (!u.delete).then_some(Source::Head),
        dst: u.ref_name.to_owned(),
        force: u.force,
    })
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
