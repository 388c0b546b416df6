//! Figure 8: a normal request while thousands of idle connections are open (issue 9: admission
//! after Hello). Baseline: the same request against the same agent with no idle connections.

use crate::report::{row, Section, Verdict};
use crate::util::*;
use crate::Config;
use gitgate_e2e::{random_token, Agent};
use std::os::unix::net::UnixStream;
use std::time::Instant;

fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(want.max(lim.rlim_cur));
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

pub fn idle_flood(cfg: &Config) -> Section {
    let mut sec = Section::new("8. A request with thousands of idle connections open");
    raise_nofile(cfg.idle_connections as u64 + 1024);
    let agent = Agent::builder()
        .token(&random_token())
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .env("GITGATE_HELLO_TIMEOUT_MS", "600000")
        .start();
    let repo = agent.workspace_repo("ws", "https://github.com/acme/app.git");
    let req = denied_push_bytes(&repo);
    let measure = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let r = raw_request(&agent.socket, &req).expect("raw denied push");
                assert_eq!(r.code(), 126, "expected a denial: {r:?}");
                ms(t.elapsed())
            })
            .collect()
    };
    measure(50);
    let quiet = stats(&measure(cfg.idle_iters));
    eprintln!("[idle] opening {} idle connections", cfg.idle_connections);
    let idle: Vec<UnixStream> = (0..cfg.idle_connections)
        .filter_map(|_| UnixStream::connect(&agent.socket).ok())
        .collect();
    // Let the agent accept them all before measuring.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let busy = stats(&measure(cfg.idle_iters));
    let opened = idle.len();
    drop(idle);
    sec.rows.push(row(
        format!("denied push over the raw socket with {opened} idle connections open: median vs none open"),
        fmt_ms(busy.median),
        fmt_ms(quiet.median),
        fmt_ratio(busy.median, quiet.median),
        "≤ 2×",
        Verdict::of(busy.median <= 2.0 * quiet.median),
    ));
    sec.rows.push(row(
        "same, p99",
        fmt_ms(busy.p99),
        fmt_ms(quiet.p99),
        fmt_ratio(busy.p99, quiet.p99),
        "(none)",
        Verdict::Info,
    ));
    sec.method = format!(
        "agent = target/release/gitgate-agent, GITGATE_HELLO_TIMEOUT_MS=600000 so the idle connections stay \
         open for the whole run (default GITGATE_MAX_PENDING_PER_PEER=4096 holds them all). Request: Hello for \
         `git push origin main` + StdinEof, read to the final frame (a policy denial, no network). 50 warm-up \
         requests, then {} requests with no idle connection (baseline), then {} connections that never send a \
         Hello, then {} requests again. Median and p99 (nearest rank).",
        quiet.n, opened, busy.n
    );
    sec
}
