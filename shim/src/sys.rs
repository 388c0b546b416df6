//! The few libc functions the shim needs, declared by hand (the shim is std-only, no `libc` crate).
//!
//! Signals use the self-pipe trick: the handler only does an async-signal-safe `write` of the
//! signal number (one byte) to a non-blocking socket; a normal thread reads it and forwards it.
//! A second signal while forwarding ends the shim at once (`_exit(128 + sig)`), decided in the
//! handler itself so a stuck writer cannot delay it.

use std::ffi::{CStr, OsString};
use std::os::raw::{c_char, c_int, c_ulong, c_void};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

pub const SIGINT: c_int = 2;
pub const SIGPIPE: c_int = 13;
pub const SIGTERM: c_int = 15;
const SIG_IGN: usize = 1;

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
    fn signal(signum: c_int, handler: usize) -> usize;
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn _exit(code: c_int) -> !;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[cfg_attr(target_os = "android", link_name = "__errno")]
    fn __errno_location() -> *mut c_int;
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    #[link_name = "__error"]
    fn __errno_location() -> *mut c_int;
}

const SIG_ERR: usize = !0;

/// Where the handler writes; -1 until [`install_signal_pipe`] ran.
static PIPE_FD: AtomicI32 = AtomicI32::new(-1);
/// True while talking to the agent (signals are forwarded); false while a local git child runs.
static FORWARDING: AtomicBool = AtomicBool::new(true);
/// Signals received while forwarding.
static SEEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(sig: c_int) {
    if !FORWARDING.load(Ordering::SeqCst) {
        // A local git child runs in our process group and gets the terminal's SIGINT itself.
        if sig == SIGTERM {
            exit_now(128 + sig);
        }
        return;
    }
    if SEEN.fetch_add(1, Ordering::SeqCst) >= 1 {
        exit_now(128 + sig);
    }
    let fd = PIPE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = sig as u8;
    // SAFETY: write(2) and errno access are async-signal-safe; errno is restored for the
    // interrupted code.
    unsafe {
        let errno = __errno_location();
        let saved = *errno;
        write(fd, &byte as *const u8 as *const c_void, 1);
        *errno = saved;
    }
}

/// Route SIGINT and SIGTERM to a one-byte write on `fd` (which must be non-blocking and stay
/// open for the life of the process). Handlers are reset to the default by `exec`.
pub fn install_signal_pipe(fd: RawFd) -> Result<(), &'static str> {
    PIPE_FD.store(fd, Ordering::SeqCst);
    let handler = on_signal as extern "C" fn(c_int) as usize;
    for sig in [SIGINT, SIGTERM] {
        // SAFETY: installing a handler that only performs async-signal-safe work.
        // glibc and musl `signal` use BSD semantics (SA_RESTART, handler stays installed).
        if unsafe { signal(sig, handler) } == SIG_ERR {
            return Err("cannot install a signal handler");
        }
    }
    Ok(())
}

/// Ignore SIGPIPE, so a closed socket or stdout is an `EPIPE` error and not a silent death.
/// (`no_main` skips std's runtime, which would do this; `Command` restores the default for
/// the git processes the shim starts.)
pub fn ignore_sigpipe() {
    // SAFETY: setting a disposition, no handler code involved.
    unsafe { signal(SIGPIPE, SIG_IGN) };
}

/// The program arguments from the C `main`.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings (as the C runtime passes them).
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    if argv.is_null() {
        return Vec::new();
    }
    (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| *argv.add(i))
        .take_while(|p| !p.is_null())
        .map(|p| OsString::from_vec(CStr::from_ptr(p).to_bytes().to_vec()))
        .collect()
}

/// Block until `fd` reports an error or hang-up (for a pipe's write end: the reader is gone).
/// Returns at once if `fd` is invalid.
pub fn wait_hangup(fd: RawFd) {
    let mut p = PollFd {
        fd,
        events: 0,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd; no events requested, so only ERR/HUP/NVAL wake us.
        let r = unsafe { poll(&mut p, 1, -1) };
        if r > 0
            || (r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted)
        {
            return;
        }
    }
}

/// Stop forwarding signals (the conversation is over; a local git child may run now).
pub fn stop_forwarding() {
    FORWARDING.store(false, Ordering::SeqCst);
}

/// Exit at once, without running atexit handlers or taking stdio locks (safe from any thread).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no process state.
    unsafe { _exit(code) }
}

#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "sparc64"
    ))
))]
const TIOCGWINSZ: c_ulong = 0x5413;
#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    not(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "sparc64"
    ))
)))]
const TIOCGWINSZ: c_ulong = 0x4008_7468;

#[repr(C)]
#[derive(Default)]
struct WinSize {
    rows: u16,
    cols: u16,
    xpixel: u16,
    ypixel: u16,
}

/// Terminal width of `fd`, if it is a terminal that reports one.
pub fn terminal_cols(fd: RawFd) -> Option<u16> {
    let mut ws = WinSize::default();
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into the pointer we pass.
    let rc = unsafe { ioctl(fd, TIOCGWINSZ, &mut ws as *mut WinSize) };
    (rc == 0 && ws.cols > 0).then_some(ws.cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_from_c_argv() {
        let a = c"git";
        let b = c"st\xffatus";
        let argv = [a.as_ptr(), b.as_ptr(), std::ptr::null()];
        let got = unsafe { args(2, argv.as_ptr()) };
        assert_eq!(
            got,
            [
                OsString::from("git"),
                OsString::from_vec(b"st\xffatus".to_vec())
            ]
        );
        assert!(unsafe { args(0, std::ptr::null()) }.is_empty());
        // a NULL before argc entries ends the list
        assert_eq!(unsafe { args(5, argv.as_ptr()) }.len(), 2);
    }
}
