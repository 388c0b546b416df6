//! Tests for the git smart-HTTP test server, using the real git CLI as the client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use gitgate_testsupport::githttp::{git, git_status, init_bare, install_hook, GitHttpServer};

const TOKEN: &str = "s3cret-token";

fn setup() -> (tempfile::TempDir, GitHttpServer) {
    let root = tempfile::tempdir().unwrap();
    init_bare(root.path(), "acme", "app");
    let server = GitHttpServer::start(root.path(), TOKEN).unwrap();
    (root, server)
}

fn cred_url(server: &GitHttpServer, password: &str) -> String {
    format!(
        "http://x-access-token:{password}@{}/acme/app.git",
        server.host()
    )
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Incompressible pseudo-random bytes (xorshift64*), deterministic.
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        v.extend_from_slice(&seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Minimal raw HTTP/1.1 request; returns (status, full response head+body as text).
fn raw_http(server: &GitHttpServer, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(server.host()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn commit_file(work: &Path, name: &str, content: &[u8], msg: &str) -> String {
    std::fs::write(work.join(name), content).unwrap();
    git(work, &["add", name]);
    git(work, &["commit", "-q", "-m", msg]);
    git(work, &["rev-parse", "HEAD"])
}

#[test]
fn clone_push_fetch_ls_remote_roundtrip() {
    let (root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let url = cred_url(&server, TOKEN);
    assert_eq!(
        server.url("acme", "app"),
        format!("http://127.0.0.1:{}/acme/app.git", server.port())
    );

    // Clone the empty repository.
    git(tmp.path(), &["clone", "-q", &url, "w1"]);
    let w1 = tmp.path().join("w1");
    let c1 = commit_file(&w1, "README.md", b"hello\n", "first");
    git(&w1, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    git(&w1, &["checkout", "-q", "-b", "feature"]);
    let c2 = commit_file(&w1, "a.txt", b"feature work\n", "feature");
    git(&w1, &["push", "-q", "origin", "feature"]);

    // The bare repo has both refs.
    let bare = root.path().join("acme/app.git");
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), c1);
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/feature"]), c2);

    // ls-remote sees them.
    let ls = git(tmp.path(), &["ls-remote", &url]);
    assert!(ls.contains(&format!("{c1}\trefs/heads/main")), "{ls}");
    assert!(ls.contains(&format!("{c2}\trefs/heads/feature")), "{ls}");

    // Fetch back in another clone, with protocol v2 and v0.
    for (dir, proto) in [("w2", "2"), ("w3", "0")] {
        let pc = format!("protocol.version={proto}");
        git(tmp.path(), &["-c", &pc, "clone", "-q", &url, dir]);
        let w = tmp.path().join(dir);
        assert_eq!(git(&w, &["rev-parse", "HEAD"]), c1);
        git(&w, &["-c", &pc, "fetch", "-q", "origin", "feature"]);
        assert_eq!(git(&w, &["rev-parse", "FETCH_HEAD"]), c2);
        assert_eq!(git(&w, &["rev-parse", "origin/feature"]), c2);
    }

    // Every request was recorded; the successful CGI responses were authenticated.
    let reqs = server.requests();
    assert_eq!(reqs.len(), server.request_count());
    assert!(reqs.len() >= 10, "{reqs:?}");
    assert!(reqs.iter().any(|r| r.method == "POST"
        && r.path == "/acme/app.git/git-receive-pack"
        && r.status == 200));
    assert!(reqs
        .iter()
        .any(|r| r.path == "/acme/app.git/info/refs?service=git-upload-pack"));
    for r in &reqs {
        match r.status {
            200 => assert!(r.auth_ok && r.had_auth, "{r:?}"),
            401 => assert!(!r.auth_ok, "{r:?}"),
            other => panic!("unexpected status {other}: {r:?}"),
        }
    }
}

#[test]
fn large_push_is_streamed() {
    let (root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let url = cred_url(&server, TOKEN);
    git(tmp.path(), &["clone", "-q", &url, "w"]);
    let w = tmp.path().join("w");
    let data = random_bytes(5 * 1024 * 1024, 0x1234_5678_9abc_def1);
    let c = commit_file(&w, "big.bin", &data, "big");
    // Default http.postBuffer is 1 MiB, so a 5 MiB pack is sent with chunked encoding and no
    // Content-Length.
    git(&w, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let reqs = server.requests();
    assert!(
        reqs.iter().any(|r| r.method == "POST"
            && r.path.ends_with("/git-receive-pack")
            && r.content_length.is_none()
            && r.status == 200),
        "no chunked receive-pack POST: {reqs:?}"
    );
    let bare = root.path().join("acme/app.git");
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), c);
    let size = git(&bare, &["cat-file", "-s", "main:big.bin"]);
    assert_eq!(size, (5 * 1024 * 1024).to_string());

    // And it comes back intact.
    git(tmp.path(), &["clone", "-q", &url, "w2"]);
    assert_eq!(std::fs::read(tmp.path().join("w2/big.bin")).unwrap(), data);
}

#[test]
fn wrong_password_fails_with_401_only() {
    let (_root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let out = git_status(tmp.path(), &["ls-remote", &cred_url(&server, "wrong")]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Authentication failed"), "{err}");
    let reqs = server.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter().all(|r| r.status == 401 && !r.auth_ok),
        "{reqs:?}"
    );
    assert!(reqs.iter().any(|r| r.had_auth), "{reqs:?}");

    // Clone and push with the wrong password fail too.
    let out = git_status(tmp.path(), &["clone", &cred_url(&server, "nope"), "w"]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(server.requests().iter().all(|r| r.status == 401));
}

#[test]
fn no_credentials_fails() {
    let (_root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let before = server.request_count();
    let out = git_status(tmp.path(), &["ls-remote", &server.url("acme", "app")]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(server.request_count() > before);
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .all(|r| r.status == 401 && !r.had_auth && !r.auth_ok),
        "{reqs:?}"
    );
}

#[test]
fn raw_http_auth_and_records() {
    let (_root, server) = setup();
    assert_eq!(server.request_count(), 0);
    let get = |auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "GET /acme/app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
            server.host()
        )
    };
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);

    let (st, text) = raw_http(&server, &get(None));
    assert_eq!(st, 401, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"gitgate-test\""),
        "{text}"
    );
    let (st, _) = raw_http(&server, &get(Some(&format!("Basic {}", b64("u:bad")))));
    assert_eq!(st, 401);
    let (st, _) = raw_http(&server, &get(Some(&format!("Bearer {TOKEN}"))));
    assert_eq!(st, 401);
    // Any user name is fine; the password is what counts.
    let (st, text) = raw_http(
        &server,
        &get(Some(&format!("Basic {}", b64(&format!("anyone:{TOKEN}"))))),
    );
    assert_eq!(st, 200, "{text}");
    assert!(
        text.contains("application/x-git-upload-pack-advertisement"),
        "{text}"
    );
    assert!(text.contains("# service=git-upload-pack"), "{text}");
    // A repo that does not exist: CGI runs and says 404.
    let (st, _) = raw_http(
        &server,
        &format!(
            "GET /acme/missing.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
            b64(&format!("x-access-token:{TOKEN}"))
        ),
    );
    assert_eq!(st, 404);

    let reqs = server.requests();
    assert_eq!(server.request_count(), 5);
    let flags: Vec<(bool, bool, u16)> = reqs
        .iter()
        .map(|r| (r.had_auth, r.auth_ok, r.status))
        .collect();
    assert_eq!(
        flags,
        vec![
            (false, false, 401),
            (true, false, 401),
            (true, false, 401),
            (true, true, 200),
            (true, true, 404)
        ]
    );
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(
        reqs[0].path,
        "/acme/app.git/info/refs?service=git-upload-pack"
    );
}

#[test]
fn redirect_mode_returns_3xx_and_git_fails() {
    let (_root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let url = cred_url(&server, TOKEN);
    // Works before.
    git(tmp.path(), &["ls-remote", &url]);

    server.set_redirect(Some("http://127.0.0.1:9/evil/app.git".to_string()));
    let (st, text) = raw_http(
        &server,
        &format!(
            "GET /acme/app.git/info/refs HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.host()
        ),
    );
    assert_eq!(st, 302, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("location: http://127.0.0.1:9/evil/app.git"),
        "{text}"
    );

    let n = server.request_count();
    let out = git_status(
        tmp.path(),
        &["-c", "http.followRedirects=false", "ls-remote", &url],
    );
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = server.requests();
    assert!(reqs.len() > n);
    assert!(reqs[n..].iter().all(|r| r.status == 302), "{reqs:?}");

    // Back to normal.
    server.set_redirect(None);
    git(tmp.path(), &["ls-remote", &url]);
}

#[test]
fn declining_pre_receive_hook_fails_push() {
    let (root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let url = cred_url(&server, TOKEN);
    git(tmp.path(), &["clone", "-q", &url, "w"]);
    let w = tmp.path().join("w");
    let c1 = commit_file(&w, "f", b"1\n", "one");
    git(&w, &["push", "-q", "origin", "HEAD:refs/heads/main"]);

    let bare = root.path().join("acme/app.git");
    install_hook(
        &bare,
        "pre-receive",
        "#!/bin/sh\necho 'push declined by policy' >&2\nexit 1\n",
    );
    commit_file(&w, "f", b"2\n", "two");
    let out = git_status(&w, &["push", "origin", "HEAD:refs/heads/main"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("pre-receive hook declined"), "{err}");
    assert!(err.contains("push declined by policy"), "{err}");
    assert_eq!(git(&bare, &["rev-parse", "refs/heads/main"]), c1);
}

#[test]
fn concurrent_clients() {
    let (_root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let url = cred_url(&server, TOKEN);
    git(tmp.path(), &["clone", "-q", &url, "seed"]);
    let seed = tmp.path().join("seed");
    let c = commit_file(&seed, "x", b"x\n", "x");
    git(&seed, &["push", "-q", "origin", "HEAD:refs/heads/main"]);

    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let url = url.clone();
                let base = tmp.path().to_path_buf();
                s.spawn(move || {
                    let name = format!("c{i}");
                    git(&base, &["clone", "-q", &url, &name]);
                    git(&base.join(&name), &["rev-parse", "HEAD"])
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), c);
        }
    });
    // Many sequential requests on one server.
    for _ in 0..10 {
        git(tmp.path(), &["ls-remote", &url]);
    }
}

#[test]
fn drop_closes_port() {
    // Another test of this binary may bind the freed ephemeral port at once: a server that never
    // closes its port fails every attempt, a coincidence only one.
    let closed = (0..3).any(|_| {
        let (_root, server) = setup();
        let host = server.host();
        assert!(TcpStream::connect(&host).is_ok());
        drop(server);
        TcpStream::connect(&host).is_err()
    });
    assert!(closed, "the port stayed open after drop");
}

#[tokio::test]
async fn usable_and_droppable_from_async_tests() {
    let (_root, server) = setup();
    let host = server.host();
    let out = tokio::task::spawn_blocking({
        let url = cred_url(&server, TOKEN);
        move || git_status(Path::new("/"), &["ls-remote", &url])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    drop(server);
    assert!(tokio::net::TcpStream::connect(&host).await.is_err());
}

#[test]
fn gzip_request_body_is_inflated_by_backend() {
    let (_root, server) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let url = cred_url(&server, TOKEN);
    git(tmp.path(), &["clone", "-q", &url, "w"]);
    let w = tmp.path().join("w");
    let c = commit_file(&w, "f", b"gz\n", "gz");
    git(&w, &["push", "-q", "origin", "HEAD:refs/heads/main"]);

    // A protocol-v0 stateless upload-pack request, gzip-compressed like git does for big bodies.
    let plain = format!("0032want {c}\n00000009done\n");
    let mut gz = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    gz.stdin
        .take()
        .unwrap()
        .write_all(plain.as_bytes())
        .unwrap();
    let body = gz.wait_with_output().unwrap().stdout;
    assert!(!body.is_empty());

    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("x:{TOKEN}"));
    let head = format!(
        "POST /acme/app.git/git-upload-pack HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-git-upload-pack-request\r\nContent-Encoding: gzip\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        server.host(),
        body.len()
    );
    let mut s = TcpStream::connect(server.host()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("application/x-git-upload-pack-result"),
        "{text}"
    );
    assert!(text.contains("NAK") && text.contains("PACK"), "{text}");
}
