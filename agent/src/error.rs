//! How a request can fail, and what the client sees for each: one line starting `gitgate: `
//! and a distinct exit code.

use gitgate_proto::{exit, ErrorMsg};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Refused by policy (or by a safety check that works like policy): nothing was changed.
    #[error("{0}")]
    Denied(String),
    /// The operation ran and failed the way git/gh would (auth failure, network, bad ref…).
    #[error("{message}")]
    Failed { message: String, code: i32 },
    /// The request itself is malformed (unknown subcommand, bad arguments).
    #[error("{0}")]
    Usage(String),
    #[error("operation cancelled (client interrupted or disconnected); nothing was changed")]
    Cancelled,
    #[error("operation timed out after {0} s (GITGATE_OP_TIMEOUT_SECS); nothing was changed")]
    Timeout(u64),
    #[error("the agent is shutting down (SIGTERM); nothing was changed")]
    ShuttingDown,
    /// Interrupted after something was sent upstream: the agent cannot tell whether it landed.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A forwarded stream carried the token and was stopped (redact.rs).
    #[error(transparent)]
    TokenInStream(#[from] crate::redact::TokenInStream),
}

/// What every network operation answers when no token is loaded (checked before any connection).
pub const NO_TOKEN: &str =
    "gitgate: no GitHub token is loaded (set GITHUB_TOKEN or GITHUB_TOKEN_FILE in .env and restart)";

/// Refuse a network operation locally when the agent holds no token, instead of going out without
/// credentials and failing as an authentication error. Shared by push, fetch, clone and gh.
pub fn require_token(token: &crate::secret::Token) -> Result<(), AgentError> {
    if token.is_loaded() {
        Ok(())
    } else {
        Err(AgentError::no_token())
    }
}

impl AgentError {
    pub fn no_token() -> AgentError {
        AgentError::Denied(NO_TOKEN.to_owned())
    }

    pub fn denied(msg: impl Into<String>) -> AgentError {
        AgentError::Denied(msg.into())
    }
    pub fn failed(msg: impl Into<String>, code: i32) -> AgentError {
        AgentError::Failed {
            message: msg.into(),
            code,
        }
    }

    pub fn code(&self) -> i32 {
        match self {
            AgentError::Denied(_) => exit::DENIED,
            AgentError::Failed { code, .. } => *code,
            AgentError::Usage(_) => 129,
            AgentError::Cancelled | AgentError::ShuttingDown => 130,
            AgentError::Timeout(_)
            | AgentError::Internal(_)
            | AgentError::OutcomeUnknown(_)
            | AgentError::TokenInStream(_) => exit::PROTOCOL,
        }
    }

    pub fn is_denial(&self) -> bool {
        matches!(self, AgentError::Denied(_))
    }

    /// The Error frame: a single line, prefixed, newlines folded so it stays one line.
    pub fn to_frame(&self) -> ErrorMsg {
        let text = self.to_string().replace(['\n', '\r'], " ");
        let message = if text.starts_with("gitgate: ") {
            text
        } else {
            format!("gitgate: {text}")
        };
        ErrorMsg {
            message,
            code: self.code(),
        }
    }
}

impl From<gitgate_policy::Denial> for AgentError {
    fn from(d: gitgate_policy::Denial) -> Self {
        AgentError::Denied(d.to_string())
    }
}
