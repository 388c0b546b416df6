//! `git push`'s option table and git's long-option matching (parse-options.c), so that abbreviations and
//! `--no-` forms mean exactly what they mean to git — no more (an option git would reject must not pass
//! here as something else) and no less (`--mirr` must be seen as `--mirror`).
//!
//! The table is git 2.47's `builtin/push.c`.

use crate::denial::{quote, Denial};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    Verbose,
    Quiet,
    Repo,
    All,
    Mirror,
    Delete,
    Tags,
    DryRun,
    Porcelain,
    Force,
    ForceWithLease,
    ForceIfIncludes,
    RecurseSubmodules,
    Thin,
    ReceivePack,
    Exec,
    SetUpstream,
    Progress,
    Prune,
    NoVerify,
    FollowTags,
    Signed,
    Atomic,
    PushOption,
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgKind {
    /// `--opt`; `--opt=x` is an error.
    None,
    /// `--opt=x` or `--opt x`.
    Required,
    /// `--opt` or `--opt=x` (never the next argument).
    Optional,
}

pub(crate) struct Spec {
    pub long: &'static str,
    pub short: Option<char>,
    pub opt: Opt,
    pub arg: ArgKind,
    /// Git accepts `--no-<long>` (all options unless marked PARSE_OPT_NONEG).
    pub negatable: bool,
}

const fn spec(long: &'static str, short: Option<char>, opt: Opt, arg: ArgKind) -> Spec {
    Spec {
        long,
        short,
        opt,
        arg,
        negatable: true,
    }
}

pub(crate) const SPECS: &[Spec] = &[
    spec("verbose", Some('v'), Opt::Verbose, ArgKind::None),
    spec("quiet", Some('q'), Opt::Quiet, ArgKind::None),
    spec("repo", None, Opt::Repo, ArgKind::Required),
    spec("all", None, Opt::All, ArgKind::None),
    // An alias of --all: never ambiguous with it.
    spec("branches", None, Opt::All, ArgKind::None),
    spec("mirror", None, Opt::Mirror, ArgKind::None),
    spec("delete", Some('d'), Opt::Delete, ArgKind::None),
    spec("tags", None, Opt::Tags, ArgKind::None),
    spec("dry-run", Some('n'), Opt::DryRun, ArgKind::None),
    spec("porcelain", None, Opt::Porcelain, ArgKind::None),
    spec("force", Some('f'), Opt::Force, ArgKind::None),
    spec(
        "force-with-lease",
        None,
        Opt::ForceWithLease,
        ArgKind::Optional,
    ),
    spec(
        "force-if-includes",
        None,
        Opt::ForceIfIncludes,
        ArgKind::None,
    ),
    spec(
        "recurse-submodules",
        None,
        Opt::RecurseSubmodules,
        ArgKind::Required,
    ),
    spec("thin", None, Opt::Thin, ArgKind::None),
    spec("receive-pack", None, Opt::ReceivePack, ArgKind::Required),
    spec("exec", None, Opt::Exec, ArgKind::Required),
    spec("set-upstream", Some('u'), Opt::SetUpstream, ArgKind::None),
    spec("progress", None, Opt::Progress, ArgKind::None),
    spec("prune", None, Opt::Prune, ArgKind::None),
    // Its long name starts with "no-": git also accepts `--verify` (= unset) and `--no-no-verify`.
    spec("no-verify", None, Opt::NoVerify, ArgKind::None),
    spec("follow-tags", None, Opt::FollowTags, ArgKind::None),
    spec("signed", None, Opt::Signed, ArgKind::Optional),
    spec("atomic", None, Opt::Atomic, ArgKind::None),
    spec("push-option", Some('o'), Opt::PushOption, ArgKind::Required),
    Spec {
        negatable: false,
        ..spec("ipv4", Some('4'), Opt::Ipv4, ArgKind::None)
    },
    Spec {
        negatable: false,
        ..spec("ipv6", Some('6'), Opt::Ipv6, ArgKind::None)
    },
];

/// A long option as git would understand it.
pub(crate) struct LongMatch {
    pub spec: &'static Spec,
    /// `--no-x` (or `--verify` for `no-verify`).
    pub unset: bool,
    /// The text after `=`, if any.
    pub value: Option<String>,
}

/// The spellings of one option: (text, unset).
fn forms(s: &'static Spec) -> Vec<(String, bool)> {
    let mut v = vec![(s.long.to_string(), false)];
    if s.negatable {
        v.push((format!("no-{}", s.long), true));
        if let Some(positive) = s.long.strip_prefix("no-") {
            v.push((positive.to_string(), true));
        }
    }
    v
}

/// Match `--<body>` (body = the text after `--`) against the table the way git's `parse_long_opt` does:
/// an exact spelling wins; otherwise a unique prefix of one option's spelling is that option; a prefix of
/// several options is ambiguous; nothing is unknown. Both ambiguous and unknown are refusals: gitgate
/// never ignores an option it does not understand.
pub(crate) fn match_long(body: &str) -> Result<LongMatch, Denial> {
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (body, None),
    };
    let mut candidates: Vec<(&'static Spec, bool, String)> = Vec::new();
    for s in SPECS {
        for (form, unset) in forms(s) {
            if form == name {
                return Ok(LongMatch {
                    spec: s,
                    unset,
                    value,
                });
            }
            if !name.is_empty() && form.starts_with(name) {
                let same = candidates
                    .iter()
                    .any(|(c, u, _)| c.opt == s.opt && *u == unset);
                if !same {
                    candidates.push((s, unset, form));
                }
            }
        }
    }
    match candidates.len() {
        0 => Err(unknown(&format!("--{name}"))),
        1 => {
            let (spec, unset, _) = candidates.remove(0);
            Ok(LongMatch { spec, unset, value })
        }
        _ => {
            let list: Vec<String> = candidates
                .iter()
                .map(|(_, _, f)| format!("--{f}"))
                .collect();
            Err(Denial::new(format!(
                "git push: ambiguous option '--{}' refused (could be {}); spell it out",
                quote(name),
                list.join(", ")
            )))
        }
    }
}

pub(crate) fn short(c: char) -> Result<&'static Spec, Denial> {
    SPECS
        .iter()
        .find(|s| s.short == Some(c))
        .ok_or_else(|| unknown(&format!("-{c}")))
}

pub(crate) fn unknown(opt: &str) -> Denial {
    Denial::new(format!(
        "git push: unknown option '{}' refused (gitgate only accepts options it understands)",
        quote(opt)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(body: &str) -> Result<(Opt, bool), String> {
        match_long(body)
            .map(|m| (m.spec.opt, m.unset))
            .map_err(|d| d.message)
    }

    #[test]
    fn exact_and_negated() {
        assert_eq!(long("force"), Ok((Opt::Force, false)));
        assert_eq!(long("no-force"), Ok((Opt::Force, true)));
        assert_eq!(long("force-with-lease"), Ok((Opt::ForceWithLease, false)));
        assert_eq!(long("no-force-with-lease"), Ok((Opt::ForceWithLease, true)));
        assert_eq!(long("branches"), Ok((Opt::All, false)));
        assert_eq!(long("no-verify"), Ok((Opt::NoVerify, false)));
        assert_eq!(long("verify"), Ok((Opt::NoVerify, true)));
        assert_eq!(long("no-no-verify"), Ok((Opt::NoVerify, true)));
        assert!(long("no-ipv4")
            .unwrap_err()
            .contains("unknown option '--no-ipv4'"));
    }

    // Each row checked against `git push` 2.47.
    #[test]
    fn abbreviations_like_git() {
        assert_eq!(long("mirr"), Ok((Opt::Mirror, false)));
        assert_eq!(long("mi"), Ok((Opt::Mirror, false)));
        assert_eq!(long("del"), Ok((Opt::Delete, false)));
        assert_eq!(long("ta"), Ok((Opt::Tags, false)));
        assert_eq!(long("fol"), Ok((Opt::FollowTags, false)));
        assert_eq!(long("force-w"), Ok((Opt::ForceWithLease, false)));
        assert_eq!(long("force-i"), Ok((Opt::ForceIfIncludes, false)));
        assert_eq!(long("rep"), Ok((Opt::Repo, false)));
        assert_eq!(long("pro"), Ok((Opt::Progress, false)));
        assert_eq!(long("po"), Ok((Opt::Porcelain, false)));
        assert_eq!(long("at"), Ok((Opt::Atomic, false)));
        assert_eq!(long("al"), Ok((Opt::All, false)));
        assert_eq!(long("b"), Ok((Opt::All, false)));
        assert_eq!(long("si"), Ok((Opt::Signed, false)));
        assert_eq!(long("q"), Ok((Opt::Quiet, false)));
        assert_eq!(long("th"), Ok((Opt::Thin, false)));
        assert_eq!(long("no-th"), Ok((Opt::Thin, true)));
        assert_eq!(long("dr"), Ok((Opt::DryRun, false)));
        for ambiguous in [
            "forc", "f", "fo", "d", "t", "no-forc", "r", "re", "pr", "p", "a", "s", "v", "ve",
            "no-v", "i", "ipv", "n", "no", "no-",
        ] {
            let e = long(ambiguous).unwrap_err();
            assert!(e.contains("ambiguous option"), "{ambiguous}: {e}");
        }
        assert_eq!(
            long("forc").unwrap_err(),
            "git push: ambiguous option '--forc' refused (could be --force, --force-with-lease, \
             --force-if-includes); spell it out"
        );
    }

    #[test]
    fn unknown_options() {
        assert_eq!(
            long("frobnicate").unwrap_err(),
            "git push: unknown option '--frobnicate' refused (gitgate only accepts options it understands)"
        );
        assert!(long("").unwrap_err().contains("unknown option '--'"));
        assert!(long("forcex").unwrap_err().contains("unknown"));
        assert!(short('h').is_err());
        assert!(short('x').is_err());
        assert_eq!(short('f').unwrap().opt, Opt::Force);
    }

    #[test]
    fn values() {
        let m = match_long("force-with-lease=main:abc").unwrap();
        assert_eq!(m.value.as_deref(), Some("main:abc"));
        let m = match_long("rep=origin").unwrap();
        assert_eq!(
            (m.spec.opt, m.value.as_deref()),
            (Opt::Repo, Some("origin"))
        );
    }
}
