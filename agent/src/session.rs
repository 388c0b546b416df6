//! One client request as handlers see it: what they asked, where output goes, their
//! stdin, and a cancellation token fired by a Signal frame, a disconnect or the operation timeout.

use crate::redact::{Redactor, StreamRedactor};
use gitgate_proto::{Frame, Hello};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub pid: i32,
}

/// Output to the client. Every byte passes the redactor; safe to use from async code and, through
/// the `*_blocking` methods, from libgit2 callbacks running on a blocking thread.
#[derive(Clone)]
pub struct Output {
    inner: Arc<OutputInner>,
}

struct OutputInner {
    tx: mpsc::Sender<Frame>,
    stdout: Mutex<StreamRedactor>,
    stderr: Mutex<StreamRedactor>,
    bytes: std::sync::atomic::AtomicU64,
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

impl Output {
    pub fn new(tx: mpsc::Sender<Frame>, redactor: &Redactor) -> Output {
        Output {
            inner: Arc::new(OutputInner {
                tx,
                stdout: Mutex::new(redactor.stream()),
                stderr: Mutex::new(redactor.stream()),
                bytes: Default::default(),
            }),
        }
    }

    fn frame(&self, which: Stream, data: &[u8]) -> Option<Frame> {
        let lock = match which {
            Stream::Out => &self.inner.stdout,
            Stream::Err => &self.inner.stderr,
        };
        let clean = match lock.lock() {
            Ok(mut r) => r.push(data),
            Err(_) => return None,
        };
        if clean.is_empty() {
            return None;
        }
        self.inner
            .bytes
            .fetch_add(clean.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Some(match which {
            Stream::Out => Frame::Data(clean),
            Stream::Err => Frame::Stderr(clean),
        })
    }

    async fn send(&self, which: Stream, data: &[u8]) {
        for chunk in data.chunks(gitgate_proto::CHUNK) {
            if let Some(f) = self.frame(which, chunk) {
                // A closed channel means the client is gone; cancellation handles the rest.
                let _ = self.inner.tx.send(f).await;
            }
        }
    }

    fn send_blocking(&self, which: Stream, data: &[u8]) {
        for chunk in data.chunks(gitgate_proto::CHUNK) {
            if let Some(f) = self.frame(which, chunk) {
                let _ = self.inner.tx.blocking_send(f);
            }
        }
    }

    pub async fn stdout(&self, data: impl AsRef<[u8]>) {
        self.send(Stream::Out, data.as_ref()).await
    }
    pub async fn stderr(&self, data: impl AsRef<[u8]>) {
        self.send(Stream::Err, data.as_ref()).await
    }
    pub fn stderr_blocking(&self, data: impl AsRef<[u8]>) {
        self.send_blocking(Stream::Err, data.as_ref())
    }

    /// Emit what the redactors held back (end of the operation).
    pub async fn flush(&self) {
        for (which, lock) in [
            (Stream::Out, &self.inner.stdout),
            (Stream::Err, &self.inner.stderr),
        ] {
            let rest = lock.lock().map(|mut r| r.finish()).unwrap_or_default();
            if !rest.is_empty() {
                let f = match which {
                    Stream::Out => Frame::Data(rest),
                    Stream::Err => Frame::Stderr(rest),
                };
                let _ = self.inner.tx.send(f).await;
            }
        }
    }

    /// Bytes sent so far (for the audit log).
    pub fn bytes_sent(&self) -> u64 {
        self.inner.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forwarded protocol bytes (git transport), sent unchanged: the caller has passed them
    /// through a `StreamScanner` (never rewritten, DESIGN §6). Counted for the audit.
    pub async fn data(&self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.inner
            .bytes
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for chunk in bytes.chunks(gitgate_proto::CHUNK) {
            let _ = self.inner.tx.send(Frame::Data(chunk.to_vec())).await;
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

/// What a handler learns about a request that the audit log records (the repository it resolved).
#[derive(Default)]
pub struct AuditNote {
    repo: Mutex<Option<String>>,
    /// A refusal the handler already told the client in its own protocol (git report-status).
    denied: Mutex<Option<String>>,
}

impl AuditNote {
    pub fn set_repo(&self, slug: &str) {
        if let Ok(mut r) = self.repo.lock() {
            *r = Some(slug.to_owned());
        }
    }
    pub fn repo(&self) -> Option<String> {
        self.repo.lock().ok().and_then(|r| r.clone())
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
