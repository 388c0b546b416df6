//! Figure 10: what one session's agent costs (issue 14: sizing a Kubernetes node). The agent runs as
//! in deploy/kubernetes (AUDIT_LOG=-, a token, one allowed repository); measured from /proc: RSS
//! idle, after many requests and after pushes, and CPU time (user + system) per push. The
//! extrapolation to 100 sessions per node is arithmetic on these figures.

use crate::report::{row, Section, Verdict};
use crate::transfer::Net;
use crate::util::*;
use crate::Config;
use gitgate_proto::Tool;
use std::time::{Duration, Instant};

/// utime + stime (+ children) of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // rest[0] is field 3 (state): utime = field 14 → index 11; stime 12; cutime 13; cstime 14.
    let ticks: u64 = (11..=14).filter_map(|i| f.get(i)).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

fn mb(kb: Option<u64>) -> f64 {
    kb.unwrap_or(0) as f64 / 1024.0
}

pub fn session(cfg: &Config) -> Section {
    let mut sec = Section::new("10. Per-session agent resources (Kubernetes sizing)");
    let (requests, pushes) = if cfg.quick { (200, 10) } else { (2000, 50) };
    let net = Net::start(&[("AUDIT_LOG", "-"), ("POD_NAME", "bench-session")]);
    let pid = net.agent.pid();
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = proc_status(pid, "VmRSS");
    let idle_threads = proc_status(pid, "Threads");
    let idle_cpu = cpu_secs(pid);

    let status = request_bytes(Tool::AgentStatus, &[], std::path::Path::new("/"));
    let ws = net.agent.workspace.join("sess");
    std::fs::create_dir_all(&ws).unwrap();
    let denied = denied_push_bytes(&ws);
    let cpu0 = cpu_secs(pid);
    for i in 0..requests {
        let req = if i % 2 == 0 { &status } else { &denied };
        raw_request(&net.agent.socket, req).expect("raw request");
    }
    let req_cpu = cpu_secs(pid) - cpu0;
    let req_rss = proc_status(pid, "VmRSS");

    let _bare = net.bare("sess");
    std::fs::remove_dir_all(&ws).unwrap();
    net.seed_clone(&ws, &net.url("sess"));
    run_ok(
        real_git(&ws).args(["checkout", "-q", "-b", "bench/session"]),
        "branch",
    );
    let commit = |n: usize| {
        // ~8 KB of new, incompressible-ish content per push: a typical small AI commit.
        let body: String = random_bytes(4096, n as u64)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(ws.join(format!("f{n}.txt")), body).unwrap();
        run_ok(real_git(&ws).args(["add", "."]), "add");
        run_ok(
            real_git(&ws).args(["commit", "-q", "-m", &format!("c{n}")]),
            "commit",
        );
    };
    // Warm-up push (creates the branch upstream and the agent's cache of the repository).
    commit(0);
    time_run(
        &mut net.shim_git(&ws, &["push", "-q", "origin", "bench/session"]),
        0,
        "warm-up push",
    );
    let mut walls = Vec::new();
    let cpu1 = cpu_secs(pid);
    for n in 1..=pushes {
        commit(n);
        let t = Instant::now();
        time_run(
            &mut net.shim_git(&ws, &["push", "-q", "origin", "bench/session"]),
            0,
            "push",
        );
        walls.push(ms(t.elapsed()));
    }
    let push_cpu_ms = (cpu_secs(pid) - cpu1) * 1000.0 / pushes as f64;
    let push_rss = proc_status(pid, "VmRSS");
    // One bigger push: a commit of 5 MB of incompressible data (a generated asset, a vendored tree).
    std::fs::write(ws.join("big.bin"), random_bytes(5 << 20, 99)).unwrap();
    run_ok(real_git(&ws).args(["add", "."]), "add big");
    run_ok(
        real_git(&ws).args(["commit", "-q", "-m", "big"]),
        "commit big",
    );
    let cpu2 = cpu_secs(pid);
    time_run(
        &mut net.shim_git(&ws, &["push", "-q", "origin", "bench/session"]),
        0,
        "5 MB push",
    );
    let big_cpu_ms = (cpu_secs(pid) - cpu2) * 1000.0;
    let big_rss = proc_status(pid, "VmRSS");
    let hwm = proc_status(pid, "VmHWM");
    let threads = proc_status(pid, "Threads");
    let wall = stats(&walls);

    let r = |name: &str, v: String| row(name, v, "—", "—", "(none)", Verdict::Info);
    sec.rows.push(row(
        "agent VmRSS idle (1 s after start)",
        fmt_kb(idle_rss),
        "—",
        "—",
        "≤ 30 MB",
        Verdict::of(mb(idle_rss) <= 30.0),
    ));
    sec.rows.push(r(
        &format!("agent VmRSS after {requests} requests (agent-status and denied pushes)"),
        fmt_kb(req_rss),
    ));
    sec.rows.push(row(
        format!("agent VmRSS after {} pushes", pushes + 1),
        fmt_kb(push_rss),
        "—",
        "—",
        "≤ 64 MB",
        Verdict::of(mb(push_rss) <= 64.0),
    ));
    sec.rows
        .push(r("agent VmRSS after a further 5 MB push", fmt_kb(big_rss)));
    sec.rows
        .push(r("agent VmHWM (peak RSS over the run)", fmt_kb(hwm)));
    sec.rows.push(r(
        "agent threads idle / after the run",
        format!("{} / {}", idle_threads.unwrap_or(0), threads.unwrap_or(0)),
    ));
    sec.rows.push(r(
        "agent CPU time at start (to idle)",
        format!("{:.0} ms", idle_cpu * 1000.0),
    ));
    sec.rows.push(r(
        "agent CPU time per request (agent-status / denied push)",
        format!("{:.3} ms", req_cpu * 1000.0 / requests as f64),
    ));
    sec.rows.push(r(
        "agent CPU time per push (one ~8 KB commit, user + system)",
        format!("{push_cpu_ms:.1} ms"),
    ));
    sec.rows.push(r(
        "agent CPU time for one 5 MB push (incompressible)",
        format!("{big_cpu_ms:.0} ms"),
    ));
    sec.rows.push(r(
        "push wall time through the shim: median / p99",
        format!("{} / {}", fmt_ms(wall.median), fmt_ms(wall.p99)),
    ));
    let per = mb(push_rss).max(mb(req_rss)).max(mb(big_rss));
    sec.rows.push(r(
        "100 agents on one node: memory (100 × RSS after the run)",
        format!("{:.0} MB", 100.0 * per),
    ));
    sec.rows.push(r(
        "100 agents on one node: CPU at one push per session per minute",
        format!("{:.3} cores", 100.0 * push_cpu_ms / 60_000.0),
    ));
    sec.method = format!(
        "agent = target/release/gitgate-agent via the e2e harness with AUDIT_LOG=- and POD_NAME set (as in \
         deploy/kubernetes/job.yaml), a token, ALLOWED_REPOS=[\"acme/*\"], the local smart-HTTP server \
         (git http-backend) as upstream. /proc/<pid>/status VmRSS/VmHWM/Threads; CPU = utime + stime (+ children) \
         from /proc/<pid>/stat, clock ticks of 1/{} s, divided by the count. {requests} raw-socket requests \
         alternating agent-status and a denied push; then one warm-up push and {pushes} pushes, each one new commit \
         of an 8 KB file, through the shim (real git 2.39); then one push of a 5 MB file of random bytes. RSS counts the \
         binary's shared pages in every agent, so 100 × RSS is an upper bound. The extrapolation multiplies these per-agent figures \
         (agents share nothing); it leaves out the kubelet's and the container runtime's own per-pod overhead.",
        // SAFETY: sysconf has no preconditions.
        unsafe { libc::sysconf(libc::_SC_CLK_TCK) }
    );
    sec
}
