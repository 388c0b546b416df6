//! The GitHub API gateway (DESIGN §4): the real `gh` sends its HTTP here over a Unix socket
//! (`http_unix_socket` in its config). For each request: the peer's uid is checked (`SO_PEERCRED`,
//! `ALLOWED_UIDS`), the client's `Authorization` is dropped, the `Host` must be the API host, the
//! policy decides (node ids resolved by the agent's own query), the token is added, the request is
//! forwarded, and the response is streamed back through the token scanner with an allowlist of
//! headers. Refusals are GitHub-shaped so gh prints them as its own errors.

mod nodes;
pub(crate) mod upstream;

use crate::session::Peer;
use crate::state::AgentState;
use bytes::Bytes;
use gitgate_policy::api::{Allowed, ApiRequest, Kind};
use gitgate_policy::Denial;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

pub use upstream::GatewayBody;

/// Largest request body accepted (PR and issue bodies, GraphQL documents).
pub const MAX_REQUEST_BODY: usize = 8 * 1024 * 1024;

/// The message when no token is loaded (brief, DESIGN §6).
pub const NO_TOKEN: &str =
    "gitgate: no GitHub token is loaded (set GITHUB_TOKEN or GITHUB_TOKEN_FILE in .env and restart)";

/// Shared gateway state: the upstream client, the node cache, the concurrency bound.
pub struct Gateway {
    state: Arc<AgentState>,
    upstream: upstream::Upstream,
    nodes: nodes::NodeCache,
    connections: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    pub fn new(state: Arc<AgentState>) -> Result<Arc<Gateway>, String> {
        let settings = state.settings();
        let upstream = upstream::Upstream::new(&settings)?;
        Ok(Arc::new(Gateway {
            connections: Arc::new(tokio::sync::Semaphore::new(settings.max_connections)),
            state,
            upstream,
            nodes: nodes::NodeCache::default(),
        }))
    }
}

impl Gateway {
    /// Serve on `listener` until the agent stops accepting; connections join the shutdown tracker.
    pub fn serve_on(
        self: Arc<Self>,
        listener: UnixListener,
        shutdown: &crate::server::Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(serve(
            self,
            listener,
            shutdown.stop_accepting.clone(),
            shutdown.tracker.clone(),
        ))
    }
}

/// Accept connections until `stop` fires. Connections in flight are tracked by `tracker`.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: UnixListener,
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let gw = gw.clone();
                    let stop = stop.clone();
                    tracker.spawn(async move { connection(gw, stream, stop).await });
                }
                Err(e) => {
                    crate::log::warn(&gw.state, &format!("api socket: accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Why a whole connection is refused (answered to every request on it).
#[derive(Clone)]
enum ConnRefusal {
    Uid(u32),
    NoPeer,
    Busy(usize),
}

async fn connection(gw: Arc<Gateway>, stream: UnixStream, stop: CancellationToken) {
    let settings = gw.state.settings();
    let peer = crate::server::peer_of(&stream);
    let mut refusal = match peer {
        None => Some(ConnRefusal::NoPeer),
        Some(p) if !gw.state.allowed_uids().contains(&p.uid) => {
            crate::log::warn(
                &gw.state,
                &format!("api socket: refused uid {} (pid {})", p.uid, p.pid),
            );
            Some(ConnRefusal::Uid(p.uid))
        }
        Some(_) => None,
    };
    let permit = gw.connections.clone().try_acquire_owned().ok();
    if refusal.is_none() && permit.is_none() {
        refusal = Some(ConnRefusal::Busy(settings.max_connections));
    }
    let peer = peer.unwrap_or(Peer {
        uid: u32::MAX,
        pid: 0,
    });
    let service_gw = gw.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let gw = service_gw.clone();
        let refusal = refusal.clone();
        async move {
            Ok::<_, std::convert::Infallible>(match refusal {
                Some(r) => refuse_connection(&r, &req),
                None => handle(&gw, peer, req).await,
            })
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(settings.hello_timeout_ms))
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(settings.shutdown_grace_secs), conn).await;
        }
    }
    drop(permit);
}

fn is_graphql(path: &str) -> bool {
    path == "/graphql" || path == "/api/graphql"
}

fn refuse_connection(r: &ConnRefusal, req: &Request<Incoming>) -> Response<GatewayBody> {
    let msg = match r {
        ConnRefusal::Uid(uid) => format!(
            "gitgate: connection refused: uid {uid} is not allowed on this socket (ALLOWED_UIDS)"
        ),
        ConnRefusal::NoPeer => "gitgate: cannot read the peer credentials of this connection".into(),
        ConnRefusal::Busy(n) => format!(
            "gitgate: agent busy: {n} API connections already open (GITGATE_MAX_CONNECTIONS); try again"
        ),
    };
    refusal_response(is_graphql(req.uri().path()), StatusCode::FORBIDDEN, &msg)
}

/// The text gh shows: `gitgate: <reason> (SETTING)`.
fn denial_text(d: &Denial) -> String {
    match d.setting {
        Some(s) if !d.message.ends_with(&format!("({s})")) => {
            format!("gitgate: {} ({s})", d.message)
        }
        _ => format!("gitgate: {}", d.message),
    }
}

/// A GitHub-shaped refusal: REST `403 {"message":…}`; GraphQL `200 {"errors":[{"type":"FORBIDDEN",…}]}`.
pub fn refusal_response(graphql: bool, status: StatusCode, msg: &str) -> Response<GatewayBody> {
    let (status, body) = if graphql {
        (
            StatusCode::OK,
            serde_json::json!({"data": null, "errors": [{"type": "FORBIDDEN", "message": msg}]}),
        )
    } else {
        (
            status,
            serde_json::json!({"message": msg, "documentation_url": "https://docs.github.com/rest"}),
        )
    };
    let mut resp = Response::new(GatewayBody::full(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// What the audit line says about one request.
struct Audit {
    method: String,
    path: String,
    operation: Option<String>,
    decision: &'static str,
    reason: String,
    repo: Option<String>,
}

async fn handle(gw: &Gateway, peer: Peer, req: Request<Incoming>) -> Response<GatewayBody> {
    let started = Instant::now();
    let mut audit = Audit {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        operation: None,
        decision: "deny",
        reason: String::new(),
        repo: None,
    };
    let graphql = is_graphql(req.uri().path());
    let resp = match decide_and_forward(gw, req, &mut audit).await {
        Ok(r) => r,
        Err((status, msg)) => {
            audit.reason = msg.clone();
            refusal_response(graphql, status, &gw.state.redactor.redact_str(&msg))
        }
    };
    let status = resp.status().as_u16();
    let (parts, body) = resp.into_parts();
    let state = gw.state.clone();
    let body = body.on_end(Box::new(move |bytes| {
        crate::audit::record_api(
            &state,
            crate::audit::ApiAuditRecord {
                peer,
                method: &audit.method,
                path: &audit.path,
                operation: audit.operation.as_deref(),
                repo: audit.repo.as_deref(),
                decision: audit.decision,
                reason: &audit.reason,
                status,
                bytes,
                duration: started.elapsed(),
            },
        );
    }));
    Response::from_parts(parts, body)
}

type Refuse = (StatusCode, String);

fn forbidden(d: &Denial) -> Refuse {
    (StatusCode::FORBIDDEN, denial_text(d))
}

/// REST refusals are 403, except where gh 2.23 replaces a 403 by its own text and would hide
/// the reason: `gh run rerun` prints "run N cannot be rerun; its workflow file may be broken" for
/// any 403, so reruns are refused with 422 (gh prints `HTTP 422: gitgate: …`).
fn forbidden_for(path: &str, d: &Denial) -> Refuse {
    let rerun = path.contains("/actions/") && path.contains("/rerun");
    let status = if rerun {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::FORBIDDEN
    };
    (status, denial_text(d))
}

async fn decide_and_forward(
    gw: &Gateway,
    req: Request<Incoming>,
    audit: &mut Audit,
) -> Result<Response<GatewayBody>, Refuse> {
    let settings = gw.state.settings();
    let policy = gw.state.policy();
    let api = upstream::ApiBase::parse(&settings.github_api_url).ok_or_else(|| {
        (
            StatusCode::BAD_GATEWAY,
            "gitgate: GITHUB_API_URL is not a valid URL".into(),
        )
    })?;
    // Host: the header (origin-form requests) or the authority (absolute-form).
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !api.host_allowed(&host) {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "gitgate: requests to '{}' are refused: only the GitHub API ({}) is reachable through gitgate",
                gitgate_policy::denial::quote(&host),
                api.host_port
            ),
        ));
    }
    let method = req.method().as_str().to_ascii_uppercase();
    let raw_path = req.uri().path().to_owned();
    let path = api.canonical_path(&raw_path);
    let query = req.uri().query().map(str::to_owned);
    let headers = req.headers().clone();
    // The body, bounded in size and time.
    let limited = Limited::new(req.into_body(), MAX_REQUEST_BODY);
    let io_timeout = Duration::from_secs(settings.io_timeout_secs);
    let body = match tokio::time::timeout(io_timeout, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                "gitgate: request body too large or unreadable (limit {MAX_REQUEST_BODY} bytes)"
            ),
            ))
        }
        Err(_) => {
            return Err((
                StatusCode::REQUEST_TIMEOUT,
                "gitgate: the request body did not arrive in time (GITGATE_IO_TIMEOUT_SECS)".into(),
            ))
        }
    };
    if !gw.state.token.is_loaded() {
        // GitHub App mode: say why no installation token is loaded (app_token.rs).
        let msg = match gw.state.app.get() {
            Some(app) => app.no_token_reason(),
            None => NO_TOKEN.into(),
        };
        return Err((StatusCode::FORBIDDEN, msg));
    }
    // The policy: pure, but a GraphQL parse is CPU work, so off the async workers.
    let decision = {
        let policy = policy.clone();
        let (m, p, q, b) = (method.clone(), path.clone(), query.clone(), body.clone());
        tokio::task::spawn_blocking(move || {
            policy.check_api(&ApiRequest {
                method: &m,
                path: &p,
                query: q.as_deref(),
                body: &b,
            })
        })
        .await
        .map_err(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "gitgate: internal error".to_owned(),
            )
        })?
    };
    let allowed: Allowed = match decision {
        Ok(a) => a,
        Err(d) => return Err(forbidden_for(&path, &d)),
    };
    if let Kind::Graphql { operation } = &allowed.kind {
        audit.operation = operation.clone();
    }
    audit.repo = allowed.repo.clone();
    if !allowed.nodes.is_empty() {
        let resolved = gw
            .nodes
            .resolve(&gw.upstream, &gw.state, &api, &allowed.nodes)
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, gw.state.redactor.redact_str(&e)))?;
        policy
            .check_nodes(&allowed.nodes, &resolved)
            .map_err(|d| forbidden(&d))?;
    }
    audit.decision = "allow";
    audit.reason = allowed.reason.clone();
    let follow = allowed.kind == Kind::Read;
    gw.upstream
        .forward(
            &gw.state,
            &api,
            upstream::Outbound {
                method: &method,
                path: &path,
                query: query.as_deref(),
                headers: &headers,
                body,
                follow_redirects: follow,
            },
        )
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, gw.state.redactor.redact_str(&e)))
}

/// Bind the API socket like the git socket (parent dir 0750, stale socket removed, socket 0660).
pub fn bind(path: &std::path::Path) -> std::io::Result<UnixListener> {
    crate::server::bind(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_github_shaped_and_name_the_setting() {
        let d = Denial::with_setting("merging is disabled", "ALLOW_PR_MERGE");
        assert_eq!(
            denial_text(&d),
            "gitgate: merging is disabled (ALLOW_PR_MERGE)"
        );
        let d = Denial::with_setting("x refused (ALLOW_PR_MERGE)", "ALLOW_PR_MERGE");
        assert_eq!(denial_text(&d), "gitgate: x refused (ALLOW_PR_MERGE)");
        assert_eq!(denial_text(&Denial::new("no")), "gitgate: no");
        let r = refusal_response(false, StatusCode::FORBIDDEN, "gitgate: no");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = refusal_response(true, StatusCode::FORBIDDEN, "gitgate: no");
        assert_eq!(r.status(), StatusCode::OK, "GraphQL errors travel in a 200");
        let d = Denial::new("x");
        assert_eq!(
            forbidden_for("/repos/a/b/actions/runs/1/rerun", &d).0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            forbidden_for("/repos/a/b/pulls", &d).0,
            StatusCode::FORBIDDEN
        );
    }
}
