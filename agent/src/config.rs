//! Agent configuration: defaults < optional TOML file < `--env-file` < environment, layered with
//! figment. Environment values use the names users put in `.env` (`BLOCKED_BRANCHES=["main"]`);
//! list values are strict JSON arrays, parsed here so errors name the variable.

use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Provider};
use gitgate_policy::{Policy, PolicyConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {problem}")]
    Invalid { setting: String, problem: String },
    #[error("config file '{path}': {problem}")]
    File { path: String, problem: String },
    /// Names that no part of gitgate reads (a typo, most likely), with the closest known one.
    #[error("{origin}: {}", problems.join("; "))]
    Unknown {
        origin: String,
        problems: Vec<String>,
    },
}

fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// Everything the agent can be told. Field names are the TOML keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub blocked_branches: Vec<String>,
    pub allowed_branch_patterns: Vec<String>,
    pub allow_force_push: bool,
    pub allow_delete_remote: bool,
    pub allow_tag_push: bool,
    pub allow_pr_merge: bool,
    /// gh gateway: workflow dispatch, run rerun and cancel.
    pub allow_workflow_run: bool,
    pub allow_public_fetch: bool,
    pub allowed_repos: Vec<String>,
    pub allowed_hosts: Vec<String>,
    /// Peer uids allowed on the socket; `None` = only the agent's own uid.
    pub allowed_uids: Option<Vec<u32>>,
    pub audit_log: Option<PathBuf>,
    pub audit_max_bytes: u64,
    pub require_mlock: bool,
    pub socket: PathBuf,
    /// The gh API gateway's socket; `None` = `api.sock` beside `socket`.
    pub api_socket: Option<PathBuf>,
    pub workspace: PathBuf,
    pub state_dir: PathBuf,
    pub github_api_url: String,
    /// git: the base URL git traffic goes to instead of `https://<host of the remote>` (the
    /// host is still checked against ALLOWED_HOSTS); `None` = the remote's own host. For tests
    /// and mirrors, like GITHUB_API_URL for the API.
    pub github_git_url: Option<String>,
    pub allow_http_loopback: bool,
    pub max_connections: usize,
    pub max_per_peer: usize,
    pub hello_timeout_ms: u64,
    pub op_timeout_secs: u64,
    /// Connections per peer uid that have not sent a valid Hello yet (idle-flood bound).
    pub max_pending_per_peer: usize,
    /// SIGTERM: how long in-flight work may take to finish before the agent exits.
    pub shutdown_grace_secs: u64,
    /// Network: TCP connect timeout for every upstream connection.
    pub connect_timeout_secs: u64,
    /// Network: an upstream that sends or accepts nothing for this long is abandoned.
    pub io_timeout_secs: u64,
    /// Rotated audit files kept (`audit.jsonl.1` … `.N`).
    pub audit_keep: usize,
    /// git push: largest pack (bytes) the agent accepts and spools (GITGATE_MAX_PUSH_BYTES).
    pub max_push_bytes: u64,
    /// GitHub App mode (instead of a personal token): the App's id.
    pub github_app_id: Option<u64>,
    /// GitHub App mode: the App's private key (PEM). Read once at start into locked memory.
    pub github_app_private_key_file: Option<PathBuf>,
    /// GitHub App mode: the installation; `None` = discovered from the first allowed repository.
    pub github_app_installation_id: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            blocked_branches: vec!["main".into(), "master".into()],
            allowed_branch_patterns: vec![],
            allow_force_push: false,
            allow_delete_remote: false,
            allow_tag_push: false,
            allow_pr_merge: false,
            allow_workflow_run: false,
            allow_public_fetch: false,
            allowed_repos: vec![],
            allowed_hosts: vec!["github.com".into()],
            allowed_uids: None,
            audit_log: None,
            audit_max_bytes: 10 * 1024 * 1024,
            require_mlock: false,
            socket: "/run/gitgate/agent.sock".into(),
            api_socket: None,
            workspace: "/workspace".into(),
            state_dir: "/var/lib/gitgate".into(),
            github_api_url: "https://api.github.com".into(),
            github_git_url: None,
            allow_http_loopback: false,
            max_connections: 512,
            max_per_peer: 64,
            hello_timeout_ms: 5_000,
            op_timeout_secs: 900,
            max_pending_per_peer: 4096,
            shutdown_grace_secs: 10,
            connect_timeout_secs: 10,
            io_timeout_secs: 60,
            audit_keep: 5,
            max_push_bytes: 2 * 1024 * 1024 * 1024,
            github_app_id: None,
            github_app_private_key_file: None,
            github_app_installation_id: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    StrList,
    UidList,
    Bool,
    Str,
    Int,
}

/// Environment variable -> (TOML key, kind).
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("BLOCKED_BRANCHES", "blocked_branches", Kind::StrList),
    (
        "ALLOWED_BRANCH_PATTERNS",
        "allowed_branch_patterns",
        Kind::StrList,
    ),
    ("ALLOW_FORCE_PUSH", "allow_force_push", Kind::Bool),
    ("ALLOW_DELETE_REMOTE", "allow_delete_remote", Kind::Bool),
    ("ALLOW_TAG_PUSH", "allow_tag_push", Kind::Bool),
    ("ALLOW_PR_MERGE", "allow_pr_merge", Kind::Bool),
    ("ALLOW_WORKFLOW_RUN", "allow_workflow_run", Kind::Bool),
    ("ALLOW_PUBLIC_FETCH", "allow_public_fetch", Kind::Bool),
    ("ALLOWED_REPOS", "allowed_repos", Kind::StrList),
    ("ALLOWED_HOSTS", "allowed_hosts", Kind::StrList),
    ("ALLOWED_UIDS", "allowed_uids", Kind::UidList),
    ("AUDIT_LOG", "audit_log", Kind::Str),
    ("AUDIT_MAX_BYTES", "audit_max_bytes", Kind::Int),
    ("REQUIRE_MLOCK", "require_mlock", Kind::Bool),
    ("GITGATE_SOCKET", "socket", Kind::Str),
    ("GITGATE_API_SOCKET", "api_socket", Kind::Str),
    ("GITGATE_WORKSPACE", "workspace", Kind::Str),
    ("GITGATE_STATE_DIR", "state_dir", Kind::Str),
    ("GITHUB_API_URL", "github_api_url", Kind::Str),
    ("GITHUB_GIT_URL", "github_git_url", Kind::Str),
    (
        "GITGATE_ALLOW_HTTP_LOOPBACK",
        "allow_http_loopback",
        Kind::Bool,
    ),
    ("GITGATE_MAX_CONNECTIONS", "max_connections", Kind::Int),
    ("GITGATE_MAX_PER_PEER", "max_per_peer", Kind::Int),
    ("GITGATE_HELLO_TIMEOUT_MS", "hello_timeout_ms", Kind::Int),
    ("GITGATE_OP_TIMEOUT_SECS", "op_timeout_secs", Kind::Int),
    (
        "GITGATE_MAX_PENDING_PER_PEER",
        "max_pending_per_peer",
        Kind::Int,
    ),
    (
        "GITGATE_SHUTDOWN_GRACE_SECS",
        "shutdown_grace_secs",
        Kind::Int,
    ),
    (
        "GITGATE_CONNECT_TIMEOUT_SECS",
        "connect_timeout_secs",
        Kind::Int,
    ),
    ("GITGATE_IO_TIMEOUT_SECS", "io_timeout_secs", Kind::Int),
    ("AUDIT_KEEP", "audit_keep", Kind::Int),
    ("GITGATE_MAX_PUSH_BYTES", "max_push_bytes", Kind::Int),
    ("GITHUB_APP_ID", "github_app_id", Kind::Int),
    (
        "GITHUB_APP_PRIVATE_KEY_FILE",
        "github_app_private_key_file",
        Kind::Str,
    ),
    (
        "GITHUB_APP_INSTALLATION_ID",
        "github_app_installation_id",
        Kind::Int,
    ),
];

/// The environment name of a TOML key, for error messages.
pub fn env_name(key: &str) -> &str {
    ENV_KEYS
        .iter()
        .find(|(_, k, _)| *k == key)
        .map(|(e, _, _)| *e)
        .unwrap_or(key)
}

/// Names a `.env` may hold that are not agent settings: the token (read by `secret.rs`), and what
/// run.sh, compose and the shim read from it.
const OTHER_ENV_FILE_KEYS: &[&str] = &[
    "GITHUB_TOKEN",
    "GITHUB_TOKEN_FILE",
    "WORKSPACE_DIR",
    "PUID",
    "PGID",
    "CONTAINER_ENGINE",
    "GITGATE_REAL_GIT",
    "GITGATE_REAL_GH",
    "GITGATE_MIRROR_DIR",
    // The egress proxy's allowlist and switch (run.sh and the egress container, never the agent).
    "ALLOWED_EGRESS",
    "EGRESS",
];

/// `GITGATE_*` names of the process environment that belong to run.sh, the shim or the tests.
/// run.sh reads them from the environment only, so in a `.env` they have no effect.
const ENV_ONLY_KEYS: &[&str] = &[
    "GITGATE_ENV_FILE",
    "GITGATE_PROJECT",
    "GITGATE_NATIVE_DIR",
    "GITGATE_BIN_DIR",
    "GITGATE_START_TIMEOUT",
    "GITGATE_ENV_HASH",
    "GITGATE_EGRESS_CONF",
    "GITGATE_EGRESS_HASH",
    "GITGATE_MODE",
    "GITGATE_SHIM",
    "GITGATE_CONTAINER_TEST",
    "GITGATE_CONTAINER_AGENT",
    "GITGATE_TEST_RESULTS",
    // The shim's own (native mode: they may sit in the environment the agent starts from).
    "GITGATE_OVERLAY_DIR",
    "GITGATE_GH_HOST",
    "GITGATE_GH_CONFIG_DIR",
    // Kubernetes downward API (deploy/kubernetes): the pod's name, added to audit records.
    "POD_NAME",
];

/// Prefixes of policy-like names: an unknown environment variable with one of them is a typo.
const SETTING_PREFIXES: &[&str] = &["GITGATE_", "ALLOW_", "ALLOWED_", "BLOCKED_", "AUDIT_"];

/// Where a name was found, for the unknown-key check.
#[derive(Clone, Copy)]
enum Source<'a> {
    EnvFile(&'a Path),
    Environment,
    Toml(&'a Path),
}

/// Case-insensitive Levenshtein distance (names are short: a plain O(n·m) table).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<u8> = a.bytes().map(|c| c.to_ascii_uppercase()).collect();
    let b: Vec<u8> = b.bytes().map(|c| c.to_ascii_uppercase()).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `name`, with its distance.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<(&'k str, usize)> {
    known
        .iter()
        .map(|k| (*k, distance(name, k)))
        .min_by_key(|(_, d)| *d)
}

/// Close enough to be the same name mistyped.
fn similar(name: &str, d: usize) -> bool {
    d <= (name.len() / 2).max(3)
}

/// Every name the environment or a `.env` may carry.
fn known_env_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = ENV_KEYS.iter().map(|(e, _, _)| *e).collect();
    v.extend_from_slice(OTHER_ENV_FILE_KEYS);
    v
}

fn unknown_message(name: &str, known: &[&str]) -> String {
    match closest(name, known) {
        Some((k, d)) if similar(name, d) => {
            format!("unknown setting {name} (did you mean {k}?)")
        }
        _ => format!("unknown setting {name} (every setting is listed in .env.example)"),
    }
}

/// Unknown names are an error naming each and the closest known one. The process environment
/// holds much that is not ours (PATH, HOME, GITHUB_* of CI runners…): there only `GITGATE_*` and
/// policy-prefixed names, and names within two edits of a known one, are checked.
fn check_names<'n>(
    source: Source<'_>,
    names: impl Iterator<Item = &'n str>,
) -> Result<(), ConfigError> {
    let env_known = known_env_names();
    let toml_known: Vec<&str> = ENV_KEYS.iter().map(|(_, k, _)| *k).collect();
    let mut problems: Vec<String> = Vec::new();
    for name in names {
        let problem = match source {
            Source::Toml(_) => {
                (!toml_known.contains(&name)).then(|| unknown_message(name, &toml_known))
            }
            Source::EnvFile(_) => {
                if env_known.contains(&name) {
                    None
                } else if ENV_ONLY_KEYS.contains(&name) {
                    Some(format!(
                        "{name} has no effect here: run.sh reads it from the environment (export it instead)"
                    ))
                } else {
                    Some(unknown_message(name, &env_known))
                }
            }
            Source::Environment => {
                let ours = SETTING_PREFIXES.iter().any(|p| name.starts_with(p))
                    || closest(name, &env_known).is_some_and(|(_, d)| d <= 2 && name.len() > 6);
                (ours && !env_known.contains(&name) && !ENV_ONLY_KEYS.contains(&name))
                    .then(|| unknown_message(name, &env_known))
            }
        };
        if let Some(p) = problem {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Unknown {
        origin: match source {
            Source::EnvFile(p) => format!("--env-file '{}'", p.display()),
            Source::Environment => "environment".into(),
            Source::Toml(p) => format!("config file '{}'", p.display()),
        },
        problems,
    })
}

/// The top-level keys of a TOML settings file (every setting is a top-level key).
fn toml_keys(path: &Path) -> Result<Vec<String>, ConfigError> {
    let data = Figment::from(Toml::file(path))
        .data()
        .map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
    Ok(data
        .values()
        .flat_map(|dict| dict.keys().cloned())
        .collect())
}

fn parse_env_value(name: &str, kind: Kind, raw: &str) -> Result<Value, ConfigError> {
    let raw = raw.trim();
    match kind {
        Kind::Str => Ok(Value::String(raw.to_owned())),
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" | "" => Ok(Value::Bool(false)),
            _ => Err(invalid(
                name,
                format!("expected true or false, got '{raw}'"),
            )),
        },
        Kind::Int => raw
            .parse::<u64>()
            .map(|n| Value::Number(n.into()))
            .map_err(|_| invalid(name, format!("expected a whole number, got '{raw}'"))),
        Kind::StrList => {
            let v: Value = serde_json::from_str(raw).map_err(|e| {
                invalid(
                    name,
                    format!("expected a JSON array of strings like [\"main\",\"master\"], got '{raw}' ({e})"),
                )
            })?;
            match &v {
                Value::Array(items) if items.iter().all(Value::is_string) => Ok(v),
                _ => Err(invalid(
                    name,
                    format!(
                        "expected a JSON array of strings like [\"main\",\"master\"], got '{raw}'"
                    ),
                )),
            }
        }
        Kind::UidList => {
            let v: Value = serde_json::from_str(raw).map_err(|_| {
                invalid(
                    name,
                    format!("expected a JSON array of numeric uids like [1000], got '{raw}'"),
                )
            })?;
            match &v {
                Value::Array(items)
                    if items
                        .iter()
                        .all(|i| i.as_u64().is_some_and(|n| n <= u32::MAX.into())) =>
                {
                    Ok(v)
                }
                _ => Err(invalid(
                    name,
                    format!("expected a JSON array of numeric uids like [1000], got '{raw}'"),
                )),
            }
        }
    }
}

/// Turn `(NAME, value)` pairs into a figment layer, validating each known variable.
fn env_layer(vars: &[(String, String)]) -> Result<Map<String, Value>, ConfigError> {
    let mut map = Map::new();
    for (env, key, kind) in ENV_KEYS {
        if let Some((_, raw)) = vars.iter().rev().find(|(k, _)| k == env) {
            map.insert((*key).to_owned(), parse_env_value(env, *kind, raw)?);
        }
    }
    Ok(map)
}

/// Parse a dotenv file: `KEY=VALUE` lines, optional `export `, `#` comments, optional single or
/// double quotes around the value. Never executes anything.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let mut v = v.trim();
        if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v = &v[1..v.len() - 1];
        } else if let Some(i) = v.find(" #") {
            v = v[..i].trim_end();
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    out
}

/// Settings v3 no longer needs, still accepted so existing `.env` files keep working: one warning
/// line each for the agent's start.
pub fn deprecated_settings(env_file: &[(String, String)], env: &[(String, String)]) -> Vec<String> {
    const DEPRECATED: &[(&str, &str)] = &[
        (
            "GITGATE_WORKSPACE",
            "since v3 the agent never reads the workspace; remove it",
        ),
        (
            "GITGATE_MIRROR_DIR",
            "since v3 there are no mirrors (git talks to GitHub through the agent); remove it",
        ),
    ];
    DEPRECATED
        .iter()
        .filter(|(name, _)| env_file.iter().chain(env).any(|(k, _)| k == name))
        .map(|(name, why)| format!("{name} is deprecated and ignored: {why}"))
        .collect()
}

/// Build settings from all layers. `env` is the process environment (passed in for testability);
/// `env_file_path` names the `--env-file` in messages.
pub fn load(
    toml_file: Option<&Path>,
    env_file_path: Option<&Path>,
    env_file: &[(String, String)],
    env: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = toml_file {
        if !path.is_file() {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                problem: "not found".into(),
            });
        }
        let keys = toml_keys(path)?;
        check_names(Source::Toml(path), keys.iter().map(String::as_str))?;
        fig = fig.merge(Toml::file(path));
    }
    check_names(
        Source::EnvFile(env_file_path.unwrap_or(Path::new(".env"))),
        env_file.iter().map(|(k, _)| k.as_str()),
    )?;
    check_names(Source::Environment, env.iter().map(|(k, _)| k.as_str()))?;
    fig = fig
        .merge(Serialized::globals(env_layer(env_file)?))
        .merge(Serialized::globals(env_layer(env)?));
    let settings: Settings = fig.extract().map_err(|e| {
        let key = e.path.last().cloned().unwrap_or_default();
        if key.is_empty() {
            ConfigError::File {
                path: toml_file
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                problem: e.to_string(),
            }
        } else {
            invalid(env_name(&key), e.to_string())
        }
    })?;
    settings.validate()?;
    Ok(settings)
}

/// SIGHUP: settings that take effect only at start keep their running values in `new`; returns
/// the environment names of those that differ (the reload's log line names them).
pub fn keep_restart_only(old: &Settings, new: &mut Settings) -> Vec<&'static str> {
    let mut differ = Vec::new();
    macro_rules! keep {
        ($($field:ident => $name:literal),* $(,)?) => {$(
            if new.$field != old.$field {
                differ.push($name);
                new.$field = old.$field.clone();
            }
        )*};
    }
    keep!(
        socket => "GITGATE_SOCKET",
        api_socket => "GITGATE_API_SOCKET",
        state_dir => "GITGATE_STATE_DIR",
        workspace => "GITGATE_WORKSPACE",
        max_connections => "GITGATE_MAX_CONNECTIONS",
        require_mlock => "REQUIRE_MLOCK",
        // libgit2's connect and idle timeouts are process-wide options set once at start.
        connect_timeout_secs => "GITGATE_CONNECT_TIMEOUT_SECS",
        io_timeout_secs => "GITGATE_IO_TIMEOUT_SECS",
        // The App and its key are loaded once at start (app_token.rs).
        github_app_id => "GITHUB_APP_ID",
        github_app_private_key_file => "GITHUB_APP_PRIVATE_KEY_FILE",
        github_app_installation_id => "GITHUB_APP_INSTALLATION_ID",
    );
    differ
}

/// The environment names of the settings whose values differ between `old` and `new`.
pub fn changed_settings(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec![];
    };
    ENV_KEYS
        .iter()
        .filter(|(_, key, _)| a.get(*key) != b.get(*key))
        .map(|(env, _, _)| *env)
        .collect()
}

impl Settings {
    pub fn policy_config(&self) -> PolicyConfig {
        PolicyConfig {
            blocked_branches: self.blocked_branches.clone(),
            allowed_branch_patterns: self.allowed_branch_patterns.clone(),
            allow_force_push: self.allow_force_push,
            allow_delete_remote: self.allow_delete_remote,
            allow_tag_push: self.allow_tag_push,
            allowed_repos: self.allowed_repos.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            allow_pr_merge: self.allow_pr_merge,
            allow_workflow_run: self.allow_workflow_run,
            allow_public_fetch: self.allow_public_fetch,
        }
    }

    pub fn policy(&self) -> Result<Policy, ConfigError> {
        Policy::new(self.policy_config()).map_err(|e| {
            let text = e.to_string();
            match text.split_once(": ") {
                Some((setting, problem))
                    if setting.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
                {
                    invalid(setting, problem)
                }
                _ => invalid("policy", text),
            }
        })
    }

    /// `GITGATE_API_SOCKET`, or `api.sock` beside `GITGATE_SOCKET`.
    pub fn api_socket_path(&self) -> PathBuf {
        self.api_socket.clone().unwrap_or_else(|| {
            self.socket
                .parent()
                .map(|d| d.join("api.sock"))
                .unwrap_or_else(|| PathBuf::from("/run/gitgate/api.sock"))
        })
    }

    pub fn audit_log_path(&self) -> PathBuf {
        self.audit_log
            .clone()
            .unwrap_or_else(|| self.state_dir.join("audit.jsonl"))
    }

    /// Checks that need no I/O beyond looking at paths.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy()?;
        if !self.socket.is_absolute() {
            return Err(invalid(
                "GITGATE_SOCKET",
                format!("'{}' must be an absolute path", self.socket.display()),
            ));
        }
        if self.api_socket.as_ref().is_some_and(|p| !p.is_absolute()) {
            return Err(invalid(
                "GITGATE_API_SOCKET",
                format!(
                    "'{}' must be an absolute path",
                    self.api_socket_path().display()
                ),
            ));
        }
        if !self.state_dir.is_absolute() {
            return Err(invalid(
                "GITGATE_STATE_DIR",
                format!("'{}' must be an absolute path", self.state_dir.display()),
            ));
        }
        let url = &self.github_api_url;
        gitgate_policy::url::check_plain_http(url, self.allow_http_loopback)
            .map_err(|problem| invalid("GITHUB_API_URL", problem))?;
        if !url.starts_with("https://") && !url.to_ascii_lowercase().starts_with("http://") {
            return Err(invalid(
                "GITHUB_API_URL",
                format!("'{url}' must be an https:// URL"),
            ));
        }
        if let Some(url) = self.github_git_url.as_deref().filter(|u| !u.is_empty()) {
            if url.contains('@') {
                // Never repeat what may be a password.
                return Err(invalid(
                    "GITHUB_GIT_URL",
                    "must not hold credentials (the agent adds them itself)",
                ));
            }
            gitgate_policy::url::check_plain_http(url, self.allow_http_loopback)
                .map_err(|problem| invalid("GITHUB_GIT_URL", problem))?;
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://"))
                || url.contains(['?', '#'])
            {
                return Err(invalid(
                    "GITHUB_GIT_URL",
                    format!("'{url}' must be an https:// base URL"),
                ));
            }
        }
        for (name, value) in [
            ("GITGATE_MAX_CONNECTIONS", self.max_connections as u64),
            ("GITGATE_MAX_PER_PEER", self.max_per_peer as u64),
            ("GITGATE_HELLO_TIMEOUT_MS", self.hello_timeout_ms),
            ("GITGATE_OP_TIMEOUT_SECS", self.op_timeout_secs),
            (
                "GITGATE_MAX_PENDING_PER_PEER",
                self.max_pending_per_peer as u64,
            ),
            ("GITGATE_CONNECT_TIMEOUT_SECS", self.connect_timeout_secs),
            ("GITGATE_IO_TIMEOUT_SECS", self.io_timeout_secs),
            ("GITGATE_MAX_PUSH_BYTES", self.max_push_bytes),
        ] {
            if value == 0 {
                return Err(invalid(name, "must be greater than 0"));
            }
        }
        self.validate_app()?;
        Ok(())
    }

    /// GitHub App mode: the id and the key file come together; an installation id needs an App.
    fn validate_app(&self) -> Result<(), ConfigError> {
        match (&self.github_app_id, &self.github_app_private_key_file) {
            (Some(_), None) => Err(invalid(
                "GITHUB_APP_PRIVATE_KEY_FILE",
                "GITHUB_APP_ID is set: also set GITHUB_APP_PRIVATE_KEY_FILE to the App's private key (.pem)",
            )),
            (None, Some(_)) => Err(invalid(
                "GITHUB_APP_ID",
                "GITHUB_APP_PRIVATE_KEY_FILE is set: also set GITHUB_APP_ID to the App's id",
            )),
            (Some(0), _) => Err(invalid("GITHUB_APP_ID", "must be greater than 0")),
            (Some(_), Some(p)) if !p.is_absolute() => Err(invalid(
                "GITHUB_APP_PRIVATE_KEY_FILE",
                format!("'{}' must be an absolute path", p.display()),
            )),
            (None, None) if self.github_app_installation_id.is_some() => Err(invalid(
                "GITHUB_APP_INSTALLATION_ID",
                "needs GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ws() -> (tempfile::TempDir, (String, String)) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().display().to_string();
        (d, ("GITGATE_WORKSPACE".into(), p))
    }

    #[test]
    fn layers_override_in_order() {
        let (_d, w) = ws();
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("gitgate.toml");
        std::fs::write(
            &toml,
            "allow_tag_push = true\nallowed_hosts = [\"ghe.example\"]\n",
        )
        .unwrap();
        let file = env(&[
            ("BLOCKED_BRANCHES", r#"["release/*"]"#),
            ("ALLOWED_HOSTS", r#"["a.example"]"#),
        ]);
        let mut e = env(&[("ALLOWED_HOSTS", r#"["b.example"]"#)]);
        e.push(w);
        let s = load(Some(&toml), None, &file, &e).unwrap();
        assert!(s.allow_tag_push);
        assert_eq!(s.blocked_branches, vec!["release/*"]);
        assert_eq!(s.allowed_hosts, vec!["b.example"]);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let (_d, w) = ws();
        for (k, v) in [
            ("BLOCKED_BRANCHES", "main"),
            ("BLOCKED_BRANCHES", "[main]"),
            ("ALLOWED_REPOS", "[1]"),
            ("ALLOW_FORCE_PUSH", "maybe"),
            ("ALLOWED_UIDS", "[-1]"),
            ("GITGATE_MAX_CONNECTIONS", "0"),
            ("GITHUB_API_URL", "http://example.com"),
        ] {
            let mut e = env(&[(k, v)]);
            e.push(w.clone());
            let err = load(None, None, &[], &e).unwrap_err().to_string();
            assert!(err.starts_with(k), "{k}={v}: {err}");
        }
        // Deprecated since v3 (the agent never reads the workspace): accepted, never checked.
        assert!(load(
            None,
            None,
            &[],
            &env(&[("GITGATE_WORKSPACE", "/nonexistent/ws")]),
        )
        .is_ok());
    }

    #[test]
    fn deprecated_settings_are_named_once_each() {
        let file = env(&[("GITGATE_WORKSPACE", "/w"), ("GITGATE_MIRROR_DIR", "/m")]);
        let proc_env = env(&[("GITGATE_WORKSPACE", "/w"), ("PATH", "/bin")]);
        let w = deprecated_settings(&file, &proc_env);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("GITGATE_WORKSPACE is deprecated and ignored"),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("GITGATE_MIRROR_DIR is deprecated and ignored"),
            "{w:?}"
        );
        assert!(deprecated_settings(&[], &env(&[("PATH", "/bin")])).is_empty());
    }

    #[test]
    fn env_file_parsing() {
        let parsed = parse_env_file(
            "# comment\nexport A=1\nB=\"x y\"\nC='[\"main\"]'\nD=plain # trailing\nnot a line\n",
        );
        assert_eq!(
            parsed,
            env(&[
                ("A", "1"),
                ("B", "x y"),
                ("C", r#"["main"]"#),
                ("D", "plain")
            ])
        );
    }
    #[test]
    fn unknown_names_in_env_file_are_errors_with_the_closest_known_one() {
        let (_d, w) = ws();
        let path = Path::new("/x/.env");
        for (name, want) in [
            (
                "ALLOWED_REPO",
                "unknown setting ALLOWED_REPO (did you mean ALLOWED_REPOS?)",
            ),
            (
                "BLOCKED_BRANCH",
                "unknown setting BLOCKED_BRANCH (did you mean BLOCKED_BRANCHES?)",
            ),
            (
                "allowed_hosts",
                "unknown setting allowed_hosts (did you mean ALLOWED_HOSTS?)",
            ),
            (
                "GITHUB_TOKN",
                "unknown setting GITHUB_TOKN (did you mean GITHUB_TOKEN?)",
            ),
            (
                "GITGATE_IO_TIMEOUT",
                "unknown setting GITGATE_IO_TIMEOUT (did you mean GITGATE_IO_TIMEOUT_SECS?)",
            ),
            (
                "FOO",
                "unknown setting FOO (every setting is listed in .env.example)",
            ),
        ] {
            let file = env(&[(name, "x")]);
            let err = load(None, Some(path), &file, std::slice::from_ref(&w))
                .unwrap_err()
                .to_string();
            assert_eq!(err, format!("--env-file '/x/.env': {want}"), "{name}");
        }
        // Several at once: all named.
        let file = env(&[("ALLOWED_REPO", "[]"), ("ALLOW_FORCE", "true")]);
        let err = load(None, Some(path), &file, std::slice::from_ref(&w))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ALLOWED_REPO (did you mean ALLOWED_REPOS?)"),
            "{err}"
        );
        assert!(
            err.contains("ALLOW_FORCE (did you mean ALLOW_FORCE_PUSH?)"),
            "{err}"
        );
        // run.sh's own environment-only names have no effect in the file: said so.
        let err = load(
            None,
            Some(path),
            &env(&[("GITGATE_NATIVE_DIR", "/n")]),
            std::slice::from_ref(&w),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("GITGATE_NATIVE_DIR has no effect here"),
            "{err}"
        );
    }

    #[test]
    fn every_name_env_example_lists_is_accepted() {
        let (_d, w) = ws();
        // Read at run time: the container builds copy only the crates, not .env.example.
        let example =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example"))
                .expect(".env.example");
        let mut names: Vec<(String, String)> = Vec::new();
        for line in example.lines() {
            let line = line.trim_start_matches('#').trim_start();
            if let Some((k, _)) = line.split_once('=') {
                if !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                {
                    names.push((k.to_owned(), String::new()));
                }
            }
        }
        assert!(names.len() > 20, "{names:?}");
        for (k, _) in &names {
            let r = check_names(
                Source::EnvFile(Path::new(".env")),
                std::iter::once(k.as_str()),
            );
            assert!(r.is_ok(), "{k}: {r:?}");
        }
        // Accepted by name as the process environment too.
        let r = check_names(Source::Environment, names.iter().map(|(k, _)| k.as_str()));
        assert!(r.is_ok(), "{r:?}");
        drop(w);
    }

    #[test]
    fn environment_checks_only_names_that_look_like_ours() {
        let (_d, w) = ws();
        // Unrelated variables (a login shell, CI runners, Codespaces) are ignored.
        let unrelated = [
            "PATH",
            "HOME",
            "USER",
            "SHELL",
            "TERM",
            "LANG",
            "LC_ALL",
            "PWD",
            "OLDPWD",
            "HOSTNAME",
            "LOGNAME",
            "EDITOR",
            "TMPDIR",
            "XDG_RUNTIME_DIR",
            "SSH_AUTH_SOCK",
            "DISPLAY",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "GH_TOKEN",
            "GIT_DIR",
            "GITHUB_ACTIONS",
            "GITHUB_WORKSPACE",
            "GITHUB_SHA",
            "GITHUB_REF",
            "GITHUB_ENV",
            "GITHUB_PATH",
            "GITHUB_OUTPUT",
            "GITHUB_USER",
            "GITHUB_REPOSITORY",
            "GITHUB_SERVER_URL",
            "GITHUB_GRAPHQL_URL",
            "GITHUB_RUN_ID",
            "GITHUB_JOB",
            "GITHUB_ACTOR",
            "GITHUB_EVENT_PATH",
            "GITHUB_CODESPACE_TOKEN",
            "CODESPACES",
            "GITHUB_TOKEN",
            "GITHUB_API_URL",
            "GITGATE_SOCKET",
            "GITGATE_REAL_GIT",
            "GITGATE_REAL_GH",
            "GITGATE_MODE",
            "GITGATE_ENV_FILE",
            "WORKSPACE_DIR",
            "PUID",
        ];
        let mut e = env(&unrelated.iter().map(|k| (*k, "")).collect::<Vec<_>>());
        e.retain(|(k, _)| k != "GITGATE_SOCKET" && k != "GITHUB_API_URL");
        e.push(w.clone());
        load(None, None, &[], &e).unwrap();
        // Ours, misspelled: refused with the closest name.
        for (name, want) in [
            ("ALLOWED_REPO", "ALLOWED_REPOS"),
            ("GITGATE_SOCKT", "GITGATE_SOCKET"),
            ("GITGATE_FROB", ""),
            ("BLOCKED_BRANCH", "BLOCKED_BRANCHES"),
            ("AUDIT_KEPP", "AUDIT_KEEP"),
            ("ALLOW_PR_MERG", "ALLOW_PR_MERGE"),
            ("REQUIRE_MLOK", "REQUIRE_MLOCK"),
            ("GITHUB_API_UR", "GITHUB_API_URL"),
        ] {
            let err = load(None, None, &[], &[(name.into(), "1".into()), w.clone()])
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("environment: unknown setting {name} (")),
                "{err}"
            );
            if !want.is_empty() {
                assert!(err.ends_with(&format!("(did you mean {want}?)")), "{err}");
            }
        }
    }

    #[test]
    fn unknown_toml_keys_are_errors() {
        let (_d, w) = ws();
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("gitgate.toml");
        std::fs::write(&toml, "allowed_repo = [\"a/b\"]\nALLOW_TAG_PUSH = true\n").unwrap();
        let err = load(Some(&toml), None, &[], std::slice::from_ref(&w))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("config file '{}': ", toml.display())),
            "{err}"
        );
        assert!(
            err.contains("unknown setting allowed_repo (did you mean allowed_repos?)"),
            "{err}"
        );
        assert!(
            err.contains("unknown setting ALLOW_TAG_PUSH (did you mean allow_tag_push?)"),
            "{err}"
        );
        std::fs::write(&toml, "allowed_repos = [\"a/b\"]\n").unwrap();
        assert_eq!(
            load(Some(&toml), None, &[], &[w]).unwrap().allowed_repos,
            vec!["a/b"]
        );
    }

    #[test]
    fn reload_keeps_restart_only_settings_and_names_them() {
        let old = Settings::default();
        let mut new = Settings {
            socket: "/other.sock".into(),
            max_connections: 7,
            blocked_branches: vec!["x".into()],
            hello_timeout_ms: 5,
            io_timeout_secs: 5,
            ..Settings::default()
        };
        let pinned = keep_restart_only(&old, &mut new);
        assert_eq!(
            pinned,
            vec![
                "GITGATE_SOCKET",
                "GITGATE_MAX_CONNECTIONS",
                "GITGATE_IO_TIMEOUT_SECS"
            ]
        );
        assert_eq!(new.io_timeout_secs, old.io_timeout_secs);
        assert_eq!(new.socket, old.socket);
        assert_eq!(new.max_connections, old.max_connections);
        assert_eq!(
            changed_settings(&old, &new),
            vec!["BLOCKED_BRANCHES", "GITGATE_HELLO_TIMEOUT_MS"]
        );
        assert!(changed_settings(&old, &old.clone()).is_empty());
    }

    #[test]
    fn plain_http_api_url_names_the_switch() {
        let (_d, w) = ws();
        for (url, allow, ok) in [
            ("http://127.0.0.1:9/api", "1", true),
            ("http://127.0.0.1:9/api", "0", false),
            ("http://api.example.com", "1", false),
            ("ftp://api.example.com", "1", false),
        ] {
            let e = env(&[
                ("GITHUB_API_URL", url),
                ("GITGATE_ALLOW_HTTP_LOOPBACK", allow),
            ]);
            let r = load(None, None, &[], &[e[0].clone(), e[1].clone(), w.clone()]);
            assert_eq!(r.is_ok(), ok, "{url} {allow}: {r:?}");
            if let Err(err) = r {
                let err = err.to_string();
                assert!(err.starts_with("GITHUB_API_URL: "), "{err}");
                if url.starts_with("http:") {
                    assert!(err.contains("GITGATE_ALLOW_HTTP_LOOPBACK"), "{err}");
                }
            }
        }
    }

    #[test]
    fn github_git_url_is_checked_like_the_api_url() {
        let (_d, w) = ws();
        for (url, allow, ok) in [
            ("http://127.0.0.1:9", "1", true),
            ("https://git.example.com/", "0", true),
            ("", "0", true),
            ("http://127.0.0.1:9", "0", false),
            ("http://git.example.com", "1", false),
            ("https://x:tok@git.example.com", "0", false),
            ("http://x:tok@127.0.0.1:9", "1", false),
            ("file:///srv/git", "1", false),
        ] {
            let e = env(&[
                ("GITHUB_GIT_URL", url),
                ("GITGATE_ALLOW_HTTP_LOOPBACK", allow),
            ]);
            let r = load(None, None, &[], &[e[0].clone(), e[1].clone(), w.clone()]);
            assert_eq!(r.is_ok(), ok, "{url} {allow}: {r:?}");
            if let Err(err) = r {
                assert!(err.to_string().starts_with("GITHUB_GIT_URL: "), "{err}");
                assert!(!err.to_string().contains("tok@"), "{err}");
            }
        }
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("ALLOWED_REPO", "ALLOWED_REPOS"), 1);
        assert_eq!(distance("kitten", "SITTING"), 3);
        assert_eq!(distance("same", "SAME"), 0);
    }
}
