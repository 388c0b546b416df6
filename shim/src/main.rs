//! gitgate-shim: git's `git-remote-https`/`-http` helper, the native-mode `git`, `gh` and
//! `agent-status` (DESIGN §2).
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
mod gh;
mod native;
mod remote;
mod ssh;
mod sys;

use dispatch::Invocation;
use gitgate_proto::{exit, Tool};
use std::ffi::OsString;

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
        Invocation::Git(args) => Err(native::run(&args)),
        Invocation::Gh(args) => Err(gh::run(args)),
        Invocation::Tool(tool, args) => {
            // agent-status, and the pre-push hook (which streams its ref lines on stdin)
            let cwd = current_dir().or_else(|f| match tool {
                Tool::AgentStatus => Ok("/".to_owned()),
                _ => Err(f),
            })?;
            let hello = client::hello(tool, utf8_args(&args)?, cwd.clone());
            let code = client::converse(&hello, tool == Tool::Hook)?.code;
            Ok(code)
        }
        Invocation::Ssh(args) => Err(ssh::run(&args)),
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

fn utf8_path(p: &std::path::Path) -> Result<String, Fail> {
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
