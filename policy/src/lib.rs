//! gitgate policy (DESIGN §5): a pure library, no I/O.
//!
//! It decides the ref updates git really sends to receive-pack (`wire`: name, old, new, plus the
//! ancestry fact the agent computed) and which repositories and hosts may be used, each refusal
//! with a reason the user can act on and the setting that would allow it. The agent owns every
//! side effect (the network, the pack, its cache); this crate only computes.

pub mod api;
pub mod check;
pub mod config;
pub mod denial;
pub mod refname;
pub mod url;
pub mod wire;

pub use config::{GitAccess, Policy, PolicyConfig, PolicyError};
pub use denial::Denial;
pub use url::{parse_remote_url, RepoRef};
