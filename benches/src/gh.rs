//! Figure 6: `gh pr list` through shim + agent to the fake GitHub API vs a direct octocrab call to
//! the same server; agent RSS after many gh calls.

use crate::report::{row, Section, Verdict};
use crate::util::*;
use crate::Config;
use gitgate_e2e::{random_token, Agent};
use gitgate_proto::Tool;
use gitgate_testsupport::github::FakeGitHub;
use std::time::Instant;

fn client(base: &str, token: &str) -> octocrab::Octocrab {
    octocrab::Octocrab::builder()
        .base_uri(base)
        .expect("base uri")
        .personal_token(token.to_owned())
        .build()
        .expect("octocrab client")
}

/// One GET with octocrab's raw interface, body read and parsed as JSON (as the agent does).
async fn direct(oc: &octocrab::Octocrab, uri: &str) -> usize {
    let resp = oc._get(uri).await.expect("octocrab GET");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let body = oc.body_to_string(resp).await.expect("body");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    v.as_array().map(Vec::len).unwrap_or(0)
}

pub fn gh(cfg: &Config) -> Section {
    let mut sec = Section::new("6. gh `pr list` round trip and agent RSS");
    let token = random_token();
    let fake = FakeGitHub::start(&token);
    let agent = Agent::builder()
        .token(&token)
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    let shim = || {
        let mut c = agent.cmd("gh", &repo);
        c.args(["pr", "list"]);
        c
    };
    // What the agent asks the server for one `gh pr list`; the baseline asks for the same.
    let out = run_ok(&mut shim(), "gh pr list");
    assert!(!out.is_empty(), "gh pr list printed nothing");
    fake.clear_requests();
    time_run(&mut shim(), 0, "gh pr list");
    let reqs = fake.requests();
    assert!(!reqs.is_empty(), "gh pr list made no API request");
    let uris: Vec<String> = reqs
        .iter()
        .map(|r| {
            if r.query.is_empty() {
                r.path.clone()
            } else {
                format!("{}?{}", r.path, r.query)
            }
        })
        .collect();
    let base = fake.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let warm = {
        let _guard = rt.enter();
        client(&base, &token)
    };
    let fresh_call = || {
        let t = Instant::now();
        rt.block_on(async {
            let oc = client(&base, &token);
            for u in &uris {
                direct(&oc, &format!("{base}{u}")).await;
            }
        });
        ms(t.elapsed())
    };
    let warm_call = || {
        let t = Instant::now();
        rt.block_on(async {
            for u in &uris {
                direct(&warm, &format!("{base}{u}")).await;
            }
        });
        ms(t.elapsed())
    };
    let req = request_bytes(Tool::Gh, &["pr", "list"], &repo);
    let raw = || {
        let t = Instant::now();
        let f = raw_request(&agent.socket, &req).expect("raw gh");
        assert_eq!(f.code(), 0, "raw gh pr list: {f:?}");
        ms(t.elapsed())
    };
    let mut calls = 2usize;
    for _ in 0..10 {
        time_run(&mut shim(), 0, "gh pr list");
        fresh_call();
        warm_call();
        raw();
        calls += 2;
    }
    eprintln!("[gh] {} rounds", cfg.gh_iters);
    let (mut s, mut f, mut w, mut r) = (vec![], vec![], vec![], vec![]);
    for _ in 0..cfg.gh_iters {
        s.push(ms(time_run(&mut shim(), 0, "gh pr list")));
        f.push(fresh_call());
        w.push(warm_call());
        r.push(raw());
        calls += 2;
    }
    let (ss, sf, sw, sr) = (stats(&s), stats(&f), stats(&w), stats(&r));
    let over = ss.median - sf.median;
    sec.rows.push(row(
        "`gh pr list` via shim → agent → fake API: median",
        fmt_ms(ss.median),
        fmt_ms(sf.median),
        fmt_ratio(ss.median, sf.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "overhead vs direct octocrab call (new client per call, like one gh process)",
        fmt_ms(over),
        "—",
        "—",
        "< 3 ms",
        Verdict::of(over < 3.0),
    ));
    sec.rows.push(row(
        "overhead vs direct octocrab call on a reused client (warm connection)",
        fmt_ms(ss.median - sw.median),
        fmt_ms(sw.median),
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "raw socket gh request (no shim process): median / p99",
        format!("{} / {}", fmt_ms(sr.median), fmt_ms(sr.p99)),
        fmt_ms(sf.median),
        fmt_ratio(sr.median, sf.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "shim p99",
        fmt_ms(ss.p99),
        fmt_ms(sf.p99),
        fmt_ratio(ss.p99, sf.p99),
        "(none)",
        Verdict::Info,
    ));

    // RSS after many gh calls (raw clients for the rest, to reach the count quickly).
    let rss0 = proc_status(agent.pid(), "VmRSS");
    while calls < cfg.gh_total {
        raw();
        calls += 1;
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rss = proc_status(agent.pid(), "VmRSS");
    let hwm = proc_status(agent.pid(), "VmHWM");
    sec.rows.push(row(
        format!("agent VmRSS after {calls} gh calls"),
        fmt_kb(rss),
        fmt_kb(rss0),
        match (rss, rss0) {
            (Some(a), Some(b)) => fmt_ratio(a as f64, b as f64),
            _ => "—".into(),
        },
        "≤ 30 MB",
        match rss {
            Some(k) => Verdict::of(k <= 30 * 1024),
            None => Verdict::NotMeasured,
        },
    ));
    sec.rows.push(row(
        "agent VmHWM (peak RSS)",
        fmt_kb(hwm),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.method = format!(
        "fake GitHub = gitgate_testsupport::github::FakeGitHub on 127.0.0.1 (axum); agent with GITHUB_API_URL=<fake>, \
         GITGATE_ALLOW_HTTP_LOOPBACK=1, ALLOWED_REPOS=[\"acme/*\"], workspace origin https://github.com/acme/app.git. \
         One `gh pr list` makes {} API request(s) ({}); the baseline makes the same GET(s) with octocrab `_get` and parses the \
         JSON, on a current-thread tokio runtime, building the client per call (primary) or reusing one (warm). \
         10 warm-up rounds, then {} rounds of shim / fresh / warm / raw socket, interleaved; median and p99. MB = MiB. \
         Baseline of the RSS row = VmRSS after the timed rounds; the remaining calls up to {} are raw socket gh requests.",
        uris.len(),
        uris.join(", "),
        ss.n,
        cfg.gh_total
    );
    sec
}
