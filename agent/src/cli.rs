//! Command line of `gitgate-agent`.

use std::path::PathBuf;

pub const USAGE: &str = "usage: gitgate-agent [--config FILE.toml] [--env-file FILE] [--check]
       gitgate-agent --probe

Holds the GitHub token and performs push/fetch/gh operations for gitgate shims.
  --config FILE     optional TOML file (keys: blocked_branches, allowed_repos, socket, ...)
  --env-file FILE   a .env file (KEY=VALUE) layered below the real environment
  --check           validate the configuration and exit (0 = valid, 2 = invalid)
  --probe           health check (Kubernetes readiness/liveness): send agent-status to the
                    running agent on GITGATE_SOCKET (default /run/gitgate/agent.sock); exit 0
                    only if it answers with success within 3 s, else 1 with a one-line reason.
                    Reads no configuration, .env or token.
Settings are documented in .env.example.";

#[derive(Debug, Default)]
pub struct Cli {
    pub config: Option<PathBuf>,
    pub env_file: Option<PathBuf>,
    pub check: bool,
}

pub enum Parsed {
    Run(Cli),
    /// `--probe` (alone: it reads no configuration).
    Probe,
    Help,
    Version,
}

pub fn parse(args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut cli = Cli::default();
    let args: Vec<String> = args.collect();
    if args.iter().any(|a| a == "--probe") {
        return match args.as_slice() {
            [only] if only == "--probe" => Ok(Parsed::Probe),
            _ => Err("--probe takes no other arguments (it reads GITGATE_SOCKET only)".into()),
        };
    }
    let mut args = args.into_iter().peekable();
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--config" => cli.config = Some(value("--config")?.into()),
            "--env-file" => cli.env_file = Some(value("--env-file")?.into()),
            "--check" => cli.check = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(Parsed::Run(cli))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(a: &[&str]) -> Result<Parsed, String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn probe_stands_alone() {
        assert!(matches!(parse_strs(&["--probe"]), Ok(Parsed::Probe)));
        let e = parse_strs(&["--env-file", ".env", "--probe"])
            .err()
            .unwrap();
        assert!(e.contains("--probe takes no other arguments"), "{e}");
        assert!(matches!(parse_strs(&["--check"]), Ok(Parsed::Run(c)) if c.check));
    }
}
