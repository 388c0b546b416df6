//! One client request as handlers see it: what they asked, where output goes, their
//! stdin, and a cancellation token fired by a Signal frame, a disconnect or the operation timeout.

use crate::redact::{Redactor, StreamScanner, TokenInStream};
use gitgate_proto::{Frame, Hello};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub pid: i32,
}

/// Output to the client. [`Output::stdout`] passes its bytes through one [`StreamScanner`]
/// (never rewritten; a complete token form stops the output for good and the request ends with an
/// error). The git transport's forwarded bytes go through [`Output::data`], scanned by the
/// transport itself, one scanner per upstream response.
#[derive(Clone)]
pub struct Output {
    inner: Arc<OutputInner>,
}

struct OutputInner {
    tx: mpsc::Sender<Frame>,
    scanner: Mutex<StreamScanner>,
    bytes: std::sync::atomic::AtomicU64,
    aborted: std::sync::atomic::AtomicBool,
}

impl Output {
    pub fn new(tx: mpsc::Sender<Frame>, redactor: &Redactor) -> Output {
        Output {
            inner: Arc::new(OutputInner {
                tx,
                scanner: Mutex::new(redactor.scanner()),
                bytes: Default::default(),
                aborted: Default::default(),
            }),
        }
    }

    /// Output bytes (agent-status text, hook answers): scanned, then sent as Data frames.
    pub async fn stdout(&self, data: impl AsRef<[u8]>) {
        for chunk in data.as_ref().chunks(gitgate_proto::CHUNK) {
            let scanned = match self.inner.scanner.lock() {
                Ok(mut s) => s.push(chunk),
                Err(_) => return,
            };
            if let Some(clean) = self.or_abort(scanned) {
                self.send_counted(clean).await;
            }
        }
    }

    async fn send_counted(&self, clean: Vec<u8>) {
        if clean.is_empty() {
            return;
        }
        self.inner
            .bytes
            .fetch_add(clean.len() as u64, std::sync::atomic::Ordering::Relaxed);
        // A closed channel means the client is gone; cancellation handles the rest.
        let _ = self.inner.tx.send(Frame::Data(clean)).await;
    }

    fn or_abort(&self, r: Result<Vec<u8>, TokenInStream>) -> Option<Vec<u8>> {
        r.map_err(|_| {
            self.inner
                .aborted
                .store(true, std::sync::atomic::Ordering::SeqCst)
        })
        .ok()
    }

    /// A stream carried the token and was stopped: the request must end with an error.
    pub fn aborted(&self) -> Option<TokenInStream> {
        self.inner
            .aborted
            .load(std::sync::atomic::Ordering::SeqCst)
            .then_some(TokenInStream)
    }

    /// Emit what the scanner held back (end of the operation).
    pub async fn flush(&self) {
        let rest = match self.inner.scanner.lock() {
            Ok(mut s) => self.or_abort(s.finish()).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        self.send_counted(rest).await;
    }

    /// Bytes sent so far (for the audit log).
    pub fn bytes_sent(&self) -> u64 {
        self.inner.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forwarded protocol bytes (git transport), sent unchanged: the caller has passed them
    /// through a `StreamScanner` (never rewritten, DESIGN §6). Counted for the audit.
    pub async fn data(&self, bytes: Vec<u8>) {
        for chunk in bytes.chunks(gitgate_proto::CHUNK) {
            self.send_counted(chunk.to_vec()).await;
        }
    }

    /// Send a frame as is (the final Exit/Error frame; never output bytes).
    pub async fn send_final(&self, frame: Frame) {
        let _ = self.inner.tx.send(frame).await;
    }
}

/// The client's stdin, as far as the handler wants it.
pub struct Stdin {
    rx: mpsc::Receiver<Vec<u8>>,
}

impl Stdin {
    pub fn new(rx: mpsc::Receiver<Vec<u8>>) -> Stdin {
        Stdin { rx }
    }

    /// The next chunk of client data; `None` after DataEof.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.rx.recv().await
    }

    /// Read until DataEof, refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, String> {
        let mut all = Vec::new();
        while let Some(chunk) = self.rx.recv().await {
            if all.len() + chunk.len() > limit {
                return Err(format!("standard input is larger than {limit} bytes"));
            }
            all.extend(chunk);
        }
        Ok(all)
    }
}

/// What reached the upstream server, for requests that write (the audit's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server received the write and answered.
    Landed,
    /// Nothing was sent upstream.
    NotSent,
    /// Interrupted after the upload began: the server may or may not have applied it.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Landed => "landed",
            Outcome::NotSent => "not sent",
            Outcome::Unknown => "unknown: connection lost after upload",
        }
    }
}

/// What a handler learns about a request that the audit log records (the repository it resolved,
/// what reached upstream).
#[derive(Default)]
pub struct AuditNote {
    repo: Mutex<Option<String>>,
    outcome: Mutex<Option<Outcome>>,
    upstream_work: std::sync::atomic::AtomicBool,
    /// A refusal the handler already told the client in its own protocol (git report-status).
    denied: Mutex<Option<String>>,
    /// Sent upstream without credentials (`ALLOW_PUBLIC_FETCH`).
    anonymous: std::sync::atomic::AtomicBool,
}

impl AuditNote {
    /// The handler has started work that may write upstream (a push): if the request is cancelled
    /// now, it must be allowed to settle and report what happened instead of being dropped.
    pub fn begin_upstream_work(&self) {
        self.upstream_work
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn upstream_work_started(&self) -> bool {
        self.upstream_work.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn set_outcome(&self, outcome: Outcome) {
        if let Ok(mut o) = self.outcome.lock() {
            *o = Some(outcome);
        }
    }
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().ok().and_then(|o| *o)
    }
    pub fn set_repo(&self, slug: &str) {
        if let Ok(mut r) = self.repo.lock() {
            *r = Some(slug.to_owned());
        }
    }
    pub fn repo(&self) -> Option<String> {
        self.repo.lock().ok().and_then(|r| r.clone())
    }
    pub fn set_anonymous(&self) {
        self.anonymous
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn anonymous(&self) -> bool {
        self.anonymous.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn set_denied(&self, reason: &str) {
        if let Ok(mut d) = self.denied.lock() {
            *d = Some(reason.to_owned());
        }
    }
    pub fn denied(&self) -> Option<String> {
        self.denied.lock().ok().and_then(|d| d.clone())
    }
}

pub struct Request {
    pub audit: Arc<AuditNote>,
    pub hello: Hello,
    pub out: Output,
    pub stdin: Stdin,
    pub cancel: CancellationToken,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Token;

    /// The frames a client receives for `chunks` sent as stdout, then the end-of-operation flush.
    async fn frames_for(token: &str, chunks: &[Vec<u8>]) -> Vec<Frame> {
        let redactor = Redactor::new(Arc::new(
            Token::from_value(token.into(), "GITHUB_TOKEN").unwrap(),
        ));
        let (tx, mut rx) = mpsc::channel(1024);
        let out = Output::new(tx, &redactor);
        for c in chunks {
            out.stdout(c).await;
        }
        out.flush().await;
        drop(out);
        let mut frames = Vec::new();
        while let Some(f) = rx.recv().await {
            frames.push(f);
        }
        frames
    }

    fn shape(frames: &[Frame]) -> Vec<(u8, usize)> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Data(b) => (1, b.len()),
                Frame::Stderr(b) => (2, b.len()),
                _ => (0, 0),
            })
            .collect()
    }

    /// The red-team procedure of issue 9: the attacker makes output end right after a guess
    /// (`known prefix + candidate`) and watches the frames. Guesses that extend the token and
    /// guesses that do not must produce the same frame sequence, for every position.
    #[tokio::test]
    async fn frame_sequences_do_not_reveal_token_prefixes() {
        let token = "ghp_R3dTeamTargetTokenValue0123456789abc";
        for known in 0..token.len() - 1 {
            let right = &token[..known + 1];
            let wrong = format!(
                "{}{}",
                &token[..known],
                if token.as_bytes()[known] == b'z' {
                    'y'
                } else {
                    'z'
                }
            );
            for pad in [0usize, 1, 7, 64] {
                let body = |guess: &str| vec![format!("{}{guess}", "x".repeat(pad)).into_bytes()];
                let a = frames_for(token, &body(right)).await;
                let b = frames_for(token, &body(&wrong)).await;
                assert_eq!(shape(&a), shape(&b), "position {known}, padding {pad}");
                // And nothing was rewritten: the bytes arrive as sent.
                let bytes: Vec<u8> = a
                    .iter()
                    .flat_map(|f| match f {
                        Frame::Data(b) => b.clone(),
                        _ => vec![],
                    })
                    .collect();
                assert_eq!(bytes, body(right)[0]);
            }
        }
    }

    #[tokio::test]
    async fn the_whole_token_stops_the_output() {
        let token = "ghp_R3dTeamTargetTokenValue0123456789abc";
        let redactor = Redactor::new(Arc::new(
            Token::from_value(token.into(), "GITHUB_TOKEN").unwrap(),
        ));
        let (tx, mut rx) = mpsc::channel(1024);
        let out = Output::new(tx, &redactor);
        out.stdout(format!("before {}", &token[..10])).await;
        out.stdout(format!("{} after", &token[10..])).await;
        out.stdout("more").await;
        out.flush().await;
        assert!(out.aborted().is_some());
        drop(out);
        let mut seen = Vec::new();
        while let Some(Frame::Data(b)) = rx.recv().await {
            seen.extend(b);
        }
        assert!(!String::from_utf8_lossy(&seen).contains(token));
    }
}
