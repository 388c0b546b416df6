//! The pack of a push, from untrusted bytes: spooled to a file under the state dir (bounded by
//! GITGATE_MAX_PUSH_BYTES), indexed by gix-pack (memory-safe; thin-pack bases come from the
//! cache), and read for the commits it brings, so ancestry can be decided. Iterative throughout.
//! Blocking: run on a blocking thread.

use super::cache::Cache;
use gitgate_policy::wire::Ancestry;
use gix_hash::ObjectId;
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("the push is larger than {0} bytes (GITGATE_MAX_PUSH_BYTES)")]
    TooLarge(u64),
    #[error("git closed the connection in the middle of the pack")]
    Truncated,
    #[error("invalid pack: {0}")]
    Invalid(String),
    #[error("cannot store the pack: {0}")]
    Io(String),
}

/// A spooled pack: the exact bytes git sent, in a file removed on drop.
pub struct Spooled {
    pub file: tempfile::NamedTempFile,
    pub len: u64,
}

/// Bytes from git (a channel fed by the async side), teed into the spool file as consumed.
struct ChanReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    spool: io::BufWriter<std::fs::File>,
    write_error: Option<io::Error>,
    total: u64,
    limit: u64,
    eof: bool,
    /// Where the bytes gix consumed go as well (a push that may stream).
    forward: Option<Arc<Mutex<Forward>>>,
    waiting: Arc<AtomicBool>,
}

/// What a push that may stream is told about its pack, in order.
pub enum Forwarded {
    /// Bytes gix-pack consumed: exactly the pack, never what a client sends after it.
    Bytes(bytes::Bytes),
    /// gix-pack has read the whole pack, its checksum matched, and it is within the size limit
    /// (sent as gix starts resolving objects, before the index is built).
    PackRead,
}

/// Consumed bytes are handed on in pieces of about this size (and whenever gix waits for more).
const FORWARD_BATCH: usize = 64 * 1024;

/// The pack's bytes as gix consumes them, batched, to a channel (blocking sends: the receiver's
/// pace is gix's pace). Shared by the reader and the progress watch.
pub struct Forward {
    tx: Option<mpsc::Sender<Forwarded>>,
    /// Bytes as well, or only `PackRead` (the receiver may stop wanting them).
    with_bytes: Arc<AtomicBool>,
    buf: Vec<u8>,
    total: u64,
    limit: u64,
    read: bool,
    end: PackEnd,
}

/// The pack's own checksum, followed as its bytes pass (while they are forwarded): the hash of
/// every byte but the last 20 consumed, and those 20. When they match, gix has just consumed the
/// pack's trailer: the whole pack is in, and it is what its checksum says. That is sooner than
/// gix-pack's own signal (it first re-hashes the pack it wrote, ~100 ms for 50 MB). A client can
/// craft such a match before its pack's true end; that only ends the upstream request early,
/// with a pack short of the objects its header counts, which the server refuses whole.
struct PackEnd {
    hash: gix_hash::Hasher,
    last: Vec<u8>,
}

impl PackEnd {
    /// Take in `b`; true when the last 20 bytes taken in are the checksum of all before them.
    fn take_in(&mut self, b: &[u8]) -> bool {
        if b.len() >= TRAILER_LEN {
            self.hash.update(&self.last);
            self.hash.update(&b[..b.len() - TRAILER_LEN]);
            self.last.clear();
            self.last.extend_from_slice(&b[b.len() - TRAILER_LEN..]);
        } else {
            self.last.extend_from_slice(b);
            let over = self.last.len().saturating_sub(TRAILER_LEN);
            self.hash.update(&self.last[..over]);
            self.last.drain(..over);
        }
        self.last.len() == TRAILER_LEN
            && self
                .hash
                .clone()
                .try_finalize()
                .is_ok_and(|id| id.as_slice() == self.last.as_slice())
    }
}

/// A pack's trailer (SHA-1).
const TRAILER_LEN: usize = 20;

impl Forward {
    fn send(&mut self, f: Forwarded) {
        if let Some(tx) = &self.tx {
            if tx.blocking_send(f).is_err() {
                // Nobody wants them any more (the push is not streamed).
                self.tx = None;
            }
        }
    }

    fn push(&mut self, b: &[u8]) {
        self.total += b.len() as u64;
        if self.tx.is_none() || !self.with_bytes.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.buf.extend_from_slice(b);
        // The pack's header (12 bytes) and trailer at the least.
        if self.end.take_in(b) && self.total >= 32 {
            self.pack_read();
        } else if self.buf.len() >= FORWARD_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let piece = bytes::Bytes::from(std::mem::take(&mut self.buf));
            self.send(Forwarded::Bytes(piece));
        }
    }

    fn pack_read(&mut self) {
        if std::mem::replace(&mut self.read, true) {
            return;
        }
        self.flush();
        if self.total <= self.limit {
            self.send(Forwarded::PackRead);
        }
    }
}

fn lock(f: &Mutex<Forward>) -> std::sync::MutexGuard<'_, Forward> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

/// gix-pack's progress, discarded, except for one event: the child "Resolving" is created right
/// after the last entry of the pack was read (and, in Verify mode, its trailer checked).
#[derive(Clone)]
struct PackReadWatch(Option<Arc<Mutex<Forward>>>);

/// gix-pack's id of its "Resolving" progress (gix_pack::index::write::ProgressId::ResolveObjects).
const RESOLVING: gix_features::progress::Id = *b"IWRO";

impl gix_features::progress::Count for PackReadWatch {
    fn set(&self, _: gix_features::progress::Step) {}
    fn step(&self) -> gix_features::progress::Step {
        0
    }
    fn inc_by(&self, _: gix_features::progress::Step) {}
    fn counter(&self) -> gix_features::progress::StepShared {
        Default::default()
    }
}

impl gix_features::progress::Progress for PackReadWatch {
    fn init(
        &mut self,
        _: Option<gix_features::progress::Step>,
        _: Option<gix_features::progress::Unit>,
    ) {
    }
    fn set_name(&mut self, _: String) {}
    fn name(&self) -> Option<String> {
        None
    }
    fn id(&self) -> gix_features::progress::Id {
        gix_features::progress::UNKNOWN
    }
    fn message(&self, _: gix_features::progress::MessageLevel, _: String) {}
}

impl gix_features::progress::NestedProgress for PackReadWatch {
    type SubProgress = PackReadWatch;
    fn add_child(&mut self, _: impl Into<String>) -> PackReadWatch {
        self.clone()
    }
    fn add_child_with_id(
        &mut self,
        _: impl Into<String>,
        id: gix_features::progress::Id,
    ) -> PackReadWatch {
        if id == RESOLVING {
            if let Some(f) = &self.0 {
                lock(f).pack_read();
            }
        }
        self.clone()
    }
}

impl ChanReader {
    fn more(&mut self) -> bool {
        if self.eof {
            return false;
        }
        if let Some(f) = &self.forward {
            lock(f).flush();
        }
        self.waiting
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let got = self.rx.blocking_recv();
        self.waiting
            .store(false, std::sync::atomic::Ordering::SeqCst);
        match got {
            Some(chunk) => {
                self.cur.drain(..self.pos);
                self.pos = 0;
                self.cur.extend_from_slice(&chunk);
                true
            }
            None => {
                self.eof = true;
                false
            }
        }
    }

    fn peek(&mut self, n: usize) -> Option<&[u8]> {
        while self.cur.len() - self.pos < n {
            if !self.more() {
                return None;
            }
        }
        Some(&self.cur[self.pos..self.pos + n])
    }
}

impl BufRead for ChanReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.total > self.limit {
            return Err(io::Error::other("over the push size limit"));
        }
        if self.pos == self.cur.len() {
            self.cur.clear();
            self.pos = 0;
            if !self.more() {
                return Ok(&[]);
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.cur.len() - self.pos);
        if self.write_error.is_none() {
            if let Err(e) = self.spool.write_all(&self.cur[self.pos..self.pos + n]) {
                self.write_error = Some(e);
            }
        }
        if let Some(f) = &self.forward {
            lock(f).push(&self.cur[self.pos..self.pos + n]);
        }
        self.total += n as u64;
        self.pos += n;
    }
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// What the pack tells us: its bytes, and the parents of every commit in it.
pub struct Ingested {
    pub spooled: Spooled,
    pub commits: HashMap<ObjectId, Vec<ObjectId>>,
    /// The pack as gix-pack wrote it (verified, thin-pack bases inserted, so complete) and its
    /// index: what the cache takes in once upstream accepted the push.
    pub indexed: Option<Indexed>,
}

/// A complete, indexed copy of a pushed pack in a scratch dir removed on drop.
pub struct Indexed {
    _dir: tempfile::TempDir,
    pub pack: PathBuf,
    pub index: PathBuf,
}

/// How the async side follows an ingest.
pub struct Link {
    /// Told `PackRead` once the whole pack was read and checked (before it is indexed); while
    /// `with_bytes` holds, every byte of the pack before that as it is consumed (nothing after
    /// the pack's end).
    pub forward: mpsc::Sender<Forwarded>,
    pub with_bytes: Arc<AtomicBool>,
    /// Set while the reader waits for more bytes from git (so git's silence is what is being
    /// waited on, not gix's work).
    pub waiting: Arc<AtomicBool>,
}

/// Read exactly one pack from `rx`, spool it under `dir`, index it and collect its commits.
pub fn ingest(
    rx: mpsc::Receiver<Vec<u8>>,
    dir: &Path,
    limit: u64,
    cache: &Cache,
    link: Link,
) -> Result<Ingested, PackError> {
    let Link {
        forward,
        with_bytes,
        waiting,
    } = link;
    let forward = Some(forward).map(|tx| {
        Arc::new(Mutex::new(Forward {
            tx: Some(tx),
            with_bytes,
            buf: Vec::new(),
            total: 0,
            limit,
            read: false,
            end: PackEnd {
                hash: gix_hash::hasher(gix_hash::Kind::Sha1),
                last: Vec::new(),
            },
        }))
    });
    std::fs::create_dir_all(dir).map_err(|e| PackError::Io(e.to_string()))?;
    let file = tempfile::Builder::new()
        .prefix("push-")
        .suffix(".pack")
        .tempfile_in(dir)
        .map_err(|e| PackError::Io(e.to_string()))?;
    let spool = io::BufWriter::new(file.reopen().map_err(|e| PackError::Io(e.to_string()))?);
    let mut r = ChanReader {
        rx,
        cur: Vec::new(),
        pos: 0,
        spool,
        write_error: None,
        total: 0,
        limit,
        eof: false,
        forward: forward.clone(),
        waiting,
    };
    let header: [u8; 12] = r
        .peek(12)
        .ok_or(PackError::Truncated)?
        .try_into()
        .map_err(|_| PackError::Truncated)?;
    if &header[..4] != b"PACK" || !matches!(header[7], 2 | 3) || header[4..7] != [0, 0, 0] {
        return Err(PackError::Invalid("missing PACK header".into()));
    }
    let count = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    let mut commits = HashMap::new();
    let mut indexed = None;
    if count == 0 {
        let mut rest = [0u8; 32];
        r.read_exact(&mut rest).map_err(|_| PackError::Truncated)?;
        if let Some(f) = &forward {
            lock(f).pack_read();
        }
    } else {
        let work = tempfile::Builder::new()
            .prefix("index-")
            .tempdir_in(dir)
            .map_err(|e| PackError::Io(e.to_string()))?;
        let interrupt = AtomicBool::new(false);
        let opts = gix_pack::bundle::write::Options {
            thread_limit: Some(2),
            iteration_mode: gix_pack::data::input::Mode::Verify,
            index_version: gix_pack::index::Version::default(),
            alloc_limit_bytes: Some(512 * 1024 * 1024),
            ..Default::default()
        };
        let outcome = gix_pack::Bundle::write_to_directory(
            &mut r,
            Some(work.path()),
            &mut PackReadWatch(forward.clone()),
            &interrupt,
            Some(cache),
            gix_hash::Kind::Sha1,
            opts,
        );
        let outcome = match outcome {
            Ok(o) => o,
            Err(_) if r.total > r.limit => return Err(PackError::TooLarge(r.limit)),
            Err(_) if r.eof => return Err(PackError::Truncated),
            Err(e) => return Err(PackError::Invalid(format!("{e:#}"))),
        };
        commits = read_commits(&outcome)?;
        if let (Some(pack), Some(index)) = (outcome.data_path.clone(), outcome.index_path.clone()) {
            indexed = Some(Indexed {
                _dir: work,
                pack,
                index,
            });
        }
    }
    if r.total > r.limit {
        return Err(PackError::TooLarge(r.limit));
    }
    if let Some(e) = r.write_error.take() {
        return Err(PackError::Io(e.to_string()));
    }
    r.spool.flush().map_err(|e| PackError::Io(e.to_string()))?;
    Ok(Ingested {
        spooled: Spooled { file, len: r.total },
        commits,
        indexed,
    })
}

fn read_commits(
    outcome: &gix_pack::bundle::write::Outcome,
) -> Result<HashMap<ObjectId, Vec<ObjectId>>, PackError> {
    let bundle = match outcome.to_bundle() {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(PackError::Invalid(format!("{e:#}"))),
        None => return Ok(HashMap::new()),
    };
    let mut commits = HashMap::new();
    let mut buf = Vec::new();
    let mut inflate = gix_zlib::Inflate::default();
    for e in bundle.index.iter() {
        let entry = bundle
            .pack
            .entry(e.pack_offset)
            .map_err(|e| PackError::Invalid(format!("{e:#}")))?;
        use gix_pack::data::entry::Header;
        if matches!(entry.header, Header::Tree | Header::Blob | Header::Tag) {
            continue;
        }
        let (data, _) =
            match bundle.find(&e.oid, &mut buf, &mut inflate, &mut gix_pack::cache::Never) {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(err) => return Err(PackError::Invalid(format!("{err:#}"))),
            };
        if data.kind != gix_object::Kind::Commit {
            continue;
        }
        let parents: Vec<ObjectId> =
            gix_object::CommitRefIter::from_bytes(data.data, gix_hash::Kind::Sha1)
                .parent_ids()
                .collect();
        commits.insert(e.oid, parents);
    }
    Ok(commits)
}

/// Most commits outside the pack whose ancestry is asked of the cache, per update.
const MAX_FRONTIER: usize = 1000;

/// Does `new` descend from `old`? From the pack's commits, then the cache for the commits the
/// pack builds on. Iterative; each commit is visited once.
pub fn ancestry(
    new: &ObjectId,
    old: &ObjectId,
    commits: &HashMap<ObjectId, Vec<ObjectId>>,
    cache: &Cache,
) -> Ancestry {
    let mut stack = vec![*new];
    let mut seen = HashSet::new();
    let mut frontier = 0;
    while let Some(c) = stack.pop() {
        if c == *old {
            return Ancestry::FastForward;
        }
        if !seen.insert(c) {
            continue;
        }
        match commits.get(&c) {
            Some(parents) => stack.extend(parents.iter().copied()),
            None => {
                frontier += 1;
                if frontier > MAX_FRONTIER {
                    return Ancestry::NotFastForward;
                }
                if cache.descends(&c, old) {
                    return Ancestry::FastForward;
                }
            }
        }
    }
    Ancestry::NotFastForward
}

pub fn spool_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("spool")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real pack (git pack-objects) of a few objects.
    fn a_pack() -> Vec<u8> {
        let d = tempfile::tempdir().unwrap();
        let run = |args: &[&str], input: Option<&str>| {
            let mut c = std::process::Command::new("git");
            c.args(args)
                .current_dir(d.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            if let Some(i) = input {
                child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
            }
            drop(child.stdin.take());
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            out.stdout
        };
        run(&["init", "-q"], None);
        let ids: Vec<String> = (0..5)
            .map(|i| {
                std::fs::write(d.path().join(format!("f{i}")), format!("{i}").repeat(999)).unwrap();
                let id = run(&["hash-object", "-w", &format!("f{i}")], None);
                String::from_utf8(id).unwrap()
            })
            .collect();
        run(&["pack-objects", "--stdout", "-q"], Some(&ids.concat()))
    }

    #[test]
    fn the_pack_end_is_seen_exactly_at_its_checksum() {
        let pack = a_pack();
        for piece in [1usize, 7, 19, 20, 21, 500, 1 << 20] {
            let mut end = PackEnd {
                hash: gix_hash::hasher(gix_hash::Kind::Sha1),
                last: Vec::new(),
            };
            let mut seen = Vec::new();
            let mut at = 0;
            for part in pack.chunks(piece) {
                at += part.len();
                if end.take_in(part) {
                    seen.push(at);
                }
            }
            assert_eq!(seen, vec![pack.len()], "piece {piece}");
            // Bytes after the pack in the same piece: not taken for its end.
            let mut end = PackEnd {
                hash: gix_hash::hasher(gix_hash::Kind::Sha1),
                last: Vec::new(),
            };
            let mut with_junk = pack.clone();
            with_junk.extend_from_slice(b"junk");
            assert!(!end.take_in(&with_junk));
        }
    }
}
