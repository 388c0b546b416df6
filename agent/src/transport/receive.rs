//! push: receive-pack (protocol v0). The advertisement is fetched with the token and passed on;
//! git's commands are read and every one is checked before anything goes upstream; the pack is
//! spooled and parsed for ancestry. Refused → the pack is drained, upstream receive-pack is never
//! contacted and git gets a report-status with `ng` for every ref (all or nothing). Allowed → the
//! commands and the original pack bytes go upstream unchanged and the answer streams back.

use super::cache::Cache;
use super::http::{self, auth_header, status_error};
use super::pack::{self, Ingested, PackError};
use super::pkt::{self, Pkt};
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
    let auth = auth_header(&state.token).ok_or_else(AgentError::no_token)?;
    let shown_url = req.hello.url.clone();
    let body = super::upload::advertisement(
        client,
        up,
        "git-receive-pack",
        None,
        MAX_ADVERTISEMENT,
        &auth,
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
    let ingest_result: Option<Result<(Ingested, Vec<Ancestry>), PackError>> = if needs_pack {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        let state_dir = settings.state_dir.clone();
        let limit = settings.max_push_bytes;
        let up2 = up.clone();
        let token = state.token.clone();
        let cancel = req.cancel.clone();
        let lock = cache_lock.clone();
        let started = state.started_at;
        let check: Vec<(RefUpdate, bool)> = cmds
            .updates
            .iter()
            .zip(&reasons)
            .map(|(u, r)| (u.clone(), r.is_none() && u.needs_ancestry()))
            .collect();
        let mut job = tokio::task::spawn_blocking(move || {
            crate::housekeeping::sweep(&pack::spool_dir(&state_dir), started);
            let cache = Cache::new(&state_dir, &up2, token, cancel, lock, started);
            let ing = pack::ingest(rx, &pack::spool_dir(&state_dir), limit, &cache)?;
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
            Ok((ing, anc))
        });
        let mut tx = Some(tx);
        let mut stalled = None;
        let joined = loop {
            tokio::select! {
                r = &mut job => break r,
                chunk = input.next_chunk(), if tx.is_some() => match chunk {
                    Ok(Some(c)) => {
                        if let Some(t) = &tx {
                            if t.send(c).await.is_err() {
                                tx = None;
                            }
                        }
                    }
                    Ok(None) => tx = None,
                    Err(e) => {
                        stalled = Some(e);
                        tx = None;
                    }
                },
            }
        };
        if let Some(e) = stalled {
            return Err(e);
        }
        Some(joined.map_err(|e| AgentError::Internal(format!("pack task failed: {e}")))?)
    } else {
        None
    };

    let mut unpack = "ok".to_owned();
    let mut ingested = None;
    match ingest_result {
        None => {}
        Some(Ok((ing, anc))) => {
            for ((u, a), r) in cmds.updates.iter().zip(anc).zip(reasons.iter_mut()) {
                if r.is_none() && u.needs_ancestry() {
                    if let Err(d) = policy.check_ref_update(u, a) {
                        *r = Some(format!("gitgate: {d}"));
                    }
                }
            }
            ingested = Some(ing);
        }
        Some(Err(e)) => {
            if matches!(e, PackError::Truncated) {
                return Err(protocol_error(e));
            }
            unpack = format!("gitgate: {e}");
            for r in reasons.iter_mut() {
                r.get_or_insert_with(|| format!("gitgate: {e}"));
            }
        }
    }

    if reasons.iter().any(Option::is_some) {
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
    let mut head = cmd_raw;
    head.extend_from_slice(&opt_raw);
    let total = head.len() as u64 + spool_len;
    let file =
        match &spool_path {
            Some(p) => Some(tokio::fs::File::open(p).await.map_err(|e| {
                AgentError::Internal(format!("cannot reopen the spooled pack: {e}"))
            })?),
            None => None,
        };
    let body = futures_util::stream::unfold((Some(head), file), |(head, mut file)| async move {
        use tokio::io::AsyncReadExt as _;
        if let Some(h) = head {
            return Some((Ok::<_, std::io::Error>(bytes::Bytes::from(h)), (None, file)));
        }
        let f = file.as_mut()?;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), (None, file)))
            }
            Err(e) => Some((Err(e), (None, None))),
        }
    });
    let post = client
        .post(format!("{}/git-receive-pack", up.base))
        .header(AUTHORIZATION, auth)
        .header(CONTENT_TYPE, "application/x-git-receive-pack-request")
        .header(ACCEPT, "application/x-git-receive-pack-result")
        .header(CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(body));
    // From here on the push may land: it runs to the end even if the client goes away, and says
    // what happened.
    let out = req.out.clone();
    let scanner = state.redactor.scanner();
    let redactor = state.redactor.clone();
    let slug = up.slug.clone();
    let refs: Vec<String> = cmds.updates.iter().map(|u| u.name.clone()).collect();
    let cancel = req.cancel.clone();
    req.audit.begin_upstream_work();
    // From here on an interruption leaves the result unknown until the server answers.
    req.audit.set_outcome(crate::session::Outcome::Unknown);
    let audit = req.audit.clone();
    let for_cache = (
        settings.state_dir.clone(),
        up.clone(),
        state.token.clone(),
        req.cancel.clone(),
        cache_lock.clone(),
        state.started_at,
        state.redactor.clone(),
    );
    let task = tokio::spawn(async move {
        use crate::session::Outcome;
        let mut ingested = ingested; // the spool file lives until the upload is done
        let result = async {
            let resp = post.send().await.map_err(|e| {
                if e.is_connect() {
                    audit.set_outcome(Outcome::NotSent);
                    return http::send_error(&e, &shown_url);
                }
                audit.set_outcome(Outcome::Unknown);
                AgentError::OutcomeUnknown(format!(
                    "the push was sent to the server but its answer never came ({}); check the branch on the server before pushing again",
                    http::send_error(&e, &shown_url)
                ))
            })?;
            // The server answered: its report-status (forwarded as is) says what happened.
            audit.set_outcome(Outcome::Landed);
            if !resp.status().is_success() {
                return Err(status_error(resp.status(), &shown_url));
            }
            let n = http::forward(resp, &out, scanner, false, &shown_url).await?;
            // Upstream has the objects now: the cache takes the pack in (off the async workers,
            // after git has its answer).
            if let Some(ix) = ingested.as_mut().and_then(|i| i.indexed.take()) {
                let (state_dir, up, token, cancel, lock, started, redactor) = for_cache;
                tokio::task::spawn_blocking(move || {
                    let cache = Cache::new(&state_dir, &up, token, cancel, lock, started);
                    if let Err(e) = cache.import_pack(&ix.pack, &ix.index) {
                        crate::log::warn_redacted(
                            &redactor,
                            &format!("cache of {}: cannot take in the pushed pack: {e}", up.slug),
                        );
                    }
                    drop(ix);
                });
            }
            Ok(n)
        }
        .await;
        if cancel.is_cancelled() {
            crate::log::warn_redacted(
                &redactor,
                &format!(
                    "push to {slug} ({}) was sent upstream before the client went away; upstream result: {}",
                    refs.join(", "),
                    match &result {
                        Ok(n) => format!("answered ({n} bytes of report)"),
                        Err(e) => e.to_string(),
                    }
                ),
            );
        }
        result
    });
    task.await
        .map_err(|e| AgentError::Internal(format!("push task failed: {e}")))??;
    Ok(Exit::code(0))
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
