//! Agent log lines on stderr. Every line is redacted: the log is an output stream like any other.

use crate::state::AgentState;

fn stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

pub fn info(state: &AgentState, msg: &str) {
    eprintln!(
        "{} gitgate-agent: {}",
        stamp(),
        state.redactor.redact_str(msg)
    );
}

pub fn warn(state: &AgentState, msg: &str) {
    eprintln!(
        "{} gitgate-agent: warning: {}",
        stamp(),
        state.redactor.redact_str(msg)
    );
}
