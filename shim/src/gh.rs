//! `gh` (native mode, DESIGN §4): exec the real gh, pointed at the agent's API gateway.
//!
//! The real gh does all the client work; it holds no token. Its environment gets:
//! - `GH_CONFIG_DIR`: a gitgate-written config dir whose `config.yml` has
//!   `http_unix_socket: <API socket>` (gh then sends all its HTTP, as plain HTTP/1.1, over that
//!   socket) and no aliases (a user's shell aliases cannot run through the gateway's config);
//! - `GH_TOKEN`: a placeholder, so gh authenticates without asking (`gh auth token` prints it);
//! - `GH_HOST` from `GITGATE_GH_HOST` (GitHub Enterprise), and `GH_NO_UPDATE_NOTIFIER=1`;
//! - `GIT_EXEC_PATH` (the native-mode overlay) and, first on `PATH`, a directory holding only
//!   `git`, the real git: gh's own git calls then go through gitgate's transport without a shim
//!   exec each (see `native::git_for_gh`).
//!
//! The API socket is `GITGATE_API_SOCKET`, else `api.sock` beside `GITGATE_SOCKET` (the agent's
//! default, so one setting wires both).

use crate::Fail;
use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What gh sends as its token: not a token.
pub const PLACEHOLDER_TOKEN: &str = "gitgate-placeholder-not-a-token";

/// Exit code when the real gh cannot be found or run (like a shell's "command not found").
const NOT_FOUND: i32 = 127;

/// `GITGATE_API_SOCKET`, or `api.sock` beside the agent socket.
pub fn api_socket() -> PathBuf {
    match std::env::var_os("GITGATE_API_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let s = crate::client::socket_path();
            s.parent()
                .map(|d| d.join("api.sock"))
                .unwrap_or_else(|| PathBuf::from("/run/gitgate/api.sock"))
        }
    }
}

/// The config.yml gitgate gives gh.
pub fn config_text(socket: &Path) -> String {
    format!(
        "# Written by gitgate: gh talks to the GitHub API through the gitgate agent.\n\
         # Changes here are overwritten; gh's own settings can be set with GH_* variables.\n\
         git_protocol: https\n\
         http_unix_socket: {}\n\
         aliases: {{}}\n",
        yaml_scalar(&socket.to_string_lossy())
    )
}

/// A YAML double-quoted scalar.
fn yaml_scalar(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the config dir lives: `GITGATE_GH_CONFIG_DIR`, else `$XDG_CONFIG_HOME/gitgate/gh`, else
/// `$HOME/.config/gitgate/gh`, else a per-uid dir under /tmp.
fn config_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("GITGATE_GH_CONFIG_DIR") {
        return PathBuf::from(d);
    }
    if let Some(x) = env("XDG_CONFIG_HOME") {
        return Path::new(&x).join("gitgate").join("gh");
    }
    if let Some(h) = env("HOME") {
        return Path::new(&h).join(".config").join("gitgate").join("gh");
    }
    // SAFETY-free fallback: uid from /proc/self (std only).
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    PathBuf::from(format!("/tmp/gitgate-gh-{uid}"))
}

/// Write config.yml if it is not already exactly what we want.
fn ensure_config(dir: &Path, text: &str) -> Result<(), Fail> {
    let file = dir.join("config.yml");
    if std::fs::read_to_string(&file).ok().as_deref() == Some(text) {
        return Ok(());
    }
    let fail = |e: std::io::Error| {
        Fail::new(
            crate::EXIT_PROTOCOL,
            format!("cannot write gh's config in '{}': {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".config.yml.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, &file).map_err(fail)
}

/// `GITGATE_REAL_GH`, else the first `gh` on PATH that is not this shim.
pub fn real_gh(path_var: Option<&OsStr>, me: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GITGATE_REAL_GH").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path_var = path_var?;
    std::env::split_paths(path_var)
        .map(|d| d.join("gh"))
        .filter(|c| c.is_absolute() && c.is_file())
        .find(|c| !me.is_some_and(|me| crate::native::is_same_file(c, me)))
}

/// Exec the real gh. Returns only on failure.
pub fn run(args: Vec<OsString>) -> Fail {
    let me = std::env::current_exe().ok();
    let path_var = std::env::var_os("PATH");
    let Some(real) = real_gh(path_var.as_deref(), me.as_deref()) else {
        return Fail::new(
            NOT_FOUND,
            "gh is not installed: no gh on PATH besides the gitgate shim (install GitHub CLI, or set GITGATE_REAL_GH)",
        );
    };
    if me
        .as_deref()
        .is_some_and(|me| crate::native::is_same_file(&real, me))
    {
        return Fail::new(
            crate::EXIT_PROTOCOL,
            format!(
                "GITGATE_REAL_GH ({}) points at the gitgate shim itself; set it to the real gh",
                real.display()
            ),
        );
    }
    // A stopped agent: one clear line (like git's), not gh's "dial unix …" error.
    let socket = api_socket();
    if std::os::unix::net::UnixStream::connect(&socket).is_err() {
        return Fail::new(
            gitgate_proto::exit::UNREACHABLE,
            format!(
                "cannot reach the agent's API gateway at {} (start it: ./run.sh; check: ./run.sh --status)",
                socket.display()
            ),
        );
    }
    let dir = config_dir();
    if let Err(f) = ensure_config(&dir, &config_text(&socket)) {
        return f;
    }
    let mut cmd = Command::new(&real);
    cmd.arg0("gh")
        .args(&args)
        .env("GH_CONFIG_DIR", &dir)
        .env("GH_TOKEN", PLACEHOLDER_TOKEN)
        .env("GH_NO_UPDATE_NOTIFIER", "1")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_ENTERPRISE_TOKEN")
        .env_remove("GITHUB_ENTERPRISE_TOKEN");
    if let Some(h) = std::env::var_os("GITGATE_GH_HOST").filter(|h| !h.is_empty()) {
        cmd.env("GH_HOST", h);
    }
    // gh's own git calls: the real git with the overlay, no git shim exec each (native.rs).
    if let Some(me) = me.as_deref() {
        if let Some((bin, exec, templates)) = crate::native::git_for_gh(me) {
            let mut dirs = vec![bin];
            dirs.extend(std::env::split_paths(&path_var.unwrap_or_default()));
            if let Ok(p) = std::env::join_paths(dirs) {
                cmd.env("PATH", p);
                crate::native::use_overlay(&mut cmd, exec, templates);
                crate::native::refuse_ssh(&mut cmd, me);
            }
        }
    }
    let err = cmd.exec();
    Fail::new(
        NOT_FOUND,
        format!("cannot run the real gh ({}): {err}", real.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_points_at_the_socket() {
        let t = config_text(Path::new("/run/gitgate/api.sock"));
        assert!(t.contains("http_unix_socket: \"/run/gitgate/api.sock\"\n"));
        assert!(t.contains("aliases: {}\n"));
        let t = config_text(Path::new("/a \"b\"\n"));
        assert!(t.contains(r#"http_unix_socket: "/a \"b\"\u000a""#), "{t}");
    }

    #[test]
    fn finds_the_real_gh_but_not_itself() {
        let d = tempfile_dir();
        let a = d.join("a");
        let b = d.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("gh"), "shim").unwrap();
        std::fs::write(b.join("gh"), "real").unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        let found = real_gh(Some(&path), Some(&a.join("gh"))).unwrap();
        assert_eq!(found, b.join("gh"));
        assert_eq!(real_gh(Some(&path), None).unwrap(), a.join("gh"));
        let only_shim = std::env::join_paths([&a]).unwrap();
        assert_eq!(real_gh(Some(&only_shim), Some(&a.join("gh"))), None);
        let _ = std::fs::remove_dir_all(&d);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("gitgate-shim-gh-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}
