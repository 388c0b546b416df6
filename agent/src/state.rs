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
    /// Audit records that could not be written (disk full, permissions…).
    pub audit_failures: AtomicU64,
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
    /// Wall-clock start: state-dir leftovers older than this belong to no running work.
    pub started_at: std::time::SystemTime,
    pub own_uid: u32,
    /// One async lock per repository slug, serialising mirror refreshes and pushes.
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Open requests per peer uid (per-peer concurrency limit).
    pub per_peer: Mutex<HashMap<u32, usize>>,
    /// Connections that have not sent their Hello yet, per peer uid.
    pub pending: PendingConnections,
    pub connections: Arc<tokio::sync::Semaphore>,
    pub warnings: Vec<String>,
    /// GitHub App mode: mints and refreshes the token (set once at start; see app_token.rs).
    pub app: std::sync::OnceLock<Arc<crate::app_token::AppTokens>>,
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
            started_at: std::time::SystemTime::now(),
            own_uid: nix::unistd::getuid().as_raw(),
            repo_locks: Mutex::new(HashMap::new()),
            per_peer: Mutex::new(HashMap::new()),
            pending: PendingConnections::default(),
            connections: Arc::new(tokio::sync::Semaphore::new(max)),
            warnings,
            app: std::sync::OnceLock::new(),
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

/// Connections waiting for their Hello, oldest first per uid. When a uid has `max` waiting, the
/// oldest is evicted to make room: a flood of idle connections then delays a real client by at
/// most the time it takes that client to send its Hello, instead of locking it out.
#[derive(Default)]
pub struct PendingConnections {
    waiting:
        Mutex<HashMap<u32, std::collections::BTreeMap<u64, tokio_util::sync::CancellationToken>>>,
    next_id: AtomicU64,
}

impl PendingConnections {
    pub fn enter(&self, uid: u32, max: usize) -> PendingSlot<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = tokio_util::sync::CancellationToken::new();
        let mut map = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let queue = map.entry(uid).or_default();
        while queue.len() >= max.max(1) {
            match queue.pop_first() {
                Some((_, oldest)) => oldest.cancel(),
                None => break,
            }
        }
        queue.insert(id, evicted.clone());
        PendingSlot {
            registry: self,
            uid,
            id,
            evicted,
        }
    }

    /// Connections waiting for their Hello, all peers together (for agent-status).
    pub fn count(&self) -> usize {
        let map = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        map.values().map(|q| q.len()).sum()
    }
}

pub struct PendingSlot<'a> {
    registry: &'a PendingConnections,
    uid: u32,
    id: u64,
    evicted: tokio_util::sync::CancellationToken,
}

impl PendingSlot<'_> {
    /// Resolves when a newer connection of the same uid pushed this one out.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await
    }
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        let mut map = self
            .registry
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = map.get_mut(&self.uid) {
            queue.remove(&self.id);
            if queue.is_empty() {
                map.remove(&self.uid);
            }
        }
    }
}
