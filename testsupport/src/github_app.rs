//! The fake GitHub's App endpoints (issue 12), off unless [`FakeGitHub::enable_app`] is called.
//!
//! - JWT-authenticated (`Authorization: Bearer <jwt>`, verified RS256 against the App's public key,
//!   `iss` = the App id, `iat` in the past, `exp` in the future and at most 10 min after `iat`, with
//!   GitHub's messages): `GET /repos/{o}/{r}/installation`, `GET /app/installations/{id}`,
//!   `POST /app/installations/{id}/access_tokens` (`repositories` must all be installed, else
//!   GitHub's 422; every body is recorded: [`FakeGitHub::app_mints`]).
//! - Installation-token-authenticated: `GET /installation/repositories`, `DELETE /installation/token`.
//! - In App mode every other API call must carry an issued installation token that is neither
//!   expired ([`FakeGitHub::set_app_token_lifetime`]) nor revoked ([`FakeGitHub::revoke_app_token`]);
//!   the fake's static token is refused. Which token each call used: [`FakeGitHub::app_token_uses`].
//! - [`FakeGitHub::set_app_clock_skew`] moves the fake's clock (JWT checks and `Date`).
//! - [`FakeGitHub::app_git_credentials`]: the same live-token registry for the git server
//!   (`GitHttpServer::start_with`), so git over HTTPS accepts exactly the tokens the fake minted
//!   and still considers valid; revocable from the test ([`AppGitCredentials::revoke_presented`]).
//!
//! Test keys are generated at test time ([`test_keys`]); no private key is committed.

use super::{json_response, FakeGitHub, Shared};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An RSA key pair made for one test process.
pub struct TestKeyPair {
    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), as GitHub hands it out.
    pub private_pem: String,
    /// The private key's DER, base64 (to prove it appears nowhere).
    pub private_der_b64: String,
    pub public: rsa::RsaPublicKey,
}

impl TestKeyPair {
    pub fn generate() -> TestKeyPair {
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("generate an RSA key");
        let pem = key
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .expect("encode the key");
        let der = key.to_pkcs1_der().expect("encode the key");
        TestKeyPair {
            private_pem: pem.to_string(),
            private_der_b64: base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
            public: rsa::RsaPublicKey::from(&key),
        }
    }
}

/// Two key pairs per test process (key generation is slow): `[0]` the App's, `[1]` another.
pub fn test_keys() -> &'static [TestKeyPair; 2] {
    static KEYS: OnceLock<[TestKeyPair; 2]> = OnceLock::new();
    KEYS.get_or_init(|| [TestKeyPair::generate(), TestKeyPair::generate()])
}

/// One installation token the fake issued.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    /// The `repositories` it was minted for (`None` = all of the installation).
    pub repositories: Option<Vec<String>>,
    pub permissions: Value,
    pub revoked: bool,
    /// When the fake issued it.
    pub issued: Instant,
    expires: Instant,
}

impl IssuedToken {
    pub fn expired(&self) -> bool {
        Instant::now() >= self.expires
    }
}

pub(super) struct FakeApp {
    app_id: u64,
    installation_id: u64,
    account: String,
    public: rsa::RsaPublicKey,
    installed: Vec<String>,
    lifetime: Duration,
    clock_skew: i64,
    tokens: Vec<IssuedToken>,
    mints: Vec<Value>,
    uses: Vec<(String, String, Option<usize>)>,
}

fn unix_now(skew: i64) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + skew
}

fn unauthorized(message: &str) -> Response {
    json_response(
        401,
        &json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": "401"}),
    )
}

/// `2024-01-01T00:00:00.000Z` for a time `ms` milliseconds after the epoch.
fn rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

fn random_token() -> String {
    let mut bytes = [0u8; 18];
    rsa::rand_core::RngCore::fill_bytes(&mut rsa::rand_core::OsRng, &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("ghs_{hex}")
}

impl FakeApp {
    /// Verify the App JWT like GitHub does; `Err` is the 401 message.
    fn verify(&self, auth: &str) -> Result<(), &'static str> {
        let undecodable = "A JSON web token could not be decoded";
        let jwt = auth.strip_prefix("Bearer ").ok_or(undecodable)?;
        let mut parts = jwt.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(undecodable);
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Value = serde_json::from_slice(&b64.decode(h).map_err(|_| undecodable)?)
            .map_err(|_| undecodable)?;
        if header["alg"] != "RS256" {
            return Err(undecodable);
        }
        let sig = Signature::try_from(b64.decode(s).map_err(|_| undecodable)?.as_slice())
            .map_err(|_| undecodable)?;
        VerifyingKey::<sha2::Sha256>::new(self.public.clone())
            .verify(format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| undecodable)?;
        let claims: Value = serde_json::from_slice(&b64.decode(p).map_err(|_| undecodable)?)
            .map_err(|_| undecodable)?;
        let iss_ok = claims["iss"].as_u64() == Some(self.app_id)
            || claims["iss"].as_str() == Some(&self.app_id.to_string());
        if !iss_ok {
            return Err("Integration not found");
        }
        let now = unix_now(self.clock_skew);
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err(undecodable);
        };
        if iat > now {
            return Err(
                "'Issued at' claim ('iat') must be an Integer representing a time in the past.",
            );
        }
        if exp <= now {
            return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.");
        }
        if exp - iat > 600 {
            return Err("'Expiration time' claim ('exp') is too far in the future.");
        }
        Ok(())
    }

    fn installed(&self, name: &str) -> bool {
        self.installed.iter().any(|r| r.eq_ignore_ascii_case(name))
    }

    fn installation_json(&self) -> Value {
        json!({
            "id": self.installation_id, "app_id": self.app_id, "target_type": "Organization",
            "account": {"login": self.account, "id": 4242, "type": "Organization"},
            "repository_selection": "selected",
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write",
                            "actions": "read", "metadata": "read", "workflows": "write",
                            "administration": "write"},
        })
    }

    fn repo_json(&self, i: usize, name: &str) -> Value {
        json!({"id": 9000 + i, "name": name, "full_name": format!("{}/{name}", self.account),
               "private": true, "owner": {"login": self.account}})
    }

    fn token_index(&self, auth: &str) -> Option<usize> {
        let t = auth
            .strip_prefix("token ")
            .or_else(|| auth.strip_prefix("Bearer "))?;
        self.tokens.iter().position(|x| x.token == t)
    }

    fn usable(&self, i: Option<usize>) -> bool {
        i.and_then(|i| self.tokens.get(i))
            .is_some_and(|t| !t.revoked && !t.expired())
    }

    fn with_date(&self, mut r: Response) -> Response {
        let t = UNIX_EPOCH + Duration::from_secs(unix_now(self.clock_skew).max(0) as u64);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
            r.headers_mut().insert(header::DATE, v);
        }
        r
    }
}

/// The App endpoints (`Some`) in App mode; `None` for everything else.
pub(super) fn route(
    sh: &Shared,
    method: &str,
    path: &str,
    query: &str,
    auth: &str,
    body: &str,
) -> Option<Response> {
    let mut guard = sh.app.lock().unwrap();
    let app = guard.as_mut()?;
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let jwt_route = matches!(
        (method, segs.as_slice()),
        ("GET", ["repos", _, _, "installation"])
            | ("GET", ["app", "installations", _])
            | ("POST", ["app", "installations", _, "access_tokens"])
            | ("GET", ["app"])
    );
    if jwt_route {
        if let Err(m) = app.verify(auth) {
            return Some(app.with_date(unauthorized(m)));
        }
        let resp = match (method, segs.as_slice()) {
            ("GET", ["app"]) => {
                json_response(200, &json!({"id": app.app_id, "slug": "gitgate-test"}))
            }
            ("GET", ["repos", o, r, "installation"]) => {
                if o.eq_ignore_ascii_case(&app.account) && app.installed(r) {
                    json_response(200, &app.installation_json())
                } else {
                    super::not_found()
                }
            }
            ("GET", ["app", "installations", id]) => {
                if *id == app.installation_id.to_string() {
                    json_response(200, &app.installation_json())
                } else {
                    super::not_found()
                }
            }
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                if *id != app.installation_id.to_string() {
                    super::not_found()
                } else {
                    let req: Value = serde_json::from_str(body).unwrap_or(json!({}));
                    app.mints.push(req.clone());
                    let repos: Option<Vec<String>> = req["repositories"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    });
                    if repos
                        .as_ref()
                        .is_some_and(|r| r.iter().any(|n| !app.installed(n)))
                    {
                        json_response(
                            422,
                            &json!({"message": "There is at least one repository that does not exist or is not accessible to the parent installation.",
                                    "documentation_url": "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
                                    "status": "422"}),
                        )
                    } else {
                        let token = random_token();
                        let now_ms = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_millis() as i64)
                            .unwrap_or(0);
                        let expires_ms = now_ms + app.lifetime.as_millis() as i64;
                        let names = repos.clone().unwrap_or_else(|| app.installed.clone());
                        let listed: Vec<Value> = names
                            .iter()
                            .enumerate()
                            .map(|(i, n)| app.repo_json(i, n))
                            .collect();
                        let permissions = req["permissions"].clone();
                        app.tokens.push(IssuedToken {
                            token: token.clone(),
                            repositories: repos,
                            permissions: permissions.clone(),
                            revoked: false,
                            issued: Instant::now(),
                            expires: Instant::now() + app.lifetime,
                        });
                        json_response(
                            201,
                            &json!({"token": token, "expires_at": rfc3339_millis(expires_ms),
                                    "permissions": permissions, "repository_selection": "selected",
                                    "repositories": listed}),
                        )
                    }
                }
            }
            _ => super::not_found(),
        };
        return Some(app.with_date(resp));
    }
    let installation_route = matches!(
        (method, segs.as_slice()),
        ("GET", ["installation", "repositories"]) | ("DELETE", ["installation", "token"])
    );
    if !installation_route {
        return None;
    }
    let idx = app.token_index(auth);
    app.uses.push((method.to_owned(), path.to_owned(), idx));
    if !app.usable(idx) {
        return Some(unauthorized("Bad credentials"));
    }
    let i = idx.unwrap_or(0);
    Some(match segs.as_slice() {
        ["installation", "token"] => {
            app.tokens[i].revoked = true;
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = axum::http::StatusCode::NO_CONTENT;
            r
        }
        _ => {
            let all: Vec<Value> = app
                .installed
                .iter()
                .enumerate()
                .map(|(i, n)| app.repo_json(i, n))
                .collect();
            let total = all.len();
            json_response(
                200,
                &json!({"total_count": total, "repository_selection": "selected",
                        "repositories": super::paginate(all, query)}),
            )
        }
    })
}

/// In App mode: is `auth` a live installation token (`Some`), recording which one was used.
pub(super) fn authorize(sh: &Shared, method: &str, path: &str, auth: &str) -> Option<bool> {
    let mut guard = sh.app.lock().unwrap();
    let app = guard.as_mut()?;
    let idx = app.token_index(auth);
    app.uses.push((method.to_owned(), path.to_owned(), idx));
    Some(app.usable(idx))
}

/// The fake App's installation tokens as Basic credentials for the git server (any user name;
/// the password must be an issued token, neither expired nor revoked). Labels: `app token #i`
/// (the index in [`FakeGitHub::app_tokens`]). Cheap to clone; shares the fake's registry.
#[derive(Clone)]
pub struct AppGitCredentials {
    shared: std::sync::Arc<Shared>,
}

impl AppGitCredentials {
    fn with_app<R>(&self, f: impl FnOnce(&mut FakeApp) -> R) -> Option<R> {
        self.shared
            .app
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(f)
    }

    /// Revoke the token `password` is (if it is one the fake issued): "revoked elsewhere" at the
    /// moment a given request arrives. Returns its index.
    pub fn revoke_presented(&self, password: &str) -> Option<usize> {
        self.with_app(|a| {
            let i = a.tokens.iter().position(|t| t.token == password)?;
            a.tokens[i].revoked = true;
            Some(i)
        })
        .flatten()
    }
}

impl crate::githttp::CredentialCheck for AppGitCredentials {
    fn check(
        &self,
        _: &str,
        _: &str,
        _: &str,
        password: &str,
    ) -> crate::githttp::CredentialVerdict {
        self.with_app(|a| {
            let i = a.tokens.iter().position(|t| t.token == password);
            crate::githttp::CredentialVerdict {
                ok: a.usable(i),
                label: i.map(|i| format!("app token #{i}")),
            }
        })
        .unwrap_or_default()
    }
}

impl FakeGitHub {
    /// The App's live installation tokens as git credentials (see [`AppGitCredentials`]).
    pub fn app_git_credentials(&self) -> AppGitCredentials {
        AppGitCredentials {
            shared: self.shared.clone(),
        }
    }

    /// Turn on App mode: App `app_id` (verifying JWTs with `public`), installation
    /// `installation_id` on the account `account` with the repositories `installed` (names).
    /// Installation tokens last an hour unless [`FakeGitHub::set_app_token_lifetime`] says otherwise.
    pub fn enable_app(
        &self,
        app_id: u64,
        installation_id: u64,
        account: &str,
        public: &rsa::RsaPublicKey,
        installed: &[&str],
    ) {
        *self.shared.app.lock().unwrap() = Some(FakeApp {
            app_id,
            installation_id,
            account: account.to_owned(),
            public: public.clone(),
            installed: installed.iter().map(|s| (*s).to_owned()).collect(),
            lifetime: Duration::from_secs(3600),
            clock_skew: 0,
            tokens: Vec::new(),
            mints: Vec::new(),
            uses: Vec::new(),
        });
    }

    fn with_app<R>(&self, f: impl FnOnce(&mut FakeApp) -> R) -> R {
        f(self
            .shared
            .app
            .lock()
            .unwrap()
            .as_mut()
            .expect("enable_app first"))
    }

    /// Lifetime of installation tokens minted from now on.
    pub fn set_app_token_lifetime(&self, d: Duration) {
        self.with_app(|a| a.lifetime = d);
    }

    /// The fake's clock runs `secs` ahead (negative: behind) of the real one.
    pub fn set_app_clock_skew(&self, secs: i64) {
        self.with_app(|a| a.clock_skew = secs);
    }

    /// Bodies of every `POST /app/installations/{id}/access_tokens`, in order.
    pub fn app_mints(&self) -> Vec<Value> {
        self.with_app(|a| a.mints.clone())
    }

    /// Every installation token issued, in order.
    pub fn app_tokens(&self) -> Vec<IssuedToken> {
        self.with_app(|a| a.tokens.clone())
    }

    /// Revoke token `i` now (as if revoked elsewhere).
    pub fn revoke_app_token(&self, i: usize) {
        self.with_app(|a| a.tokens[i].revoked = true);
    }

    /// `(method, path, index of the installation token used)` of every installation-authenticated
    /// request (`None`: not an issued token).
    pub fn app_token_uses(&self) -> Vec<(String, String, Option<usize>)> {
        self.with_app(|a| a.uses.clone())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339_millis(1_704_067_265_123),
            "2024-01-01T00:01:05.123Z"
        );
    }
}
