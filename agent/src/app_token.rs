//! GitHub App installation tokens (issue 12): the agent signs its App JWT (RS256) with the key held
//! in locked memory (`secret::AppKey`), mints an installation token restricted to the repositories
//! of `ALLOWED_REPOS` and to the permissions gitgate uses, installs it behind `Token::with_exposed`
//! (a fresh locked buffer swapped atomically), refreshes it ahead of expiry and once on a 401, and
//! revokes it on shutdown.
//!
//! - Refresh time: `max(expiry - 5 min, minted + 80 % of the lifetime)`: five minutes before
//!   expiry for GitHub's one-hour tokens, proportionally earlier for very short ones (tests).
//! - A token replaced by a refresh is revoked upstream after a short grace
//!   (`lifetime / 10`, at most 30 s): requests that picked it up just before the swap are
//!   answered `401` by GitHub then, and are retried once with the new token (`retry_after_401`).
//! - A failed refresh keeps the previous token until it expires (then it is cleared, so requests
//!   fail locally with the reason instead of with GitHub's 401) and retries with backoff; the cause
//!   is logged and shown by `agent-status`.

use crate::secret::{AppKey, KeyForm, RetiredToken};
use crate::state::AgentState;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// What gitgate asks for, and nothing else (never `workflows` or `administration`).
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("actions", "read"),
    ("contents", "write"),
    ("issues", "write"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

/// Pages of `GET /installation/repositories` read when resolving patterns (100 per page).
const MAX_PAGES: u32 = 50;
/// Largest GitHub answer read by this module.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// A clock difference beyond this makes a JWT 401 a clock problem.
const SKEW_SECS: i64 = 30;

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("GitHub App {app_id} is not installed on '{repo}' (GitHub answered 404): install the App on that repository, or set GITHUB_APP_INSTALLATION_ID")]
    NotInstalled { app_id: u64, repo: String },
    #[error("GITHUB_APP_INSTALLATION_ID={installation}: no such installation of GitHub App {app_id} (GitHub answered 404)")]
    InstallationNotFound { app_id: u64, installation: u64 },
    #[error("the key in GITHUB_APP_PRIVATE_KEY_FILE does not match GitHub App GITHUB_APP_ID={app_id} (GitHub answered 401: {message}): check GITHUB_APP_ID, or generate a new private key in the App's settings")]
    KeyMismatch { app_id: u64, message: String },
    #[error("clock skew: this machine's clock is about {skew} s {direction} GitHub's, so GitHub rejects the App's signed JWT (401: {message}): synchronise the clock (NTP)")]
    ClockSkew {
        skew: i64,
        direction: &'static str,
        message: String,
    },
    #[error("ALLOWED_REPOS: GitHub App {app_id} (installation {installation}) cannot get a token for {repos} (GitHub answered {status}: {message}): install the App on these repositories, or remove them from ALLOWED_REPOS")]
    NotAccessible {
        app_id: u64,
        installation: u64,
        repos: String,
        status: u16,
        message: String,
    },
    #[error("ALLOWED_REPOS: '{repo}' belongs to '{owner}', but installation {installation} is on the account '{account}': one installation token covers one account")]
    OtherAccount {
        repo: String,
        owner: String,
        installation: u64,
        account: String,
    },
    #[error("ALLOWED_REPOS is empty: in GitHub App mode the token is restricted to the allowed repositories, so list at least one")]
    NoRepos,
    #[error("ALLOWED_REPOS: the first entry '{0}' is a pattern: set GITHUB_APP_INSTALLATION_ID (the installation cannot be discovered from a pattern)")]
    PatternFirst(String),
    #[error("ALLOWED_REPOS: no repository of installation {installation} matches {patterns}")]
    NoMatch { installation: u64, patterns: String },
    #[error("cannot reach the GitHub API to mint the App token: {0}")]
    Network(String),
    #[error("GitHub answered {status} to {what}: {message}")]
    Unexpected {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("GITHUB_APP_PRIVATE_KEY_FILE: cannot sign the App's JWT with this key: {0}")]
    Sign(String),
}

/// The token currently installed, as minted (for agent-status and the refresh schedule).
#[derive(Clone, Debug)]
struct Minted {
    repositories: Vec<String>,
    permissions: BTreeMap<String, String>,
    minted: Instant,
    expires: Instant,
}

impl Minted {
    fn refresh_at(&self) -> Instant {
        let lifetime = self.expires.saturating_duration_since(self.minted);
        let five_before = self
            .expires
            .checked_sub(Duration::from_secs(300))
            .unwrap_or(self.minted);
        five_before.max(self.minted + lifetime.mul_f64(0.8))
    }
}

#[derive(Default)]
struct Status {
    installation: Option<u64>,
    account: Option<String>,
    minted: Option<Minted>,
    last_error: Option<String>,
    refreshes: u64,
}

pub struct AppTokens {
    app_id: u64,
    key: AppKey,
    configured_installation: Option<u64>,
    api: String,
    client: reqwest::Client,
    status: Mutex<Status>,
    refresh_lock: tokio::sync::Mutex<()>,
    last_401_refresh: Mutex<Option<Instant>>,
    wake: tokio::sync::Notify,
    /// Set by [`AppTokens::request_refresh`]: mint now instead of on schedule.
    force: std::sync::atomic::AtomicBool,
}

fn b64url(data: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, data)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// GitHub's `message`, shortened and without control characters (it is shown to the user).
fn message_of(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let m = v["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    m.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
}

fn is_pattern(repo: &str) -> bool {
    repo.contains(['*', '?', '[', '{'])
}

struct Answer {
    status: StatusCode,
    /// GitHub's clock (`Date`), for the clock-skew diagnosis.
    date: Option<i64>,
    body: Zeroizing<Vec<u8>>,
}

enum Auth<'a> {
    Jwt(&'a str),
    Installation(&'a RetiredToken),
}

impl AppTokens {
    /// Build from the settings (the key already loaded). Checks the key can sign.
    pub fn new(settings: &crate::config::Settings, key: AppKey) -> Result<Arc<AppTokens>, String> {
        let app_id = settings
            .github_app_id
            .ok_or_else(|| "GITHUB_APP_ID is not set".to_owned())?;
        // The gateway's client, plus an overall bound per request (mints are small).
        let client = crate::gateway::upstream::api_client_builder(settings)
            .timeout(Duration::from_secs(settings.io_timeout_secs))
            .build()
            .map_err(|e| format!("cannot build the GitHub API client: {e}"))?;
        let app = AppTokens {
            app_id,
            key,
            configured_installation: settings.github_app_installation_id,
            api: settings.github_api_url.trim_end_matches('/').to_owned(),
            client,
            status: Mutex::new(Status::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
            last_401_refresh: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
            force: std::sync::atomic::AtomicBool::new(false),
        };
        if settings.allowed_repos.is_empty() {
            return Err(AppError::NoRepos.to_string());
        }
        app.sign_jwt().map_err(|e| e.to_string())?;
        Ok(Arc::new(app))
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The App JWT: RS256, `iat` 60 s in the past (clock drift), `exp` 9 min ahead (≤ 10 min).
    fn sign_jwt(&self) -> Result<Zeroizing<String>, AppError> {
        let now = unix_now();
        let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({"iat": now - 60, "exp": now + 540, "iss": self.app_id.to_string()});
        let mut jwt = Zeroizing::new(format!(
            "{header}.{}",
            b64url(claims.to_string().as_bytes())
        ));
        let sig = self.key.with_exposed(|der, form| {
            use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
            let pair = match form {
                KeyForm::Pkcs1 => RsaKeyPair::from_der(der),
                KeyForm::Pkcs8 => RsaKeyPair::from_pkcs8(der),
            }
            .map_err(|e| AppError::Sign(format!("not a usable RSA key ({e})")))?;
            let mut sig = vec![0u8; pair.public().modulus_len()];
            pair.sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                jwt.as_bytes(),
                &mut sig,
            )
            .map_err(|_| AppError::Sign("signing failed".into()))?;
            Ok::<_, AppError>(sig)
        })?;
        jwt.push('.');
        jwt.push_str(&b64url(&sig));
        Ok(jwt)
    }

    /// RSA signing is CPU work: off the async workers.
    async fn jwt(self: &Arc<Self>) -> Result<Zeroizing<String>, AppError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.sign_jwt())
            .await
            .map_err(|_| AppError::Sign("the signing task failed".into()))?
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
    ) -> Result<Answer, AppError> {
        let mut value = match auth {
            Auth::Jwt(j) => Zeroizing::new(format!("Bearer {j}")),
            Auth::Installation(t) => t.with_exposed(|t| Zeroizing::new(format!("token {t}"))),
        };
        let mut header = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| AppError::Sign("invalid credential characters".into()))?;
        header.set_sensitive(true);
        use zeroize::Zeroize;
        value.zeroize();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.api))
            .header(reqwest::header::AUTHORIZATION, header)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(reqwest::header::USER_AGENT, "gitgate-agent");
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| AppError::Network(crate::gateway::upstream::error_text(&e)))?;
        let status = resp.status();
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.timestamp());
        let mut buf = Zeroizing::new(Vec::new());
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| AppError::Network(crate::gateway::upstream::error_text(&e)))?
        {
            if buf.len() + chunk.len() > MAX_BODY {
                return Err(AppError::Network("answer too large".into()));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            date,
            body: buf,
        })
    }

    /// A 401 to a JWT request: a clock problem or a key that does not belong to the App.
    fn jwt_refused(&self, a: &Answer) -> AppError {
        let message = message_of(&a.body);
        let skew = a.date.map(|d| unix_now() - d).unwrap_or(0);
        let claim = message.contains("'iat'") || message.contains("'exp'");
        if skew.abs() > SKEW_SECS || claim {
            ClockSkewBuilder { skew, message }.build()
        } else {
            AppError::KeyMismatch {
                app_id: self.app_id,
                message,
            }
        }
    }

    fn unexpected(what: &'static str, a: &Answer) -> AppError {
        AppError::Unexpected {
            what,
            status: a.status.as_u16(),
            message: message_of(&a.body),
        }
    }

    /// The installation and its account login.
    async fn installation(&self, jwt: &str, allowed: &[String]) -> Result<(u64, String), AppError> {
        let (path, repo) = match self.configured_installation {
            Some(id) => (format!("/app/installations/{id}"), None),
            None => {
                let first = allowed.first().ok_or(AppError::NoRepos)?;
                if is_pattern(first) {
                    return Err(AppError::PatternFirst(first.clone()));
                }
                (format!("/repos/{first}/installation"), Some(first.clone()))
            }
        };
        let a = self
            .call(reqwest::Method::GET, &path, Auth::Jwt(jwt), None)
            .await?;
        match a.status.as_u16() {
            200 => {
                let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
                let id = v["id"].as_u64();
                let account = v["account"]["login"].as_str().map(str::to_owned);
                match (id, account) {
                    (Some(id), Some(acc)) => Ok((id, acc)),
                    _ => Err(Self::unexpected("the installation lookup", &a)),
                }
            }
            401 => Err(self.jwt_refused(&a)),
            404 => Err(match (repo, self.configured_installation) {
                (Some(repo), _) => AppError::NotInstalled {
                    app_id: self.app_id,
                    repo,
                },
                (None, Some(installation)) => AppError::InstallationNotFound {
                    app_id: self.app_id,
                    installation,
                },
                (None, None) => Self::unexpected("the installation lookup", &a),
            }),
            _ => Err(Self::unexpected("the installation lookup", &a)),
        }
    }

    /// `POST /app/installations/{id}/access_tokens`.
    async fn access_token(
        &self,
        jwt: &str,
        installation: u64,
        body: &Value,
    ) -> Result<(Answer, Value), AppError> {
        let a = self
            .call(
                reqwest::Method::POST,
                &format!("/app/installations/{installation}/access_tokens"),
                Auth::Jwt(jwt),
                Some(body),
            )
            .await?;
        let v: Value = if a.status.as_u16() == 201 {
            serde_json::from_slice(&a.body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        Ok((a, v))
    }

    /// Repository names for `repositories`: exact entries directly, patterns through the
    /// installation's repository list (read with a short-lived metadata-only token, revoked after).
    async fn repository_names(
        &self,
        jwt: &str,
        installation: u64,
        account: &str,
        allowed: &[String],
    ) -> Result<Vec<String>, AppError> {
        let mut names = Vec::new();
        let mut patterns = Vec::new();
        for entry in allowed {
            let (owner, name) = entry.split_once('/').unwrap_or((entry, ""));
            if !is_pattern(owner) && !owner.eq_ignore_ascii_case(account) {
                return Err(AppError::OtherAccount {
                    repo: entry.clone(),
                    owner: owner.to_owned(),
                    installation,
                    account: account.to_owned(),
                });
            }
            if is_pattern(entry) {
                patterns.push(entry.clone());
            } else {
                names.push(name.to_owned());
            }
        }
        if !patterns.is_empty() {
            let mut set = globset::GlobSetBuilder::new();
            for p in &patterns {
                if let Ok(g) = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .case_insensitive(true)
                    .build()
                {
                    set.add(g);
                }
            }
            let set = set.build().map_err(|e| AppError::Sign(e.to_string()))?;
            let (a, v) = self
                .access_token(
                    jwt,
                    installation,
                    &json!({"permissions": {"metadata": "read"}}),
                )
                .await?;
            if a.status.as_u16() != 201 {
                return Err(Self::unexpected("the repository listing token", &a));
            }
            let lister = take_token(v)?;
            let listed = self.list_repositories(&lister).await;
            self.revoke(&lister).await;
            for full in listed? {
                if set.is_match(&full) {
                    if let Some((_, n)) = full.split_once('/') {
                        names.push(n.to_owned());
                    }
                }
            }
        }
        names.sort_by_key(|n| n.to_ascii_lowercase());
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        if names.is_empty() {
            return Err(AppError::NoMatch {
                installation,
                patterns: serde_json::to_string(&patterns).unwrap_or_default(),
            });
        }
        Ok(names)
    }

    async fn list_repositories(&self, token: &RetiredToken) -> Result<Vec<String>, AppError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let a = self
                .call(
                    reqwest::Method::GET,
                    &format!("/installation/repositories?per_page=100&page={page}"),
                    Auth::Installation(token),
                    None,
                )
                .await?;
            if a.status.as_u16() != 200 {
                return Err(Self::unexpected("the installation's repository list", &a));
            }
            let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
            let repos = v["repositories"].as_array().cloned().unwrap_or_default();
            out.extend(
                repos
                    .iter()
                    .filter_map(|r| r["full_name"].as_str().map(str::to_owned)),
            );
            if repos.len() < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// `DELETE /installation/token` with the token itself. Best effort.
    async fn revoke(&self, token: &RetiredToken) {
        let _ = self
            .call(
                reqwest::Method::DELETE,
                "/installation/token",
                Auth::Installation(token),
                None,
            )
            .await;
    }

    /// Mint a new restricted token and install it.
    async fn mint_and_install(self: &Arc<Self>, state: &AgentState) -> Result<(), AppError> {
        let jwt = self.jwt().await?;
        // ALLOWED_REPOS as in force now (SIGHUP may have changed it: see `request_refresh`).
        let allowed = state.settings().allowed_repos.clone();
        if allowed.is_empty() {
            return Err(AppError::NoRepos);
        }
        let (installation, account) = self.installation(&jwt, &allowed).await?;
        {
            let mut s = self.status();
            s.installation = Some(installation);
            s.account = Some(account.clone());
        }
        let names = self
            .repository_names(&jwt, installation, &account, &allowed)
            .await?;
        let permissions: serde_json::Map<String, Value> = PERMISSIONS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let body = json!({"repositories": names, "permissions": permissions});
        let started = Instant::now();
        let (a, v) = self.access_token(&jwt, installation, &body).await?;
        match a.status.as_u16() {
            201 => {}
            401 => return Err(self.jwt_refused(&a)),
            404 | 422 => {
                let missing = self.not_installed(&jwt, &account, &names).await;
                return Err(AppError::NotAccessible {
                    app_id: self.app_id,
                    installation,
                    repos: serde_json::to_string(if missing.is_empty() {
                        &names
                    } else {
                        &missing
                    })
                    .unwrap_or_default(),
                    status: a.status.as_u16(),
                    message: message_of(&a.body),
                });
            }
            _ => return Err(Self::unexpected("the installation token request", &a)),
        }
        let expires_at = v["expires_at"]
            .as_str()
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.timestamp_millis());
        let granted_repos: Vec<String> = v["repositories"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x["full_name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| names.iter().map(|n| format!("{account}/{n}")).collect());
        let granted_perms: BTreeMap<String, String> = v["permissions"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // GitHub's tokens last an hour; without a readable expiry assume 10 minutes.
        let left = expires_at
            .map(|e| Duration::from_millis((e - now_ms).max(0) as u64))
            .unwrap_or(Duration::from_secs(600));
        let token = take_token(v)?;
        let value = token.with_exposed(|t| t.to_owned());
        let retired = state
            .token
            .replace(value, "the GitHub App installation token")
            .map_err(|e| AppError::Unexpected {
                what: "the installation token request",
                status: 201,
                message: e.to_string(),
            })?;
        let minted = Minted {
            repositories: granted_repos,
            permissions: granted_perms,
            minted: started,
            expires: started + left,
        };
        let grace = (left / 10).min(Duration::from_secs(30));
        {
            let mut s = self.status();
            s.minted = Some(minted.clone());
            s.last_error = None;
            s.refreshes += 1;
        }
        crate::log::info(
            state,
            &format!(
                "GitHub App {} token minted (installation {installation}) for {} with {}; expires in {} s",
                self.app_id,
                serde_json::to_string(&minted.repositories).unwrap_or_default(),
                perms_text(&minted.permissions),
                left.as_secs()
            ),
        );
        if let Some(old) = retired {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                me.revoke(&old).await;
            });
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Which of the exact allowed repositories the App is not installed on (for the message).
    async fn not_installed(&self, jwt: &str, account: &str, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for n in names.iter().take(20) {
            let path = format!("/repos/{account}/{n}/installation");
            if let Ok(a) = self
                .call(reqwest::Method::GET, &path, Auth::Jwt(jwt), None)
                .await
            {
                if a.status.as_u16() == 404 {
                    out.push(format!("{account}/{n}"));
                }
            }
        }
        out
    }

    /// Mint now (serialised with every other refresh). On failure the previous token stays.
    pub async fn refresh(self: &Arc<Self>, state: &AgentState) -> Result<(), AppError> {
        let _g = self.refresh_lock.lock().await;
        self.refresh_locked(state).await
    }

    async fn refresh_locked(self: &Arc<Self>, state: &AgentState) -> Result<(), AppError> {
        let r = self.mint_and_install(state).await;
        if let Err(e) = &r {
            let text = state.redactor.redact_str(&e.to_string());
            self.status().last_error = Some(text);
        }
        r
    }

    /// A request sent with token generation `seen` was answered 401. Returns whether to retry it
    /// (once): the token was replaced since, or a refresh just succeeded. At most one 401-driven
    /// mint per 10 s, so a request GitHub refuses for another reason cannot cause a mint storm.
    pub async fn retry_after_401(self: &Arc<Self>, state: &AgentState, seen: u64) -> bool {
        if state.token.generation() != seen {
            return true;
        }
        let _g = self.refresh_lock.lock().await;
        if state.token.generation() != seen {
            return true;
        }
        {
            let mut last = self
                .last_401_refresh
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
                return false;
            }
            *last = Some(Instant::now());
        }
        crate::log::info(
            state,
            "GitHub answered 401 to the App token: minting a new one and retrying the request once",
        );
        match self.refresh_locked(state).await {
            Ok(()) => true,
            Err(e) => {
                crate::log::warn(state, &format!("GitHub App token refresh failed: {e}"));
                false
            }
        }
    }

    /// The refresh schedule, until `stop`.
    pub async fn run(
        self: Arc<Self>,
        state: Arc<AgentState>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut backoff = Duration::from_secs(1);
        let mut failed = false;
        loop {
            let minted = self.status().minted.clone();
            let now = Instant::now();
            let at = match (&minted, failed) {
                (Some(m), false) => m.refresh_at(),
                (Some(m), true) => (now + backoff).min(m.expires.max(now)),
                (None, _) => now + backoff,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {
                    failed = false;
                    if !self.force.swap(false, std::sync::atomic::Ordering::AcqRel) {
                        continue;
                    }
                }
                _ = tokio::time::sleep_until(at.into()) => {}
            }
            if let Some(m) = &minted {
                if Instant::now() >= m.expires && failed {
                    // Expired with no replacement: fail locally with the reason from now on.
                    state.token.clear();
                    self.status().minted = None;
                }
            }
            match self.refresh(&state).await {
                Ok(()) => {
                    failed = false;
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    crate::log::warn(
                        &state,
                        &format!("GitHub App token refresh failed (keeping the current token until it expires; retrying in {} s): {e}", backoff.as_secs()),
                    );
                    failed = true;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// SIGHUP changed ALLOWED_REPOS: mint a token for the new list now.
    pub fn request_refresh(&self) {
        self.force.store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
    }

    /// Shutdown: revoke the current token.
    pub async fn revoke_current(&self, state: &AgentState) {
        if let Some(t) = state.token.clear() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.revoke(&t)).await;
            crate::log::info(state, "GitHub App token revoked");
        }
    }

    /// Why the last mint failed (redacted), if the last attempt failed.
    pub fn last_error(&self) -> Option<String> {
        self.status().last_error.clone()
    }

    /// Why no token is loaded, for the gateway's refusal.
    pub fn no_token_reason(&self) -> String {
        match &self.status().last_error {
            Some(e) => format!("gitgate: no GitHub App installation token: {e} (see agent-status)"),
            None => "gitgate: no GitHub App installation token yet (see agent-status)".into(),
        }
    }

    /// agent-status lines (never any part of the token or key).
    pub fn status_lines(&self) -> String {
        let locked = self.key.mlock_state() == crate::secret::MlockState::Locked;
        let s = self.status();
        let mut t = format!(
            "token:             GitHub App {}, installation {}{}\n",
            self.app_id,
            s.installation
                .map(|i| i.to_string())
                .unwrap_or_else(|| "(not known yet)".into()),
            s.account
                .as_ref()
                .map(|a| format!(" (account {a})"))
                .unwrap_or_default()
        );
        match &s.minted {
            Some(m) => {
                let left = m.expires.saturating_duration_since(Instant::now());
                t.push_str(&format!(
                    "app token:         minted for {} with {}; expires in {} min\n",
                    serde_json::to_string(&m.repositories).unwrap_or_default(),
                    perms_text(&m.permissions),
                    left.as_secs() / 60
                ));
            }
            None => t.push_str("app token:         none (not minted)\n"),
        }
        if let Some(e) = &s.last_error {
            t.push_str(&format!("app token error:   {e}\n"));
        }
        if !locked {
            t.push_str("app key:           FAILED to lock: the App key may be swapped to disk (grant IPC_LOCK or raise RLIMIT_MEMLOCK)\n");
        }
        t
    }
}

struct ClockSkewBuilder {
    skew: i64,
    message: String,
}

impl ClockSkewBuilder {
    fn build(self) -> AppError {
        AppError::ClockSkew {
            skew: self.skew.abs(),
            direction: if self.skew >= 0 { "ahead of" } else { "behind" },
            message: self.message,
        }
    }
}

fn perms_text(p: &BTreeMap<String, String>) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `token` of an access-token answer, moved into a locked buffer at once.
fn take_token(mut v: Value) -> Result<RetiredToken, AppError> {
    let bad = || AppError::Unexpected {
        what: "the installation token request",
        status: 201,
        message: "no token in the answer".into(),
    };
    let Some(Value::String(t)) = v.get_mut("token").map(Value::take) else {
        return Err(bad());
    };
    crate::secret::Token::from_value(t, "the GitHub App installation token")
        .ok()
        .and_then(|tok| tok.clear())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_five_minutes_before_or_at_80_percent() {
        let t0 = Instant::now();
        let hour = Minted {
            repositories: vec![],
            permissions: BTreeMap::new(),
            minted: t0,
            expires: t0 + Duration::from_secs(3600),
        };
        assert_eq!(hour.refresh_at(), t0 + Duration::from_secs(3300));
        let short = Minted {
            expires: t0 + Duration::from_secs(3),
            ..hour
        };
        assert_eq!(short.refresh_at(), t0 + Duration::from_millis(2400));
    }

    #[test]
    fn messages_are_short_and_plain() {
        assert_eq!(
            message_of(br#"{"message":"Bad\ncredentials"}"#),
            "Badcredentials"
        );
        assert_eq!(message_of(&[b'x'; 500]).len(), 200);
    }
}
