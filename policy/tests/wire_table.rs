//! The ref-update rules (DESIGN §5) on updates as git sends them to receive-pack.

use gitgate_policy::wire::{Ancestry, RefUpdate};
use gitgate_policy::{Policy, PolicyConfig};
use proptest::prelude::*;

const Z: &str = "0000000000000000000000000000000000000000";
const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";

fn policy(f: impl FnOnce(&mut PolicyConfig)) -> Policy {
    let mut cfg = PolicyConfig {
        allowed_repos: vec!["acme/*".into()],
        ..PolicyConfig::default()
    };
    f(&mut cfg);
    Policy::new(cfg).unwrap()
}

fn upd(name: &str, old: &str, new: &str) -> RefUpdate {
    RefUpdate {
        name: name.into(),
        old: old.into(),
        new: new.into(),
    }
}

use Ancestry::*;

#[test]
fn table() {
    let default = policy(|_| {});
    let patterns = policy(|c| c.allowed_branch_patterns = vec!["claude/*".into()]);
    let permissive = policy(|c| {
        c.allow_force_push = true;
        c.allow_delete_remote = true;
        c.allow_tag_push = true;
    });
    let tags = policy(|c| c.allow_tag_push = true);
    // (policy, update, ancestry, expected: Ok or Err(substring), setting)
    type Case<'a> = (
        &'a Policy,
        RefUpdate,
        Ancestry,
        Result<(), &'a str>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (&default, upd("refs/heads/feature", Z, A), NotApplicable, Ok(()), None),
        (&default, upd("refs/heads/feature", A, B), FastForward, Ok(()), None),
        (&default, upd("refs/heads/main", Z, A), NotApplicable,
            Err("gitgate-less: branch 'main' is protected (BLOCKED_BRANCHES)"), Some("BLOCKED_BRANCHES")),
        (&default, upd("refs/heads/MAIN", A, B), FastForward,
            Err("branch 'MAIN' is protected (BLOCKED_BRANCHES)"), Some("BLOCKED_BRANCHES")),
        (&permissive, upd("refs/heads/master", A, Z), NotApplicable,
            Err("branch 'master' is protected (BLOCKED_BRANCHES)"), Some("BLOCKED_BRANCHES")),
        (&default, upd("refs/heads/feature", A, B), NotFastForward,
            Err("non-fast-forward update of branch 'feature' is not allowed (ALLOW_FORCE_PUSH)"), Some("ALLOW_FORCE_PUSH")),
        (&permissive, upd("refs/heads/feature", A, B), NotFastForward, Ok(()), None),
        (&default, upd("refs/heads/feature", A, Z), NotApplicable,
            Err("deleting branch 'feature' is not allowed (ALLOW_DELETE_REMOTE)"), Some("ALLOW_DELETE_REMOTE")),
        (&permissive, upd("refs/heads/feature", A, Z), NotApplicable, Ok(()), None),
        (&default, upd("refs/tags/v1", Z, A), NotApplicable,
            Err("pushing tag 'v1' is not allowed (ALLOW_TAG_PUSH)"), Some("ALLOW_TAG_PUSH")),
        (&permissive, upd("refs/tags/v1", Z, A), NotApplicable, Ok(()), None),
        (&tags, upd("refs/tags/v1", A, B), NotApplicable,
            Err("moving existing tag 'v1' is not allowed (ALLOW_FORCE_PUSH)"), Some("ALLOW_FORCE_PUSH")),
        (&tags, upd("refs/tags/v1", A, Z), NotApplicable,
            Err("deleting tag 'v1' is not allowed (ALLOW_DELETE_REMOTE)"), Some("ALLOW_DELETE_REMOTE")),
        (&permissive, upd("refs/notes/commits", Z, A), NotApplicable,
            Err("only branches (refs/heads/) and tags (refs/tags/) can be pushed; 'refs/notes/commits' refused"), None),
        (&permissive, upd("refs/pull/1/head", Z, A), NotApplicable, Err("'refs/pull/1/head' refused"), None),
        (&permissive, upd("HEAD", Z, A), NotApplicable, Err("'HEAD' refused"), None),
        (&default, upd("refs/heads/a..b", Z, A), NotApplicable, Err("is not a valid branch name"), None),
        (&default, upd("refs/heads/x", "zz", A), NotApplicable, Err("object ids must be hexadecimal"), None),
        (&default, upd("refs/heads/x", Z, Z), NotApplicable, Err("neither old nor new"), None),
        (&patterns, upd("refs/heads/claude/x", Z, A), NotApplicable, Ok(()), None),
        (&patterns, upd("refs/heads/claude/x/y", Z, A), NotApplicable,
            Err("does not match ALLOWED_BRANCH_PATTERNS [\"claude/*\"] (ALLOWED_BRANCH_PATTERNS)"), Some("ALLOWED_BRANCH_PATTERNS")),
        (&patterns, upd("refs/heads/other", Z, A), NotApplicable, Err("(ALLOWED_BRANCH_PATTERNS)"), Some("ALLOWED_BRANCH_PATTERNS")),
    ];
    for (i, (p, u, anc, want, setting)) in cases.into_iter().enumerate() {
        let got = p.check_ref_update(&u, anc);
        match (want, got) {
            (Ok(()), Ok(())) => {}
            (Err(sub), Err(d)) => {
                let sub = sub.strip_prefix("gitgate-less: ").unwrap_or(sub);
                assert!(
                    d.message.contains(sub),
                    "case {i}: {:?} lacks {sub:?}",
                    d.message
                );
                assert_eq!(d.setting, setting, "case {i}");
            }
            (w, g) => panic!("case {i} {u:?}: wanted {w:?}, got {g:?}"),
        }
    }
}

#[test]
fn push_options_are_refused() {
    let p = policy(|_| {});
    assert!(p.check_push_options(&[]).is_ok());
    let d = p.check_push_options(&["ci.skip".into()]).unwrap_err();
    assert_eq!(d.message, "push options are not allowed ('ci.skip')");
}

proptest! {
    #[test]
    fn never_panics(name in "\\PC{0,80}", old in "[0-9a-fz]{0,41}", new in "[0-9a-f]{0,41}", anc in 0..3u8) {
        let p = policy(|c| c.allowed_branch_patterns = vec!["claude/**".into()]);
        let anc = [FastForward, NotFastForward, NotApplicable][anc as usize];
        let d = p.check_ref_update(&upd(&name, &old, &new), anc);
        if let Err(d) = d {
            prop_assert!(!d.message.contains('\n'));
        }
    }
}
