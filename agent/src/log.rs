//! Agent log lines on stderr, each starting with an RFC 3339 UTC time (millisecond precision).
//! Every line is redacted: the log is an output stream like any other.

use crate::state::AgentState;

fn stamp_at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn stamp() -> String {
    stamp_at(chrono::Utc::now())
}

pub fn info(state: &AgentState, msg: &str) {
    eprintln!(
        "{} gitgate-agent: {}",
        stamp(),
        state.redactor.redact_str(msg)
    );
}

pub fn warn(state: &AgentState, msg: &str) {
    warn_redacted(&state.redactor, msg)
}

/// For work that outlives its request (a push finishing after its client left) and holds only the
/// redactor.
pub fn warn_redacted(redactor: &crate::redact::Redactor, msg: &str) {
    eprintln!(
        "{} gitgate-agent: warning: {}",
        stamp(),
        redactor.redact_str(msg)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = chrono::DateTime::from_timestamp(1_764_624_414, 123_000_000).unwrap();
        assert_eq!(stamp_at(t), "2025-12-01T21:26:54.123Z");
        let now = stamp();
        assert!(
            chrono::DateTime::parse_from_rfc3339(&now).is_ok() && now.ends_with('Z'),
            "{now}"
        );
    }
}
