//! Which front-end the shim was invoked as: by the name it was called under (argv[0]: `git`,
//! `gh`, `agent-status`, `pre-push`), or as `gitgate-shim <tool> args…`.

use gitgate_proto::Tool;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `git …` (native mode: exec the real git with the overlay): the arguments after the
    /// program name.
    Git(Vec<OsString>),
    /// `gh …`: exec the real gh pointed at the API gateway (shim/src/gh.rs).
    Gh(Vec<OsString>),
    /// `agent-status` or `hook`, with the arguments after the tool name.
    Tool(Tool, Vec<OsString>),
    /// `git-remote-https`/`git-remote-http`: git's remote helper, with `<remote> [<url>]`.
    Remote(Vec<OsString>),
    /// `gitgate-shim ssh …`: git's ssh command, which refuses (shim/src/ssh.rs).
    Ssh(Vec<OsString>),
    /// `gitgate-shim --version`.
    Version,
    /// Anything else: print usage, exit 2.
    Usage,
}

/// The front-ends: `None` for gh (not an agent tool: the real gh talks HTTP to the gateway).
enum Front {
    Git,
    Gh,
    Tool(Tool),
}

fn tool_named(name: &[u8]) -> Option<Front> {
    Some(match name {
        b"git" => Front::Git,
        b"gh" => Front::Gh,
        b"agent-status" => Front::Tool(Tool::AgentStatus),
        b"hook" => Front::Tool(Tool::Hook),
        _ => return None,
    })
}

fn make(front: Front, args: Vec<OsString>) -> Invocation {
    match front {
        Front::Git => Invocation::Git(args),
        Front::Gh => Invocation::Gh(args),
        Front::Tool(t) => Invocation::Tool(t, args),
    }
}

/// Decide from the full argv (program name included).
pub fn dispatch(mut argv: Vec<OsString>) -> Invocation {
    if argv.is_empty() {
        return Invocation::Usage;
    }
    let prog = argv.remove(0);
    let base = prog
        .as_bytes()
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or_default();
    match base {
        b"git-remote-https" | b"git-remote-http" => return Invocation::Remote(argv),
        b"pre-push" => {
            // installed directly as .git/hooks/pre-push
            argv.insert(0, OsString::from("pre-push"));
            return Invocation::Tool(Tool::Hook, argv);
        }
        name => {
            if let Some(tool) = tool_named(name) {
                return make(tool, argv);
            }
        }
    }
    let Some(first) = argv.first() else {
        return Invocation::Usage;
    };
    match first.as_bytes() {
        b"--version" | b"-V" => Invocation::Version,
        b"remote-https" | b"remote-http" => {
            argv.remove(0);
            Invocation::Remote(argv)
        }
        b"ssh" => {
            argv.remove(0);
            Invocation::Ssh(argv)
        }
        name => match tool_named(name) {
            Some(tool) => {
                argv.remove(0);
                make(tool, argv)
            }
            None => Invocation::Usage,
        },
    }
}

pub const USAGE: &str = "usage: gitgate-shim <git|gh|agent-status|hook> [args…] \
(or install it as git, gh, agent-status)";

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(v: &[&str]) -> Invocation {
        dispatch(v.iter().map(OsString::from).collect())
    }
    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn by_program_name() {
        assert_eq!(inv(&["git", "status"]), Invocation::Git(os(&["status"])));
        assert_eq!(inv(&["/usr/local/bin/git"]), Invocation::Git(vec![]));
        assert_eq!(
            inv(&["/x/gh", "pr", "list"]),
            Invocation::Gh(os(&["pr", "list"]))
        );
        assert_eq!(
            inv(&["agent-status", "--recent", "5"]),
            Invocation::Tool(Tool::AgentStatus, os(&["--recent", "5"]))
        );
        assert_eq!(
            inv(&[
                "/usr/lib/git-core/git-remote-https",
                "origin",
                "https://h/o/r"
            ]),
            Invocation::Remote(os(&["origin", "https://h/o/r"]))
        );
        assert_eq!(
            inv(&["git-remote-http", "http://h/o/r"]),
            Invocation::Remote(os(&["http://h/o/r"]))
        );
        assert_eq!(
            inv(&[".git/hooks/pre-push", "origin", "u"]),
            Invocation::Tool(Tool::Hook, os(&["pre-push", "origin", "u"]))
        );
    }

    #[test]
    fn by_first_argument() {
        let p = "/opt/gitgate/gitgate-shim";
        assert_eq!(inv(&[p, "git", "push"]), Invocation::Git(os(&["push"])));
        assert_eq!(
            inv(&[p, "gh", "api", "x"]),
            Invocation::Gh(os(&["api", "x"]))
        );
        assert_eq!(
            inv(&[p, "agent-status"]),
            Invocation::Tool(Tool::AgentStatus, vec![])
        );
        assert_eq!(
            inv(&[p, "hook", "pre-push", "origin", "u"]),
            Invocation::Tool(Tool::Hook, os(&["pre-push", "origin", "u"]))
        );
        assert_eq!(inv(&[p, "--version"]), Invocation::Version);
        assert_eq!(
            inv(&[p, "remote-https", "origin", "https://h/o/r"]),
            Invocation::Remote(os(&["origin", "https://h/o/r"]))
        );
        assert_eq!(inv(&[p]), Invocation::Usage);
        assert_eq!(inv(&[p, "svn"]), Invocation::Usage);
        assert_eq!(inv(&[]), Invocation::Usage);
    }
}
