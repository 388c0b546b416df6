//! The gateway's side towards GitHub: one reqwest client (rustls, connect and idle timeouts,
//! `TCP_NODELAY`, no proxies, no automatic redirects), the token added inside
//! `Token::with_exposed`, redirects to GitHub-owned storage followed without the token, and the
//! response streamed back through the token scanner with an allowlist of headers.

use crate::config::Settings;
use crate::state::AgentState;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Redirect hops the agent follows for one read.
const MAX_REDIRECTS: usize = 5;

/// Request headers passed on from gh (everything else, `Authorization` first, is dropped;
/// `Accept-Encoding` too, so the body arrives uncompressed and the scanner sees the real bytes).
const REQUEST_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "user-agent",
    "if-none-match",
    "if-modified-since",
    "x-github-api-version",
    "graphql-features",
    "time-zone",
    "x-github-next-global-id",
];

/// Response headers passed back to gh.
const RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "link",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "date",
    "retry-after",
    "content-disposition",
    "x-github-request-id",
    "x-github-media-type",
    "x-github-api-version-selected",
    "x-oauth-scopes",
    "x-accepted-oauth-scopes",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "x-ratelimit-resource",
];

/// `GITHUB_API_URL`, split: where to send requests and which `Host` gh may use.
pub struct ApiBase {
    /// `https://api.github.com` (scheme and authority).
    origin: String,
    /// `api.github.com` or `127.0.0.1:8080`.
    pub host_port: String,
    /// The path of the URL without a trailing `/` (`""`, or `/api/v3` for Enterprise).
    prefix: String,
    /// The origin is plain http (loopback, tests).
    plain_http: bool,
}

impl ApiBase {
    pub fn parse(url: &str) -> Option<ApiBase> {
        let u = reqwest::Url::parse(url).ok()?;
        let host = u.host_str()?.to_ascii_lowercase();
        let host_port = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Some(ApiBase {
            origin: format!("{}://{}", u.scheme(), host_port),
            host_port,
            prefix: u.path().trim_end_matches('/').to_owned(),
            plain_http: u.scheme() == "http",
        })
    }

    /// gh sends `Host: api.github.com` for github.com (also when the agent's API URL is a test
    /// server), or the Enterprise host.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.strip_suffix(":443").unwrap_or(host);
        host == "api.github.com" || host == self.host_port
    }

    /// The path as the policy sees it: Enterprise's `/api/v3` prefix removed, `/api/graphql` as
    /// `/graphql`.
    pub fn canonical_path(&self, raw: &str) -> String {
        if raw == "/api/graphql" {
            return "/graphql".into();
        }
        if let Some(rest) = raw.strip_prefix("/api/v3") {
            if rest.is_empty() || rest.starts_with('/') {
                return if rest.is_empty() {
                    "/".into()
                } else {
                    rest.into()
                };
            }
        }
        raw.to_owned()
    }

    /// The upstream URL of a canonical path.
    pub fn url(&self, path: &str, query: Option<&str>) -> String {
        let base = if path == "/graphql" {
            // Enterprise: https://host/api/v3 → https://host/api/graphql.
            format!(
                "{}{}",
                self.origin,
                self.prefix.strip_suffix("/v3").unwrap_or(&self.prefix)
            )
        } else {
            format!("{}{}", self.origin, self.prefix)
        };
        let path = if path == "/" && !self.prefix.is_empty() {
            ""
        } else {
            path
        };
        match query {
            Some(q) => format!("{base}{path}?{q}"),
            None => format!("{base}{path}"),
        }
    }
}

pub struct Upstream {
    client: reqwest::Client,
    allow_loopback: bool,
}

pub struct Outbound<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub follow_redirects: bool,
}

/// Is `host` GitHub's (or, for tests, loopback)? Redirect targets of logs, artifacts and archives.
fn github_owned(host: &str, allow_loopback: bool) -> bool {
    let h = host.to_ascii_lowercase();
    let under = |d: &str| h == d || h.ends_with(&format!(".{d}"));
    under("github.com")
        || under("githubusercontent.com")
        || under("ghcr.io")
        || (h.starts_with("productionresultssa") && h.ends_with(".blob.core.windows.net"))
        || (allow_loopback && (h == "127.0.0.1" || h == "localhost" || h == "[::1]"))
}

/// The agent's client towards the GitHub API: rustls, connect and idle timeouts from the settings,
/// `TCP_NODELAY`, no proxy, no automatic redirects, https only (but for loopback in tests).
pub(crate) fn api_client_builder(settings: &Settings) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .read_timeout(Duration::from_secs(settings.io_timeout_secs))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(!settings.allow_http_loopback)
}

impl Upstream {
    pub fn new(settings: &Settings) -> Result<Upstream, String> {
        let client = api_client_builder(settings)
            .build()
            .map_err(|e| format!("cannot build the GitHub API client: {e}"))?;
        Ok(Upstream {
            client,
            allow_loopback: settings.allow_http_loopback,
        })
    }

    /// The token's `Authorization` value, built inside `with_exposed` and marked sensitive.
    /// Also returns the token's generation (GitHub App mode: see [`Upstream::retry_401`]).
    fn auth(state: &AgentState) -> Result<(HeaderValue, u64), String> {
        let (v, generation) = state
            .token
            .with_exposed_versioned(|t, g| {
                let text = zeroize::Zeroizing::new(format!("token {t}"));
                HeaderValue::from_str(&text).ok().map(|v| (v, g))
            })
            .flatten()
            .ok_or_else(|| match state.app.get() {
                Some(app) => app.no_token_reason(),
                None => super::NO_TOKEN.to_owned(),
            })?;
        let mut v = v;
        v.set_sensitive(true);
        Ok((v, generation))
    }

    /// GitHub App mode: a 401 to a token that was rotated meanwhile (or revoked early) gets one
    /// refresh and one retry. Every gateway request body is buffered, so it can be replayed.
    async fn retry_401(state: &AgentState, status: StatusCode, generation: u64) -> bool {
        match state.app.get() {
            Some(app) if status == StatusCode::UNAUTHORIZED => {
                app.clone().retry_after_401(state, generation).await
            }
            _ => false,
        }
    }

    /// The agent's own GraphQL request (node resolution), with the token. Bounded response.
    pub async fn graphql(
        &self,
        state: &AgentState,
        api: &ApiBase,
        body: String,
    ) -> Result<serde_json::Value, String> {
        let mut attempt = 0;
        let mut resp = loop {
            let (auth, generation) = Self::auth(state)?;
            let resp = self
                .client
                .post(api.url("/graphql", None))
                .header(hyper::header::AUTHORIZATION, auth)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::USER_AGENT, "gitgate-agent")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| format!("gitgate: cannot reach the GitHub API: {}", error_text(&e)))?;
            attempt += 1;
            if attempt > 1 || !Self::retry_401(state, resp.status(), generation).await {
                break resp;
            }
        };
        let mut buf = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("gitgate: GitHub API read failed: {}", error_text(&e)))?
        {
            buf.extend_from_slice(&chunk);
            if buf.len() > 4 * 1024 * 1024 {
                return Err("gitgate: node lookup answer too large".into());
            }
        }
        serde_json::from_slice(&buf).map_err(|_| "gitgate: node lookup answer is not JSON".into())
    }

    pub async fn forward(
        &self,
        state: &AgentState,
        api: &ApiBase,
        out: Outbound<'_>,
    ) -> Result<Response<GatewayBody>, String> {
        let method = reqwest::Method::from_bytes(out.method.as_bytes())
            .map_err(|_| "gitgate: invalid method".to_owned())?;
        let url = api.url(out.path, out.query);
        let mut attempt = 0;
        let mut resp = loop {
            let (auth, generation) = Self::auth(state)?;
            let mut req = self
                .client
                .request(method.clone(), &url)
                .header(hyper::header::AUTHORIZATION, auth);
            for name in REQUEST_HEADERS {
                for v in out.headers.get_all(*name) {
                    req = req.header(*name, v.clone());
                }
            }
            if !out.body.is_empty() || !matches!(out.method, "GET" | "HEAD") {
                req = req.body(out.body.clone());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("gitgate: cannot reach the GitHub API: {}", error_text(&e)))?;
            attempt += 1;
            if attempt > 1 || !Self::retry_401(state, resp.status(), generation).await {
                break resp;
            }
        };
        let mut hops = 0;
        while resp.status().is_redirection() && resp.status() != StatusCode::NOT_MODIFIED {
            let Some(loc) = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                break;
            };
            let target = resp
                .url()
                .join(loc)
                .map_err(|_| "gitgate: GitHub sent an invalid redirect".to_owned())?;
            let host = target.host_str().unwrap_or("").to_owned();
            let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
            let scheme_ok = target.scheme() == "https"
                || (target.scheme() == "http" && self.allow_loopback && api.plain_http && loopback);
            if !out.follow_redirects || hops >= MAX_REDIRECTS {
                return Err(format!(
                    "gitgate: redirect for {} {} refused: only reads are followed, at most {MAX_REDIRECTS} hops",
                    out.method,
                    gitgate_policy::denial::quote(out.path)
                ));
            }
            if !scheme_ok || !github_owned(&host, self.allow_loopback) {
                return Err(format!(
                    "gitgate: redirect to '{}' refused: not a GitHub-owned host",
                    gitgate_policy::denial::quote(&host)
                ));
            }
            hops += 1;
            // Storage URLs are pre-signed: no token, and no client headers but Accept.
            let mut next = self.client.get(target);
            if let Some(a) = out.headers.get(hyper::header::ACCEPT) {
                next = next.header(hyper::header::ACCEPT, a.clone());
            }
            resp = next.send().await.map_err(|e| {
                format!(
                    "gitgate: cannot download from GitHub storage: {}",
                    error_text(&e)
                )
            })?;
        }
        if resp.status().is_redirection() && resp.status() != StatusCode::NOT_MODIFIED {
            return Err("gitgate: GitHub sent a redirect without a location".into());
        }
        Ok(stream_back(state, resp))
    }
}

/// reqwest's error as a kind and its causes, without the URL.
pub(crate) fn error_text(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = std::error::Error::source(e);
    let mut n = 0;
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
        n += 1;
        if n > 4 {
            break;
        }
    }
    s
}

fn stream_back(state: &AgentState, resp: reqwest::Response) -> Response<GatewayBody> {
    let status = resp.status();
    let mut headers = HeaderMap::new();
    for name in RESPONSE_HEADERS {
        for v in resp.headers().get_all(*name) {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                headers.append(n, v.clone());
            }
        }
    }
    // However slowly the upstream drips, one response ends within the operation timeout.
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(state.settings().op_timeout_secs);
    // Read straight from the upstream body while hyper writes to gh (no task, no channel in
    // between: one wake-up less per chunk, and gh's back-pressure reaches GitHub's connection).
    let mut out = Response::new(GatewayBody {
        inner: Inner::Upstream(Box::new(UpstreamBody {
            body: reqwest::Body::from(resp),
            scanner: state.redactor.scanner(),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            finished: false,
        })),
        bytes: 0,
        on_end: None,
    });
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// The upstream response body, scanned for the token chunk by chunk.
struct UpstreamBody {
    body: reqwest::Body,
    scanner: crate::redact::StreamScanner,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The upstream ended (or failed): nothing more is read.
    finished: bool,
}

impl UpstreamBody {
    fn fail(&mut self, msg: String) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.finished = true;
        Poll::Ready(Some(Err(std::io::Error::other(msg))))
    }

    /// The next bytes safe to forward, the end, or the error that stops the response.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        // Bounded: each turn consumes one upstream frame; a frame that yields nothing safe yet
        // (held back by the scanner) or carries no data is followed by the next.
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            if self.deadline.as_mut().poll(cx).is_ready() {
                return self.fail(
                    "gitgate: the GitHub response took longer than GITGATE_OP_TIMEOUT_SECS".into(),
                );
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(chunk) = frame.into_data() else {
                        continue; // trailers: not forwarded
                    };
                    match self.scanner.push(&chunk) {
                        Ok(safe) if safe.is_empty() => continue,
                        Ok(safe) => return Poll::Ready(Some(Ok(Bytes::from(safe)))),
                        Err(e) => return self.fail(e.to_string()),
                    }
                }
                Poll::Ready(Some(Err(_))) => return self.fail("upstream read failed".into()),
                Poll::Ready(None) => {
                    self.finished = true;
                    return match self.scanner.finish() {
                        Ok(tail) if tail.is_empty() => Poll::Ready(None),
                        Ok(tail) => Poll::Ready(Some(Ok(Bytes::from(tail)))),
                        Err(e) => Poll::Ready(Some(Err(std::io::Error::other(e.to_string())))),
                    };
                }
            }
        }
    }
}

type OnEnd = Box<dyn FnOnce(u64) + Send>;

/// The response body gh reads: a whole buffer (refusals) or the scanned upstream stream. Counts
/// the bytes it delivers and reports them once, when it ends or is dropped (gh went away).
pub struct GatewayBody {
    inner: Inner,
    bytes: u64,
    on_end: Option<OnEnd>,
}

enum Inner {
    Full(Option<Bytes>),
    Upstream(Box<UpstreamBody>),
}

impl GatewayBody {
    pub fn full(b: Bytes) -> GatewayBody {
        GatewayBody {
            inner: Inner::Full(Some(b)),
            bytes: 0,
            on_end: None,
        }
    }

    /// Call `f(bytes delivered)` once when the body is finished or dropped.
    pub fn on_end(mut self, f: OnEnd) -> GatewayBody {
        self.on_end = Some(f);
        self
    }

    fn end(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(self.bytes);
        }
    }
}

impl Drop for GatewayBody {
    fn drop(&mut self) {
        self.end();
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let next = match &mut this.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(Ok)),
            Inner::Upstream(u) => u.poll_next(cx),
        };
        match next {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(b))) => {
                this.bytes += b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => {
                this.end();
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.inner, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Upstream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_com_and_enterprise_urls() {
        let gh = ApiBase::parse("https://api.github.com").unwrap();
        assert!(gh.host_allowed("api.github.com"));
        assert!(gh.host_allowed("api.github.com:443"));
        assert!(!gh.host_allowed("uploads.github.com"));
        assert!(!gh.host_allowed("github.com"));
        assert_eq!(gh.canonical_path("/repos/a/b"), "/repos/a/b");
        assert_eq!(gh.url("/graphql", None), "https://api.github.com/graphql");
        assert_eq!(
            gh.url("/repos/a/b/pulls", Some("state=open")),
            "https://api.github.com/repos/a/b/pulls?state=open"
        );
        let ghe = ApiBase::parse("https://ghe.example.com/api/v3/").unwrap();
        assert!(ghe.host_allowed("ghe.example.com"));
        assert_eq!(ghe.canonical_path("/api/v3/repos/a/b"), "/repos/a/b");
        assert_eq!(ghe.canonical_path("/api/graphql"), "/graphql");
        assert_eq!(ghe.canonical_path("/api/v3x/repos"), "/api/v3x/repos");
        assert_eq!(
            ghe.url("/graphql", None),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            ghe.url("/user", None),
            "https://ghe.example.com/api/v3/user"
        );
        assert_eq!(ghe.url("/", None), "https://ghe.example.com/api/v3");
        let test = ApiBase::parse("http://127.0.0.1:8080").unwrap();
        assert!(test.host_allowed("api.github.com") && test.host_allowed("127.0.0.1:8080"));
        assert!(!test.host_allowed("127.0.0.1:8081"));
    }

    #[test]
    fn redirect_targets() {
        for h in [
            "github.com",
            "codeload.github.com",
            "objects.githubusercontent.com",
            "productionresultssa0.blob.core.windows.net",
        ] {
            assert!(github_owned(h, false), "{h}");
        }
        for h in [
            "evil.com",
            "github.com.evil.com",
            "notgithub.com",
            "evil.blob.core.windows.net",
            "127.0.0.1",
        ] {
            assert!(!github_owned(h, false), "{h}");
        }
        assert!(github_owned("127.0.0.1", true));
    }
}
