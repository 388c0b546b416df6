//! How git's network subcommands lay out their arguments, shared by the shim and the agent so both
//! read `git fetch|pull|clone|ls-remote` argv the same way: which options take a separate value,
//! and which words are positional (the repository, the clone directory…).

/// Options that take a separate value, per subcommand, so the value is not taken for the remote.
pub fn takes_value(sub: &str, opt: &str) -> bool {
    const FETCH: &[&str] = &[
        "--depth",
        "--deepen",
        "--shallow-since",
        "--shallow-exclude",
        "--negotiation-tip",
        "-j",
        "--jobs",
        "--upload-pack",
        "-o",
        "--server-option",
        "--refmap",
        "--recurse-submodules-default",
        "--filter",
        "--submodule-prefix",
    ];
    const PULL: &[&str] = &["-s", "--strategy", "-X", "--strategy-option"];
    const CLONE: &[&str] = &[
        "-o",
        "--origin",
        "-b",
        "--branch",
        "-u",
        "--upload-pack",
        "--reference",
        "--reference-if-able",
        "--separate-git-dir",
        "--depth",
        "--shallow-since",
        "--shallow-exclude",
        "-c",
        "--config",
        "--template",
        "-j",
        "--jobs",
        "--filter",
        "--server-option",
        "--bundle-uri",
        "--ref-format",
    ];
    const LS_REMOTE: &[&str] = &["--upload-pack", "-o", "--server-option", "--sort"];
    match sub {
        "fetch" => FETCH.contains(&opt),
        "pull" => FETCH.contains(&opt) || PULL.contains(&opt),
        "clone" => CLONE.contains(&opt),
        "ls-remote" => LS_REMOTE.contains(&opt),
        _ => false,
    }
}

/// Positional arguments of a fetch-like command.
pub fn positionals<'a>(sub: &str, args: &'a [String]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut it = args.iter();
    let mut options_done = false;
    while let Some(a) = it.next() {
        if options_done || !a.starts_with('-') || a == "-" {
            out.push(a.as_str());
        } else if a == "--" {
            options_done = true;
        } else if takes_value(sub, a) {
            it.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_repository_argument() {
        assert_eq!(
            positionals("fetch", &v(&["--depth", "1", "upstream", "main"])),
            ["upstream", "main"]
        );
        assert_eq!(
            positionals("fetch", &v(&["--prune", "--tags"])),
            Vec::<&str>::new()
        );
        assert_eq!(
            positionals("pull", &v(&["--rebase", "-s", "ours", "origin"])),
            ["origin"]
        );
        assert_eq!(
            positionals("clone", &v(&["-b", "dev", "https://h/o/r.git", "dir"])),
            ["https://h/o/r.git", "dir"]
        );
        assert_eq!(
            positionals("ls-remote", &v(&["--heads", "--", "-weird"])),
            ["-weird"]
        );
    }
}
