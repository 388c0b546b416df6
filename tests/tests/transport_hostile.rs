//! Hostile input to the git transport bridge, spoken directly on the agent socket: malformed
//! and oversized pkt-lines, truncated and oversized packs, a deep commit chain, a client that
//! stalls mid-pack, disconnects. The agent never panics, answers others meanwhile, and nothing
//! reaches upstream receive-pack unless the push is complete and allowed.

use gitgate_e2e::*;
use gitgate_proto::{self as proto, Frame, Hello};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const Z: &str = "0000000000000000000000000000000000000000";

struct Fx {
    _srv: tempfile::TempDir,
    server: GitHttpServer,
    agent: Agent,
    seed: tempfile::TempDir,
    token: String,
}

fn fx(extra: &[(&str, &str)]) -> Fx {
    let token = random_token();
    let srv = tempfile::tempdir().unwrap();
    init_bare(srv.path(), "acme", "app");
    let server = GitHttpServer::start(srv.path(), &token).unwrap();
    let seed = tempfile::tempdir().unwrap();
    let s = seed.path();
    git(s, &["init", "-q", "-b", "main"]);
    std::fs::write(s.join("README.md"), "seed\n").unwrap();
    git(s, &["add", "."]);
    git(s, &["commit", "-q", "-m", "seed"]);
    git(
        s,
        &[
            "push",
            "-q",
            &server.url_with_token("acme", "app", &token),
            "main",
            "main:claude/base",
        ],
    );
    let mut b = Agent::builder()
        .hide_workspaces()
        .token(&token)
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1");
    for (k, v) in extra {
        b = b.env(k, v);
    }
    Fx {
        _srv: srv,
        server,
        agent: b.start(),
        seed,
        token,
    }
}

fn pkt(s: &[u8]) -> Vec<u8> {
    let mut v = format!("{:04x}", s.len() + 4).into_bytes();
    v.extend_from_slice(s);
    v
}

struct Conn {
    s: UnixStream,
}

impl Conn {
    fn open(fx: &Fx, service: &str) -> Conn {
        let mut s = UnixStream::connect(&fx.agent.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let url = fx.server.url("acme", "app");
        s.write_all(&Frame::Hello(Hello::transport(service, &url, "")).encode())
            .unwrap();
        Conn { s }
    }
    fn send(&mut self, data: &[u8]) {
        for c in data.chunks(proto::CHUNK) {
            let _ = self.s.write_all(&Frame::Data(c.to_vec()).encode());
        }
    }
    fn eof(&mut self) {
        let _ = self.s.write_all(&Frame::DataEof.encode());
    }
    fn frame(&mut self) -> Option<Frame> {
        proto::read_frame(&mut self.s).ok().flatten()
    }
    /// Data until the final frame: (data, final frame).
    fn finish(&mut self) -> (Vec<u8>, Option<Frame>) {
        let mut data = Vec::new();
        loop {
            match self.frame() {
                Some(Frame::Data(d)) => data.extend(d),
                Some(Frame::Stderr(_)) => {}
                other => return (data, other),
            }
        }
    }
    /// The advertisement (first Data frame).
    fn advert(&mut self) -> Vec<u8> {
        match self.frame() {
            Some(Frame::Data(d)) => d,
            other => panic!("expected the advertisement, got {other:?}"),
        }
    }
}

impl Fx {
    /// A push spoken on the raw socket: the advertisement, `cmds`, `pack`, then what came back
    /// (as text) and the final frame.
    fn push_raw(&self, cmds: &[u8], pack: &[u8]) -> (String, Option<Frame>) {
        let mut c = Conn::open(self, "git-receive-pack");
        c.advert();
        c.send(cmds);
        c.send(pack);
        let (data, last) = c.finish();
        (String::from_utf8_lossy(&data).into_owned(), last)
    }
    fn head(&self) -> String {
        git(self.seed.path(), &["rev-parse", "HEAD"])
    }
    fn posts(&self) -> usize {
        self.pack_posts().len()
    }
    /// A normal request still works (the agent answers others).
    fn still_serves(&self) {
        let mut c = Conn::open(self, "git-upload-pack");
        let adv = c.advert();
        assert!(
            adv.starts_with(b"000eversion 2\n"),
            "{:?}",
            String::from_utf8_lossy(&adv)
        );
        c.send(&[pkt(b"command=ls-refs\n"), b"0000".to_vec()].concat());
        c.eof();
        let (data, last) = c.finish();
        assert!(String::from_utf8_lossy(&data).contains("refs/heads/main"));
        assert!(
            matches!(&last, Some(Frame::Exit(e)) if e.code == 0),
            "{last:?}"
        );
    }
    fn pack_of(&self, revs: &str) -> Vec<u8> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo '{revs}' | git pack-objects --revs --stdout -q"
            ))
            .current_dir(self.seed.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }
    fn commit(&self, file: &str) -> String {
        let s = self.seed.path();
        std::fs::write(s.join(file), file).unwrap();
        git(s, &["add", "."]);
        git(s, &["commit", "-q", "-m", file]);
        self.head()
    }
}

fn commands(old: &str, new: &str, name: &str) -> Vec<u8> {
    [
        pkt(format!("{old} {new} {name}\0report-status side-band-64k\n").as_bytes()),
        b"0000".to_vec(),
    ]
    .concat()
}

fn assert_error(last: Option<Frame>, want: &str) {
    match last {
        Some(Frame::Error(e)) => assert!(e.message.contains(want), "{}", e.message),
        other => panic!("expected an error containing {want:?}, got {other:?}"),
    }
}

#[test]
fn malformed_pkt_lines_are_protocol_errors() {
    let fx = fx(&[]);
    for bad in [&b"zzzz"[..], b"0003", b"fff0xxxx", b"0009ab"] {
        let mut c = Conn::open(&fx, "git-receive-pack");
        c.advert();
        c.send(bad);
        c.eof();
        let (_, last) = c.finish();
        assert_error(last, "protocol error");
        let mut c = Conn::open(&fx, "git-upload-pack");
        c.advert();
        c.send(bad);
        c.eof();
        let (_, last) = c.finish();
        assert_error(last, "protocol error");
    }
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&[pkt(b"not a command\n"), b"0000".to_vec()].concat());
    c.eof();
    assert_error(c.finish().1, "protocol error");
    assert_eq!(fx.posts(), 0);
    fx.still_serves();
}

#[test]
fn truncated_and_garbage_packs_never_reach_upstream() {
    let fx = fx(&[]);
    let base = fx.head();
    let new = fx.commit("a.txt");
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    // truncated: git's side closes in the middle of the pack
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&commands(&base, &new, "refs/heads/claude/base"));
    c.send(&pack[..pack.len() / 2]);
    c.eof();
    let (_, last) = c.finish();
    assert_error(last, "in the middle of the pack");
    // garbage instead of a pack: a refusal in report-status
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&commands(&base, &new, "refs/heads/claude/base"));
    let mut junk = b"PACK\0\0\0\x02\0\0\0\x05".to_vec();
    junk.extend(vec![0x55u8; 5000]);
    c.send(&junk);
    c.eof();
    let (data, last) = c.finish();
    let text = String::from_utf8_lossy(&data);
    assert!(
        text.contains("ng refs/heads/claude/base gitgate: invalid pack"),
        "{text}"
    );
    assert!(matches!(last, Some(Frame::Exit(_))), "{last:?}");
    assert_eq!(fx.posts(), 0);
    fx.still_serves();
    // the real pack, complete: it goes through
    let (text, last) = fx.push_raw(&commands(&base, &new, "refs/heads/claude/base"), &pack);
    assert!(text.contains("ok refs/heads/claude/base"), "{}", text);
    assert!(matches!(last, Some(Frame::Exit(e)) if e.code == 0));
    assert_eq!(fx.posts(), 1);
}

#[test]
fn a_pack_over_the_limit_is_refused() {
    let fx = fx(&[("GITGATE_MAX_PUSH_BYTES", "4096")]);
    let base = fx.head();
    let big: String = (0..200_000u32)
        .map(|i| format!("{:x}", i.wrapping_mul(2654435761)))
        .collect();
    std::fs::write(fx.seed.path().join("big.txt"), big).unwrap();
    let new = fx.commit("big2.txt");
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    assert!(pack.len() > 8192);
    let (text, last) = fx.push_raw(&commands(&base, &new, "refs/heads/claude/base"), &pack);
    assert!(
        text.contains("larger than 4096 bytes (GITGATE_MAX_PUSH_BYTES)"),
        "{text}"
    );
    assert!(matches!(last, Some(Frame::Exit(_))), "{last:?}");
    assert_eq!(fx.posts(), 0);
    fx.still_serves();
}

#[test]
fn a_client_stalling_mid_pack_is_dropped_and_others_are_served() {
    let fx = fx(&[("GITGATE_IO_TIMEOUT_SECS", "2")]);
    let base = fx.head();
    let new = fx.commit("s.txt");
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&commands(&base, &new, "refs/heads/claude/base"));
    c.send(&pack[..20]);
    // meanwhile, others are served
    fx.still_serves();
    let (_, last) = c.finish();
    assert_error(last, "GITGATE_IO_TIMEOUT_SECS");
    assert_eq!(fx.posts(), 0);
    // a client that disconnects mid-pack: nothing goes upstream
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&commands(&base, &new, "refs/heads/claude/base"));
    c.send(&pack[..pack.len() - 5]);
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    fx.still_serves();
    assert_eq!(fx.posts(), 0);
    let mut a = fx.agent.log_text();
    a.retain(|c| c != '\r');
    assert!(!a.contains("panicked"), "{a}");
}

#[test]
fn a_100k_commit_chain_is_walked_without_blowing_the_stack() {
    let fx = fx(&[]);
    let base = fx.head();
    // 100,000 commits on top of base, made with fast-import (quick).
    let mut script = String::new();
    for i in 0..100_000u32 {
        script.push_str(&format!(
            "commit refs/heads/chain\ncommitter T <t@t> {} +0000\ndata 0\n{}\n",
            1_700_000_000 + i,
            if i == 0 {
                format!("from {base}\n")
            } else {
                String::new()
            }
        ));
    }
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(fx.seed.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let tip = git(fx.seed.path(), &["rev-parse", "chain"]);
    let pack = fx.pack_of(&format!("{tip}\n^{base}"));
    let (text, last) = fx.push_raw(&commands(&base, &tip, "refs/heads/claude/base"), &pack);
    assert!(
        text.contains("ok refs/heads/claude/base"),
        "{text}\n{}",
        fx.agent.log_text()
    );
    assert!(matches!(last, Some(Frame::Exit(e)) if e.code == 0));
    // and a non-fast-forward over the same depth is recognised as one
    let other = git(
        fx.seed.path(),
        &["commit-tree", "-m", "x", &format!("{base}^{{tree}}")],
    );
    let pack = fx.pack_of(&format!("{other}\n^{base}"));
    let (text, _) = fx.push_raw(&commands(&tip, &other, "refs/heads/claude/base"), &pack);
    assert!(text.contains("(ALLOW_FORCE_PUSH)"));
    assert_eq!(fx.posts(), 1);
    let _ = (&fx.token, Z, PathBuf::new(), Path::new("/"));
}

/// A pack made by hand: git itself refuses to build trees this deep (`core.maxTreeDepth`).
mod handmade {
    /// SHA-1 (FIPS 180-1), for object ids and the pack trailer.
    pub fn sha1(data: &[u8]) -> [u8; 20] {
        let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
        let mut msg = data.to_vec();
        let bits = (data.len() as u64).wrapping_mul(8);
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bits.to_be_bytes());
        for block in msg.chunks(64) {
            let mut w = [0u32; 80];
            for (i, word) in block.chunks(4).enumerate() {
                w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let [mut a, mut b, mut c, mut d, mut e] = h;
            for (i, wi) in w.iter().enumerate() {
                let (f, k) = match i {
                    0..=19 => ((b & c) | (!b & d), 0x5A827999),
                    20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                    40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                    _ => (b ^ c ^ d, 0xCA62C1D6),
                };
                let t = a
                    .rotate_left(5)
                    .wrapping_add(f)
                    .wrapping_add(e)
                    .wrapping_add(k)
                    .wrapping_add(*wi);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = t;
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 20];
        for (i, x) in h.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
        }
        out
    }

    pub fn hex(id: &[u8; 20]) -> String {
        id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// zlib with stored (uncompressed) deflate blocks.
    fn zlib_stored(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x78, 0x01];
        let mut chunks = data.chunks(65535).peekable();
        if data.is_empty() {
            out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        while let Some(c) = chunks.next() {
            out.push(u8::from(chunks.peek().is_none()));
            let len = c.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(c);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }

    /// A pack of whole objects `(type: 1 commit, 2 tree, 3 blob; content)`.
    pub struct Pack {
        body: Vec<u8>,
        count: u32,
    }

    impl Pack {
        pub fn new() -> Pack {
            Pack {
                body: Vec::new(),
                count: 0,
            }
        }
        /// Add an object; returns its id.
        pub fn add(&mut self, kind: u8, content: &[u8]) -> [u8; 20] {
            let name = match kind {
                1 => "commit",
                2 => "tree",
                _ => "blob",
            };
            let mut obj = format!("{name} {}\0", content.len()).into_bytes();
            obj.extend_from_slice(content);
            let id = sha1(&obj);
            let mut size = content.len();
            let mut byte = (kind << 4) | (size & 0x0f) as u8;
            size >>= 4;
            while size > 0 {
                self.body.push(byte | 0x80);
                byte = (size & 0x7f) as u8;
                size >>= 7;
            }
            self.body.push(byte);
            self.body.extend_from_slice(&zlib_stored(content));
            self.count += 1;
            id
        }
        pub fn finish(self) -> Vec<u8> {
            let mut out = b"PACK".to_vec();
            out.extend_from_slice(&2u32.to_be_bytes());
            out.extend_from_slice(&self.count.to_be_bytes());
            out.extend_from_slice(&self.body);
            let sum = sha1(&out);
            out.extend_from_slice(&sum);
            out
        }
    }

    #[test]
    fn sha1_known_answers() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}

#[test]
fn a_pack_with_a_30000_level_tree_does_not_hurt_the_agent() {
    let mut fx = fx(&[]);
    let base = fx.head();
    let mut p = handmade::Pack::new();
    let blob = p.add(3, b"deep\n");
    let mut tree = {
        let mut t = b"100644 f\0".to_vec();
        t.extend_from_slice(&blob);
        p.add(2, &t)
    };
    for _ in 0..30_000 {
        let mut t = b"40000 a\0".to_vec();
        t.extend_from_slice(&tree);
        tree = p.add(2, &t);
    }
    let commit = p.add(
        1,
        format!(
            "tree {}\nparent {base}\nauthor T <t@t> 1700000000 +0000\ncommitter T <t@t> 1700000000 +0000\n\ndeep\n",
            handmade::hex(&tree)
        )
        .as_bytes(),
    );
    let pack = p.finish();
    // the pack is well formed: git's own index-pack accepts it and finds the commit
    let check = tempfile::tempdir().unwrap();
    git(check.path(), &["init", "-q", "--bare"]);
    let mut ip = std::process::Command::new("git")
        .args(["index-pack", "--stdin"])
        .current_dir(check.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    ip.stdin.take().unwrap().write_all(&pack).unwrap();
    assert!(
        ip.wait().unwrap().success(),
        "index-pack refused the handmade pack"
    );
    let id = handmade::hex(&commit);
    assert_eq!(git(check.path(), &["cat-file", "-t", &id]), "commit");

    let (text, last) = fx.push_raw(&commands(Z, &id, "refs/heads/claude/deep"), &pack);
    // whatever upstream makes of it, the agent relays an answer, stays up and serves others
    assert!(
        matches!(last, Some(Frame::Exit(_)) | Some(Frame::Error(_))),
        "{last:?} {}",
        text
    );
    // what git reports is what the server did (git 2.39's receive-pack takes it)
    let on_server = std::process::Command::new("git")
        .args(["rev-parse", "-q", "--verify", "refs/heads/claude/deep"])
        .current_dir(fx._srv.path().join("acme/app.git"))
        .output()
        .unwrap();
    assert_eq!(
        text.contains("ok refs/heads/claude/deep"),
        String::from_utf8_lossy(&on_server.stdout).trim() == id,
        "{text}"
    );
    assert!(fx.agent.alive());
    fx.still_serves();
    let log = fx.agent.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

// ---- Large pushes stream upstream while they arrive (receive.rs `Streaming`): upstream is only
// contacted once every command and claimed fast-forward is decided, and the pack's last 20 bytes
// (its checksum) are held back until the whole pack is in and verified, so a push cut for any
// reason leaves the server without a complete pack: no ref and no object changes.

const BIG: usize = 3 * 1024 * 1024;

impl Fx {
    fn bare(&self) -> PathBuf {
        self._srv.path().join("acme").join("app.git")
    }
    /// A commit on top of HEAD adding `BIG` incompressible bytes.
    fn big_commit(&self, file: &str, seed: u64) -> String {
        let s = self.seed.path();
        std::fs::write(s.join(file), incompressible(BIG, seed)).unwrap();
        git(s, &["add", "."]);
        git(s, &["commit", "-q", "-m", file]);
        self.head()
    }
    fn server_has(&self, id: &str) -> bool {
        std::process::Command::new("git")
            .args(["cat-file", "-e", id])
            .current_dir(self.bare())
            .status()
            .unwrap()
            .success()
    }
    fn server_ref(&self, name: &str) -> String {
        git(&self.bare(), &["rev-parse", name])
    }
    /// The receive-pack POSTs of the tests' own pushes (not the seed push).
    fn pack_posts(&self) -> Vec<gitgate_e2e::RecordedRequest> {
        self.server
            .receive_pack_posts()
            .into_iter()
            .skip(1)
            .collect()
    }
    /// Until upstream has seen `n` receive-pack POSTs (bounded).
    fn wait_for_posts(&self, n: usize) {
        for _ in 0..400 {
            if self.posts() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "upstream never saw {n} receive-pack POSTs: {:?}",
            self.pack_posts()
        );
    }
    /// Until the agent has written an audit record for `n` pushes, then the last one (bounded).
    fn last_push_audit(&self, n: usize) -> serde_json::Value {
        for _ in 0..400 {
            let pushes: Vec<_> = self
                .agent
                .audit()
                .into_iter()
                .filter(|r| r["service"] == "git-receive-pack")
                .collect();
            if pushes.len() >= n {
                return pushes[n - 1].clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no audit record for push {n}: {:?}", self.agent.audit());
    }
}

#[test]
fn large_pushes_stream_upstream_and_land() {
    let fx = fx(&[]);
    let base = fx.head();
    // A fast-forward of an existing branch: confirmed from the pack's leading commit.
    let new = fx.big_commit("big1.bin", 1);
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    assert!(pack.len() > BIG);
    let (text, last) = fx.push_raw(&commands(&base, &new, "refs/heads/claude/base"), &pack);
    assert!(text.contains("ok refs/heads/claude/base"), "{text}");
    assert!(
        matches!(last, Some(Frame::Exit(ref e)) if e.code == 0),
        "{last:?}"
    );
    assert_eq!(fx.server_ref("refs/heads/claude/base"), new);
    // A new branch: nothing to confirm.
    let newer = fx.big_commit("big2.bin", 2);
    let pack = fx.pack_of(&format!("{newer}\n^{new}"));
    let (text, _) = fx.push_raw(&commands(Z, &newer, "refs/heads/claude/big"), &pack);
    assert!(text.contains("ok refs/heads/claude/big"));
    assert_eq!(fx.server_ref("refs/heads/claude/big"), newer);
    // One request each; the new branch streamed (chunked, no Content-Length). The fast-forward
    // does too when its leading commit is read before gix is through the pack, which
    // a_streamed_push_cut_mid_pack_changes_nothing_upstream shows without depending on timing.
    let posts = fx.pack_posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(posts.iter().all(|p| p.status == 200), "{posts:?}");
    assert_eq!(posts[1].content_length, None, "{posts:?}");
    assert_eq!(fx.last_push_audit(2)["outcome"], "landed");
}

#[test]
fn a_streamed_push_cut_mid_pack_changes_nothing_upstream() {
    let fx = fx(&[]);
    let base = fx.head();
    let new = fx.big_commit("cut.bin", 3);
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&commands(&base, &new, "refs/heads/claude/base"));
    c.send(&pack[..pack.len() - 5]);
    // Upstream got the request while the pack was still arriving (it streams)...
    fx.wait_for_posts(1);
    // ...then git goes away before the end of its pack.
    drop(c);
    let audit = fx.last_push_audit(1);
    assert_eq!(audit["outcome"], "not sent", "{audit}");
    fx.still_serves();
    assert_eq!(fx.server_ref("refs/heads/claude/base"), base);
    assert!(
        !fx.server_has(&new),
        "the server kept an object of the cut push"
    );
    let mut a = fx.agent.log_text();
    a.retain(|c| c != '\r');
    assert!(!a.contains("panicked"), "{a}");
}

#[test]
fn a_large_push_over_the_limit_is_cut_before_its_end() {
    let fx = fx(&[("GITGATE_MAX_PUSH_BYTES", "2097152")]);
    let base = fx.head();
    let new = fx.big_commit("limit.bin", 4);
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    let (text, last) = fx.push_raw(&commands(&base, &new, "refs/heads/claude/base"), &pack);
    assert!(
        text.contains("ng refs/heads/claude/base gitgate: the push is larger than 2097152 bytes (GITGATE_MAX_PUSH_BYTES)"),
        "{text}"
    );
    assert!(matches!(last, Some(Frame::Exit(_))), "{last:?}");
    assert_eq!(fx.server_ref("refs/heads/claude/base"), base);
    assert!(!fx.server_has(&new));
    assert_eq!(fx.last_push_audit(1)["outcome"], "not sent");
    fx.still_serves();
}

#[test]
fn a_large_push_found_over_the_limit_only_at_its_last_bytes_is_not_applied() {
    // The limit is crossed inside the pack's last 10 bytes: the agent has read (and streamed)
    // every byte but the held-back checksum when it finds out. Without that hold-back the
    // server would have the whole pack, and apply it.
    let probe = fx(&[]);
    let base = probe.head();
    let new = probe.big_commit("edge.bin", 7);
    let pack = probe.pack_of(&format!("{new}\n^{base}"));
    let limit = (pack.len() - 10).to_string();
    let fx = fx(&[("GITGATE_MAX_PUSH_BYTES", &limit)]);
    let base = fx.head();
    let new = fx.big_commit("edge.bin", 7);
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    assert_eq!(
        pack.len().to_string(),
        (limit.parse::<usize>().unwrap() + 10).to_string()
    );
    let (text, _) = fx.push_raw(&commands(Z, &new, "refs/heads/claude/edge"), &pack);
    assert!(
        text.contains(&format!(
            "larger than {limit} bytes (GITGATE_MAX_PUSH_BYTES)"
        )),
        "{text}"
    );
    assert_eq!(fx.posts(), 1, "it had streamed");
    assert_eq!(fx.server_ref("refs/heads/claude/base"), base);
    assert!(
        !fx.server_has(&new),
        "the server has the refused push's objects"
    );
}

#[test]
fn a_corrupt_large_pack_is_cut_before_its_end() {
    let fx = fx(&[]);
    let base = fx.head();
    let new = fx.big_commit("corrupt.bin", 5);
    let mut pack = fx.pack_of(&format!("{new}\n^{base}"));
    // One flipped byte inside the big blob's data, past the point where the push streams.
    let at = pack.len() - 100_000;
    pack[at] ^= 0x40;
    // A new branch: nothing to confirm, so it streams once 1 MiB is in, whatever the timing.
    let (text, _) = fx.push_raw(&commands(Z, &new, "refs/heads/claude/corrupt"), &pack);
    assert!(
        text.contains("ng refs/heads/claude/corrupt gitgate: invalid pack"),
        "{text}"
    );
    assert_eq!(fx.posts(), 1, "it had streamed");
    assert!(!fx.server_has(&new));
    fx.still_serves();
}

#[test]
fn a_large_non_fast_forward_never_reaches_upstream() {
    let fx = fx(&[]);
    let base = fx.head();
    // A commit that does not descend from the branch's tip (a force push), with a large pack.
    let s = fx.seed.path();
    git(s, &["checkout", "-q", "--orphan", "other"]);
    let new = fx.big_commit("orphan.bin", 6);
    let pack = fx.pack_of(&new);
    let (text, _) = fx.push_raw(&commands(&base, &new, "refs/heads/claude/base"), &pack);
    assert!(text.contains("(ALLOW_FORCE_PUSH)"), "{}", text);
    assert_eq!(fx.posts(), 0);
    assert_eq!(fx.server_ref("refs/heads/claude/base"), base);
}

#[test]
fn a_server_that_stops_taking_a_streamed_push_is_given_up_on() {
    // Upstream takes the request but never reads its body: the agent's wait for it is bounded
    // (GITGATE_IO_TIMEOUT_SECS), git is told nothing was pushed, others are served meanwhile.
    let fx = fx(&[("GITGATE_IO_TIMEOUT_SECS", "2")]);
    let base = fx.head();
    // Far more than the socket buffers between the agent and the server hold.
    std::fs::write(
        fx.seed.path().join("stall.bin"),
        incompressible(27 << 20, 8),
    )
    .unwrap();
    git(fx.seed.path(), &["add", "."]);
    git(fx.seed.path(), &["commit", "-q", "-m", "stall"]);
    let new = fx.head();
    let pack = fx.pack_of(&format!("{new}\n^{base}"));
    fx.server.set_stall_pushes(true);
    let mut c = Conn::open(&fx, "git-receive-pack");
    c.advert();
    c.send(&commands(Z, &new, "refs/heads/claude/stall"));
    let sender = {
        let mut s = c.s.try_clone().unwrap();
        std::thread::spawn(move || {
            for part in pack.chunks(proto::CHUNK) {
                if s.write_all(&Frame::Data(part.to_vec()).encode()).is_err() {
                    break;
                }
            }
        })
    };
    fx.wait_for_posts(1);
    fx.still_serves();
    let (_, last) = c.finish();
    match last {
        Some(Frame::Error(e)) => assert!(
            e.message
                .contains("took none of the push for 2 s (GITGATE_IO_TIMEOUT_SECS)")
                && e.message.contains("nothing was pushed"),
            "{}\n{}\n{:?}",
            e.message,
            fx.agent.log_text(),
            fx.pack_posts()
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    let _ = sender.join();
    assert!(!fx.server_has(&new));
    assert_eq!(fx.last_push_audit(1)["outcome"], "not sent");
}
