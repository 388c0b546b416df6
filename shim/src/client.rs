//! The conversation with the agent over its Unix socket (DESIGN §3, CONTRACTS): Hello, stdin
//! (streamed or an immediate StdinEof), forwarded signals; Stdout/Stderr written as they arrive
//! until the final Exit or Error frame.

use crate::{sys, Fail};
use gitgate_proto::{self as proto, exit, Exit, Frame, Hello, Tool, Tty};
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::os::unix::io::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub const DEFAULT_SOCKET: &str = "/run/gitgate/agent.sock";

/// `GITGATE_SOCKET`, or `/run/gitgate/agent.sock` when unset or empty.
pub fn socket_path() -> PathBuf {
    match std::env::var_os("GITGATE_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// Terminal width: `COLUMNS`, else the terminal on stdout (or stderr), else 80.
fn columns() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0)
        .or_else(|| sys::terminal_cols(1))
        .or_else(|| sys::terminal_cols(2))
        .unwrap_or(80)
}

/// A Hello for this process (tty flags and columns filled in).
pub fn hello(tool: Tool, args: Vec<String>, cwd: String) -> Hello {
    let mut h = Hello::new(tool, args, cwd);
    h.tty = Tty {
        stdin: io::stdin().is_terminal(),
        stdout: io::stdout().is_terminal(),
        stderr: io::stderr().is_terminal(),
    };
    h.cols = columns();
    h
}

/// The encoded Hello frame, or the "request too large" failure.
pub fn encode_hello(h: &Hello) -> Result<Vec<u8>, Fail> {
    let frame = Frame::Hello(h.clone()).encode();
    let len = frame.len() - 4; // what the length prefix counts: kind byte + payload
    if len > proto::MAX_HELLO {
        return Err(Fail::new(
            exit::PROTOCOL,
            format!(
                "request too large ({len} bytes; limit {})",
                proto::MAX_HELLO
            ),
        ));
    }
    Ok(frame)
}

/// The launcher commands for the mode the shim runs in: `GITGATE_MODE=native` (exported by
/// `./run.sh --native`'s export line) or the containers (default).
fn launcher_hint(mode: Option<&str>) -> &'static str {
    match mode {
        Some("native") => "start it: ./run.sh --native; check: ./run.sh --native --status",
        _ => "start it: ./run.sh; check: ./run.sh --status",
    }
}

fn unreachable(socket: &std::path::Path) -> Fail {
    let mode = std::env::var("GITGATE_MODE").ok();
    Fail::new(
        exit::UNREACHABLE,
        format!(
            "cannot reach the agent at {} ({})",
            socket.display(),
            launcher_hint(mode.as_deref())
        ),
    )
}

fn lost(why: impl std::fmt::Display) -> Fail {
    Fail::new(
        exit::PROTOCOL,
        format!("lost the connection to the agent ({why})"),
    )
}

type Writer = Arc<Mutex<UnixStream>>;

fn send(w: &Writer, frame: &Frame) -> io::Result<()> {
    let mut s = w.lock().unwrap_or_else(|p| p.into_inner());
    proto::write_frame(&mut *s, frame)
}

/// Catch SIGINT/SIGTERM into a self-pipe; returns its read end. Installed before connecting,
/// so a signal arriving early is kept until [`forward_signals`] runs (after Hello was sent).
fn catch_signals() -> Result<UnixStream, Fail> {
    let setup = |e: io::Error| {
        Fail::new(
            exit::PROTOCOL,
            format!("cannot set up signal forwarding: {e}"),
        )
    };
    let (rx, tx) = UnixStream::pair().map_err(setup)?;
    tx.set_nonblocking(true).map_err(setup)?;
    // The write end lives for the rest of the process: the handler may use it at any time.
    sys::install_signal_pipe(tx.into_raw_fd()).map_err(|e| Fail::new(exit::PROTOCOL, e))?;
    Ok(rx)
}

/// Turn caught signals into Signal frames on `w`.
fn forward_signals(mut rx: UnixStream, w: Writer) {
    std::thread::spawn(move || {
        let mut b = [0u8; 1];
        loop {
            match rx.read(&mut b) {
                Ok(1) => {
                    let sig = match b[0] as i32 {
                        sys::SIGTERM => proto::signal::SIGTERM,
                        _ => proto::signal::SIGINT,
                    };
                    // A failure shows up in the reading loop.
                    let _ = send(&w, &Frame::Signal(sig));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return,
            }
        }
    });
}

/// Stream our stdin as Stdin frames, then StdinEof.
fn pump_stdin(w: Writer) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; proto::CHUNK];
        let mut stdin = io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if send(&w, &Frame::Data(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // an unreadable stdin ends like an empty one
                Err(_) => break,
            }
        }
        let _ = send(&w, &Frame::DataEof);
    });
}

fn write_out(data: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(data).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            // like a program killed by SIGPIPE (`gh pr list | head -1`)
            drop(out);
            sys::exit_now(128 + 13);
        }
    }
}

fn write_err(data: &[u8]) {
    let _ = io::stderr().lock().write_all(data);
}

/// Talk to the agent: send `hello`, stream stdin when `stdin` is set, print output as it
/// arrives. Returns the Exit frame; an Error frame or a protocol failure is an `Err`.
pub fn converse(hello: &Hello, stdin: bool) -> Result<Exit, Fail> {
    let frame = encode_hello(hello)?;
    let socket = socket_path();
    sys::ignore_sigpipe();
    let signals = catch_signals()?;
    let stream = UnixStream::connect(&socket).map_err(|_| unreachable(&socket))?;
    let reader = stream.try_clone().map_err(lost)?;
    let writer: Writer = Arc::new(Mutex::new(stream));
    // Hello (and StdinEof when stdin is not wanted) in one write. If the agent refused the
    // connection before reading it (peer check, busy), the write can fail while its Error frame
    // is already waiting for us: read it before reporting a lost connection.
    let sent = {
        let mut s = writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut first = frame;
        if !stdin {
            first.extend_from_slice(&Frame::DataEof.encode());
        }
        s.write_all(&first)
    };
    if sent.is_ok() {
        forward_signals(signals, writer.clone());
        if stdin {
            pump_stdin(writer.clone());
        }
    }
    let result = match (read_until_final(reader), sent) {
        (Err(_), Err(e)) => Err(lost(e)),
        (r, _) => r,
    };
    sys::stop_forwarding();
    let s = writer.lock().unwrap_or_else(|p| p.into_inner());
    let _ = s.shutdown(std::net::Shutdown::Both);
    result
}

fn read_until_final(stream: UnixStream) -> Result<Exit, Fail> {
    let mut r = BufReader::with_capacity(proto::CHUNK + 5, stream);
    loop {
        match proto::read_frame(&mut r) {
            Ok(Some(Frame::Data(b))) => write_out(&b),
            Ok(Some(Frame::Stderr(b))) => write_err(&b),
            Ok(Some(Frame::Exit(e))) => return Ok(e),
            Ok(Some(Frame::Error(e))) => {
                let msg = e.message.strip_prefix("gitgate: ").unwrap_or(&e.message);
                return Err(Fail::new(e.code, msg.trim_end_matches('\n')));
            }
            Ok(Some(other)) => {
                return Err(lost(format_args!("unexpected {:?} frame", other.kind())))
            }
            Ok(None) => return Err(lost("closed before the final frame")),
            Err(e) => return Err(lost(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_hint_follows_the_mode() {
        assert_eq!(
            launcher_hint(Some("native")),
            "start it: ./run.sh --native; check: ./run.sh --native --status"
        );
        for m in [None, Some("containers"), Some("")] {
            assert_eq!(
                launcher_hint(m),
                "start it: ./run.sh; check: ./run.sh --status"
            );
        }
    }

    #[test]
    fn hello_size_limit() {
        let mut h = Hello::new(Tool::Hook, vec!["pre-push".into()], "/w".into());
        assert!(encode_hello(&h).is_ok());
        h.args.push("x".repeat(proto::MAX_HELLO));
        let f = encode_hello(&h).unwrap_err();
        assert_eq!(f.code, 125);
        assert!(
            f.message.starts_with("request too large ("),
            "{}",
            f.message
        );
        assert!(f.message.ends_with(" bytes; limit 65536)"), "{}", f.message);
    }
}
