//! The git smart-HTTP server the transfer figures talk to: nginx + fcgiwrap in front of
//! `git http-backend`, HTTP Basic auth, on 127.0.0.1 (a server that is not itself the
//! bottleneck). Started by the bench in a temp prefix, in its own process groups, and stopped
//! (SIGTERM, then SIGKILL, bounded) on drop. When nginx or fcgiwrap is missing, the figures fall
//! back to testsupport's `GitHttpServer` (axum + CGI) and say so.

use gitgate_e2e::{test_home, GitHttpServer};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";
const FCGIWRAP: &str = "/usr/sbin/fcgiwrap";
/// CGI processes that can run at once (one per fcgiwrap).
const FCGI_WORKERS: usize = 8;

/// One request as nginx logged it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// nginx's `$request_time` (first request byte to last response byte), in ms.
    pub ms: Option<f64>,
}

pub struct Nginx {
    port: u16,
    prefix: tempfile::TempDir,
    nginx: Option<Child>,
    fcgi: Vec<Child>,
}

pub enum Server {
    Nginx(Nginx),
    Axum(GitHttpServer),
}

impl Server {
    /// nginx + fcgiwrap when both are installed, else the testsupport server (with a note).
    pub fn start(root: &Path, token: &str) -> Server {
        if Path::new(NGINX).is_file() && Path::new(FCGIWRAP).is_file() {
            match Nginx::start(root, token) {
                Ok(n) => return Server::Nginx(n),
                Err(e) => eprintln!(
                    "bench: note: cannot start nginx + fcgiwrap ({e}); using testsupport's githttp server instead"
                ),
            }
        } else {
            eprintln!(
                "bench: note: {NGINX} or {FCGIWRAP} missing; using testsupport's githttp server (axum + CGI) instead"
            );
        }
        Server::Axum(GitHttpServer::start(root, token).expect("start git server"))
    }

    /// What the figures' method text calls it.
    pub fn describe(&self) -> &'static str {
        match self {
            Server::Nginx(_) => {
                "nginx 1.22 + 8 fcgiwrap processes in front of `git http-backend`, HTTP Basic auth, 127.0.0.1, \
                 request and response bodies streamed (fastcgi_request_buffering off, fastcgi_buffering off)"
            }
            Server::Axum(_) => {
                "testsupport's githttp (axum + `git http-backend` as CGI, Basic auth, 127.0.0.1) — nginx/fcgiwrap were not available"
            }
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Server::Nginx(n) => n.port,
            Server::Axum(a) => a.port(),
        }
    }
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }
    pub fn url(&self, owner: &str, name: &str) -> String {
        format!("http://127.0.0.1:{}/{owner}/{name}.git", self.port())
    }

    /// Every request so far (method, path, status), in the order they completed.
    pub fn requests(&self) -> Vec<Logged> {
        match self {
            Server::Axum(a) => a
                .requests()
                .into_iter()
                .map(|r| Logged {
                    method: r.method,
                    path: r.path,
                    status: r.status,
                    ms: None,
                })
                .collect(),
            Server::Nginx(n) => n.requests(),
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

impl Nginx {
    pub fn start(root: &Path, token: &str) -> Result<Nginx, String> {
        let root = root.canonicalize().map_err(|e| e.to_string())?;
        let backend =
            gitgate_e2e::githttp::http_backend_path().ok_or("git-http-backend not found")?;
        let prefix = tempfile::Builder::new()
            .prefix("gitgate-bench-nginx")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let p = prefix.path().to_path_buf();
        for d in ["body", "fastcgi", "proxy", "uwsgi", "scgi", "logs"] {
            std::fs::create_dir_all(p.join(d)).map_err(|e| e.to_string())?;
        }
        // Any user name, the token as password (as GitHub takes it); nginx reads {PLAIN}.
        let mut htpasswd = String::new();
        for user in ["x-access-token", "git", "token"] {
            htpasswd.push_str(&format!("{user}:{{PLAIN}}{token}\n"));
        }
        std::fs::write(p.join("htpasswd"), htpasswd).map_err(|e| e.to_string())?;
        // FCGI_WORKERS single-process fcgiwraps (one request at a time each), balanced by nginx
        // (least_conn). Each dies with the bench (PR_SET_PDEATHSIG), so a killed bench leaves
        // nothing behind.
        let socks: Vec<PathBuf> = (0..FCGI_WORKERS)
            .map(|i| p.join(format!("fcgi{i}.sock")))
            .collect();
        let mut fcgi = Vec::new();
        for sock in &socks {
            let mut c = Command::new(FCGIWRAP);
            c.args(["-s", &format!("unix:{}", sock.display())])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0);
            die_with_parent(&mut c, libc::SIGKILL);
            match c.spawn() {
                Ok(child) => fcgi.push(child),
                Err(e) => {
                    fcgi.into_iter().for_each(stop);
                    return Err(format!("fcgiwrap: {e}"));
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socks.iter().all(|s| s.exists()) {
            if Instant::now() > deadline {
                fcgi.into_iter().for_each(stop);
                return Err("fcgiwrap did not create its sockets within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let upstream: String = socks
            .iter()
            .map(|s| format!("        server unix:{};\n", s.display()))
            .collect();
        let home = test_home();
        let root_user = euid() == Some(0);
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| e.to_string())?;
            let conf = format!(
                r#"daemon off;
master_process on;
worker_processes 2;
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    log_format bench '$request_method $request_uri $status $request_time $msec $request_length $bytes_sent';
    access_log {p}/logs/access.log bench;
    client_body_temp_path {p}/body;
    fastcgi_temp_path {p}/fastcgi;
    proxy_temp_path {p}/proxy;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    client_max_body_size 0;
    keepalive_requests 100000;
    tcp_nodelay on;
    upstream backend {{
        least_conn;
{upstream}    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            auth_basic "gitgate-bench";
            auth_basic_user_file {p}/htpasswd;
            fastcgi_pass backend;
            fastcgi_request_buffering off;
            fastcgi_buffering off;
            fastcgi_read_timeout 300s;
            fastcgi_send_timeout 300s;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param PATH_INFO $uri;
            fastcgi_param REQUEST_URI $request_uri;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param HTTP_CONTENT_ENCODING $http_content_encoding;
            fastcgi_param GIT_PROTOCOL $http_git_protocol;
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param GIT_HTTP_EXPORT_ALL 1;
            fastcgi_param GIT_CONFIG_NOSYSTEM 1;
            fastcgi_param HOME {home};
            fastcgi_param PATH /usr/bin:/bin;
        }}
    }}
}}
"#,
                p = p.display(),
                user = if root_user { "user root root;" } else { "" },
                upstream = upstream,
                backend = backend.display(),
                root = root.display(),
                home = home.display(),
            );
            let conf_path = p.join("nginx.conf");
            std::fs::File::create(&conf_path)
                .and_then(|mut f| f.write_all(conf.as_bytes()))
                .map_err(|e| e.to_string())?;
            let mut c = Command::new(NGINX);
            c.arg("-p")
                .arg(&p)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(p.join("logs/error.log"))
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0);
            // nginx's master stops its workers on SIGTERM.
            die_with_parent(&mut c, libc::SIGTERM);
            let mut child = c.spawn().map_err(|e| format!("nginx: {e}"))?;
            let deadline = Instant::now() + Duration::from_secs(5);
            let up = loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break true;
                }
                if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            if up {
                let n = Nginx {
                    port,
                    prefix,
                    nginx: Some(child),
                    fcgi: std::mem::take(&mut fcgi),
                };
                return Ok(n);
            }
            stop(child);
            last_err = std::fs::read_to_string(p.join("logs/error.log"))
                .unwrap_or_default()
                .lines()
                .last()
                .unwrap_or("nginx did not start")
                .to_owned();
        }
        fcgi.into_iter().for_each(stop);
        Err(format!("nginx did not start: {last_err}"))
    }

    /// The access log. nginx writes a line when a request is finalized, which can be just after
    /// the client saw the end of the response: wait (bounded) until the log stops growing.
    fn requests(&self) -> Vec<Logged> {
        let path = self.prefix.path().join("logs/access.log");
        let mut last = None;
        let deadline = Instant::now() + Duration::from_millis(500);
        let text = loop {
            let t = std::fs::read_to_string(&path).unwrap_or_default();
            if last.as_ref() == Some(&t) || Instant::now() > deadline {
                break t;
            }
            last = Some(t);
            std::thread::sleep(Duration::from_millis(30));
        };
        text.lines()
            .filter_map(|l| {
                let mut it = l.split(' ');
                Some(Logged {
                    method: it.next()?.to_owned(),
                    path: it.next()?.to_owned(),
                    status: it.next()?.parse().ok()?,
                    ms: it
                        .next()
                        .and_then(|t| t.parse::<f64>().ok())
                        .map(|t| t * 1e3),
                })
            })
            .collect()
    }
}

fn euid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The child gets `sig` when the bench's thread that started it ends (even by a kill).
fn die_with_parent(c: &mut Command, sig: i32) {
    // SAFETY: prctl(2) only, between fork and exec; no allocation.
    unsafe {
        c.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong);
            Ok(())
        });
    }
}

/// SIGTERM to the child's process group, then SIGKILL after a bounded wait.
fn stop(mut child: Child) {
    let pgid = child.id() as i32;
    // SAFETY: kill(2) on the process group we created for this child.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) if Instant::now() > deadline => {
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    // Workers left in the group (nginx workers, fcgiwrap children) go too.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.nginx.take().into_iter().for_each(stop);
        std::mem::take(&mut self.fcgi).into_iter().for_each(stop);
    }
}
