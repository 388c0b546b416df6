//! Agent configuration: defaults < optional TOML file < `--env-file` < environment, layered with
//! figment. Environment values use the names users put in `.env` (`BLOCKED_BRANCHES=["main"]`);
//! list values are strict JSON arrays, parsed here so errors name the variable.

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
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
    pub allowed_repos: Vec<String>,
    pub allowed_hosts: Vec<String>,
    /// Peer uids allowed on the socket; `None` = only the agent's own uid.
    pub allowed_uids: Option<Vec<u32>>,
    pub audit_log: Option<PathBuf>,
    pub audit_max_bytes: u64,
    pub require_mlock: bool,
    pub socket: PathBuf,
    pub workspace: PathBuf,
    pub state_dir: PathBuf,
    pub github_api_url: String,
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
            allowed_repos: vec![],
            allowed_hosts: vec!["github.com".into()],
            allowed_uids: None,
            audit_log: None,
            audit_max_bytes: 10 * 1024 * 1024,
            require_mlock: false,
            socket: "/run/gitgate/agent.sock".into(),
            workspace: "/workspace".into(),
            state_dir: "/var/lib/gitgate".into(),
            github_api_url: "https://api.github.com".into(),
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
    ("ALLOWED_REPOS", "allowed_repos", Kind::StrList),
    ("ALLOWED_HOSTS", "allowed_hosts", Kind::StrList),
    ("ALLOWED_UIDS", "allowed_uids", Kind::UidList),
    ("AUDIT_LOG", "audit_log", Kind::Str),
    ("AUDIT_MAX_BYTES", "audit_max_bytes", Kind::Int),
    ("REQUIRE_MLOCK", "require_mlock", Kind::Bool),
    ("GITGATE_SOCKET", "socket", Kind::Str),
    ("GITGATE_WORKSPACE", "workspace", Kind::Str),
    ("GITGATE_STATE_DIR", "state_dir", Kind::Str),
    ("GITHUB_API_URL", "github_api_url", Kind::Str),
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
];

/// The environment name of a TOML key, for error messages.
pub fn env_name(key: &str) -> &str {
    ENV_KEYS
        .iter()
        .find(|(_, k, _)| *k == key)
        .map(|(e, _, _)| *e)
        .unwrap_or(key)
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

/// Build settings from all layers. `env` is the process environment (passed in for testability).
pub fn load(
    toml_file: Option<&Path>,
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
        fig = fig.merge(Toml::file(path));
    }
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

    pub fn audit_log_path(&self) -> PathBuf {
        self.audit_log
            .clone()
            .unwrap_or_else(|| self.state_dir.join("audit.jsonl"))
    }

    /// Checks that need no I/O beyond looking at paths.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy()?;
        if !self.workspace.is_absolute() {
            return Err(invalid(
                "GITGATE_WORKSPACE",
                format!("'{}' must be an absolute path", self.workspace.display()),
            ));
        }
        if !self.workspace.is_dir() {
            return Err(invalid(
                "GITGATE_WORKSPACE",
                format!("'{}' is not a directory", self.workspace.display()),
            ));
        }
        if !self.socket.is_absolute() {
            return Err(invalid(
                "GITGATE_SOCKET",
                format!("'{}' must be an absolute path", self.socket.display()),
            ));
        }
        if !self.state_dir.is_absolute() {
            return Err(invalid(
                "GITGATE_STATE_DIR",
                format!("'{}' must be an absolute path", self.state_dir.display()),
            ));
        }
        let url = &self.github_api_url;
        let is_loopback_http = url
            .strip_prefix("http://")
            .map(|rest| {
                let host = rest.split(['/', ':']).next().unwrap_or("");
                host == "127.0.0.1" || host == "localhost" || host == "[::1]"
            })
            .unwrap_or(false);
        if !(url.starts_with("https://") || (is_loopback_http && self.allow_http_loopback)) {
            return Err(invalid(
                "GITHUB_API_URL",
                format!("'{url}' must be an https:// URL (plain http only for loopback with GITGATE_ALLOW_HTTP_LOOPBACK=1)"),
            ));
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
        Ok(())
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
        let s = load(Some(&toml), &file, &e).unwrap();
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
            let err = load(None, &[], &e).unwrap_err().to_string();
            assert!(err.starts_with(k), "{k}={v}: {err}");
        }
        let err = load(None, &[], &env(&[("GITGATE_WORKSPACE", "/nonexistent/ws")])).unwrap_err();
        assert!(err.to_string().starts_with("GITGATE_WORKSPACE"), "{err}");
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
}
