//! GraphQL (`POST /graphql`): the document is parsed with `apollo-compiler` (bounded recursion and
//! tokens), variables are resolved, and every operation in the document is checked (not only the one
//! `operationName` selects), with fragments — named and inline — expanded wherever they are spread.
//!
//! - Queries: only through allowlisted top-level fields; `repository(owner:, name:)` only for
//!   `ALLOWED_REPOS`; `search` only with allowed `repo:` qualifiers; `node`/`nodes` ids are returned
//!   for the agent to resolve; `viewer` only its public identity. Below them, a walk refuses fields
//!   that lead out of the allowed repositories (another repository's content, a user's or an
//!   organisation's repositories, issues, pull requests, gists, …).
//! - Mutations: exactly one field per request (aliases and batches refused), from an allowlist; the
//!   node ids in its input (`subjectId`, `pullRequestId`, `labelIds`, …) are returned for the agent
//!   to resolve; ref-changing mutations go through the push rules; merges need `ALLOW_PR_MERGE`.
//! - Subscriptions, batched (array) bodies, type-system definitions: refused.

use super::refs::{check_api_ref_update, check_branch_write, ApiRefUpdate};
use super::rest::pr_head;
use super::search::check_search_query;
use super::{Allowed, Kind, NodeRef, NodeRole};
use crate::config::ALLOW_PR_MERGE;
use crate::denial::{quote, Denial};
use crate::Policy;
use apollo_compiler::ast::{self, Definition, OperationType, Selection};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Parser limits: nesting depth and tokens. gh's largest query (`pr view --json` with every
/// field) is a few thousand tokens and ~10 levels deep.
pub const RECURSION_LIMIT: usize = 64;
pub const TOKEN_LIMIT: usize = 30_000;
/// Selections visited in total, fragments expanded (bounds fragment fan-out).
const VISIT_BUDGET: usize = 20_000;
/// Top-level fields of one query operation (aliases counted).
const MAX_ROOT_FIELDS: usize = 24;
/// Node ids one request may ask the agent to resolve.
const MAX_NODES: usize = 100;
/// Depth of input objects / variable values walked.
const MAX_VALUE_DEPTH: usize = 16;

/// Top-level query fields allowed.
const QUERY_ROOTS: &[&str] = &[
    "repository",
    "viewer",
    "rateLimit",
    "search",
    "node",
    "nodes",
    "__typename",
    "__type",
    "__schema",
];

/// Fields that lead to data outside the repository they hang off, refused at any depth.
const ESCAPE_FIELDS: &[&str] = &[
    "repositories",
    "repositoriesContributedTo",
    "starredRepositories",
    "watching",
    "topRepositories",
    "pinnedItems",
    "pinnableItems",
    "itemShowcase",
    "organizations",
    "gists",
    "gist",
    "sponsoring",
    "sponsors",
    "sponsorshipsAsSponsor",
    "sponsorshipsAsMaintainer",
    "contributionsCollection",
    "repositoryDiscussions",
    "repositoryDiscussionComments",
    "issueComments",
    "commitComments",
    "gistComments",
    "savedReplies",
    "enterprise",
    "enterprises",
    "marketplaceListings",
    "securityAdvisories",
    "forks",
    "projectsV2",
    "projects",
    "recentProjects",
];

/// Fields that return a user, bot, team or organisation: below them only identity fields.
const ACTOR_FIELDS: &[&str] = &[
    "owner",
    "author",
    "editor",
    "actor",
    "user",
    "users",
    "viewer",
    "assignees",
    "participants",
    "headRepositoryOwner",
    "requestedReviewer",
    "mergedBy",
    "organization",
    "members",
    "reactors",
    "committer",
    "creator",
    "enqueuer",
    "deletedBy",
];

/// Identity fields of an actor (and connection plumbing).
const ACTOR_ALLOWED: &[&str] = &[
    "__typename",
    "id",
    "login",
    "name",
    "slug",
    "url",
    "avatarUrl",
    "databaseId",
    "email",
    "isBot",
    "createdAt",
    "date",
    "user",
    "organization",
    "nodes",
    "edges",
    "node",
    "totalCount",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "cursor",
];

/// Fields that return another repository (a fork's parent, a PR's head repository, …).
const NESTED_REPO_FIELDS: &[&str] = &[
    "parent",
    "templateRepository",
    "headRepository",
    "baseRepository",
    "repository",
];

/// What may be read of a nested repository: its identity and settings, not its content.
const NESTED_REPO_ALLOWED: &[&str] = &[
    "__typename",
    "id",
    "name",
    "nameWithOwner",
    "owner",
    "url",
    "sshUrl",
    "homepageUrl",
    "description",
    "isPrivate",
    "isFork",
    "isArchived",
    "isInOrganization",
    "isTemplate",
    "visibility",
    "hasIssuesEnabled",
    "hasWikiEnabled",
    "hasProjectsEnabled",
    "hasDiscussionsEnabled",
    "viewerPermission",
    "viewerCanAdminister",
    "defaultBranchRef",
    "prefix",
    "mergeCommitAllowed",
    "rebaseMergeAllowed",
    "squashMergeAllowed",
    "deleteBranchOnMerge",
    "createdAt",
    "updatedAt",
    "pushedAt",
    "stargazerCount",
    "forkCount",
];

/// How a mutation is decided.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MutRule {
    /// Its ids must belong to allowed repositories.
    Plain,
    /// Merging: `ALLOW_PR_MERGE`, plus the ids.
    Merge,
    /// `createPullRequest`: the ids, and the head branch through the push rules.
    CreatePr,
    /// `createRef`: `name` through the push rules.
    CreateRef,
    /// `updateRef`: the ref (by id) through the push rules, with `force`.
    UpdateRef,
    /// `deleteRef`: the ref (by id) through the push rules, as a delete.
    DeleteRef,
    /// `updateRefs`: every `refUpdates[].name`.
    UpdateRefs,
    /// `createCommitOnBranch`: the branch through the push rules.
    CommitOnBranch,
}

const MUTATIONS: &[(&str, MutRule)] = &[
    ("addComment", MutRule::Plain),
    ("updateIssueComment", MutRule::Plain),
    ("addPullRequestReview", MutRule::Plain),
    ("submitPullRequestReview", MutRule::Plain),
    ("updatePullRequestReview", MutRule::Plain),
    ("deletePullRequestReview", MutRule::Plain),
    ("addPullRequestReviewComment", MutRule::Plain),
    ("updatePullRequestReviewComment", MutRule::Plain),
    ("addPullRequestReviewThread", MutRule::Plain),
    ("addPullRequestReviewThreadReply", MutRule::Plain),
    ("resolveReviewThread", MutRule::Plain),
    ("unresolveReviewThread", MutRule::Plain),
    ("requestReviews", MutRule::Plain),
    ("markPullRequestReadyForReview", MutRule::Plain),
    ("convertPullRequestToDraft", MutRule::Plain),
    ("closePullRequest", MutRule::Plain),
    ("reopenPullRequest", MutRule::Plain),
    ("updatePullRequest", MutRule::Plain),
    ("createIssue", MutRule::Plain),
    ("updateIssue", MutRule::Plain),
    ("closeIssue", MutRule::Plain),
    ("reopenIssue", MutRule::Plain),
    ("addLabelsToLabelable", MutRule::Plain),
    ("removeLabelsFromLabelable", MutRule::Plain),
    ("addAssigneesToAssignable", MutRule::Plain),
    ("removeAssigneesFromAssignable", MutRule::Plain),
    ("addReaction", MutRule::Plain),
    ("removeReaction", MutRule::Plain),
    ("createLabel", MutRule::Plain),
    ("updateLabel", MutRule::Plain),
    ("disablePullRequestAutoMerge", MutRule::Plain),
    ("mergePullRequest", MutRule::Merge),
    ("enablePullRequestAutoMerge", MutRule::Merge),
    ("enqueuePullRequest", MutRule::Merge),
    ("updatePullRequestBranch", MutRule::Merge),
    ("createPullRequest", MutRule::CreatePr),
    ("createRef", MutRule::CreateRef),
    ("updateRef", MutRule::UpdateRef),
    ("deleteRef", MutRule::DeleteRef),
    ("updateRefs", MutRule::UpdateRefs),
    ("createCommitOnBranch", MutRule::CommitOnBranch),
];

/// Input id fields that name users, teams or projects (not repository content): not resolved.
const UNSCOPED_IDS: &[&str] = &[
    "clientMutationId",
    "userIds",
    "assigneeIds",
    "teamIds",
    "botIds",
    "actorIds",
    "projectIds",
    "projectV2Ids",
    "issueTemplate",
];

fn deny(msg: String) -> Denial {
    Denial::new(msg)
}

/// The request body, parsed.
struct Body {
    query: String,
    variables: Map<String, Value>,
    operation_name: Option<String>,
}

fn parse_body(body: &[u8]) -> Result<Body, Denial> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| deny("GraphQL request refused: the body is not JSON".into()))?;
    let obj = match v {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(deny(
                "GraphQL request refused: batched (array) requests are not allowed".into(),
            ))
        }
        _ => {
            return Err(deny(
                "GraphQL request refused: the body is not a JSON object".into(),
            ))
        }
    };
    let query = match obj.get("query") {
        Some(Value::String(q)) => q.clone(),
        _ => return Err(deny("GraphQL request refused: no query string".into())),
    };
    let variables = match obj.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(deny(
                "GraphQL request refused: variables is not an object".into(),
            ))
        }
    };
    let operation_name = match obj.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(deny(
                "GraphQL request refused: operationName is not a string".into(),
            ))
        }
    };
    Ok(Body {
        query,
        variables,
        operation_name,
    })
}

/// Context of the selection walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Inside an allowed repository (or a node of one): anything but escape fields.
    Normal,
    /// Inside a user/team/organisation: identity only.
    Actor,
    /// Inside another repository: identity and settings only.
    NestedRepo,
}

struct Checker<'a> {
    fragments: HashMap<&'a str, &'a ast::FragmentDefinition>,
    budget: usize,
    nodes: Vec<NodeRef>,
}

impl<'a> Checker<'a> {
    fn spend(&mut self) -> Result<(), Denial> {
        if self.budget == 0 {
            return Err(deny(
                "GraphQL request refused: the document is too large once its fragments are expanded"
                    .into(),
            ));
        }
        self.budget -= 1;
        Ok(())
    }

    /// The fields of a selection set with fragments (inline and named) expanded, iteratively.
    fn expand(&mut self, set: &'a [Selection]) -> Result<Vec<&'a ast::Field>, Denial> {
        let mut out = Vec::new();
        let mut stack: Vec<&'a [Selection]> = vec![set];
        while let Some(set) = stack.pop() {
            for sel in set.iter().rev() {
                self.spend()?;
                match sel {
                    Selection::Field(f) => out.push(&**f),
                    Selection::InlineFragment(i) => stack.push(&i.selection_set),
                    Selection::FragmentSpread(s) => {
                        let name = s.fragment_name.as_str();
                        let Some(frag) = self.fragments.get(name) else {
                            return Err(deny(format!(
                                "GraphQL request refused: unknown fragment '{}'",
                                quote(name)
                            )));
                        };
                        stack.push(&frag.selection_set);
                    }
                }
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Walk everything below `set` in `ctx`, refusing fields that leave the allowed repositories.
    fn walk(&mut self, set: &'a [Selection], ctx: Ctx) -> Result<(), Denial> {
        let mut stack: Vec<(&'a [Selection], Ctx)> = vec![(set, ctx)];
        while let Some((set, ctx)) = stack.pop() {
            for field in self.expand(set)? {
                let name = field.name.as_str();
                if ESCAPE_FIELDS.contains(&name) {
                    return Err(deny(format!(
                        "GraphQL field '{}' refused: it reads outside ALLOWED_REPOS",
                        quote(name)
                    )));
                }
                let next = match ctx {
                    Ctx::Actor if !ACTOR_ALLOWED.contains(&name) => {
                        return Err(deny(format!(
                            "GraphQL field '{}' of a user or organisation refused: only identity fields (login, name, id) are readable through gitgate",
                            quote(name)
                        )))
                    }
                    Ctx::NestedRepo if !NESTED_REPO_ALLOWED.contains(&name) => {
                        return Err(deny(format!(
                            "GraphQL field '{}' of a related repository refused: only its name, owner and settings are readable through gitgate",
                            quote(name)
                        )))
                    }
                    Ctx::Actor => Ctx::Actor,
                    _ if ACTOR_FIELDS.contains(&name) => Ctx::Actor,
                    _ if NESTED_REPO_FIELDS.contains(&name) => Ctx::NestedRepo,
                    c => c,
                };
                if !field.selection_set.is_empty() {
                    stack.push((&field.selection_set, next));
                }
            }
        }
        Ok(())
    }
}

/// An AST value with variables substituted, as JSON.
fn resolve(v: &ast::Value, vars: &Map<String, Value>, depth: usize) -> Result<Value, Denial> {
    if depth > MAX_VALUE_DEPTH {
        return Err(deny(
            "GraphQL request refused: argument nested too deeply".into(),
        ));
    }
    Ok(match v {
        ast::Value::Null => Value::Null,
        ast::Value::Enum(n) => Value::String(n.to_string()),
        ast::Value::Variable(n) => vars.get(n.as_str()).cloned().unwrap_or(Value::Null),
        ast::Value::String(s) => Value::String(s.clone()),
        ast::Value::Float(f) => Value::String(f.as_str().to_owned()),
        ast::Value::Int(i) => Value::String(i.as_str().to_owned()),
        ast::Value::Boolean(b) => Value::Bool(*b),
        ast::Value::List(items) => Value::Array(
            items
                .iter()
                .map(|i| resolve(i, vars, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        ast::Value::Object(fields) => {
            let mut m = Map::new();
            for (k, val) in fields {
                m.insert(k.to_string(), resolve(val, vars, depth + 1)?);
            }
            Value::Object(m)
        }
    })
}

fn arg(field: &ast::Field, name: &str, vars: &Map<String, Value>) -> Result<Value, Denial> {
    match field.arguments.iter().find(|a| a.name.as_str() == name) {
        Some(a) => resolve(&a.value, vars, 0),
        None => Ok(Value::Null),
    }
}

fn label(field: &ast::Field) -> String {
    match &field.alias {
        Some(a) => format!("{}: {}", a, field.name),
        None => field.name.to_string(),
    }
}

impl Policy {
    /// Decide a GraphQL request body.
    pub fn check_graphql(&self, body: &[u8]) -> Result<Allowed, Denial> {
        let body = parse_body(body)?;
        let doc = apollo_compiler::parser::Parser::new()
            .recursion_limit(RECURSION_LIMIT)
            .token_limit(TOKEN_LIMIT)
            .parse_ast(body.query.as_str(), "request.graphql")
            .map_err(|e| {
                let first = e
                    .errors
                    .iter()
                    .next()
                    .map(|d| d.error.to_string())
                    .unwrap_or_default();
                deny(format!(
                    "GraphQL request refused: the query does not parse ({})",
                    quote(&first)
                ))
            })?;
        let mut checker = Checker {
            fragments: HashMap::new(),
            budget: VISIT_BUDGET,
            nodes: Vec::new(),
        };
        let mut ops = Vec::new();
        for def in &doc.definitions {
            match def {
                Definition::OperationDefinition(op) => ops.push(&**op),
                Definition::FragmentDefinition(f) => {
                    if checker.fragments.insert(f.name.as_str(), f).is_some() {
                        return Err(deny(format!(
                            "GraphQL request refused: fragment '{}' is defined twice",
                            quote(f.name.as_str())
                        )));
                    }
                }
                _ => return Err(deny(
                    "GraphQL request refused: only queries, mutations and fragments are allowed"
                        .into(),
                )),
            }
        }
        if ops.is_empty() {
            return Err(deny("GraphQL request refused: no operation".into()));
        }
        if let Some(name) = &body.operation_name {
            if !ops
                .iter()
                .any(|o| o.name.as_ref().is_some_and(|n| n.as_str() == name))
            {
                return Err(deny(format!(
                    "GraphQL request refused: operation '{}' is not in the document",
                    quote(name)
                )));
            }
        } else if ops.len() > 1 {
            return Err(deny(
                "GraphQL request refused: several operations and no operationName".into(),
            ));
        }
        let mut mutation = false;
        // Every operation is checked, whichever one operationName selects.
        for op in &ops {
            let mut vars = Map::new();
            for vd in &op.variables {
                let v = match body.variables.get(vd.name.as_str()) {
                    Some(v) => v.clone(),
                    None => match &vd.default_value {
                        Some(d) => resolve(d, &Map::new(), 0)?,
                        None => Value::Null,
                    },
                };
                vars.insert(vd.name.to_string(), v);
            }
            match op.operation_type {
                OperationType::Query => self.check_query(&mut checker, op, &vars)?,
                OperationType::Mutation => {
                    mutation = true;
                    self.check_mutation(&mut checker, op, &vars)?
                }
                OperationType::Subscription => {
                    return Err(deny("GraphQL subscriptions are refused".into()))
                }
            }
        }
        if checker.nodes.len() > MAX_NODES {
            return Err(deny(format!(
                "GraphQL request refused: more than {MAX_NODES} node ids to check"
            )));
        }
        let operation = body.operation_name.clone().or_else(|| {
            ops.first()
                .and_then(|o| o.name.as_ref())
                .map(|n| n.to_string())
        });
        Ok(Allowed {
            kind: Kind::Graphql { operation },
            reason: if mutation {
                "GraphQL mutation on ALLOWED_REPOS".into()
            } else {
                "GraphQL query on ALLOWED_REPOS".into()
            },
            repo: None,
            nodes: checker.nodes,
        })
    }

    fn check_query<'a>(
        &self,
        c: &mut Checker<'a>,
        op: &'a ast::OperationDefinition,
        vars: &Map<String, Value>,
    ) -> Result<(), Denial> {
        let roots = c.expand(&op.selection_set)?;
        if roots.len() > MAX_ROOT_FIELDS {
            return Err(deny(format!(
                "GraphQL query refused: more than {MAX_ROOT_FIELDS} top-level fields"
            )));
        }
        for f in roots {
            let name = f.name.as_str();
            match name {
                "repository" => {
                    let owner = arg(f, "owner", vars)?;
                    let repo = arg(f, "name", vars)?;
                    let (Some(o), Some(n)) = (owner.as_str(), repo.as_str()) else {
                        return Err(deny(format!(
                            "GraphQL '{}' refused: owner and name must be strings",
                            quote(&label(f))
                        )));
                    };
                    self.require_repo(&format!("{o}/{n}"), &format!("GraphQL {}", label(f)))?;
                    c.walk(&f.selection_set, Ctx::Normal)?;
                }
                "viewer" => c.walk(&f.selection_set, Ctx::Actor)?,
                "search" => {
                    let q = arg(f, "query", vars)?;
                    let Some(q) = q.as_str() else {
                        return Err(deny("GraphQL search refused: no query string".into()));
                    };
                    check_search_query(self, q)?;
                    c.walk(&f.selection_set, Ctx::Normal)?;
                }
                "node" | "nodes" => {
                    let key = if name == "node" { "id" } else { "ids" };
                    let ids = arg(f, key, vars)?;
                    let list: Vec<&Value> = match &ids {
                        Value::Array(a) => a.iter().collect(),
                        v => vec![v],
                    };
                    for id in list {
                        let Some(id) = id.as_str() else {
                            return Err(deny(format!(
                                "GraphQL '{}' refused: ids must be strings",
                                quote(&label(f))
                            )));
                        };
                        c.nodes.push(NodeRef {
                            id: id.to_owned(),
                            field: format!("GraphQL {}", label(f)),
                            role: NodeRole::InAllowedRepo,
                        });
                    }
                    c.walk(&f.selection_set, Ctx::Normal)?;
                }
                "rateLimit" | "__typename" | "__type" | "__schema" => {}
                other => {
                    debug_assert!(!QUERY_ROOTS.contains(&other));
                    return Err(deny(format!(
                        "GraphQL query field '{}' refused: only repository, viewer, search, node and rateLimit are readable through gitgate",
                        quote(other)
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_mutation<'a>(
        &self,
        c: &mut Checker<'a>,
        op: &'a ast::OperationDefinition,
        vars: &Map<String, Value>,
    ) -> Result<(), Denial> {
        let roots = c.expand(&op.selection_set)?;
        if roots.len() != 1 {
            return Err(deny(format!(
                "GraphQL mutation refused: {} mutation fields in one request; gitgate allows exactly one (no aliases or batches)",
                roots.len()
            )));
        }
        let f = roots[0];
        if f.alias.is_some() {
            return Err(deny(format!(
                "GraphQL mutation '{}' refused: aliased mutations are not allowed",
                quote(&label(f))
            )));
        }
        let name = f.name.as_str();
        let Some((_, rule)) = MUTATIONS.iter().find(|(m, _)| *m == name) else {
            return Err(deny(format!(
                "GraphQL mutation '{}' refused: it is not a pull-request workflow mutation gitgate allows",
                quote(name)
            )));
        };
        let input = arg(f, "input", vars)?;
        let before = c.nodes.len();
        match rule {
            MutRule::Merge if !self.config().allow_pr_merge => {
                return Err(Denial::with_setting(
                    format!(
                        "GraphQL mutation '{name}' refused: merging pull requests is disabled (ALLOW_PR_MERGE)"
                    ),
                    ALLOW_PR_MERGE,
                ));
            }
            MutRule::CreatePr => {
                let head = input
                    .get("headRefName")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let branch = head.split_once(':').map(|(_, b)| b).unwrap_or(head);
                check_branch_write(self, branch).map_err(|d| pr_head(d, branch))?;
            }
            MutRule::CreateRef => {
                let r = input.get("name").and_then(Value::as_str).unwrap_or("");
                check_api_ref_update(
                    self,
                    &ApiRefUpdate {
                        ref_name: r,
                        delete: false,
                        force: false,
                    },
                )?;
            }
            MutRule::UpdateRef | MutRule::DeleteRef => {
                let id = input.get("refId").and_then(Value::as_str).unwrap_or("");
                c.nodes.push(NodeRef {
                    id: id.to_owned(),
                    field: format!("{name}.input.refId"),
                    role: NodeRole::RefUpdate {
                        delete: *rule == MutRule::DeleteRef,
                        force: super::refs::asks_force(input.get("force")),
                    },
                });
            }
            MutRule::UpdateRefs => {
                let Some(list) = input.get("refUpdates").and_then(Value::as_array) else {
                    return Err(deny(format!(
                        "GraphQL mutation '{name}' refused: no refUpdates"
                    )));
                };
                for u in list {
                    let r = u.get("name").and_then(Value::as_str).unwrap_or("");
                    let after = u.get("afterOid").and_then(Value::as_str).unwrap_or("");
                    check_api_ref_update(
                        self,
                        &ApiRefUpdate {
                            ref_name: r,
                            delete: !after.is_empty() && after.bytes().all(|b| b == b'0'),
                            force: super::refs::asks_force(u.get("force")),
                        },
                    )?;
                }
            }
            MutRule::CommitOnBranch => {
                let branch = input.get("branch").cloned().unwrap_or(Value::Null);
                if let Some(slug) = branch
                    .get("repositoryNameWithOwner")
                    .and_then(Value::as_str)
                {
                    self.require_repo(slug, &format!("GraphQL {name}"))?;
                    let b = branch
                        .get("branchName")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    check_branch_write(self, b)?;
                } else if let Some(id) = branch.get("id").and_then(Value::as_str) {
                    c.nodes.push(NodeRef {
                        id: id.to_owned(),
                        field: format!("{name}.input.branch.id"),
                        role: NodeRole::RefUpdate {
                            delete: false,
                            force: false,
                        },
                    });
                } else {
                    return Err(deny(format!(
                        "GraphQL mutation '{name}' refused: no branch (repositoryNameWithOwner and branchName, or id)"
                    )));
                }
            }
            MutRule::Plain | MutRule::Merge => {}
        }
        collect_ids(&input, &format!("{name}.input"), &mut c.nodes, 0)?;
        // Every mutation must be tied to an allowed repository by at least one checked id or name.
        let named = matches!(rule, MutRule::CommitOnBranch)
            && input
                .get("branch")
                .and_then(|b| b.get("repositoryNameWithOwner"))
                .is_some();
        if c.nodes.len() == before && !named {
            return Err(deny(format!(
                "GraphQL mutation '{name}' refused: it names no repository, pull request or issue id gitgate can check"
            )));
        }
        c.walk(&f.selection_set, Ctx::Normal)
    }
}

/// Every `…Id` / `…Ids` string in a mutation input, except user/team/project ids.
fn collect_ids(v: &Value, path: &str, out: &mut Vec<NodeRef>, depth: usize) -> Result<(), Denial> {
    if depth > MAX_VALUE_DEPTH || out.len() > MAX_NODES {
        return Err(deny(
            "GraphQL mutation refused: input too large or too deep".into(),
        ));
    }
    let Value::Object(m) = v else { return Ok(()) };
    for (k, val) in m {
        let p = format!("{path}.{k}");
        let is_id = k == "id" || k.ends_with("Id") || k.ends_with("Ids");
        if is_id && !UNSCOPED_IDS.contains(&k.as_str()) && k != "refId" {
            let ids: Vec<&Value> = match val {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for id in ids {
                match id {
                    Value::String(s) => out.push(NodeRef {
                        id: s.clone(),
                        field: p.clone(),
                        role: NodeRole::InAllowedRepo,
                    }),
                    Value::Null => {}
                    _ => {
                        return Err(deny(format!(
                            "GraphQL mutation refused: {} is not a string id",
                            quote(&p)
                        )))
                    }
                }
            }
        } else if let Value::Object(_) = val {
            if !(k == "branch" && path.ends_with("createCommitOnBranch.input")) {
                collect_ids(val, &p, out, depth + 1)?;
            }
        } else if let Value::Array(items) = val {
            for i in items {
                collect_ids(i, &p, out, depth + 1)?;
            }
        }
    }
    Ok(())
}
