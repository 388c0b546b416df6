//! The agent's smart-HTTP client: rustls, roots loaded on first use, TCP_NODELAY, connect and
//! idle timeouts from the settings, no redirects. The token goes into exactly one place: the
//! `Authorization` header built here, marked sensitive. GitHub App mode: a request the agent can
//! send again (it holds the body, nothing of the answer went to git yet) gets one refresh and
//! one retry on a 401 (`send_replayable`).

use crate::config::Settings;
use crate::error::AgentError;
use crate::redact::StreamScanner;
use crate::secret::{Token, BASIC_USER};
use crate::session::Output;
use crate::state::AgentState;
use base64::Engine as _;
use futures_util::StreamExt as _;
use std::sync::OnceLock;
use std::time::Duration;

static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
static STREAMING_CLIENT: OnceLock<reqwest::Client> = OnceLock::new();

/// The shared client, built (and the CA roots loaded) on first use, not at start.
pub fn client(settings: &Settings) -> Result<reqwest::Client, String> {
    shared(&CLIENT, settings, false)
}

/// The client of a push streamed while git is still sending its pack (receive.rs): reqwest's
/// read timeout runs from the start of a request to its answer, which would make git's time to
/// write the pack count against GITGATE_IO_TIMEOUT_SECS. That request bounds its own waits for
/// the server instead (from the end of the body, and between answer chunks: `forward`). It keeps
/// no idle connection (a streamed push is large: a new connection costs it little), so the idle
/// pool toward upstream stays the shared client's.
pub fn streaming_client(settings: &Settings) -> Result<reqwest::Client, String> {
    shared(&STREAMING_CLIENT, settings, true)
}

fn shared(
    cell: &OnceLock<reqwest::Client>,
    settings: &Settings,
    streaming: bool,
) -> Result<reqwest::Client, String> {
    if let Some(c) = cell.get() {
        return Ok(c.clone());
    }
    let io = Duration::from_secs(settings.io_timeout_secs.max(1));
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs.max(1)))
        .pool_idle_timeout(io)
        // Idle keep-alive connections kept for reuse: a burst of concurrent pushes or fetches
        // would otherwise leave one open per request of the burst until the idle timeout.
        .pool_max_idle_per_host(if streaming { 0 } else { 8 })
        .user_agent(concat!("git/gitgate-", env!("CARGO_PKG_VERSION")));
    if !streaming {
        b = b.read_timeout(io);
    }
    let c = b
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(cell.get_or_init(|| c).clone())
}

/// `Authorization: Basic base64(x-access-token:TOKEN)`, sensitive, and the token generation it
/// was built from (one read, for the App-mode 401 rule). `None` without a token.
pub fn auth_versioned(token: &Token) -> Option<(reqwest::header::HeaderValue, u64)> {
    token
        .with_exposed_versioned(|t, generation| {
            let plain = zeroize::Zeroizing::new(format!("{BASIC_USER}:{t}"));
            let enc = zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(plain.as_bytes()),
            );
            let value = zeroize::Zeroizing::new(format!("Basic {}", enc.as_str()));
            reqwest::header::HeaderValue::from_str(&value)
                .ok()
                .map(|mut v| {
                    v.set_sensitive(true);
                    (v, generation)
                })
        })
        .flatten()
}

/// GitHub App mode: upstream answered `status` to a request sent with token generation `seen`
/// whose body the agent can send again. On a 401 this triggers one refresh through the same
/// single-flight path as the gateway (`AppTokens::retry_after_401`: concurrent 401s wait for
/// one mint) and says whether to retry once. A personal token is never retried: git gets its
/// own "Authentication failed" as without gitgate.
pub async fn retry_401(state: &AgentState, status: reqwest::StatusCode, seen: u64) -> bool {
    match state.app.get() {
        Some(app) if status == reqwest::StatusCode::UNAUTHORIZED => {
            app.clone().retry_after_401(state, seen).await
        }
        _ => false,
    }
}

/// Send a request whose body is held by the agent (replayable), built by `build` around the
/// current `Authorization`; in App mode a 401 gets one refresh and one retry (`retry_401`). A
/// public fetch (`anonymous`, ALLOW_PUBLIC_FETCH) is sent once without any credentials.
pub async fn send_replayable(
    state: &AgentState,
    anonymous: bool,
    shown_url: &str,
    mut build: impl FnMut(Option<reqwest::header::HeaderValue>) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, AgentError> {
    if anonymous {
        return build(None)
            .send()
            .await
            .map_err(|e| send_error(&e, shown_url));
    }
    let mut retried = false;
    loop {
        let (auth, seen) = auth_versioned(&state.token).ok_or_else(|| no_token(state))?;
        let resp = build(Some(auth))
            .send()
            .await
            .map_err(|e| send_error(&e, shown_url))?;
        if retried || !retry_401(state, resp.status(), seen).await {
            return Ok(resp);
        }
        retried = true;
    }
}

/// `rb` with `Authorization: auth`, or without any for a public fetch.
pub fn authorized(
    rb: reqwest::RequestBuilder,
    auth: Option<reqwest::header::HeaderValue>,
) -> reqwest::RequestBuilder {
    match auth {
        Some(a) => rb.header(reqwest::header::AUTHORIZATION, a),
        None => rb,
    }
}

/// The URL as git's own messages show it (with a trailing slash, like remote-curl).
pub fn shown(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// git's own wording for an HTTP failure of `url` (as the client wrote it).
pub fn status_error(status: reqwest::StatusCode, url: &str) -> AgentError {
    let u = shown(url);
    let msg = match status.as_u16() {
        401 | 403 => format!("fatal: Authentication failed for '{u}'"),
        404 => format!("fatal: repository '{u}' not found"),
        300..=399 => format!(
            "fatal: unable to access '{u}': the server redirected and gitgate does not follow redirects"
        ),
        s => format!("fatal: unable to access '{u}': The requested URL returned error: {s}"),
    };
    AgentError::failed(msg, 128)
}

/// [`status_error`], plus in GitHub App mode why the token could not be replaced when a 401 stays
/// a 401 because minting a new token failed (the cause a user can fix, as agent-status shows it).
pub fn refused(state: &AgentState, status: reqwest::StatusCode, url: &str) -> AgentError {
    let plain = status_error(status, url);
    let why = match state.app.get() {
        Some(app) if status == reqwest::StatusCode::UNAUTHORIZED => app.last_error(),
        _ => None,
    };
    match (why, plain) {
        (Some(why), AgentError::Failed { message, code }) => AgentError::failed(
            format!(
                "gitgate: GitHub refused the App installation token and a new one could not be minted: {why} (see agent-status)\n{message}"
            ),
            code,
        ),
        (_, plain) => plain,
    }
}

/// No token to send: in GitHub App mode, why none was minted.
pub fn no_token(state: &AgentState) -> AgentError {
    match state.app.get() {
        Some(app) => AgentError::denied(app.no_token_reason()),
        None => AgentError::no_token(),
    }
}

/// The server sent nothing for `d` (a wait bounded by the agent, not by reqwest).
pub fn silent_server(url: &str, d: Duration) -> AgentError {
    AgentError::failed(
        format!(
            "gitgate: {} sent nothing for {} s (GITGATE_IO_TIMEOUT_SECS)",
            shown(url),
            d.as_secs()
        ),
        128,
    )
}

pub fn send_error(e: &reqwest::Error, url: &str) -> AgentError {
    let what = if e.is_timeout() {
        "the connection timed out (GITGATE_CONNECT_TIMEOUT_SECS / GITGATE_IO_TIMEOUT_SECS)"
            .to_owned()
    } else if e.is_connect() {
        "could not connect to the server".to_owned()
    } else {
        // reqwest's text names the URL it used, never the headers.
        e.to_string()
    };
    AgentError::failed(
        format!("fatal: unable to access '{}': {what}", shown(url)),
        128,
    )
}

/// Stream a response body to git through the scanner; `skip_header` strips a leading
/// `# service=` announcement (info/refs); `idle` bounds each wait for more of it (for a client
/// without its own read timeout). Returns the bytes forwarded.
pub async fn forward(
    resp: reqwest::Response,
    out: &Output,
    mut scanner: StreamScanner,
    skip_header: bool,
    url: &str,
    idle: Option<Duration>,
) -> Result<u64, AgentError> {
    let mut stream = resp.bytes_stream();
    let mut head: Option<Vec<u8>> = skip_header.then(Vec::new);
    let mut total = 0u64;
    let token_err = |e: crate::redact::TokenInStream| AgentError::failed(e.to_string(), 128);
    loop {
        let next = match idle {
            Some(d) => tokio::time::timeout(d, stream.next())
                .await
                .map_err(|_| silent_server(url, d))?,
            None => stream.next().await,
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| send_error(&e, url))?;
        let data: Vec<u8> = match head.as_mut() {
            Some(h) => {
                h.extend_from_slice(&chunk);
                match super::pkt::strip_service_header(h) {
                    Ok(None) if h.len() < 4096 => continue,
                    Ok(Some(n)) => {
                        let rest = h.split_off(n);
                        head = None;
                        rest
                    }
                    _ => head.take().unwrap_or_default(),
                }
            }
            None => chunk.to_vec(),
        };
        let ok = scanner.push(&data).map_err(token_err)?;
        total += ok.len() as u64;
        out.data(ok).await;
    }
    if let Some(h) = head {
        let ok = scanner.push(&h).map_err(token_err)?;
        total += ok.len() as u64;
        out.data(ok).await;
    }
    let tail = scanner.finish().map_err(token_err)?;
    total += tail.len() as u64;
    out.data(tail).await;
    Ok(total)
}
