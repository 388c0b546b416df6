//! Every `git push` form gitgate must understand, each with an allowed and a denied variant, checked end
//! to end: argv -> parse_push_args -> Policy::check_push.

use gitgate_policy::{parse_push_args, MemoryRepo, Policy, PolicyConfig, RefUpdate, Source};

/// Policy flags for a row: f = ALLOW_FORCE_PUSH, d = ALLOW_DELETE_REMOTE, t = ALLOW_TAG_PUSH,
/// p = ALLOWED_BRANCH_PATTERNS ["claude/*","feature/*"].
fn policy(flags: &str) -> Policy {
    let cfg = PolicyConfig {
        allow_force_push: flags.contains('f'),
        allow_delete_remote: flags.contains('d'),
        allow_tag_push: flags.contains('t'),
        allowed_branch_patterns: if flags.contains('p') {
            vec!["claude/*".into(), "feature/*".into()]
        } else {
            vec![]
        },
        ..PolicyConfig::default()
    };
    Policy::new(cfg).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum R {
    /// On claude/x; branches claude/x claude/y main feature/a wip/x both; tags v1 v2 both.
    Normal,
    /// Same refs, HEAD detached.
    Detached,
    /// On main.
    OnMain,
    /// On claude/x; branches claude/x claude/y only; no tags.
    Clean,
}

fn repo(r: R) -> MemoryRepo {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let full = MemoryRepo {
        current: Some("claude/x".into()),
        branches: s(&["claude/x", "claude/y", "main", "feature/a", "wip/x", "both"]),
        tags: s(&["v1", "v2", "both"]),
    };
    match r {
        R::Normal => full,
        R::Detached => MemoryRepo {
            current: None,
            ..full
        },
        R::OnMain => MemoryRepo {
            current: Some("main".into()),
            ..full
        },
        R::Clean => MemoryRepo {
            current: Some("claude/x".into()),
            branches: s(&["claude/x", "claude/y"]),
            tags: vec![],
        },
    }
}

enum E {
    /// Updates as (src, dst, force); src: "HEAD", "refs/…" (a local ref), "-" (delete), else an expression.
    Ok(&'static [(&'static str, &'static str, bool)]),
    /// Exact message and setting.
    Deny(&'static str, Option<&'static str>),
}
use E::{Deny, Ok as Allow};

fn update(src: &str, dst: &str, force: bool) -> RefUpdate {
    let src = match src {
        "-" => None,
        "HEAD" => Some(Source::Head),
        s if s.starts_with("refs/") => Some(Source::Ref(s.into())),
        s => Some(Source::Expr(s.into())),
    };
    RefUpdate {
        src,
        dst: dst.into(),
        force,
    }
}

const PROTECTED_MAIN: E = Deny(
    "push to 'main' refused: branch is protected (BLOCKED_BRANCHES)",
    Some("BLOCKED_BRANCHES"),
);
const FORCE_X: E = Deny(
    "force-push to 'claude/x' refused: force-pushing is disabled (set ALLOW_FORCE_PUSH=true to allow)",
    Some("ALLOW_FORCE_PUSH"),
);
const DELETE_X: E = Deny(
    "deleting remote branch 'claude/x' refused: deleting remote branches is disabled (ALLOW_DELETE_REMOTE)",
    Some("ALLOW_DELETE_REMOTE"),
);
const X: (&str, &str, bool) = ("refs/heads/claude/x", "refs/heads/claude/x", false);
const XF: (&str, &str, bool) = ("refs/heads/claude/x", "refs/heads/claude/x", true);
const DEL_X: (&str, &str, bool) = ("-", "refs/heads/claude/x", false);
const DETACHED: &str = "git push: HEAD is detached (not on a branch); name the destination, \
                        e.g. git push origin HEAD:refs/heads/<branch>";

#[rustfmt::skip]
fn rows() -> Vec<(&'static str, &'static str, R, &'static str, E)> {
    vec![
        // (form, policy flags, repo, argv, expectation)
        ("B", "", R::Normal, "origin claude/x", Allow(&[X])),
        ("B", "", R::Normal, "origin main", PROTECTED_MAIN),
        ("src:dst", "", R::Normal, "origin claude/x:claude/z", Allow(&[("refs/heads/claude/x", "refs/heads/claude/z", false)])),
        ("src:dst", "", R::Normal, "origin claude/x:master", Deny("push to 'master' refused: branch is protected (BLOCKED_BRANCHES)", Some("BLOCKED_BRANCHES"))),
        ("HEAD:dst", "", R::Detached, "origin HEAD:claude/new", Allow(&[("HEAD", "refs/heads/claude/new", false)])),
        ("HEAD:dst blocked case-insensitively", "", R::Normal, "origin HEAD:MAIN", Deny("push to 'MAIN' refused: branch is protected (BLOCKED_BRANCHES)", Some("BLOCKED_BRANCHES"))),
        ("@:dst", "", R::Normal, "origin @:claude/z", Allow(&[("HEAD", "refs/heads/claude/z", false)])),
        ("HEAD", "", R::Normal, "origin HEAD", Allow(&[("HEAD", "refs/heads/claude/x", false)])),
        ("HEAD detached", "", R::Detached, "origin HEAD", Deny("git push HEAD: HEAD is detached (not on a branch); name the destination, e.g. git push origin HEAD:refs/heads/<branch>", None)),
        ("HEAD on main", "", R::OnMain, "origin HEAD", PROTECTED_MAIN),
        ("refs/heads/ dst", "", R::Normal, "origin claude/x:refs/heads/claude/z", Allow(&[("refs/heads/claude/x", "refs/heads/claude/z", false)])),
        ("refs/heads/ dst", "", R::Normal, "origin claude/x:refs/heads/main", PROTECTED_MAIN),
        ("heads/ dst", "", R::Normal, "origin claude/x:heads/claude/z", Allow(&[("refs/heads/claude/x", "refs/heads/claude/z", false)])),
        ("heads/ dst", "", R::Normal, "origin claude/x:heads/main", PROTECTED_MAIN),
        ("refs/heads/ src", "", R::Normal, "origin refs/heads/claude/y", Allow(&[("refs/heads/claude/y", "refs/heads/claude/y", false)])),
        ("refs/heads/ src missing", "", R::Normal, "origin refs/heads/nope", Deny("git push: src refspec 'refs/heads/nope' does not match any local branch or tag", None)),
        ("heads/ src", "", R::Normal, "origin heads/claude/y", Allow(&[("refs/heads/claude/y", "refs/heads/claude/y", false)])),
        ("heads/ src", "", R::Normal, "origin heads/main", PROTECTED_MAIN),
        ("tags/ dst", "t", R::Normal, "origin claude/x:tags/t1", Allow(&[("refs/heads/claude/x", "refs/tags/t1", false)])),
        ("tags/ dst", "", R::Normal, "origin claude/x:tags/t1", Deny("push of tag 't1' refused: pushing tags is disabled (ALLOW_TAG_PUSH)", Some("ALLOW_TAG_PUSH"))),
        ("refs/tags/ dst", "t", R::Normal, "origin HEAD:refs/tags/t1", Allow(&[("HEAD", "refs/tags/t1", false)])),
        ("refs/tags/ dst", "", R::Normal, "origin HEAD:refs/tags/t1", Deny("push of tag 't1' refused: pushing tags is disabled (ALLOW_TAG_PUSH)", Some("ALLOW_TAG_PUSH"))),
        ("tag src", "t", R::Normal, "origin v1", Allow(&[("refs/tags/v1", "refs/tags/v1", false)])),
        ("tag src", "", R::Normal, "origin v1", Deny("push of tag 'v1' refused: pushing tags is disabled (ALLOW_TAG_PUSH)", Some("ALLOW_TAG_PUSH"))),
        ("tag src, unqualified dst is a tag", "t", R::Normal, "origin v1:v3", Allow(&[("refs/tags/v1", "refs/tags/v3", false)])),
        ("tag src to a branch", "", R::Normal, "origin v1:refs/heads/claude/rel", Allow(&[("refs/tags/v1", "refs/heads/claude/rel", false)])),
        ("tags/ src", "t", R::Normal, "origin tags/v2", Allow(&[("refs/tags/v2", "refs/tags/v2", false)])),
        ("tag force needs ALLOW_FORCE_PUSH", "t", R::Normal, "origin +v1", Deny("force-push of tag 'v1' refused: force-pushing is disabled (set ALLOW_FORCE_PUSH=true to allow)", Some("ALLOW_FORCE_PUSH"))),
        ("ambiguous src", "t", R::Normal, "origin both", Deny("git push: src refspec 'both' is ambiguous (it matches refs/tags/both and refs/heads/both); use the full name", None)),
        ("ambiguous src, full name", "", R::Normal, "origin refs/heads/both", Allow(&[("refs/heads/both", "refs/heads/both", false)])),
        ("sha src", "", R::Normal, "origin 1a2b3c4d:claude/z", Allow(&[("1a2b3c4d", "refs/heads/claude/z", false)])),
        ("expr src", "", R::Normal, "origin HEAD~1:main", PROTECTED_MAIN),
        ("expr src", "", R::Normal, "origin HEAD~1:refs/heads/claude/z", Allow(&[("HEAD~1", "refs/heads/claude/z", false)])),
        ("expr src without dst", "", R::Normal, "origin HEAD~1", Deny("git push: cannot tell which remote branch 'HEAD~1' should update; name the destination, e.g. git push origin 'HEAD~1:refs/heads/<branch>'", None)),
        ("remote-tracking src", "", R::Normal, "origin origin/claude/y:claude/y", Allow(&[("origin/claude/y", "refs/heads/claude/y", false)])),
        ("tree path src", "", R::Normal, "origin HEAD:dir:claude/z", Deny("git push: source 'HEAD:dir' refused: it names a path or a search, not a commit", None)),
        ("+ force", "f", R::Normal, "origin +claude/x", Allow(&[XF])),
        ("+ force", "", R::Normal, "origin +claude/x", FORCE_X),
        ("+ force to a blocked branch, force allowed", "f", R::Normal, "origin +claude/x:main", Deny("force-push to 'main' refused: branch is protected (BLOCKED_BRANCHES)", Some("BLOCKED_BRANCHES"))),
        (":dst delete", "d", R::Normal, "origin :claude/x", Allow(&[DEL_X])),
        (":dst delete", "", R::Normal, "origin :claude/x", DELETE_X),
        (":dst delete blocked, deletes allowed", "d", R::Normal, "origin :main", Deny("deleting remote branch 'main' refused: branch is protected (BLOCKED_BRANCHES)", Some("BLOCKED_BRANCHES"))),
        (":refs/tags delete", "dt", R::Normal, "origin :refs/tags/v1", Allow(&[("-", "refs/tags/v1", false)])),
        (":refs/tags delete", "t", R::Normal, "origin :refs/tags/v1", Deny("deleting remote tag 'v1' refused: deleting remote tags is disabled (ALLOW_DELETE_REMOTE)", Some("ALLOW_DELETE_REMOTE"))),
        ("--delete", "d", R::Normal, "origin --delete claude/x", Allow(&[DEL_X])),
        ("--delete", "", R::Normal, "origin --delete claude/x", DELETE_X),
        ("-d", "d", R::Normal, "-d origin claude/x claude/y", Allow(&[DEL_X, ("-", "refs/heads/claude/y", false)])),
        ("-d", "d", R::Normal, "-d origin main", Deny("deleting remote branch 'main' refused: branch is protected (BLOCKED_BRANCHES)", Some("BLOCKED_BRANCHES"))),
        ("--del (abbreviation)", "d", R::Normal, "origin --del refs/heads/claude/x", Allow(&[DEL_X])),
        ("--delete without refs", "d", R::Normal, "origin --delete", Deny("git push: --delete doesn't make sense without any refs; name the branch to delete", None)),
        ("--delete with src:dst", "d", R::Normal, "origin --delete a:b", Deny("git push: --delete only accepts plain target ref names", None)),
        ("--all", "", R::Clean, "origin --all", Allow(&[X, ("refs/heads/claude/y", "refs/heads/claude/y", false)])),
        ("--all", "", R::Normal, "origin --all", Deny("push to 'main' refused: branch is protected (BLOCKED_BRANCHES)", Some("BLOCKED_BRANCHES"))),
        ("--branches", "", R::Clean, "--branches", Allow(&[X, ("refs/heads/claude/y", "refs/heads/claude/y", false)])),
        ("--branches with patterns", "p", R::Clean, "--branches origin", Allow(&[X, ("refs/heads/claude/y", "refs/heads/claude/y", false)])),
        ("--all with a refspec", "", R::Clean, "origin --all claude/x", Deny("git push: --all can't be combined with refspecs", None)),
        ("--all --tags", "t", R::Clean, "origin --all --tags", Deny("git push: options '--tags' and '--all/--branches' cannot be used together", None)),
        ("--mirror", "fdt", R::Clean, "origin --mirror", Deny("git push --mirror refused: it would force-update and delete every remote ref", None)),
        ("--mirr (abbreviation)", "fdt", R::Clean, "--mirr", Deny("git push --mirror refused: it would force-update and delete every remote ref", None)),
        ("--no-mirror", "", R::Clean, "--no-mirror origin", Allow(&[X])),
        ("--tags", "t", R::Normal, "origin --tags", Allow(&[("refs/tags/v1", "refs/tags/v1", false), ("refs/tags/v2", "refs/tags/v2", false), ("refs/tags/both", "refs/tags/both", false)])),
        ("--tags", "", R::Clean, "origin --tags", Deny("git push --tags refused: pushing tags is disabled (ALLOW_TAG_PUSH)", Some("ALLOW_TAG_PUSH"))),
        ("--tags with nothing to push", "t", R::Clean, "origin --tags", Allow(&[])),
        ("--tags with a refspec", "t", R::Normal, "origin claude/x --tags", Allow(&[X, ("refs/tags/v1", "refs/tags/v1", false), ("refs/tags/v2", "refs/tags/v2", false), ("refs/tags/both", "refs/tags/both", false)])),
        ("--follow-tags", "t", R::Normal, "--follow-tags", Allow(&[X])),
        ("--follow-tags", "", R::Normal, "--follow-tags", Deny("git push --follow-tags refused: pushing tags is disabled (ALLOW_TAG_PUSH)", Some("ALLOW_TAG_PUSH"))),
        ("-f", "f", R::Normal, "-f origin claude/x", Allow(&[XF])),
        ("-f", "", R::Normal, "-f origin claude/x", FORCE_X),
        ("--force", "f", R::Normal, "origin claude/x --force", Allow(&[XF])),
        ("--force", "", R::Normal, "origin claude/x --force", FORCE_X),
        ("--force applies to all", "f", R::Normal, "--force origin claude/x claude/y", Allow(&[XF, ("refs/heads/claude/y", "refs/heads/claude/y", true)])),
        ("--force-with-lease", "f", R::Normal, "--force-with-lease", Allow(&[XF])),
        ("--force-with-lease=ref:expect", "", R::Normal, "--force-with-lease=claude/x:abc123 origin claude/x", FORCE_X),
        ("--force-with-lease then --no-force-with-lease", "", R::Normal, "--force-with-lease --no-force-with-lease", Allow(&[X])),
        ("-f then --no-force-with-lease stays force", "", R::Normal, "-f --no-force-with-lease", FORCE_X),
        ("--force-if-includes", "f", R::Normal, "--force-if-includes", Allow(&[XF])),
        ("--force-if-includes", "", R::Normal, "--force-if-includes", FORCE_X),
        ("--force-w (abbreviation)", "", R::Normal, "--force-w", FORCE_X),
        ("--forc is ambiguous (as in git)", "f", R::Normal, "--forc", Deny("git push: ambiguous option '--forc' refused (could be --force, --force-with-lease, --force-if-includes); spell it out", None)),
        ("--fo is ambiguous", "f", R::Normal, "--fo", Deny("git push: ambiguous option '--fo' refused (could be --force, --force-with-lease, --force-if-includes, --follow-tags); spell it out", None)),
        ("--no-force", "", R::Normal, "-f --no-force", Allow(&[X])),
        ("-fu", "f", R::Normal, "-fu origin claude/x", Allow(&[XF])),
        ("-uf", "", R::Normal, "-uf origin claude/x", FORCE_X),
        ("-nu", "", R::Normal, "-nu origin claude/x", Allow(&[X])),
        ("-nu", "", R::Normal, "-nu origin main", PROTECTED_MAIN),
        ("-dq", "d", R::Normal, "-dq origin claude/x", Allow(&[DEL_X])),
        ("-dq", "", R::Normal, "-dq origin claude/x", DELETE_X),
        ("-qv4", "", R::Normal, "-qv4", Allow(&[X])),
        ("-x in a cluster", "", R::Normal, "-ux", Deny("git push: unknown option '-x' refused (gitgate only accepts options it understands)", None)),
        ("--repo=X", "", R::Normal, "--repo=origin", Allow(&[X])),
        ("--repo X", "", R::Normal, "--repo origin", Allow(&[X])),
        ("--repo without a value", "", R::Normal, "--repo", Deny("git push: option '--repo' requires a value", None)),
        ("--repo=X on main", "", R::OnMain, "--repo=origin", PROTECTED_MAIN),
        ("-u", "", R::Normal, "-u origin claude/x", Allow(&[X])),
        ("--set-upstream", "", R::Normal, "--set-upstream origin main", PROTECTED_MAIN),
        ("--dry-run", "", R::Normal, "--dry-run origin claude/x", Allow(&[X])),
        ("-n", "", R::Normal, "-n origin :claude/x", DELETE_X),
        ("-q -v --porcelain", "", R::Normal, "-q -v --porcelain origin claude/x", Allow(&[X])),
        ("--porcelain=x", "", R::Normal, "--porcelain=x", Deny("git push: option '--porcelain=x' takes no value", None)),
        ("--atomic/--no-atomic", "", R::Normal, "--atomic --no-atomic origin claude/x claude/y", Allow(&[X, ("refs/heads/claude/y", "refs/heads/claude/y", false)])),
        ("--atomic", "", R::Normal, "--atomic origin claude/x main", PROTECTED_MAIN),
        ("--progress --no-progress --thin --no-thin", "", R::Normal, "--progress --no-progress --thin --no-thin", Allow(&[X])),
        ("-4 -6 --ipv4 --ipv6", "", R::Normal, "-4 -6 --ipv4 --ipv6", Allow(&[X])),
        ("--no-ipv4 does not exist", "", R::Normal, "--no-ipv4", Deny("git push: unknown option '--no-ipv4' refused (gitgate only accepts options it understands)", None)),
        ("--no-verify --verify", "", R::Normal, "--no-verify --verify", Allow(&[X])),
        ("--no-verify", "", R::OnMain, "--no-verify", PROTECTED_MAIN),
        ("-- end of options", "", R::Normal, "origin -- claude/x", Allow(&[X])),
        ("-- end of options", "", R::Normal, "origin -- -f", Deny("git push: src refspec '-f' does not match any local branch or tag, and is not a commit name", None)),
        ("https URL", "", R::Normal, "https://github.com/acme/app.git claude/x", Allow(&[X])),
        ("https URL", "", R::Normal, "https://github.com/acme/app.git main", PROTECTED_MAIN),
        ("scp-like URL", "", R::Normal, "git@github.com:acme/app.git", Allow(&[X])),
        ("path URL", "", R::OnMain, "../other.git", PROTECTED_MAIN),
        ("no refspec", "", R::Normal, "", Allow(&[X])),
        ("no refspec", "", R::OnMain, "", PROTECTED_MAIN),
        ("no refspec, remote only", "p", R::Normal, "origin", Allow(&[X])),
        ("no refspec, detached", "", R::Detached, "origin", Deny(DETACHED, None)),
        ("--receive-pack", "fdt", R::Normal, "--receive-pack=/bin/sh origin", Deny("git push: option '--receive-pack' refused: it changes what runs on the remote", None)),
        ("--exec X", "fdt", R::Normal, "--exec /bin/sh origin", Deny("git push: option '--exec' refused: it changes what runs on the remote", None)),
        ("--no-receive-pack", "", R::Normal, "--no-receive-pack", Allow(&[X])),
        ("-o", "fdt", R::Normal, "-o ci.skip origin", Deny("git push: option '--push-option' refused: push options are handed to the server's hooks and are not supported", None)),
        ("-uoX", "fdt", R::Normal, "-uoci.skip origin", Deny("git push: option '--push-option' refused: push options are handed to the server's hooks and are not supported", None)),
        ("--push-option=", "fdt", R::Normal, "--push-option=x", Deny("git push: option '--push-option' refused: push options are handed to the server's hooks and are not supported", None)),
        ("--signed", "fdt", R::Normal, "--signed", Deny("git push: option '--signed' refused: signed pushes would run a signing program and are not supported", None)),
        ("--sign (abbreviation)", "fdt", R::Normal, "--sign=if-asked", Deny("git push: option '--signed' refused: signed pushes would run a signing program and are not supported", None)),
        ("--no-signed", "", R::Normal, "--no-signed", Allow(&[X])),
        ("--recurse-submodules=no", "", R::Normal, "--recurse-submodules=no", Allow(&[X])),
        ("--recurse-submodules=check", "", R::Normal, "--recurse-submodules=check", Deny("git push: option '--recurse-submodules' refused: pushing submodules is not supported (only --recurse-submodules=no)", None)),
        ("--recurse-submodules X", "", R::Normal, "--recurse-submodules on-demand origin", Deny("git push: option '--recurse-submodules' refused: pushing submodules is not supported (only --recurse-submodules=no)", None)),
        ("--prune", "fdt", R::Normal, "--prune origin", Deny("git push: option '--prune' refused: it deletes remote branches that have no local counterpart", None)),
        ("--no-prune", "", R::Normal, "--no-prune", Allow(&[X])),
        ("unknown option", "fdt", R::Normal, "--frobnicate", Deny("git push: unknown option '--frobnicate' refused (gitgate only accepts options it understands)", None)),
        ("matching refspec ':'", "fdt", R::Normal, "origin :", Deny("git push: refspec ':' refused: it pushes every branch that exists on both sides; name the branches to push", None)),
        ("matching refspec '+:'", "fdt", R::Normal, "origin +:", Deny("git push: refspec '+:' refused: it pushes every branch that exists on both sides; name the branches to push", None)),
        ("empty destination", "", R::Normal, "origin claude/x:", Deny("git push: refspec 'claude/x:' refused: empty destination; write src:dst or just src", None)),
        ("glob refspec", "fdt", R::Normal, "origin refs/heads/*:refs/heads/*", Deny("git push: refspec 'refs/heads/*:refs/heads/*' refused: wildcard refspecs are not supported; name each branch (e.g. git push origin my-branch)", None)),
        ("several refspecs", "", R::Normal, "origin claude/x claude/y:feature/b", Allow(&[X, ("refs/heads/claude/y", "refs/heads/feature/b", false)])),
        ("several refspecs, one blocked", "", R::Normal, "origin claude/x main claude/y", PROTECTED_MAIN),
        ("duplicate refspec", "", R::Normal, "origin claude/x claude/x", Allow(&[X])),
        ("two sources for one ref", "", R::Normal, "origin claude/x:claude/z claude/y:claude/z", Deny("git push: more than one update for 'refs/heads/claude/z' refused; push it once", None)),
        ("allowed patterns", "p", R::Normal, "origin feature/a", Allow(&[("refs/heads/feature/a", "refs/heads/feature/a", false)])),
        ("allowed patterns", "p", R::Normal, "origin wip/x", Deny("push to 'wip/x' refused: branch does not match ALLOWED_BRANCH_PATTERNS [\"claude/*\",\"feature/*\"]", Some("ALLOWED_BRANCH_PATTERNS"))),
        ("allowed patterns, * stops at /", "p", R::Normal, "origin HEAD:claude/x/y", Deny("push to 'claude/x/y' refused: branch does not match ALLOWED_BRANCH_PATTERNS [\"claude/*\",\"feature/*\"]", Some("ALLOWED_BRANCH_PATTERNS"))),
        ("allowed patterns are case-sensitive", "p", R::Normal, "origin HEAD:Claude/x", Deny("push to 'Claude/x' refused: branch does not match ALLOWED_BRANCH_PATTERNS [\"claude/*\",\"feature/*\"]", Some("ALLOWED_BRANCH_PATTERNS"))),
        ("delete outside the patterns", "dp", R::Normal, "origin :wip/x", Deny("deleting remote branch 'wip/x' refused: branch does not match ALLOWED_BRANCH_PATTERNS [\"claude/*\",\"feature/*\"]", Some("ALLOWED_BRANCH_PATTERNS"))),
        ("invalid branch name", "", R::Normal, "origin HEAD:a..b", Deny("push to 'a..b' refused: invalid branch name: it contains '..'", None)),
        ("dst HEAD is not a branch", "", R::Normal, "origin claude/x:HEAD", Deny("push to 'HEAD' refused: invalid branch name: 'HEAD' is not a branch", None)),
        ("other refs", "fdt", R::Normal, "origin HEAD:refs/notes/commits", Deny("push to 'refs/notes/commits' refused: only branches (refs/heads/) and tags (refs/tags/) can be pushed", None)),
        ("other refs, delete", "fdt", R::Normal, "origin :refs/meta/config", Deny("deleting remote ref 'refs/meta/config' refused: only branches (refs/heads/) and tags (refs/tags/) can be deleted", None)),
        ("empty repository", "", R::Normal, "\"\"", Deny("git push: empty repository name refused; name a remote such as origin", None)),
    ]
}

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|w| {
            if w == "\"\"" {
                String::new()
            } else {
                w.to_string()
            }
        })
        .collect()
}

#[test]
fn push_forms() {
    let rows = rows();
    assert!(rows.len() >= 40);
    let mut failures = Vec::new();
    for (form, flags, r, args, expect) in rows {
        let policy = policy(flags);
        let repo = repo(r);
        let got = parse_push_args(&argv(args)).and_then(|a| policy.check_push(&a, &repo));
        let ok = match (&expect, &got) {
            (Allow(want), Ok(updates)) => {
                let want: Vec<RefUpdate> = want.iter().map(|(s, d, f)| update(s, d, *f)).collect();
                // Whatever check_push returns, check_update must accept on its own.
                for u in updates {
                    assert_eq!(policy.check_update(u), Ok(()), "{form}: {u:?}");
                }
                want == *updates
            }
            (Deny(msg, setting), Err(d)) => d.message == *msg && d.setting == *setting,
            _ => false,
        };
        if !ok {
            let want = match &expect {
                Allow(u) => format!("Ok({u:?})"),
                Deny(m, s) => format!("Deny({m:?}, {s:?})"),
            };
            failures.push(format!(
                "[{form}] flags={flags:?} repo={r:?} argv={args:?}\n   want {want}\n    got {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
