//! Property tests: for any argv, `parse_push_args` + `check_push` either refuse, or return updates that
//! each pass `check_update` and respect every setting. Never a panic.

use gitgate_policy::{parse_push_args, MemoryRepo, Policy, PolicyConfig};
use proptest::prelude::*;

/// Real `git push` option spellings (and near misses), with and without values.
const OPTIONS: &[&str] = &[
    "-v",
    "-q",
    "-d",
    "-n",
    "-f",
    "-u",
    "-o",
    "-4",
    "-6",
    "-fu",
    "-uf",
    "-nu",
    "-dq",
    "-df",
    "-h",
    "--verbose",
    "--quiet",
    "--repo",
    "--repo=origin",
    "--all",
    "--branches",
    "--mirror",
    "--mirr",
    "--delete",
    "--del",
    "--tags",
    "--dry-run",
    "--porcelain",
    "--force",
    "--forc",
    "--fo",
    "--f",
    "--force-with-lease",
    "--force-with-lease=main",
    "--force-with-lease=main:abc",
    "--no-force-with-lease",
    "--force-if-includes",
    "--recurse-submodules",
    "--recurse-submodules=no",
    "--recurse-submodules=check",
    "--thin",
    "--no-thin",
    "--receive-pack",
    "--receive-pack=x",
    "--exec=x",
    "--set-upstream",
    "--progress",
    "--no-progress",
    "--prune",
    "--no-prune",
    "--no-verify",
    "--verify",
    "--follow-tags",
    "--signed",
    "--signed=no",
    "--sign",
    "--no-signed",
    "--atomic",
    "--no-atomic",
    "--push-option=x",
    "--ipv4",
    "--ipv6",
    "--no-ipv4",
    "--no-force",
    "--no-tags",
    "--no-delete",
    "--no-mirror",
    "--",
    "-",
    "--frobnicate",
    "--no-",
    "--n",
    "--=x",
];

/// Names that resolve or push successfully somewhere in the generated repos and policies.
const GOOD: &[&str] = &[
    "claude/x",
    "claude/y",
    "feature/a",
    "feature/b/c",
    "wip/x",
    "v1",
    "HEAD",
    "@",
    "abc1234",
    "HEAD~1",
    "heads/claude/x",
    "tags/v1",
    "refs/heads/claude/y",
    "refs/tags/v1",
    "main",
    "MAIN",
    "master",
    "both",
];

/// Names that should be refused or resolved with care.
const BAD: &[&str] = &[
    "origin",
    "Main",
    "claude/x/y",
    "heads/main",
    "refs/heads/main",
    "refs/notes/x",
    "refs/heads/",
    "a..b",
    "-x",
    "",
    "x.lock",
    ".hidden",
    "origin/main",
    "https://github.com/a/b.git",
    "git@github.com:a/b",
    "../x",
    "main@{1}",
    "a b",
    "ma\u{0}in",
    "é",
    "*",
    "refs/heads/*",
    "HEAD:x",
    ":/msg",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(GOOD).prop_map(str::to_string),
        2 => prop::sample::select(BAD).prop_map(str::to_string),
        1 => "[a-zA-Z0-9/._@{}~^:+*-]{0,12}",
    ]
}

fn refspec() -> impl Strategy<Value = String> {
    // Mostly well-formed `[+]src`, `[+]src:dst`, `:dst`; the odd forms (`:`, `a:`, ``) come from BAD and
    // the random strings.
    (
        prop::bool::weighted(0.2),
        prop::option::weighted(0.85, name()),
        prop::option::of(name()),
    )
        .prop_map(|(plus, src, dst)| {
            let plus = if plus { "+" } else { "" };
            match (src, dst) {
                (Some(s), None) => format!("{plus}{s}"),
                (Some(s), Some(d)) => format!("{plus}{s}:{d}"),
                (None, d) => format!("{plus}:{}", d.unwrap_or_default()),
            }
        })
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(OPTIONS).prop_map(str::to_string),
        3 => name(),
        3 => refspec(),
        1 => "-[a-z0-9]{1,4}",
        1 => "--[a-z-]{0,14}(=[a-z:]{0,6})?",
        1 => ".{0,20}",
    ]
}

/// Mostly random argv, plus argv shaped like real pushes (so that many cases get past the refusals and
/// exercise the success path).
fn argv() -> impl Strategy<Value = Vec<String>> {
    let random = prop::collection::vec(arg(), 0..8);
    let benign = prop::sample::select(
        &[
            "-u",
            "-n",
            "-q",
            "-v",
            "-f",
            "-d",
            "--force-with-lease",
            "--tags",
            "--follow-tags",
            "--all",
            "--atomic",
            "--porcelain",
            "--no-verify",
            "--progress",
            "--thin",
            "-4",
            "--",
        ][..],
    )
    .prop_map(str::to_string);
    let plausible = (
        prop::collection::vec(benign, 0..3),
        prop::option::of(prop::sample::select(
            &["origin", "https://github.com/a/b.git"][..],
        )),
        prop::collection::vec(refspec(), 0..4),
    )
        .prop_map(|(mut opts, remote, refspecs)| {
            opts.extend(remote.map(str::to_string));
            opts.extend(refspecs);
            opts
        });
    prop_oneof![1 => random, 2 => plausible]
}

fn repo() -> impl Strategy<Value = MemoryRepo> {
    let branches = prop::collection::vec(name(), 0..6);
    let tags = prop::collection::vec(name(), 0..4);
    let current = prop_oneof![1 => Just(None), 4 => name().prop_map(Some)];
    (current, branches, tags).prop_map(|(current, branches, tags)| MemoryRepo {
        current,
        branches,
        tags,
    })
}

fn config() -> impl Strategy<Value = PolicyConfig> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(f, d, t, p)| {
        PolicyConfig {
            allow_force_push: f,
            allow_delete_remote: d,
            allow_tag_push: t,
            allowed_branch_patterns: if p {
                vec!["claude/*".into(), "feature/**".into()]
            } else {
                vec![]
            },
            ..PolicyConfig::default()
        }
    })
}

fn blocked(branch: &str) -> bool {
    branch.eq_ignore_ascii_case("main") || branch.eq_ignore_ascii_case("master")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Default policy: anything returned is a non-forced update of a branch that is not blocked.
    #[test]
    fn default_policy_only_pushes_allowed_branches(args in argv(), repo in repo()) {
        let policy = Policy::new(PolicyConfig::default()).unwrap();
        if let Ok(updates) = parse_push_args(&args).and_then(|a| policy.check_push(&a, &repo)) {
            for u in &updates {
                prop_assert_eq!(policy.check_update(u), Ok(()));
                let branch = u.dst.strip_prefix("refs/heads/");
                prop_assert!(branch.is_some(), "not a branch: {:?}", u);
                prop_assert!(!blocked(branch.unwrap()), "blocked: {:?}", u);
                prop_assert!(u.src.is_some() && !u.force, "{:?}", u);
            }
        }
    }

    /// Any policy: every update passes check_update and respects each setting; refusals are one line.
    #[test]
    fn any_policy_respects_its_settings(args in argv(), repo in repo(), cfg in config()) {
        let policy = Policy::new(cfg.clone()).unwrap();
        match parse_push_args(&args).and_then(|a| policy.check_push(&a, &repo)) {
            Ok(updates) => {
                for u in &updates {
                    prop_assert_eq!(policy.check_update(u), Ok(()));
                    let (is_tag, name) = match (u.dst.strip_prefix("refs/heads/"), u.dst.strip_prefix("refs/tags/")) {
                        (Some(b), _) => (false, b),
                        (_, Some(t)) => (true, t),
                        _ => return Err(TestCaseError::fail(format!("bad dst {:?}", u))),
                    };
                    prop_assert!(cfg.allow_tag_push || !is_tag, "{:?}", u);
                    prop_assert!(cfg.allow_delete_remote || u.src.is_some(), "{:?}", u);
                    prop_assert!(cfg.allow_force_push || !u.force || u.src.is_none(), "{:?}", u);
                    prop_assert!(gitgate_policy::refname::validate(name).is_ok(), "{:?}", u);
                    if !is_tag {
                        prop_assert!(!blocked(name), "{:?}", u);
                    }
                }
            }
            Err(d) => {
                prop_assert!(!d.message.contains('\n') && !d.message.is_empty());
                prop_assert!(!d.message.starts_with("gitgate:"));
            }
        }
    }

    /// Arbitrary bytes-as-text never panic anywhere in the public API.
    #[test]
    fn arbitrary_text_never_panics(s in ".{0,40}", args in prop::collection::vec(".{0,12}", 0..6)) {
        let policy = Policy::new(PolicyConfig::default()).unwrap();
        let _ = gitgate_policy::parse_remote_url(&s);
        let _ = gitgate_policy::parse_pre_push_line(&s);
        let _ = policy.check_branch(&s);
        let _ = policy.repo_allowed(&s);
        let _ = policy.host_allowed(&s);
        let repo = MemoryRepo { current: Some(s.clone()), branches: args.clone(), tags: args.clone() };
        let _ = parse_push_args(&args).and_then(|a| policy.check_push(&a, &repo));
    }
}
