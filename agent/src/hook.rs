//! The pre-push hook's question: would each of these ref updates be allowed? Advisory only: the
//! agent enforces policy on the real push; this lets a direct `/usr/bin/git push` fail early and
//! clearly. Args: `pre-push <remote> <url>`; stdin: git's pre-push lines.

use crate::error::AgentError;
use crate::server::STDIN_LIMIT;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_policy::parse_pre_push_line;
use gitgate_proto::Exit;

pub async fn run(state: &AgentState, req: &mut Request) -> Result<Exit, AgentError> {
    if req.hello.args.first().map(String::as_str) != Some("pre-push") {
        return Err(AgentError::Usage(
            "usage: gitgate-shim hook pre-push <remote> <url>".into(),
        ));
    }
    let input = req
        .stdin
        .read_all(STDIN_LIMIT)
        .await
        .map_err(AgentError::Usage)?;
    let text = String::from_utf8(input)
        .map_err(|_| AgentError::Usage("pre-push input is not UTF-8".into()))?;
    let policy = state.policy();
    if let Some(url) = req.hello.args.get(2) {
        crate::gitops::target_for_url(&state.settings(), &policy, url)?;
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let update = parse_pre_push_line(line)?;
        policy.check_update(&update)?;
    }
    Ok(Exit::code(0))
}
