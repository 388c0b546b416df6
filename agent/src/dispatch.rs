//! Route a request to its handler. Nothing here runs a program or forwards argv anywhere.

use crate::error::AgentError;
use crate::gitops::workspace;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::{Exit, Tool};

pub async fn handle(state: &AgentState, mut req: Request) -> Result<Exit, AgentError> {
    match req.hello.tool {
        Tool::AgentStatus => crate::status::run(state, &req).await,
        Tool::Transport => crate::transport::run(state, &mut req).await,
        // The hook's question carries everything it needs: the workspace is not read.
        Tool::Hook => crate::hook::run(state, &mut req).await,
        Tool::Gh => {
            let (root, cwd) = workspace::check_cwd(&state.settings().workspace, &req.hello.cwd)?;
            // API calls do not watch the cancellation themselves: stop them here rather than
            // let a cancelled command go on to its next write.
            let cancel = req.cancel.clone();
            tokio::select! {
                r = crate::gh::run(state, &mut req, &root, &cwd) => r,
                _ = cancel.cancelled() => Err(AgentError::OutcomeUnknown(
                    "gh was interrupted; an API request already sent to GitHub may have completed".into(),
                )),
            }
        }
    }
}
