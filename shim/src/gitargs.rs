//! git's global options (the ones before the subcommand) and the decision whether a command
//! goes to the agent (DESIGN §2). Mirrors `handle_options` in git.c.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Subcommands that need the network (and so the token): they go to the agent.
const AGENT_SUBCOMMANDS: &[&[u8]] = &[b"push", b"fetch", b"pull", b"clone", b"ls-remote"];

/// Global options without a value.
const FLAGS: &[&[u8]] = &[
    b"-p",
    b"--paginate",
    b"-P",
    b"--no-pager",
    b"--no-replace-objects",
    b"--no-lazy-fetch",
    b"--bare",
    b"--literal-pathspecs",
    b"--no-literal-pathspecs",
    b"--glob-pathspecs",
    b"--noglob-pathspecs",
    b"--icase-pathspecs",
    b"--no-optional-locks",
    b"--no-advice",
];

/// Global options taking a value, either as the next argument or after `=`.
const WITH_VALUE: &[&[u8]] = &[
    b"--git-dir",
    b"--work-tree",
    b"--namespace",
    b"--config-env",
    b"--attr-source",
    b"--shallow-file",
];

/// Global options whose value is only accepted after `=`.
const EQ_ONLY: &[&[u8]] = &[b"--exec-path=", b"--super-prefix="];

/// One global option as it appeared in argv: `len` arguments starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opt {
    start: usize,
    len: usize,
    /// `-C <path>`: the path is at `start + 1`.
    chdir: bool,
}

/// argv (without the program name) split into global options and the subcommand.
#[derive(Debug)]
pub struct GitArgs<'a> {
    args: &'a [OsString],
    opts: Vec<Opt>,
    /// Index of the subcommand, if git would reach one.
    sub: Option<usize>,
}

impl<'a> GitArgs<'a> {
    pub fn parse(args: &'a [OsString]) -> GitArgs<'a> {
        let mut opts = Vec::new();
        let mut i = 0;
        let sub = loop {
            let Some(arg) = args.get(i) else { break None };
            let a = arg.as_bytes();
            if a.first() != Some(&b'-') {
                break Some(i);
            }
            let has_next = i + 1 < args.len();
            let n = if a == b"-C" || a == b"-c" {
                if !has_next {
                    break None;
                }
                2
            } else if FLAGS.contains(&a) || EQ_ONLY.iter().any(|p| a.starts_with(p)) {
                1
            } else if let Some(o) = WITH_VALUE.iter().find(|o| a.starts_with(o)) {
                match a.get(o.len()) {
                    None if has_next => 2,
                    Some(b'=') => 1,
                    // missing value or an unknown option sharing the prefix: git complains itself
                    _ => break None,
                }
            } else {
                // -h/--help, -v/--version, --exec-path, --html-path, --list-cmds=, unknown
                // options …: git does something else (or complains) and runs no subcommand.
                break None;
            };
            opts.push(Opt {
                start: i,
                len: n,
                chdir: a == b"-C",
            });
            i += n;
        };
        GitArgs { args, opts, sub }
    }

    /// Whether this command must be run by the agent.
    pub fn goes_to_agent(&self) -> bool {
        let Some(sub) = self.sub else { return false };
        let name = self.args[sub].as_bytes();
        let rest = &self.args[sub + 1..];
        let agent = if name == b"remote" {
            // `git remote [-v | --verbose] update …`
            rest.iter()
                .map(|a| a.as_bytes())
                .find(|a| !a.starts_with(b"-"))
                .is_some_and(|a| a == b"update")
        } else {
            AGENT_SUBCOMMANDS.contains(&name)
        };
        agent && !asks_for_help(rest)
    }

    /// The subcommand and its arguments (what goes into `Hello.args`), as written.
    pub fn command(&self) -> &'a [OsString] {
        match self.sub {
            Some(s) => &self.args[s..],
            None => &[],
        }
    }

    /// The directory git would run in: `base` followed by every `-C` (an empty `-C ""` is
    /// ignored, a relative one applies to the previous, an absolute one replaces it).
    pub fn cwd(&self, base: &Path) -> PathBuf {
        let mut dir = base.to_path_buf();
        for o in self.opts.iter().filter(|o| o.chdir) {
            let p = &self.args[o.start + 1];
            if !p.is_empty() {
                dir.push(p);
            }
        }
        dir
    }

    /// Every global option, in order, as written (including `-C`).
    pub fn global_opts(&self) -> Vec<&'a OsStr> {
        self.collect_opts(true)
    }

    /// The global options except `-C` (for runs that set the directory themselves).
    pub fn global_opts_without_chdir(&self) -> Vec<&'a OsStr> {
        self.collect_opts(false)
    }

    fn collect_opts(&self, with_chdir: bool) -> Vec<&'a OsStr> {
        self.opts
            .iter()
            .filter(|o| with_chdir || !o.chdir)
            .flat_map(|o| self.args[o.start..o.start + o.len].iter())
            .map(OsString::as_os_str)
            .collect()
    }
}

/// `git push --help` / `git fetch -h` only print help: leave them to the real git.
fn asks_for_help(rest: &[OsString]) -> bool {
    if rest.len() == 1 && rest[0].as_bytes() == b"-h" {
        return true;
    }
    rest.iter()
        .map(|a| a.as_bytes())
        .take_while(|a| *a != b"--")
        .any(|a| a == b"--help")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn strs(v: &[&OsStr]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    /// (argv, goes to agent, Hello.args, cwd from /base, preserved global options)
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    const TABLE: &[(&[&str], bool, &[&str], &str, &[&str])] = &[
        (&["push", "origin", "x"], true, &["push", "origin", "x"], "/base", &[]),
        (&["status"], false, &["status"], "/base", &[]),
        (&[], false, &[], "/base", &[]),
        (&["--version"], false, &[], "/base", &[]),
        (&["-v"], false, &[], "/base", &[]),
        (&["help", "push"], false, &["help", "push"], "/base", &[]),
        (&["--help", "push"], false, &[], "/base", &[]),
        (&["--exec-path"], false, &[], "/base", &[]),
        (&["--html-path", "push"], false, &[], "/base", &[]),
        (&["--list-cmds=main", "push"], false, &[], "/base", &[]),
        (&["--bogus", "push"], false, &[], "/base", &[]),
        (&["-C"], false, &[], "/base", &[]),
        (&["-C", "sub", "-C", "deeper", "fetch"], true, &["fetch"], "/base/sub/deeper", &["-C", "sub", "-C", "deeper"]),
        (&["-C", "sub", "-C", "/abs", "pull", "--rebase"], true, &["pull", "--rebase"], "/abs", &["-C", "sub", "-C", "/abs"]),
        (&["-C", "", "ls-remote"], true, &["ls-remote"], "/base", &["-C", ""]),
        (&["-C", "r", "status"], false, &["status"], "/base/r", &["-C", "r"]),
        (&["-c", "user.name=x", "push"], true, &["push"], "/base", &["-c", "user.name=x"]),
        (&["-c", "push.default=current", "-C", "r", "push", "-u"], true, &["push", "-u"], "/base/r", &["-c", "push.default=current", "-C", "r"]),
        (&["--git-dir=/g", "--work-tree", "/w", "fetch", "origin"], true, &["fetch", "origin"], "/base", &["--git-dir=/g", "--work-tree", "/w"]),
        (&["--git-dir", "/g", "status"], false, &["status"], "/base", &["--git-dir", "/g"]),
        (&["--namespace=n", "--config-env", "a.b=ENV", "clone", "u"], true, &["clone", "u"], "/base", &["--namespace=n", "--config-env", "a.b=ENV"]),
        (&["--config-env=a.b=ENV", "--exec-path=/x", "--super-prefix=p/", "fetch"], true, &["fetch"], "/base", &["--config-env=a.b=ENV", "--exec-path=/x", "--super-prefix=p/"]),
        (&["-p", "-P", "--paginate", "--no-pager", "--bare", "--no-replace-objects", "--literal-pathspecs", "--glob-pathspecs", "--noglob-pathspecs", "--icase-pathspecs", "--no-optional-locks", "--no-advice", "fetch"], true, &["fetch"],
         "/base", &["-p", "-P", "--paginate", "--no-pager", "--bare", "--no-replace-objects", "--literal-pathspecs", "--glob-pathspecs", "--noglob-pathspecs", "--icase-pathspecs", "--no-optional-locks", "--no-advice"]),
        (&["--git-dir"], false, &[], "/base", &[]),
        (&["--git-directory=x", "push"], false, &[], "/base", &[]),
        (&["-c", "push"], false, &[], "/base", &["-c", "push"]),
        (&["remote", "update"], true, &["remote", "update"], "/base", &[]),
        (&["remote", "-v", "update", "origin"], true, &["remote", "-v", "update", "origin"], "/base", &[]),
        (&["remote", "--verbose", "update"], true, &["remote", "--verbose", "update"], "/base", &[]),
        (&["remote", "-v"], false, &["remote", "-v"], "/base", &[]),
        (&["remote", "add", "update", "u"], false, &["remote", "add", "update", "u"], "/base", &[]),
        (&["push", "--help"], false, &["push", "--help"], "/base", &[]),
        (&["fetch", "-h"], false, &["fetch", "-h"], "/base", &[]),
        (&["push", "--", "--help"], true, &["push", "--", "--help"], "/base", &[]),
        (&["commit", "-m", "push"], false, &["commit", "-m", "push"], "/base", &[]),
        (&["log", "--", "fetch"], false, &["log", "--", "fetch"], "/base", &[]),
        (&["pushx"], false, &["pushx"], "/base", &[]),
    ];

    #[test]
    fn global_option_table() {
        for (argv, agent, cmd, cwd, opts) in TABLE {
            let args = os(argv);
            let g = GitArgs::parse(&args);
            assert_eq!(g.goes_to_agent(), *agent, "agent? {argv:?}");
            let got: Vec<String> = g
                .command()
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            assert_eq!(got, *cmd, "command of {argv:?}");
            assert_eq!(g.cwd(Path::new("/base")), Path::new(cwd), "cwd of {argv:?}");
            assert_eq!(strs(&g.global_opts()), *opts, "global opts of {argv:?}");
        }
    }

    #[test]
    fn global_opts_without_chdir() {
        let args = os(&["-C", "a", "-c", "k=v", "-C", "b", "--bare", "push"]);
        let g = GitArgs::parse(&args);
        assert_eq!(
            strs(&g.global_opts_without_chdir()),
            ["-c", "k=v", "--bare"]
        );
        assert_eq!(g.cwd(Path::new("/w")), Path::new("/w/a/b"));
    }

    #[test]
    fn non_utf8_arguments_do_not_panic() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![OsString::from_vec(vec![0xff, b'x']), OsString::from("push")];
        assert!(!GitArgs::parse(&args).goes_to_agent());
        let args = vec![OsString::from("push"), OsString::from_vec(vec![0xff])];
        assert!(GitArgs::parse(&args).goes_to_agent());
    }
}
