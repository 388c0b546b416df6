//! gitgate-shim: the `git`, `gh` and `agent-status` front-end in the AI container (DESIGN §2).
//! std only. This file only wires the modules together.
//!
//! `no_main`: the local git path (exec of the real git) is hot, and skipping std's runtime setup
//! (stack-guard probe via /proc/self/maps, sigaltstack, SIGPIPE change) saves ~0.1 ms per call.
//! Arguments come from the C `main`'s argv (std's own capture is glibc-only without its runtime).
#![cfg_attr(not(test), no_main)]
// In unit-test builds the harness owns `main`, so the entry point and what only it uses look unused.
#![cfg_attr(test, allow(dead_code))]

mod client;
mod dispatch;
mod ghfiles;
mod gitargs;
mod prepush;
mod realgit;
mod remote;
mod sys;

use dispatch::Invocation;
use gitargs::GitArgs;
use gitgate_proto::{exit, Tool};
use std::ffi::OsString;
use std::path::Path;

pub const EXIT_PROTOCOL: i32 = exit::PROTOCOL;

/// A failure: printed as one line `gitgate: <message>`, then exit with `code`.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }
}

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(
    argc: std::os::raw::c_int,
    argv: *const *const std::os::raw::c_char,
) -> std::os::raw::c_int {
    // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
    let args = unsafe { sys::args(argc, argv) };
    let code = run(args).unwrap_or_else(|f| {
        eprintln!("gitgate: {}", f.message);
        f.code
    });
    // an exit status is one byte: keep an out-of-range code from wrapping to success
    std::process::exit(if (0..=255).contains(&code) {
        code
    } else {
        EXIT_PROTOCOL
    })
}

fn run(argv: Vec<OsString>) -> Result<i32, Fail> {
    match dispatch::dispatch(argv) {
        Invocation::Git(args) => git(&args),
        Invocation::Tool(Tool::Gh, args) => gh(args),
        Invocation::Tool(tool, args) => {
            // agent-status, and the pre-push hook (which streams its ref lines on stdin)
            let cwd = current_dir().or_else(|f| match tool {
                Tool::AgentStatus => Ok("/".to_owned()),
                _ => Err(f),
            })?;
            let hello = client::hello(tool, utf8_args(&args)?, cwd.clone());
            let code = client::converse(&hello, tool == Tool::Hook)?.code;
            if tool == Tool::AgentStatus && args.is_empty() {
                if let Some(line) = prepush::report(Path::new(&cwd)) {
                    // Not println!: a closed stdout (`agent-status | head`) must not panic.
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stdout(), "{line}");
                }
            }
            Ok(code)
        }
        Invocation::Remote(args) => Ok(remote::run(&args).unwrap_or_else(|f| {
            // git's own helpers report a fatal transport error this way.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "fatal: {}", f.message);
            f.code
        })),
        Invocation::Version => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stdout(),
                "gitgate-shim {}",
                env!("CARGO_PKG_VERSION")
            );
            Ok(0)
        }
        Invocation::Usage => Err(Fail::new(2, dispatch::USAGE)),
    }
}

/// `git …`: local commands exec the real git; network commands go to the agent, then the shim
/// finishes locally (fetch from the mirror, update remote-tracking refs).
fn git(args: &[OsString]) -> Result<i32, Fail> {
    let parsed = GitArgs::parse(args);
    let real = realgit::path();
    if !parsed.goes_to_agent() {
        return Err(realgit::exec(&real, args));
    }
    let base = std::env::current_dir().map_err(no_cwd)?;
    let cwd = parsed.cwd(&base);
    let hello = client::hello(Tool::Git, utf8_args(parsed.command())?, utf8_path(&cwd)?);
    let done = client::converse(&hello, false)?;

    let mut code = done.code;
    let is_clone = hello.args.first().is_some_and(|s| s == "clone");
    if !is_clone {
        prepush::ensure(&cwd);
    }
    if let (Some(mirror), Some(url)) = (&done.mirror, &done.url) {
        let dir = std::env::var_os("GITGATE_MIRROR_DIR");
        let mirror = realgit::remap_mirror(mirror, dir.as_deref());
        let margs = realgit::mirror_args(&mirror, url, &parsed.global_opts(), parsed.command());
        realgit::refuse_symlinked_fetch_head(&cwd)?;
        if done.local_git.is_empty() && !is_clone {
            return Err(realgit::exec(&real, &margs));
        }
        code = realgit::run(&real, &margs)?;
        if is_clone && code == 0 {
            if let Some(dir) = prepush::clone_dir(&cwd, &hello.args) {
                prepush::ensure(&dir);
            }
        }
    }
    let global = parsed.global_opts_without_chdir();
    for step in &done.local_git {
        realgit::run_local_step(&real, &cwd, &global, step);
    }
    Ok(code)
}

/// `gh …`: read the files the command names, then forward everything to the agent.
fn gh(args: Vec<OsString>) -> Result<i32, Fail> {
    let args = utf8_args(&args)?;
    let inputs = ghfiles::scan(&args);
    let files = ghfiles::read_files(&inputs.files).map_err(|m| Fail::new(1, m))?;
    let mut hello = client::hello(Tool::Gh, args, current_dir()?);
    hello.files = files;
    Ok(client::converse(&hello, inputs.stdin)?.code)
}

fn utf8_args(args: &[OsString]) -> Result<Vec<String>, Fail> {
    args.iter()
        .map(|a| {
            a.to_str().map(str::to_owned).ok_or_else(|| {
                Fail::new(
                    EXIT_PROTOCOL,
                    format!("argument is not valid UTF-8: {}", a.to_string_lossy()),
                )
            })
        })
        .collect()
}

fn no_cwd(e: std::io::Error) -> Fail {
    Fail::new(
        EXIT_PROTOCOL,
        format!("cannot determine the current directory: {e}"),
    )
}

fn utf8_path(p: &Path) -> Result<String, Fail> {
    p.to_str().map(str::to_owned).ok_or_else(|| {
        Fail::new(
            EXIT_PROTOCOL,
            format!("directory is not valid UTF-8: {}", p.display()),
        )
    })
}

fn current_dir() -> Result<String, Fail> {
    utf8_path(&std::env::current_dir().map_err(no_cwd)?)
}
