//! Search queries (`GET /search/issues?q=…`, GraphQL `search(query:)`): allowed only when confined
//! to allowed repositories by `repo:` qualifiers.
//!
//! Conservative on purpose: at least one `repo:` qualifier, every `repo:` allowed, and nothing that
//! could widen the search (`org:`, `user:`, `owner:`, boolean operators, parentheses).

use crate::config::ALLOWED_REPOS;
use crate::denial::{quote, Denial};
use crate::Policy;

const WIDENING: &[&str] = &["org:", "user:", "owner:"];

pub fn check_search_query(policy: &Policy, q: &str) -> Result<(), Denial> {
    let refuse = |why: String| {
        Err(Denial::with_setting(
            format!("search '{}' refused: {why}", quote(q)),
            ALLOWED_REPOS,
        ))
    };
    if q.len() > 1024 {
        return refuse("query too long".into());
    }
    if q.contains(['(', ')']) {
        return refuse("parentheses are not allowed; search with repo:OWNER/NAME only".into());
    }
    let mut repos = 0usize;
    for word in q.split_whitespace() {
        if matches!(word, "OR" | "AND" | "NOT") {
            return refuse(format!("'{word}' is not allowed in a gitgate search"));
        }
        let lower = word.to_ascii_lowercase();
        if let Some(slug) = lower.strip_prefix("repo:") {
            let slug = slug.trim_matches('"');
            if !policy.repo_allowed(slug) {
                return refuse(format!(
                    "repository '{}' is not in ALLOWED_REPOS",
                    quote(slug)
                ));
            }
            repos += 1;
        } else if let Some(w) = WIDENING
            .iter()
            .find(|w| lower.trim_start_matches(['-', '"']).starts_with(**w))
        {
            return refuse(format!(
                "the '{w}' qualifier searches outside ALLOWED_REPOS; use repo:OWNER/NAME"
            ));
        }
    }
    if repos == 0 {
        return refuse("a search must name an allowed repository with repo:OWNER/NAME".into());
    }
    Ok(())
}
