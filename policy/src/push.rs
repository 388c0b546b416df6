//! `git push`: argv parsing ([`parse_push_args`]), resolution into ref updates ([`resolve`]) and the
//! pre-push hook's input ([`parse_pre_push_line`]).

mod options;
mod resolve;

pub use resolve::{parse_pre_push_line, resolve};

use crate::denial::{quote, Denial};
use options::{ArgKind, Opt};

/// Where the push goes, as written by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteArg {
    /// No remote given: the agent uses the branch's remote or `origin`.
    Default,
    /// A remote name (`origin`).
    Name(String),
    /// A URL or path given instead of a remote name; the agent must check it names an allowed repository.
    Url(String),
}

impl RemoteArg {
    /// Classify a positional repository argument the way git does: a configured remote name can contain
    /// neither `/` nor `:`, so anything with those (or starting with `.`) is a URL or a path.
    pub fn classify(arg: &str) -> RemoteArg {
        if arg.contains("://")
            || arg.contains(':')
            || arg.contains('/')
            || arg.contains('\\')
            || arg.starts_with('.')
        {
            RemoteArg::Url(arg.to_string())
        } else {
            RemoteArg::Name(arg.to_string())
        }
    }
}

/// One refspec as written: `B` (src B, no dst), `src:dst`, `:dst` (no src: delete), `+…` (force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refspec {
    pub force: bool,
    pub src: Option<String>,
    pub dst: Option<String>,
}

impl Refspec {
    /// Parse a refspec the way git's `parse_refspec` does for push (split at the *last* `:`), refusing
    /// the forms gitgate will not push: wildcards, the matching refspec `:`, and an empty destination.
    pub fn parse(s: &str) -> Result<Refspec, Denial> {
        let (force, body) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if body.is_empty() {
            return Err(Denial::new(format!(
                "git push: empty refspec '{}' refused; name a branch",
                quote(s)
            )));
        }
        if body.contains('*') {
            return Err(Denial::new(format!(
                "git push: refspec '{}' refused: wildcard refspecs are not supported; name each branch \
                 (e.g. git push origin my-branch)",
                quote(s)
            )));
        }
        let (src, dst) = match body.rsplit_once(':') {
            None => (Some(body), None),
            Some((src, dst)) => {
                if src.is_empty() && dst.is_empty() {
                    return Err(Denial::new(format!(
                        "git push: refspec '{}' refused: it pushes every branch that exists on both sides; \
                         name the branches to push",
                        quote(s)
                    )));
                }
                if dst.is_empty() {
                    return Err(Denial::new(format!(
                        "git push: refspec '{}' refused: empty destination; write src:dst or just src",
                        quote(s)
                    )));
                }
                ((!src.is_empty()).then_some(src), Some(dst))
            }
        };
        Ok(Refspec {
            force,
            src: src.map(str::to_string),
            dst: dst.map(str::to_string),
        })
    }
}

/// `git push` argv, parsed. Only harmless options survive parsing; dangerous ones are refused by
/// [`parse_push_args`], and combinations by [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushArgs {
    pub remote: RemoteArg,
    pub refspecs: Vec<Refspec>,
    /// `--all` / `--branches`.
    pub all_branches: bool,
    pub tags: bool,
    pub follow_tags: bool,
    pub delete: bool,
    /// `-f`/`--force`, `--force-with-lease[=..]`, `--force-if-includes`.
    pub force: bool,
    pub set_upstream: bool,
    pub dry_run: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub porcelain: bool,
    pub atomic: bool,
}

impl Default for PushArgs {
    fn default() -> Self {
        PushArgs {
            remote: RemoteArg::Default,
            refspecs: Vec::new(),
            all_branches: false,
            tags: false,
            follow_tags: false,
            delete: false,
            force: false,
            set_upstream: false,
            dry_run: false,
            quiet: false,
            verbose: false,
            porcelain: false,
            atomic: false,
        }
    }
}

/// Parser state for options whose effect depends on later ones (`--no-force-with-lease` cancels a lease
/// but not `-f`; a positional repository overrides `--repo`).
#[derive(Default)]
struct State {
    args: PushArgs,
    repo_opt: Option<String>,
    force_flag: bool,
    lease: bool,
    if_includes: bool,
}

/// Parse the arguments after the word `push`.
///
/// Options may appear anywhere before `--` (git permutes). Unknown or ambiguous options and options that
/// change what runs on the remote or what a push does beyond ref updates are refused here.
pub fn parse_push_args(args: &[String]) -> Result<PushArgs, Denial> {
    let mut st = State::default();
    let mut positional: Vec<&str> = Vec::new();
    let mut end_of_options = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if end_of_options || arg == "-" || !arg.starts_with('-') {
            positional.push(arg);
        } else if arg == "--" {
            end_of_options = true;
        } else if let Some(body) = arg.strip_prefix("--") {
            let m = options::match_long(body)?;
            let value = match (m.spec.arg, m.unset, m.value) {
                (_, true, Some(_)) | (ArgKind::None, false, Some(_)) => {
                    return Err(Denial::new(format!(
                        "git push: option '{}' takes no value",
                        quote(arg)
                    )))
                }
                (ArgKind::Required, false, None) => Some(take_next(args, &mut i, m.spec.long)?),
                (_, _, v) => v,
            };
            apply(&mut st, m.spec.opt, m.unset, value)?;
        } else {
            // A cluster of short options: `-fu`, `-dq`. An option taking a value (`-o`) takes the rest of
            // the cluster or the next argument.
            let cluster = &arg[1..];
            for (pos, c) in cluster.char_indices() {
                let spec = options::short(c)?;
                if spec.arg == ArgKind::Required {
                    let rest = &cluster[pos + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        take_next(args, &mut i, spec.long)?
                    } else {
                        rest.to_string()
                    };
                    apply(&mut st, spec.opt, false, Some(value))?;
                    break;
                }
                apply(&mut st, spec.opt, false, None)?;
            }
        }
    }

    let mut a = st.args;
    a.force = st.force_flag || st.lease || st.if_includes;
    let mut positional = positional.into_iter();
    // As in git, the first positional argument is the repository even when --repo is given.
    let repo = positional.next().map(str::to_string).or(st.repo_opt);
    a.remote = match repo {
        None => RemoteArg::Default,
        Some(r) if r.is_empty() => {
            return Err(Denial::new(
                "git push: empty repository name refused; name a remote such as origin",
            ))
        }
        Some(r) => match RemoteArg::classify(&r) {
            // Git requires a remote name to be a valid ref component; anything else is a typo or a trick.
            RemoteArg::Name(n) => {
                crate::refname::validate(&n).map_err(|e| {
                    Denial::new(format!(
                        "git push: remote name '{}' refused: {e}",
                        quote(&n)
                    ))
                })?;
                RemoteArg::Name(n)
            }
            url => url,
        },
    };
    a.refspecs = positional.map(Refspec::parse).collect::<Result<_, _>>()?;
    Ok(a)
}

fn take_next(args: &[String], i: &mut usize, long: &str) -> Result<String, Denial> {
    match args.get(*i) {
        Some(v) => {
            *i += 1;
            Ok(v.clone())
        }
        None => Err(Denial::new(format!(
            "git push: option '--{long}' requires a value"
        ))),
    }
}

fn refuse(opt: &str, why: &str) -> Denial {
    Denial::new(format!("git push: option '{opt}' refused: {why}"))
}

fn apply(st: &mut State, opt: Opt, unset: bool, value: Option<String>) -> Result<(), Denial> {
    let on = !unset;
    let a = &mut st.args;
    match opt {
        Opt::Verbose => a.verbose = on,
        Opt::Quiet => a.quiet = on,
        Opt::Repo => st.repo_opt = if on { value } else { None },
        Opt::All => a.all_branches = on,
        Opt::Delete => a.delete = on,
        Opt::Tags => a.tags = on,
        Opt::DryRun => a.dry_run = on,
        Opt::Porcelain => a.porcelain = on,
        Opt::SetUpstream => a.set_upstream = on,
        Opt::Atomic => a.atomic = on,
        Opt::FollowTags => a.follow_tags = on,
        Opt::Force => st.force_flag = on,
        // The lease's value (`ref[:expect]`) does not matter: any lease permits a non-fast-forward update,
        // which is what ALLOW_FORCE_PUSH governs.
        Opt::ForceWithLease => st.lease = on,
        // On its own git ignores it; counted as force anyway, because it only exists to qualify one.
        Opt::ForceIfIncludes => st.if_includes = on,
        // Transport details the agent decides for itself.
        Opt::Thin | Opt::Progress | Opt::NoVerify | Opt::Ipv4 | Opt::Ipv6 => {}
        // The `--no-` forms below only switch the dangerous behaviour off, so they are harmless.
        _ if unset => {}
        Opt::Mirror => {
            return Err(Denial::new(
                "git push --mirror refused: it would force-update and delete every remote ref",
            ))
        }
        Opt::ReceivePack | Opt::Exec => {
            return Err(refuse(
                if opt == Opt::Exec {
                    "--exec"
                } else {
                    "--receive-pack"
                },
                "it changes what runs on the remote",
            ))
        }
        Opt::PushOption => {
            return Err(refuse(
                "--push-option",
                "push options are handed to the server's hooks and are not supported",
            ))
        }
        Opt::Signed => {
            return Err(refuse(
                "--signed",
                "signed pushes would run a signing program and are not supported",
            ))
        }
        Opt::Prune => {
            return Err(refuse(
                "--prune",
                "it deletes remote branches that have no local counterpart",
            ))
        }
        Opt::RecurseSubmodules => {
            let v = value.unwrap_or_default().to_ascii_lowercase();
            if !matches!(v.as_str(), "no" | "false" | "off" | "0") {
                return Err(refuse(
                    "--recurse-submodules",
                    "pushing submodules is not supported (only --recurse-submodules=no)",
                ));
            }
        }
    }
    Ok(())
}

/// What resolution needs from the workspace repository. The agent implements it by reading the
/// repository read-only.
pub trait LocalRepo {
    /// Short name of the current branch; `None` when HEAD is detached.
    fn current_branch(&self) -> Option<String>;
    /// Short names of local branches.
    fn local_branches(&self) -> Vec<String>;
    /// Short names of local tags.
    fn local_tags(&self) -> Vec<String>;
    fn has_branch(&self, short: &str) -> bool;
    fn has_tag(&self, short: &str) -> bool;
}

/// A [`LocalRepo`] held in memory: for tests and for callers that already listed the refs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryRepo {
    pub current: Option<String>,
    pub branches: Vec<String>,
    pub tags: Vec<String>,
}

impl LocalRepo for MemoryRepo {
    fn current_branch(&self) -> Option<String> {
        self.current.clone()
    }
    fn local_branches(&self) -> Vec<String> {
        self.branches.clone()
    }
    fn local_tags(&self) -> Vec<String> {
        self.tags.clone()
    }
    fn has_branch(&self, short: &str) -> bool {
        self.branches.iter().any(|b| b == short)
    }
    fn has_tag(&self, short: &str) -> bool {
        self.tags.iter().any(|t| t == short)
    }
}

/// What to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A full local ref: `refs/heads/x`, `refs/tags/t`.
    Ref(String),
    /// `HEAD` (or `@`).
    Head,
    /// A commit expression (sha, `HEAD~1`, `origin/main`, …): the agent resolves it with revparse.
    Expr(String),
}

/// One remote ref update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// `None` deletes `dst`.
    pub src: Option<Source>,
    /// Full remote ref: `refs/heads/…` or `refs/tags/…` (anything else is refused by the policy).
    pub dst: String,
    pub force: bool,
}
