#!/usr/bin/env bash
# run.sh: launcher for gitgate.
#
# Container mode (default): the agent (holds the token), the AI container (Claude Code, the shim
# as git/gh) and the egress proxy (Squid: the AI container's only way out, to ALLOWED_EGRESS) run
# under docker compose, docker-compose or podman compose.
# Native mode (--native): no containers; the agent runs in the background on this machine and
# ./.gitgate/bin holds git/gh/agent-status symlinks to the shim.
#
# Settings are read from .env (GITGATE_ENV_FILE overrides the path). The file is parsed as
# KEY=VALUE lines, never executed. Run ./run.sh --help for the commands.
#
# Portable to bash 3.2 (macOS /bin/bash): no associative arrays, mapfile or ${x,,}.
set -eu

PROG=run.sh

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

usage() {
	cat <<'EOF'
Usage: ./run.sh [--native] [COMMAND]

Container mode (docker compose, docker-compose or podman compose):
  ./run.sh            build images if needed, start the agent, attach Claude Code in the AI container
  ./run.sh --build    (re)build both images, then exit
  ./run.sh --shell    start the agent and open a shell in the AI container
  ./run.sh --stop     stop and remove the containers (volumes with the mirrors are kept)
  ./run.sh --logs     follow the agent's logs
  ./run.sh --logs egress  follow the egress proxy's access log (one line per request, allowed or
                      denied: TCP_TUNNEL/200 CONNECT api.anthropic.com:443, TCP_DENIED/403 ...)
  ./run.sh --status   container state, the egress allowlist in effect, and agent-status run
                      inside the AI container
  ./run.sh --reload   apply an edited .env to the running agent without a restart (SIGHUP; the
                      agent reads .env itself, mounted read-only). The policy and the other
                      settings reload; the token, GITGATE_* paths, GITGATE_MAX_CONNECTIONS, the
                      network timeouts and REQUIRE_MLOCK need a restart: ./run.sh --stop && ./run.sh
                      (./run.sh itself recreates the agent container when .env changed.)
                      An edited ALLOWED_EGRESS is applied to the running proxy too.
  ./run.sh --egress-config  print the Squid configuration rendered from ALLOWED_EGRESS, then exit

Native mode (no container engine; the agent runs as you, in the background):
  ./run.sh --native           build (cargo), start the agent, print the export line to use the shim:
                                eval "$(./run.sh --native)"
  ./run.sh --native --shell   same, then a shell ($SHELL) with that PATH
  ./run.sh --native --status  agent-status through the shim (exit non-zero if not running)
  ./run.sh --native --logs    follow the agent's log
  ./run.sh --native --stop    stop the agent (SIGTERM)
  ./run.sh --native --restart stop the agent if it runs, then start it as above
  ./run.sh --native --reload  apply an edited .env without a restart (SIGHUP; prints the agent's
                                reload line: what changed, what needs --restart)
  ./run.sh --native --build   only build the binaries
  When the agent already runs, ./run.sh --native compares .env (and the settings in the
  environment) with those it was started with, and restarts it if they differ.
  Native defaults: state, socket and log under <dir of run.sh>/.gitgate (the agent never
  reads the workspace: the AI works wherever it likes). The agent runs as you: the AI, also running as you, can read .env
  and the token. Native mode is for trying gitgate and for an AI running as another user;
  the containers are the boundary.

Settings: .env next to run.sh (start with: cp .env.example .env). Environment:
  GITGATE_ENV_FILE     path of the settings file (default: <dir of run.sh>/.env)
  CONTAINER_ENGINE     docker | docker-compose | podman (default: auto-detect in that order)
  GITGATE_PROJECT      compose project name (default: gitgate)
  GITGATE_NATIVE_DIR   native mode state dir (default: <dir of run.sh>/.gitgate)
  GITGATE_BIN_DIR      native mode: use gitgate-agent/gitgate-shim from this dir, do not build
  GITGATE_START_TIMEOUT seconds to wait for the native agent's socket (default: 10)
  GITGATE_EGRESS_CONF  where run.sh writes the egress proxy's squid.conf
                       (default: <dir of run.sh>/.gitgate/egress-<project>.squid.conf)
EOF
}

# ---------------------------------------------------------------------------------------------
# Paths

case $0 in
*/*) ROOT=${0%/*} ;;
*) ROOT=. ;;
esac
ROOT=$(cd "$ROOT" && pwd -P)

abspath() { # make $1 absolute (relative to the current directory); no need for it to exist
	case $1 in
	/*) printf '%s' "$1" ;;
	*) printf '%s/%s' "$(pwd -P)" "$1" ;;
	esac
}

ENV_FILE=$(abspath "${GITGATE_ENV_FILE:-$ROOT/.env}")
# Where containers/compose.yaml mounts $ENV_FILE (read-only) in the agent container.
AGENT_ENV_FILE=/etc/gitgate/gitgate.env
COMPOSE_FILE_MAIN=$ROOT/containers/compose.yaml
PROJECT=${GITGATE_PROJECT:-gitgate}

# ---------------------------------------------------------------------------------------------
# .env reading (never sourced: values are data)

# dotenv_unquote VALUE: the value part of a KEY=VALUE line, read exactly as the agent's
# --env-file parser does (agent/src/config.rs parse_env_file): trimmed; if it is wrapped in a pair
# of double or single quotes, they are removed (no escapes); otherwise a " #" starts a comment.
dotenv_unquote() {
	local v=$1
	v=${v#"${v%%[![:space:]]*}"}
	v=${v%"${v##*[![:space:]]}"}
	case $v in
	\"*\" | \'*\')
		if [ "${#v}" -ge 2 ]; then
			v=${v:1:${#v}-2}
			printf '%s' "$v"
			return
		fi
		;;
	esac
	case $v in
	*" #"*)
		v=${v%%" #"*}
		v=${v%"${v##*[![:space:]]}"}
		;;
	esac
	printf '%s' "$v"
}

# dotenv_get KEY: print the value of the last KEY= line of $ENV_FILE; status 1 if absent.
dotenv_get() {
	local key=$1 line k found=1 out=''
	[ -f "$ENV_FILE" ] || return 1
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		line=${line#"${line%%[![:space:]]*}"}
		case $line in
		'' | '#'*) continue ;;
		'export '*) line=${line#'export '} ;;
		esac
		case $line in
		*=*) ;;
		*) continue ;;
		esac
		k=${line%%=*}
		k=${k%"${k##*[![:space:]]}"}
		[ "$k" = "$key" ] || continue
		out=$(dotenv_unquote "${line#*=}")
		found=0
	done <"$ENV_FILE"
	[ "$found" = 0 ] || return 1
	printf '%s' "$out"
}

# setting KEY: the effective value: from the environment if set there, else from .env; status 1
# when set in neither.
# (The agent layers its environment above --env-file in native mode.) In container mode only .env
# reaches the agent, so use dotenv_get there.
setting() {
	local key=$1
	if [ -n "${!key+x}" ]; then
		printf '%s' "${!key}"
	else
		dotenv_get "$key"
	fi
}

# sha256_of: a digest of stdin (sha256sum, shasum or, lacking both, cksum); status 1 with none.
sha256_of() {
	local out
	if command -v sha256sum >/dev/null 2>&1; then
		out=$(sha256sum) || return 1
	elif command -v shasum >/dev/null 2>&1; then
		out=$(shasum -a 256) || return 1
	elif command -v cksum >/dev/null 2>&1; then
		out=$(cksum) || return 1
	else
		return 1
	fi
	printf '%s' "${out%% *}"
}

# settings_digest [ENV...]: a digest of what the agent reads besides its command line: the
# settings file, the token file it names, and the given environment names when set. It contains
# the token, so only the digest is kept (native: in the 0700 native dir).
settings_digest() {
	local tokfile k
	{
		printf 'file:\n'
		[ ! -f "$ENV_FILE" ] || cat "$ENV_FILE"
		tokfile=$(setting GITHUB_TOKEN_FILE || true)
		case $tokfile in
		'') ;;
		/*) [ ! -r "$tokfile" ] || { printf '\ntoken file:\n' && cat "$tokfile"; } ;;
		*) [ ! -r "${ENV_FILE%/*}/$tokfile" ] || { printf '\ntoken file:\n' && cat "${ENV_FILE%/*}/$tokfile"; } ;;
		esac
		printf '\nenvironment:\n'
		for k in "$@"; do
			[ -z "${!k+x}" ] || printf '%s=%s\n' "$k" "${!k}"
		done
	} | sha256_of
}

# The settings the agent reads from its environment (agent/src/config.rs ENV_KEYS, the token),
# except those run.sh sets itself.
AGENT_ENV_NAMES="GITHUB_TOKEN GITHUB_TOKEN_FILE BLOCKED_BRANCHES ALLOWED_BRANCH_PATTERNS ALLOW_FORCE_PUSH
ALLOW_DELETE_REMOTE ALLOW_TAG_PUSH ALLOW_PR_MERGE ALLOWED_REPOS ALLOWED_HOSTS ALLOWED_UIDS AUDIT_LOG
AUDIT_MAX_BYTES AUDIT_KEEP REQUIRE_MLOCK GITHUB_API_URL GITGATE_ALLOW_HTTP_LOOPBACK
GITGATE_MAX_CONNECTIONS GITGATE_MAX_PER_PEER GITGATE_MAX_PENDING_PER_PEER GITGATE_HELLO_TIMEOUT_MS
GITGATE_OP_TIMEOUT_SECS GITGATE_SHUTDOWN_GRACE_SECS GITGATE_CONNECT_TIMEOUT_SECS
GITGATE_IO_TIMEOUT_SECS"

# ---------------------------------------------------------------------------------------------
# Validation

# is_json_string_array VALUE: a JSON array whose elements are all strings, e.g. [] or ["a","b/*"].
is_json_string_array() {
	(
		LC_ALL=C
		ws='[[:space:]]*'
		str='"([^"\\[:cntrl:]]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"'
		re="^${ws}\\[${ws}(${str}(${ws},${ws}${str})*)?${ws}\\]${ws}\$"
		[[ $1 =~ $re ]]
	)
}

# validate_settings GETTER: check what the agent would refuse (agent/src/config.rs), before
# starting anything. GETTER KEY prints a setting's value, status 1 when it is not set at all.
validate_settings() {
	local get=$1 key val
	for key in BLOCKED_BRANCHES ALLOWED_BRANCH_PATTERNS ALLOWED_REPOS ALLOWED_HOSTS; do
		val=$("$get" "$key") || continue # not set: the agent's default
		[ -n "$val" ] ||
			die "$key is empty (in $ENV_FILE); set a JSON array of strings like [\"main\",\"release/*\"], or remove the line for the default"
		is_json_string_array "$val" ||
			die "$key must be a JSON array of strings, like [\"main\",\"release/*\"] (in $ENV_FILE); got: $val"
	done
	for key in ALLOW_FORCE_PUSH ALLOW_DELETE_REMOTE ALLOW_TAG_PUSH ALLOW_PR_MERGE REQUIRE_MLOCK; do
		val=$("$get" "$key") || continue
		case $(printf '%s' "$val" | tr '[:upper:]' '[:lower:]') in
		'' | true | false | 1 | 0 | yes | no | on | off) ;;
		*) die "$key must be true or false (in $ENV_FILE); got: $val" ;;
		esac
	done
}

# ---------------------------------------------------------------------------------------------
# Egress (container mode): the AI container is on an internal network only; its one way out is
# the egress proxy, which allows HTTPS (CONNECT to port 443) and plain HTTP (port 80) to the names
# in ALLOWED_EGRESS and nothing else. containers/egress/squid-conf.sh checks the list and renders
# the proxy's squid.conf; run.sh writes it under .gitgate/ and compose mounts it read-only.

EGRESS_SCRIPT=$ROOT/containers/egress/squid-conf.sh
# What Claude Code itself needs (the API, its telemetry and error reporting). Keep it in step with
# .env.example and README.md.
DEFAULT_ALLOWED_EGRESS='["api.anthropic.com","statsig.anthropic.com","statsig.com","sentry.io"]'
# Where the rendered squid.conf goes (GITGATE_EGRESS_CONF, environment only, overrides).
EGRESS_CONF=$(abspath "${GITGATE_EGRESS_CONF:-$ROOT/.gitgate/egress-$PROJECT.squid.conf}")
EGRESS_LIST=''

EGRESS_MODE=''
# egress_mode: set EGRESS_MODE to on or off (EGRESS in .env; default on), or die. (Not in $(...):
# die must end run.sh.)
egress_mode() {
	local val
	val=$(dotenv_get EGRESS || true)
	case $(printf '%s' "$val" | tr '[:upper:]' '[:lower:]') in
	'' | on | true | 1 | yes) EGRESS_MODE=on ;;
	off | false | 0 | no) EGRESS_MODE=off ;;
	*) die "EGRESS must be on or off (in $ENV_FILE); got: $val" ;;
	esac
}

# egress_json: ALLOWED_EGRESS from .env, or the default when the line is absent.
egress_json() {
	dotenv_get ALLOWED_EGRESS || printf '%s' "$DEFAULT_ALLOWED_EGRESS"
}

# validate_egress: check ALLOWED_EGRESS (and EGRESS); EGRESS_LIST gets the normalised allowlist.
validate_egress() {
	local out
	egress_mode
	[ -r "$EGRESS_SCRIPT" ] || die "missing $EGRESS_SCRIPT (part of gitgate; restore it with git checkout)"
	out=$(bash "$EGRESS_SCRIPT" --check "$(egress_json)" 2>&1) || die "$out (in $ENV_FILE)"
	EGRESS_LIST=$out
}

# render_egress: write the proxy's squid.conf to $EGRESS_CONF (in place, so a running proxy's
# bind mount sees the new content on SIGHUP).
render_egress() {
	local conf
	conf=$(bash "$EGRESS_SCRIPT" "$(egress_json)") || die "could not render the egress configuration from ALLOWED_EGRESS (in $ENV_FILE)"
	mkdir -p "${EGRESS_CONF%/*}"
	printf '%s\n' "$conf" >"$EGRESS_CONF" || die "could not write $EGRESS_CONF"
	chmod 0644 "$EGRESS_CONF"
}

# egress_in_effect: the allowlist of the rendered configuration (what the proxy was given).
egress_in_effect() {
	[ -f "$EGRESS_CONF" ] || return 1
	sed -n 's/^acl allowed_egress dstdomain -n //p' "$EGRESS_CONF"
}

egress_off_warning() {
	warn "EGRESS=off (in $ENV_FILE): the AI container has direct network access to everything, GitHub included; nothing limits where it can send your code. Remove EGRESS=off to restore the allowlist (ALLOWED_EGRESS)"
}

# egress_status: what --status says about egress (never fatal: agent-status still runs).
egress_status() {
	local list now
	if [ "$EGRESS_MODE" = off ]; then
		egress_off_warning
		return 0
	fi
	if ! now=$(bash "$EGRESS_SCRIPT" --check "$(egress_json)" 2>&1); then
		warn "$now (in $ENV_FILE); ./run.sh will refuse to start until it is fixed"
		now='?'
	fi
	now=$(printf '%s' "$now" | tr '\n' ' ')
	if list=$(egress_in_effect); then
		[ -n "$list" ] || list='(nothing: ALLOWED_EGRESS is [])'
		say "egress proxy: the AI container may reach only (HTTPS on 443, HTTP on 80): $list"
		say "  (from $EGRESS_CONF; ./run.sh --logs egress shows each request)"
		[ "$now" = "$list" ] || [ "$now" = '?' ] || { [ -z "$now" ] && [ "$list" = '(nothing: ALLOWED_EGRESS is [])' ]; } ||
			warn "ALLOWED_EGRESS in $ENV_FILE differs from the list in effect; apply it: ./run.sh --reload"
	else
		say "egress proxy: not started yet; ALLOWED_EGRESS allows: ${now:-(nothing)}"
	fi
}

# ---------------------------------------------------------------------------------------------
# Container mode

ENGINE_NAME=''
ENGINE=()
detect_engine() {
	local want=${CONTAINER_ENGINE:-}
	if [ -z "$want" ]; then
		want=$(dotenv_get CONTAINER_ENGINE || true)
	fi
	case $want in
	'')
		if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
			ENGINE_NAME=docker
		elif command -v docker-compose >/dev/null 2>&1; then
			ENGINE_NAME=docker-compose
		elif command -v podman >/dev/null 2>&1 && podman compose version >/dev/null 2>&1; then
			ENGINE_NAME='podman compose'
		elif command -v podman-compose >/dev/null 2>&1; then
			ENGINE_NAME=podman-compose
		else
			die "no container engine found (looked for: docker compose, docker-compose, podman compose, podman-compose); install one, or run without containers: ./run.sh --native"
		fi
		;;
	docker)
		command -v docker >/dev/null 2>&1 || die "CONTAINER_ENGINE=docker but docker is not on PATH"
		docker compose version >/dev/null 2>&1 ||
			die "CONTAINER_ENGINE=docker but the docker compose plugin is missing (install it, or set CONTAINER_ENGINE=docker-compose)"
		ENGINE_NAME=docker
		;;
	docker-compose)
		command -v docker-compose >/dev/null 2>&1 || die "CONTAINER_ENGINE=docker-compose but docker-compose is not on PATH"
		ENGINE_NAME=docker-compose
		;;
	podman)
		if command -v podman >/dev/null 2>&1 && podman compose version >/dev/null 2>&1; then
			ENGINE_NAME='podman compose'
		elif command -v podman-compose >/dev/null 2>&1; then
			ENGINE_NAME=podman-compose
		else
			die "CONTAINER_ENGINE=podman but neither 'podman compose' nor podman-compose works"
		fi
		;;
	*) die "CONTAINER_ENGINE must be docker, docker-compose or podman; got: $want" ;;
	esac
	case $ENGINE_NAME in
	docker) ENGINE=(docker compose) ;;
	'podman compose') ENGINE=(podman compose) ;;
	*) ENGINE=("$ENGINE_NAME") ;;
	esac
}

# compose ARGS...: run the engine's compose with our files, project and env file.
COMPOSE_FILES=()
compose() {
	"${ENGINE[@]}" "${COMPOSE_FILES[@]}" -p "$PROJECT" --env-file "$ENV_FILE" "$@"
}
exec_compose() {
	exec "${ENGINE[@]}" "${COMPOSE_FILES[@]}" -p "$PROJECT" --env-file "$ENV_FILE" "$@"
}

TOKEN_FILE=''
# Everything compose.yaml interpolates, exported (the shell environment wins over --env-file).
prepare_compose() {
	local ws uid gid tokfile
	[ -f "$ENV_FILE" ] || die "no settings file at $ENV_FILE; create it: cp .env.example .env, then edit it (GITHUB_TOKEN, ALLOWED_REPOS)"
	COMPOSE_FILES=(-f "$COMPOSE_FILE_MAIN")

	uid=${PUID:-$(dotenv_get PUID || true)}
	gid=${PGID:-$(dotenv_get PGID || true)}
	[ -n "$uid" ] || uid=$(id -u)
	[ -n "$gid" ] || gid=$(id -g)
	case $uid$gid in
	*[!0-9]*) die "PUID and PGID must be numbers; got: PUID=$uid PGID=$gid" ;;
	esac
	[ "$uid" != 0 ] || warn "PUID=0: Claude Code will run as root in the AI container"

	ws=${WORKSPACE_DIR:-$(dotenv_get WORKSPACE_DIR || true)}
	[ -n "$ws" ] || ws=$ROOT
	# shellcheck disable=SC2088 # a literal ~ from .env, expanded here
	case $ws in
	'~') ws=$HOME ;;
	'~/'*) ws=$HOME/${ws#'~/'} ;;
	/*) ;;
	*) ws=$ROOT/$ws ;;
	esac
	[ -d "$ws" ] || die "WORKSPACE_DIR is not a directory: $ws"
	ws=$(cd "$ws" && pwd -P)

	# GITHUB_TOKEN_FILE (used by the agent only when GITHUB_TOKEN is empty) becomes a compose secret.
	tokfile=$(dotenv_get GITHUB_TOKEN_FILE || true)
	if [ -n "$tokfile" ] && [ -z "$(dotenv_get GITHUB_TOKEN || true)" ]; then
		case $tokfile in
		/*) ;;
		*) tokfile=$(cd "${ENV_FILE%/*}" && abspath "$tokfile") ;;
		esac
		COMPOSE_FILES+=(-f "$ROOT/containers/compose.token-file.yaml")
		TOKEN_FILE=$tokfile
		export GITHUB_TOKEN_FILE="$tokfile"
	fi
	case $ENGINE_NAME in
	podman*) COMPOSE_FILES+=(-f "$ROOT/containers/compose.podman.yaml") ;;
	esac
	# EGRESS=off: the AI container joins the outside network and gets no proxy settings.
	egress_mode
	[ "$EGRESS_MODE" = on ] || COMPOSE_FILES+=(-f "$ROOT/containers/compose.egress-off.yaml")
	GITGATE_EGRESS_HASH=$(egress_json | sha256_of) || GITGATE_EGRESS_HASH=unknown
	export GITGATE_EGRESS_CONF="$EGRESS_CONF" GITGATE_EGRESS_HASH
	# The agent reads .env itself (mounted at $AGENT_ENV_FILE); its digest, as a label, makes
	# "up -d" recreate the agent container when .env (or the token file) changed.
	GITGATE_ENV_HASH=$(settings_digest) || GITGATE_ENV_HASH=unknown
	export PUID="$uid" PGID="$gid" WORKSPACE_DIR="$ws" GITGATE_ENV_FILE="$ENV_FILE" GITGATE_ENV_HASH
}

# The agent (uid 10001 in its container) reads .env through a read-only bind mount, so the file
# must be readable by that uid. Warn (uid mappings differ between engines) with the fix.
check_env_readable() {
	local mode gid
	# shellcheck disable=SC2012,SC2046 # the words of ls -ln for one known file: mode and group
	set -- $(ls -lnL "$ENV_FILE" 2>/dev/null)
	mode=${1:-} gid=${4:-}
	case $mode in
	???????r*) return 0 ;;
	????r*) [ "$gid" != 10001 ] || return 0 ;;
	esac
	warn "$ENV_FILE is not readable by the agent's uid 10001 in its container (mode $mode, group $gid); the agent reads it there. Let only that uid's group read it: sudo chgrp 10001 '$ENV_FILE' && chmod 0640 '$ENV_FILE'"
}

# The agent refuses to start without a token, so check before starting anything.
check_token() {
	local tok tokfile
	tok=$(dotenv_get GITHUB_TOKEN || true)
	tokfile=$(dotenv_get GITHUB_TOKEN_FILE || true)
	if [ -z "$tok" ] && [ -z "$tokfile" ]; then
		die "GITHUB_TOKEN is not set in $ENV_FILE (set GITHUB_TOKEN=<token>, or GITHUB_TOKEN_FILE=<path of a file holding it>)"
	fi
	if [ -z "$tok" ] && [ ! -r "$TOKEN_FILE" ]; then
		die "GITHUB_TOKEN_FILE=$TOKEN_FILE (from $ENV_FILE) is not a readable file"
	fi
}

container_main() {
	local action=$1 rc
	detect_engine
	prepare_compose
	case $action in
	start | shell)
		check_token
		validate_settings dotenv_get
		validate_egress
		check_env_readable
		# The agent's own validator, in its image, with the same environment (builds the image the
		# first time): every setting, named in its message, before anything is left running.
		compose run --rm --no-deps -T agent --env-file "$AGENT_ENV_FILE" --check ||
			die "the agent refused the settings in $ENV_FILE (its message is above)"
		render_egress
		if [ "$EGRESS_MODE" = on ]; then
			compose up -d agent egress
		else
			egress_off_warning
			compose up -d agent
		fi
		if [ "$action" = start ]; then
			exec_compose run --rm claude
		else
			exec_compose run --rm claude bash
		fi
		;;
	reload)
		validate_settings dotenv_get
		validate_egress
		check_env_readable
		compose run --rm --no-deps -T agent --env-file "$AGENT_ENV_FILE" --check ||
			die "the agent refused the settings in $ENV_FILE (its message is above); the running agent keeps its configuration"
		compose kill -s SIGHUP agent ||
			die "could not signal the agent container (is it running? ./run.sh --status)"
		say "sent SIGHUP: the agent re-read $ENV_FILE; its log line says what changed and what needs a restart (./run.sh --logs; restart: ./run.sh --stop && ./run.sh)"
		if [ "$EGRESS_MODE" = on ]; then
			# Squid re-reads its (bind-mounted, rewritten in place) configuration on SIGHUP.
			render_egress
			if compose kill -s SIGHUP egress; then
				say "sent SIGHUP to the egress proxy: it now allows $(printf '%s' "$EGRESS_LIST" | tr '\n' ' ')"
			else
				warn "could not signal the egress proxy (is it running? ./run.sh --status); the new ALLOWED_EGRESS applies at the next ./run.sh"
			fi
		else
			egress_off_warning
		fi
		;;
	build) exec_compose build ;;
	stop) exec_compose down ;;
	logs) exec_compose logs -f "$LOGS_OF" ;;
	status)
		compose ps || true
		egress_status
		rc=0
		compose run --rm --no-deps -T claude agent-status || rc=$?
		exit "$rc"
		;;
	esac
}

# ---------------------------------------------------------------------------------------------
# Native mode

NATIVE_DIR=$(abspath "${GITGATE_NATIVE_DIR:-$ROOT/.gitgate}")
PID_FILE=$NATIVE_DIR/agent.pid
SOCKET=$NATIVE_DIR/agent.sock
LOG_FILE=$NATIVE_DIR/agent.log
# What the running agent was started with (no secret: the settings only as a digest).
LAUNCH_FILE=$NATIVE_DIR/agent.launch
AGENT_BIN=''
SHIM_BIN=''

# alive PID: the process exists and is not a zombie (an exited agent stays a zombie until init,
# its parent after run.sh exits, reaps it).
alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
		stat=${stat##*) }
		case $stat in Z* | X*) return 1 ;; esac
	fi
	return 0
}

# The pid in the pid file, if that process is alive and is the agent (not a recycled pid).
running_pid() {
	local pid cmd
	[ -f "$PID_FILE" ] || return 1
	pid=$(cat "$PID_FILE" 2>/dev/null || true)
	case $pid in
	'' | *[!0-9]*) return 1 ;;
	esac
	alive "$pid" || return 1
	if [ -r "/proc/$pid/cmdline" ]; then
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
		case $cmd in
		*gitgate-agent*) ;;
		*) return 1 ;;
		esac
	fi
	printf '%s' "$pid"
}

# The static shim's target, the host's musl twin (x86_64-unknown-linux-gnu -> ...-linux-musl), on
# stdout; status 0 when rustc has that target's standard library (rustup target add ...), 2 when it
# does not, 1 when the host is not *-linux-gnu (then there is nothing to say).
musl_target() {
	local host sysroot
	host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
	case $host in *-linux-gnu) ;; *) return 1 ;; esac
	printf '%s' "${host%-gnu}-musl"
	sysroot=$(rustc --print sysroot 2>/dev/null) || return 2
	[ -d "$sysroot/lib/rustlib/${host%-gnu}-musl/lib" ] || return 2
}

native_binaries() {
	local dir musl st
	if [ -n "${GITGATE_BIN_DIR:-}" ]; then
		dir=$(abspath "$GITGATE_BIN_DIR")
		AGENT_BIN=$dir/gitgate-agent
		SHIM_BIN=$dir/gitgate-shim
	else
		dir=${CARGO_TARGET_DIR:-$ROOT/target}
		dir=$(abspath "$dir")
		AGENT_BIN=$dir/release/gitgate-agent
		SHIM_BIN=''
		# Always ask cargo: it is a no-op when the binaries are fresh, and it knows every input.
		# The shim has its own size profile (panic=abort, fat LTO). It is exec'd on every git call,
		# so it is built static (musl: no dynamic loader, ~0.7 ms less per call) when rustc has the
		# musl target: target/<arch>-unknown-linux-musl/shim/gitgate-shim; else the glibc build,
		# target/shim/gitgate-shim.
		if command -v cargo >/dev/null 2>&1; then
			say "building gitgate-agent and gitgate-shim (cargo build --release / --profile shim)"
			(cd "$ROOT" && cargo build --release -p gitgate-agent >&2) || die "cargo build failed (see above)"
			musl=$(musl_target) && st=0 || st=$?
			if [ "$st" = 0 ]; then
				if (cd "$ROOT" && cargo build --profile shim -p gitgate-shim --target "$musl" >&2); then
					SHIM_BIN=$dir/$musl/shim/gitgate-shim
				else
					warn "the static shim build (--target $musl) failed (see above); using the glibc build"
				fi
			elif [ "$st" = 2 ]; then
				warn "rustc has no $musl target: the shim is built against glibc (~0.7 ms slower per git call); for the static one: rustup target add $musl"
			fi
			if [ -z "$SHIM_BIN" ]; then
				(cd "$ROOT" && cargo build --profile shim -p gitgate-shim >&2) || die "cargo build failed (see above)"
				SHIM_BIN=$dir/shim/gitgate-shim
			fi
		else
			# No cargo: the binaries already built, the static shim first.
			for SHIM_BIN in "$dir"/*-linux-musl/shim/gitgate-shim "$dir/shim/gitgate-shim"; do
				[ ! -x "$SHIM_BIN" ] || break
			done
			if [ -x "$AGENT_BIN" ] && [ -x "$SHIM_BIN" ]; then
				warn "cargo not found; using the existing binaries in $dir (they may be stale)"
			else
				die "cargo not found and no binaries in $dir; install Rust (https://rustup.rs) or set GITGATE_BIN_DIR"
			fi
		fi
	fi
	[ -x "$AGENT_BIN" ] || die "missing $AGENT_BIN"
	[ -x "$SHIM_BIN" ] || die "missing $SHIM_BIN"
}

# The real git: the first git on PATH that is not our shim directory.
find_real_git() {
	local d IFS=:
	for d in $PATH; do
		[ -n "$d" ] || continue
		[ "$d" != "$NATIVE_DIR/bin" ] || continue
		if [ -x "$d/git" ] && [ ! -d "$d/git" ]; then
			printf '%s' "$d/git"
			return 0
		fi
	done
	printf '%s' /usr/bin/git
}

export_line() {
	# shellcheck disable=SC2016 # $PATH is for the user's shell to expand
	printf 'export PATH="%s/bin:$PATH" GITGATE_SOCKET="%s" GITGATE_REAL_GIT="%s" GITGATE_MODE=native\n' \
		"$NATIVE_DIR" "$SOCKET" "$(find_real_git)"
}

native_env() {
	export PATH="$NATIVE_DIR/bin:$PATH" GITGATE_SOCKET="$SOCKET" GITGATE_MODE=native
	GITGATE_REAL_GIT=${GITGATE_REAL_GIT:-$(find_real_git)}
	export GITGATE_REAL_GIT
}

# launch_record: what a start now would give the agent. Line 1: its command line (a change needs a
# restart); line 2: the digest of its settings (a change is a reload or restart).
launch_record() {
	local env_arg='' digest
	[ ! -f "$ENV_FILE" ] || env_arg="--env-file $ENV_FILE"
	# shellcheck disable=SC2086 # word list
	digest=$(settings_digest $AGENT_ENV_NAMES) || digest=unknown
	printf 'args=%s\nsettings=%s\n' "$env_arg" "$digest"
}

# launch_changes: status 0 when the running agent got what a start now would give it; otherwise
# prints what differs (for a message) and returns 1.
launch_changes() {
	local now was what=''
	now=$(launch_record)
	was=$(cat "$LAUNCH_FILE" 2>/dev/null || true)
	[ "$now" != "$was" ] || return 0
	if [ -z "$was" ]; then
		printf 'there is no record of the settings the running agent was started with'
		return 1
	fi
	[ "$(printf '%s\n' "$now" | sed -n 1p)" = "$(printf '%s\n' "$was" | sed -n 1p)" ] ||
		what="the settings file (now ${ENV_FILE})"
	case $(printf '%s\n' "$now" | sed -n 2p) in
	settings=unknown) what="${what:+$what, }possibly the settings (no sha256sum, shasum or cksum to compare them)" ;;
	"$(printf '%s\n' "$was" | sed -n 2p)") ;;
	*) what="${what:+$what, }the settings in $ENV_FILE or the environment" ;;
	esac
	printf '%s changed since the agent started' "$what"
	return 1
}

native_start() {
	local pid i timeout tok changes restart=${1:-}
	case $NATIVE_DIR in
	*[\"\$\`\\]*) die "GITGATE_NATIVE_DIR must not contain \", \$, \` or \\: $NATIVE_DIR" ;;
	esac
	# sun_path holds 108 bytes on Linux, 104 on macOS.
	[ "${#SOCKET}" -lt 104 ] ||
		die "the socket path $SOCKET is too long for a unix socket; set GITGATE_NATIVE_DIR to a shorter directory"
	[ -z "$(setting GITGATE_WORKSPACE || true)" ] ||
		warn "GITGATE_WORKSPACE is deprecated and ignored: the agent never reads the workspace (remove it)"
	if pid=$(running_pid); then
		if [ -n "$restart" ]; then
			changes="--restart"
		elif changes=$(launch_changes); then
			say "agent already running (pid $pid, socket $SOCKET, with the current settings)"
			native_binaries_link_only
			export_line
			say "to use it in this shell: eval \"\$(./run.sh --native)\""
			return 0
		fi
		# Check the new settings with the agent itself before stopping the one that works.
		validate_settings setting
		native_binaries
		set -- --check
		[ ! -f "$ENV_FILE" ] || set -- --env-file "$ENV_FILE" --check
		GITGATE_SOCKET=$SOCKET GITGATE_STATE_DIR=$NATIVE_DIR/state \
			"$AGENT_BIN" "$@" >/dev/null ||
			die "the agent refused the settings (its message is above); the running agent (pid $pid) keeps the ones it started with"
		if [ "$changes" = --restart ]; then
			say "restarting the agent (pid $pid)"
		else
			say "$changes; restarting the agent (pid $pid)"
		fi
		native_stop
	else
		validate_settings setting
		native_binaries
	fi

	mkdir -p "$NATIVE_DIR" "$NATIVE_DIR/state" "$NATIVE_DIR/bin"
	chmod 0700 "$NATIVE_DIR" "$NATIVE_DIR/state"
	rm -f "$PID_FILE" "$SOCKET" "$LAUNCH_FILE"
	# gitgate-shim itself too: hooks/pre-push runs "gitgate-shim hook pre-push".
	for i in git gh agent-status gitgate-shim; do
		ln -sfn "$SHIM_BIN" "$NATIVE_DIR/bin/$i"
	done

	tok=$(setting GITHUB_TOKEN || true)$(setting GITHUB_TOKEN_FILE || true)
	[ -n "$tok" ] ||
		warn "GITHUB_TOKEN is not set: push, fetch, clone and gh are refused until it is (in $ENV_FILE; then ./run.sh --native restarts the agent); denials and agent-status work"

	set -- "$AGENT_BIN"
	[ ! -f "$ENV_FILE" ] || set -- "$@" --env-file "$ENV_FILE"
	# The agent must not share our process group, or Ctrl-C in this terminal (or in the --shell)
	# would reach it. setsid: its own session; without job control the background child is not a
	# group leader, so setsid execs in place and $! is the agent's pid. No setsid (macOS): nohup
	# in a background job of its own process group (set -m).
	if command -v setsid >/dev/null 2>&1; then
		GITGATE_SOCKET=$SOCKET GITGATE_STATE_DIR=$NATIVE_DIR/state \
			setsid "$@" </dev/null >"$LOG_FILE" 2>&1 &
		pid=$!
	else
		set -m
		GITGATE_SOCKET=$SOCKET GITGATE_STATE_DIR=$NATIVE_DIR/state \
			nohup "$@" </dev/null >"$LOG_FILE" 2>&1 &
		pid=$!
		set +m
	fi
	printf '%s\n' "$pid" >"$PID_FILE"

	timeout=${GITGATE_START_TIMEOUT:-10}
	i=0
	while [ ! -S "$SOCKET" ]; do
		if ! alive "$pid"; then
			rm -f "$PID_FILE"
			tail -n 20 "$LOG_FILE" >&2 || true
			die "the agent exited at start (log above, full log: $LOG_FILE)"
		fi
		if [ "$i" -ge $((timeout * 10)) ]; then
			tail -n 20 "$LOG_FILE" >&2 || true
			die "the agent did not create $SOCKET within ${timeout}s (pid $pid still running; log: $LOG_FILE; stop it: ./run.sh --native --stop)"
		fi
		sleep 0.1
		i=$((i + 1))
	done
	launch_record >"$LAUNCH_FILE" || true
	say "agent started (pid $pid, socket $SOCKET, log $LOG_FILE)"
	export_line
	say "to use it in this shell: eval \"\$(./run.sh --native)\""
}

# When already running, make sure the symlinks exist without rebuilding.
native_binaries_link_only() {
	local i
	[ -d "$NATIVE_DIR/bin" ] || return 0
	for i in git gh agent-status gitgate-shim; do
		[ -e "$NATIVE_DIR/bin/$i" ] || warn "$NATIVE_DIR/bin/$i is missing; restart: ./run.sh --native --stop && ./run.sh --native"
	done
}

native_stop() {
	local pid i
	if ! [ -f "$PID_FILE" ]; then
		say "native agent is not running (no pid file at $PID_FILE)"
		return 0
	fi
	if ! pid=$(running_pid); then
		rm -f "$PID_FILE" "$SOCKET"
		say "native agent is not running (removed the stale pid file $PID_FILE)"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while alive "$pid"; do
		if [ "$i" -ge 100 ]; then
			warn "the agent (pid $pid) did not exit within 10s of SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	rm -f "$PID_FILE" "$SOCKET" "$LAUNCH_FILE"
	say "agent stopped (pid $pid)"
}

# SIGHUP: the agent re-reads --env-file and its environment; its log line (shown here) names what
# changed and what only a restart applies.
native_reload() {
	local pid changes before i line
	pid=$(running_pid) || die "native agent is not running (start it: ./run.sh --native)"
	validate_settings setting
	if ! changes=$(launch_changes); then
		case $changes in
		*"the settings file"*)
			warn "${changes%% changed since*} changed since the agent started: a reload cannot apply that; restart: ./run.sh --native --restart"
			;;
		esac
	fi
	before=$(wc -l <"$LOG_FILE" 2>/dev/null || echo 0)
	kill -HUP "$pid" 2>/dev/null || die "could not signal the agent (pid $pid)"
	i=0
	while [ "$i" -lt 50 ]; do
		line=$(tail -n "+$((before + 1))" "$LOG_FILE" 2>/dev/null | grep -E 'configuration reloaded|reload rejected' | tail -n 1 || true)
		if [ -n "$line" ]; then
			say "agent: ${line#* gitgate-agent: }"
			case $line in
			*"reload rejected"*) exit 1 ;;
			*"not applied until the agent restarts"*) say "to apply those: ./run.sh --native --restart" ;;
			esac
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	warn "sent SIGHUP to the agent (pid $pid) but saw no reload line in $LOG_FILE within 5s"
}

native_status() {
	local pid
	if ! pid=$(running_pid); then
		die "native agent is not running (start it: ./run.sh --native)"
	fi
	say "agent running (pid $pid, socket $SOCKET)"
	[ -x "$NATIVE_DIR/bin/agent-status" ] || die "missing $NATIVE_DIR/bin/agent-status; restart: ./run.sh --native --stop && ./run.sh --native"
	native_env
	exec "$NATIVE_DIR/bin/agent-status"
}

native_main() {
	case $1 in
	start) native_start ;;
	restart) native_start restart ;;
	reload) native_reload ;;
	shell)
		native_start >/dev/null
		native_env
		say "shell with the gitgate shim first on PATH (exit to leave; the agent keeps running)"
		exec "${SHELL:-/bin/sh}"
		;;
	stop) native_stop ;;
	status) native_status ;;
	build)
		native_binaries
		say "built: $AGENT_BIN $SHIM_BIN"
		;;
	logs)
		[ "$LOGS_OF" = agent ] ||
			die "native mode has no egress proxy (and no network boundary: the AI reaches whatever this machine reaches); --logs egress is for container mode"
		[ -f "$LOG_FILE" ] || die "no log at $LOG_FILE (start the agent: ./run.sh --native)"
		exec tail -n 100 -f "$LOG_FILE"
		;;
	esac
}

# ---------------------------------------------------------------------------------------------
# Arguments

MODE=container
ACTION=''
LOGS_OF=agent
set_action() {
	[ -z "$ACTION" ] || die "give only one of --build, --stop, --shell, --logs, --status, --reload, --restart, --egress-config (got --$ACTION and $2)"
	ACTION=$1
}
prev=''
for arg in "$@"; do
	case $prev$arg in
	--logsagent | --logsegress)
		LOGS_OF=$arg
		prev=''
		continue
		;;
	esac
	prev=$arg
	case $arg in
	--native) MODE=native ;;
	--egress-config) set_action egress-config "$arg" ;;
	--build) set_action build "$arg" ;;
	--stop) set_action stop "$arg" ;;
	--shell) set_action shell "$arg" ;;
	--logs) set_action logs "$arg" ;;
	--status) set_action status "$arg" ;;
	--reload) set_action reload "$arg" ;;
	--restart) set_action restart "$arg" ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument: $arg (see ./run.sh --help)" ;;
	esac
done
ACTION=${ACTION:-start}

if [ "$ACTION" = egress-config ]; then
	# No engine needed: the check and the rendering are run.sh's own.
	[ "$MODE" = container ] || die "native mode has no egress proxy (and no network boundary); --egress-config is for container mode"
	validate_egress
	exec bash "$EGRESS_SCRIPT" "$(egress_json)"
elif [ "$MODE" = native ]; then
	native_main "$ACTION"
elif [ "$ACTION" = restart ]; then
	die "--restart is for native mode (./run.sh --native --restart); containers: ./run.sh --stop && ./run.sh"
else
	container_main "$ACTION"
fi
