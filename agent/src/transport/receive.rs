//! push: receive-pack (protocol v0). The advertisement is fetched with the token and passed on;
//! git's commands are read and every one is checked before anything goes upstream; the pack is
//! spooled and parsed for ancestry. Refused → the pack is drained, upstream receive-pack is never
//! contacted and git gets a report-status with `ng` for every ref (all or nothing). Allowed → the
//! commands and the original pack bytes go upstream unchanged and the answer streams back. A
//! pack over 1 MiB whose refs are all decided early (new branches; fast-forwards confirmed from
//! the pack's leading commits, leading.rs) streams upstream while it arrives (stream.rs).
//!
//! GitHub App mode: a 401 to the advertisement GET or to the receive-pack POST gets one refresh
//! (shared with the gateway, single-flight) and one retry. A 401 is the server refusing the
//! credentials before receive-pack runs, so nothing landed, and nothing of that answer has
//! reached git; the POST body is replayed exactly (commands and options from memory, the pack
//! from the spool file, which lives until the last attempt is done). Any other answer, or an
//! error after the body was sent, is never retried. A personal token is never retried. Bodies
//! above 1 MiB are preceded by a flush-only probe in App mode (see `PROBE_ABOVE`), since a 401
//! answered before a large body was read can reach the agent as a broken connection. A
//! connection that breaks before the whole body was handed over is reported as "nothing was
//! pushed" (receive-pack updates no ref without the whole pack), not as an unknown outcome.

use super::cache::Cache;
use super::http::{self, status_error};
use super::leading;
use super::pack::{self, Ingested, PackError};
use super::pkt::{self, Pkt};
use super::stream::{BodyState, Streaming, MAX_EARLY_BUFFER, STREAM_ABOVE};
use super::upload::send_scanned;
use super::{protocol_error, Input, Upstream};
use crate::error::AgentError;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_policy::wire::{Ancestry, RefUpdate};
use gitgate_proto::Exit;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use std::time::Duration;

/// Largest ref advertisement accepted from upstream.
const MAX_ADVERTISEMENT: usize = 256 * 1024 * 1024;
/// Largest command list (and push-option list) accepted from git.
const MAX_COMMANDS: usize = 16 * 1024 * 1024;
/// GitHub App mode: above this request size a flush-only probe settles authentication first
/// (git's `http.postBuffer` default, above which remote-curl probes the same way).
const PROBE_ABOVE: u64 = 1024 * 1024;

/// What git asked for, from the capabilities on its first command.
#[derive(Debug, Default)]
struct Caps {
    report_status: bool,
    sideband: Option<usize>,
    push_options: bool,
}

#[derive(Debug)]
struct Commands {
    updates: Vec<RefUpdate>,
    caps: Caps,
    push_cert: bool,
}

fn parse_commands(raw: &[u8]) -> Result<Commands, AgentError> {
    let mut pos = 0;
    let mut updates = Vec::new();
    let mut caps = Caps::default();
    let mut first = true;
    let mut push_cert = false;
    while let Some((p, n)) = pkt::parse(&raw[pos..]).map_err(protocol_error)? {
        pos += n;
        let Pkt::Data(line) = p else { break };
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let (cmd, cap) = match line.iter().position(|&b| b == 0) {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if first {
            if let Some(cap) = cap {
                for c in String::from_utf8_lossy(cap).split(' ') {
                    match c {
                        "report-status" | "report-status-v2" => caps.report_status = true,
                        "side-band-64k" => caps.sideband = Some(65520),
                        "side-band" => {
                            caps.sideband.get_or_insert(1000);
                        }
                        "push-options" => caps.push_options = true,
                        _ => {}
                    }
                }
            }
            first = false;
        }
        if cmd.starts_with(b"shallow ") {
            continue;
        }
        if cmd.starts_with(b"push-cert") {
            push_cert = true;
            continue;
        }
        let text =
            std::str::from_utf8(cmd).map_err(|_| protocol_error("a command is not UTF-8"))?;
        let mut parts = text.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(old), Some(new), Some(name)) => updates.push(RefUpdate {
                name: name.to_owned(),
                old: old.to_owned(),
                new: new.to_owned(),
            }),
            _ => return Err(protocol_error("malformed push command")),
        }
    }
    Ok(Commands {
        updates,
        caps,
        push_cert,
    })
}

fn pkt_lines(raw: &[u8]) -> Result<Vec<String>, AgentError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while let Some((p, n)) = pkt::parse(&raw[pos..]).map_err(protocol_error)? {
        pos += n;
        match p {
            Pkt::Data(d) => {
                out.push(String::from_utf8_lossy(d.strip_suffix(b"\n").unwrap_or(d)).into_owned())
            }
            _ => break,
        }
    }
    Ok(out)
}

/// report-status as receive-pack writes it, in side-band channel 1 if git asked for it.
fn report(updates: &[RefUpdate], reasons: &[String], unpack: &str, caps: &Caps) -> Vec<u8> {
    let mut rs = pkt::encode(format!("unpack {unpack}\n").as_bytes());
    for (u, why) in updates.iter().zip(reasons) {
        let line = format!("ng {} {}\n", u.name, why);
        let line = if line.len() > 65000 {
            format!("ng {} gitgate: refused\n", u.name)
        } else {
            line
        };
        rs.extend(pkt::encode(line.as_bytes()));
    }
    rs.extend_from_slice(pkt::FLUSH);
    match caps.sideband {
        None => rs,
        Some(max) => {
            let mut out = Vec::new();
            for part in rs.chunks(max - 5) {
                let mut p = vec![1u8];
                p.extend_from_slice(part);
                out.extend(pkt::encode(&p));
            }
            out.extend_from_slice(pkt::FLUSH);
            out
        }
    }
}

pub async fn run(
    state: &AgentState,
    req: &mut Request,
    client: &reqwest::Client,
    up: &Upstream,
) -> Result<Exit, AgentError> {
    let settings = state.settings();
    let policy = state.policy();
    // Until the POST below, nothing that writes has been sent.
    req.audit.set_outcome(crate::session::Outcome::NotSent);
    let shown_url = req.hello.url.clone();
    let body = super::upload::advertisement(
        state,
        client,
        up,
        "git-receive-pack",
        None,
        MAX_ADVERTISEMENT,
        &shown_url,
    )
    .await?;
    send_scanned(state, req, &body).await?;

    let timeout = Duration::from_secs(settings.io_timeout_secs.max(1));
    let mut input = Input::new(&mut req.stdin, timeout);
    let Some((cmd_raw, count)) = input.until_flush(MAX_COMMANDS).await? else {
        return Ok(Exit::code(0));
    };
    if count == 0 {
        // Nothing to update (everything up to date, or --dry-run): upstream is not contacted.
        return Ok(Exit::code(0));
    }
    let cmds = parse_commands(&cmd_raw)?;
    let mut opt_raw = Vec::new();
    let mut options = Vec::new();
    if cmds.caps.push_options {
        match input.until_flush(MAX_COMMANDS).await? {
            Some((raw, _)) => {
                options = pkt_lines(&raw)?;
                opt_raw = raw;
            }
            None => return Err(protocol_error("git closed before its push options")),
        }
    }
    if cmds.updates.is_empty() {
        return Err(protocol_error("no ref update in the command list"));
    }

    // Every rule that does not need the pack, for every ref, before the pack is even read.
    let mut reasons: Vec<Option<String>> = cmds
        .updates
        .iter()
        .map(|u| {
            let provisional = if u.needs_ancestry() {
                Ancestry::FastForward
            } else {
                Ancestry::NotApplicable
            };
            policy
                .check_ref_update(u, provisional)
                .err()
                .map(|d| format!("gitgate: {d}"))
        })
        .collect();
    if let Err(d) = policy.check_push_options(&options) {
        for r in reasons.iter_mut() {
            r.get_or_insert_with(|| format!("gitgate: {d}"));
        }
    }
    if cmds.push_cert {
        for r in reasons.iter_mut() {
            r.get_or_insert_with(|| "gitgate: signed pushes (--signed) are not supported".into());
        }
    }

    // The pack: read (and spooled) whatever the verdict, so git can finish writing it.
    let needs_pack = cmds.updates.iter().any(|u| !u.is_delete());
    let cache_lock = state.repo_lock(&up.slug);
    let mut head = cmd_raw;
    head.extend_from_slice(&opt_raw);
    let head = bytes::Bytes::from(head);
    let post_url = format!("{}/git-receive-pack", up.base);
    let refs: Vec<String> = cmds.updates.iter().map(|u| u.name.clone()).collect();
    let post_ctx =
        |scanner, keep, sent_all, body_state: Option<tokio::sync::watch::Receiver<BodyState>>| {
            PostCtx {
                out: req.out.clone(),
                scanner,
                redactor: state.redactor.clone(),
                shown_url: shown_url.clone(),
                slug: up.slug.clone(),
                refs: refs.clone(),
                cancel: req.cancel.clone(),
                audit: req.audit.clone(),
                keep,
                sent_all,
                idle: body_state.as_ref().map(|_| timeout),
                body_state,
            }
        };
    let mut scanner = Some(state.redactor.scanner());
    let mut stream: Option<Streaming> = None;
    // The pack, each ref's ancestry, and why the cache could not be refreshed (if it could not).
    type Checked = (Ingested, Vec<Ancestry>, Option<String>);
    // A streamed push released before gix-pack finished indexing its pack: the indexing, which
    // git does not wait for (it only feeds the cache).
    let mut indexing: Option<tokio::task::JoinHandle<Result<Checked, PackError>>> = None;
    let ingest_result: Option<Result<Checked, PackError>> = if needs_pack {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        let state_dir = settings.state_dir.clone();
        let limit = settings.max_push_bytes;
        let make_cache = {
            let (state_dir, up, token) = (state_dir.clone(), up.clone(), state.token.clone());
            let (cancel, lock, started) =
                (req.cancel.clone(), cache_lock.clone(), state.started_at);
            move || {
                Cache::new(
                    &state_dir,
                    &up,
                    token.clone(),
                    cancel.clone(),
                    lock.clone(),
                    started,
                )
            }
        };
        // A large push streams upstream while it arrives (see `Streaming`) if nothing refused it
        // so far and every fast-forward it claims is confirmed by the pack's leading commits.
        let early_checks: Option<Vec<(gix_hash::ObjectId, gix_hash::ObjectId)>> =
            if reasons.iter().all(Option::is_none) {
                cmds.updates
                    .iter()
                    // Only where the answer matters (with ALLOW_FORCE_PUSH it may not).
                    .filter(|u| {
                        u.needs_ancestry()
                            && policy
                                .check_ref_update(u, Ancestry::NotFastForward)
                                .is_err()
                    })
                    .map(|u| {
                        let new = gix_hash::ObjectId::from_hex(u.new.as_bytes()).ok()?;
                        Some((new, gix_hash::ObjectId::from_hex(u.old.as_bytes()).ok()?))
                    })
                    .collect()
            } else {
                None
            };
        let (fwd_tx, mut fwd_rx) = tokio::sync::mpsc::channel::<pack::Forwarded>(16);
        // Always told when the whole pack is in (git then waits, silent, for the answer); the
        // bytes too for a push that may stream.
        let with_bytes =
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(early_checks.is_some()));
        let bytes_wanted = with_bytes.clone();
        let waiting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let link = pack::Link {
            forward: fwd_tx,
            with_bytes,
            waiting: waiting.clone(),
        };
        let mut fwd_open = true;
        let started = state.started_at;
        let check: Vec<(RefUpdate, bool)> = cmds
            .updates
            .iter()
            .zip(&reasons)
            .map(|(u, r)| (u.clone(), r.is_none() && u.needs_ancestry()))
            .collect();
        let ingest_cache = make_cache.clone();
        let mut job = tokio::task::spawn_blocking(move || {
            crate::housekeeping::sweep(&pack::spool_dir(&state_dir), started);
            let cache = ingest_cache();
            let ing = pack::ingest(rx, &pack::spool_dir(&state_dir), limit, &cache, link)?;
            let anc = check
                .iter()
                .map(|(u, needed)| {
                    if !needed {
                        return Ancestry::NotApplicable;
                    }
                    match (
                        gix_hash::ObjectId::from_hex(u.new.as_bytes()),
                        gix_hash::ObjectId::from_hex(u.old.as_bytes()),
                    ) {
                        (Ok(n), Ok(o)) => pack::ancestry(&n, &o, &ing.commits, &cache),
                        _ => Ancestry::NotFastForward,
                    }
                })
                .collect();
            let refresh_error = cache.refresh_error.borrow_mut().take();
            Ok((ing, anc, refresh_error))
        });
        // `Some(true)`: the push may stream; `Some(false)`: it waits for the whole pack, as
        // every push did before; `None`: the leading commits are still being read.
        let mut early: Option<bool> = match &early_checks {
            Some(c) if c.is_empty() => Some(true),
            Some(_) => None,
            None => Some(false),
        };
        let (mut scan_tx, scan_job) = match early_checks {
            Some(checks) if early.is_none() => {
                let (stx, srx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
                let scan_cache = make_cache.clone();
                let job = tokio::task::spawn_blocking(move || {
                    let commits = leading::read(srx);
                    let cache = scan_cache();
                    checks.iter().all(|(new, old)| {
                        pack::ancestry(new, old, &commits, &cache) == Ancestry::FastForward
                    })
                });
                (Some(stx), Some(job))
            }
            _ => (None, None),
        };
        let mut scan_job = scan_job;
        let mut held: Vec<bytes::Bytes> = Vec::new();
        let mut held_len = 0usize;
        let mut tx = Some(tx);
        let mut joined = None;
        let mut stalled = None;
        let mut pack_read = false;
        let mut to_ingest: Option<Vec<u8>> = None;
        while joined.is_none() || fwd_open {
            tokio::select! {
                r = &mut job, if joined.is_none() => joined = Some(r),
                v = async {
                    match scan_job.as_mut() {
                        Some(j) => j.await,
                        None => std::future::pending().await,
                    }
                }, if scan_job.is_some() && early.is_none() => {
                    early = Some(matches!(v, Ok(true)));
                }
                piece = fwd_rx.recv(), if fwd_open => match piece {
                    None => {
                        fwd_open = false;
                        scan_tx = None;
                    }
                    Some(pack::Forwarded::PackRead) => pack_read = true,
                    Some(pack::Forwarded::Bytes(b)) => {
                        if let Some(s) = &scan_tx {
                            if s.send(b.clone()).await.is_err() {
                                scan_tx = None;
                            }
                        }
                        match &mut stream {
                            Some(st) => st.push(b).await,
                            None if early != Some(false) => {
                                held_len += b.len();
                                held.push(b);
                            }
                            None => {}
                        }
                    }
                },
                // A chunk from git waits here for room in gix's channel without holding up the
                // arms above: gix may itself be waiting for the forwarded pieces to be taken.
                permit = async {
                    match &tx {
                        Some(t) => t.clone().reserve_owned().await.ok(),
                        None => None,
                    }
                }, if to_ingest.is_some() => match (permit, to_ingest.take()) {
                    (Some(p), Some(c)) => {
                        p.send(c);
                    }
                    _ => tx = None,
                },
                // Once the whole pack is in, git legitimately sends nothing while gix indexes it.
                chunk = input.next_chunk(), if to_ingest.is_none() && tx.is_some() && joined.is_none() && !pack_read => match chunk {
                    Ok(Some(c)) => to_ingest = Some(c),
                    Ok(None) => tx = None,
                    // git's silence counts only while the agent has taken in all it sent: gix
                    // still working through queued pieces is the agent's time, not git's.
                    Err(_)
                        if !waiting.load(std::sync::atomic::Ordering::SeqCst)
                            || tx.as_ref().is_some_and(|t| t.capacity() < t.max_capacity()) => {}
                    Err(e) => {
                        stalled = Some(e);
                        tx = None;
                    }
                },
            }
            if stream.is_none() && early.is_none() && held_len > MAX_EARLY_BUFFER {
                // Not decided in time: the whole pack first, as usual.
                early = Some(false);
            }
            if stream.is_none() && early == Some(false) && fwd_open {
                scan_tx = None;
                bytes_wanted.store(false, std::sync::atomic::Ordering::Relaxed);
                held.clear();
                held_len = 0;
            }
            if stream.is_none()
                && early == Some(true)
                && held_len >= STREAM_ABOVE
                && stalled.is_none()
                && joined.is_none()
            {
                let sent_all = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (body_tx, body_rx) = tokio::sync::watch::channel(BodyState::Streaming);
                let ctx = post_ctx(
                    scanner.take(),
                    std::sync::Arc::new(None),
                    sent_all,
                    Some(body_rx),
                );
                let mut st =
                    Streaming::start(state, client, &shown_url, &post_url, &head, ctx, body_tx)
                        .await?;
                for b in held.drain(..) {
                    st.push(b).await;
                }
                held_len = 0;
                stream = Some(st);
            }
            if let Some(st) = stream.as_mut().filter(|st| pack_read && st.can_release()) {
                // The whole pack is in, its checksum matched, within the limit, every ref decided:
                // its last bytes go now, while gix-pack still indexes it. From here on the push
                // may land: it runs to the end even if the client goes away, and says what
                // happened.
                req.audit.begin_upstream_work();
                req.audit.set_outcome(crate::session::Outcome::Unknown);
                st.release().await;
            }
            // Released: upstream has the whole pack and every ref was decided before it started;
            // git need not wait for gix to finish indexing. (GitHub App mode waits: a 401 is
            // answered by sending the pack again, from the spool gix is writing.)
            if joined.is_none()
                && state.app.get().is_none()
                && stream.as_ref().is_some_and(|st| st.released)
            {
                break;
            }
        }
        drop(scan_tx);
        if let Some(e) = stalled {
            match stream.take() {
                // Out already: what upstream makes of it is the outcome, not git's leaving.
                Some(st) if st.released => stream = Some(st),
                Some(st) => {
                    st.cut().await;
                    return Err(e);
                }
                None => return Err(e),
            }
        }
        match joined {
            Some(j) => Some(j.map_err(|e| AgentError::Internal(format!("pack task failed: {e}")))?),
            None => {
                indexing = Some(job);
                None
            }
        }
    } else {
        None
    };

    let released = stream.as_ref().is_some_and(|st| st.released);
    let mut unpack = "ok".to_owned();
    let mut ingested = None;
    match ingest_result {
        None => {}
        Some(Ok((ing, anc, refresh_error))) => {
            for ((u, a), r) in cmds.updates.iter().zip(anc).zip(reasons.iter_mut()) {
                if r.is_none() && u.needs_ancestry() {
                    if let Err(d) = policy.check_ref_update(u, a) {
                        *r = Some(match (&refresh_error, a) {
                            // Not shown to be a fast-forward because upstream's history could not
                            // be read: say that, not "non-fast-forward".
                            (Some(e), Ancestry::NotFastForward) => state.redactor.redact_str(
                                &format!(
                                    "gitgate: cannot check that this is a fast-forward: the agent could not update its copy of the repository from upstream ({}); nothing was pushed, try again",
                                    e.replace(['\n', '\r'], " ")
                                ),
                            ),
                            _ => format!("gitgate: {d}"),
                        });
                    }
                }
            }
            ingested = Some(ing);
        }
        Some(Err(e)) if released => {
            // Sent whole before gix-pack finished indexing it (the refs were decided, the pack's
            // checksum matched): upstream's answer says what happened; the cache does without it.
            crate::log::warn_redacted(
                &state.redactor,
                &format!(
                    "push to {}: cannot index the pack sent upstream: {e}",
                    up.slug
                ),
            );
        }
        Some(Err(e)) => {
            if let Some(st) = stream.take() {
                st.cut().await;
            }
            if matches!(e, PackError::Truncated) {
                return Err(protocol_error(e));
            }
            unpack = format!("gitgate: {e}");
            for r in reasons.iter_mut() {
                r.get_or_insert_with(|| format!("gitgate: {e}"));
            }
        }
    }

    if released && reasons.iter().any(Option::is_some) {
        // Cannot happen: a streamed push was decided before it started, from commits whose ids
        // the agent computed itself. Upstream's answer stands; say so loudly.
        crate::log::warn_redacted(
            &state.redactor,
            &format!(
                "push to {}: refused after its pack had been sent whole ({:?}); upstream's answer stands",
                up.slug, reasons
            ),
        );
    } else if reasons.iter().any(Option::is_some) {
        if let Some(st) = stream.take() {
            // Streamed, then refused after all: the server has all but the pack's last bytes
            // and applies nothing without them.
            st.cut().await;
        }
        let all: Vec<String> = reasons
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    "gitgate: not pushed because another ref in this push was refused".into()
                })
            })
            .collect();
        let denied: Vec<String> = cmds
            .updates
            .iter()
            .zip(&all)
            .map(|(u, r)| format!("{} {}", u.name, r))
            .collect();
        if cmds.caps.report_status {
            req.out
                .data(report(&cmds.updates, &all, &unpack, &cmds.caps))
                .await;
            // git prints the refusals itself and exits 1; the audit records the denial.
            req.audit.set_denied(&denied.join("; "));
            req.audit.set_outcome(crate::session::Outcome::NotSent);
            return Ok(Exit::code(0));
        }
        return Err(AgentError::denied(denied.join("; ")));
    }

    // Allowed: commands, push options and the pack bytes exactly as git sent them.
    let (spool_len, spool_path) = match &ingested {
        Some(i) => (i.spooled.len, Some(i.spooled.file.path().to_path_buf())),
        None => (0, None),
    };
    let total = head.len() as u64 + spool_len;
    // From here on the push may land: it runs to the end even if the client goes away, and says
    // what happened.
    req.audit.begin_upstream_work();
    // A streamed push: the pack's last bytes now, and its answer.
    let mut attempt = match stream.take() {
        Some(st) => {
            if st.can_release() {
                req.audit.set_outcome(crate::session::Outcome::Unknown);
            }
            Some(st.finish().await?)
        }
        None => None,
    };
    // The spool file lives until the upload is done (and a retry of it, below).
    let keep = std::sync::Arc::new(ingested);
    if attempt.is_none() && total > PROBE_ABOVE {
        probe_auth(state, client, &shown_url, &post_url).await?;
    }
    let mut retried = false;
    loop {
        let (posted, seen) = match attempt.take() {
            Some(done) => done,
            None => {
                let (auth, seen) =
                    http::auth_versioned(&state.token).ok_or_else(|| http::no_token(state))?;
                let file = match &spool_path {
                    Some(p) => Some(tokio::fs::File::open(p).await.map_err(|e| {
                        AgentError::Internal(format!("cannot reopen the spooled pack: {e}"))
                    })?),
                    None => None,
                };
                let sent_all = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let post = receive_pack_post(client, &post_url)
                    .header(AUTHORIZATION, auth)
                    .header(CONTENT_LENGTH, total)
                    .body(reqwest::Body::wrap_stream(spooled_body(
                        head.clone(),
                        file,
                        total,
                        sent_all.clone(),
                    )));
                // From here on an interruption leaves the result unknown until the server answers.
                req.audit.set_outcome(crate::session::Outcome::Unknown);
                // The scanner is taken by the attempt that forwards the answer (a 401 gives it
                // back unused).
                let task = tokio::spawn(post_task(
                    post,
                    post_ctx(scanner.take(), keep.clone(), sent_all, None),
                ));
                let posted = task
                    .await
                    .map_err(|e| AgentError::Internal(format!("push task failed: {e}")))?;
                (posted, seen)
            }
        };
        match posted? {
            Posted::Answered(_) => {
                // Upstream answered: the cache takes the pushed pack in (off the async workers,
                // after git has its answer), so the next thin pack's bases are there. Even if
                // upstream rejected a ref, its objects are content-addressed: ancestry answers from
                // them are true whoever holds them. The finished attempt dropped its spool handle.
                let indexed = std::sync::Arc::try_unwrap(keep)
                    .ok()
                    .flatten()
                    .and_then(|mut i| i.indexed.take());
                let cache = Cache::new(
                    &settings.state_dir,
                    up,
                    state.token.clone(),
                    req.cancel.clone(),
                    cache_lock.clone(),
                    state.started_at,
                );
                let (redactor, slug) = (state.redactor.clone(), up.slug.clone());
                if let Some(ix) = indexed {
                    tokio::task::spawn_blocking(move || {
                        import_pushed(&cache, ix, &redactor, &slug)
                    });
                } else if let Some(job) = indexing.take() {
                    // Still indexing: the cache takes the pack in when gix is done.
                    tokio::spawn(async move {
                        match job.await {
                            Ok(Ok((mut ing, _, _))) => {
                                if let Some(ix) = ing.indexed.take() {
                                    let _ = tokio::task::spawn_blocking(move || {
                                        import_pushed(&cache, ix, &redactor, &slug)
                                    })
                                    .await;
                                }
                            }
                            Ok(Err(e)) => crate::log::warn_redacted(
                                &redactor,
                                &format!(
                                    "push to {slug}: cannot index the pack sent upstream: {e}"
                                ),
                            ),
                            Err(_) => {}
                        }
                    });
                }
                return Ok(Exit::code(0));
            }
            Posted::Unauthorized(sc) => {
                // Upstream refused the credentials before receive-pack ran: nothing landed, and
                // the whole body (commands, options, spooled pack) can be sent again. GitHub App
                // mode: one refresh, one retry. Personal token: git's "Authentication failed".
                scanner = Some(sc);
                if retried || !http::retry_401(state, reqwest::StatusCode::UNAUTHORIZED, seen).await
                {
                    return Err(http::refused(
                        state,
                        reqwest::StatusCode::UNAUTHORIZED,
                        &shown_url,
                    ));
                }
                retried = true;
            }
        }
    }
}

/// A receive-pack POST to `url` (the content types git's remote-curl sends), without its
/// credentials and body.
pub(super) fn receive_pack_post(client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(CONTENT_TYPE, "application/x-git-receive-pack-request")
        .header(ACCEPT, "application/x-git-receive-pack-result")
}

/// GitHub App mode, before a large body: the token may have been revoked since the
/// advertisement (a pack can take long to arrive). A server that refuses the credentials answers
/// before reading a large body and closes, which the agent may see as a broken connection
/// instead of the 401. Like git's remote-curl (probe_rpc), a flush-only request settles
/// authentication first (one refresh and retry); receive-pack given no command changes nothing.
/// With a personal token the advertisement just authenticated the same token: no probe.
pub(super) async fn probe_auth(
    state: &AgentState,
    client: &reqwest::Client,
    shown_url: &str,
    post_url: &str,
) -> Result<(), AgentError> {
    if state.app.get().is_none() {
        return Ok(());
    }
    let resp = http::send_replayable(state, false, shown_url, |auth| {
        http::authorized(receive_pack_post(client, post_url), auth).body(pkt::FLUSH)
    })
    .await?;
    if !resp.status().is_success() {
        return Err(http::refused(state, resp.status(), shown_url));
    }
    super::upload::read_bounded(resp, 64 * 1024, shown_url).await?;
    Ok(())
}

/// The cache takes in a pack upstream accepted (blocking).
fn import_pushed(cache: &Cache, ix: pack::Indexed, redactor: &crate::redact::Redactor, slug: &str) {
    if let Err(e) = cache.import_pack(&ix.pack, &ix.index) {
        crate::log::warn_redacted(
            redactor,
            &format!("cache of {slug}: cannot take in the pushed pack: {e}"),
        );
    }
}

/// Commands and push options (in memory), then the spooled pack, as one request body of
/// `total` bytes; `sent_all` is set as the last of them is handed to the connection (so a
/// failure before that is a body the server never had whole).
fn spooled_body(
    head: bytes::Bytes,
    file: Option<tokio::fs::File>,
    total: u64,
    sent_all: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    enum Part {
        Head(bytes::Bytes, Option<tokio::fs::File>),
        Pack(tokio::fs::File, u64),
        End,
    }
    let mark = move |given: u64| {
        if given >= total {
            sent_all.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    futures_util::stream::unfold(Part::Head(head, file), move |part| {
        let mark = mark.clone();
        async move {
            use tokio::io::AsyncReadExt as _;
            let (mut f, given) = match part {
                Part::Head(h, file) => {
                    let given = h.len() as u64;
                    mark(given);
                    let next = match file {
                        Some(f) => Part::Pack(f, given),
                        None => Part::End,
                    };
                    return Some((Ok(h), next));
                }
                Part::Pack(f, given) => (f, given),
                Part::End => return None,
            };
            let mut buf = vec![0u8; 256 * 1024];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let given = given + n as u64;
                    mark(given);
                    Some((Ok(bytes::Bytes::from(buf)), Part::Pack(f, given)))
                }
                Err(e) => Some((Err(e), Part::End)),
            }
        }
    })
}

pub(super) struct PostCtx {
    out: crate::session::Output,
    scanner: Option<crate::redact::StreamScanner>,
    redactor: crate::redact::Redactor,
    shown_url: String,
    slug: String,
    refs: Vec<String>,
    cancel: tokio_util::sync::CancellationToken,
    audit: std::sync::Arc<crate::session::AuditNote>,
    keep: std::sync::Arc<Option<Ingested>>,
    /// The whole body was handed to the connection.
    pub(super) sent_all: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// A streamed push (its client has no read timeout): where its body is. The answer counts
    /// only once the body is complete (a server may answer its headers at once); it must start
    /// within `idle` of that, and never pause longer.
    body_state: Option<tokio::sync::watch::Receiver<BodyState>>,
    pub(super) idle: Option<Duration>,
}

pub(super) enum Posted {
    /// The server's answer was forwarded to git (this many bytes).
    Answered(u64),
    /// 401 before anything was forwarded: the scanner, unused, for a retry.
    Unauthorized(crate::redact::StreamScanner),
}

/// One receive-pack POST, run to the end even if the client goes away.
pub(super) async fn post_task(
    post: reqwest::RequestBuilder,
    cx: PostCtx,
) -> Result<Posted, AgentError> {
    use crate::session::Outcome;
    let PostCtx {
        out,
        scanner,
        redactor,
        shown_url,
        slug,
        refs,
        cancel,
        audit,
        keep: _keep,
        sent_all,
        body_state,
        idle,
    } = cx;
    let result = async {
        let send = post.send();
        let answer = match (&body_state, idle) {
            (Some(st), Some(d)) => {
                tokio::pin!(send);
                let mut st = st.clone();
                tokio::select! {
                    r = &mut send => Some(r),
                    _ = async {
                        let complete = st.wait_for(|s| *s == BodyState::Complete).await.is_ok();
                        if complete {
                            tokio::time::sleep(d).await
                        } else {
                            // Cut: the request itself fails.
                            std::future::pending().await
                        }
                    } => None,
                }
            }
            _ => Some(send.await),
        };
        let Some(answer) = answer else {
            audit.set_outcome(Outcome::Unknown);
            return Err(AgentError::OutcomeUnknown(format!(
                "the push was sent to the server but it did not answer within {} s (GITGATE_IO_TIMEOUT_SECS); check the branch on the server before pushing again",
                idle.map(|d| d.as_secs()).unwrap_or_default()
            )));
        };
        let resp = answer.map_err(|e| {
            if e.is_connect() {
                audit.set_outcome(Outcome::NotSent);
                return http::send_error(&e, &shown_url);
            }
            if !sent_all.load(std::sync::atomic::Ordering::SeqCst) {
                // The server never had the whole pack, and receive-pack updates no ref without
                // it: nothing landed.
                audit.set_outcome(Outcome::NotSent);
                return AgentError::failed(
                    format!(
                        "gitgate: the connection to the server broke while the pack was being sent, so nothing was pushed ({})",
                        http::send_error(&e, &shown_url)
                    ),
                    128,
                );
            }
            audit.set_outcome(Outcome::Unknown);
            AgentError::OutcomeUnknown(format!(
                "the push was sent to the server but its answer never came ({}); check the branch on the server before pushing again",
                http::send_error(&e, &shown_url)
            ))
        })?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            audit.set_outcome(Outcome::NotSent);
            if let Some(sc) = scanner {
                return Ok(Posted::Unauthorized(sc));
            }
            return Err(status_error(resp.status(), &shown_url));
        }
        if let Some(st) = &body_state {
            // A streamed push: the server may answer its headers before the body is in. Nothing
            // of its answer counts (or reaches git) unless the body was then completed.
            let mut st = st.clone();
            let complete = st
                .wait_for(|s| *s != BodyState::Streaming)
                .await
                .is_ok_and(|s| *s == BodyState::Complete);
            if !complete {
                audit.set_outcome(Outcome::NotSent);
                return Err(AgentError::failed(
                    "gitgate: the push was cut before the end of its pack, so nothing was pushed",
                    128,
                ));
            }
        }
        // The server answered: its report-status (forwarded as is) says what happened.
        audit.set_outcome(Outcome::Landed);
        if !resp.status().is_success() {
            return Err(status_error(resp.status(), &shown_url));
        }
        let scanner = scanner.ok_or_else(|| AgentError::Internal("no scanner".into()))?;
        http::forward(resp, &out, scanner, false, &shown_url, idle)
            .await
            .map(Posted::Answered)
    }
    .await;
    if cancel.is_cancelled() && !sent_all.load(std::sync::atomic::Ordering::SeqCst) {
        crate::log::warn_redacted(
            &redactor,
            &format!(
                "push to {slug} ({}) was cut before the end of its pack when the client went away; nothing was pushed",
                refs.join(", ")
            ),
        );
    } else if cancel.is_cancelled() {
        crate::log::warn_redacted(
            &redactor,
            &format!(
                "push to {slug} ({}) was sent upstream before the client went away; upstream result: {}",
                refs.join(", "),
                match &result {
                    Ok(Posted::Answered(n)) => format!("answered ({n} bytes of report)"),
                    Ok(Posted::Unauthorized(_)) => "refused: 401 (not pushed)".to_owned(),
                    Err(e) => e.to_string(),
                }
            ),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";

    #[test]
    fn commands_and_caps() {
        let mut raw = pkt::encode(
            format!("{Z} {A} refs/heads/x\0report-status side-band-64k push-options agent=git/2\n")
                .as_bytes(),
        );
        raw.extend(pkt::encode(format!("{A} {Z} refs/heads/y\n").as_bytes()));
        raw.extend_from_slice(pkt::FLUSH);
        let c = parse_commands(&raw).unwrap();
        assert_eq!(c.updates.len(), 2);
        assert_eq!(c.updates[1].name, "refs/heads/y");
        assert!(c.caps.report_status && c.caps.push_options);
        assert_eq!(c.caps.sideband, Some(65520));
        assert!(parse_commands(b"0008bad\n0000").is_err());
        assert!(parse_commands(b"zzzz").is_err());
    }

    #[tokio::test]
    async fn the_body_is_marked_sent_only_once_its_last_byte_was_handed_over() {
        use futures_util::StreamExt as _;
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut spool = tempfile::NamedTempFile::new().unwrap();
        let pack = vec![7u8; 600 * 1024];
        std::io::Write::write_all(&mut spool, &pack).unwrap();
        let head = bytes::Bytes::from_static(b"0000");
        let total = 4 + pack.len() as u64;
        let open = || async { Some(tokio::fs::File::open(spool.path()).await.unwrap()) };

        let sent = std::sync::Arc::new(AtomicBool::new(false));
        let mut body = Box::pin(spooled_body(
            head.clone(),
            open().await,
            total,
            sent.clone(),
        ));
        // The commands and the first part of the pack: not all of it.
        assert_eq!(body.next().await.unwrap().unwrap(), head);
        assert!(body.next().await.unwrap().is_ok());
        assert!(!sent.load(Ordering::SeqCst));
        let mut all = Vec::new();
        while let Some(c) = body.next().await {
            all.extend_from_slice(&c.unwrap());
        }
        assert!(sent.load(Ordering::SeqCst));
        assert_eq!(all.len() as u64 + 256 * 1024, pack.len() as u64);

        // Commands only (a delete): the head is the whole body.
        let sent = std::sync::Arc::new(AtomicBool::new(false));
        let body = spooled_body(head.clone(), None, 4, sent.clone());
        assert_eq!(body.collect::<Vec<_>>().await.len(), 1);
        assert!(sent.load(Ordering::SeqCst));
    }

    #[test]
    fn report_status_in_sideband() {
        let u = vec![RefUpdate {
            name: "refs/heads/main".into(),
            old: Z.into(),
            new: A.into(),
        }];
        let why = vec!["gitgate: branch 'main' is protected (BLOCKED_BRANCHES)".to_string()];
        let plain = report(&u, &why, "ok", &Caps::default());
        assert_eq!(
            plain,
            b"000eunpack ok\n004eng refs/heads/main gitgate: branch 'main' is protected (BLOCKED_BRANCHES)\n0000"
        );
        let sb = report(
            &u,
            &why,
            "ok",
            &Caps {
                sideband: Some(65520),
                ..Caps::default()
            },
        );
        assert_eq!(&sb[4..5], b"\x01");
        assert_eq!(&sb[5..5 + plain.len()], &plain[..]);
        assert!(sb.ends_with(b"0000"));
    }
}
