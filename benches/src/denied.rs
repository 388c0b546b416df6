//! Figure 2: a push the policy refuses, end to end with the real git. (a) Refused early by the
//! advisory pre-push hook (the agent answers the hook's question; no pack is built), against the
//! same git refused by a repository pre-push hook that just exits 1. (b) Refused by the agent
//! alone (no hook: git builds and sends the pack, the agent answers report-status `ng` and never
//! contacts upstream receive-pack), against the same git refused by the server's pre-receive hook.
//! (c) The agent's part alone: the hook's request over a raw socket.

use crate::report::{row, Section, Verdict};
use crate::transfer::Net;
use crate::util::*;
use crate::Config;
use std::time::Instant;

pub fn denied_push(cfg: &Config) -> Section {
    let mut sec = Section::new("2. A denied push, end to end");
    let net = Net::start(&[]);
    net.bare("den");
    let refuse = net.bare("den-refuse");
    gitgate_e2e::install_hook(&refuse, "pre-receive", "#!/bin/sh\nexit 1\n");
    let ws = net.scratch.path().join("den");
    net.seed_clone(&ws, &net.url("den"));
    net.install_hook(&ws);
    std::fs::write(ws.join("new.txt"), "new\n").unwrap();
    run_ok(real_git(&ws).args(["add", "new.txt"]), "add");
    run_ok(real_git(&ws).args(["commit", "-q", "-m", "new"]), "commit");
    // The baseline's repository hook that refuses every push, and an empty hooks dir.
    let refusing_hooks = net.scratch.path().join("refusing-hooks");
    std::fs::create_dir_all(&refusing_hooks).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let h = refusing_hooks.join("pre-push");
        std::fs::write(
            &h,
            "#!/bin/sh\necho 'refused by the repository hook' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let no_hooks = net.scratch.path().join("no-hooks");
    std::fs::create_dir_all(&no_hooks).unwrap();
    let hooks_cfg = |d: &std::path::Path| format!("core.hooksPath={}", d.display());

    let gg_hook = |_: usize| {
        ms(time_run(
            net.gitgate_git(&ws).args(["push", "origin", "main"]),
            1,
            "gitgate push to main (hook)",
        ))
    };
    let direct_hook = |_: usize| {
        ms(time_run(
            net.direct_git(&ws)
                .args(["-c", &hooks_cfg(&refusing_hooks), "push", "origin", "main"]),
            1,
            "direct push refused by a repository hook",
        ))
    };
    let gg_agent = |_: usize| {
        ms(time_run(
            net.gitgate_git(&ws)
                .args(["-c", &hooks_cfg(&no_hooks), "push", "origin", "main"]),
            1,
            "gitgate push to main (agent alone)",
        ))
    };
    let direct_server = |_: usize| {
        ms(time_run(
            net.direct_git(&ws).args([
                "-c",
                &hooks_cfg(&no_hooks),
                "push",
                &net.url("den-refuse"),
                "main",
            ]),
            1,
            "direct push refused by the server's pre-receive hook",
        ))
    };
    // The hook alone, as git runs it: `.git/hooks/pre-push origin <url>` with git's ref line.
    let new = run_ok(real_git(&ws).args(["rev-parse", "HEAD"]), "rev-parse");
    let old = run_ok(real_git(&ws).args(["rev-parse", "HEAD~1"]), "rev-parse");
    let line = format!("refs/heads/main {new} refs/heads/main {old}\n");
    let hook_alone = || -> f64 {
        use std::io::Write;
        let mut c = std::process::Command::new(ws.join(".git/hooks/pre-push"));
        c.current_dir(&ws)
            .env_clear()
            .envs(
                net.gitgate_git(&ws)
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            )
            .env("GIT_DIR", ws.join(".git"))
            .args(["origin", &net.url("den")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let t = Instant::now();
        let mut child = c.spawn().expect("run the hook");
        let _ = child.stdin.take().unwrap().write_all(line.as_bytes());
        let st = child.wait().expect("wait for the hook");
        let d = ms(t.elapsed());
        assert_eq!(st.code(), Some(126), "the hook should refuse");
        d
    };
    let req = denied_push_bytes(&ws);
    let raw = || -> f64 {
        let t = Instant::now();
        let r = raw_request(&net.agent.socket, &req).expect("raw hook request");
        let d = ms(t.elapsed());
        assert_eq!(r.code(), 126, "expected a denial: {r:?}");
        d
    };
    // The denial text as git prints it (checked once, not timed).
    let out = net
        .gitgate_git(&ws)
        .args(["push", "origin", "main"])
        .output()
        .unwrap();
    let hook_text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(hook_text.contains("gitgate:"), "{hook_text}");
    let out = net
        .gitgate_git(&ws)
        .args(["-c", &hooks_cfg(&no_hooks), "push", "origin", "main"])
        .output()
        .unwrap();
    let agent_text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(agent_text.contains("[remote rejected]"), "{agent_text}");
    let posts_before = receive_posts(&net);

    for i in 0..5 {
        gg_hook(i);
        direct_hook(i);
        gg_agent(i);
        direct_server(i);
        raw();
        hook_alone();
    }
    let n = cfg.iters_denied_shim;
    eprintln!(
        "[denied] {n} runs of each push, {} raw requests",
        cfg.iters_denied_raw
    );
    let pairs = |a: &dyn Fn(usize) -> f64, b: &dyn Fn(usize) -> f64| {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            if i % 2 == 0 {
                x.push(a(i));
                y.push(b(i));
            } else {
                y.push(b(i));
                x.push(a(i));
            }
        }
        (x, y)
    };
    let (h, hb) = pairs(&gg_hook, &direct_hook);
    let (g, gb) = pairs(&gg_agent, &direct_server);
    let r: Vec<f64> = (0..cfg.iters_denied_raw).map(|_| raw()).collect();
    let ha: Vec<f64> = (0..n).map(|_| hook_alone()).collect();
    let sha = stats(&ha);
    let posts_after = receive_posts(&net);
    let (sh, shb, sg, sgb, sr) = (stats(&h), stats(&hb), stats(&g), stats(&gb), stats(&r));

    sec.rows.push(row(
        "`git push origin main` refused by the pre-push hook: median end to end",
        fmt_ms(sh.median),
        fmt_ms(shb.median),
        fmt_ratio(sh.median, shb.median),
        "< 5 ms",
        Verdict::of(sh.median < 5.0),
    ));
    sec.rows.push(row(
        "what the refusal adds: difference of medians vs the same git refused by a hook that only exits 1",
        fmt_ms(sh.median - shb.median),
        "—",
        "—",
        "< 5 ms",
        Verdict::of(sh.median - shb.median < 5.0),
    ));
    sec.rows.push(row(
        "same, p99",
        fmt_ms(sh.p99),
        fmt_ms(shb.p99),
        fmt_ratio(sh.p99, shb.p99),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "the pre-push hook alone, as git runs it (sh, one `git merge-base`, the shim, the agent's answer): median",
        fmt_ms(sha.median),
        "—",
        "—",
        "< 5 ms (the hook's part)",
        Verdict::of(sha.median < 5.0),
    ));
    sec.rows.push(row(
        "`git push origin main` refused by the agent alone (no hook): median end to end",
        fmt_ms(sg.median),
        fmt_ms(sgb.median),
        fmt_ratio(sg.median, sgb.median),
        "(none)",
        Verdict::Info,
    ));
    sec.rows.push(row(
        "upstream receive-pack POSTs caused by the refused gitgate pushes",
        format!("{}", posts_after - posts_before),
        "—",
        "—",
        "0",
        Verdict::of(posts_after == posts_before),
    ));
    sec.rows.push(row(
        "the agent's part: the hook's request over a raw socket (Hello → Error 126): median / p99",
        format!("{} / {}", fmt_ms(sr.median), fmt_ms(sr.p99)),
        "—",
        "—",
        "(none)",
        Verdict::Info,
    ));
    let first = |t: &str| {
        t.lines()
            .find(|l| l.contains("gitgate:"))
            .unwrap_or("")
            .trim()
            .replace('|', "\\|")
    };
    sec.notes
        .push(format!("what git prints, hook: `{}`", first(&hook_text)));
    sec.notes.push(format!(
        "what git prints, agent alone: `{}`",
        first(&agent_text)
    ));
    sec.notes.push(
        "the < 5 ms target cannot be met by any push over HTTP with this git: before git runs a pre-push hook it starts \
         its remote helper and fetches the ref advertisement from the server, so the baseline column (the same git, \
         refused by a repository hook that only says `exit 1`) is itself above 5 ms; gitgate's extra cost is the \
         difference between the columns (the hook's sh, one `git merge-base`, the shim and the agent's answer)"
            .into(),
    );
    sec.method = format!(
        "{n} runs each, alternating with their baseline; median and p99 (nearest rank); after 5 warm-up rounds. Workspace: \
         a clone with one new commit on main, origin = a server repository; `main` is blocked by the default policy. \
         (a) gitgate with the advisory pre-push hook installed, as the image's template dir does; baseline: the same \
         `/usr/bin/git push origin main` straight to the server with `core.hooksPath` = a dir whose pre-push hook exits 1. \
         (b) gitgate with `core.hooksPath` = an empty dir (as with husky), so git builds and sends the pack and the agent \
         refuses it in report-status; baseline: the same push straight to a server repository whose pre-receive hook exits 1. \
         (c) {} raw requests: the pre-push hook's Hello (tool hook) with one ref line, read to the final frame. {}",
        cfg.iters_denied_raw,
        crate::transfer::common_method(&net)
    );
    sec
}

fn receive_posts(net: &Net) -> usize {
    net.server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/den.git/git-receive-pack"))
        .count()
}
