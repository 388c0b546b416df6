//! `gitgate-agent --probe`: a readiness/liveness check that really talks to the agent (Kubernetes
//! `exec` probes, compose healthchecks). It connects to `GITGATE_SOCKET` (default
//! `/run/gitgate/agent.sock`), sends an `agent-status` request over the wire protocol and succeeds
//! only when the agent answers `Exit 0`, all within [`TIMEOUT`]. It reads no configuration file,
//! no `.env` and no token; std only, no runtime.

use gitgate_proto::{read_frame, Frame, Hello, Tool};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The whole probe (connect, request, answer) finishes within this.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// `agent-status` answers with a few Stdout frames; more than this is not an agent.
const MAX_FRAMES: usize = 1024;
const DEFAULT_SOCKET: &str = "/run/gitgate/agent.sock";

/// The socket the probe talks to: `GITGATE_SOCKET` from the environment, else the default.
pub fn socket_path() -> PathBuf {
    std::env::var_os("GITGATE_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// `Ok(())` when the agent answered `agent-status` with Exit 0; otherwise the one-line reason.
pub fn probe(socket: &std::path::Path, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let secs = timeout.as_secs_f64();
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer from the agent within {secs} s"))
    };
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot connect to {} ({e}): the agent is not running or GITGATE_SOCKET points elsewhere",
            socket.display()
        )
    })?;
    s.set_write_timeout(Some(left()?))
        .map_err(|e| format!("socket: {e}"))?;
    let mut request = Frame::Hello(Hello::new(Tool::AgentStatus, vec![], "/".into())).encode();
    request.extend(Frame::DataEof.encode());
    s.write_all(&request)
        .map_err(|e| format!("cannot send the request to {}: {e}", socket.display()))?;
    for _ in 0..MAX_FRAMES {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| format!("socket: {e}"))?;
        match read_frame(&mut s) {
            Ok(Some(Frame::Exit(e))) if e.code == 0 => return Ok(()),
            Ok(Some(Frame::Exit(e))) => {
                return Err(format!("agent-status exited with code {}", e.code))
            }
            Ok(Some(Frame::Error(e))) => {
                return Err(format!(
                    "the agent refused agent-status: {}",
                    one_line(&e.message)
                ))
            }
            Ok(Some(_)) => continue,
            Ok(None) => return Err("the agent closed the connection without an answer".into()),
            Err(gitgate_proto::ProtoError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer from the agent within {secs} s"))
            }
            Err(e) => return Err(format!("bad answer from the agent: {e}")),
        }
    }
    Err(format!(
        "more than {MAX_FRAMES} frames without a final answer"
    ))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_socket_is_one_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let e = probe(&dir.path().join("agent.sock"), TIMEOUT).unwrap_err();
        assert!(e.starts_with("cannot connect to "), "{e}");
        assert!(e.contains("agent.sock") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn a_silent_listener_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let e = probe(&p, Duration::from_millis(200)).unwrap_err();
        assert_eq!(e, "no answer from the agent within 0.2 s");
    }

    #[test]
    fn only_exit_zero_is_success() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.sock");
        let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let answers = [
            Frame::Exit(gitgate_proto::Exit::code(0)),
            Frame::Exit(gitgate_proto::Exit::code(3)),
            Frame::Error(gitgate_proto::ErrorMsg {
                message: "gitgate: connection refused: uid 1 is not allowed\non this socket (ALLOWED_UIDS)".into(),
                code: 126,
            }),
            Frame::Data(b"half an answer".to_vec()),
        ];
        let server = std::thread::spawn(move || {
            for a in answers {
                let (mut c, _) = l.accept().unwrap();
                let Ok(Some(Frame::Hello(h))) = read_frame(&mut c) else {
                    panic!("no hello")
                };
                assert_eq!(h.tool, Tool::AgentStatus);
                let mut rest = [0u8; 5];
                c.read_exact(&mut rest).unwrap(); // StdinEof
                c.write_all(&Frame::Data(b"status text\n".to_vec()).encode())
                    .unwrap();
                c.write_all(&a.encode()).unwrap();
            }
        });
        assert_eq!(probe(&p, TIMEOUT), Ok(()));
        assert_eq!(
            probe(&p, TIMEOUT).unwrap_err(),
            "agent-status exited with code 3"
        );
        assert_eq!(
            probe(&p, TIMEOUT).unwrap_err(),
            "the agent refused agent-status: gitgate: connection refused: uid 1 is not allowed on this socket (ALLOWED_UIDS)"
        );
        assert_eq!(
            probe(&p, TIMEOUT).unwrap_err(),
            "the agent closed the connection without an answer"
        );
        server.join().unwrap();
    }
}
