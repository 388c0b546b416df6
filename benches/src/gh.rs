//! Figure 6: the real `gh pr list` through the shim and the agent's API gateway to the fake GitHub
//! API, vs the same gh talking straight to the fake over its own Unix socket; agent RSS after many
//! gh calls.

use crate::report::{row, Section, Verdict};
use crate::util::*;
use crate::Config;
use gitgate_e2e::{random_token, Agent};
use gitgate_testsupport::github::FakeGitHub;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

const REAL_GH: &str = "/usr/bin/gh";

/// One raw HTTP request over a Unix socket (the API socket, or the fake's own with `auth`): no gh
/// process per call, so the gateway's own latency shows without process-start noise. `body`:
/// a POST to /graphql with it (gh's own GraphQL document), else `GET /repos/acme/app/pulls`.
fn raw_api(socket: &Path, auth: Option<&str>, body: Option<&str>) {
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("api socket");
    let auth = auth
        .map(|t| format!("Authorization: token {t}\r\n"))
        .unwrap_or_default();
    let req = match body {
        Some(b) => format!(
            "POST /graphql HTTP/1.1\r\nHost: api.github.com\r\n{auth}Content-Type: application/json; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        ),
        None => format!(
            "GET /repos/acme/app/pulls HTTP/1.1\r\nHost: api.github.com\r\n{auth}Connection: close\r\n\r\n"
        ),
    };
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    assert!(out.starts_with(b"HTTP/1.1 200"), "raw API request failed");
    if body.is_some() {
        assert!(
            String::from_utf8_lossy(&out).contains("\"pullRequests\""),
            "raw GraphQL request failed"
        );
    }
}

pub fn gh(cfg: &Config) -> Section {
    let mut sec = Section::new("6. gh `pr list` round trip and agent RSS");
    if !Path::new(REAL_GH).exists() {
        sec.method = format!("{REAL_GH} is not installed: not measured");
        return sec;
    }
    let token = random_token();
    let dir = tempfile::tempdir().expect("tempdir");
    let fake_sock = dir.path().join("fake.sock");
    let fake = FakeGitHub::start_with_unix(&token, &fake_sock);
    let agent = Agent::builder()
        .token(&token)
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/*"]"#)
        .start();
    let repo = agent.workspace_repo("app", "https://github.com/acme/app.git");
    let api_sock = agent.socket.parent().expect("socket dir").join("api.sock");
    let tmp = dir.path().to_owned();
    let via_gateway = || {
        let mut c = agent.cmd("gh", &repo);
        c.env("GITGATE_GH_CONFIG_DIR", tmp.join("gh-gateway"))
            .env("TMPDIR", &tmp)
            .args(["pr", "list"]);
        c
    };
    let direct_cfg = tmp.join("gh-direct");
    std::fs::create_dir_all(&direct_cfg).expect("config dir");
    std::fs::write(
        direct_cfg.join("config.yml"),
        format!("http_unix_socket: {}\n", fake_sock.display()),
    )
    .expect("config");
    let direct = || {
        let mut c = Command::new(REAL_GH);
        clean_env(&mut c)
            .current_dir(&repo)
            .env("GH_CONFIG_DIR", &direct_cfg)
            .env("GH_TOKEN", &token)
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("TMPDIR", &tmp)
            .args(["pr", "list"]);
        c
    };
    // The same gh against the gateway without the gh shim (the AI image's setup: the environment
    // the shim sets, given directly), once with the git shim on PATH (native mode: gh's own
    // `git remote -v` and `git config` run through it) and once with the real git only.
    let gateway_cfg = tmp.join("gh-gateway");
    let no_shim = |path: &str| {
        let mut c = Command::new(REAL_GH);
        clean_env(&mut c)
            .current_dir(&repo)
            .env("PATH", path)
            .env("GITGATE_SOCKET", &agent.socket)
            .env("GH_CONFIG_DIR", &gateway_cfg)
            .env("GH_TOKEN", "gitgate-placeholder-not-a-token")
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("TMPDIR", &tmp)
            .args(["pr", "list"]);
        c
    };
    let shim_path = format!("{}:/usr/bin:/bin", agent.bin.display());
    let a = run_ok(&mut via_gateway(), "gh pr list via the gateway");
    assert_eq!(
        run_ok(
            &mut no_shim(&shim_path),
            "gh pr list via the gateway, no gh shim"
        ),
        a
    );
    assert_eq!(
        run_ok(
            &mut no_shim("/usr/bin:/bin"),
            "gh pr list via the gateway, real git"
        ),
        a
    );
    let b = run_ok(&mut direct(), "gh pr list straight to the fake");
    assert_eq!(a, b, "gh prints the same through the gateway");
    let mut calls = 1usize;
    for _ in 0..5 {
        time_run(&mut via_gateway(), 0, "gh pr list");
        time_run(&mut direct(), 0, "gh pr list (direct)");
        calls += 1;
    }
    eprintln!("[gh] {} rounds", cfg.gh_iters);
    let (mut g, mut d, mut ns, mut nr) = (vec![], vec![], vec![], vec![]);
    for _ in 0..cfg.gh_iters {
        g.push(ms(time_run(&mut via_gateway(), 0, "gh pr list")));
        d.push(ms(time_run(&mut direct(), 0, "gh pr list (direct)")));
        ns.push(ms(time_run(
            &mut no_shim(&shim_path),
            0,
            "gh pr list (no gh shim)",
        )));
        nr.push(ms(time_run(
            &mut no_shim("/usr/bin:/bin"),
            0,
            "gh pr list (real git)",
        )));
        calls += 3;
    }
    let (sg, sd) = (stats(&g), stats(&d));
    // Differences are paired: the median of the per-round differences (each round runs every
    // variant back to back), which cancels the machine's slow drifts better than a difference
    // of two medians.
    let paired = |a: &[f64], b: &[f64]| {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        stats(&d).median
    };
    let over = paired(&g, &d);
    sec.rows.push(row(
        "`gh pr list`: shim → gateway → fake API vs gh → fake's own Unix socket: median",
        fmt_ms(sg.median),
        fmt_ms(sd.median),
        fmt_ratio(sg.median, sd.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "gateway overhead (median difference)",
        fmt_ms(over),
        "—",
        "—",
        "< 2 ms",
        Verdict::of(over < 2.0),
    ));
    sec.rows.push(row(
        "where it goes: the gh shim (its exec, and gh's own git calls as it sets them up: the real git with the overlay) — via the shim − gh with the real git given the shim's environment",
        fmt_ms(paired(&g, &nr)),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "what the gh shim avoids: gh's 2 local git calls through the git shim (gh given the shim's environment with the git shim first on PATH − with the real git)",
        fmt_ms(paired(&ns, &nr)),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "where it goes: the gateway (gh with the real git: via the gateway − straight to the fake)",
        fmt_ms(paired(&nr, &d)),
        "—",
        "—",
        "< 2 ms",
        Verdict::of(paired(&nr, &d) < 2.0),
    ));
    sec.rows.push(row(
        "p99",
        fmt_ms(sg.p99),
        fmt_ms(sd.p99),
        fmt_ratio(sg.p99, sd.p99),
        "(none)",
        Verdict::Info,
    ));
    let rss0 = proc_status(agent.pid(), "VmRSS");
    // The gateway alone: one HTTP request each way, interleaved.
    // Ten times the gh rounds: a request costs well under a millisecond, and the per-request
    // difference is a fraction of one, so it needs the larger sample.
    // gh's own `pr list` request, as the fake received it.
    let pr_list = fake
        .requests()
        .iter()
        .rev()
        .find(|r| r.operation.as_deref() == Some("PullRequestList"))
        .map(|r| r.body.clone())
        .expect("gh sent PullRequestList");
    let (mut rg, mut rd, mut qg, mut qd) = (vec![], vec![], vec![], vec![]);
    for _ in 0..cfg.gh_iters * 10 {
        let t = std::time::Instant::now();
        raw_api(&api_sock, None, None);
        rg.push(ms(t.elapsed()));
        let t = std::time::Instant::now();
        raw_api(&fake_sock, Some(&token), None);
        rd.push(ms(t.elapsed()));
        let t = std::time::Instant::now();
        raw_api(&api_sock, None, Some(&pr_list));
        qg.push(ms(t.elapsed()));
        let t = std::time::Instant::now();
        raw_api(&fake_sock, Some(&token), Some(&pr_list));
        qd.push(ms(t.elapsed()));
        calls += 2;
    }
    let (srg, srd) = (stats(&rg), stats(&rd));
    sec.rows.push(row(
        "one HTTP request (GET /repos/acme/app/pulls): via the gateway vs the fake's socket, median",
        fmt_ms(srg.median),
        fmt_ms(srd.median),
        fmt_ratio(srg.median, srd.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "gateway latency per request (median difference, no process start)",
        fmt_ms(paired(&rg, &rd)),
        "—",
        "—",
        "< 2 ms",
        Verdict::of(paired(&rg, &rd) < 2.0),
    ));
    let (sqg, sqd) = (stats(&qg), stats(&qd));
    sec.rows.push(row(
        "one GraphQL request (gh's own `pr list` PullRequestList, as gh sent it): via the gateway vs the fake's socket, median",
        fmt_ms(sqg.median),
        fmt_ms(sqd.median),
        fmt_ratio(sqg.median, sqd.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "gateway latency per GraphQL request (median difference, no process start)",
        fmt_ms(paired(&qg, &qd)),
        "—",
        "—",
        "< 2 ms",
        Verdict::of(paired(&qg, &qd) < 2.0),
    ));
    while calls < cfg.gh_total {
        raw_api(&api_sock, None, None);
        calls += 1;
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rss = proc_status(agent.pid(), "VmRSS");
    let hwm = proc_status(agent.pid(), "VmHWM");
    sec.rows.push(row(
        format!("agent VmRSS after {calls} gh API calls"),
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
        "Debian's gh 2.23 ({REAL_GH}) both ways, same workspace (origin https://github.com/acme/app.git). \
         Through gitgate: the shim execs gh with http_unix_socket = the agent's API socket; the gateway checks \
         the GraphQL request, adds the token and forwards to the fake GitHub (axum, 127.0.0.1). Baseline: gh with \
         http_unix_socket = the fake's own Unix socket and GH_TOKEN = the token. Outputs compared byte for byte. \
         5 warm-up rounds, then {} interleaved rounds; median and p99. Breakdown (same rounds, interleaved): \
         median of the per-round (paired) differences; the same /usr/bin/gh given the environment the shim sets (GH_CONFIG_DIR, placeholder GH_TOKEN), with \
         the git shim first on PATH (what gh would run without the shim's own git setup) and with only the real git \
         (as the shim sets it up, and as in the AI image). The end-to-end difference includes the \
         shim's own exec (about 1 ms) and process-start noise of two gh processes on a shared machine; the \
         \"one HTTP request\" and \"one GraphQL request\" rows time the gateway alone ({} raw requests of each kind each way, interleaved and paired, \
         Connection: close). The RSS row counts the gh calls above plus \
         raw `GET /repos/acme/app/pulls` requests on the API socket, at least {}; baseline = VmRSS after the timed rounds.",
        sg.n, srg.n, cfg.gh_total
    );
    sec
}
