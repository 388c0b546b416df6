//! GitHub failures as gh-like one-line messages (the server prefixes `gitgate: `; exit 1).

use super::client::{now_epoch, ApiError};
use crate::error::AgentError;

/// The message for a failed call, as `gh api` words it:
/// `HTTP 404: Not Found (https://api.github.com/repos/o/r/pulls/9)`,
/// `HTTP 422: Validation Failed: A pull request already exists for acme:claude/x. (…)`,
/// `API rate limit exceeded; resets at 2024-01-01T00:12:00Z (in 12m0s)`.
pub fn message(e: &ApiError) -> String {
    match e {
        ApiError::Transport(m) => m.clone(),
        ApiError::Status {
            rate_reset: Some(reset),
            message,
            ..
        } => {
            let base = if message
                .to_ascii_lowercase()
                .contains("secondary rate limit")
            {
                "API secondary rate limit exceeded"
            } else {
                "API rate limit exceeded"
            };
            if *reset <= 0 {
                return format!("{base}; try again later");
            }
            let when = chrono::DateTime::from_timestamp(*reset, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| reset.to_string());
            let left = (*reset - now_epoch()).max(0);
            format!(
                "{base}; resets at {when} (in {})",
                super::format::duration(left)
            )
        }
        ApiError::Status {
            status,
            url,
            message,
            errors,
            ..
        } => {
            let mut m = format!("HTTP {status}: {message}");
            if !errors.is_empty() {
                m.push_str(": ");
                m.push_str(&errors.join("; "));
            }
            m.push_str(&format!(" ({url})"));
            if *status == 401 {
                m.push_str(" — the agent's GITHUB_TOKEN was rejected");
            }
            m
        }
    }
}

/// A 404 becomes `what` (e.g. `pull request #9 not found`); anything else the generic message.
pub fn not_found(what: impl Into<String>) -> impl FnOnce(ApiError) -> AgentError {
    let what = what.into();
    move |e| {
        if e.status() == Some(404) {
            AgentError::failed(what, 1)
        } else {
            e.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = ApiError::Status {
            status: 422,
            url: "https://api.github.com/repos/acme/app/pulls".into(),
            message: "Validation Failed".into(),
            errors: vec!["A pull request already exists for acme:claude/x.".into()],
            rate_reset: None,
            body: String::new(),
        };
        assert_eq!(
            message(&e),
            "HTTP 422: Validation Failed: A pull request already exists for acme:claude/x. (https://api.github.com/repos/acme/app/pulls)"
        );
        let e = ApiError::Status {
            status: 403,
            url: "u".into(),
            message: "API rate limit exceeded for user ID 1.".into(),
            errors: vec![],
            rate_reset: Some(1_700_000_000),
            body: String::new(),
        };
        assert_eq!(
            message(&e),
            "API rate limit exceeded; resets at 2023-11-14T22:13:20Z (in 0s)"
        );
    }
}
