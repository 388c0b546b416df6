//! `gitgate-shim ssh …`: git's ssh command (`core.sshCommand` in the AI image, `GIT_SSH_COMMAND`
//! from the native `git` shim, with `ssh.variant=ssh`). An ssh remote would connect around
//! gitgate (its own keys, no policy), so it is refused, saying which https URL to use instead.
//! git adds its own "Could not read from remote repository" after this.

use std::ffi::OsString;

/// The https URL for git's ssh arguments (`[user@]host "git-upload-pack '/owner/name.git'"`), or
/// `None` when they do not look like that.
pub fn https_url(args: &[OsString]) -> Option<String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut rest = args.iter();
    let mut host = None;
    while let Some(a) = rest.next() {
        match a.as_str() {
            // options an OpenSSH-variant caller may pass before the host
            "-p" | "-o" | "-l" | "-i" => {
                rest.next();
            }
            s if s.starts_with('-') => {}
            s => {
                host = Some(s.rsplit('@').next().unwrap_or(s).to_owned());
                break;
            }
        }
    }
    let host = host.filter(|h| !h.is_empty())?;
    let command = rest.last()?;
    let path = command.split_once(' ')?.1.trim().trim_matches('\'');
    let path = path.trim_start_matches('/').trim_start_matches("~/");
    let path = if path.ends_with(".git") {
        path.to_owned()
    } else {
        format!("{path}.git")
    };
    Some(format!("https://{host}/{path}"))
}

pub fn run(args: &[OsString]) -> crate::Fail {
    let url = https_url(args).unwrap_or_else(|| "https://HOST/OWNER/NAME.git".to_owned());
    crate::Fail::new(
        128,
        format!(
            "ssh remotes are not supported (git would connect over ssh, around gitgate); \
             use {url} (git remote set-url origin {url})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(v: &[&str]) -> Option<String> {
        https_url(&v.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn suggests_the_https_url() {
        assert_eq!(
            url(&["git@github.com", "git-upload-pack 'acme/app.git'"]).as_deref(),
            Some("https://github.com/acme/app.git")
        );
        assert_eq!(
            url(&["-p", "2222", "git@host", "git-receive-pack '/acme/app'"]).as_deref(),
            Some("https://host/acme/app.git")
        );
        assert_eq!(
            url(&[
                "-o",
                "SendEnv=GIT_PROTOCOL",
                "host",
                "git-upload-pack '~/x/y.git'"
            ])
            .as_deref(),
            Some("https://host/x/y.git")
        );
        assert_eq!(url(&["host"]), None);
        assert_eq!(url(&[]), None);
    }
}
