//! Files a gh command names, which the shim reads and sends as data (`Hello.files`), so the
//! agent never opens a client-named path (DESIGN §5, CONTRACTS). `-` (or `@-`) means stdin.

/// What a gh command wants read on the client side.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GhInputs {
    /// File names exactly as written, in order, without duplicates.
    pub files: Vec<String>,
    /// The command reads stdin (`--body-file -`, `--input -`, `-F key=@-`).
    pub stdin: bool,
}

impl GhInputs {
    fn add(&mut self, name: &str) {
        if name == "-" {
            self.stdin = true;
        } else if !self.files.iter().any(|f| f == name) {
            self.files.push(name.to_owned());
        }
    }
}

/// Flags of the affected commands that take a separate value, so a value such as
/// `--title -F` is not mistaken for a flag. (`-f` is `--fill`, a switch, for `pr create`, but
/// `--raw-field <v>` for `api`: handled there.)
#[rustfmt::skip]
const VALUE_FLAGS: &[&str] = &[
    "-a", "-B", "-b", "-H", "-l", "-m", "-p", "-r", "-T", "-t", "-R", "-X", "-q",
    "--assignee", "--base", "--body", "--head", "--label", "--milestone", "--project",
    "--reviewer", "--template", "--title", "--repo", "--recover", "--add-assignee",
    "--remove-assignee", "--add-label", "--remove-label", "--add-project", "--remove-project",
    "--add-reviewer", "--remove-reviewer", "--method", "--header", "--raw-field", "--jq",
    "--preview", "--hostname", "--cache",
];

/// The first two positional words (`pr create`, `api <endpoint>`), skipping `-R/--repo <x>`.
fn command(args: &[String]) -> (Option<&str>, Option<&str>) {
    let mut words = Vec::with_capacity(2);
    let mut i = 0;
    while i < args.len() && words.len() < 2 {
        let a = args[i].as_str();
        if a == "--" {
            break;
        }
        if a == "-R" || a == "--repo" {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            words.push(a);
        }
        i += 1;
    }
    (words.first().copied(), words.get(1).copied())
}

/// If `a` is the flag `long`/`-short` (pflag forms: `--long v`, `--long=v`, `-S v`, `-S=v`,
/// `-Sv`), returns its value (None when missing) and how many arguments it used.
fn flag_value<'a>(
    a: &'a str,
    next: Option<&'a str>,
    long: &str,
    short: Option<char>,
) -> Option<(Option<&'a str>, usize)> {
    if a == long {
        return Some((next, 2));
    }
    if let Some(v) = a.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
        return Some((Some(v), 1));
    }
    let short = short?;
    let rest = a.strip_prefix('-')?.strip_prefix(short)?;
    match rest {
        "" => Some((next, 2)),
        r => Some((Some(r.strip_prefix('=').unwrap_or(r)), 1)),
    }
}

/// Which files (and whether stdin) a gh command reads.
pub fn scan(args: &[String]) -> GhInputs {
    let mut out = GhInputs::default();
    let (group, cmd) = command(args);
    let body = matches!(
        (group, cmd),
        (Some("pr"), Some("create" | "comment" | "edit" | "review"))
            | (Some("issue"), Some("create" | "comment" | "edit"))
    );
    let api = group == Some("api");
    if !body && !api {
        return out;
    }
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            break;
        }
        let next = args.get(i + 1).map(String::as_str);
        let mut used = None;
        if body {
            if let Some((v, n)) = flag_value(a, next, "--body-file", Some('F')) {
                v.inspect(|v| out.add(v));
                used = Some(n);
            }
        } else {
            if let Some((v, n)) = flag_value(a, next, "--input", None) {
                v.inspect(|v| out.add(v));
                used = Some(n);
            } else if let Some((v, n)) = flag_value(a, next, "--field", Some('F')) {
                // `key=@file` reads the file; `key=value` is a typed literal.
                if let Some(f) = v
                    .and_then(|v| v.split_once('='))
                    .and_then(|(_, x)| x.strip_prefix('@'))
                {
                    out.add(f);
                }
                used = Some(n);
            }
        }
        i += match used {
            Some(n) => n,
            None if VALUE_FLAGS.contains(&a) || (api && a == "-f") => 2,
            None => 1,
        };
    }
    out
}

/// Read the named files (relative to the current directory) as UTF-8 text.
/// The error is a message for `gitgate: …` (exit 1).
pub fn read_files(names: &[String]) -> Result<Vec<(String, String)>, String> {
    names
        .iter()
        .map(|name| {
            let bytes =
                std::fs::read(name).map_err(|e| format!("cannot read the file '{name}': {e}"))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("the file '{name}' is not valid UTF-8 text"))?;
            Ok((name.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// (gh argv, files read, stdin read)
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    const TABLE: &[(&[&str], &[&str], bool)] = &[
        (&["pr", "create", "--body-file", "b.md"], &["b.md"], false),
        (&["pr", "create", "--body-file=b.md", "-t", "T"], &["b.md"], false),
        (&["pr", "create", "-F", "b.md"], &["b.md"], false),
        (&["pr", "create", "-Fb.md"], &["b.md"], false),
        (&["pr", "create", "-F=b.md"], &["b.md"], false),
        (&["pr", "create", "--body-file", "-"], &[], true),
        (&["pr", "create", "-F", "-", "--title", "x"], &[], true),
        (&["pr", "comment", "12", "-F", "c.md"], &["c.md"], false),
        (&["pr", "edit", "12", "--body-file", "e.md"], &["e.md"], false),
        (&["pr", "review", "12", "--body-file", "r.md"], &["r.md"], false),
        (&["issue", "create", "-F", "i.md", "-F", "i.md"], &["i.md"], false),
        (&["issue", "comment", "3", "--body-file=-"], &[], true),
        (&["issue", "edit", "3", "--body-file=x"], &["x"], false),
        (&["-R", "o/r", "pr", "create", "-F", "b"], &["b"], false),
        (&["pr", "-R", "o/r", "create", "-F", "b"], &["b"], false),
        // a value of another flag is not a flag
        (&["pr", "create", "--title", "-F", "--body", "x"], &[], false),
        (&["pr", "create", "-t", "--body-file"], &[], false),
        // -f is --fill (a switch) for pr create
        (&["pr", "create", "-f", "-F", "b"], &["b"], false),
        // after `--` nothing is a flag
        (&["pr", "create", "--", "-F", "x"], &[], false),
        // commands without file flags
        (&["pr", "list", "-F", "x"], &[], false),
        (&["pr", "view", "--body-file", "x"], &[], false),
        (&["repo", "view"], &[], false),
        (&[], &[], false),
        (&["pr", "create", "--body-file"], &[], false),
        // gh api
        (&["api", "repos/o/r/issues", "--input", "in.json"], &["in.json"], false),
        (&["api", "x", "--input=-"], &[], true),
        (&["api", "x", "-F", "body=@b.txt", "-F", "n=3"], &["b.txt"], false),
        (&["api", "x", "--field", "a=@a", "--field=b=@b", "-Fc=@c", "-F=d=@d"], &["a", "b", "c", "d"], false),
        (&["api", "x", "-F", "body=@-"], &[], true),
        (&["api", "x", "-f", "body=@raw", "--raw-field", "x=@y"], &[], false),
        (&["api", "x", "-f", "-F", "-F", "k=@f"], &["f"], false),
        (&["api", "x", "-H", "-F", "-F", "k=@f"], &["f"], false),
        (&["api", "x", "--body-file", "x"], &[], false),
    ];

    #[test]
    fn detection_table() {
        for (argv, files, stdin) in TABLE {
            let got = scan(&args(argv));
            assert_eq!(got.files, *files, "files of {argv:?}");
            assert_eq!(got.stdin, *stdin, "stdin of {argv:?}");
        }
    }

    #[test]
    fn reading_files() {
        let dir = std::env::temp_dir().join(format!("gitgate-shim-ghfiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.md");
        let bad = dir.join("bad.bin");
        std::fs::write(&good, "héllo\n").unwrap();
        std::fs::write(&bad, [0xff, 0xfe]).unwrap();
        let g = good.to_str().unwrap().to_owned();
        let b = bad.to_str().unwrap().to_owned();
        assert_eq!(
            read_files(std::slice::from_ref(&g)).unwrap(),
            [(g, "héllo\n".to_owned())]
        );
        assert!(read_files(&[b]).unwrap_err().contains("not valid UTF-8"));
        let missing = dir.join("missing").to_str().unwrap().to_owned();
        assert!(read_files(&[missing])
            .unwrap_err()
            .starts_with("cannot read the file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
