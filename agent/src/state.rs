//! Shared agent state: settings, the compiled policy (swappable on SIGHUP), the token, counters.

use crate::config::Settings;
use crate::redact::Redactor;
use crate::secret::Token;
use gitgate_policy::Policy;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

#[derive(Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    pub errors: AtomicU64,
}

impl Counters {
    pub fn get(&self) -> [u64; 4] {
        [
            self.requests.load(Ordering::Relaxed),
            self.allowed.load(Ordering::Relaxed),
            self.denied.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        ]
    }
}

pub struct AgentState {
    pub settings: RwLock<Arc<Settings>>,
    policy: RwLock<Arc<Policy>>,
    pub token: Arc<Token>,
    pub redactor: Redactor,
    pub counters: Counters,
    pub started: Instant,
    pub own_uid: u32,
    /// One async lock per repository slug, serialising mirror refreshes and pushes.
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Open requests per peer uid (per-peer concurrency limit).
    pub per_peer: Mutex<HashMap<u32, usize>>,
    pub connections: Arc<tokio::sync::Semaphore>,
    pub warnings: Vec<String>,
}

impl AgentState {
    pub fn new(
        settings: Settings,
        policy: Policy,
        token: Token,
        warnings: Vec<String>,
    ) -> AgentState {
        let token = Arc::new(token);
        let max = settings.max_connections;
        AgentState {
            redactor: Redactor::new(token.clone()),
            token,
            settings: RwLock::new(Arc::new(settings)),
            policy: RwLock::new(Arc::new(policy)),
            counters: Counters::default(),
            started: Instant::now(),
            own_uid: nix::unistd::getuid().as_raw(),
            repo_locks: Mutex::new(HashMap::new()),
            per_peer: Mutex::new(HashMap::new()),
            connections: Arc::new(tokio::sync::Semaphore::new(max)),
            warnings,
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Replace settings and policy together (SIGHUP reload). Paths and the token are not reloaded.
    pub fn replace_policy(&self, settings: Settings, policy: Policy) {
        if let Ok(mut s) = self.settings.write() {
            *s = Arc::new(settings);
        }
        if let Ok(mut p) = self.policy.write() {
            *p = Arc::new(policy);
        }
    }

    pub fn repo_lock(&self, slug: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.repo_locks.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(slug.to_ascii_lowercase()).or_default().clone()
    }

    pub fn allowed_uids(&self) -> Vec<u32> {
        self.settings()
            .allowed_uids
            .clone()
            .unwrap_or_else(|| vec![self.own_uid])
    }
}
