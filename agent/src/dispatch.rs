//! Route a request to its handler. Nothing here runs a program or forwards argv anywhere.

use crate::error::AgentError;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::{Exit, Tool};

pub async fn handle(state: &AgentState, mut req: Request) -> Result<Exit, AgentError> {
    match req.hello.tool {
        Tool::AgentStatus => crate::status::run(state, &req).await,
        Tool::Transport => crate::transport::run(state, &mut req).await,
        // The hook's question carries everything it needs: the workspace is not read.
        Tool::Hook => crate::hook::run(state, &mut req).await,
    }
}
