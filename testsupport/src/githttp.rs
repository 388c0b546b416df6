//! A real git smart-HTTP server for tests: `git http-backend` run as CGI behind HTTP Basic auth,
//! serving bare repositories under a root directory, on `127.0.0.1` (ephemeral port) only.
//!
//! The server runs on its own thread with its own tokio runtime, so it works from both sync tests and
//! `#[tokio::test]`s. Dropping the [`GitHttpServer`] stops it: the listener is closed, in-flight
//! connections are dropped and any running CGI process is killed.
//!
//! Every HTTP request is recorded (see [`GitHttpServer::requests`]), including unauthenticated ones,
//! so tests can assert that an "attacker" server was never contacted.
//!
//! Credentials: one fixed token ([`GitHttpServer::start`]) or any [`CredentialCheck`]
//! ([`GitHttpServer::start_with`]), e.g. the fake GitHub App's live installation tokens
//! (`FakeGitHub::app_git_credentials`), which a test can revoke while git runs. Each request
//! records which credential it carried ([`RecordedRequest::credential`], a label, never the
//! secret).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use axum::Router;
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

/// A CGI process is killed after this long, whatever it is doing.
pub const CGI_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound on the size of the CGI response header block.
const MAX_CGI_HEADER: usize = 64 * 1024;
/// Realm sent in `WWW-Authenticate`.
pub const REALM: &str = "gitgate-test";

/// One HTTP request as seen by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `GET`, `POST`.
    pub method: String,
    /// Path and query, e.g. `/acme/app.git/info/refs?service=git-upload-pack`.
    pub path: String,
    /// An `Authorization` header was present.
    pub had_auth: bool,
    /// The `Authorization` header was a valid Basic credential with the right password.
    pub auth_ok: bool,
    /// Which known credential the request carried (the [`CredentialCheck`]'s label, e.g.
    /// `app token #1`), accepted or not; `None` for none or an unknown one. Never the secret.
    pub credential: Option<String>,
    /// The request's `Content-Length`, if it had one (`None` for chunked bodies and body-less requests).
    pub content_length: Option<u64>,
    /// Status code returned (for CGI responses: the CGI's `Status:`; 502 if the CGI failed).
    pub status: u16,
}

/// What a [`CredentialCheck`] says about one Basic credential.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialVerdict {
    /// Accepted: the CGI runs.
    pub ok: bool,
    /// A name for the credential, for the request log (never the secret itself).
    pub label: Option<String>,
}

/// Decides whether the Basic credential of a request is accepted.
pub trait CredentialCheck: Send + Sync + 'static {
    fn check(&self, method: &str, path: &str, user: &str, password: &str) -> CredentialVerdict;
}

impl<F> CredentialCheck for F
where
    F: Fn(&str, &str, &str, &str) -> CredentialVerdict + Send + Sync + 'static,
{
    fn check(&self, method: &str, path: &str, user: &str, password: &str) -> CredentialVerdict {
        self(method, path, user, password)
    }
}

/// Any user name, the password must equal the token (label `token`).
struct FixedToken(String);

impl CredentialCheck for FixedToken {
    fn check(&self, _: &str, _: &str, _: &str, password: &str) -> CredentialVerdict {
        let ok = password == self.0;
        CredentialVerdict {
            ok,
            label: ok.then(|| "token".to_owned()),
        }
    }
}

struct Shared {
    root: PathBuf,
    check: Arc<dyn CredentialCheck>,
    backend: PathBuf,
    home: PathBuf,
    redirect: Mutex<Option<String>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// `owner/name.git` paths anyone may fetch without credentials (like a public GitHub repo).
    public: Mutex<Vec<String>>,
    /// Answer every upload-pack request (fetches) with 503: an upstream that cannot be read.
    refuse_fetches: std::sync::atomic::AtomicBool,
    stall_pushes: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn record(&self, r: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }
}

/// A git smart-HTTP server (see the module docs). Stops on drop.
pub struct GitHttpServer {
    port: u16,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serve bare repos under `root` (paths like `root/acme/app.git`). Basic auth: any username, the
    /// password must equal `token`. Missing or wrong credentials get `401` with
    /// `WWW-Authenticate: Basic realm="gitgate-test"`, and no CGI is run.
    pub fn start(root: &Path, token: &str) -> std::io::Result<GitHttpServer> {
        Self::start_with(root, Arc::new(FixedToken(token.to_owned())))
    }

    /// Like [`start`](Self::start), the Basic credential of each request judged by `check`.
    pub fn start_with(
        root: &Path,
        check: Arc<dyn CredentialCheck>,
    ) -> std::io::Result<GitHttpServer> {
        let root = root.canonicalize()?;
        let backend = http_backend_path().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "git-http-backend not found")
        })?;
        let shared = Arc::new(Shared {
            root,
            check,
            backend,
            home: test_home().to_path_buf(),
            redirect: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            public: Mutex::new(Vec::new()),
            refuse_fetches: std::sync::atomic::AtomicBool::new(false),
            stall_pushes: std::sync::atomic::AtomicBool::new(false),
        });

        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("githttp-test-server")
            .build()?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<SocketAddr>();

        let thread = std::thread::Builder::new()
            .name("githttp-test-server".into())
            .spawn(move || {
                rt.block_on(async move {
                    tokio::select! {
                        r = axum::serve(listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); }), app) => {
                            if let Err(e) = r {
                                eprintln!("githttp: server error: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Drops the remaining connection tasks (and with them, kill_on_drop CGI children).
                rt.shutdown_timeout(Duration::from_secs(5));
            })?;

        Ok(GitHttpServer {
            port,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1:PORT"`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `"http://127.0.0.1:PORT/owner/name.git"`.
    pub fn url(&self, owner: &str, name: &str) -> String {
        format!("http://127.0.0.1:{}/{owner}/{name}.git", self.port)
    }

    /// Like [`url`](Self::url) but with `x-access-token:TOKEN@` userinfo, for the git CLI.
    pub fn url_with_token(&self, owner: &str, name: &str, token: &str) -> String {
        format!(
            "http://x-access-token:{token}@127.0.0.1:{}/{owner}/{name}.git",
            self.port
        )
    }

    /// Number of HTTP requests received (authenticated or not).
    pub fn request_count(&self) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Every request received so far, in order of arrival of the response decision.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Make `owner/name` public: fetches without an `Authorization` header are served (as user
    /// `anonymous`); pushes and wrong credentials still get 401, as on GitHub.
    /// With `true`, every fetch request (upload-pack advertisement and POST) gets `503`; pushes
    /// are still served.
    pub fn set_refuse_fetches(&self, refuse: bool) {
        self.shared
            .refuse_fetches
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every receive-pack POST so far (pushes, and git's flush-only probes), in order.
    pub fn receive_pack_posts(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/git-receive-pack"))
            .collect()
    }

    /// Receive-pack POSTs are recorded, then their body is never read and no answer comes (a
    /// server that stopped taking a push): the client's own timeouts must end them.
    pub fn set_stall_pushes(&self, stall: bool) {
        self.shared
            .stall_pushes
            .store(stall, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set_public(&self, owner: &str, name: &str) {
        self.shared
            .public
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("/{owner}/{name}.git/"));
    }

    /// With `Some(location)`, every request (before any auth check) gets `302 Found` with
    /// `Location: location`. `None` restores normal serving.
    pub fn set_redirect(&self, location: Option<String>) {
        *self
            .shared
            .redirect
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = location;
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for GitHttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHttpServer")
            .field("port", &self.port)
            .field("root", &self.shared.root)
            .finish_non_exhaustive()
    }
}

/// Parse `Authorization: Basic ...` into (user, password).
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn simple(status: StatusCode, body: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let method = req.method().as_str().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let had_auth = req.headers().contains_key(header::AUTHORIZATION);
    let creds = basic_auth(req.headers());
    let verdict = creds
        .as_ref()
        .map(|(u, p)| shared.check.check(&method, &path, u, p))
        .unwrap_or_default();
    let auth_ok = verdict.ok;
    let content_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let mut rec = RecordedRequest {
        method,
        path,
        had_auth,
        auth_ok,
        credential: verdict.label,
        content_length,
        status: 0,
    };

    let redirect = shared
        .redirect
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(loc) = redirect {
        let mut r = simple(StatusCode::FOUND, "redirect\n");
        if let Ok(v) = HeaderValue::from_str(&loc) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        rec.status = r.status().as_u16();
        shared.record(rec);
        return r;
    }

    let public_read = !had_auth && {
        let public = shared.public.lock().unwrap_or_else(|e| e.into_inner());
        public.iter().any(|p| rec.path.starts_with(p.as_str()))
            && (rec.path.ends_with("/git-upload-pack")
                || rec.path.ends_with("/info/refs?service=git-upload-pack"))
    };
    let user = match creds {
        Some((user, _)) if auth_ok => user,
        None if public_read => "anonymous".to_owned(),
        _ => {
            let mut r = simple(StatusCode::UNAUTHORIZED, "authentication required\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!("Basic realm=\"{REALM}\"")).unwrap(),
            );
            rec.status = 401;
            shared.record(rec);
            return r;
        }
    };

    if shared
        .stall_pushes
        .load(std::sync::atomic::Ordering::SeqCst)
        && rec.path.ends_with("/git-receive-pack")
    {
        rec.status = 0;
        shared.record(rec);
        // Hold the request (and its unread body) until the client gives up.
        let never: std::convert::Infallible = std::future::pending().await;
        match never {}
    }
    if shared
        .refuse_fetches
        .load(std::sync::atomic::Ordering::SeqCst)
        && rec.path.contains("git-upload-pack")
    {
        let r = simple(
            StatusCode::SERVICE_UNAVAILABLE,
            "fetches are switched off\n",
        );
        rec.status = 503;
        shared.record(rec);
        return r;
    }
    let r = match run_cgi(&shared, peer, &user, req).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("githttp: CGI failed: {e}");
            simple(StatusCode::BAD_GATEWAY, "CGI failed\n")
        }
    };
    rec.status = r.status().as_u16();
    shared.record(rec);
    r
}

async fn run_cgi(
    shared: &Shared,
    peer: SocketAddr,
    user: &str,
    req: Request,
) -> std::io::Result<Response> {
    let (parts, mut body) = req.into_parts();
    let hdr = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };

    let mut cmd = tokio::process::Command::new(&shared.backend);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &shared.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_SOFTWARE", "gitgate-testsupport")
        .env("SERVER_NAME", "127.0.0.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REMOTE_USER", user)
        .env("AUTH_TYPE", "Basic")
        .env("REMOTE_ADDR", peer.ip().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(ct) = hdr("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(cl) = hdr("content-length") {
        cmd.env("CONTENT_LENGTH", cl);
    }
    if let Some(ce) = hdr("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", ce);
    }
    if let Some(gp) = hdr("git-protocol") {
        cmd.env("GIT_PROTOCOL", &gp).env("HTTP_GIT_PROTOCOL", gp);
    }

    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");

    // Watchdog: owns the child; kills it after CGI_TIMEOUT. Killing closes stdout, which ends
    // everything else. Runs detached so it also bounds the streaming of the response body.
    tokio::spawn(async move {
        match tokio::time::timeout(CGI_TIMEOUT, child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("githttp: CGI timed out after {CGI_TIMEOUT:?}, killing it");
                let _ = child.kill().await;
            }
        }
    });
    // Forward stderr (bounded: ends when the child exits or is killed).
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(1 << 20).read_to_end(&mut buf).await;
        if !buf.is_empty() {
            eprintln!(
                "githttp: CGI stderr: {}",
                String::from_utf8_lossy(&buf).trim_end()
            );
        }
    });
    // Stream the request body (possibly chunked, possibly large) into stdin, then close it.
    tokio::spawn(async move {
        let copy = async {
            while let Some(frame) =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
            {
                let frame = frame.map_err(std::io::Error::other)?;
                if let Ok(data) = frame.into_data() {
                    stdin.write_all(&data).await?;
                }
            }
            stdin.shutdown().await?;
            Ok::<(), std::io::Error>(())
        };
        match tokio::time::timeout(CGI_TIMEOUT, copy).await {
            Ok(Ok(())) => {}
            // The CGI may exit without reading all input (e.g. errors); that is not our problem.
            Ok(Err(_)) => {}
            Err(_) => eprintln!("githttp: request body copy timed out"),
        }
    });

    let (status, headers, rest) = read_cgi_headers(stdout).await?;
    let mut resp = Response::new(Body::from_stream(ReaderStream::new(rest)));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// Read the CGI header block from `out`. Returns the status, the headers and a reader yielding the
/// remaining body bytes.
async fn read_cgi_headers<R: AsyncRead + Unpin>(
    mut out: R,
) -> std::io::Result<(
    StatusCode,
    HeaderMap,
    tokio::io::Chain<std::io::Cursor<Vec<u8>>, R>,
)> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let (head_end, body_start) = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break (i, i + 4);
        }
        if let Some(i) = find(&buf, b"\n\n") {
            break (i, i + 2);
        }
        if buf.len() > MAX_CGI_HEADER {
            return Err(std::io::Error::other("CGI header block too large"));
        }
        let mut chunk = [0u8; 8192];
        let n = out.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "CGI exited before finishing its headers",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            let code = v.split_whitespace().next().unwrap_or("");
            status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
        } else if let (Ok(name), Ok(val)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, val);
        }
    }
    let rest = std::io::Cursor::new(buf[body_start..].to_vec());
    Ok((status, headers, rest.chain(out)))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// git helpers
// ---------------------------------------------------------------------------------------------

/// The git binary used by the helpers and to locate `git-http-backend`: `/usr/bin/git` if it exists,
/// else `git` from `PATH`.
pub fn git_binary() -> PathBuf {
    let p = PathBuf::from("/usr/bin/git");
    if p.exists() {
        p
    } else {
        PathBuf::from("git")
    }
}

/// `<git --exec-path>/git-http-backend` (using [`git_binary`]), falling back to
/// `/usr/lib/git-core/git-http-backend`.
pub fn http_backend_path() -> Option<PathBuf> {
    static P: OnceLock<Option<PathBuf>> = OnceLock::new();
    P.get_or_init(|| {
        let from_exec_path = Command::new(git_binary())
            .arg("--exec-path")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("git-http-backend")
            })
            .filter(|p| p.exists());
        from_exec_path.or_else(|| {
            let p = PathBuf::from("/usr/lib/git-core/git-http-backend");
            p.exists().then_some(p)
        })
    })
    .clone()
}

/// A process-wide temporary HOME with a deterministic `.gitconfig`, used by [`git`] and the CGI.
pub fn test_home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("gitgate-test-home")
            .tempdir()
            .expect("create temp HOME");
        std::fs::write(
            d.path().join(".gitconfig"),
            "[user]\n\tname = Gitgate Test\n\temail = test@gitgate.invalid\n\
             [init]\n\tdefaultBranch = main\n\
             [commit]\n\tgpgsign = false\n\
             [tag]\n\tgpgsign = false\n\
             [advice]\n\tdetachedHead = false\n",
        )
        .expect("write .gitconfig");
        std::fs::create_dir_all(d.path().join(".config")).expect("create XDG dir");
        d
    })
    .path()
}

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = clean_git_command(&git_binary(), dir);
    c.args(args);
    c
}

/// `git` run in `dir` with a clean, deterministic environment (see [`git`]).
pub fn clean_git_command(git: &Path, dir: &Path) -> Command {
    let home = test_home();
    let mut c = Command::new(git);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env("GIT_EDITOR", "true")
        .env("GIT_PAGER", "cat")
        .env("GIT_AUTHOR_NAME", "Gitgate Test")
        .env("GIT_AUTHOR_EMAIL", "test@gitgate.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Gitgate Test")
        .env("GIT_COMMITTER_EMAIL", "test@gitgate.invalid")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .stdin(Stdio::null());
    c
}

/// Run git (see [`git_binary`]) in `dir` with a clean, deterministic environment (no inherited
/// variables; `GIT_CONFIG_NOSYSTEM=1`; `HOME` = [`test_home`]; fixed author/committer and dates;
/// no terminal prompts). Panics with stderr on failure; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_status(dir, args);
    if !out.status.success() {
        panic!(
            "git {:?} in {} failed ({}):\nstdout: {}\nstderr: {}",
            args,
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Like [`git`] but returns the raw output and never panics on a git failure (it panics only if the
/// git binary cannot be started).
pub fn git_status(dir: &Path, args: &[&str]) -> Output {
    git_command(dir, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"))
}

/// Create `root/owner/name.git` as a bare repository with `main` as its initial branch and
/// `http.receivepack=true`. Returns its path.
pub fn init_bare(root: &Path, owner: &str, name: &str) -> PathBuf {
    let dir = root.join(owner).join(format!("{name}.git"));
    std::fs::create_dir_all(&dir).expect("create bare repo dir");
    git(&dir, &["init", "--bare", "-q", "-b", "main"]);
    git(&dir, &["config", "http.receivepack", "true"]);
    dir
}

/// Install an executable hook `name` (e.g. `pre-receive`) with the given shell script body into a
/// bare repository.
pub fn install_hook(bare: &Path, name: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let hooks = bare.join("hooks");
    std::fs::create_dir_all(&hooks).expect("create hooks dir");
    let p = hooks.join(name);
    std::fs::write(&p, script).expect("write hook");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod hook");
    p
}
