//! The commits at the head of a pushed pack, read while the rest of the pack is still arriving, so
//! a fast-forward can be confirmed early and a large pack can stream upstream as it arrives
//! (receive.rs). git's pack-objects writes every commit of a push before any tree or blob, so
//! only the leading run of whole (non-delta) commit objects is read; the first entry that is
//! anything else, or a commit that is not plainly encoded, ends it. What this finds is only ever
//! used to say "yes, a fast-forward" early: anything else waits for the whole pack, as before.
//! Blocking: run on a blocking thread.

use gix_hash::ObjectId;
use std::collections::HashMap;
use std::io::{self, Read};
use tokio::sync::mpsc;

/// Largest commit object read (declared size); a bigger one ends the run.
const MAX_COMMIT: u64 = 1024 * 1024;
/// Most commits read; more end the run (bounded memory).
const MAX_COMMITS: usize = 10_000;

/// Bytes of the pack in order, from a channel (blocking).
struct Feed {
    rx: mpsc::Receiver<bytes::Bytes>,
    buf: Vec<u8>,
    pos: usize,
}

impl Feed {
    /// At least `n` bytes ahead, unless the pack ends first (then what there is).
    fn peek(&mut self, n: usize) -> &[u8] {
        while self.buf.len() - self.pos < n {
            let Some(more) = self.rx.blocking_recv() else {
                break;
            };
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.buf.extend_from_slice(&more);
        }
        let end = self.buf.len().min(self.pos + n);
        &self.buf[self.pos..end]
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.peek(1);
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The parents of each commit in the leading run of whole commits of the pack arriving on `rx`.
/// Stops at the run's end and drops `rx` (the sender then sees it closed).
pub fn read(rx: mpsc::Receiver<bytes::Bytes>) -> HashMap<ObjectId, Vec<ObjectId>> {
    let mut feed = Feed {
        rx,
        buf: Vec::new(),
        pos: 0,
    };
    let mut commits = HashMap::new();
    let header = feed.peek(12);
    if header.len() < 12 || &header[..4] != b"PACK" || !matches!(header[7], 2 | 3) {
        return commits;
    }
    let count = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    feed.consume(12);
    let mut offset = 12u64;
    let mut inflate = gix_zlib::Inflate::default();
    for _ in 0..count.min(MAX_COMMITS as u32) {
        let Ok(entry) = gix_pack::data::Entry::from_read(&mut feed, offset, 20) else {
            break;
        };
        let size = entry.decompressed_size;
        if !matches!(entry.header, gix_pack::data::entry::Header::Commit) || size > MAX_COMMIT {
            break;
        }
        // zlib's own worst case for `size` bytes (stored blocks), plus slack: a stream longer
        // than that is not how git writes a commit, and ends the run.
        let size = size as usize;
        let bound = size + 5 * (size / 16_000 + 1) + 64;
        let mut data = vec![0u8; size];
        inflate.reset();
        let input = feed.peek(bound);
        let Ok((status, used, written)) = inflate.once(input, &mut data) else {
            break;
        };
        if status != gix_zlib::Status::StreamEnd || written != size {
            break;
        }
        feed.consume(used);
        offset += entry.header_size() as u64 + used as u64;
        let Ok(id) =
            gix_object::compute_hash(gix_hash::Kind::Sha1, gix_object::Kind::Commit, &data)
        else {
            break;
        };
        let parents = gix_object::CommitRefIter::from_bytes(&data, gix_hash::Kind::Sha1)
            .parent_ids()
            .collect();
        commits.insert(id, parents);
    }
    commits
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn hex(dir: &std::path::Path, rev: &str) -> ObjectId {
        let out = git(dir, &["rev-parse", rev]);
        ObjectId::from_hex(String::from_utf8_lossy(&out).trim().as_bytes()).unwrap()
    }

    /// `pack` fed in pieces of `piece` bytes.
    fn scan(pack: &[u8], piece: usize) -> HashMap<ObjectId, Vec<ObjectId>> {
        let (tx, rx) = mpsc::channel(4);
        let pieces: Vec<bytes::Bytes> = pack
            .chunks(piece)
            .map(bytes::Bytes::copy_from_slice)
            .collect();
        let feeder = std::thread::spawn(move || {
            for p in pieces {
                if tx.blocking_send(p).is_err() {
                    break;
                }
            }
        });
        let commits = read(rx);
        feeder.join().unwrap();
        commits
    }

    fn pack_objects(dir: &std::path::Path, revs: &str) -> Vec<u8> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '{revs}' | git pack-objects --revs --stdout -q"
            ))
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn the_commits_git_writes_first_are_read_with_their_parents() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        git(p, &["init", "-q"]);
        std::fs::write(p.join("a"), "a").unwrap();
        git(p, &["add", "."]);
        git(p, &["commit", "-q", "-m", "base"]);
        for i in 0..3 {
            std::fs::write(p.join("a"), format!("a{i}").repeat(1000)).unwrap();
            git(p, &["commit", "-q", "-am", &format!("c{i}")]);
        }
        let base = hex(p, "HEAD~3");
        let pack = pack_objects(p, &format!("HEAD\\n^{base}\\n"));
        for piece in [1, 7, 100, 1 << 20] {
            let commits = scan(&pack, piece);
            assert_eq!(commits.len(), 3, "piece {piece}");
            assert_eq!(commits[&hex(p, "HEAD")], vec![hex(p, "HEAD~1")]);
            assert_eq!(commits[&hex(p, "HEAD~2")], vec![base]);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the bytes, the reader ends without panicking, and a commit it reports is the
        /// commit with that id: mutating a real pack can hide commits, never change one.
        #[test]
        fn any_bytes_give_only_true_commits(
            flips in proptest::collection::vec((0usize..4096, 1u8..=255), 0..8),
            cut in 0usize..4096,
            piece in 1usize..300,
        ) {
            let (pack, truth) = &*SAMPLE;
            let mut bytes = pack.clone();
            for (at, x) in &flips {
                let at = at % bytes.len();
                bytes[at] ^= x;
            }
            bytes.truncate(bytes.len().saturating_sub(cut % (bytes.len() + 1)));
            for (id, parents) in scan(&bytes, piece) {
                if let Some(want) = truth.get(&id) {
                    proptest::prop_assert_eq!(&parents, want);
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let mut b = b"PACK\0\0\0\x02\0\0\0\x09".to_vec();
            b.extend(bytes);
            let _ = scan(&b, 37);
        }
    }

    type Parents = HashMap<ObjectId, Vec<ObjectId>>;

    /// A real pack of three commits and its commits' true parents.
    static SAMPLE: std::sync::LazyLock<(Vec<u8>, Parents)> = std::sync::LazyLock::new(|| {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        git(p, &["init", "-q"]);
        for i in 0..3 {
            std::fs::write(p.join("a"), format!("{i}")).unwrap();
            git(p, &["add", "."]);
            git(p, &["commit", "-q", "-m", &format!("c{i}")]);
        }
        let pack = pack_objects(p, "HEAD\\n");
        let truth = scan(&pack, 1 << 20);
        assert_eq!(truth.len(), 3);
        (pack, truth)
    });

    #[test]
    fn garbage_and_truncated_packs_give_what_was_whole() {
        assert!(scan(b"", 10).is_empty());
        assert!(scan(b"PACK\0\0\0\x02\0\0\0\x05", 3).is_empty());
        let mut junk = b"PACK\0\0\0\x02\0\0\0\x05".to_vec();
        junk.extend(vec![0x55u8; 5000]);
        assert!(scan(&junk, 100).is_empty());
        // A commit entry claiming a huge size ends the run without allocating it.
        let mut huge = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
        huge.extend([0x9f, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(scan(&huge, 100).is_empty());
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        git(p, &["init", "-q"]);
        std::fs::write(p.join("a"), "a").unwrap();
        git(p, &["add", "."]);
        git(p, &["commit", "-q", "-m", "one"]);
        let pack = pack_objects(p, "HEAD\\n");
        // Cut inside the first commit: nothing.
        assert!(scan(&pack[..20], 5).is_empty());
        assert_eq!(scan(&pack, 5).len(), 1);
    }
}
