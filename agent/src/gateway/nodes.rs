//! Which repository a GraphQL node id belongs to: the agent's own query to GitHub (with the token,
//! never through the client's request), cached for a few minutes.

use super::upstream::{ApiBase, Upstream};
use crate::state::AgentState;
use gitgate_policy::api::{NodeRef, ResolvedNode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a resolution is trusted (issues can be transferred between repositories).
const TTL: Duration = Duration::from_secs(300);
/// Entries kept; the cache is cleared when full (simple and bounded).
const MAX_ENTRIES: usize = 10_000;

const QUERY: &str = "query GitgateNodes($ids: [ID!]!) { nodes(ids: $ids) { __typename \
 ... on Repository { nameWithOwner } \
 ... on PullRequest { repository { nameWithOwner } } \
 ... on Issue { repository { nameWithOwner } } \
 ... on IssueComment { repository { nameWithOwner } } \
 ... on PullRequestReview { repository { nameWithOwner } } \
 ... on PullRequestReviewComment { repository { nameWithOwner } } \
 ... on PullRequestReviewThread { repository { nameWithOwner } } \
 ... on CommitComment { repository { nameWithOwner } } \
 ... on Label { repository { nameWithOwner } } \
 ... on Milestone { repository { nameWithOwner } } \
 ... on Ref { name prefix repository { nameWithOwner } } } }";

#[derive(Default)]
pub struct NodeCache {
    map: Mutex<HashMap<String, (Instant, ResolvedNode)>>,
}

/// One element of `data.nodes`.
pub fn parse_node(v: &Value) -> Option<ResolvedNode> {
    let typename = v.get("__typename")?.as_str()?.to_owned();
    let repo = v
        .get("nameWithOwner")
        .or_else(|| v.get("repository").and_then(|r| r.get("nameWithOwner")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let ref_name = match (
        v.get("prefix").and_then(Value::as_str),
        v.get("name").and_then(Value::as_str),
    ) {
        (Some(p), Some(n)) if typename == "Ref" => Some(format!("{p}{n}")),
        _ => None,
    };
    Some(ResolvedNode {
        typename,
        repo,
        ref_name,
    })
}

impl NodeCache {
    pub async fn resolve(
        &self,
        up: &Upstream,
        state: &AgentState,
        api: &ApiBase,
        nodes: &[NodeRef],
    ) -> Result<Vec<Option<ResolvedNode>>, String> {
        let now = Instant::now();
        let mut missing: Vec<String> = Vec::new();
        {
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            for n in nodes {
                let fresh = map
                    .get(&n.id)
                    .is_some_and(|(t, _)| now.duration_since(*t) < TTL);
                if !fresh && !n.id.is_empty() && !missing.contains(&n.id) {
                    missing.push(n.id.clone());
                }
            }
        }
        if !missing.is_empty() {
            let body = serde_json::json!({"query": QUERY, "variables": {"ids": missing}});
            let answer = up.graphql(state, api, body.to_string()).await?;
            let list = answer
                .get("data")
                .and_then(|d| d.get("nodes"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() + missing.len() > MAX_ENTRIES {
                map.clear();
            }
            for id in &missing {
                map.remove(id);
            }
            for (id, v) in missing.iter().zip(list.iter()) {
                if let Some(r) = parse_node(v) {
                    map.insert(id.clone(), (now, r));
                }
            }
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Ok(nodes
            .iter()
            .map(|n| map.get(&n.id).map(|(_, r)| r.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes() {
        let pr = serde_json::json!({"__typename":"PullRequest","repository":{"nameWithOwner":"acme/app"}});
        assert_eq!(parse_node(&pr).unwrap().repo.as_deref(), Some("acme/app"));
        let r = serde_json::json!({"__typename":"Repository","nameWithOwner":"acme/app"});
        assert_eq!(parse_node(&r).unwrap().repo.as_deref(), Some("acme/app"));
        let rf = serde_json::json!({"__typename":"Ref","name":"main","prefix":"refs/heads/","repository":{"nameWithOwner":"acme/app"}});
        assert_eq!(
            parse_node(&rf).unwrap().ref_name.as_deref(),
            Some("refs/heads/main")
        );
        let u = serde_json::json!({"__typename":"User"});
        assert_eq!(parse_node(&u).unwrap().repo, None);
        assert!(parse_node(&Value::Null).is_none());
    }
}
