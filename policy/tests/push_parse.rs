//! parse_push_args fields, remote classification, refspec parsing, the pre-push hook line, check_branch.

use gitgate_policy::{
    parse_pre_push_line, parse_push_args, Policy, PolicyConfig, PushArgs, RefUpdate, Refspec,
    RemoteArg, Source,
};

fn parse(s: &str) -> PushArgs {
    let args: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    parse_push_args(&args).unwrap_or_else(|d| panic!("{s}: {d}"))
}

fn rs(force: bool, src: Option<&str>, dst: Option<&str>) -> Refspec {
    Refspec {
        force,
        src: src.map(str::to_string),
        dst: dst.map(str::to_string),
    }
}

#[test]
fn flags_are_recorded() {
    let a = parse("-fu origin x");
    assert!(a.force && a.set_upstream && !a.dry_run);
    assert_eq!(a.remote, RemoteArg::Name("origin".into()));
    assert_eq!(a.refspecs, [rs(false, Some("x"), None)]);

    let a = parse("-nu");
    assert!(a.dry_run && a.set_upstream && !a.force);
    assert_eq!(a.remote, RemoteArg::Default);
    assert!(a.refspecs.is_empty());

    let a = parse("-dq origin x");
    assert!(a.delete && a.quiet);

    let a = parse("--porcelain --atomic -v --follow-tags --tags");
    assert!(a.porcelain && a.atomic && a.verbose && a.follow_tags && a.tags);

    let a = parse("--atomic --no-atomic --all --no-all");
    assert!(!a.atomic && !a.all_branches);

    let a = parse("--branches");
    assert!(a.all_branches);

    assert!(parse("--force-with-lease=main:abc").force);
    assert!(parse("--force-if-includes").force);
    assert!(!parse("--force-with-lease --no-force-with-lease").force);
    assert!(parse("-f --no-force-with-lease").force);
    assert!(!parse("-f --no-force").force);
    assert!(parse("--del x").delete);
}

#[test]
fn options_after_positionals_and_double_dash() {
    let a = parse("origin x -f");
    assert!(a.force);
    assert_eq!(a.refspecs, [rs(false, Some("x"), None)]);
    let a = parse("origin -- -f");
    assert!(!a.force);
    assert_eq!(a.refspecs, [rs(false, Some("-f"), None)]);
    // A lone "-" is an argument (the repository), not an option; as a remote name it is refused.
    let d = parse_push_args(&["-".to_string()]).unwrap_err();
    assert_eq!(
        d.message,
        "git push: remote name '-' refused: it starts with '-'"
    );
}

#[test]
fn repo_option_and_positional() {
    assert_eq!(parse("--repo=up").remote, RemoteArg::Name("up".into()));
    assert_eq!(parse("--repo up").remote, RemoteArg::Name("up".into()));
    assert_eq!(parse("--rep=up").remote, RemoteArg::Name("up".into()));
    assert_eq!(parse("--repo=up --no-repo").remote, RemoteArg::Default);
    // As in git, the first positional argument is the repository even with --repo.
    let a = parse("--repo=up other x");
    assert_eq!(a.remote, RemoteArg::Name("other".into()));
    assert_eq!(a.refspecs, [rs(false, Some("x"), None)]);
}

#[test]
fn remote_classification() {
    for url in [
        "https://github.com/o/r.git",
        "http://127.0.0.1:8080/o/r.git",
        "ssh://git@github.com/o/r.git",
        "git@github.com:o/r.git",
        "host:o/r",
        "/srv/repo.git",
        "./repo",
        "../repo",
        "..",
        "ext::sh -c x",
        "dir/repo",
    ] {
        assert_eq!(
            RemoteArg::classify(url),
            RemoteArg::Url(url.into()),
            "{url}"
        );
    }
    for name in ["origin", "upstream", "my-fork_2"] {
        assert_eq!(RemoteArg::classify(name), RemoteArg::Name(name.into()));
    }
}

#[test]
fn refspec_forms() {
    assert_eq!(Refspec::parse("b").unwrap(), rs(false, Some("b"), None));
    assert_eq!(
        Refspec::parse("a:b").unwrap(),
        rs(false, Some("a"), Some("b"))
    );
    assert_eq!(
        Refspec::parse("+a:b").unwrap(),
        rs(true, Some("a"), Some("b"))
    );
    assert_eq!(Refspec::parse(":b").unwrap(), rs(false, None, Some("b")));
    assert_eq!(
        Refspec::parse("HEAD:b").unwrap(),
        rs(false, Some("HEAD"), Some("b"))
    );
    // Git splits at the last colon.
    assert_eq!(
        Refspec::parse("a:b:c").unwrap(),
        rs(false, Some("a:b"), Some("c"))
    );
    for bad in ["", "+", ":", "+:", "a:", "a*", "refs/heads/*:refs/heads/*"] {
        assert!(Refspec::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn parse_errors() {
    let p = |s: &[&str]| {
        parse_push_args(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
            .unwrap_err()
            .message
    };
    assert_eq!(
        p(&["--force=yes"]),
        "git push: option '--force=yes' takes no value"
    );
    assert_eq!(
        p(&["--no-repo=x"]),
        "git push: option '--no-repo=x' takes no value"
    );
    assert_eq!(
        p(&["-o"]),
        "git push: option '--push-option' requires a value"
    );
    assert_eq!(
        p(&["--\u{1b}[31m"]),
        "git push: unknown option '--\\u{1b}[31m' refused (gitgate only accepts options it understands)"
    );
    assert!(p(&["-h"]).contains("unknown option '-h'"));
    assert!(p(&["-é"]).contains("unknown option '-\\u{e9}'"));
    assert!(p(&["--n"]).contains("ambiguous"));
}

const ZERO: &str = "0000000000000000000000000000000000000000";
const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";

#[test]
fn pre_push_lines() {
    assert_eq!(
        parse_pre_push_line(&format!("refs/heads/x {A} refs/heads/x {ZERO}\n")).unwrap(),
        RefUpdate {
            src: Some(Source::Ref("refs/heads/x".into())),
            dst: "refs/heads/x".into(),
            force: false
        }
    );
    assert_eq!(
        parse_pre_push_line(&format!("(delete) {ZERO} refs/heads/x {B}")).unwrap(),
        RefUpdate {
            src: None,
            dst: "refs/heads/x".into(),
            force: false
        }
    );
    assert_eq!(
        parse_pre_push_line(&format!("HEAD {A} refs/heads/y {B}")).unwrap(),
        RefUpdate {
            src: Some(Source::Expr(A.into())),
            dst: "refs/heads/y".into(),
            force: false
        }
    );
    let sha256 = "a".repeat(64);
    assert!(parse_pre_push_line(&format!(
        "refs/tags/v1 {sha256} refs/tags/v1 {}",
        "0".repeat(64)
    ))
    .is_ok());
    for bad in [
        String::new(),
        format!("refs/heads/x {A} refs/heads/x"),
        format!("refs/heads/x {A} refs/heads/x {B} extra"),
        format!("refs/heads/x  {A} refs/heads/x {B}"),
        format!("refs/heads/x xyz refs/heads/x {B}"),
        format!("refs/heads/x {A} x {B}"),
        format!(" {A} refs/heads/x {B}"),
    ] {
        let d = parse_pre_push_line(&bad).unwrap_err();
        assert!(
            d.message.starts_with("pre-push: malformed line"),
            "{bad:?}: {d}"
        );
    }
}

#[test]
fn pre_push_then_policy() {
    let p = Policy::new(PolicyConfig::default()).unwrap();
    let u = parse_pre_push_line(&format!("refs/heads/main {A} refs/heads/main {B}")).unwrap();
    assert_eq!(
        p.check_update(&u).unwrap_err().to_string(),
        "push to 'main' refused: branch is protected (BLOCKED_BRANCHES)"
    );
    let u = parse_pre_push_line(&format!("(delete) {ZERO} refs/heads/claude/x {B}")).unwrap();
    assert_eq!(
        p.check_update(&u).unwrap_err().setting,
        Some("ALLOW_DELETE_REMOTE")
    );
}

#[test]
fn check_branch_for_gh() {
    let p = Policy::new(PolicyConfig {
        allowed_branch_patterns: vec!["claude/**".into()],
        ..PolicyConfig::default()
    })
    .unwrap();
    assert_eq!(p.check_branch("claude/a/b"), Ok(()));
    assert_eq!(
        p.check_branch("MASTER").unwrap_err().setting,
        Some("BLOCKED_BRANCHES")
    );
    assert_eq!(
        p.check_branch("other").unwrap_err().setting,
        Some("ALLOWED_BRANCH_PATTERNS")
    );
    assert_eq!(
        p.check_branch("refs/heads/main").unwrap_err().to_string(),
        "push to 'refs/heads/main' refused: invalid branch name: it starts with 'refs/'; \
         give the short name (refs/heads/x is branch 'x')"
    );
    assert!(p.check_branch("claude/a b").is_err());
    assert!(p.check_branch("").is_err());
}

#[test]
fn remote_names_are_validated() {
    let p = |s: &[&str]| parse_push_args(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(
        p(&["up-stream_2"]).unwrap().remote,
        RemoteArg::Name("up-stream_2".into())
    );
    assert_eq!(
        p(&["a b"]).unwrap_err().message,
        "git push: remote name 'a b' refused: it contains a space; only ASCII letters, digits and . _ / - are accepted"
    );
    assert!(p(&["-"]).is_err());
    assert!(p(&["--", "-x"]).is_err());
}

#[test]
fn delete_takes_plain_names_only() {
    let p = Policy::new(PolicyConfig {
        allow_delete_remote: true,
        ..PolicyConfig::default()
    })
    .unwrap();
    let repo = gitgate_policy::MemoryRepo::default();
    for argv in [
        &["-d", "origin", ":x"][..],
        &["-d", "origin", "+x"],
        &["-d", "origin", "a:b"],
    ] {
        let args =
            parse_push_args(&argv.iter().map(|x| x.to_string()).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            p.check_push(&args, &repo).unwrap_err().message,
            "git push: --delete only accepts plain target ref names",
            "{argv:?}"
        );
    }
}

#[test]
fn repo_urls() {
    let p = Policy::new(PolicyConfig {
        allowed_repos: vec!["acme/*".into()],
        allowed_hosts: vec!["github.com".into(), "127.0.0.1:8080".into()],
        ..PolicyConfig::default()
    })
    .unwrap();
    let r = p.check_repo_url("https://github.com/ACME/app.git").unwrap();
    assert_eq!(
        (r.host.as_str(), r.slug()),
        ("github.com", "ACME/app".to_string())
    );
    assert!(p.check_repo_url("git@github.com:acme/app.git").is_ok());
    assert!(p
        .check_repo_url("http://127.0.0.1:8080/acme/app.git")
        .is_ok());
    let d = p
        .check_repo_url("https://github.com/evil/app.git")
        .unwrap_err();
    assert_eq!(
        (d.message.as_str(), d.setting),
        (
            "remote 'https://github.com/evil/app.git' refused: repository 'evil/app' is not in ALLOWED_REPOS [\"acme/*\"]",
            Some("ALLOWED_REPOS")
        )
    );
    let d = p
        .check_repo_url("https://gitlab.com/acme/app.git")
        .unwrap_err();
    assert_eq!(d.setting, Some("ALLOWED_HOSTS"));
    assert_eq!(
        d.message,
        "remote 'https://gitlab.com/acme/app.git' refused: host 'gitlab.com' is not in ALLOWED_HOSTS [\"github.com\",\"127.0.0.1:8080\"]"
    );
    let d = p.check_repo_url("ext::sh -c id").unwrap_err();
    assert_eq!(d.setting, None);
    assert!(d
        .message
        .starts_with("remote 'ext::sh -c id' refused: not a repository URL"));
    assert!(p
        .check_repo_url("https://u:p@github.com/acme/app.git")
        .is_err());
}
