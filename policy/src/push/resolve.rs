//! Turning parsed `git push` arguments into the ref updates git would make.
//!
//! Git resolves a destination partly against the *remote's* refs, which the policy cannot see. The agent
//! pushes exactly the fully-qualified destinations computed here, so where git would guess we decide,
//! and always towards the narrower reading: an unqualified destination is a branch unless the source is
//! a tag.

use super::{LocalRepo, PushArgs, RefUpdate, Refspec, Source};
use crate::denial::{quote, Denial};

/// Resolve `args` against the local repository into ref updates, in git's order (refspecs, then tags).
///
/// `--follow-tags` adds nothing here: which annotated tags it pushes depends on the commit graph, so the
/// agent computes them and must check each with [`crate::Policy::check_update`].
pub fn resolve(args: &PushArgs, repo: &dyn LocalRepo) -> Result<Vec<RefUpdate>, Denial> {
    // Same incompatibilities as git, with git's wording.
    if args.delete && args.all_branches {
        return Err(Denial::new(
            "git push: options '--delete' and '--all/--branches' cannot be used together",
        ));
    }
    if args.delete && args.tags {
        return Err(Denial::new(
            "git push: options '--delete' and '--tags' cannot be used together",
        ));
    }
    if args.all_branches && args.tags {
        return Err(Denial::new(
            "git push: options '--tags' and '--all/--branches' cannot be used together",
        ));
    }
    if args.all_branches && !args.refspecs.is_empty() {
        return Err(Denial::new(
            "git push: --all can't be combined with refspecs",
        ));
    }

    let mut updates = Vec::new();
    if args.delete {
        if args.refspecs.is_empty() {
            return Err(Denial::new(
                "git push: --delete doesn't make sense without any refs; name the branch to delete",
            ));
        }
        for rs in &args.refspecs {
            updates.push(delete_update(rs)?);
        }
    } else if args.all_branches {
        for b in repo.local_branches() {
            updates.push(RefUpdate {
                src: Some(Source::Ref(format!("refs/heads/{b}"))),
                dst: format!("refs/heads/{b}"),
                force: args.force,
            });
        }
    } else {
        for rs in &args.refspecs {
            updates.push(refspec_update(rs, args.force, repo)?);
        }
        if args.tags {
            for t in repo.local_tags() {
                updates.push(RefUpdate {
                    src: Some(Source::Ref(format!("refs/tags/{t}"))),
                    dst: format!("refs/tags/{t}"),
                    force: args.force,
                });
            }
        } else if args.refspecs.is_empty() {
            // No refspec: the current branch to the branch of the same name (push.default=simple; the
            // workspace's push.default is configuration the agent does not read).
            let cur = current_branch(repo, "git push")?;
            updates.push(RefUpdate {
                src: Some(Source::Ref(format!("refs/heads/{cur}"))),
                dst: format!("refs/heads/{cur}"),
                force: args.force,
            });
        }
    }
    dedupe(updates)
}

fn current_branch(repo: &dyn LocalRepo, what: &str) -> Result<String, Denial> {
    repo.current_branch().ok_or_else(|| {
        Denial::new(format!(
            "{what}: HEAD is detached (not on a branch); name the destination, \
             e.g. git push origin HEAD:refs/heads/<branch>"
        ))
    })
}

/// `--delete name` or `:name`.
fn delete_update(rs: &Refspec) -> Result<RefUpdate, Denial> {
    let name = match (rs.force, rs.src.as_deref(), rs.dst.as_deref()) {
        // As git: `--delete :x` and `--delete +x` are refused too.
        (false, Some(n), None) => n,
        _ => {
            return Err(Denial::new(
                "git push: --delete only accepts plain target ref names",
            ))
        }
    };
    Ok(RefUpdate {
        src: None,
        dst: qualify_dst(name, false),
        force: false,
    })
}

fn refspec_update(
    rs: &Refspec,
    force_all: bool,
    repo: &dyn LocalRepo,
) -> Result<RefUpdate, Denial> {
    let force = force_all || rs.force;
    let src = match rs.src.as_deref() {
        // `:dst`: delete.
        None => {
            let dst = rs.dst.as_deref().unwrap_or_default();
            return Ok(RefUpdate {
                src: None,
                dst: qualify_dst(dst, false),
                force: false,
            });
        }
        Some(s) => resolve_src(s, repo)?,
    };
    let dst = match (rs.dst.as_deref(), &src) {
        (Some(d), _) => qualify_dst(
            d,
            matches!(&src, Source::Ref(r) if r.starts_with("refs/tags/")),
        ),
        // `HEAD`: the current branch, to the branch of the same name.
        (None, Source::Head) => format!("refs/heads/{}", current_branch(repo, "git push HEAD")?),
        // `B`: the local ref to the remote ref of the same name.
        (None, Source::Ref(full)) => full.clone(),
        // Git refuses this too ("invalid refspec"): an expression has no name to reuse.
        (None, Source::Expr(e)) => {
            return Err(Denial::new(format!(
            "git push: cannot tell which remote branch '{e}' should update; name the destination, \
                 e.g. git push origin '{e}:refs/heads/<branch>'",
            e = quote(e)
        )))
        }
    };
    Ok(RefUpdate {
        src: Some(src),
        dst,
        force,
    })
}

/// A refspec source, matched against local branches and tags the way git's `count_refspec_match`
/// does: `x` may be `refs/x`, `refs/tags/x` or `refs/heads/x`; two matches are ambiguous; no match
/// means a commit expression for the agent to resolve.
fn resolve_src(s: &str, repo: &dyn LocalRepo) -> Result<Source, Denial> {
    if s == "HEAD" || s == "@" {
        return Ok(Source::Head);
    }
    // `:` in a source names a tree path (`HEAD:dir`), `:/text` a search: never a commit to push.
    if s.contains(':') {
        return Err(Denial::new(format!(
            "git push: source '{}' refused: it names a path or a search, not a commit",
            quote(s)
        )));
    }
    let mut matches: Vec<String> = Vec::new();
    let mut add = |full: String| {
        if !matches.contains(&full) {
            matches.push(full);
        }
    };
    if let Some(b) = s.strip_prefix("refs/heads/") {
        if repo.has_branch(b) {
            add(s.to_string());
        }
    }
    if let Some(t) = s.strip_prefix("refs/tags/") {
        if repo.has_tag(t) {
            add(s.to_string());
        }
    }
    if let Some(b) = s.strip_prefix("heads/") {
        if repo.has_branch(b) {
            add(format!("refs/{s}"));
        }
    }
    if let Some(t) = s.strip_prefix("tags/") {
        if repo.has_tag(t) {
            add(format!("refs/{s}"));
        }
    }
    if repo.has_tag(s) {
        add(format!("refs/tags/{s}"));
    }
    if repo.has_branch(s) {
        add(format!("refs/heads/{s}"));
    }
    match matches.len() {
        1 => Ok(Source::Ref(matches.remove(0))),
        0 if s.starts_with("refs/heads/") || s.starts_with("refs/tags/") => {
            Err(Denial::new(format!(
                "git push: src refspec '{}' does not match any local branch or tag",
                quote(s)
            )))
        }
        0 => {
            if is_plausible_expr(s) {
                Ok(Source::Expr(s.to_string()))
            } else {
                Err(Denial::new(format!(
                    "git push: src refspec '{}' does not match any local branch or tag, \
                     and is not a commit name",
                    quote(s)
                )))
            }
        }
        _ => Err(Denial::new(format!(
            "git push: src refspec '{}' is ambiguous (it matches {}); use the full name",
            quote(s),
            matches.join(" and ")
        ))),
    }
}

/// Characters of revision expressions (`abc123`, `HEAD~2`, `main^`, `HEAD@{1}`, `origin/main`): enough
/// for what a push source needs, and nothing that could be read as an option or a path search.
fn is_plausible_expr(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.len() <= 1024
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '_' | '/' | '-' | '~' | '^' | '@' | '{' | '}')
        })
}

/// Full remote ref for a written destination: `refs/…` as is, `heads/x` and `tags/x` under `refs/`,
/// and an unqualified name a branch (a tag when the source is a tag, as git does).
fn qualify_dst(d: &str, src_is_tag: bool) -> String {
    if d.starts_with("refs/") {
        d.to_string()
    } else if d.starts_with("heads/") || d.starts_with("tags/") {
        format!("refs/{d}")
    } else if src_is_tag {
        format!("refs/tags/{d}")
    } else {
        format!("refs/heads/{d}")
    }
}

/// Drop exact duplicates (`git push origin x x`, `--tags` with a tag named too); two different updates of
/// one remote ref are refused, as git does.
fn dedupe(updates: Vec<RefUpdate>) -> Result<Vec<RefUpdate>, Denial> {
    let mut out: Vec<RefUpdate> = Vec::with_capacity(updates.len());
    for u in updates {
        match out.iter_mut().find(|o| o.dst == u.dst) {
            Some(o) if o.src == u.src => o.force |= u.force,
            Some(_) => {
                return Err(Denial::new(format!(
                    "git push: more than one update for '{}' refused; push it once",
                    quote(&u.dst)
                )))
            }
            None => out.push(u),
        }
    }
    Ok(out)
}

/// A line of the pre-push hook's stdin: `<local ref> <local oid> <remote ref> <remote oid>`.
/// An all-zero local oid is a delete. Whether the push is forced cannot be known here: `force` is false
/// (the agent re-checks fast-forwards itself).
pub fn parse_pre_push_line(line: &str) -> Result<RefUpdate, Denial> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let bad = |why: &str| {
        Denial::new(format!(
            "pre-push: malformed line '{}': {why} (expected '<local ref> <local oid> <remote ref> <remote oid>')",
            quote(line)
        ))
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let [local_ref, local_oid, remote_ref, remote_oid] = fields[..] else {
        return Err(bad("not 4 fields"));
    };
    if !is_oid(local_oid) || !is_oid(remote_oid) {
        return Err(bad("not an object id"));
    }
    if !remote_ref.starts_with("refs/") {
        return Err(bad("remote ref is not a full ref name"));
    }
    let src = if local_oid.bytes().all(|b| b == b'0') {
        None
    } else if local_ref.starts_with("refs/") {
        Some(Source::Ref(local_ref.to_string()))
    } else if local_ref.is_empty() {
        return Err(bad("empty local ref"));
    } else {
        // `HEAD`, `HEAD~1`, a sha: the oid git already resolved is the exact source.
        Some(Source::Expr(local_oid.to_string()))
    };
    Ok(RefUpdate {
        src,
        dst: remote_ref.to_string(),
        force: false,
    })
}

/// SHA-1 (40) or SHA-256 (64) hex object id.
fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
