//! Route a request to its handler. Nothing here runs a program or forwards argv anywhere.

use crate::error::AgentError;
use crate::gitops::{fetch, push, workspace};
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::{Exit, Tool};

pub async fn handle(state: &AgentState, mut req: Request) -> Result<Exit, AgentError> {
    match req.hello.tool {
        Tool::AgentStatus => crate::status::run(state, &req).await,
        Tool::Transport => crate::transport::run(state, &mut req).await,
        Tool::Hook => {
            let (_, _cwd) = workspace::check_cwd(&state.settings().workspace, &req.hello.cwd)?;
            crate::hook::run(state, &mut req).await
        }
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
        Tool::Git => {
            let (root, cwd) = workspace::check_cwd(&state.settings().workspace, &req.hello.cwd)?;
            let sub = req.hello.args.first().map(String::as_str).unwrap_or("");
            match sub {
                "push" => push::push(state, &req, &root, &cwd).await,
                "fetch" | "pull" | "ls-remote" => fetch::fetch_like(state, &req, &root, &cwd).await,
                "remote" if req.hello.args.iter().any(|a| a == "update") => {
                    fetch::fetch_like(state, &req, &root, &cwd).await
                }
                "clone" => fetch::clone(state, &req).await,
                other => Err(AgentError::Usage(format!(
                    "'git {other}' is not a network command; the agent only runs push, fetch, pull, clone, ls-remote and remote update"
                ))),
            }
        }
    }
}
