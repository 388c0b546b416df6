//! [`PolicyConfig`] (plain settings) and [`Policy`] (the settings, validated and compiled).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::denial::{quote, Denial};

/// The policy settings (DESIGN §7), plain data. The agent fills it from its layered configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// `BLOCKED_BRANCHES`: globs of branches never pushed to, compared case-insensitively.
    pub blocked_branches: Vec<String>,
    /// `ALLOWED_BRANCH_PATTERNS`: globs; empty means any branch that is not blocked.
    pub allowed_branch_patterns: Vec<String>,
    /// `ALLOW_FORCE_PUSH`.
    pub allow_force_push: bool,
    /// `ALLOW_DELETE_REMOTE`.
    pub allow_delete_remote: bool,
    /// `ALLOW_TAG_PUSH`.
    pub allow_tag_push: bool,
    /// `ALLOWED_REPOS`: globs of `owner/name`, case-insensitive; empty means no repository.
    pub allowed_repos: Vec<String>,
    /// `ALLOWED_HOSTS`: `host[:port]`, case-insensitive exact match.
    pub allowed_hosts: Vec<String>,
    /// `ALLOW_PR_MERGE`.
    pub allow_pr_merge: bool,
    /// `ALLOW_WORKFLOW_RUN`: GitHub Actions dispatch, rerun and cancel through the API gateway.
    pub allow_workflow_run: bool,
    /// `ALLOW_PUBLIC_FETCH`: fetch repositories outside `ALLOWED_REPOS` without any credentials.
    pub allow_public_fetch: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            blocked_branches: vec!["main".into(), "master".into()],
            allowed_branch_patterns: Vec::new(),
            allow_force_push: false,
            allow_delete_remote: false,
            allow_tag_push: false,
            allowed_repos: Vec::new(),
            allowed_hosts: vec!["github.com".into()],
            allow_pr_merge: false,
            allow_workflow_run: false,
            allow_public_fetch: false,
        }
    }
}

pub const BLOCKED_BRANCHES: &str = "BLOCKED_BRANCHES";
pub const ALLOWED_BRANCH_PATTERNS: &str = "ALLOWED_BRANCH_PATTERNS";
pub const ALLOW_FORCE_PUSH: &str = "ALLOW_FORCE_PUSH";
pub const ALLOW_DELETE_REMOTE: &str = "ALLOW_DELETE_REMOTE";
pub const ALLOW_TAG_PUSH: &str = "ALLOW_TAG_PUSH";
pub const ALLOWED_REPOS: &str = "ALLOWED_REPOS";
pub const ALLOWED_HOSTS: &str = "ALLOWED_HOSTS";
pub const ALLOW_PR_MERGE: &str = "ALLOW_PR_MERGE";
pub const ALLOW_WORKFLOW_RUN: &str = "ALLOW_WORKFLOW_RUN";
pub const ALLOW_PUBLIC_FETCH: &str = "ALLOW_PUBLIC_FETCH";

/// How git may reach a repository (see [`Policy::git_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitAccess {
    /// In `ALLOWED_REPOS`: fetched and pushed with the token.
    WithToken,
    /// Not in `ALLOWED_REPOS`, but `ALLOW_PUBLIC_FETCH=true` and a fetch: the agent fetches it
    /// without any credentials, so only what is public can be read and the token never goes there.
    Anonymous,
}

/// An invalid setting. The agent refuses to start with this message, so it names the setting, the value
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{setting}: invalid glob '{value}': {reason}")]
    InvalidGlob {
        setting: &'static str,
        value: String,
        reason: String,
    },
    #[error("{setting}: invalid value '{value}': {reason}")]
    InvalidValue {
        setting: &'static str,
        value: String,
        reason: String,
    },
}

/// The compiled policy.
///
/// Globs use `FNM_PATHNAME` semantics like GitHub rulesets: `*` and `?` do not match `/`, `**` does.
#[derive(Clone)]
pub struct Policy {
    cfg: PolicyConfig,
    blocked: GlobSet,
    allowed_branches: Option<GlobSet>,
    repos: GlobSet,
    hosts: Vec<String>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("cfg", &self.cfg).finish()
    }
}

impl Policy {
    /// Validate and compile `cfg`.
    pub fn new(cfg: PolicyConfig) -> Result<Policy, PolicyError> {
        let blocked = compile(
            BLOCKED_BRANCHES,
            &cfg.blocked_branches,
            true,
            check_branch_glob,
        )?;
        let allowed_branches = if cfg.allowed_branch_patterns.is_empty() {
            None
        } else {
            Some(compile(
                ALLOWED_BRANCH_PATTERNS,
                &cfg.allowed_branch_patterns,
                false,
                check_branch_glob,
            )?)
        };
        // GitHub owner and repository names are case-insensitive.
        let repos = compile(ALLOWED_REPOS, &cfg.allowed_repos, true, check_repo_glob)?;
        let hosts = cfg
            .allowed_hosts
            .iter()
            .map(|h| {
                crate::url::normalize_host_port(h).ok_or_else(|| PolicyError::InvalidValue {
                    setting: ALLOWED_HOSTS,
                    value: quote(h),
                    reason: "expected host or host:port (e.g. github.com, 127.0.0.1:8080), \
                             without scheme, user or path"
                        .into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            cfg,
            blocked,
            allowed_branches,
            repos,
            hosts,
        })
    }

    /// The settings this policy was built from.
    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    /// Is `owner/name` in `ALLOWED_REPOS`? (Case-insensitive; anything not shaped `owner/name` is not.)
    pub fn repo_allowed(&self, owner_slash_name: &str) -> bool {
        let mut parts = owner_slash_name.split('/');
        let shaped = matches!((parts.next(), parts.next(), parts.next()),
            (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty());
        shaped && self.repos.is_match(owner_slash_name)
    }

    /// May git fetch (`push == false`) or push `owner/name`, and with which credentials?
    pub fn git_access(&self, owner_slash_name: &str, push: bool) -> Result<GitAccess, Denial> {
        if self.repo_allowed(owner_slash_name) {
            return Ok(GitAccess::WithToken);
        }
        let not_listed = format!(
            "repository '{}' is not in ALLOWED_REPOS",
            quote(owner_slash_name)
        );
        if push {
            return Err(Denial::with_setting(
                format!("{not_listed} (ALLOWED_REPOS)"),
                ALLOWED_REPOS,
            ));
        }
        if self.cfg.allow_public_fetch {
            return Ok(GitAccess::Anonymous);
        }
        Err(Denial::with_setting(
            format!(
                "{not_listed} (ALLOWED_REPOS; or ALLOW_PUBLIC_FETCH=true to fetch public repositories without credentials)"
            ),
            ALLOWED_REPOS,
        ))
    }

    /// Is `host[:port]` in `ALLOWED_HOSTS`? (Case-insensitive exact match: `github.com:443` is not
    /// `github.com`, so a test server on another port must be listed with its port.)
    pub fn host_allowed(&self, host_port: &str) -> bool {
        let h = host_port.to_ascii_lowercase();
        self.hosts.contains(&h)
    }

    /// Is branch `short` (no `refs/heads/`) blocked? Case-insensitive, because on case-insensitive
    /// filesystems and in some hosting UIs `MAIN` and `main` are the same branch.
    pub(crate) fn is_blocked(&self, short: &str) -> bool {
        self.blocked.is_match(short)
    }

    /// `Some(true/false)` when `ALLOWED_BRANCH_PATTERNS` is set; `None` when any branch is allowed.
    pub(crate) fn matches_allowed_patterns(&self, short: &str) -> Option<bool> {
        self.allowed_branches.as_ref().map(|s| s.is_match(short))
    }
}

fn compile(
    setting: &'static str,
    patterns: &[String],
    case_insensitive: bool,
    check: fn(&str) -> Result<(), String>,
) -> Result<GlobSet, PolicyError> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let invalid = |reason: String| PolicyError::InvalidGlob {
            setting,
            value: quote(p),
            reason,
        };
        check(p).map_err(invalid)?;
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .case_insensitive(case_insensitive)
            // Backslash escapes are platform-dependent in globset; branch names cannot contain one.
            .backslash_escape(true)
            .build()
            .map_err(|e| invalid(e.kind().to_string()))?;
        set.add(glob);
    }
    set.build().map_err(|e| PolicyError::InvalidGlob {
        setting,
        value: String::new(),
        reason: e.kind().to_string(),
    })
}

/// A branch glob: non-empty, no spaces or control characters, and not a full ref name (globs match the
/// short name, so `refs/heads/main` would silently never match).
fn check_branch_glob(p: &str) -> Result<(), String> {
    if p.trim().is_empty() {
        return Err("empty pattern".into());
    }
    if let Some(c) = p.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "contains {}; branch names have no whitespace or control characters",
            quote(&c.to_string())
        ));
    }
    if p.starts_with("refs/") {
        return Err(
            "patterns match the short branch name: write 'main', not 'refs/heads/main'".into(),
        );
    }
    Ok(())
}

/// A repository glob must be `owner/name` (exactly one '/', both sides non-empty): with `FNM_PATHNAME`
/// a pattern like `acme` or `*` would silently match nothing.
fn check_repo_glob(p: &str) -> Result<(), String> {
    let mut parts = p.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty() => {}
        _ => return Err("expected owner/name, e.g. acme/app or acme/*".into()),
    }
    if let Some(c) = p.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "contains {}; owner and repository names have no whitespace",
            quote(&c.to_string())
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(blocked: &[&str], allowed: &[&str]) -> Policy {
        Policy::new(PolicyConfig {
            blocked_branches: blocked.iter().map(|s| s.to_string()).collect(),
            allowed_branch_patterns: allowed.iter().map(|s| s.to_string()).collect(),
            ..PolicyConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn defaults() {
        let cfg = PolicyConfig::default();
        assert_eq!(cfg.blocked_branches, ["main", "master"]);
        assert_eq!(cfg.allowed_hosts, ["github.com"]);
        assert!(cfg.allowed_repos.is_empty() && cfg.allowed_branch_patterns.is_empty());
        assert!(!cfg.allow_force_push && !cfg.allow_delete_remote);
        assert!(!cfg.allow_tag_push && !cfg.allow_pr_merge);
        let p = Policy::new(cfg.clone()).unwrap();
        assert_eq!(p.config(), &cfg);
        assert!(
            !p.repo_allowed("acme/app"),
            "empty ALLOWED_REPOS allows nothing"
        );
    }

    #[test]
    fn git_access_table() {
        let with = |public: bool| {
            Policy::new(PolicyConfig {
                allowed_repos: vec!["acme/*".into()],
                allow_public_fetch: public,
                ..Default::default()
            })
            .unwrap()
        };
        let listed = "repository 'other/lib' is not in ALLOWED_REPOS";
        // (public fetch on, slug, push) → access or the start of the refusal
        for (public, slug, push, want) in [
            (false, "acme/app", false, Ok(GitAccess::WithToken)),
            (false, "ACME/app", true, Ok(GitAccess::WithToken)),
            (true, "acme/app", false, Ok(GitAccess::WithToken)),
            (true, "other/lib", false, Ok(GitAccess::Anonymous)),
            (true, "other/lib", true, Err(format!("{listed} (ALLOWED_REPOS)"))),
            (false, "other/lib", true, Err(format!("{listed} (ALLOWED_REPOS)"))),
            (
                false,
                "other/lib",
                false,
                Err(format!("{listed} (ALLOWED_REPOS; or ALLOW_PUBLIC_FETCH=true to fetch public repositories without credentials)")),
            ),
        ] {
            let got = with(public).git_access(slug, push).map_err(|d| {
                assert_eq!(d.setting, Some(ALLOWED_REPOS));
                d.message
            });
            assert_eq!(got, want, "public={public} {slug} push={push}");
        }
    }

    #[test]
    fn star_does_not_cross_slash() {
        let p = policy(&["release/*"], &["claude/*"]);
        assert_eq!(p.matches_allowed_patterns("claude/x"), Some(true));
        assert_eq!(p.matches_allowed_patterns("claude/x/y"), Some(false));
        assert_eq!(p.matches_allowed_patterns("claude"), Some(false));
        assert_eq!(p.matches_allowed_patterns("xclaude/x"), Some(false));
        assert!(p.is_blocked("release/1"));
        assert!(!p.is_blocked("release/1/hotfix"));
    }

    #[test]
    fn double_star_crosses_slash() {
        let p = policy(&["release/**"], &["feature/**", "**/wip"]);
        assert!(p.is_blocked("release/1"));
        assert!(p.is_blocked("release/1/hotfix"));
        assert_eq!(p.matches_allowed_patterns("feature/a/b/c"), Some(true));
        assert_eq!(p.matches_allowed_patterns("a/b/wip"), Some(true));
        assert_eq!(p.matches_allowed_patterns("wip"), Some(true));
        assert_eq!(p.matches_allowed_patterns("a/wipx"), Some(false));
    }

    #[test]
    fn question_mark_and_classes() {
        let p = policy(&["v?", "rel-[0-9]"], &[]);
        assert!(p.is_blocked("v1"));
        assert!(!p.is_blocked("v/"));
        assert!(p.is_blocked("rel-7"));
        assert!(!p.is_blocked("rel-x"));
        assert_eq!(p.matches_allowed_patterns("anything"), None);
    }

    #[test]
    fn blocked_is_case_insensitive_allowed_is_not() {
        let p = policy(&["main", "master"], &["claude/*"]);
        for b in ["main", "MAIN", "Main", "mAsTeR"] {
            assert!(p.is_blocked(b), "{b}");
        }
        assert!(!p.is_blocked("main2"));
        assert!(!p.is_blocked("x/main"));
        assert_eq!(p.matches_allowed_patterns("Claude/x"), Some(false));
    }

    #[test]
    fn repos_case_insensitive_and_shaped() {
        let p = Policy::new(PolicyConfig {
            allowed_repos: vec!["acme/*".into(), "other/one".into()],
            ..PolicyConfig::default()
        })
        .unwrap();
        assert!(p.repo_allowed("acme/app"));
        assert!(p.repo_allowed("ACME/App"));
        assert!(p.repo_allowed("Other/ONE"));
        assert!(!p.repo_allowed("other/two"));
        assert!(!p.repo_allowed("acme/app/x"));
        assert!(!p.repo_allowed("acme/"));
        assert!(!p.repo_allowed("acme"));
        assert!(!p.repo_allowed("evil/acme"));
    }

    #[test]
    fn hosts_exact_case_insensitive() {
        let p = Policy::new(PolicyConfig {
            allowed_hosts: vec!["GitHub.com".into(), "127.0.0.1:8080".into()],
            ..PolicyConfig::default()
        })
        .unwrap();
        assert!(p.host_allowed("github.com"));
        assert!(p.host_allowed("GITHUB.COM"));
        assert!(p.host_allowed("127.0.0.1:8080"));
        assert!(!p.host_allowed("127.0.0.1"));
        assert!(!p.host_allowed("github.com:443"));
        assert!(!p.host_allowed("evil.github.com"));
        assert!(!p.host_allowed("github.com.evil"));
    }

    fn err(cfg: PolicyConfig) -> String {
        Policy::new(cfg).unwrap_err().to_string()
    }

    #[test]
    fn invalid_settings_name_the_setting() {
        let e = err(PolicyConfig {
            blocked_branches: vec!["ma[in".into()],
            ..PolicyConfig::default()
        });
        assert!(
            e.starts_with("BLOCKED_BRANCHES: invalid glob 'ma[in': unclosed character class"),
            "{e}"
        );
        let e = err(PolicyConfig {
            allowed_branch_patterns: vec!["claude/{a".into()],
            ..PolicyConfig::default()
        });
        assert!(
            e.starts_with("ALLOWED_BRANCH_PATTERNS: invalid glob 'claude/{a': unclosed alternate"),
            "{e}"
        );
        let e = err(PolicyConfig {
            allowed_branch_patterns: vec!["".into()],
            ..PolicyConfig::default()
        });
        assert_eq!(e, "ALLOWED_BRANCH_PATTERNS: invalid glob '': empty pattern");
        let e = err(PolicyConfig {
            blocked_branches: vec!["refs/heads/main".into()],
            ..PolicyConfig::default()
        });
        assert!(
            e.starts_with(
                "BLOCKED_BRANCHES: invalid glob 'refs/heads/main': patterns match the short"
            ),
            "{e}"
        );
        let e = err(PolicyConfig {
            allowed_repos: vec!["acme".into()],
            ..PolicyConfig::default()
        });
        assert_eq!(
            e,
            "ALLOWED_REPOS: invalid glob 'acme': expected owner/name, e.g. acme/app or acme/*"
        );
        let e = err(PolicyConfig {
            allowed_repos: vec!["acme/[".into()],
            ..PolicyConfig::default()
        });
        assert!(e.starts_with("ALLOWED_REPOS: invalid glob 'acme/['"), "{e}");
        let e = err(PolicyConfig {
            allowed_hosts: vec!["https://github.com".into()],
            ..PolicyConfig::default()
        });
        assert!(
            e.starts_with("ALLOWED_HOSTS: invalid value 'https://github.com': expected host"),
            "{e}"
        );
        let e = err(PolicyConfig {
            allowed_hosts: vec!["github.com:99999".into()],
            ..PolicyConfig::default()
        });
        assert!(
            e.starts_with("ALLOWED_HOSTS: invalid value 'github.com:99999'"),
            "{e}"
        );
    }

    #[test]
    fn error_quotes_control_characters() {
        let e = err(PolicyConfig {
            blocked_branches: vec!["a\nb".into()],
            ..PolicyConfig::default()
        });
        assert!(!e.contains('\n'), "{e}");
    }
}
