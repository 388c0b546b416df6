//! Arbitrary bytes → API request (method, path, query, body) → `Policy::check_api` (DESIGN §5,
//! threat class 4). Never panics; with `ALLOWED_REPOS=["acme/app"]` anything allowed that names a
//! repository in its REST path names acme/app.
#![no_main]

use gitgate_policy::api::{ApiRequest, Kind};
use gitgate_policy::{Policy, PolicyConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::new(PolicyConfig {
            allowed_repos: vec!["acme/app".into()],
            ..PolicyConfig::default()
        })
        .expect("policy")
    })
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let method = METHODS[sel as usize % METHODS.len()];
    // Layout: path \0 query \0 body (GraphQL when sel is odd).
    let mut parts = rest.splitn(3, |b| *b == 0);
    let path = String::from_utf8_lossy(parts.next().unwrap_or(b""));
    let query = parts.next().map(|q| String::from_utf8_lossy(q).into_owned());
    let body = parts.next().unwrap_or(b"");
    let graphql = sel % 2 == 1;
    let path = if graphql { "/graphql".into() } else { path };
    let req = ApiRequest {
        method: if graphql { "POST" } else { method },
        path: &path,
        query: query.as_deref(),
        body,
    };
    if let Ok(a) = policy().check_api(&req) {
        if let Some(rest) = path.strip_prefix("/repos/") {
            if !matches!(a.kind, Kind::Graphql { .. }) {
                let slug: Vec<&str> = rest.splitn(3, '/').take(2).collect();
                assert!(
                    slug.join("/").eq_ignore_ascii_case("acme/app"),
                    "allowed outside ALLOWED_REPOS: {path}"
                );
            }
        }
    }
});
