//! The agent's cache of a repository learns from pushes that landed: after a push through
//! gitgate, the next push of an edit to the same file (a thin pack whose delta base is the blob
//! the previous push sent) is indexed from the cache, without the agent fetching from upstream
//! again. The first such push, whose base the cache has never seen, still refreshes it.

use gitgate_e2e::*;
use std::path::Path;

fn upload_pack_requests(server: &GitHttpServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.contains("upload-pack"))
        .count()
}

/// A 4,000-line file with line `k` changed: a one-line edit git sends as a delta.
fn text(k: usize) -> String {
    (0..4000)
        .map(|i| {
            if i == k {
                format!("line {i:05} edited {k}\n")
            } else {
                format!("line {i:05} of a file that is edited one line at a time\n")
            }
        })
        .collect()
}

#[test]
fn a_landed_push_feeds_the_cache_so_the_next_thin_push_needs_no_refresh() {
    let real = Path::new(REAL_GIT);
    let token = random_token();
    let srv = tempfile::tempdir().unwrap();
    let bare = init_bare(srv.path(), "acme", "app");
    let server = GitHttpServer::start(srv.path(), &token).unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path().join("w");
    std::fs::create_dir_all(&w).unwrap();
    git(&w, &["init", "-q", "-b", "main"]);
    std::fs::write(w.join("src.txt"), text(0)).unwrap();
    git(&w, &["add", "."]);
    git(&w, &["commit", "-q", "-m", "src"]);
    // Upstream gets the file straight from git: the agent's cache has never seen it.
    git(
        &w,
        &[
            "push",
            "-q",
            &server.url_with_token("acme", "app", &token),
            "main:refs/heads/claude/edit",
        ],
    );
    let agent = Agent::builder()
        .token(&token)
        .env("ALLOWED_HOSTS", &format!("[\"{}\"]", server.host()))
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .start();
    let ovl = tempfile::tempdir().unwrap();
    let overlay = exec_overlay(real, &ovl.path().join("exec"));
    let push = |k: usize| {
        std::fs::write(w.join("src.txt"), text(k)).unwrap();
        git(&w, &["commit", "-q", "-a", "-m", &format!("edit {k}")]);
        let before = upload_pack_requests(&server);
        let r = Run::from(
            git_via_gitgate(real, &w, &overlay, &agent.socket)
                .args([
                    "push",
                    &server.url("acme", "app"),
                    "main:refs/heads/claude/edit",
                ])
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(
            git(&bare, &["rev-parse", "refs/heads/claude/edit"]),
            git(&w, &["rev-parse", "HEAD"])
        );
        upload_pack_requests(&server) - before
    };
    // The base of the first edit is only upstream: the agent fetches it.
    assert!(push(1) > 0, "the first thin push should refresh the cache");
    // The base of each next edit is the blob the previous push sent: already in the cache.
    for k in 2..5 {
        assert_eq!(push(k), 0, "push {k} refetched from upstream");
    }
    let log = agent.log_text();
    assert!(!log.contains("cannot take in the pushed pack"), "{log}");
}
