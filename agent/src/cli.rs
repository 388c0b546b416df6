//! Command line of `gitgate-agent`.

use std::path::PathBuf;

pub const USAGE: &str = "usage: gitgate-agent [--config FILE.toml] [--env-file FILE] [--check]

Holds the GitHub token and performs push/fetch/gh operations for gitgate shims.
  --config FILE     optional TOML file (keys: blocked_branches, allowed_repos, socket, ...)
  --env-file FILE   a .env file (KEY=VALUE) layered below the real environment
  --check           validate the configuration and exit (0 = valid, 2 = invalid)
Settings are documented in .env.example.";

#[derive(Debug, Default)]
pub struct Cli {
    pub config: Option<PathBuf>,
    pub env_file: Option<PathBuf>,
    pub check: bool,
}

pub enum Parsed {
    Run(Cli),
    Help,
    Version,
}

pub fn parse(args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut cli = Cli::default();
    let mut args = args.peekable();
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
