//! gitgate-agent: wiring only. See DESIGN.md §4–§8 and the modules for the substance.
#![deny(unsafe_code)]

mod app_token;
mod audit;
mod cli;
mod config;
mod dispatch;
mod error;
mod gateway;
// libgit2's process-wide options are `unsafe fn`s (set once, before any other libgit2 use).
#[allow(unsafe_code)]
mod gitops;
mod hook;
mod housekeeping;
mod log;
mod probe;
mod redact;
// `unsafe` here (and in gitops) only, each with a SAFETY line: the locked secret and the
// process set-up syscalls.
#[allow(unsafe_code)]
mod secret;
mod server;
mod session;
mod state;
mod status;
mod transport;

use std::os::unix::fs::PermissionsExt;
use std::process::ExitCode;
use std::sync::Arc;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("gitgate-agent: {msg}");
    ExitCode::from(2)
}

fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn read_env_file(cli: &cli::Cli) -> Result<Vec<(String, String)>, String> {
    match &cli.env_file {
        None => Ok(vec![]),
        // The file may hold GITHUB_TOKEN: its text is zeroized once parsed, and the token's
        // value is consumed (and zeroized) by `Token::load` or `secret::discard_token_entries`.
        Some(p) => std::fs::read_to_string(p)
            .map(|t| config::parse_env_file(&zeroize::Zeroizing::new(t)))
            .map_err(|e| format!("--env-file '{}': {e}", p.display())),
    }
}

fn main() -> ExitCode {
    // Before the token is read: no core dumps, no ptrace by same-uid processes.
    let hardening = secret::harden_process();
    secret::fixed_mmap_threshold();
    let cli = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Parsed::Run(c)) => c,
        Ok(cli::Parsed::Probe) => {
            return match probe::probe(&probe::socket_path(), probe::TIMEOUT) {
                Ok(()) => ExitCode::SUCCESS,
                Err(why) => {
                    eprintln!("gitgate-agent --probe: {why}");
                    ExitCode::from(1)
                }
            };
        }
        Ok(cli::Parsed::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Parsed::Version) => {
            println!("gitgate-agent {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(format!("{e}\n{}", cli::USAGE)),
    };
    let mut env_file = match read_env_file(&cli) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let token = match secret::Token::load(&mut env_file) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let settings = match config::load(
        cli.config.as_deref(),
        cli.env_file.as_deref(),
        &env_file,
        &process_env(),
    ) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let policy = match settings.policy() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    // GitHub App mode (app_token.rs): exactly one of a personal token or an App.
    let app = match &settings.github_app_private_key_file {
        None => None,
        Some(_) if token.is_loaded() => {
            return fail("GITHUB_TOKEN (or GITHUB_TOKEN_FILE) and GITHUB_APP_ID are both set: configure either a personal token or a GitHub App, not both")
        }
        Some(path) => match secret::AppKey::load_file(path)
            .map_err(|e| e.to_string())
            .and_then(|key| app_token::AppTokens::new(&settings, key))
        {
            Ok(a) => Some(a),
            Err(e) => return fail(e),
        },
    };
    let mut warnings = config::deprecated_settings(&env_file, &process_env());
    if let Err(e) = hardening {
        warnings.push(format!("process hardening incomplete: {e}"));
    }
    if token.mlock_state() == secret::MlockState::Failed {
        if settings.require_mlock {
            return fail(secret::SecretError::MlockRequired);
        }
        warnings.push("mlock failed: the token may be swapped to disk (grant IPC_LOCK or raise RLIMIT_MEMLOCK; REQUIRE_MLOCK=true makes this fatal)".into());
    }
    if !token.is_loaded() && app.is_none() {
        warnings
            .push("no token loaded: push, fetch, clone and gh are refused until GITHUB_TOKEN or GITHUB_TOKEN_FILE is set in .env and the agent restarted".into());
    }
    if cli.check {
        println!("gitgate-agent: configuration OK");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::create_dir_all(&settings.state_dir).and_then(|()| {
        std::fs::set_permissions(&settings.state_dir, std::fs::Permissions::from_mode(0o750))
    }) {
        return fail(format!(
            "GITGATE_STATE_DIR: cannot create '{}': {e}",
            settings.state_dir.display()
        ));
    }
    if let Err(e) = gitops::init_libgit2(
        &settings.state_dir.join("empty-config"),
        std::time::Duration::from_secs(settings.connect_timeout_secs),
        std::time::Duration::from_secs(settings.io_timeout_secs),
    ) {
        return fail(format!("libgit2 initialisation failed: {e}"));
    }
    // Logged once listening (they are events, not standing warnings for agent-status).
    let mut notes = Vec::new();
    match audit_repair(&settings) {
        Ok(0) => {}
        Ok(n) => notes.push(format!(
            "audit log: removed a record of {n} bytes cut short by a crash"
        )),
        Err(e) => notes.push(format!("audit log: cannot check it: {e}")),
    }
    // Leftovers of a crash (lock files, temp packs, push scratch dirs): all older than this start.
    for path in housekeeping::sweep(&settings.state_dir, std::time::SystemTime::now()) {
        notes.push(format!(
            "removed a leftover of an interrupted operation: {}",
            path.display()
        ));
    }
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let state = Arc::new(state::AgentState::new(settings, policy, token, warnings));
    if let Some(a) = app {
        let _ = state.app.set(a);
    }
    let code = runtime.block_on(run(state, cli, notes));
    // Blocking work still stuck after the grace period (a hung upstream) must not keep the
    // process alive: leave it behind.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

fn audit_repair(settings: &config::Settings) -> std::io::Result<u64> {
    audit::repair_tail(&settings.audit_log_path())
}

/// Thousands of clients at once need thousands of descriptors: lift the soft limit to the hard
/// one (bounded). Past it, accept() backs off instead of failing (server.rs).
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(65_536);
        if want > soft {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

async fn run(state: Arc<state::AgentState>, cli: cli::Cli, notes: Vec<String>) -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    // GitHub App mode: mint before serving (bounded by the network timeouts). A failure is logged
    // and shown by agent-status; the schedule below keeps retrying.
    if let Some(app) = state.app.get() {
        if let Err(e) = app.refresh(&state).await {
            log::warn(&state, &format!("GitHub App token not minted: {e}"));
        }
    }
    // Before the socket exists: a client may signal the agent as soon as it can connect (SIGHUP's
    // default action would end the process).
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return fail("cannot install signal handlers");
    };
    let settings = state.settings();
    // The API socket first: once the git socket exists (what launchers and tests wait for), both
    // do (connections wait in the backlog until the gateway serves).
    let api_socket = settings.api_socket_path();
    let api_listener = match gateway::bind(&api_socket) {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "GITGATE_API_SOCKET: cannot listen on '{}': {e}",
                api_socket.display()
            ))
        }
    };
    let listener = match server::bind(&settings.socket) {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "GITGATE_SOCKET: cannot listen on '{}': {e}",
                settings.socket.display()
            ))
        }
    };
    for w in &state.warnings {
        log::warn(&state, w);
    }
    for n in &notes {
        log::info(&state, n);
    }
    log::info(
        &state,
        &format!(
            "listening on {} (pid {})",
            settings.socket.display(),
            std::process::id()
        ),
    );
    // GitHub App mode: mint before serving (a failure is logged and shown by agent-status; the
    // schedule keeps retrying), then refresh on schedule until shutdown.
    let app_stop = tokio_util::sync::CancellationToken::new();
    let app_task = state
        .app
        .get()
        .cloned()
        .map(|app| tokio::spawn(app.run(state.clone(), app_stop.clone())));
    let shutdown = server::Shutdown::default();
    let server = tokio::spawn(server::serve(state.clone(), listener, shutdown.clone()));
    // The gh API gateway on its own socket, stopped and awaited with the git server. Its HTTP
    // client (and its CA roots) is built after the git socket listens: not on the cold-start path.
    let gateway = match gateway::Gateway::new(state.clone()) {
        Ok(gw) => gw.serve_on(api_listener, &shutdown),
        Err(e) => {
            return fail(format!(
                "GITGATE_API_SOCKET: cannot serve on '{}': {e}",
                api_socket.display()
            ))
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&state, &cli),
        }
    }
    stop(&state, &shutdown, server).await;
    let _ = gateway.await;
    app_stop.cancel();
    if let Some(t) = app_task {
        let _ = t.await;
    }
    if let Some(app) = state.app.get() {
        app.revoke_current(&state).await;
    }
    let _ = std::fs::remove_file(&settings.socket);
    let _ = std::fs::remove_file(&api_socket);
    log::info(&state, "stopped");
    ExitCode::SUCCESS
}

/// SIGTERM/SIGINT: stop accepting at once; let in-flight work finish for most of
/// GITGATE_SHUTDOWN_GRACE_SECS; then cancel what is left (each operation settles and reports
/// honestly what reached upstream) and exit within the grace period either way.
async fn stop(
    state: &state::AgentState,
    shutdown: &server::Shutdown,
    server: tokio::task::JoinHandle<()>,
) {
    let grace = std::time::Duration::from_secs(state.settings().shutdown_grace_secs);
    let started = std::time::Instant::now();
    shutdown.stop_accepting.cancel();
    let _ = server.await;
    shutdown.tracker.close();
    let running = shutdown.tracker.len();
    if running > 0 {
        log::info(
            state,
            &format!(
                "stopping: waiting up to {} s for {running} connection(s) (GITGATE_SHUTDOWN_GRACE_SECS)",
                grace.as_secs()
            ),
        );
    }
    let finish_by = grace.mul_f64(0.75);
    if tokio::time::timeout(finish_by, shutdown.tracker.wait())
        .await
        .is_err()
    {
        log::warn(
            state,
            &format!(
                "stopping: cancelling {} operation(s) still running",
                shutdown.tracker.len()
            ),
        );
        shutdown.abort_work.cancel();
        let left = grace.saturating_sub(started.elapsed());
        if tokio::time::timeout(left, shutdown.tracker.wait())
            .await
            .is_err()
        {
            log::warn(
                state,
                &format!(
                    "stopping: {} operation(s) did not finish within the grace period",
                    shutdown.tracker.len()
                ),
            );
        }
    }
}

/// SIGHUP: re-read the same sources as at start (the TOML file, `--env-file`, the environment).
/// Settings that only apply at start (paths, connection limit, mlock, the token) keep their values
/// and are named in the log line when they differ; an invalid new configuration is rejected and
/// the old one stays in force.
fn reload(state: &state::AgentState, cli: &cli::Cli) {
    let result = read_env_file(cli).and_then(|mut env_file| {
        let token_changed = secret::token_entries_differ(&state.token, &env_file);
        // The token is never re-read: drop (and zeroize) its entries.
        secret::discard_token_entries(&mut env_file);
        let new = config::load(
            cli.config.as_deref(),
            cli.env_file.as_deref(),
            &env_file,
            &process_env(),
        )
        .map_err(|e| e.to_string())?;
        let policy = new.policy().map_err(|e| e.to_string())?;
        Ok((new, policy, token_changed))
    });
    match result {
        Ok((mut new, policy, token_changed)) => {
            let old = state.settings();
            let mut pinned = config::keep_restart_only(&old, &mut new);
            if token_changed {
                pinned.push("GITHUB_TOKEN");
            }
            let changed = config::changed_settings(&old, &new);
            state.replace_policy(new, policy);
            // GitHub App mode: the token is restricted to ALLOWED_REPOS, so mint one for the new list.
            if let Some(app) = state
                .app
                .get()
                .filter(|_| changed.contains(&"ALLOWED_REPOS"))
            {
                app.request_refresh();
            }
            let mut line = String::from("configuration reloaded (SIGHUP): ");
            if changed.is_empty() {
                line.push_str("no setting changed");
            } else {
                line.push_str(&format!("changed {}", changed.join(", ")));
            }
            if !pinned.is_empty() {
                line.push_str(&format!(
                    "; not applied until the agent restarts: {}",
                    pinned.join(", ")
                ));
            }
            log::info(state, &line);
        }
        Err(e) => log::warn(
            state,
            &format!("reload rejected, keeping the previous configuration: {e}"),
        ),
    }
}
