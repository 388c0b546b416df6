//! The Unix-socket server: peer credentials, concurrency limits, Hello deadline, framing, and the
//! plumbing that turns a connection into a [`Request`] with cancellation.

use crate::audit::AuditRecord;
use crate::config::Settings;
use crate::dispatch;
use crate::error::AgentError;
use crate::session::{Output, Peer, Request, Stdin};
use crate::state::AgentState;
use gitgate_proto::{self as proto, ErrorMsg, Frame, Hello, ProtoError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Most stdin a request may send (gh bodies, pre-push lines).
pub const STDIN_LIMIT: usize = 8 * 1024 * 1024;

/// Bind the socket: parent dir created 0750 if missing, stale socket removed, socket 0660.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            // A live agent would answer; a stale file from a crash would block the bind.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another agent is already listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// How the server stops (SIGTERM/SIGINT): first `stop_accepting` (the listener closes and
/// connections still waiting for their Hello are dropped), then, after most of the grace period,
/// `abort_work` (in-flight operations are cancelled and settle honestly). `tracker` knows when every
/// connection has finished.
#[derive(Clone, Default)]
pub struct Shutdown {
    pub stop_accepting: CancellationToken,
    pub abort_work: CancellationToken,
    pub tracker: tokio_util::task::TaskTracker,
}

pub async fn serve(state: Arc<AgentState>, listener: UnixListener, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.stop_accepting.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    let sd = shutdown.clone();
                    shutdown.tracker.spawn(async move { connection(state, stream, sd).await });
                }
                Err(e) => {
                    // EMFILE/ENFILE under a flood: back off briefly instead of spinning or dying.
                    crate::log::warn(&state, &format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

pub(crate) fn peer_of(stream: &UnixStream) -> Option<Peer> {
    let cred =
        nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some(Peer {
        uid: cred.uid(),
        pid: cred.pid(),
    })
}

/// Reads frames from the client half of the socket: the 5-byte header first (checked against the
/// limits), then exactly the payload it announced. Nothing is buffered ahead, so an idle
/// connection costs no read buffer.
struct FrameReader {
    rd: OwnedReadHalf,
}

impl FrameReader {
    async fn next(&mut self) -> Result<Option<Frame>, ProtoError> {
        let mut header = [0u8; 5];
        if self.rd.read(&mut header[..1]).await? == 0 {
            return Ok(None);
        }
        read_exact(&mut self.rd, &mut header[1..]).await?;
        let (kind, total) = proto::check_header(header)?;
        let mut payload = vec![0u8; total - header.len()];
        read_exact(&mut self.rd, &mut payload).await?;
        proto::decode_body(kind, &payload).map(Some)
    }
}

async fn read_exact(rd: &mut OwnedReadHalf, buf: &mut [u8]) -> Result<(), ProtoError> {
    match rd.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProtoError::Truncated),
        Err(e) => Err(ProtoError::Io(e)),
    }
}

/// Send a final Error frame and close. The read side is drained for a moment first so a client
/// still writing its Hello does not hit a closed socket before it can read the error.
async fn send_error_and_close(
    rd: Option<OwnedReadHalf>,
    mut wr: OwnedWriteHalf,
    msg: String,
    code: i32,
) {
    let frame = Frame::Error(ErrorMsg { message: msg, code });
    let _ = tokio::time::timeout(Duration::from_secs(2), wr.write_all(&frame.encode())).await;
    let _ = wr.shutdown().await;
    if let Some(mut rd) = rd {
        let drain = async {
            let mut sink = [0u8; 4096];
            let mut total = 0usize;
            // Bounded: at most one maximal frame's worth, then we close regardless.
            while total < proto::MAX_FRAME {
                match rd.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }
}

/// Decrements the per-peer count when the request ends, however it ends.
struct PeerSlot<'a> {
    state: &'a AgentState,
    uid: u32,
}

impl Drop for PeerSlot<'_> {
    fn drop(&mut self) {
        let mut map = self
            .state
            .per_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.uid);
            }
        }
    }
}

fn take_peer_slot(state: &AgentState, uid: u32, max: usize) -> Option<PeerSlot<'_>> {
    let mut map = state.per_peer.lock().unwrap_or_else(|e| e.into_inner());
    let n = map.entry(uid).or_insert(0);
    if *n >= max {
        return None;
    }
    *n += 1;
    Some(PeerSlot { state, uid })
}

/// Why a connection is refused before its request runs: the Error frame's message and code, and
/// which counter it goes to.
struct Refusal {
    message: String,
    code: i32,
    denied: bool,
}

impl Refusal {
    fn error(message: String) -> Refusal {
        Refusal {
            message,
            code: proto::exit::PROTOCOL,
            denied: false,
        }
    }

    async fn send(self, state: &AgentState, rd: Option<OwnedReadHalf>, wr: OwnedWriteHalf) {
        let counter = if self.denied {
            &state.counters.denied
        } else {
            &state.counters.errors
        };
        counter.fetch_add(1, Ordering::Relaxed);
        send_error_and_close(rd, wr, self.message, self.code).await;
    }
}

/// Only allowed uids get as far as sending a Hello (checked before anything is read).
fn check_peer(state: &AgentState, peer: Option<Peer>) -> Result<Peer, Refusal> {
    let peer = peer.ok_or_else(|| {
        Refusal::error("gitgate: cannot read the peer credentials of this connection".into())
    })?;
    if !state.allowed_uids().contains(&peer.uid) {
        crate::log::warn(
            state,
            &format!(
                "refused connection from uid {} (pid {})",
                peer.uid, peer.pid
            ),
        );
        return Err(Refusal {
            message: format!(
                "gitgate: connection refused: uid {} is not allowed on this socket (ALLOWED_UIDS)",
                peer.uid
            ),
            code: proto::exit::DENIED,
            denied: true,
        });
    }
    Ok(peer)
}

/// Concurrency limits, taken only once a valid Hello has arrived: idle connections never hold a
/// request slot.
fn admit<'a>(
    state: &'a AgentState,
    settings: &Settings,
    peer: Peer,
) -> Result<(tokio::sync::OwnedSemaphorePermit, PeerSlot<'a>), Refusal> {
    let permit = state.connections.clone().try_acquire_owned().map_err(|_| {
        Refusal::error(format!(
            "gitgate: agent busy: {} requests already running (GITGATE_MAX_CONNECTIONS); try again",
            settings.max_connections
        ))
    })?;
    let slot = take_peer_slot(state, peer.uid, settings.max_per_peer).ok_or_else(|| {
        Refusal::error(format!(
            "gitgate: too many requests from uid {} at once (GITGATE_MAX_PER_PEER={}); try again",
            peer.uid, settings.max_per_peer
        ))
    })?;
    Ok((permit, slot))
}

/// The first frame, within the Hello deadline. `Ok(None)`: the client connected and left.
async fn read_hello(
    reader: &mut FrameReader,
    settings: &Settings,
) -> Result<Option<Hello>, Refusal> {
    let deadline = Duration::from_millis(settings.hello_timeout_ms);
    let hello = match tokio::time::timeout(deadline, reader.next()).await {
        Ok(Ok(Some(Frame::Hello(h)))) => h,
        Ok(Ok(None)) => return Ok(None),
        Ok(Ok(Some(_))) => {
            return Err(Refusal::error(
                "gitgate: protocol error: the first frame must be Hello".into(),
            ))
        }
        Ok(Err(e)) => return Err(Refusal::error(format!("gitgate: protocol error: {e}"))),
        Err(_) => {
            return Err(Refusal::error(format!(
                "gitgate: protocol error: no request within {} ms (GITGATE_HELLO_TIMEOUT_MS)",
                settings.hello_timeout_ms
            )))
        }
    };
    if hello.version != proto::PROTOCOL_VERSION {
        return Err(Refusal::error(format!(
            "gitgate: protocol version {} is not supported (agent speaks {}); use the shim from the same release",
            hello.version,
            proto::PROTOCOL_VERSION
        )));
    }
    Ok(Some(hello))
}

/// How long a cancelled operation may take to stop at its next checkpoint (blocking git work
/// checks the cancellation on every progress callback; network waits are bounded by
/// GITGATE_IO_TIMEOUT_SECS) before the agent gives up waiting for its outcome.
const SETTLE: Duration = Duration::from_secs(5);

/// A cancelled operation's honest result. Work that never started anything upstream is simply
/// stopped (dropped). Work that did (a push) reports itself once it stops (it knows whether
/// anything reached upstream), or is reported "unknown" if it does not stop in time.
async fn settle<F>(
    handler: &mut std::pin::Pin<&mut F>,
    note: &crate::session::AuditNote,
    why: AgentError,
) -> Result<proto::Exit, AgentError>
where
    F: std::future::Future<Output = Result<proto::Exit, AgentError>>,
{
    if !note.upstream_work_started() {
        return Err(why);
    }
    match tokio::time::timeout(SETTLE, handler.as_mut()).await {
        // It stopped before anything was sent: report why it was stopped.
        Ok(Err(AgentError::Cancelled)) => Err(why),
        // It finished anyway (the work landed) or failed on its own terms: the truth.
        Ok(r) => r,
        Err(_) => Err(AgentError::OutcomeUnknown(format!(
            "{why}; the operation was still running when the agent stopped waiting for it, so what it changed upstream is not known"
        ))),
    }
}

/// Most bytes one socket write carries when frames are already queued.
const WRITE_BATCH: usize = 256 * 1024;

/// `first` and the frames already queued behind it, encoded for one write: consecutive Data
/// frames merged up to the frame size (a fetch's answer arrives from upstream in many small
/// pieces; fewer, larger frames mean fewer writes here and in the shim). Stops after a final
/// frame. Returns the bytes and whether a final frame is among them.
fn coalesce(first: Frame, queue: &mut mpsc::Receiver<Frame>) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut data: Option<Vec<u8>> = None;
    let mut next = Some(first);
    let mut last = false;
    while let Some(frame) = next.take() {
        match frame {
            Frame::Data(d) => match data.as_mut() {
                Some(cur) if cur.len() + d.len() <= gitgate_proto::CHUNK => {
                    cur.extend_from_slice(&d)
                }
                Some(_) => {
                    if let Some(full) = data.replace(d) {
                        out.extend(Frame::Data(full).encode());
                    }
                }
                None => data = Some(d),
            },
            other => {
                if let Some(d) = data.take() {
                    out.extend(Frame::Data(d).encode());
                }
                last = matches!(other, Frame::Exit(_) | Frame::Error(_));
                out.extend(other.encode());
            }
        }
        if last || out.len() >= WRITE_BATCH {
            break;
        }
        next = queue.try_recv().ok();
    }
    if let Some(d) = data.take() {
        out.extend(Frame::Data(d).encode());
    }
    (out, last)
}

async fn connection(state: Arc<AgentState>, stream: UnixStream, shutdown: Shutdown) {
    let settings = state.settings();
    let peer = peer_of(&stream);
    let (rd, wr) = stream.into_split();
    let peer = match check_peer(&state, peer) {
        Ok(p) => p,
        Err(refusal) => return refusal.send(&state, Some(rd), wr).await,
    };
    let mut reader = FrameReader { rd };
    // Waiting for the Hello: bounded per uid by evicting the oldest waiter, so a flood of idle
    // connections can delay nobody for longer than it takes to send a Hello.
    let pending = state.pending.enter(peer.uid, settings.max_pending_per_peer);
    let hello = tokio::select! {
        h = read_hello(&mut reader, &settings) => h,
        _ = pending.evicted() => Err(Refusal::error(format!(
            "gitgate: connection dropped: more than {} connections from uid {} were waiting to send a request (GITGATE_MAX_PENDING_PER_PEER)",
            settings.max_pending_per_peer, peer.uid
        ))),
        _ = shutdown.stop_accepting.cancelled() => Err(Refusal::error(
            "gitgate: the agent is shutting down; try again once it is back".into(),
        )),
    };
    drop(pending);
    let hello = match hello {
        Ok(Some(h)) => h,
        Ok(None) => return,
        Err(refusal) => return refusal.send(&state, None, wr).await,
    };
    let (global_permit, peer_slot) = match admit(&state, &settings, peer) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.send(&state, Some(reader.rd), wr).await,
    };

    let cancel = CancellationToken::new();
    let (frame_tx, mut frame_rx) = mpsc::channel::<Frame>(64);
    let writer_cancel = cancel.clone();
    let writer = tokio::spawn(async move {
        let mut wr = wr;
        while let Some(frame) = frame_rx.recv().await {
            let (bytes, last) = coalesce(frame, &mut frame_rx);
            if wr.write_all(&bytes).await.is_err() {
                // The client went away: stop the operation.
                writer_cancel.cancel();
                break;
            }
            if last {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });

    let (stdin_tx, stdin_rx) = mpsc::channel::<Vec<u8>>(16);
    let reader_cancel = cancel.clone();
    let reader_task = tokio::spawn(async move {
        let mut stdin_tx = Some(stdin_tx);
        loop {
            match reader.next().await {
                Ok(Some(Frame::Data(data))) => {
                    if let Some(tx) = &stdin_tx {
                        if tx.send(data).await.is_err() {
                            stdin_tx = None; // the handler does not read stdin: drop further input
                        }
                    }
                }
                Ok(Some(Frame::DataEof)) => stdin_tx = None,
                Ok(Some(Frame::Signal(_))) => reader_cancel.cancel(),
                // Anything else, a protocol error, or the client closing: the operation is cancelled.
                Ok(Some(_)) | Ok(None) | Err(_) => {
                    reader_cancel.cancel();
                    break;
                }
            }
        }
        // Handed back rather than dropped here: a client that vanishes before StdinEof must not
        // look like a complete stdin to the handler (which would then act on a truncated body or
        // pre-push list). The handler keeps waiting and the cancellation ends the operation; the
        // sender is dropped with this task's result, after the operation.
        stdin_tx
    });

    let out = Output::new(frame_tx, &state.redactor);
    let started = Instant::now();
    let note = Arc::new(crate::session::AuditNote::default());
    let request = Request {
        audit: note.clone(),
        hello: hello.clone(),
        out: out.clone(),
        stdin: Stdin::new(stdin_rx),
        cancel: cancel.clone(),
    };
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    let timeout = Duration::from_secs(settings.op_timeout_secs);
    let handler = dispatch::handle(&state, request);
    tokio::pin!(handler);
    // On cancellation the handler is not dropped: it is told (`cancel`) and given time to settle,
    // so work that already reached upstream is finished or reported as unknown, never as
    // "nothing was changed" (and its repository lock is held until it really ends).
    let result = tokio::select! {
        r = &mut handler => r,
        _ = cancel.cancelled() => settle(&mut handler, &note, AgentError::Cancelled).await,
        _ = tokio::time::sleep(timeout) => {
            cancel.cancel();
            settle(&mut handler, &note, AgentError::Timeout(settings.op_timeout_secs)).await
        }
        _ = shutdown.abort_work.cancelled() => {
            cancel.cancel();
            settle(&mut handler, &note, AgentError::ShuttingDown).await
        }
    };
    out.flush().await;
    // A stream that carried the token was stopped: the request cannot end as a success.
    let result = match (result, out.aborted()) {
        (Ok(_), Some(seen)) => Err(seen.into()),
        (r, _) => r,
    };
    let (code, decision, reason) = match &result {
        // Refused in the client's own protocol (git report-status): a denial for the record.
        Ok(exit) if note.denied().is_some() => {
            state.counters.denied.fetch_add(1, Ordering::Relaxed);
            (exit.code, "deny", note.denied().unwrap_or_default())
        }
        Ok(exit) => {
            state.counters.allowed.fetch_add(1, Ordering::Relaxed);
            (exit.code, "allow", String::new())
        }
        Err(e) if e.is_denial() => {
            state.counters.denied.fetch_add(1, Ordering::Relaxed);
            (e.code(), "deny", e.to_string())
        }
        Err(e) => {
            state.counters.errors.fetch_add(1, Ordering::Relaxed);
            (e.code(), "error", e.to_string())
        }
    };
    let final_frame = match result {
        Ok(exit) => Frame::Exit(state.redactor.redact_exit(exit)),
        Err(e) => {
            let mut msg = e.to_frame();
            msg.message = state.redactor.redact_str(&msg.message);
            Frame::Error(msg)
        }
    };
    // The work is done: free the concurrency slots before the client can see the final frame, so
    // a client that reconnects at once is never counted twice.
    drop(peer_slot);
    drop(global_permit);
    out.send_final(final_frame).await;
    let bytes = out.bytes_sent();
    drop(out);
    // Give the writer a bounded time to deliver the final frame, then tear everything down.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    // Keep reading until the client hangs up (briefly), so frames it was still writing, such as
    // a StdinEof racing our final frame, do not hit a closed socket.
    let abort = reader_task.abort_handle();
    if tokio::time::timeout(Duration::from_secs(1), reader_task)
        .await
        .is_err()
    {
        abort.abort();
    }
    crate::audit::record(
        &state,
        AuditRecord {
            peer,
            hello: &hello,
            repo: note.repo(),
            decision,
            reason: &reason,
            outcome: note.outcome(),
            anonymous: note.anonymous(),
            code,
            duration: started.elapsed(),
            bytes,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(mut buf: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some((f, n)) = gitgate_proto::decode(buf).unwrap() {
            out.push(f);
            buf = &buf[n..];
        }
        assert!(buf.is_empty());
        out
    }

    #[tokio::test]
    async fn queued_data_frames_are_merged_in_order_up_to_the_frame_size() {
        let (tx, mut rx) = mpsc::channel(64);
        let big = vec![7u8; gitgate_proto::CHUNK - 2];
        for f in [
            Frame::Data(b"ab".to_vec()),
            Frame::Stderr(b"progress".to_vec()),
            Frame::Data(b"cd".to_vec()),
            Frame::Data(b"ef".to_vec()),
            Frame::Data(big.clone()),
            Frame::Exit(gitgate_proto::Exit::code(0)),
            Frame::Data(b"after the end".to_vec()),
        ] {
            tx.send(f).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        let (bytes, last) = coalesce(first, &mut rx);
        assert!(last);
        let got = frames(&bytes);
        let kinds: Vec<_> = got.iter().map(|f| (f.kind(), f.encode().len())).collect();
        assert_eq!(got.len(), 5, "{kinds:?}");
        assert!(matches!(&got[0], Frame::Data(d) if d == b"ab"));
        assert!(matches!(&got[1], Frame::Stderr(d) if d == b"progress"));
        assert!(matches!(&got[2], Frame::Data(d) if d == b"cdef"));
        assert!(matches!(&got[3], Frame::Data(d) if *d == big));
        assert!(matches!(&got[4], Frame::Exit(e) if e.code == 0));
        // What came after the final frame stays queued.
        assert!(matches!(rx.try_recv(), Ok(Frame::Data(_))));
    }
}
