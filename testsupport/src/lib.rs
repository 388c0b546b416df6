//! Test support servers.

#![recursion_limit = "256"]

pub mod githttp;
pub mod github;
