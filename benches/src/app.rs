//! Figure 9 (issue 12): what a GitHub App token rotation costs the requests around it. The fake
//! GitHub mints installation tokens that live `LIFETIME`; the agent refreshes at 80 % of that and
//! revokes the superseded token after a tenth of it (requests that still carried it get one 401,
//! one refresh check and one retry). Clients send gh-like round trips (`GET /repos/acme/app/pulls`
//! over the API socket, raw HTTP) the whole time; latencies in the window around each rotation
//! (from 250 ms before the mint to 250 ms after the old token's revocation) are compared with the
//! rest.

use crate::report::{row, Section, Verdict};
use crate::util::*;
use crate::Config;
use gitgate_e2e::{random_token, Agent};
use gitgate_testsupport::github::app::test_keys;
use gitgate_testsupport::github::FakeGitHub;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const LIFETIME: Duration = Duration::from_secs(3);
const CLIENTS: usize = 8;

fn round_trip(socket: &Path) -> bool {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    if s.write_all(
        b"GET /repos/acme/app/pulls HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n",
    )
    .is_err()
    {
        return false;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).is_ok() && out.starts_with(b"HTTP/1.1 200")
}

pub fn app_rotation(cfg: &Config) -> Section {
    let mut sec =
        Section::new("9. GitHub App token rotation: gh-like round trips around a rotation");
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeGitHub::start(&random_token());
    fake.enable_app(7, 70, "acme", &test_keys()[0].public, &["app"]);
    fake.set_app_token_lifetime(LIFETIME);
    let key = dir.path().join("app.pem");
    std::fs::write(&key, &test_keys()[0].private_pem).expect("key file");
    let agent = Agent::builder()
        .env("GITHUB_API_URL", &fake.url())
        .env("GITGATE_ALLOW_HTTP_LOOPBACK", "1")
        .env("ALLOWED_REPOS", r#"["acme/app"]"#)
        .env("GITHUB_APP_ID", "7")
        .env("GITHUB_APP_PRIVATE_KEY_FILE", &key.display().to_string())
        .start();
    let api = agent.socket.parent().expect("socket dir").join("api.sock");
    for _ in 0..50 {
        assert!(round_trip(&api), "warm-up request failed");
    }
    let run_for = Duration::from_secs(cfg.app_secs as u64);
    eprintln!("[app] {} s, {CLIENTS} clients", run_for.as_secs());
    let t0 = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let api = api.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                while t0.elapsed() < run_for {
                    let start = Instant::now();
                    let ok = round_trip(&api);
                    out.push((start, start.elapsed(), ok));
                }
                out
            })
        })
        .collect();
    let samples: Vec<(Instant, Duration, bool)> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect();
    let grace = LIFETIME / 10;
    let margin = Duration::from_millis(250);
    let windows: Vec<(Instant, Instant)> = fake
        .app_tokens()
        .iter()
        .filter(|t| t.issued > t0)
        .map(|t| (t.issued - margin, t.issued + grace + margin))
        .collect();
    let (mut near, mut steady, mut errors) = (vec![], vec![], 0usize);
    for (start, d, ok) in &samples {
        if !ok {
            errors += 1;
        }
        if windows.iter().any(|(a, b)| start >= a && start <= b) {
            near.push(ms(*d));
        } else {
            steady.push(ms(*d));
        }
    }
    let (sn, ss) = (stats(&near), stats(&steady));
    sec.rows.push(row(
        format!(
            "p99 round trip within a rotation window ({} rotations)",
            windows.len()
        ),
        fmt_ms(sn.p99),
        fmt_ms(ss.p99),
        fmt_ratio(sn.p99, ss.p99),
        "≤ 2× steady state",
        if windows.is_empty() || near.is_empty() {
            Verdict::NotMeasured
        } else {
            Verdict::of(sn.p99 <= 2.0 * ss.p99)
        },
    ));
    sec.rows.push(row(
        "median round trip within a rotation window vs steady state",
        fmt_ms(sn.median),
        fmt_ms(ss.median),
        fmt_ratio(sn.median, ss.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        format!("failed requests of {}", samples.len()),
        errors.to_string(),
        "—",
        "—",
        "0",
        Verdict::of(errors == 0),
    ));
    sec.method = format!(
        "Fake GitHub in App mode (JWT verified, installation tokens living {} s); the agent mints at start, \
         refreshes at 80 % of the lifetime and revokes the superseded token {} ms later. {CLIENTS} clients send \
         raw `GET /repos/acme/app/pulls` requests (one connection each, as gh's HTTP over the API socket) for \
         {} s after 50 warm-up requests. Window = 250 ms before a mint to 250 ms after the old token's \
         revocation; steady = every other request ({} vs {} samples).",
        LIFETIME.as_secs(),
        grace.as_millis(),
        run_for.as_secs(),
        sn.n,
        ss.n
    );
    sec
}
