//! `git-remote-https` / `git-remote-http`: git's remote helper (gitremote-helpers(7)), so the
//! real git does all the client work and gitgate is only its transport (DESIGN §2).
//!
//! git runs `git-remote-https <remote> [<url>]` and talks on our stdin/stdout:
//! `capabilities` → we answer `connect` (and `stateless-connect`, which git only tries when
//! `connect` is absent); `connect <service>` → we open the agent socket with a transport Hello,
//! wait for the agent's first frame, answer git with an empty line and become a full-duplex pipe:
//! git's bytes go to the agent as `Data` frames, the agent's `Data` frames go to git unchanged,
//! `Stderr` frames to our stderr, and the final `Exit` is our exit code. An `Error` frame is
//! printed as git's own helpers print failures (`fatal: …`) and we exit 128.
//!
//! The helper holds no policy: the agent decides everything.

use crate::{sys, Fail};
use gitgate_proto::{self as proto, Frame, Hello, Kind, ProtoError};
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

/// Longest command line git sends us (`connect git-receive-pack`, `option …`).
const MAX_LINE: usize = 8 * 1024;

/// git exits 128 when its transport dies; so do its own helpers on a fatal error.
const FATAL: i32 = 128;

fn fatal(msg: impl Into<String>) -> Fail {
    Fail::new(FATAL, msg)
}

/// Read one `\n`-terminated line (without the newline), bounded. `None` at end of input.
fn read_line(r: &mut impl BufRead) -> Result<Option<String>, Fail> {
    let mut buf = Vec::new();
    let n = r
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|e| fatal(format!("cannot read from git: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(fatal(
            "remote helper: command line from git too long or unterminated",
        ));
    }
    buf.pop();
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| fatal("remote helper: command from git is not UTF-8"))
}

fn say(out: &mut impl Write, text: &str) -> Result<(), Fail> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| fatal(format!("cannot write to git: {e}")))
}

/// The helper's main loop. `args`: what follows the program name (`<remote> [<url>]`).
pub fn run(args: &[OsString]) -> Result<i32, Fail> {
    let url = match args {
        [_, url, ..] => url,
        [name] => name,
        [] => return Err(Fail::new(129, "usage: git-remote-https <remote> [<url>]")),
    };
    let url = url
        .to_str()
        .ok_or_else(|| fatal("the remote URL is not valid UTF-8"))?
        .to_owned();
    let mut input = BufReader::with_capacity(proto::CHUNK, io::stdin());
    let mut out = io::stdout().lock();
    loop {
        let Some(line) = read_line(&mut input)? else {
            return Ok(0);
        };
        let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match cmd {
            "capabilities" => say(&mut out, "connect\nstateless-connect\n\n")?,
            // Only sent when we advertise `option`; answer sensibly anyway.
            "option" => say(&mut out, "unsupported\n")?,
            "connect" => {
                if !proto::SERVICES.contains(&arg) {
                    return Err(fatal(format!(
                        "gitgate: the git service '{}' is not supported",
                        arg.escape_default()
                    )));
                }
                drop(out);
                return connect(arg, &url, input);
            }
            "stateless-connect" => {
                return Err(fatal(
                    "gitgate: stateless-connect is not used by this helper (git prefers connect)",
                ))
            }
            // git ends the conversation with an empty line.
            "" => return Ok(0),
            other => {
                return Err(fatal(format!(
                    "remote helper: unknown command '{}'",
                    other.escape_default()
                )))
            }
        }
    }
}

fn lost(why: impl std::fmt::Display) -> Fail {
    fatal(format!("gitgate: lost the connection to the agent ({why})"))
}

/// `connect <service>`: pipe git's protocol bytes through the agent.
fn connect(service: &str, url: &str, input: BufReader<io::Stdin>) -> Result<i32, Fail> {
    let protocol = std::env::var("GIT_PROTOCOL").unwrap_or_default();
    let hello = Hello::transport(service, url, &protocol);
    let frame = crate::client::encode_hello(&hello)?;
    let socket = crate::client::socket_path();
    sys::ignore_sigpipe();
    let mut stream = UnixStream::connect(&socket).map_err(|_| {
        fatal(format!(
            "gitgate: cannot reach the agent at {} (start it: ./run.sh; check: ./run.sh --status)",
            socket.display()
        ))
    })?;
    let sent = stream.write_all(&frame);
    let mut reader = BufReader::with_capacity(proto::CHUNK + 5, stream.try_clone().map_err(lost)?);
    // Wait for the agent's first answer before telling git the connection is up: a refusal
    // (repository not allowed, no token…) is then the only thing git's user sees.
    let first = match proto::read_frame(&mut reader) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(lost("closed before answering")),
        Err(e) => return Err(sent.err().map(lost).unwrap_or_else(|| lost(e))),
    };
    let mut out = io::stdout().lock();
    match first {
        Frame::Data(_) | Frame::Stderr(_) => say(&mut out, "\n")?,
        _ => {}
    }
    if let Some(code) = deliver(first, &mut out)? {
        return Ok(code);
    }
    std::thread::spawn(move || pump(input, stream));
    let mut body = vec![0u8; proto::CHUNK];
    loop {
        match read_next(&mut reader, &mut body) {
            Ok(Some(Next::Data(len))) => {
                if give(&mut out, &body[..len]) {
                    return Ok(0);
                }
            }
            Ok(Some(Next::Frame(f))) => {
                if let Some(code) = deliver(f, &mut out)? {
                    return Ok(code);
                }
            }
            Ok(None) | Err(_) if hung_up() => return Ok(0),
            Ok(None) => return Err(lost("closed before the final frame")),
            Err(e) => return Err(lost(e)),
        }
    }
}

/// What [`read_next`] read: a `Data` frame, its payload in the caller's buffer, or another frame.
#[derive(Debug)]
enum Next {
    /// The payload is `body[..len]`.
    Data(usize),
    Frame(Frame),
}

/// [`proto::read_frame`] for the hot path: a `Data` payload is read into `body`, reused from
/// frame to frame (it only grows, so it is zeroed once). Allocating each frame's payload, as
/// `read_frame` does, is cheap with glibc's malloc but not with the static (musl) build's:
/// musl's allocator maps and unmaps memory for nearly every short-lived buffer of a few KiB
/// (one mmap + munmap per frame: 12,000 of each on a 50 MB clone).
fn read_next(r: &mut impl Read, body: &mut Vec<u8>) -> Result<Option<Next>, ProtoError> {
    let Some((kind, len)) = proto::read_header(r)? else {
        return Ok(None);
    };
    if body.len() < len {
        body.resize(len, 0);
    }
    let payload = &mut body[..len];
    proto::read_payload(r, payload)?;
    if kind == Kind::Data {
        return Ok(Some(Next::Data(len)));
    }
    proto::decode_body(kind, payload).map(|f| Some(Next::Frame(f)))
}

/// Write agent data to git; true when git closed its end (e.g. `ls-remote` done), which is not
/// our failure.
fn give(out: &mut impl Write, data: &[u8]) -> bool {
    out.write_all(data).and_then(|()| out.flush()).is_err()
}

/// `Frame::Data(payload).encode()` into `frame`, reused (see [`read_next`]).
fn encode_data(frame: &mut Vec<u8>, payload: &[u8]) {
    frame.clear();
    frame.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
    frame.push(Kind::Data as u8);
    frame.extend_from_slice(payload);
}

/// Handle one frame from the agent; `Some(code)` when it was the final one.
fn deliver(frame: Frame, out: &mut impl Write) -> Result<Option<i32>, Fail> {
    match frame {
        Frame::Data(b) => {
            if give(out, &b) {
                return Ok(Some(0));
            }
            Ok(None)
        }
        Frame::Stderr(b) => {
            let _ = io::stderr().lock().write_all(&b);
            Ok(None)
        }
        Frame::Exit(e) => Ok(Some(e.code)),
        Frame::Error(e) => {
            let msg = e.message.trim_end_matches('\n');
            // Upstream failures are worded as git words them ("gitgate: fatal: repository … not
            // found" → "fatal: repository … not found"); the agent's own refusals keep "gitgate:".
            let msg = match msg.strip_prefix("gitgate: fatal: ") {
                Some(git_words) => git_words.to_owned(),
                None if msg.starts_with("gitgate:") => msg.to_owned(),
                None => format!("gitgate: {msg}"),
            };
            Err(fatal(msg))
        }
        other => Err(lost(format_args!("unexpected {:?} frame", other.kind()))),
    }
}

/// git's side of the pipe: everything it writes after `connect`, as Data frames, then DataEof.
fn pump(mut input: BufReader<io::Stdin>, mut stream: UnixStream) {
    let mut buf = vec![0u8; proto::CHUNK];
    let mut frame = Vec::with_capacity(proto::CHUNK + 5);
    loop {
        // Bytes git sent right behind the `connect` line are already in the buffer.
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        encode_data(&mut frame, &buf[..n]);
        if stream.write_all(&frame).is_err() {
            return;
        }
    }
    let _ = stream.write_all(&Frame::DataEof.encode());
    // git closing our stdin is also how a killed git looks: when our stdout's reader is gone
    // too, nobody waits for the answer, so hang up (the agent cancels what is not upstream yet).
    // (git also closes both ends at a normal end, then waits for us: give the agent's final
    // frame time to arrive first.)
    sys::wait_hangup(1);
    std::thread::sleep(std::time::Duration::from_secs(2));
    HUNG_UP.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Set when git went away and we hung up on the agent: the conversation's end is then ours.
static HUNG_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn hung_up() -> bool {
    HUNG_UP.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_terminated() {
        let mut r = io::Cursor::new(b"capabilities\nconnect git-upload-pack\n".to_vec());
        assert_eq!(read_line(&mut r).unwrap().as_deref(), Some("capabilities"));
        assert_eq!(
            read_line(&mut r).unwrap().as_deref(),
            Some("connect git-upload-pack")
        );
        assert_eq!(read_line(&mut r).unwrap(), None);
        let mut long = io::Cursor::new(vec![b'a'; MAX_LINE + 10]);
        assert_eq!(read_line(&mut long).unwrap_err().code, FATAL);
        let mut cut = io::Cursor::new(b"capab".to_vec());
        assert!(read_line(&mut cut).is_err());
    }

    #[test]
    fn error_frames_become_one_fatal_line() {
        let mut out = Vec::new();
        let f = deliver(
            Frame::Error(proto::ErrorMsg {
                message: "gitgate: repository 'a/b' is not in ALLOWED_REPOS".into(),
                code: 126,
            }),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(f.code, 128);
        assert_eq!(
            f.message,
            "gitgate: repository 'a/b' is not in ALLOWED_REPOS"
        );
        assert_eq!(
            deliver(Frame::Exit(proto::Exit::code(1)), &mut out).unwrap(),
            Some(1)
        );
        let f = deliver(
            Frame::Error(proto::ErrorMsg {
                message: "gitgate: fatal: repository 'https://h/o/r.git/' not found".into(),
                code: 128,
            }),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(f.message, "repository 'https://h/o/r.git/' not found");
        assert_eq!(deliver(Frame::Data(b"x".to_vec()), &mut out).unwrap(), None);
        assert_eq!(out, b"x");
    }

    #[test]
    fn the_reused_buffer_path_reads_and_writes_what_proto_does() {
        let frames = [
            Frame::Data(b"PACK\x00\x01".to_vec()),
            Frame::Stderr(b"remote: counting\n".to_vec()),
            Frame::Data(vec![7u8; proto::CHUNK]),
            Frame::Data(b"short".to_vec()),
            Frame::Exit(proto::Exit::code(0)),
        ];
        let mut wire = Vec::new();
        let mut frame = Vec::new();
        for f in &frames {
            if let Frame::Data(d) = f {
                encode_data(&mut frame, d);
                assert_eq!(frame, f.encode());
            }
            wire.extend_from_slice(&f.encode());
        }
        let mut r = io::Cursor::new(wire.clone());
        let mut body = Vec::new();
        for f in &frames {
            match (read_next(&mut r, &mut body).unwrap().unwrap(), f) {
                (Next::Data(len), Frame::Data(d)) => assert_eq!(&body[..len], d),
                (Next::Frame(got), want) => assert_eq!(got.encode(), want.encode()),
                (got, want) => panic!("read {got:?}, sent {want:?}"),
            }
        }
        assert!(read_next(&mut r, &mut body).unwrap().is_none());
        // Cut anywhere inside a frame: truncated, as read_frame says.
        for cut in [1, 4, 5, 8] {
            let mut r = io::Cursor::new(wire[..cut].to_vec());
            assert!(matches!(
                read_next(&mut r, &mut body),
                Err(ProtoError::Truncated)
            ));
            let mut r = io::Cursor::new(wire[..cut].to_vec());
            assert!(matches!(
                proto::read_frame(&mut r),
                Err(ProtoError::Truncated)
            ));
        }
        // A bad header is refused before any body is read.
        let mut r = io::Cursor::new(vec![0, 0, 0, 0, 1]);
        assert!(matches!(
            read_next(&mut r, &mut body),
            Err(ProtoError::Empty)
        ));
    }
}
