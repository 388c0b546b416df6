//! Figure 7: load. (a) Many concurrent real git clients (`git ls-remote`) through the v3
//! transport vs the same git straight to the same server; (b) many concurrent raw protocol
//! clients (hook refusals, agent-status, transport ls-refs) that must each get exactly one final
//! frame; (c) clients that vanish mid-operation (mid-Hello, mid-pack of a push, mid-fetch), after
//! which the agent's fds, threads and spool files must come back to where they were.

use crate::report::{row, Section, Verdict};
use crate::transfer::Net;
use crate::util::*;
use crate::Config;
use gitgate_proto::Tool;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    DeniedPush,
    Status,
    Fetch,
}

/// The request mix, by request index: 2% no-op fetches (spread over the repos), 10% agent-status,
/// the rest denied pushes.
fn kind_of(j: usize) -> Kind {
    if j % 50 == 7 {
        Kind::Fetch
    } else if j % 10 == 3 {
        Kind::Status
    } else {
        Kind::DeniedPush
    }
}

struct Snapshot {
    rss_kb: Option<u64>,
    hwm_kb: Option<u64>,
    fds: usize,
    threads: Option<u64>,
    /// Files under <state>/spool (pushed packs being checked).
    spooled: usize,
}

fn snapshot(pid: u32, spool: &std::path::Path) -> Snapshot {
    Snapshot {
        rss_kb: proc_status(pid, "VmRSS"),
        hwm_kb: proc_status(pid, "VmHWM"),
        fds: fd_count(pid),
        threads: proc_status(pid, "Threads"),
        spooled: dir_entries(spool),
    }
}

type Reqs = (Arc<Vec<u8>>, Arc<Vec<u8>>, Arc<Vec<Vec<u8>>>);

/// Server repos `acme/load<k>`, each cloned through gitgate, and the encoded requests of the mix.
fn setup(cfg: &Config, net: &Net) -> (Vec<PathBuf>, Reqs) {
    let mut ws = Vec::new();
    for k in 0..cfg.load_repos.max(1) {
        let name = format!("load{k}");
        net.bare(&name);
        run_ok(
            net.gitgate_git(net.scratch.path())
                .args(["clone", "-q", &net.url(&name), &name]),
            "clone through gitgate",
        );
        ws.push(net.scratch.path().join(&name));
    }
    let push_req = Arc::new(denied_push_bytes(&ws[0]));
    let status_req = Arc::new(request_bytes(Tool::AgentStatus, &[], &ws[0]));
    let fetch_reqs: Arc<Vec<Vec<u8>>> = Arc::new(ws.iter().map(|w| ls_refs_bytes(w)).collect());
    // Warm-up: every kind a few times.
    for j in 0..200 {
        let req = match kind_of(j) {
            Kind::DeniedPush => &push_req[..],
            Kind::Status => &status_req[..],
            Kind::Fetch => &fetch_reqs[j % ws.len()][..],
        };
        raw_request(&net.agent.socket, req).expect("warm-up request");
    }
    (ws, (push_req, status_req, fetch_reqs))
}

struct LoadOut {
    lat: Vec<(Kind, f64)>,
    errs: Vec<String>,
    lost: usize,
    wrong: usize,
    wall: Duration,
}

fn run_clients(cfg: &Config, socket: &std::path::Path, reqs: &Reqs) -> LoadOut {
    let clients = cfg.load_clients;
    let per = cfg.load_requests;
    eprintln!("[load] {clients} clients × {per} requests");
    let barrier = Arc::new(Barrier::new(clients + 1));
    type Res = (Vec<(Kind, f64)>, Vec<String>, usize, usize);
    let mut handles = Vec::new();
    for c in 0..clients {
        let (barrier, socket) = (barrier.clone(), socket.to_path_buf());
        let (push_req, status_req, fetch_reqs) = (reqs.0.clone(), reqs.1.clone(), reqs.2.clone());
        handles.push(std::thread::spawn(move || -> Res {
            let mut lat = Vec::with_capacity(per);
            let mut errs = Vec::new();
            let (mut lost, mut wrong) = (0, 0);
            barrier.wait();
            for i in 0..per {
                let j = c * per + i;
                let kind = kind_of(j);
                let (req, want) = match kind {
                    Kind::DeniedPush => (&push_req[..], 126),
                    Kind::Status => (&status_req[..], 0),
                    Kind::Fetch => (&fetch_reqs[(j / 50) % fetch_reqs.len()][..], 0),
                };
                let t = Instant::now();
                match raw_request(&socket, req) {
                    Ok(f) if f.code() == want => lat.push((kind, ms(t.elapsed()))),
                    Ok(f) => {
                        wrong += 1;
                        errs.push(format!("{kind:?}: unexpected {f:?}"));
                    }
                    Err(e) => {
                        if matches!(e, RawFail::Lost(_) | RawFail::Extra) {
                            lost += 1;
                        } else {
                            wrong += 1;
                        }
                        errs.push(format!("{kind:?}: {e}"));
                    }
                }
            }
            (lat, errs, lost, wrong)
        }));
    }
    barrier.wait();
    let t0 = Instant::now();
    let mut out = LoadOut {
        lat: Vec::new(),
        errs: Vec::new(),
        lost: 0,
        wrong: 0,
        wall: Duration::ZERO,
    };
    for h in handles {
        let (l, e, lo, w) = h.join().expect("client thread");
        out.lat.extend(l);
        out.errs.extend(e);
        out.lost += lo;
        out.wrong += w;
    }
    out.wall = t0.elapsed();
    out
}

pub fn load(cfg: &Config) -> Section {
    let mut sec = Section::new("7. Load: concurrent clients, vanished clients");
    let net = Net::start(&[]);
    let pid = net.agent.pid();
    let spool = net.agent.state.join("spool");
    let repos = cfg.load_repos.max(1);
    let (ws, reqs) = setup(cfg, &net);
    git_clients(cfg, &net, &mut sec);
    let status_req = reqs.1.clone();
    let socket = net.agent.socket.clone();
    std::thread::sleep(Duration::from_millis(500));
    let before = snapshot(pid, &spool);
    let clients = cfg.load_clients;
    let per = cfg.load_requests;
    let LoadOut {
        lat,
        errs,
        lost,
        wrong,
        wall,
    } = run_clients(cfg, &socket, &reqs);
    let after = snapshot(pid, &spool);
    let total = clients * per;
    let all: Vec<f64> = lat.iter().map(|x| x.1).collect();
    let sa = stats(&all);
    let mut counts: BTreeMap<Kind, Vec<f64>> = BTreeMap::new();
    for (k, v) in &lat {
        counts.entry(*k).or_default().push(*v);
    }
    let mix: Vec<String> = [Kind::DeniedPush, Kind::Status, Kind::Fetch]
        .iter()
        .map(|k| {
            let n = (0..total).filter(|&j| kind_of(j) == *k).count();
            format!("{k:?} {n} ({:.0}%)", 100.0 * n as f64 / total as f64)
        })
        .collect();

    sec.rows.push(row(
        format!("{clients} clients × {per} requests: errors (wrong or missing final frame/code)"),
        format!("{}", wrong + lost),
        "—",
        "—",
        "0",
        Verdict::of(wrong + lost == 0),
    ));
    sec.rows.push(row(
        "lost responses (no final Exit/Error, or a frame after it)",
        format!("{lost}"),
        "—",
        "—",
        "0",
        Verdict::of(lost == 0),
    ));
    sec.rows.push(row(
        "latency, all requests: p50 / p99",
        format!("{} / {}", fmt_ms(sa.median), fmt_ms(sa.p99)),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    for (k, v) in &counts {
        let s = stats(v);
        sec.rows.push(row(
            format!("latency, {k:?} ({} ok): p50 / p99", s.n),
            format!("{} / {}", fmt_ms(s.median), fmt_ms(s.p99)),
            "—",
            "—",
            "(none)",
            Verdict::Info,
        ));
    }
    sec.rows.push(row(
        "throughput",
        format!("{:.0} req/s", total as f64 / wall.as_secs_f64()),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "agent VmRSS before → after the load",
        format!("{} → {}", fmt_kb(before.rss_kb), fmt_kb(after.rss_kb)),
        fmt_kb(before.rss_kb),
        match (after.rss_kb, before.rss_kb) {
            (Some(a), Some(b)) => fmt_ratio(a as f64, b as f64),
            _ => "—".into(),
        },
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "agent VmHWM (peak RSS) after the load",
        fmt_kb(after.hwm_kb),
        fmt_kb(before.hwm_kb),
        "—",
        "(none)",
        Verdict::Info,
    ));
    let mut distinct: Vec<String> = errs.clone();
    distinct.sort();
    distinct.dedup();
    for e in distinct.iter().take(5) {
        sec.notes.push(format!(
            "error seen ({}×): {}",
            errs.iter().filter(|x| *x == e).count(),
            e.replace('|', "\\|")
        ));
    }

    // ---- vanished clients ----
    let before_tcp = fd_kinds(pid).1;
    let before_kinds = {
        let k = fd_kinds(pid);
        format!(
            "{} files, {} TCP (pooled connections to the server), {} Unix sockets, {} other",
            k.0, k.1, k.2, k.3
        )
    };
    let dc = disconnects(cfg, &net, &ws);
    let settle_start = Instant::now();
    let mut settled = snapshot(pid, &spool);
    let base_threads = before.threads.unwrap_or(0);
    for _ in 0..150 {
        settled = snapshot(pid, &spool);
        if settled.fds.saturating_sub(fd_kinds(pid).1) <= before.fds - before_tcp
            && settled.spooled <= before.spooled
            && settled.threads.unwrap_or(0) <= base_threads
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let settle = settle_start.elapsed();
    let kinds = |k: (usize, usize, usize, usize, Vec<String>)| {
        format!(
            "{} files{}, {} TCP (pooled connections to the server), {} Unix sockets, {} other",
            k.0,
            if k.4.is_empty() {
                String::new()
            } else {
                format!(" ({})", k.4.join(", "))
            },
            k.1,
            k.2,
            k.3
        )
    };
    sec.notes.push(format!(
        "agent fds before the vanished clients: {}; settled: {}",
        before_kinds.clone(),
        kinds(fd_kinds(pid))
    ));
    let (tcp_before, tcp_after) = (before_tcp, fd_kinds(pid).1);
    let (nb, ns) = (
        before.fds - tcp_before,
        settled.fds.saturating_sub(tcp_after),
    );
    sec.rows.push(row(
        format!(
            "{} vanished clients: agent fds before → right after → settled (all)",
            cfg.disconnect_clients
        ),
        format!("{} → {} → {}", before.fds, dc.fds, settled.fds),
        format!("{}", before.fds),
        "—",
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "agent fds other than idle keep-alive connections to the server: before → settled",
        format!("{nb} → {ns}"),
        format!("{nb}"),
        "—",
        "settled ≤ before",
        Verdict::of(ns <= nb),
    ));
    sec.rows.push(row(
        "idle keep-alive connections to the server: before → settled",
        format!("{tcp_before} → {tcp_after}"),
        "—",
        "—",
        "≤ 8 (the pool's bound)",
        Verdict::of(tcp_after <= 8),
    ));
    sec.rows.push(row(
        "agent threads before → right after → settled",
        format!(
            "{} → {} → {}",
            base_threads,
            dc.threads.unwrap_or(0),
            settled.threads.unwrap_or(0)
        ),
        format!("{base_threads}"),
        "—",
        "settled ≤ before",
        Verdict::of(settled.threads.unwrap_or(0) <= base_threads),
    ));
    sec.rows.push(row(
        "files under <state>/spool before → right after → settled",
        format!("{} → {} → {}", before.spooled, dc.spooled, settled.spooled),
        format!("{}", before.spooled),
        "—",
        "settled ≤ before",
        Verdict::of(settled.spooled <= before.spooled),
    ));
    sec.rows.push(row(
        "agent VmRSS after the vanished clients (settled)",
        fmt_kb(settled.rss_kb),
        fmt_kb(before.rss_kb),
        match (settled.rss_kb, before.rss_kb) {
            (Some(a), Some(b)) => fmt_ratio(a as f64, b as f64),
            _ => "—".into(),
        },
        "(none)",
        Verdict::Info,
    ));
    // The same load against an agent whose per-peer limit is above the client count: separates
    // refusals by GITGATE_MAX_PER_PEER from any other failure.
    {
        let limit = (clients * 2).to_string();
        let net2 = Net::start(&[("GITGATE_MAX_PER_PEER", &limit)]);
        let (_ws2, reqs2) = setup(cfg, &net2);
        let o = run_clients(cfg, &net2.agent.socket, &reqs2);
        let all: Vec<f64> = o.lat.iter().map(|x| x.1).collect();
        let s2 = stats(&all);
        sec.rows.push(row(
            format!("same load, agent with GITGATE_MAX_PER_PEER={limit}: errors / lost"),
            format!("{} / {}", o.wrong + o.lost, o.lost),
            "—",
            "—",
            "0 / 0",
            Verdict::of(o.wrong + o.lost == 0),
        ));
        sec.rows.push(row(
            format!("same load, GITGATE_MAX_PER_PEER={limit}: latency p50 / p99, throughput"),
            format!(
                "{} / {}, {:.0} req/s",
                fmt_ms(s2.median),
                fmt_ms(s2.p99),
                (clients * per) as f64 / o.wall.as_secs_f64()
            ),
            "—",
            "—",
            "(none)",
            Verdict::Info,
        ));
        let mut d = o.errs.clone();
        d.sort();
        d.dedup();
        for e in d.iter().take(3) {
            sec.notes.push(format!(
                "error seen with GITGATE_MAX_PER_PEER={limit} ({}×): {}",
                o.errs.iter().filter(|x| *x == e).count(),
                e.replace('|', "\\|")
            ));
        }
    }
    let mut alive = true;
    if !matches!(
        raw_request(&socket, &status_req),
        Ok(super::util::Final::Exit(0))
    ) {
        alive = false;
    }
    sec.rows.push(row(
        "agent answers agent-status after all of it",
        if alive { "yes" } else { "no" },
        "—",
        "—",
        "yes",
        Verdict::of(alive),
    ));
    sec.notes.push(format!(
        "raw request mix: {}; fetches rotate over {repos} repos (each the advertisement and one ls-refs POST to the server). \
         Wall time {:.2} s.",
        mix.join(", "),
        wall.as_secs_f64()
    ));
    sec.notes.push(format!(
        "vanished clients: {} total, {} at a time, five kinds in rotation: connect and close; half a Hello then close; \
         an allowed push (transport receive-pack, a new branch each) of a {} MB commit whose client leaves after 0–{} ms, \
         some in the middle of the pack; a transport fetch (ls-refs) closed after 0–9 ms; a hook request without DataEof, \
         closed without reading. Settled = polled every 200 ms until fds, threads and spool files are back at or under the \
         before values (gave up after 30 s); took {:.1} s. Pushes that completed (Exit 0) before their client left: {}.",
        cfg.disconnect_clients,
        dc.concurrency,
        dc.push_mb,
        dc.max_delay_ms,
        settle.as_secs_f64(),
        dc.completed_pushes
    ));
    sec.method = format!(
        "(a) real git: see the rows' method note. (b) raw socket clients (gitgate_proto Hello + Data + DataEof, read to the final \
         frame, then expect EOF) in {clients} threads, {per} sequential requests each, all started together; every request must \
         get exactly one final frame with the expected code (hook refusal of a push to main → Error 126, agent-status → Exit 0, \
         transport ls-refs → Exit 0). Latency per request from connect to EOF; p50/p99 nearest rank. Agent defaults \
         (GITGATE_MAX_PER_PEER=64, GITGATE_MAX_CONNECTIONS=512). /proc/<pid>/status VmRSS/VmHWM/Threads and /proc/<pid>/fd \
         read by the bench; before = after 200 warm-up requests. Server: {}.",
        net.server.describe()
    );
    sec
}

struct Dc {
    fds: usize,
    threads: Option<u64>,
    spooled: usize,
    concurrency: usize,
    push_mb: usize,
    max_delay_ms: u64,
    completed_pushes: usize,
}

fn disconnects(cfg: &Config, net: &Net, ws: &[PathBuf]) -> Dc {
    let pid = net.agent.pid();
    let spool = net.agent.state.join("spool");
    // A workspace with a medium commit on a pushable branch.
    let w = &ws[ws.len() - 1];
    let push_mb = cfg.disconnect_push_mb;
    run_ok(
        real_git(w).args(["checkout", "-q", "-b", "bench/dc"]),
        "checkout",
    );
    std::fs::write(w.join("dc.bin"), random_bytes(push_mb * 1024 * 1024, 42)).unwrap();
    run_ok(real_git(w).args(["add", "dc.bin"]), "add");
    run_ok(real_git(w).args(["commit", "-q", "-m", "dc"]), "commit");
    let base = run_ok(real_git(w).args(["rev-parse", "HEAD~1"]), "rev-parse");
    let new = run_ok(real_git(w).args(["rev-parse", "HEAD"]), "rev-parse");
    let pack = Arc::new(pack_of(w, &format!("{new}\n^{base}\n")));
    let url = run_ok(
        real_git(w).args(["config", "remote.origin.url"]),
        "origin url",
    );
    let n = cfg.disconnect_clients;
    let concurrency = 40.min(n.max(1));
    let max_delay_ms = 40u64;
    let socket = net.agent.socket.clone();
    let next = Arc::new(Mutex::new(0usize));
    let completed = Arc::new(Mutex::new(0usize));
    let mut hs = Vec::new();
    eprintln!("[load] {n} vanishing clients");
    for _ in 0..concurrency {
        let (next, completed, socket) = (next.clone(), completed.clone(), socket.clone());
        let w0 = ws[0].clone();
        let (pack, url, new) = (pack.clone(), url.clone(), new.clone());
        hs.push(std::thread::spawn(move || {
            for _ in 0..n {
                let i = {
                    let mut g = next.lock().unwrap();
                    if *g >= n {
                        break;
                    }
                    *g += 1;
                    *g - 1
                };
                let Ok(mut s) = UnixStream::connect(&socket) else {
                    continue;
                };
                s.set_read_timeout(Some(Duration::from_millis(200))).ok();
                match i % 5 {
                    0 => {}
                    1 => {
                        let b = denied_push_bytes(&w0);
                        let _ = s.write_all(&b[..b.len() / 2]);
                    }
                    2 => {
                        let req =
                            push_bytes(&url, &new, &format!("refs/heads/bench/dc-{i}"), &pack);
                        // Every other one leaves in the middle of the pack.
                        let cut = if (i / 5) % 2 == 0 {
                            req.len()
                        } else {
                            req.len() / 2
                        };
                        let _ = s.write_all(&req[..cut]);
                        std::thread::sleep(Duration::from_millis(i as u64 % (max_delay_ms + 1)));
                        // Did it finish before we leave? (non-blocking peek at whatever arrived)
                        s.set_nonblocking(true).ok();
                        let mut buf = [0u8; 65536];
                        let mut got = Vec::new();
                        for _ in 0..64 {
                            match std::io::Read::read(&mut s, &mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(k) => got.extend_from_slice(&buf[..k]),
                            }
                        }
                        let mut cur = &got[..];
                        while let Ok(Some(f)) = gitgate_proto::read_frame(&mut cur) {
                            if matches!(f, gitgate_proto::Frame::Exit(ref e) if e.code == 0) {
                                *completed.lock().unwrap() += 1;
                            }
                        }
                    }
                    3 => {
                        let _ = s.write_all(&ls_refs_bytes(&w0));
                        std::thread::sleep(Duration::from_millis(i as u64 % 10));
                    }
                    _ => {
                        let b = denied_push_bytes(&w0);
                        // Hello only (no StdinEof).
                        let hello_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize + 4;
                        let _ = s.write_all(&b[..hello_len]);
                    }
                }
                drop(s);
            }
        }));
    }
    for h in hs {
        let _ = h.join();
    }
    let done = snapshot(pid, &spool);
    let c = *completed.lock().unwrap();
    Dc {
        fds: done.fds,
        threads: done.threads,
        spooled: done.spooled,
        concurrency,
        push_mb,
        max_delay_ms,
        completed_pushes: c,
    }
}

/// `git pack-objects --revs --stdout` of `revs` in `repo` (what git sends for a push).
fn pack_of(repo: &std::path::Path, revs: &str) -> Vec<u8> {
    let mut c = real_git(repo);
    c.args(["pack-objects", "--revs", "--stdout", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("pack-objects");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(revs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pack-objects failed");
    out.stdout
}

fn pkt(line: &[u8]) -> Vec<u8> {
    let mut v = format!("{:04x}", line.len() + 4).into_bytes();
    v.extend_from_slice(line);
    v
}

/// A whole push as git's remote helper sends it over the transport: Hello, the command (create
/// `name` at `new`, report-status), the pack, DataEof.
fn push_bytes(url: &str, new: &str, name: &str, pack: &[u8]) -> Vec<u8> {
    use gitgate_proto::{Frame, Hello};
    let z = "0".repeat(40);
    let hello = Hello::transport("git-receive-pack", url, "");
    let mut b = Frame::Hello(hello).encode();
    let mut data =
        pkt(format!("{z} {new} {name}\0report-status side-band-64k agent=git/2\n").as_bytes());
    data.extend_from_slice(b"0000");
    data.extend_from_slice(pack);
    for part in data.chunks(gitgate_proto::CHUNK) {
        b.extend_from_slice(&Frame::Data(part.to_vec()).encode());
    }
    b.extend_from_slice(&Frame::DataEof.encode());
    b
}

/// (a) `load_clients` threads each running `git ls-remote <url>` `git_rounds` times, all started
/// together: once through gitgate, once straight to the server; wall time and per-command latency.
fn git_clients(cfg: &Config, net: &Net, sec: &mut Section) {
    let clients = cfg.load_git_clients.max(1);
    let rounds = cfg.load_git_rounds.max(1);
    let url = net.url("load0");
    let run_side = |gitgate: bool| -> (Duration, Vec<f64>, usize) {
        let barrier = Arc::new(Barrier::new(clients + 1));
        let mut hs = Vec::new();
        for _ in 0..clients {
            let barrier = barrier.clone();
            let mut cmds: Vec<std::process::Command> = (0..rounds)
                .map(|_| {
                    let mut c = if gitgate {
                        net.gitgate_git(net.scratch.path())
                    } else {
                        net.direct_git(net.scratch.path())
                    };
                    c.args(["ls-remote", &url])
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null());
                    c
                })
                .collect();
            hs.push(std::thread::spawn(move || {
                barrier.wait();
                let mut lat = Vec::new();
                let mut fails = 0;
                for c in cmds.iter_mut() {
                    let t = Instant::now();
                    match c.status() {
                        Ok(st) if st.success() => lat.push(ms(t.elapsed())),
                        _ => fails += 1,
                    }
                }
                (lat, fails)
            }));
        }
        barrier.wait();
        let t0 = Instant::now();
        let mut lat = Vec::new();
        let mut fails = 0;
        for h in hs {
            let (l, f) = h.join().expect("git client thread");
            lat.extend(l);
            fails += f;
        }
        (t0.elapsed(), lat, fails)
    };
    eprintln!("[load] {clients} git clients × {rounds} ls-remote, gitgate then direct, twice");
    // Two rounds each, alternating which side goes first; the better wall time of each side.
    let (mut gw, mut gl, mut gf) = (Duration::MAX, Vec::new(), 0);
    let (mut dw, mut dl, mut df) = (Duration::MAX, Vec::new(), 0);
    for round in 0..2 {
        for gitgate in if round == 0 {
            [true, false]
        } else {
            [false, true]
        } {
            let (w, l, f) = run_side(gitgate);
            if gitgate {
                gw = gw.min(w);
                gl.extend(l);
                gf += f;
            } else {
                dw = dw.min(w);
                dl.extend(l);
                df += f;
            }
        }
    }
    let total = (clients * rounds) as f64;
    let (g, d) = (stats(&gl), stats(&dl));
    sec.rows.push(row(
        format!("{clients} concurrent git clients × {rounds} `git ls-remote`: wall time, gitgate vs direct git"),
        fmt_ms(ms(gw)),
        fmt_ms(ms(dw)),
        fmt_ratio(ms(gw), ms(dw)),
        "≤ 1.10×",
        Verdict::of(ms(gw) / ms(dw) <= 1.10),
    ));
    sec.rows.push(row(
        "same: throughput",
        format!("{:.0} cmd/s", total / gw.as_secs_f64()),
        format!("{:.0} cmd/s", total / dw.as_secs_f64()),
        fmt_ratio(total / gw.as_secs_f64(), total / dw.as_secs_f64()),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "same: latency per command p50 / p99",
        format!("{} / {}", fmt_ms(g.median), fmt_ms(g.p99)),
        format!("{} / {}", fmt_ms(d.median), fmt_ms(d.p99)),
        fmt_ratio(g.p99, d.p99),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "same: failed git commands (gitgate / direct)",
        format!("{gf} / {df}"),
        "—",
        "—",
        "0 / 0",
        Verdict::of(gf == 0 && df == 0),
    ));
    sec.notes.push(format!(
        "(a) real git clients: {clients} threads, each running `/usr/bin/git ls-remote {}` {rounds} times in a row, all \
         released together; two rounds per side, alternating which side goes first; wall time = the better round, latency \
         over both. gitgate: the shim as git-remote-http (GIT_EXEC_PATH overlay) and the agent; direct: the same git with \
         the token in a credential helper.",
        url
    ));
}
