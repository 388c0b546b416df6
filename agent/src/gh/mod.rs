//! GitHub operations through octocrab (DESIGN §5). Placeholder until the gh module lands.

use crate::error::AgentError;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::Exit;
use std::path::Path;

pub async fn run(
    _state: &AgentState,
    _req: &mut Request,
    _root: &Path,
    _cwd: &Path,
) -> Result<Exit, AgentError> {
    Err(AgentError::failed(
        "gh support is not available in this build yet",
        1,
    ))
}
