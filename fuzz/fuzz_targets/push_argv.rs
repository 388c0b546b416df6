//! Arbitrary bytes → `git push` argv → parse → resolve → policy (DESIGN §7, threat class 2).
//!
//! Whatever the argv, with the default policy (`BLOCKED_BRANCHES=["main","master"]`, no force, no
//! delete, no tags) every update `check_push` lets through must be a plain non-force update of a
//! branch under `refs/heads/` that is not main/master in any case, and must pass `check_update`
//! on its own.
#![no_main]

use gitgate_policy::{parse_push_args, MemoryRepo, Policy, PolicyConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| Policy::new(PolicyConfig::default()).expect("default policy"))
}

/// A few workspace shapes, chosen by the first input byte.
fn repo(selector: u8) -> MemoryRepo {
    let branches = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match selector % 4 {
        0 => MemoryRepo {
            current: Some("feature".into()),
            branches: branches(&["main", "master", "feature", "claude/x", "Main"]),
            tags: branches(&["v1"]),
        },
        1 => MemoryRepo {
            current: Some("main".into()),
            branches: branches(&["main", "MASTER", "dev"]),
            tags: vec![],
        },
        2 => MemoryRepo {
            current: None, // detached HEAD
            branches: branches(&["main", "heads/x", "refs/y", "HEAD"]),
            tags: branches(&["main"]),
        },
        _ => MemoryRepo::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // NUL separates arguments (argv can never contain NUL); bytes are taken as (lossy) UTF-8, as
    // the protocol only carries valid UTF-8.
    let argv: Vec<String> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    let Ok(args) = parse_push_args(&argv) else {
        return;
    };
    let repo = repo(selector);
    let policy = policy();
    let Ok(updates) = policy.check_push(&args, &repo) else {
        return;
    };
    for u in &updates {
        assert!(
            policy.check_update(u).is_ok(),
            "{argv:?}: allowed update {u:?} fails check_update"
        );
        let branch = u
            .dst
            .strip_prefix("refs/heads/")
            .unwrap_or_else(|| panic!("{argv:?}: allowed update outside refs/heads/: {u:?}"));
        assert!(
            !branch.eq_ignore_ascii_case("main") && !branch.eq_ignore_ascii_case("master"),
            "{argv:?}: allowed update of a blocked branch: {u:?}"
        );
        assert!(u.src.is_some(), "{argv:?}: allowed delete: {u:?}");
        assert!(!u.force, "{argv:?}: allowed force update: {u:?}");
    }
});
