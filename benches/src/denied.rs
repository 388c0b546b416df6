//! Figure 2: round trip of a push the policy denies (through the shim, and over a raw socket).

use crate::report::{row, Section, Verdict};
use crate::util::*;
use crate::Config;
use gitgate_e2e::{random_token, Agent};
use std::time::Instant;

pub fn denied_push(cfg: &Config) -> Section {
    let mut sec = Section::new("2. Round trip of a denied push");
    let agent = Agent::builder()
        .token(&random_token())
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("ws", "https://github.com/acme/app.git");
    let shim = || {
        let mut c = agent.cmd("git", &repo);
        c.args(["push", "origin", "main"]);
        c
    };
    let unreachable = || {
        let mut c = agent.cmd("git", &repo);
        c.env("GITGATE_SOCKET", agent.dir.path().join("no-such.sock"))
            .args(["push", "origin", "main"]);
        c
    };
    let req = denied_push_bytes(&repo);
    let raw = || -> f64 {
        let t = Instant::now();
        let r = raw_request(&agent.socket, &req).expect("raw denied push");
        let d = ms(t.elapsed());
        assert_eq!(r.code(), 126, "expected a denial: {r:?}");
        d
    };

    for _ in 0..20 {
        time_run(&mut shim(), 126, "shim push");
        raw();
        time_run(&mut unreachable(), 127, "shim push, no agent");
    }
    eprintln!(
        "[denied] {} shim runs, {} raw requests",
        cfg.iters_denied_shim, cfg.iters_denied_raw
    );
    let (mut s, mut u, mut r) = (Vec::new(), Vec::new(), Vec::new());
    let per = cfg.iters_denied_raw.div_ceil(cfg.iters_denied_shim.max(1));
    for _ in 0..cfg.iters_denied_shim {
        s.push(ms(time_run(&mut shim(), 126, "shim push")));
        u.push(ms(time_run(&mut unreachable(), 127, "shim push, no agent")));
        for _ in 0..per {
            if r.len() < cfg.iters_denied_raw {
                r.push(raw());
            }
        }
    }
    let (ss, su, sr) = (stats(&s), stats(&u), stats(&r));
    sec.rows.push(row(
        "`git push origin main` via shim → agent → exit 126: median",
        fmt_ms(ss.median),
        fmt_ms(sr.median),
        fmt_ratio(ss.median, sr.median),
        "< 2 ms",
        Verdict::of(ss.median < 2.0),
    ));
    sec.rows.push(row(
        "same, p99",
        fmt_ms(ss.p99),
        fmt_ms(sr.p99),
        fmt_ratio(ss.p99, sr.p99),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "raw socket client (Hello → Error 126), agent cost only: median",
        fmt_ms(sr.median),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "raw socket client: p99",
        fmt_ms(sr.p99),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "shim process alone (agent socket absent → exit 127): median",
        fmt_ms(su.median),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.notes.push(format!(
        "decomposition of the shim median: ≈ {} process spawn + shim start + failed connect (the exit-127 run), \
         ≈ {} agent work and socket round trip (raw client); remainder {}",
        fmt_ms(su.median),
        fmt_ms(sr.median),
        fmt_ms(ss.median - su.median - sr.median)
    ));
    sec.method = format!(
        "agent = target/release/gitgate-agent (defaults; ALLOWED_REPOS=[\"acme/*\"]), workspace repo with origin \
         https://github.com/acme/app.git; `main` is blocked by the default policy, so nothing touches the network. \
         Baseline column = the raw socket client (gitgate_proto Hello + StdinEof, read frames to the Error frame, then EOF). \
         20 warm-up rounds; then {} shim runs interleaved with {} raw requests and {} exit-127 runs; median and p99 (nearest rank).",
        ss.n, sr.n, su.n
    );
    sec
}
