//! gitgate policy (see DESIGN §7): a pure library, no I/O.
//!
//! It turns the argv of `git push` into typed ref updates the way git resolves them, and decides for each
//! update whether the configured policy allows it, with a reason the user can act on. The agent owns every
//! side effect (reading the workspace, talking to the network); this crate only computes.
//!
//! The resolution here is authoritative: the agent pushes exactly the fully-qualified `dst` refs resolved
//! here (`<oid>:refs/heads/B`), never the client's refspecs, so anything git would guess from the remote's
//! refs (which we cannot see) is decided here, conservatively.

pub mod check;
pub mod config;
pub mod denial;
pub mod gh;
pub mod push;
pub mod refname;
pub mod url;
pub mod wire;

pub use config::{Policy, PolicyConfig, PolicyError};
pub use denial::Denial;
pub use push::{
    parse_pre_push_line, parse_push_args, resolve, LocalRepo, MemoryRepo, PushArgs, RefUpdate,
    Refspec, RemoteArg, Source,
};
pub use url::{parse_remote_url, RepoRef};
