//! GitHub API requests (DESIGN §4, §5): what the real `gh` sends through the agent's gateway, decided
//! request by request. Pure: the gateway parses HTTP and passes the method, path, query and body here;
//! what needs the network (which repository a GraphQL node id belongs to) comes back as a list of
//! [`NodeRef`]s that the agent resolves and hands to [`Policy::check_nodes`].
//!
//! - [`rest`]: a route table (method + path template → rule).
//! - [`graphql`]: the document parsed with `apollo-compiler` (recursion and token limits), variables
//!   resolved, every operation, fragment, alias and field checked.
//! - [`refs`]: ref-changing API writes go through the same ref-update rules as `git push`.
//! - [`search`]: search queries must be confined to allowed repositories by `repo:` qualifiers.

pub mod graphql;
pub mod refs;
pub mod rest;
pub mod search;

use crate::denial::{quote, Denial};
use crate::Policy;

/// One HTTP request as the gateway received it (the host has already been checked by the gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRequest<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// The path without the query string, as sent (`/repos/acme/app/pulls`).
    pub path: &'a str,
    /// The raw query string (no leading `?`), if any.
    pub query: Option<&'a str>,
    /// The request body (JSON for writes and GraphQL; may be empty).
    pub body: &'a [u8],
}

/// What kind of request was allowed; the gateway uses it to decide how to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A read (GET/HEAD); redirects to GitHub-owned storage may be followed by the agent.
    Read,
    /// A write the table allows.
    Write,
    /// A GraphQL request; the operation name is for the audit log.
    Graphql { operation: Option<String> },
}

/// An allowed request: why (for the audit), the repository it concerns if any, and the node ids
/// the agent must still resolve and check with [`Policy::check_nodes`] before forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub kind: Kind,
    pub reason: String,
    pub repo: Option<String>,
    pub nodes: Vec<NodeRef>,
}

/// A GraphQL node id whose repository decides the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// The opaque node id.
    pub id: String,
    /// Where it was found (`addComment.input.subjectId`), for the message.
    pub field: String,
    /// What the node is used for.
    pub role: NodeRole,
}

/// How a node id is used, which decides what its resolution must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRole {
    /// Must belong to (or be) an allowed repository.
    InAllowedRepo,
    /// A `Ref` node that the mutation updates (`updateRef.refId`) or deletes (`deleteRef.refId`):
    /// its name goes through the ref-update rules too.
    RefUpdate { delete: bool, force: bool },
}

/// What the agent learned about a node id from GitHub.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedNode {
    /// `__typename`.
    pub typename: String,
    /// `owner/name` of the repository the node is or belongs to; `None` for users, teams, …
    pub repo: Option<String>,
    /// For a `Ref` node: the full ref name (`refs/heads/x`).
    pub ref_name: Option<String>,
}

impl Policy {
    /// Decide one API request. `Ok` may still carry node ids to resolve ([`Allowed::nodes`]).
    pub fn check_api(&self, req: &ApiRequest<'_>) -> Result<Allowed, Denial> {
        if req.method == "POST" && (req.path == "/graphql" || req.path == "/api/graphql") {
            return self.check_graphql(req.body);
        }
        self.check_rest(req)
    }

    /// Second step for requests with node ids: `resolved[i]` is what the agent learned about
    /// `nodes[i]` (`None`: GitHub did not know the id). Every node must satisfy its role.
    pub fn check_nodes(
        &self,
        nodes: &[NodeRef],
        resolved: &[Option<ResolvedNode>],
    ) -> Result<(), Denial> {
        for (i, n) in nodes.iter().enumerate() {
            let r = resolved.get(i).and_then(Option::as_ref);
            let Some(r) = r else {
                return Err(Denial::new(format!(
                    "{} '{}' refused: gitgate could not find which repository this id belongs to",
                    quote(&n.field),
                    quote(&n.id)
                )));
            };
            let Some(repo) = &r.repo else {
                return Err(Denial::new(format!(
                    "{} '{}' refused: it is a {} that belongs to no repository",
                    quote(&n.field),
                    quote(&n.id),
                    quote(&r.typename)
                )));
            };
            self.require_repo(repo, &n.field)?;
            if let NodeRole::RefUpdate { delete, force } = &n.role {
                let Some(name) = &r.ref_name else {
                    return Err(Denial::new(format!(
                        "{} '{}' refused: it is a {}, not a ref",
                        quote(&n.field),
                        quote(&n.id),
                        quote(&r.typename)
                    )));
                };
                refs::check_api_ref_update(
                    self,
                    &refs::ApiRefUpdate {
                        ref_name: name,
                        delete: *delete,
                        force: *force,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// `owner/name` must be in `ALLOWED_REPOS`.
    pub(crate) fn require_repo(&self, slug: &str, what: &str) -> Result<(), Denial> {
        if self.repo_allowed(slug) {
            Ok(())
        } else {
            Err(Denial::with_setting(
                format!(
                    "{} refused: repository '{}' is not in ALLOWED_REPOS",
                    quote(what),
                    quote(slug)
                ),
                crate::config::ALLOWED_REPOS,
            ))
        }
    }
}

/// Decode `%XX` escapes and `+` (form encoding) of a query-string component. Invalid escapes are kept
/// as they are; the result is lossy UTF-8.
pub fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The decoded values of `key` in a query string.
pub fn query_values<'a>(query: Option<&'a str>, key: &'a str) -> impl Iterator<Item = String> + 'a {
    query.unwrap_or("").split('&').filter_map(move |kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (form_decode(k) == key).then(|| form_decode(v))
    })
}

#[cfg(test)]
mod tests;
