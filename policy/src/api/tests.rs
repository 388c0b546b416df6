//! Table-driven tests of the API policy, and a proptest that it never panics.

use super::*;
use crate::{Policy, PolicyConfig};
use proptest::prelude::*;
use serde_json::json;

fn policy_with(f: impl FnOnce(&mut PolicyConfig)) -> Policy {
    let mut cfg = PolicyConfig {
        allowed_repos: vec!["acme/app".into(), "acme/lib".into()],
        ..PolicyConfig::default()
    };
    f(&mut cfg);
    Policy::new(cfg).unwrap()
}

fn policy() -> Policy {
    policy_with(|_| {})
}

fn rest(p: &Policy, method: &str, path_q: &str, body: &str) -> Result<Allowed, Denial> {
    let (path, query) = match path_q.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_q, None),
    };
    p.check_api(&ApiRequest {
        method,
        path,
        query,
        body: body.as_bytes(),
    })
}

/// `None` = allowed; `Some(text)` = refused with a message containing `text`.
const REST_DEFAULTS: &[(&str, &str, &str, Option<&str>)] = &[
    ("GET", "/", "", None),
    ("GET", "/user", "", None),
    ("GET", "/rate_limit", "", None),
    ("GET", "/repos/acme/app", "", None),
    ("GET", "/repos/ACME/App/pulls/1", "", None),
    (
        "GET",
        "/repos/acme/app/pulls?state=open&per_page=30",
        "",
        None,
    ),
    ("GET", "/repos/acme/app/actions/runs?per_page=20", "", None),
    ("GET", "/repos/acme/app/actions/jobs/7/logs", "", None),
    (
        "GET",
        "/repos/acme/app/actions/workflows?per_page=50&page=1",
        "",
        None,
    ),
    ("GET", "/repos/acme/app/contents/src/lib.rs", "", None),
    (
        "GET",
        "/search/issues?q=fix+repo%3Aacme%2Fapp+type%3Apr",
        "",
        None,
    ),
    (
        "GET",
        "/repos/acme/app/actions/secrets?per_page=100",
        "",
        Some("secrets"),
    ),
    (
        "GET",
        "/repos/acme/app/actions/variables",
        "",
        Some("variables"),
    ),
    (
        "GET",
        "/repos/acme/app/environments/prod/secrets",
        "",
        Some("secrets"),
    ),
    ("GET", "/repos/acme/app/keys", "", Some("keys")),
    ("GET", "/repos/acme/app/hooks", "", Some("hooks")),
    (
        "PUT",
        "/repos/acme/app/actions/secrets/X",
        "{}",
        Some("secrets"),
    ),
    ("GET", "/repos/other/app", "", Some("ALLOWED_REPOS")),
    ("GET", "/repos/other/app/pulls", "", Some("ALLOWED_REPOS")),
    (
        "GET",
        "/repos/acme/app/../../other/x",
        "",
        Some("not a plain API path"),
    ),
    (
        "GET",
        "/repos/acme%2Fapp/x",
        "",
        Some("not a plain API path"),
    ),
    ("GET", "/repos//acme/app", "", Some("not a plain API path")),
    ("GET", "/user/repos", "", Some("outside ALLOWED_REPOS")),
    ("GET", "/notifications", "", Some("outside ALLOWED_REPOS")),
    ("GET", "/search/issues?q=fix", "", Some("repo:OWNER/NAME")),
    (
        "GET",
        "/search/issues?q=repo%3Aother%2Fx",
        "",
        Some("other/x"),
    ),
    (
        "GET",
        "/search/issues?q=repo%3Aacme%2Fapp+org%3Aevil",
        "",
        Some("org:"),
    ),
    (
        "GET",
        "/search/issues?q=repo%3Aacme%2Fapp+OR+is%3Apr",
        "",
        Some("OR"),
    ),
    (
        "GET",
        "/search/repositories?q=repo%3Aacme%2Fapp",
        "",
        Some("outside ALLOWED_REPOS"),
    ),
    (
        "DELETE",
        "/repos/acme/app",
        "",
        Some("deleting a repository"),
    ),
    (
        "PATCH",
        "/repos/acme/app",
        r#"{"name":"x"}"#,
        Some("repository settings"),
    ),
    (
        "POST",
        "/repos/acme/app/transfer",
        "{}",
        Some("transferring"),
    ),
    (
        "POST",
        "/repos/acme/app/releases",
        r#"{"tag_name":"v1"}"#,
        Some("releases"),
    ),
    (
        "PUT",
        "/repos/acme/app/collaborators/bob",
        "{}",
        Some("collaborators"),
    ),
    ("POST", "/repos/acme/app/forks", "{}", Some("fork")),
    ("POST", "/gists", "{}", Some("gists")),
    ("POST", "/user/codespaces", "{}", Some("codespaces")),
    ("PATCH", "/user", "{}", Some("pull-request work")),
    ("POST", "/orgs/acme/repos", "{}", Some("pull-request work")),
    ("POST", "/repos/acme/app/issues", r#"{"title":"t"}"#, None),
    (
        "POST",
        "/repos/acme/app/issues/3/comments",
        r#"{"body":"b"}"#,
        None,
    ),
    (
        "PATCH",
        "/repos/acme/app/issues/3",
        r#"{"state":"closed"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/issues/3/labels",
        r#"{"labels":["bug"]}"#,
        None,
    ),
    ("PATCH", "/repos/acme/app/pulls/3", r#"{"title":"t"}"#, None),
    (
        "POST",
        "/repos/acme/app/pulls/3/reviews",
        r#"{"event":"APPROVE"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/pulls/3/comments/9/replies",
        r#"{"body":"b"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/pulls",
        r#"{"head":"feature","base":"main"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/pulls",
        r#"{"head":"acme:feature","base":"main"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/pulls",
        r#"{"head":"main","base":"dev"}"#,
        Some("BLOCKED_BRANCHES"),
    ),
    (
        "POST",
        "/repos/acme/app/pulls",
        r#"{"base":"dev"}"#,
        Some("head"),
    ),
    (
        "POST",
        "/repos/other/app/issues",
        r#"{"title":"t"}"#,
        Some("ALLOWED_REPOS"),
    ),
    (
        "PUT",
        "/repos/acme/app/pulls/3/merge",
        "{}",
        Some("ALLOW_PR_MERGE"),
    ),
    (
        "POST",
        "/repos/acme/app/actions/workflows/ci.yml/dispatches",
        r#"{"ref":"x"}"#,
        Some("ALLOW_WORKFLOW_RUN"),
    ),
    (
        "POST",
        "/repos/acme/app/actions/runs/5/rerun",
        "",
        Some("ALLOW_WORKFLOW_RUN"),
    ),
    (
        "POST",
        "/repos/acme/app/actions/runs/5/cancel",
        "",
        Some("ALLOW_WORKFLOW_RUN"),
    ),
    (
        "DELETE",
        "/repos/acme/app/actions/runs/5",
        "",
        Some("not a write"),
    ),
    (
        "DELETE",
        "/repos/acme/app/issues/3",
        "",
        Some("not a write"),
    ),
    (
        "POST",
        "/repos/acme/app/git/refs",
        r#"{"ref":"refs/heads/feat","sha":"abc"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/git/refs",
        r#"{"ref":"refs/heads/main","sha":"abc"}"#,
        Some("BLOCKED_BRANCHES"),
    ),
    (
        "POST",
        "/repos/acme/app/git/refs",
        r#"{"ref":"refs/tags/v1","sha":"abc"}"#,
        Some("ALLOW_TAG_PUSH"),
    ),
    (
        "PATCH",
        "/repos/acme/app/git/refs/heads/feat",
        r#"{"sha":"abc"}"#,
        None,
    ),
    (
        "PATCH",
        "/repos/acme/app/git/refs/heads/feat",
        r#"{"sha":"abc","force":true}"#,
        Some("ALLOW_FORCE_PUSH"),
    ),
    (
        "PATCH",
        "/repos/acme/app/git/refs/heads/main",
        r#"{"sha":"abc"}"#,
        Some("BLOCKED_BRANCHES"),
    ),
    (
        "DELETE",
        "/repos/acme/app/git/refs/heads/feat",
        "",
        Some("ALLOW_DELETE_REMOTE"),
    ),
    (
        "PUT",
        "/repos/acme/app/contents/a.txt",
        r#"{"message":"m","content":"","branch":"feat"}"#,
        None,
    ),
    (
        "PUT",
        "/repos/acme/app/contents/a.txt",
        r#"{"message":"m","content":""}"#,
        Some("default branch"),
    ),
    (
        "PUT",
        "/repos/acme/app/contents/a.txt",
        r#"{"message":"m","content":"","branch":"main"}"#,
        Some("BLOCKED_BRANCHES"),
    ),
    (
        "POST",
        "/repos/acme/app/merges",
        r#"{"base":"main","head":"feat"}"#,
        Some("BLOCKED_BRANCHES"),
    ),
    (
        "POST",
        "/repos/acme/app/merges",
        r#"{"base":"feat","head":"x"}"#,
        None,
    ),
    (
        "POST",
        "/repos/acme/app/git/refs",
        "not json",
        Some("not JSON"),
    ),
];

#[test]
fn rest_table_defaults() {
    let p = policy();
    for (method, path, body, want) in REST_DEFAULTS {
        let got = rest(&p, method, path, body);
        match (want, &got) {
            (None, Ok(_)) => {}
            (Some(text), Err(d)) => assert!(
                d.message.contains(text),
                "{method} {path}: message {:?} lacks {text:?}",
                d.message
            ),
            _ => panic!("{method} {path} {body}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn rest_settings_lift_their_refusals() {
    let p = policy_with(|c| {
        c.allow_pr_merge = true;
        c.allow_workflow_run = true;
        c.allow_force_push = true;
        c.allow_delete_remote = true;
    });
    for (m, path, body) in [
        ("PUT", "/repos/acme/app/pulls/3/merge", "{}"),
        ("POST", "/repos/acme/app/actions/runs/5/rerun", ""),
        (
            "POST",
            "/repos/acme/app/actions/workflows/ci.yml/dispatches",
            "{}",
        ),
        (
            "PATCH",
            "/repos/acme/app/git/refs/heads/feat",
            r#"{"force":true}"#,
        ),
        ("DELETE", "/repos/acme/app/git/refs/heads/feat", ""),
    ] {
        assert!(rest(&p, m, path, body).is_ok(), "{m} {path}");
    }
    // Never-refused things stay refused.
    assert!(rest(&p, "DELETE", "/repos/acme/app", "").is_err());
    assert!(rest(
        &p,
        "PATCH",
        "/repos/acme/app/git/refs/heads/main",
        r#"{"force":true}"#
    )
    .is_err());
}

#[test]
fn refusals_name_their_setting() {
    let p = policy();
    let d = rest(&p, "PUT", "/repos/acme/app/pulls/3/merge", "{}").unwrap_err();
    assert_eq!(d.setting, Some("ALLOW_PR_MERGE"));
    let d = rest(&p, "GET", "/repos/x/y", "").unwrap_err();
    assert_eq!(d.setting, Some("ALLOWED_REPOS"));
    let d = rest(&p, "POST", "/repos/acme/app/actions/runs/1/rerun", "").unwrap_err();
    assert_eq!(d.setting, Some("ALLOW_WORKFLOW_RUN"));
}

fn gql(p: &Policy, query: &str, variables: serde_json::Value) -> Result<Allowed, Denial> {
    let body = json!({"query": query, "variables": variables}).to_string();
    p.check_api(&ApiRequest {
        method: "POST",
        path: "/graphql",
        query: None,
        body: body.as_bytes(),
    })
}

const PR_LIST: &str = r#"fragment pr on PullRequest{number,title,state,url,headRefName,headRepositoryOwner{id,login,...on User{name}},isCrossRepository,isDraft,createdAt}
query PullRequestList($owner: String!, $repo: String!, $limit: Int!, $endCursor: String, $state: [PullRequestState!] = OPEN) {
  repository(owner: $owner, name: $repo) {
    pullRequests(states: $state, first: $limit, after: $endCursor, orderBy: {field: CREATED_AT, direction: DESC}) {
      totalCount nodes { ...pr } pageInfo { hasNextPage endCursor }
    }
  }
}"#;

#[test]
fn graphql_reads_of_allowed_repos() {
    let p = policy();
    let a = gql(&p, PR_LIST, json!({"owner":"acme","repo":"app","limit":30})).unwrap();
    assert_eq!(
        a.kind,
        Kind::Graphql {
            operation: Some("PullRequestList".into())
        }
    );
    assert!(a.nodes.is_empty());
    gql(&p, "query UserCurrent{viewer{login}}", json!({})).unwrap();
    gql(&p, "{ rateLimit { remaining } }", json!({})).unwrap();
    gql(
        &p,
        r#"query PullRequest_fields{PullRequest: __type(name: "PullRequest"){fields(includeDeprecated: true){name}}}"#,
        json!({}),
    )
    .unwrap();
    gql(
        &p,
        r#"query { repository(owner:"acme", name:"app") { id parent { id name owner { login } defaultBranchRef { name } } } }"#,
        json!({}),
    )
    .unwrap();
    let a = gql(
        &p,
        "query Q($id: ID!) { node(id: $id) { ... on PullRequest { number } } }",
        json!({"id":"PR_1"}),
    )
    .unwrap();
    assert_eq!(a.nodes.len(), 1);
    assert_eq!(a.nodes[0].id, "PR_1");
    gql(
        &p,
        r#"query { search(query: "is:pr repo:acme/app", type: ISSUE, first: 10) { nodes { ... on PullRequest { number repository { nameWithOwner } } } } }"#,
        json!({}),
    )
    .unwrap();
}

#[test]
fn graphql_refusals() {
    let p = policy();
    let cases: &[(&str, serde_json::Value, &str)] = &[
        (
            PR_LIST,
            json!({"owner":"other","repo":"app","limit":1}),
            "ALLOWED_REPOS",
        ),
        // Hidden in a fragment.
        (
            r#"query { ...F } fragment F on Query { repository(owner:"other", name:"x") { id } }"#,
            json!({}),
            "other/x",
        ),
        // Hidden in an inline fragment.
        (
            r#"query { ... on Query { repository(owner:"other", name:"x") { id } } }"#,
            json!({}),
            "other/x",
        ),
        // Hidden behind an alias next to an allowed one.
        (
            r#"query { a: repository(owner:"acme", name:"app") { id } b: repository(owner:"other", name:"x") { id } }"#,
            json!({}),
            "other/x",
        ),
        // In a variable default.
        (
            r#"query($o: String = "other") { repository(owner:$o, name:"x") { id } }"#,
            json!({}),
            "other/x",
        ),
        // A second operation that operationName does not select.
        (
            r#"query A { viewer { login } } query B { repository(owner:"other", name:"x") { id } }"#,
            json!({}),
            "operationName",
        ),
        (
            r#"query { user(login:"x") { login } }"#,
            json!({}),
            "'user'",
        ),
        (
            r#"query { organization(login:"x") { id } }"#,
            json!({}),
            "'organization'",
        ),
        (
            r#"query { viewer { repositories(first:10) { nodes { name } } } }"#,
            json!({}),
            "repositories",
        ),
        (
            r#"query { viewer { pullRequests(first:10) { nodes { title } } } }"#,
            json!({}),
            "pullRequests",
        ),
        (
            r#"query { repository(owner:"acme", name:"app") { owner { ... on User { issues(first:5) { nodes { body } } } } } }"#,
            json!({}),
            "issues",
        ),
        (
            r#"query { repository(owner:"acme", name:"app") { parent { issues(first:5) { nodes { body } } } } }"#,
            json!({}),
            "issues",
        ),
        (
            r#"query { search(query:"secret", type: ISSUE, first:5) { issueCount } }"#,
            json!({}),
            "repo:",
        ),
        (r#"subscription { x }"#, json!({}), "subscriptions"),
        (
            r#"query { repository(owner:"acme", name:"app") { id "#,
            json!({}),
            "does not parse",
        ),
        (r#"type Query { x: Int }"#, json!({}), "only queries"),
        // Mutations.
        (
            r#"mutation { a: addComment(input:{subjectId:"X", body:"b"}) { clientMutationId } }"#,
            json!({}),
            "aliased",
        ),
        (
            r#"mutation { addComment(input:{subjectId:"X", body:"b"}) { clientMutationId } closeIssue(input:{issueId:"Y"}) { clientMutationId } }"#,
            json!({}),
            "exactly one",
        ),
        (
            r#"mutation { deleteRepository(input:{repositoryId:"R"}) { clientMutationId } }"#,
            json!({}),
            "deleteRepository",
        ),
        (
            r#"mutation { createGist(input:{}) { clientMutationId } }"#,
            json!({}),
            "createGist",
        ),
        (
            r#"mutation M($input: MergePullRequestInput!) { mergePullRequest(input:$input) { clientMutationId } }"#,
            json!({"input":{"pullRequestId":"PR"}}),
            "ALLOW_PR_MERGE",
        ),
        (
            r#"mutation { createCommitOnBranch(input:{branch:{repositoryNameWithOwner:"acme/app", branchName:"main"}, message:{headline:"x"}, expectedHeadOid:"0"}) { clientMutationId } }"#,
            json!({}),
            "BLOCKED_BRANCHES",
        ),
        (
            r#"mutation { createCommitOnBranch(input:{branch:{repositoryNameWithOwner:"other/x", branchName:"feat"}}) { clientMutationId } }"#,
            json!({}),
            "ALLOWED_REPOS",
        ),
        (
            r#"mutation { createRef(input:{repositoryId:"R", name:"refs/heads/main", oid:"0"}) { clientMutationId } }"#,
            json!({}),
            "BLOCKED_BRANCHES",
        ),
        (
            r#"mutation { updateRefs(input:{repositoryId:"R", refUpdates:[{name:"refs/heads/feat", afterOid:"1", force:true}]}) { clientMutationId } }"#,
            json!({}),
            "ALLOW_FORCE_PUSH",
        ),
        (
            r#"mutation($i: CreatePullRequestInput!) { createPullRequest(input:$i) { pullRequest { url } } }"#,
            json!({"i":{"repositoryId":"R","headRefName":"main","baseRefName":"dev","title":"t"}}),
            "BLOCKED_BRANCHES",
        ),
        (
            r#"mutation { addComment(input:{body:"b"}) { clientMutationId } }"#,
            json!({}),
            "names no repository",
        ),
        (
            r#"mutation { addComment(input:{subjectId:"X", body:"b"}) { commentEdge { node { repository { issues(first:1) { nodes { body } } } } } } }"#,
            json!({}),
            "issues",
        ),
    ];
    for (q, vars, want) in cases {
        match gql(&p, q, vars.clone()) {
            Err(d) => assert!(
                d.message.contains(want),
                "{q}: {:?} lacks {want:?}",
                d.message
            ),
            Ok(a) => panic!("{q}: allowed: {a:?}"),
        }
    }
    // Batched (array) body.
    let body = br#"[{"query":"{ viewer { login } }"}]"#;
    let d = p
        .check_api(&ApiRequest {
            method: "POST",
            path: "/graphql",
            query: None,
            body,
        })
        .unwrap_err();
    assert!(d.message.contains("batched"), "{}", d.message);
}

#[test]
fn graphql_mutations_return_their_ids() {
    let p = policy();
    let a = gql(
        &p,
        "mutation CommentCreate($input:AddCommentInput!){addComment(input: $input){commentEdge{node{url}}}}",
        json!({"input":{"subjectId":"PR_1","body":"hi"}}),
    )
    .unwrap();
    assert_eq!(a.nodes.len(), 1);
    assert_eq!(a.nodes[0].id, "PR_1");
    assert_eq!(a.nodes[0].field, "addComment.input.subjectId");
    let a = gql(
        &p,
        "mutation($i: AddLabelsToLabelableInput!){addLabelsToLabelable(input:$i){clientMutationId}}",
        json!({"i":{"labelableId":"PR_1","labelIds":["L1","L2"]}}),
    )
    .unwrap();
    let ids: Vec<&str> = a.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&"PR_1") && ids.contains(&"L1") && ids.contains(&"L2"));
    let a = gql(
        &p,
        "mutation($i: RequestReviewsInput!){requestReviews(input:$i){clientMutationId}}",
        json!({"i":{"pullRequestId":"PR_1","userIds":["U1"],"union":true}}),
    )
    .unwrap();
    assert_eq!(a.nodes.len(), 1, "user ids are not repository content");
    let a = gql(
        &p,
        "mutation { updateRef(input:{refId:\"REF\", oid:\"1\", force:true}) { clientMutationId } }",
        json!({}),
    )
    .unwrap();
    assert_eq!(
        a.nodes[0].role,
        NodeRole::RefUpdate {
            delete: false,
            force: true
        }
    );
}

#[test]
fn resolved_nodes_decide() {
    let p = policy();
    let node = |id: &str, role| NodeRef {
        id: id.into(),
        field: "f".into(),
        role,
    };
    let pr = ResolvedNode {
        typename: "PullRequest".into(),
        repo: Some("acme/app".into()),
        ref_name: None,
    };
    let other = ResolvedNode {
        typename: "PullRequest".into(),
        repo: Some("other/x".into()),
        ref_name: None,
    };
    let user = ResolvedNode {
        typename: "User".into(),
        repo: None,
        ref_name: None,
    };
    let main_ref = ResolvedNode {
        typename: "Ref".into(),
        repo: Some("acme/app".into()),
        ref_name: Some("refs/heads/main".into()),
    };
    let feat_ref = ResolvedNode {
        ref_name: Some("refs/heads/feat".into()),
        ..main_ref.clone()
    };
    let n = [node("A", NodeRole::InAllowedRepo)];
    assert!(p.check_nodes(&n, &[Some(pr.clone())]).is_ok());
    let d = p.check_nodes(&n, &[Some(other)]).unwrap_err();
    assert_eq!(d.setting, Some("ALLOWED_REPOS"));
    assert!(p.check_nodes(&n, &[Some(user)]).is_err());
    assert!(p.check_nodes(&n, &[None]).is_err());
    assert!(p.check_nodes(&n, &[]).is_err());
    let upd = [node(
        "R",
        NodeRole::RefUpdate {
            delete: false,
            force: true,
        },
    )];
    let d = p.check_nodes(&upd, &[Some(main_ref)]).unwrap_err();
    assert_eq!(d.setting, Some("BLOCKED_BRANCHES"));
    let d = p.check_nodes(&upd, &[Some(feat_ref.clone())]).unwrap_err();
    assert_eq!(d.setting, Some("ALLOW_FORCE_PUSH"));
    let upd = [node(
        "R",
        NodeRole::RefUpdate {
            delete: false,
            force: false,
        },
    )];
    assert!(p.check_nodes(&upd, &[Some(feat_ref)]).is_ok());
    assert!(p.check_nodes(&upd, &[Some(pr)]).is_err(), "not a ref");
}

#[test]
fn deep_and_huge_documents_are_refused_not_crashing() {
    let p = policy();
    let deep = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
    assert!(gql(&p, &deep, json!({})).is_err());
    let wide = format!("{{ {} }}", "a ".repeat(100_000));
    assert!(gql(&p, &wide, json!({})).is_err());
    // Fragment fan-out: each fragment spreads the previous one twice.
    let mut q = String::from("fragment F0 on Repository { id }\n");
    for i in 1..40 {
        q.push_str(&format!(
            "fragment F{i} on Repository {{ ...F{} ...F{} }}\n",
            i - 1,
            i - 1
        ));
    }
    q.push_str(r#"query { repository(owner:"acme", name:"app") { ...F39 } }"#);
    let d = gql(&p, &q, json!({})).unwrap_err();
    assert!(d.message.contains("too large"), "{}", d.message);
    // Cyclic fragments.
    let q = r#"query { repository(owner:"acme", name:"app") { ...A } } fragment A on Repository { ...B } fragment B on Repository { ...A }"#;
    assert!(gql(&p, q, json!({})).is_err());
}

#[test]
fn form_decoding() {
    assert_eq!(form_decode("a+b%3Ac%2F"), "a b:c/");
    assert_eq!(form_decode("%zz%"), "%zz%");
    assert_eq!(
        query_values(Some("x=1&q=repo%3Aa%2Fb&q=2"), "q").collect::<Vec<_>>(),
        ["repo:a/b", "2"]
    );
}

proptest! {
    #[test]
    fn rest_never_panics(method in "(GET|POST|PUT|PATCH|DELETE|HEAD|X)", path in "[/a-z%.{}0-9]{0,80}", query in proptest::option::of("[a-z=&%+:0-9]{0,40}"), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let p = policy();
        let _ = p.check_api(&ApiRequest { method: &method, path: &path, query: query.as_deref(), body: &body });
    }

    #[test]
    fn graphql_never_panics(query in "[{}()a-z:$!@. \"\\[\\],=]{0,200}", var in "[a-z/]{0,10}") {
        let p = policy();
        let body = json!({"query": query, "variables": {"o": var}}).to_string();
        let _ = p.check_graphql(body.as_bytes());
    }

    #[test]
    fn graphql_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = policy().check_graphql(&body);
    }
}
