//! Remote URL parsing: which GitHub-style repository does a URL name?
//!
//! Strict on purpose: the result decides whether a repository is allowed, so anything unusual
//! (passwords, percent-encoding, queries, extra path segments, `..`, odd characters, exotic transports
//! such as `ext::` or `file://`) yields `None` rather than a guess.

/// A repository on a host: `host[:port]` (lowercased), `owner` and `name` (without `.git`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub host: String,
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// `owner/name`, the form `ALLOWED_REPOS` globs match.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// Parse a remote URL:
/// `https://host[:port]/o/r(.git)(/)`, `http://…` (the agent decides whether plain HTTP is acceptable),
/// `ssh://[user@]host[:port]/o/r(.git)`, and scp-like `[user@]host:o/r(.git)`.
pub fn parse_remote_url(url: &str) -> Option<RepoRef> {
    if let Some((scheme, rest)) = url.split_once("://") {
        match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" | "ssh" => {}
            _ => return None,
        }
        let (authority, path) = rest.split_once('/')?;
        let host = parse_authority(authority, true)?;
        let (owner, name) = parse_path(path)?;
        Some(RepoRef { host, owner, name })
    } else {
        // scp-like: the colon must come before any slash (otherwise git reads it as a local path).
        let (authority, path) = url.split_once(':')?;
        if authority.contains('/') {
            return None;
        }
        let host = parse_authority(authority, false)?;
        let (owner, name) = parse_path(path)?;
        Some(RepoRef { host, owner, name })
    }
}

/// `[user@]host[:port]` -> lowercased `host[:port]`. A password in the userinfo is refused: a URL that
/// carries a credential should never have been written, and the token must never be paired with it.
fn parse_authority(authority: &str, port_allowed: bool) -> Option<String> {
    let hostport = match authority.rsplit_once('@') {
        Some((user, hostport)) => {
            if user.is_empty()
                || !user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~'))
            {
                // Also refuses "user:password" and a second '@'.
                return None;
            }
            hostport
        }
        None => authority,
    };
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) if port_allowed => (h, Some(p)),
        Some(_) => return None,
        None => (hostport, None),
    };
    if !valid_host(host) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    match port {
        None => Some(host),
        Some(p) => {
            let port = parse_port(p)?;
            Some(format!("{host}:{port}"))
        }
    }
}

/// Port 1..=65535 written with digits only (no sign, no leading zeros that could hide a different port).
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) || p.starts_with('0') {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n != 0)
}

/// A DNS name or IPv4 address: labels of `[A-Za-z0-9-]`, separated by single dots, no label starting
/// or ending with '-'. IPv6 literals are not supported.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `owner/name(.git)(/)` -> (owner, name).
fn parse_path(path: &str) -> Option<(String, String)> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = path.split('/');
    let owner = segments.next()?;
    let name = segments.next()?;
    if segments.next().is_some() {
        return None;
    }
    let name = name.strip_suffix(".git").unwrap_or(name);
    if !valid_segment(owner) || !valid_segment(name) {
        return None;
    }
    Some((owner.to_string(), name.to_string()))
}

/// GitHub owner and repository names: `[A-Za-z0-9._-]`, and never `.`/`..` or containing `..`.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.contains("..")
        && s != "."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `host[:port]` (or `[v6]:port`) names the local machine: `127.0.0.1`, `localhost` or `[::1]`.
pub fn is_loopback_host(hostport: &str) -> bool {
    let host = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split(']')
            .next()
            .map(|h| format!("[{h}]"))
            .unwrap_or_default()
    } else {
        hostport.split(':').next().unwrap_or("").to_owned()
    };
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    )
}

/// Plain `http://` (any case) is acceptable only to a loopback host and only with the test switch
/// `GITGATE_ALLOW_HTTP_LOOPBACK`; the refusal says so and names the switch. Other schemes pass
/// (whether they are acceptable is decided elsewhere).
pub fn check_plain_http(url: &str, allow_http_loopback: bool) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(());
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Ok(());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if !is_loopback_host(hostport) {
        return Err(format!(
            "'{url}' uses plain http:// to '{hostport}': use https:// (plain http is possible only to a loopback host, 127.0.0.1, localhost or [::1], with GITGATE_ALLOW_HTTP_LOOPBACK=true, for tests)"
        ));
    }
    if !allow_http_loopback {
        return Err(format!(
            "'{url}' uses plain http:// to a loopback host: that needs GITGATE_ALLOW_HTTP_LOOPBACK=true (for tests), otherwise use https://"
        ));
    }
    Ok(())
}

/// Validate a `host[:port]` setting value (`ALLOWED_HOSTS`) and return it lowercased.
pub fn normalize_host_port(value: &str) -> Option<String> {
    parse_authority(value, true).filter(|_| !value.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(host: &str, owner: &str, name: &str) -> Option<RepoRef> {
        Some(RepoRef {
            host: host.into(),
            owner: owner.into(),
            name: name.into(),
        })
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            (
                "https://github.com/acme/app.git",
                r("github.com", "acme", "app"),
            ),
            (
                "https://github.com/acme/app",
                r("github.com", "acme", "app"),
            ),
            (
                "https://github.com/acme/app/",
                r("github.com", "acme", "app"),
            ),
            (
                "https://github.com/acme/app.git/",
                r("github.com", "acme", "app"),
            ),
            (
                "https://GitHub.COM/Acme/App",
                r("github.com", "Acme", "App"),
            ),
            (
                "https://ghe.example:8443/o/r.git",
                r("ghe.example:8443", "o", "r"),
            ),
            (
                "http://127.0.0.1:39217/o/r.git",
                r("127.0.0.1:39217", "o", "r"),
            ),
            (
                "https://x-access-token@github.com/o/r",
                r("github.com", "o", "r"),
            ),
            ("ssh://git@github.com/o/r.git", r("github.com", "o", "r")),
            (
                "ssh://git@github.com:22/o/r.git",
                r("github.com:22", "o", "r"),
            ),
            ("git@github.com:o/r.git", r("github.com", "o", "r")),
            ("github.com:o/r", r("github.com", "o", "r")),
            (
                "https://github.com/my.org/my_repo-1.git",
                r("github.com", "my.org", "my_repo-1"),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(parse_remote_url(url), want, "{url}");
        }
        assert_eq!(
            parse_remote_url("https://github.com/acme/app.git")
                .unwrap()
                .slug(),
            "acme/app"
        );
    }

    #[test]
    fn refused_forms() {
        for url in [
            "",
            "https://user:pass@github.com/o/r.git",
            "https://a@b@github.com/o/r.git",
            "https://github.com/o",
            "https://github.com/o/",
            "https://github.com/o/r/x",
            "https://github.com/o/r//",
            "https://github.com//r",
            "https://github.com/../r",
            "https://github.com/o/..",
            "https://github.com/o/a..b",
            "https://github.com/o/.git",
            "https://github.com/o/r%2e",
            "https://github.com/o/r?x=1",
            "https://github.com/o/r#x",
            "https://github.com:/o/r",
            "https://github.com:0/o/r",
            "https://github.com:65536/o/r",
            "https://github.com:+1/o/r",
            "https://github.com:080/o/r",
            "https://[::1]:8080/o/r",
            "https://-bad.com/o/r",
            "https://a..com/o/r",
            "https:///o/r",
            "file:///tmp/o/r.git",
            "git://github.com/o/r.git",
            "ext::sh -c touch% /tmp/x",
            "/srv/git/o/r.git",
            "./o/r",
            "../o/r",
            "origin",
            "git@github.com:/o/r.git",
            "git@github.com:22:o/r.git",
            "git@github.com:o/r/x.git",
            "a/b:o/r",
            "https://github.com/o/r w",
            "https://github.com/ö/r",
        ] {
            assert_eq!(parse_remote_url(url), None, "{url}");
        }
    }

    #[test]
    fn host_settings() {
        assert_eq!(normalize_host_port("GitHub.com"), Some("github.com".into()));
        assert_eq!(
            normalize_host_port("127.0.0.1:8080"),
            Some("127.0.0.1:8080".into())
        );
        for bad in [
            "",
            "user@github.com",
            "github.com:",
            "https://github.com",
            "a b",
            "host:x",
        ] {
            assert_eq!(normalize_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn plain_http_needs_loopback_and_the_switch() {
        for url in [
            "https://github.com/o/r",
            "ssh://git@github.com/o/r",
            "git@github.com:o/r",
            "origin",
        ] {
            assert_eq!(check_plain_http(url, false), Ok(()), "{url}");
        }
        for url in [
            "http://127.0.0.1:8080/o/r.git",
            "HTTP://localhost/api",
            "http://[::1]:9/x",
            "http://u@127.0.0.1/o/r",
        ] {
            assert_eq!(check_plain_http(url, true), Ok(()), "{url}");
            let e = check_plain_http(url, false).unwrap_err();
            assert!(e.contains("needs GITGATE_ALLOW_HTTP_LOOPBACK=true"), "{e}");
        }
        for url in [
            "http://github.com/o/r",
            "http://127.0.0.2/o/r",
            "http://localhost.evil.com/o/r",
            "http://127.0.0.1@evil.com/o/r",
        ] {
            for allow in [false, true] {
                let e = check_plain_http(url, allow).unwrap_err();
                assert!(
                    e.contains("use https://") && e.contains("GITGATE_ALLOW_HTTP_LOOPBACK"),
                    "{e}"
                );
            }
        }
    }
}
