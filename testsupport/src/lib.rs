//! Test support servers.

pub mod githttp;
