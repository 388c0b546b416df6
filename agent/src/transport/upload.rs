//! fetch / clone / ls-remote: upload-pack over protocol v2. v2 is stateless per command request,
//! so each request git writes (pkt-lines up to a flush) becomes one POST, and each response is
//! streamed back unmodified (through the token scanner). Read-only upstream.

use super::http;
use super::{pkt, protocol_error, Input, Upstream};
use crate::error::AgentError;
use crate::session::Request;
use crate::state::AgentState;
use gitgate_proto::Exit;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use std::time::Duration;

/// Largest single v2 command request git may send (haves of a long negotiation included).
const MAX_REQUEST: usize = 64 * 1024 * 1024;
/// Largest v2 capability advertisement accepted from upstream.
const MAX_ADVERTISEMENT: usize = 1024 * 1024;

pub async fn run(
    state: &AgentState,
    req: &mut Request,
    client: &reqwest::Client,
    up: &Upstream,
) -> Result<Exit, AgentError> {
    let settings = state.settings();
    let shown_url = req.hello.url.clone();
    let body = advertisement(
        state,
        client,
        up,
        "git-upload-pack",
        Some("version=2"),
        MAX_ADVERTISEMENT,
        &shown_url,
    )
    .await?;
    let adv = &body[..];
    if !matches!(
        pkt::parse(adv),
        Ok(Some((pkt::Pkt::Data(b"version 2\n"), _)))
    ) {
        return Err(AgentError::failed(
            format!(
                "gitgate: the server for '{}' does not offer git protocol version 2, which gitgate needs for fetching",
                up.slug
            ),
            128,
        ));
    }
    send_scanned(state, req, adv).await?;

    let timeout = Duration::from_secs(settings.io_timeout_secs.max(1));
    let mut input = Input::new(&mut req.stdin, timeout);
    let post_url = format!("{}/git-upload-pack", up.base);
    while let Some((request, count)) = input.until_flush(MAX_REQUEST).await? {
        if count == 0 {
            // git's closing flush: nothing to ask.
            continue;
        }
        if !request.starts_with(b"0") || !contains(&request, b"command=") {
            return Err(protocol_error("expected a protocol v2 command request"));
        }
        // The request is held here, so a 401 in App mode can be answered with one refresh and
        // the same request again (nothing of this response has reached git yet).
        let request = bytes::Bytes::from(request);
        let resp = http::send_replayable(state, up.anonymous, &shown_url, |auth| {
            http::authorized(client.post(&post_url), auth)
                .header(CONTENT_TYPE, "application/x-git-upload-pack-request")
                .header(ACCEPT, "application/x-git-upload-pack-result")
                .header("Git-Protocol", "version=2")
                .body(request.clone())
        })
        .await?;
        if !resp.status().is_success() {
            return Err(refused_upstream(state, resp.status(), up, &shown_url));
        }
        http::forward(
            resp,
            &req.out,
            state.redactor.scanner(),
            false,
            &shown_url,
            None,
        )
        .await?;
    }
    Ok(Exit::code(0))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// An upstream error status in git's words; for a public fetch, why it was not served.
fn refused_upstream(
    state: &AgentState,
    status: reqwest::StatusCode,
    up: &Upstream,
    shown_url: &str,
) -> AgentError {
    if up.anonymous && matches!(status.as_u16(), 401 | 403 | 404) {
        return AgentError::failed(
            format!(
                "fatal: gitgate: '{}' is not in ALLOWED_REPOS, so it was fetched without credentials \
                 (ALLOW_PUBLIC_FETCH) and the server answered {}: it is private or does not exist; \
                 add it to ALLOWED_REPOS to fetch it with the token",
                up.slug,
                status.as_u16()
            ),
            128,
        );
    }
    http::refused(state, status, shown_url)
}

/// `GET info/refs?service=…` with the token (none for a public fetch): the advertisement (at most `max` bytes) without its
/// `# service=` header, as git expects it over `connect`. Nothing has gone to git (and, for a
/// push, no pack upstream) before it, so in App mode a 401 gets one refresh and one retry.
pub async fn advertisement(
    state: &AgentState,
    client: &reqwest::Client,
    up: &Upstream,
    service: &str,
    git_protocol: Option<&str>,
    max: usize,
    shown_url: &str,
) -> Result<Vec<u8>, AgentError> {
    let url = format!("{}/info/refs?service={service}", up.base);
    let resp = http::send_replayable(state, up.anonymous, shown_url, |auth| {
        let get = http::authorized(client.get(&url), auth);
        match git_protocol {
            Some(p) => get.header("Git-Protocol", p),
            None => get,
        }
    })
    .await?;
    if !resp.status().is_success() {
        return Err(refused_upstream(state, resp.status(), up, shown_url));
    }
    let mut body = read_bounded(resp, max, shown_url).await?;
    let skip = pkt::strip_service_header(&body)
        .map_err(|e| upstream_error(shown_url, e))?
        .unwrap_or(0);
    body.drain(..skip);
    Ok(body)
}

pub fn upstream_error(url: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::failed(
        format!(
            "fatal: unable to access '{}': unexpected answer from the server ({e})",
            http::shown(url)
        ),
        128,
    )
}

/// A whole (small) response body, bounded.
pub async fn read_bounded(
    resp: reqwest::Response,
    limit: usize,
    url: &str,
) -> Result<Vec<u8>, AgentError> {
    use futures_util::StreamExt as _;
    let mut stream = resp.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| http::send_error(&e, url))?;
        if body.len() + chunk.len() > limit {
            return Err(upstream_error(url, format!("more than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Forward bytes already read from upstream, through a scanner of their own.
pub async fn send_scanned(
    state: &AgentState,
    req: &Request,
    data: &[u8],
) -> Result<(), AgentError> {
    let mut sc = state.redactor.scanner();
    let token_err = |e: crate::redact::TokenInStream| AgentError::failed(e.to_string(), 128);
    let mut all = sc.push(data).map_err(token_err)?;
    all.extend(sc.finish().map_err(token_err)?);
    req.out.data(all).await;
    Ok(())
}
