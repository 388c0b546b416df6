//! Branch and tag name validation.
//!
//! Git's `check-ref-format` rules, narrowed to ASCII `[A-Za-z0-9._/-]` (DESIGN §7): everything outside that
//! set is either refused by git anyway or a way to confuse a human or a glob (look-alike Unicode, `@{`,
//! `~`, `^`, `:`, `?`, `*`, `[`, backslash, spaces, control characters).

use crate::denial::{quote, Denial};

/// Longest accepted name, in bytes. Git has no limit, but GitHub refuses very long refs and filesystems
/// refuse components over 255 bytes; a bound also keeps messages and logs small.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name is not an acceptable branch (or tag) name. `Display` completes "invalid branch name: ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("it contains {0}; only ASCII letters, digits and . _ / - are accepted")]
    BadChar(String),
    #[error("it starts with '-'")]
    LeadingDash,
    #[error("it contains '..'")]
    DotDot,
    #[error("it contains '//' (an empty path component)")]
    DoubleSlash,
    #[error("it starts with '/'")]
    LeadingSlash,
    #[error("it ends with '/'")]
    TrailingSlash,
    #[error("it ends with '.'")]
    TrailingDot,
    #[error("a path component starts with '.'")]
    ComponentDot,
    #[error("a path component ends with '.lock'")]
    ComponentLock,
    #[error("'HEAD' is not a branch")]
    Head,
    #[error("'@' is not a branch")]
    At,
    #[error("it contains '@{{'")]
    AtBrace,
    #[error("it starts with 'refs/'; give the short name (refs/heads/x is branch 'x')")]
    FullRefName,
}

/// Validate a short branch or tag name (the part after `refs/heads/` or `refs/tags/`).
pub fn validate(name: &str) -> Result<(), InvalidName> {
    if name.is_empty() {
        return Err(InvalidName::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(InvalidName::TooLong);
    }
    // The specific rules first, so the message names the real problem ("@{" rather than "'@'").
    if name == "@" {
        return Err(InvalidName::At);
    }
    if name.contains("@{") {
        return Err(InvalidName::AtBrace);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
    {
        return Err(InvalidName::BadChar(describe_char(c)));
    }
    if name == "HEAD" {
        return Err(InvalidName::Head);
    }
    if name.starts_with('-') {
        return Err(InvalidName::LeadingDash);
    }
    if name.contains("..") {
        return Err(InvalidName::DotDot);
    }
    if name.starts_with('/') {
        return Err(InvalidName::LeadingSlash);
    }
    if name.contains("//") {
        return Err(InvalidName::DoubleSlash);
    }
    if name.ends_with('/') {
        return Err(InvalidName::TrailingSlash);
    }
    if name.ends_with('.') {
        return Err(InvalidName::TrailingDot);
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Err(InvalidName::ComponentDot);
        }
        if component.ends_with(".lock") {
            return Err(InvalidName::ComponentLock);
        }
    }
    // `refs/heads/refs/heads/main` is a legal git ref, but every tool that sees the short name
    // `refs/heads/main` (GitHub's API, humans) reads it as `main`.
    if name.starts_with("refs/") {
        return Err(InvalidName::FullRefName);
    }
    Ok(())
}

/// Validate a branch name, as a [`Denial`] for `what` (e.g. `push to 'x'`).
pub fn check_branch_name(what: &str, name: &str) -> Result<(), Denial> {
    validate(name).map_err(|e| Denial::new(format!("{what} refused: invalid branch name: {e}")))
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if c.is_ascii_graphic() => format!("'{c}'"),
        c => format!("the character {}", quote(&c.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "main",
            "claude/fix-1",
            "feature/a.b_c",
            "a/b/c",
            "v1.2.3",
            "x-",
            "HEADS",
            "a.lockx",
            "lock",
            "a@b",
        ] {
            // '@' alone in the middle is legal for git but outside our ASCII set.
            if ok == "a@b" {
                assert_eq!(validate(ok), Err(InvalidName::BadChar("'@'".into())));
            } else {
                assert_eq!(validate(ok), Ok(()), "{ok}");
            }
        }
    }

    #[test]
    fn rejects_check_ref_format_violations() {
        let cases: &[(&str, InvalidName)] = &[
            ("", InvalidName::Empty),
            ("a..b", InvalidName::DotDot),
            ("-x", InvalidName::LeadingDash),
            ("a/.b", InvalidName::ComponentDot),
            (".a", InvalidName::ComponentDot),
            ("a.lock", InvalidName::ComponentLock),
            ("a.lock/b", InvalidName::ComponentLock),
            ("a//b", InvalidName::DoubleSlash),
            ("a/", InvalidName::TrailingSlash),
            ("/a", InvalidName::LeadingSlash),
            ("a.", InvalidName::TrailingDot),
            ("@", InvalidName::At),
            ("a@{1}", InvalidName::AtBrace),
            ("HEAD", InvalidName::Head),
            ("refs/heads/main", InvalidName::FullRefName),
        ];
        for (name, want) in cases {
            assert_eq!(validate(name).as_ref(), Err(want), "{name:?}");
        }
    }

    #[test]
    fn rejects_characters_outside_the_ascii_set() {
        for bad in [
            "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "a\tb", "a\u{7f}", "mаin", "a\nb",
        ] {
            assert!(
                matches!(validate(bad), Err(InvalidName::BadChar(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            validate("a b").unwrap_err().to_string(),
            "it contains a space; only ASCII letters, digits and . _ / - are accepted"
        );
        // Control characters are escaped in the message, which stays one line.
        let msg = validate("a\nb").unwrap_err().to_string();
        assert!(msg.contains("\\n") && !msg.contains('\n'), "{msg}");
    }

    #[test]
    fn rejects_too_long() {
        assert_eq!(validate(&"a".repeat(255)), Ok(()));
        assert_eq!(validate(&"a".repeat(256)), Err(InvalidName::TooLong));
    }

    #[test]
    fn denial_message() {
        let d = check_branch_name("push to 'a..b'", "a..b").unwrap_err();
        assert_eq!(
            d.message,
            "push to 'a..b' refused: invalid branch name: it contains '..'"
        );
        assert_eq!(d.setting, None);
    }
}
