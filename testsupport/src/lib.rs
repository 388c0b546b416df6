//! Test support servers.
