//! `git push`: the policy decides first; then the agent pushes the resolved commits from an
//! agent-owned shadow repository (whose object store reads the workspace's objects) to the pinned
//! URL, re-checking every update in `push_negotiation` and treating any server-side rejection as a
//! failure (DESIGN §4).

use super::workspace::Workspace;
use super::{callbacks, git_error, missing_remote, target_for_url, Target};
use crate::error::AgentError;
use crate::session::{Output, Request};
use crate::state::AgentState;
use gitgate_policy::{parse_push_args, LocalRepo, PushArgs, RefUpdate, RemoteArg, Source};
use gitgate_proto::Exit;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// One update, resolved to an object id (None = delete).
#[derive(Debug, Clone)]
struct Planned {
    update: RefUpdate,
    /// How git shows the source (`claude/x`, `HEAD`, an expression).
    src_label: String,
    new: Option<git2::Oid>,
    /// The local branch pushed, if the source is one (for `-u`).
    local_branch: Option<String>,
}

fn short(refname: &str) -> &str {
    refname
        .strip_prefix("refs/heads/")
        .or_else(|| refname.strip_prefix("refs/tags/"))
        .unwrap_or(refname)
}

fn abbrev(oid: git2::Oid) -> String {
    oid.to_string()[..7].to_owned()
}

/// Removes the shadow repository however the push ends.
struct ShadowDir(PathBuf);

impl Drop for ShadowDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_shadow(
    state_dir: &Path,
    ws: &Workspace,
    target: &Target,
    planned: &[Planned],
) -> Result<(ShadowDir, git2::Repository), AgentError> {
    let base = state_dir.join("shadow");
    std::fs::create_dir_all(&base)
        .map_err(|e| AgentError::Internal(format!("cannot create {}: {e}", base.display())))?;
    let dir = tempfile::Builder::new()
        .prefix("push-")
        .tempdir_in(&base)
        .map_err(|e| AgentError::Internal(format!("cannot create a shadow repository: {e}")))?
        .keep();
    let guard = ShadowDir(dir.clone());
    let repo = git2::Repository::init_bare(&dir)
        .map_err(|e| AgentError::Internal(format!("shadow repository: {}", e.message())))?;
    // Blobs over 1 MiB are sent without a delta search (git does the same above
    // core.bigFileThreshold): deltas between big binaries cost seconds and save little; source
    // files stay well under it. libgit2 1.9 reads its big-file threshold from the key
    // `pack.deltaCacheSize` (pack-objects.c), which also caps the delta cache: fine at 1 MiB.
    if let Ok(mut cfg) = repo.config() {
        let _ = cfg.set_i64("pack.deltaCacheSize", 1024 * 1024);
    }
    // Objects come from the workspace (read-only) and, for negotiation, the mirror.
    let mut alternates = ws.objects_dir().display().to_string();
    if target.mirror.join("objects").is_dir() {
        alternates.push('\n');
        alternates.push_str(&target.mirror.join("objects").display().to_string());
    }
    alternates.push('\n');
    std::fs::write(dir.join("objects/info/alternates"), alternates)
        .map_err(|e| AgentError::Internal(format!("shadow alternates: {e}")))?;
    // Re-open so libgit2 picks up the alternates.
    let repo = {
        drop(repo);
        git2::Repository::open_bare(&dir)
            .map_err(|e| AgentError::Internal(format!("shadow repository: {}", e.message())))?
    };
    for (i, p) in planned.iter().enumerate() {
        if let Some(oid) = p.new {
            repo.reference(
                &format!("refs/gitgate/push/{i}"),
                oid,
                true,
                "gitgate push source",
            )
            .map_err(|e| {
                AgentError::failed(
                    format!("error: cannot read object {oid}: {}", e.message()),
                    128,
                )
            })?;
        }
    }
    Ok((guard, repo))
}

#[derive(Default)]
struct PushReport {
    /// dst refname -> remote's old oid (from negotiation).
    old: HashMap<String, git2::Oid>,
    /// dst refname -> rejection message from the server.
    rejected: HashMap<String, String>,
    /// A negotiation refusal (our own re-check).
    refused: Option<String>,
}

fn status_line(flag: char, summary: &str, from: &str, to: &str, note: &str) -> String {
    let mut line = format!(" {flag} {summary:<17} ");
    if from.is_empty() {
        line.push_str(to);
    } else {
        line.push_str(&format!("{from} -> {to}"));
    }
    if !note.is_empty() {
        line.push_str(&format!(" ({note})"));
    }
    line.push('\n');
    line
}

const NON_FF_HINT: &str =
    "hint: Updates were rejected because the tip of your current branch is behind\n\
hint: its remote counterpart. If you want to integrate the remote changes,\n\
hint: use 'git pull' before pushing again.\n\
hint: See the 'Note about fast-forwards' in 'git push --help' for details.\n";

const FETCH_FIRST_HINT: &str =
    "hint: Updates were rejected because the remote contains work that you do not\n\
hint: have locally. This is usually caused by another repository pushing to\n\
hint: the same ref. If you want to integrate the remote changes, use\n\
hint: 'git pull' before pushing again.\n\
hint: See the 'Note about fast-forwards' in 'git push --help' for details.\n";

/// The blocking part: negotiate, push, report. Returns the exit code (0 ok, 1 rejected).
fn push_blocking(
    shadow: &git2::Repository,
    target: &Target,
    planned: &[Planned],
    token: &std::sync::Arc<crate::secret::Token>,
    cancel: &CancellationToken,
    out: &Output,
    dry_run: bool,
    audit: &crate::session::AuditNote,
) -> Result<i32, AgentError> {
    let report = Mutex::new(PushReport::default());
    // Set once negotiation has passed: from then on objects and ref updates are on their way to
    // the server, and a cancellation can no longer promise that nothing changed.
    let upload_started = std::sync::atomic::AtomicBool::new(false);
    // Server messages ("remote: ..."), as git shows them. Packets can split a line (and a secret
    // in it): buffer until the end of the line so the prefix and the redactor see whole lines.
    let sideband = Mutex::new(Vec::<u8>::new());
    let emit_lines = |pending: &mut Vec<u8>, all: bool| {
        while let Some(end) = pending.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            if !text.is_empty() {
                out.stderr_blocking(format!("remote: {text}\n"));
            }
        }
        if all && !pending.is_empty() {
            out.stderr_blocking(format!("remote: {}\n", String::from_utf8_lossy(pending)));
            pending.clear();
        }
    };
    let expected: HashMap<String, (Option<git2::Oid>, bool)> = planned
        .iter()
        .map(|p| (p.update.dst.clone(), (p.new, p.update.force)))
        .collect();
    let refspecs: Vec<String> = planned
        .iter()
        .enumerate()
        .map(|(i, p)| match p.new {
            Some(_) => format!(
                "{}refs/gitgate/push/{i}:{}",
                if p.update.force { "+" } else { "" },
                p.update.dst
            ),
            None => format!(":{}", p.update.dst),
        })
        .collect();

    let mut remote = shadow
        .remote_anonymous(&target.url)
        .map_err(|e| git_error(&e, &target.url, cancel))?;

    if dry_run {
        let cb = callbacks(token, &target.url, cancel);
        let conn = remote
            .connect_auth(git2::Direction::Push, Some(cb), None)
            .map_err(|e| git_error(&e, &target.url, cancel))?;
        let mut old = HashMap::new();
        for head in conn
            .list()
            .map_err(|e| git_error(&e, &target.url, cancel))?
        {
            old.insert(head.name().to_owned(), head.oid());
        }
        drop(conn);
        let mut text = format!("To {}\n", target.url);
        for p in planned {
            text.push_str(&describe(p, old.get(&p.update.dst).copied(), shadow));
        }
        out.stderr_blocking(text);
        return Ok(0);
    }

    let mut cb = callbacks(token, &target.url, cancel);
    cb.push_negotiation(|updates| {
        let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
        if cancel.is_cancelled() {
            return Err(git2::Error::from_str("cancelled"));
        }
        for u in updates {
            let Some(dst) = u.dst_refname() else {
                rep.refused = Some("update with a non-UTF-8 ref name".into());
                return Err(git2::Error::from_str("refused"));
            };
            let Some((want, force)) = expected.get(dst) else {
                rep.refused = Some(format!("unexpected ref update '{dst}'"));
                return Err(git2::Error::from_str("refused"));
            };
            let new = (!u.dst().is_zero()).then(|| u.dst());
            if new != *want {
                rep.refused = Some(format!(
                    "update of '{dst}' does not match what the policy allowed"
                ));
                return Err(git2::Error::from_str("refused"));
            }
            let old = u.src();
            rep.old.insert(dst.to_owned(), old);
            // Fast-forward check of our own, before any object is sent.
            if let (Some(new), false, false) = (new, *force, old.is_zero()) {
                if new != old {
                    let ff = shadow.graph_descendant_of(new, old);
                    match ff {
                        Ok(true) => {}
                        Ok(false) => {
                            rep.rejected
                                .insert(dst.to_owned(), "non-fast-forward".into());
                            return Err(git2::Error::from_str("non-fast-forward"));
                        }
                        Err(_) => {
                            rep.rejected.insert(dst.to_owned(), "fetch first".into());
                            return Err(git2::Error::from_str("fetch first"));
                        }
                    }
                }
            }
        }
        upload_started.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    });
    cb.push_update_reference(|refname, status| {
        if let Some(msg) = status {
            let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
            rep.rejected.insert(refname.to_owned(), msg.to_owned());
        }
        Ok(())
    });
    cb.sideband_progress(|data| {
        let mut pending = sideband.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(data);
        emit_lines(&mut pending, false);
        !cancel.is_cancelled()
    });
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(cb)
        .follow_redirects(git2::RemoteRedirect::None)
        // 0 = one pack-building thread per core (libgit2's default is a single thread).
        .packbuilder_parallelism(0);
    let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
    let result = remote.push(&specs, Some(&mut opts));
    drop(opts);
    emit_lines(
        &mut sideband.lock().unwrap_or_else(|e| e.into_inner()),
        true,
    );
    let rep = report.into_inner().unwrap_or_else(|e| e.into_inner());
    let started = upload_started.load(std::sync::atomic::Ordering::SeqCst);
    if result.is_err() && cancel.is_cancelled() {
        if started {
            audit.set_outcome(crate::session::Outcome::Unknown);
            return Err(AgentError::OutcomeUnknown(format!(
                "the push to {} was interrupted after its upload began; it may have landed (check with 'git ls-remote')",
                target.url
            )));
        }
        audit.set_outcome(crate::session::Outcome::NotSent);
        return Err(AgentError::Cancelled);
    }
    audit.set_outcome(match (&result, started) {
        (Ok(()), true) if rep.rejected.is_empty() => crate::session::Outcome::Landed,
        (_, false) => crate::session::Outcome::NotSent,
        // The server answered: it applied what it did not reject (reported per ref below).
        _ => crate::session::Outcome::Landed,
    });

    if let Some(why) = rep.refused {
        return Err(AgentError::denied(format!(
            "push refused during negotiation: {why}"
        )));
    }
    if let Err(e) = &result {
        if rep.rejected.is_empty() {
            let msg = e.message();
            // libgit2 refused before sending anything: every update is rejected, as git reports it.
            let rejected = if msg.contains("not present locally") {
                Some(("fetch first", FETCH_FIRST_HINT))
            } else if e.code() == git2::ErrorCode::NotFastForward || msg.contains("non-fastforward")
            {
                Some(("non-fast-forward", NON_FF_HINT))
            } else {
                None
            };
            if let Some((note, hint)) = rejected {
                let mut text = format!("To {}\n", target.url);
                for p in planned {
                    text.push_str(&status_line(
                        '!',
                        "[rejected]",
                        &p.src_label,
                        short(&p.update.dst),
                        note,
                    ));
                }
                text.push_str(&format!(
                    "error: failed to push some refs to '{}'\n{hint}",
                    target.url
                ));
                out.stderr_blocking(text);
                return Ok(1);
            }
            return Err(git_error(e, &target.url, cancel));
        }
    }

    let mut text = format!("To {}\n", target.url);
    let mut up_to_date = true;
    let mut hint = "";
    for p in planned {
        let dst = &p.update.dst;
        if let Some(reason) = rep.rejected.get(dst) {
            up_to_date = false;
            let (summary, note) = match reason.as_str() {
                "non-fast-forward" => {
                    hint = NON_FF_HINT;
                    ("[rejected]", reason.clone())
                }
                "fetch first" => {
                    hint = FETCH_FIRST_HINT;
                    ("[rejected]", reason.clone())
                }
                other => ("[remote rejected]", other.to_owned()),
            };
            text.push_str(&status_line('!', summary, &p.src_label, short(dst), &note));
            continue;
        }
        let old = rep.old.get(dst).copied().filter(|o| !o.is_zero());
        if old != p.new {
            up_to_date = false;
        }
        text.push_str(&describe(p, old, shadow));
    }
    if !rep.rejected.is_empty() {
        text.push_str(&format!(
            "error: failed to push some refs to '{}'\n",
            target.url
        ));
        text.push_str(hint);
        out.stderr_blocking(text);
        return Ok(1);
    }
    if up_to_date {
        out.stderr_blocking("Everything up-to-date\n");
    } else {
        out.stderr_blocking(text);
    }
    Ok(0)
}

/// One status line for a successful (or would-be) update.
fn describe(p: &Planned, old: Option<git2::Oid>, repo: &git2::Repository) -> String {
    let dst = short(&p.update.dst);
    match (old, p.new) {
        (_, None) => status_line('-', "[deleted]", "", dst, ""),
        (None, Some(_)) => {
            let kind = if p.update.dst.starts_with("refs/tags/") {
                "[new tag]"
            } else {
                "[new branch]"
            };
            status_line('*', kind, &p.src_label, dst, "")
        }
        (Some(o), Some(n)) if o == n => status_line('=', "[up to date]", &p.src_label, dst, ""),
        (Some(o), Some(n)) => {
            let ff = repo.graph_descendant_of(n, o).unwrap_or(false);
            if ff {
                status_line(
                    ' ',
                    &format!("{}..{}", abbrev(o), abbrev(n)),
                    &p.src_label,
                    dst,
                    "",
                )
            } else {
                status_line(
                    '+',
                    &format!("{}...{}", abbrev(o), abbrev(n)),
                    &p.src_label,
                    dst,
                    "forced update",
                )
            }
        }
    }
}

fn src_label(u: &RefUpdate) -> String {
    match &u.src {
        Some(Source::Ref(r)) => short(r).to_owned(),
        Some(Source::Head) => "HEAD".into(),
        Some(Source::Expr(e)) => e.clone(),
        None => String::new(),
    }
}

pub async fn push(
    state: &AgentState,
    req: &Request,
    ws_root: &Path,
    cwd: &Path,
) -> Result<Exit, AgentError> {
    let settings = state.settings();
    let policy = state.policy();
    let args: PushArgs = parse_push_args(&req.hello.args[1..])?;

    let ws = Workspace::open(ws_root, cwd)?;
    let (remote_name, url_as_written) = match &args.remote {
        RemoteArg::Url(u) => (None, u.clone()),
        RemoteArg::Name(n) => (
            Some(n.clone()),
            ws.remote_url(n).ok_or_else(|| missing_remote(n))?,
        ),
        RemoteArg::Default => {
            let n = ws.default_remote();
            let url = ws.remote_url(&n).ok_or_else(|| missing_remote(&n))?;
            (Some(n), url)
        }
    };
    let target = target_for_url(&settings, &policy, &url_as_written)?;
    req.audit.set_repo(&target.slug);
    let updates = policy.check_push(&args, &ws)?;
    if updates.is_empty() {
        req.out.stderr("Everything up-to-date\n").await;
        return Ok(Exit::code(0));
    }
    let mut planned = Vec::with_capacity(updates.len());
    for u in updates {
        let new = match &u.src {
            Some(src) => Some(ws.resolve(src)?),
            None => None,
        };
        let local_branch = match &u.src {
            Some(Source::Ref(r)) => r.strip_prefix("refs/heads/").map(str::to_owned),
            Some(Source::Head) => ws.current_branch(),
            _ => None,
        };
        planned.push(Planned {
            src_label: src_label(&u),
            update: u,
            new,
            local_branch,
        });
    }

    // The guard moves into the blocking work below: the lock is held until the push really ends,
    // even if this request is cancelled or times out meanwhile.
    let held = state.repo_lock(&target.slug).lock_owned().await;
    if req.cancel.is_cancelled() {
        return Err(AgentError::Cancelled);
    }
    let (guard, shadow) = make_shadow(&settings.state_dir, &ws, &target, &planned)?;
    drop(ws);
    let token = state.token.clone();
    let cancel = req.cancel.clone();
    let out = req.out.clone();
    let dry_run = args.dry_run;
    let (target2, planned2) = (target.clone(), planned.clone());
    let audit = req.audit.clone();
    req.audit.begin_upstream_work();
    let code = tokio::task::spawn_blocking(move || {
        let r = push_blocking(
            &shadow, &target2, &planned2, &token, &cancel, &out, dry_run, &audit,
        );
        drop(shadow);
        drop(guard);
        drop(held);
        r
    })
    .await
    .map_err(|e| AgentError::Internal(format!("push task failed: {e}")))??;

    let mut exit = Exit::code(code);
    if code == 0 && !dry_run {
        if let Some(remote) = &remote_name {
            for p in &planned {
                let Some(branch) = p.update.dst.strip_prefix("refs/heads/") else {
                    continue;
                };
                let tracking = format!("refs/remotes/{remote}/{branch}");
                exit.local_git.push(match p.new {
                    Some(oid) => vec!["update-ref".into(), tracking, oid.to_string()],
                    None => vec!["update-ref".into(), "-d".into(), tracking],
                });
                if let (true, Some(_), Some(local)) = (args.set_upstream, p.new, &p.local_branch) {
                    exit.local_git.push(vec![
                        "config".into(),
                        format!("branch.{local}.remote"),
                        remote.clone(),
                    ]);
                    exit.local_git.push(vec![
                        "config".into(),
                        format!("branch.{local}.merge"),
                        p.update.dst.clone(),
                    ]);
                    req.out
                        .stdout(format!(
                            "branch '{local}' set up to track '{remote}/{branch}'.\n"
                        ))
                        .await;
                }
            }
        }
    }
    Ok(exit)
}
