//! The pre-push hook's question: would each of these ref updates be allowed? Advisory only: the
//! agent enforces the policy on the real push (transport/receive.rs); this lets a denied push fail
//! before a pack is built, with the same one-line reason. The workspace is not read: the hook
//! sends git's pre-push lines with the ancestry it computed locally appended.
//! Args: `pre-push <remote> <url>`; stdin: `<local ref> <local oid> <remote ref> <remote oid> <ff|nonff|unknown|na>`.

use crate::error::AgentError;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_policy::wire::{Ancestry, RefUpdate};
use gitgate_proto::Exit;

use crate::server::STDIN_LIMIT as LIMIT;

fn parse_line(line: &str) -> Result<(RefUpdate, Ancestry), AgentError> {
    let f: Vec<&str> = line.split(' ').collect();
    let [_local_ref, local_oid, remote_ref, remote_oid, rest @ ..] = f.as_slice() else {
        return Err(AgentError::Usage(
            "gitgate: malformed pre-push line (expected '<local ref> <local oid> <remote ref> <remote oid>')".into(),
        ));
    };
    let ancestry = match rest.first().copied() {
        Some("nonff") => Ancestry::NotFastForward,
        Some("na") => Ancestry::NotApplicable,
        // Not known locally: the agent decides on the real push.
        _ => Ancestry::FastForward,
    };
    Ok((
        RefUpdate {
            name: (*remote_ref).to_owned(),
            old: (*remote_oid).to_owned(),
            new: (*local_oid).to_owned(),
        },
        ancestry,
    ))
}

pub async fn run(state: &AgentState, req: &mut Request) -> Result<Exit, AgentError> {
    if req.hello.args.first().map(String::as_str) != Some("pre-push") {
        return Err(AgentError::Usage(
            "usage: gitgate-shim hook pre-push <remote> <url>".into(),
        ));
    }
    let input = req.stdin.read_all(LIMIT).await.map_err(AgentError::Usage)?;
    let text = String::from_utf8(input)
        .map_err(|_| AgentError::Usage("pre-push input is not UTF-8".into()))?;
    let policy = state.policy();
    if let Some(url) = req.hello.args.get(2).filter(|u| !u.is_empty()) {
        let up = crate::transport::upstream_for(&state.settings(), &policy, url, true)?;
        req.audit.set_repo(&up.slug);
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (update, ancestry) = parse_line(line)?;
        policy
            .check_ref_update(&update, ancestry)
            .map_err(|d| AgentError::denied(format!("gitgate: {d}")))?;
    }
    Ok(Exit::code(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let (u, anc) = parse_line(&format!("refs/heads/x {a} refs/heads/main {z} na")).unwrap();
        assert_eq!(u.name, "refs/heads/main");
        assert!(u.is_create());
        assert_eq!(anc, Ancestry::NotApplicable);
        let (_, anc) = parse_line(&format!("refs/heads/x {a} refs/heads/y {a} nonff")).unwrap();
        assert_eq!(anc, Ancestry::NotFastForward);
        let (_, anc) = parse_line(&format!("refs/heads/x {a} refs/heads/y {a}")).unwrap();
        assert_eq!(anc, Ancestry::FastForward);
        assert!(parse_line("garbage").is_err());
    }
}
