//! A large push streamed upstream while git is still sending its pack (receive.rs decides when:
//! every command allowed and every claimed fast-forward confirmed before the request starts).
//! The request's body is the commands, then the pack as gix-pack consumes it, minus its last 20
//! bytes until gix has read and verified the whole pack; anything else ends the request in an
//! error before them, so the server never has a complete pack it was not meant to have.

use super::http;
use super::receive::{post_task, probe_auth, receive_pack_post, PostCtx, Posted};
use crate::error::AgentError;
use crate::state::AgentState;
use reqwest::header::AUTHORIZATION;
use std::time::Duration;

/// Pack bytes held in memory while the leading commits are read; a push not decided by then
/// waits for its whole pack.
pub(super) const MAX_EARLY_BUFFER: usize = 8 * 1024 * 1024;
/// A push streams once this much of its pack is in (smaller ones are sent whole, after checks).
pub(super) const STREAM_ABOVE: usize = 1024 * 1024;
/// The pack's trailer: the checksum over all that precedes it. receive-pack (index-pack or
/// unpack-objects) applies nothing from a pack it has not read to its end and verified.
const TRAILER: usize = 20;

/// A push whose pack goes upstream while it arrives from git. Everything that decides the push
/// was checked before the request started (every command, and every claimed fast-forward from the
/// pack's leading commits), so upstream is only contacted for a push that is allowed. The last
/// `TRAILER` bytes received are always held back: they go, and the request ends, only once
/// gix-pack has read the whole pack, its checksum matched and it is within GITGATE_MAX_PUSH_BYTES
/// (`Forwarded::PackRead`, while gix goes on to index it). Anything before that (git vanished or
/// stalled, a bad or oversized pack) cuts the request first: the server never has the whole pack,
/// and receive-pack applies nothing. (A client that sends bytes after its pack may have gix's
/// read-ahead forward the real checksum early; that decides nothing: the refs were decided first.)
pub(super) struct Streaming {
    /// `None` once released (the body ended) or cut.
    body: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    /// The trailer was sent and the body ended.
    pub(super) released: bool,
    /// The last bytes of the pack received, not sent yet.
    tail: HeldBack,
    /// Set when the body may end normally (after the trailer).
    complete: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The request ended (answered or failed) before the body did.
    ended: bool,
    task: tokio::task::JoinHandle<Result<Posted, AgentError>>,
    seen: u64,
    /// Longest wait for upstream to take more of the body (GITGATE_IO_TIMEOUT_SECS).
    idle: Duration,
    /// Upstream took nothing for `idle`: the request was dropped.
    gave_up: bool,
}

impl Streaming {
    pub(super) async fn start(
        state: &AgentState,
        client: &reqwest::Client,
        shown_url: &str,
        post_url: &str,
        head: &bytes::Bytes,
        ctx: PostCtx,
        body_state: tokio::sync::watch::Sender<BodyState>,
    ) -> Result<Streaming, AgentError> {
        probe_auth(state, client, shown_url, post_url).await?;
        let client = http::streaming_client(&state.settings()).map_err(AgentError::Internal)?;
        let (auth, seen) =
            http::auth_versioned(&state.token).ok_or_else(|| http::no_token(state))?;
        let (body, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
        let complete = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let post = receive_pack_post(&client, post_url)
            .header(AUTHORIZATION, auth)
            .body(reqwest::Body::wrap_stream(streamed_body(
                rx,
                complete.clone(),
                ctx.sent_all.clone(),
                body_state,
            )));
        let idle = ctx.idle.unwrap_or(Duration::from_secs(60));
        let task = tokio::spawn(post_task(post, ctx));
        let mut st = Streaming {
            body: Some(body),
            released: false,
            tail: HeldBack::default(),
            complete,
            ended: false,
            task,
            seen,
            idle,
            gave_up: false,
        };
        st.send(head.clone()).await;
        Ok(st)
    }

    /// Hand `b` to the request; an upstream that takes none of it for `idle` has the request cut
    /// (git's side then waits on the agent, which waits on upstream: bounded here).
    async fn send(&mut self, b: bytes::Bytes) {
        let Some(body) = &self.body else { return };
        if self.ended || b.is_empty() {
            return;
        }
        match tokio::time::timeout(self.idle, body.send(b)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => self.ended = true,
            Err(_) => {
                // The request ends here: dropped with its connection, before the pack's end.
                self.ended = true;
                self.gave_up = true;
                self.body = None;
                self.task.abort();
            }
        }
    }

    /// More of the pack: all but the last `TRAILER` bytes received so far go upstream.
    pub(super) async fn push(&mut self, b: bytes::Bytes) {
        for piece in self.tail.take_in(b) {
            self.send(piece).await;
        }
    }

    /// Not released yet, and not cut (by an upstream that stopped taking the body).
    pub(super) fn can_release(&self) -> bool {
        !self.released && self.body.is_some()
    }

    /// The pack is whole and the push allowed: the trailer, and the end of the body.
    pub(super) async fn release(&mut self) {
        if !self.can_release() {
            return;
        }
        let tail = std::mem::take(&mut self.tail).release();
        self.send(tail).await;
        self.complete
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.body = None;
        self.released = true;
    }

    /// Released (if it was not yet), the answer.
    pub(super) async fn finish(mut self) -> Result<(Result<Posted, AgentError>, u64), AgentError> {
        self.release().await;
        if self.gave_up {
            return Ok((Err(self.gave_up_error()), self.seen));
        }
        let posted = self
            .task
            .await
            .map_err(|e| AgentError::Internal(format!("push task failed: {e}")))?;
        Ok((posted, self.seen))
    }

    /// Abandon the push: the request ends in an error before the trailer, and its outcome is
    /// awaited (nothing landed: the server never had the whole pack).
    pub(super) async fn cut(mut self) {
        self.body = None;
        // The request fails as hyper next polls its body; one that cannot even be written to
        // any more is dropped after `idle`.
        if tokio::time::timeout(self.idle, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }

    fn gave_up_error(&self) -> AgentError {
        AgentError::failed(
            format!(
                "gitgate: the server took none of the push for {} s (GITGATE_IO_TIMEOUT_SECS), so the agent cut it before the end of its pack: nothing was pushed",
                self.idle.as_secs()
            ),
            128,
        )
    }
}

/// The last `TRAILER` bytes of what was received: everything before them may go on.
#[derive(Default)]
struct HeldBack(Vec<u8>);

impl HeldBack {
    /// Take in `b`; returns what may go on now, in order (possibly empty pieces).
    fn take_in(&mut self, b: bytes::Bytes) -> [bytes::Bytes; 2] {
        if b.len() >= TRAILER {
            let older = std::mem::replace(&mut self.0, b[b.len() - TRAILER..].to_vec());
            [older.into(), b.slice(..b.len() - TRAILER)]
        } else {
            self.0.extend_from_slice(&b);
            let keep = self.0.split_off(self.0.len().saturating_sub(TRAILER));
            [
                std::mem::replace(&mut self.0, keep).into(),
                bytes::Bytes::new(),
            ]
        }
    }

    /// What was held back (once the push is allowed to complete).
    fn release(self) -> bytes::Bytes {
        self.0.into()
    }
}

/// Where the body of a streamed push is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyState {
    Streaming,
    /// Every byte, the pack's trailer last, was handed to the connection.
    Complete,
    /// Ended in an error before the trailer: the server never had the whole pack.
    Cut,
}

/// The body of a streamed push: what arrives on `rx`; if the sender goes away before `complete`
/// is set, the body fails (the request is cut, it never ends normally).
fn streamed_body(
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    complete: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sent_all: std::sync::Arc<std::sync::atomic::AtomicBool>,
    body_state: tokio::sync::watch::Sender<BodyState>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let body_state = std::sync::Arc::new(body_state);
    futures_util::stream::unfold(Some(rx), move |rx| {
        let complete = complete.clone();
        let sent_all = sent_all.clone();
        let body_state = body_state.clone();
        async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(b) => Some((Ok(b), Some(rx))),
                None if complete.load(std::sync::atomic::Ordering::SeqCst) => {
                    sent_all.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = body_state.send(BodyState::Complete);
                    None
                }
                None => {
                    let _ = body_state.send(BodyState::Cut);
                    Some((
                        Err(std::io::Error::other(
                            "gitgate: push cut before the end of its pack",
                        )),
                        None,
                    ))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_body_never_carries_the_last_20_bytes_before_release() {
        let pack: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for piece in [1usize, 3, 19, 20, 21, 64, 4999, 5000] {
            let mut held = HeldBack::default();
            let mut out = Vec::new();
            for part in pack.chunks(piece) {
                for p in held.take_in(bytes::Bytes::copy_from_slice(part)) {
                    out.extend_from_slice(&p);
                }
                // Always exactly what came in, minus the last (up to) 20 bytes.
                let seen = out.len() + held.0.len();
                assert_eq!(&out[..], &pack[..seen.saturating_sub(20).max(out.len())]);
                assert!(held.0.len() <= 20 && (seen < 20 || held.0.len() == 20));
            }
            assert_eq!(out.len(), pack.len() - 20, "piece {piece}");
            out.extend_from_slice(&held.release());
            assert_eq!(out, pack, "piece {piece}");
        }
    }
}
