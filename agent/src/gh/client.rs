//! The GitHub REST client: octocrab as the transport (base URI, token header scoped to the API host,
//! rustls, timeouts), driven through its raw `_get`/`_post`/… methods so that every failure keeps
//! its status, URL, `errors[]` and rate-limit headers for gh-like messages (octocrab's typed error
//! drops the headers, and so the rate-limit reset time).
//!
//! **One client per request, built inside `Token::with_exposed`.** octocrab turns the token into a
//! `SecretString` (zeroized on drop) and then into a `Bearer …` `HeaderValue` that it keeps for the
//! client's lifetime and clones into each request (not zeroized; the transient `format!` string is
//! not either). Building the client per gh command bounds those copies to the command's duration
//! instead of the agent's lifetime, picks up a reloaded `GITHUB_API_URL`, and will pick up a
//! refreshed GitHub App token the same way. The cost (a TLS handshake per command, ~100 ms against
//! api.github.com) is small next to a gh command's round trips; requests within one command share
//! the client and its connections.
//!
//! octocrab's `follow-redirect` feature is off: a redirect is never followed with the token. The
//! only redirect we follow is the Actions log download (`…/jobs/{id}/logs` → storage URL), by hand,
//! and octocrab attaches the token only when the target's authority is the API's.
//! Retries are off: a retried POST could create a second pull request or comment.

use crate::error::AgentError;
use crate::state::AgentState;
use octocrab::Octocrab;
use serde_json::Value;
use std::time::Duration;

/// Most bytes read from one response (logs, diffs).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A failed GitHub call, before it becomes a gh-like message.
#[derive(Debug)]
pub enum ApiError {
    Status {
        status: u16,
        url: String,
        message: String,
        errors: Vec<String>,
        /// `x-ratelimit-reset` when the rate limit is exhausted.
        rate_reset: Option<i64>,
        /// The response body as text (`gh api` prints it).
        body: String,
    },
    Transport(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Transport(_) => None,
        }
    }
}

impl From<ApiError> for AgentError {
    fn from(e: ApiError) -> AgentError {
        AgentError::failed(super::errors::message(&e), 1)
    }
}

pub struct Api {
    crab: Octocrab,
    /// Base URL without a trailing slash (for messages).
    pub base: String,
}

pub struct Raw {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Api {
    /// Build the client for one request (see the module docs for why per request).
    pub fn new(state: &AgentState) -> Result<Api, AgentError> {
        let base = state
            .settings()
            .github_api_url
            .trim_end_matches('/')
            .to_owned();
        let built = state.token.with_exposed(|t| {
            Octocrab::builder()
                .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
                .set_connect_timeout(Some(Duration::from_secs(15)))
                .set_read_timeout(Some(Duration::from_secs(120)))
                .base_uri(base.as_str())
                .map(|b| b.personal_token(t.to_owned()).build())
        });
        match built {
            None => Err(AgentError::no_token()),
            Some(Err(_)) | Some(Ok(Err(_))) => Err(AgentError::Internal(format!(
                "cannot build the GitHub client for GITHUB_API_URL={base}"
            ))),
            Some(Ok(Ok(crab))) => Ok(Api { crab, base }),
        }
    }

    /// The full URL of an API path (for messages).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }

    fn uri(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("/{}", path.trim_start_matches('/'))
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        accept: Option<&str>,
    ) -> Result<Raw, ApiError> {
        let uri = self.uri(path);
        let transport = |e: octocrab::Error| {
            let mut msg = String::new();
            let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = s.to_string();
                src = s.source();
            }
            if msg.is_empty() {
                msg = "request failed".into();
            }
            ApiError::Transport(format!(
                "error connecting to {}: {msg}",
                self.base
                    .split("://")
                    .nth(1)
                    .unwrap_or(&self.base)
                    .split('/')
                    .next()
                    .unwrap_or("")
            ))
        };
        let res = match method {
            Method::Get => {
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    http::header::ACCEPT,
                    http::HeaderValue::from_str(accept.unwrap_or("application/vnd.github+json"))
                        .map_err(|_| ApiError::Transport("invalid Accept header".into()))?,
                );
                self.crab
                    ._get_with_headers(uri.as_str(), Some(headers))
                    .await
            }
            Method::Post => self.crab._post(uri.as_str(), body).await,
            Method::Patch => self.crab._patch(uri.as_str(), body).await,
            Method::Put => self.crab._put(uri.as_str(), body).await,
            Method::Delete => self.crab._delete(uri.as_str(), body).await,
        }
        .map_err(transport)?;
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let remaining = header("x-ratelimit-remaining");
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok());
        let retry_after = header("retry-after");
        let body = read_body(res).await.map_err(transport)?;
        if (200..400).contains(&status) {
            return Ok(Raw {
                status,
                location,
                body,
            });
        }
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let message = json
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&body[..body.len().min(200)])
                    .trim()
                    .to_owned()
            });
        let errors = json
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| match e {
                        Value::String(s) => Some(s.clone()),
                        Value::Object(o) => o
                            .get("message")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .or_else(|| {
                                let field = o.get("field").and_then(Value::as_str)?;
                                let code =
                                    o.get("code").and_then(Value::as_str).unwrap_or("invalid");
                                Some(format!("{field} {code}"))
                            }),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let limited = (status == 403 || status == 429)
            && (remaining.as_deref() == Some("0")
                || retry_after.is_some()
                || message.to_ascii_lowercase().contains("rate limit"));
        Err(ApiError::Status {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            url: self.url(path),
            message,
            errors,
            rate_reset: if limited {
                reset
                    .or_else(|| {
                        retry_after
                            .and_then(|s| s.parse::<i64>().ok())
                            .map(|s| now_epoch() + s)
                    })
                    .or(Some(0))
            } else {
                None
            },
        })
    }

    pub async fn raw_get(&self, path: &str, accept: Option<&str>) -> Result<Raw, ApiError> {
        self.send(Method::Get, path, None, accept).await
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        let raw = self.send(Method::Get, path, None, None).await?;
        Ok(parse_json(&raw.body))
    }

    /// GET a text representation (`application/vnd.github.diff`…).
    pub async fn get_text(&self, path: &str, accept: &str) -> Result<String, ApiError> {
        let raw = self.send(Method::Get, path, None, Some(accept)).await?;
        Ok(String::from_utf8_lossy(&raw.body).into_owned())
    }

    /// GET that may answer with a redirect to a download URL (Actions logs): follows one hop.
    pub async fn get_following(&self, path: &str) -> Result<String, ApiError> {
        let raw = self.send(Method::Get, path, None, None).await?;
        let raw = match (raw.status, raw.location.clone()) {
            (300..=399, Some(loc)) => self.send(Method::Get, &loc, None, None).await?,
            _ => raw,
        };
        Ok(String::from_utf8_lossy(&raw.body).into_owned())
    }

    /// GET a list, following `per_page`/`page` until `limit` items (or the end).
    pub async fn get_list(
        &self,
        path: &str,
        limit: usize,
        key: Option<&str>,
        keep: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let per_page = limit.clamp(1, 100);
        let sep = if path.contains('?') { '&' } else { '?' };
        for page in 1..=50 {
            let v = self
                .get(&format!("{path}{sep}per_page={per_page}&page={page}"))
                .await?;
            let items = match key {
                Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
                None => v,
            };
            let Value::Array(items) = items else { break };
            let n = items.len();
            out.extend(items.into_iter().filter(|v| keep(v)));
            if out.len() >= limit || n < per_page {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let raw = self.send(Method::Post, path, Some(body), None).await?;
        Ok(parse_json(&raw.body))
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let raw = self.send(Method::Patch, path, Some(body), None).await?;
        Ok(parse_json(&raw.body))
    }
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let raw = self.send(Method::Put, path, Some(body), None).await?;
        Ok(parse_json(&raw.body))
    }
    pub async fn delete(&self, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let raw = self.send(Method::Delete, path, body, None).await?;
        Ok(parse_json(&raw.body))
    }
}

fn parse_json(body: &[u8]) -> Value {
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    }
}

pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn read_body(
    res: http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, octocrab::Error>>,
) -> Result<Vec<u8>, octocrab::Error> {
    use http_body_util::BodyExt;
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if out.len() + data.len() > MAX_BODY {
                break;
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Percent-encode a query value or path segment.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
