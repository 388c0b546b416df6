//! [`Denial`]: a refusal with a one-line reason.

use std::fmt;

/// A refusal. `Display` is the message without the `gitgate: ` prefix (the agent adds it), always one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub message: String,
    /// The setting that would allow the refused operation, if there is one.
    pub setting: Option<&'static str>,
}

impl Denial {
    /// A denial no setting can lift.
    pub fn new(message: impl Into<String>) -> Denial {
        Denial {
            message: one_line(message.into()),
            setting: None,
        }
    }

    /// A denial that changing `setting` would lift.
    pub fn with_setting(message: impl Into<String>, setting: &'static str) -> Denial {
        Denial {
            message: one_line(message.into()),
            setting: Some(setting),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Denial {}

// Messages are built from `quote`d input, so they never contain a newline; this is a last line of defence
// because the agent writes the message to a terminal and to the audit log as one line.
fn one_line(s: String) -> String {
    if s.chars().any(|c| c.is_control()) {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    } else {
        s
    }
}

/// Longest piece of client-supplied text repeated in a message: enough to recognise it, short enough that
/// a 32 KiB argument cannot flood the terminal or the audit log.
const MAX_QUOTED: usize = 100;

/// Render client-supplied text for a message: control and non-ASCII characters escaped (so it stays one
/// line and cannot carry terminal escapes), and long text cut with an ellipsis.
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == MAX_QUOTED {
            out.push_str("...");
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(quote("é"), "\\u{e9}");
        let long = "x".repeat(500);
        assert_eq!(quote(&long).len(), MAX_QUOTED + 3);
    }

    #[test]
    fn denial_is_one_line() {
        let d = Denial::new("a\nb");
        assert_eq!(d.to_string(), "a b");
        assert_eq!(d.setting, None);
    }
}
