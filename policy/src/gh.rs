//! gh argv, as pure functions: which command it is (and whether it is always denied), and a strict
//! pflag-style parser per command. Nothing here does I/O; everything the agent does for `gh` is
//! decided from the [`Parsed`] result, never from the raw argv.
//!
//! Classification is default-deny: the always-denied groups of DESIGN §5 get a specific reason,
//! any other unknown command a generic one. Unknown flags of a supported command are a gh-like usage
//! error (`unknown flag: --x`), never ignored.

use crate::denial::quote;

/// One flag of a command: `--long`, optional `-s`, whether it takes a value.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub value: bool,
}

const fn v(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        value: true,
    }
}
const fn b(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        value: false,
    }
}

/// Flags every supported command accepts.
const COMMON: &[Flag] = &[v("repo", Some('R')), b("help", Some('h'))];
/// Output flags of commands with `--json`.
const JSON: &[Flag] = &[
    v("json", None),
    v("jq", Some('q')),
    v("template", None),
    b("web", Some('w')),
];

/// The supported commands and their flags.
pub fn spec(group: &str, sub: &str) -> Option<(&'static [Flag], bool)> {
    // (flags, has --json)
    Some(match (group, sub) {
        ("pr", "create") => (
            const {
                &[
                    v("title", Some('t')),
                    v("body", Some('b')),
                    v("body-file", Some('F')),
                    v("base", Some('B')),
                    v("head", Some('H')),
                    b("draft", Some('d')),
                    b("fill", Some('f')),
                    b("fill-first", None),
                    v("label", Some('l')),
                    v("reviewer", Some('r')),
                    v("assignee", Some('a')),
                    b("web", Some('w')),
                ]
            },
            false,
        ),
        ("pr", "list") => (
            const {
                &[
                    v("state", Some('s')),
                    v("author", Some('A')),
                    v("limit", Some('L')),
                    v("head", Some('H')),
                    v("base", Some('B')),
                    v("label", Some('l')),
                    b("draft", Some('d')),
                ]
            },
            true,
        ),
        ("pr", "view") => (const { &[b("comments", Some('c'))] }, true),
        ("pr", "status") => (const { &[] }, true),
        ("pr", "diff") => (
            const {
                &[
                    b("name-only", None),
                    b("patch", None),
                    v("color", None),
                    b("web", Some('w')),
                ]
            },
            false,
        ),
        ("pr", "checks") => (const { &[b("required", None), b("fail-fast", None)] }, true),
        ("pr", "comment") => (
            const {
                &[
                    v("body", Some('b')),
                    v("body-file", Some('F')),
                    b("web", Some('w')),
                ]
            },
            false,
        ),
        ("pr", "edit") => (
            const {
                &[
                    v("title", Some('t')),
                    v("body", Some('b')),
                    v("body-file", Some('F')),
                    v("base", Some('B')),
                    v("add-label", None),
                    v("remove-label", None),
                    v("add-reviewer", None),
                    v("remove-reviewer", None),
                    v("add-assignee", None),
                    v("remove-assignee", None),
                ]
            },
            false,
        ),
        ("pr", "close") => (
            const { &[v("comment", Some('c')), b("delete-branch", Some('d'))] },
            false,
        ),
        ("pr", "ready") => (const { &[b("undo", None)] }, false),
        ("pr", "merge") => (
            const {
                &[
                    b("merge", Some('m')),
                    b("squash", Some('s')),
                    b("rebase", Some('r')),
                    v("subject", Some('t')),
                    v("body", Some('b')),
                    b("delete-branch", Some('d')),
                    b("auto", None),
                ]
            },
            false,
        ),
        ("issue", "list") => (
            const {
                &[
                    v("state", Some('s')),
                    v("limit", Some('L')),
                    v("label", Some('l')),
                    v("assignee", Some('a')),
                    v("author", Some('A')),
                ]
            },
            true,
        ),
        ("issue", "view") => (const { &[b("comments", Some('c'))] }, true),
        ("issue", "create") => (
            const {
                &[
                    v("title", Some('t')),
                    v("body", Some('b')),
                    v("body-file", Some('F')),
                    v("label", Some('l')),
                    v("assignee", Some('a')),
                    b("web", Some('w')),
                ]
            },
            false,
        ),
        ("issue", "comment") => (
            const {
                &[
                    v("body", Some('b')),
                    v("body-file", Some('F')),
                    b("web", Some('w')),
                ]
            },
            false,
        ),
        ("issue", "close") => (
            const { &[v("comment", Some('c')), v("reason", Some('r'))] },
            false,
        ),
        ("repo", "view") => (const { &[v("branch", Some('b'))] }, true),
        ("run", "list") => (
            const {
                &[
                    v("limit", Some('L')),
                    v("branch", Some('b')),
                    v("workflow", Some('w')),
                    v("status", Some('s')),
                    v("event", Some('e')),
                    v("user", Some('u')),
                    v("commit", Some('c')),
                ]
            },
            true,
        ),
        ("run", "view") => (
            const {
                &[
                    b("log", None),
                    b("log-failed", None),
                    v("job", Some('j')),
                    b("verbose", Some('v')),
                    b("exit-status", None),
                    v("attempt", Some('a')),
                ]
            },
            true,
        ),
        ("api", _) => (
            const {
                &[
                    v("method", Some('X')),
                    v("raw-field", Some('f')),
                    v("field", Some('F')),
                    v("input", None),
                    v("header", Some('H')),
                    b("include", Some('i')),
                    b("paginate", None),
                    b("silent", None),
                    v("jq", Some('q')),
                    v("template", Some('t')),
                    v("hostname", None),
                    v("preview", Some('p')),
                    v("cache", None),
                    b("verbose", None),
                    b("slurp", None),
                ]
            },
            false,
        ),
        _ => return None,
    })
}

/// The result of parsing: positional words and flag values, by long name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub positionals: Vec<String>,
    pub flags: Vec<(&'static str, Option<String>)>,
}

impl Parsed {
    /// Last value given for `long` (pflag semantics: the last one wins).
    pub fn get(&self, long: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| *k == long)
            .and_then(|(_, v)| v.as_deref())
    }
    /// Every value given for a repeatable flag, comma-separated values split (gh string slices).
    pub fn all(&self, long: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(k, _)| *k == long)
            .filter_map(|(_, v)| v.as_deref())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }
    /// Was a switch given (and not set to false with `--x=false`)?
    pub fn has(&self, long: &str) -> bool {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| *k == long)
            .is_some_and(|(_, v)| v.as_deref() != Some("false"))
    }
    /// Was the flag given at all (switch or value)?
    pub fn given(&self, long: &str) -> bool {
        self.flags.iter().any(|(k, _)| *k == long)
    }
}

/// The first two positional words (`pr`, `list`), skipping the value of `-R/--repo`.
/// Used only to classify; the strict parse below must agree with it.
pub fn command_words(args: &[String]) -> (Option<&str>, Option<&str>) {
    let mut words = Vec::with_capacity(2);
    let mut i = 0;
    while i < args.len() && words.len() < 2 {
        let a = args[i].as_str();
        if a == "--" {
            i += 1;
            while i < args.len() && words.len() < 2 {
                words.push(args[i].as_str());
                i += 1;
            }
            break;
        }
        if a == "-R" || a == "--repo" {
            i += 2;
            continue;
        }
        if !a.starts_with('-') || a == "-" {
            words.push(a);
        }
        i += 1;
    }
    (words.first().copied(), words.get(1).copied())
}

/// What the classification decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Class {
    /// A supported command: (group, sub).
    Supported(&'static str, &'static str),
    /// `gh`, `gh help`, `gh --help`, `gh --version`.
    Help,
    /// Refused, with the reason (exit 126).
    Denied(String),
    /// `pr merge` (allowed only with ALLOW_PR_MERGE=true; the caller decides).
    Merge,
}

const SUPPORTED: &str = "supported: pr create|list|view|status|diff|checks|comment|edit|close|ready, \
issue list|view|create|comment|close, repo view, run list|view, api (GET under allowed repositories)";

fn intern(s: &str) -> Option<&'static str> {
    const WORDS: &[&str] = &[
        "pr", "issue", "repo", "run", "api", "create", "list", "view", "status", "diff", "checks",
        "comment", "edit", "close", "ready", "merge",
    ];
    WORDS.iter().copied().find(|w| *w == s)
}

/// Classify argv (default deny).
pub fn classify(args: &[String]) -> Class {
    let (group, sub) = command_words(args);
    let Some(group) = group else {
        if args.is_empty()
            || args
                .iter()
                .all(|a| matches!(a.as_str(), "--help" | "-h" | "--version"))
        {
            return Class::Help;
        }
        return Class::Denied(format!(
            "gh {}: not supported by gitgate ({SUPPORTED})",
            quote(&args.join(" "))
        ));
    };
    let sub_s = sub.unwrap_or("");
    let always = |what: &str, why: &str| {
        Class::Denied(format!("gh {what} is always denied by gitgate: {why}"))
    };
    match group {
        "help" => Class::Help,
        "auth" => always(
            "auth",
            "the GitHub token stays inside the agent and is never printed, shown or replaced",
        ),
        "secret" => always(
            "secret",
            "repository and organisation secrets are out of bounds",
        ),
        "variable" => always("variable", "Actions variables are out of bounds"),
        "extension" | "extensions" => always("extension", "extensions are third-party programs"),
        "alias" => always("alias", "aliases can expand to shell commands"),
        "config" => always("config", "gh configuration belongs to the agent"),
        "codespace" | "cs" => always("codespace", "codespaces are out of bounds"),
        "ssh-key" => always("ssh-key", "account keys are out of bounds"),
        "gpg-key" => always("gpg-key", "account keys are out of bounds"),
        "gist" => always("gist", "gists are outside the allowed repositories"),
        "release" => always("release", "publishing releases is out of bounds"),
        "workflow" => always(
            "workflow",
            "triggering or changing workflows is out of bounds (read runs with `gh run list|view`)",
        ),
        "repo" if sub_s == "view" => Class::Supported("repo", "view"),
        "repo" => always(
            format!("repo {}", quote(sub_s)).trim_end(),
            "only `gh repo view` is available (use `git clone` for clones)",
        ),
        "api" => Class::Supported("api", ""),
        "pr" | "issue" | "run" => {
            let ok = match group {
                "pr" => matches!(
                    sub_s,
                    "create"
                        | "list"
                        | "view"
                        | "status"
                        | "diff"
                        | "checks"
                        | "comment"
                        | "edit"
                        | "close"
                        | "ready"
                ),
                "issue" => matches!(sub_s, "list" | "view" | "create" | "comment" | "close"),
                _ => matches!(sub_s, "list" | "view"),
            };
            if group == "pr" && sub_s == "merge" {
                return Class::Merge;
            }
            match (ok, intern(group), intern(sub_s)) {
                (true, Some(g), Some(s)) => Class::Supported(g, s),
                _ => Class::Denied(format!(
                    "gh {group} {}: not supported by gitgate ({SUPPORTED})",
                    quote(sub_s)
                )),
            }
        }
        other => Class::Denied(format!(
            "gh {}: not supported by gitgate ({SUPPORTED})",
            quote(other)
        )),
    }
}

/// Parse `args` strictly against `flags` (plus the common ones). Errors are gh-like usage messages.
pub fn parse(args: &[String], flags: &[Flag], json: bool) -> Result<Parsed, String> {
    let find_long = |name: &str| {
        flags
            .iter()
            .chain(COMMON)
            .chain(if json { JSON } else { &[] })
            .find(|f| f.long == name)
            .copied()
    };
    let find_short = |c: char| {
        flags
            .iter()
            .chain(COMMON)
            .chain(if json { JSON } else { &[] })
            .find(|f| f.short == Some(c))
            .copied()
    };
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.positionals.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let f = find_long(name).ok_or_else(|| format!("unknown flag: --{}", quote(name)))?;
            if f.value {
                let val = match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                        i += 1;
                        v.clone()
                    }
                };
                out.flags.push((f.long, Some(val)));
            } else {
                match inline.as_deref() {
                    None | Some("true") => out.flags.push((f.long, None)),
                    Some("false") => out.flags.push((f.long, Some("false".into()))),
                    Some(x) => {
                        return Err(format!(
                            "invalid argument {} for \"--{name}\" flag: expected true or false",
                            quote(x)
                        ))
                    }
                }
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let cluster = &a[1..];
            for (pos, c) in cluster.char_indices() {
                let f = find_short(c).ok_or_else(|| {
                    format!(
                        "unknown shorthand flag: '{}' in {}",
                        quote(&c.to_string()),
                        quote(a)
                    )
                })?;
                if f.value {
                    let rest = &cluster[pos + c.len_utf8()..];
                    let val = if rest.is_empty() {
                        let v = args
                            .get(i)
                            .ok_or_else(|| format!("flag needs an argument: '{c}' in -{c}"))?;
                        i += 1;
                        v.clone()
                    } else {
                        rest.strip_prefix('=').unwrap_or(rest).to_owned()
                    };
                    out.flags.push((f.long, Some(val)));
                    break;
                }
                out.flags.push((f.long, None));
            }
            continue;
        }
        out.positionals.push(a.clone());
    }
    Ok(out)
}

/// Parse the argv of a supported command and check its positional words match the classification.
/// Returns the parsed flags with the command words removed from `positionals`.
pub fn parse_command(args: &[String], group: &str, sub: &str) -> Result<Parsed, String> {
    let (flags, json) = spec(group, sub).ok_or_else(|| format!("unknown command {group} {sub}"))?;
    let mut p = parse(args, flags, json)?;
    let words = if sub.is_empty() { 1 } else { 2 };
    let head: Vec<&str> = p
        .positionals
        .iter()
        .take(words)
        .map(String::as_str)
        .collect();
    let expect: Vec<&str> = [group, sub].into_iter().take(words).collect();
    if head != expect {
        return Err(format!(
            "could not parse the command (expected `gh {}`)",
            expect.join(" ")
        ));
    }
    p.positionals.drain(..words);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn always_denied() {
        for argv in [
            &["auth", "token"][..],
            &["auth", "status", "-t"],
            &["auth", "login", "--with-token"],
            &["-R", "acme/app", "auth", "token"],
            &["secret", "list"],
            &["variable", "set", "X"],
            &["extension", "install", "x/y"],
            &["alias", "set", "--shell", "x", "echo hi"],
            &["config", "get", "oauth_token"],
            &["codespace", "ssh"],
            &["ssh-key", "add", "k"],
            &["gpg-key", "list"],
            &["gist", "create", "f"],
            &["repo", "delete", "acme/app"],
            &["repo", "rename", "x"],
            &["repo", "archive"],
            &["repo", "edit", "--visibility", "public"],
            &["repo", "clone", "acme/app"],
            &["workflow", "run", "ci.yml"],
            &["release", "create", "v1"],
            &["browse"],
            &["pr", "review", "1", "--approve"],
            &["pr", "checkout", "1"],
            &["issue", "delete", "1"],
            &["run", "rerun", "1"],
            &["run", "cancel", "1"],
            &["--version-x"],
        ] {
            match classify(&a(argv)) {
                Class::Denied(m) => assert!(!m.contains('\n'), "{m}"),
                other => panic!("{argv:?}: {other:?}"),
            }
        }
        assert_eq!(classify(&a(&["pr", "merge", "1"])), Class::Merge);
    }

    #[test]
    fn supported() {
        assert_eq!(
            classify(&a(&["pr", "list", "--state", "all"])),
            Class::Supported("pr", "list")
        );
        assert_eq!(
            classify(&a(&["-R", "acme/app", "issue", "view", "3"])),
            Class::Supported("issue", "view")
        );
        assert_eq!(
            classify(&a(&["api", "repos/a/b"])),
            Class::Supported("api", "")
        );
        assert_eq!(classify(&a(&[])), Class::Help);
    }

    #[test]
    fn strict_parse() {
        let p = parse_command(
            &a(&[
                "pr",
                "create",
                "-t",
                "-F",
                "--body=x",
                "-dH",
                "claude/x",
                "-Racme/app",
            ]),
            "pr",
            "create",
        )
        .unwrap();
        assert_eq!(p.get("title"), Some("-F"));
        assert_eq!(p.get("body"), Some("x"));
        assert!(p.has("draft"));
        assert_eq!(p.get("head"), Some("claude/x"));
        assert_eq!(p.get("repo"), Some("acme/app"));
        assert!(p.positionals.is_empty());

        assert!(parse_command(&a(&["pr", "list", "--bogus"]), "pr", "list")
            .unwrap_err()
            .contains("unknown flag: --bogus"));
        assert!(parse_command(&a(&["pr", "list", "-Z"]), "pr", "list")
            .unwrap_err()
            .contains("unknown shorthand flag"));
        assert!(parse_command(&a(&["pr", "list", "--limit"]), "pr", "list")
            .unwrap_err()
            .contains("needs an argument"));
        // the classification and the parse must agree on the command words
        assert!(parse_command(&a(&["pr", "--draft", "view"]), "pr", "create").is_err());
        let p = parse_command(&a(&["pr", "list", "-l", "a,b", "-l", "c"]), "pr", "list").unwrap();
        assert_eq!(p.all("label"), ["a", "b", "c"]);
        let p = parse_command(&a(&["pr", "view", "--", "-5"]), "pr", "view").unwrap();
        assert_eq!(p.positionals, ["-5"]);
    }
}
