#!/usr/bin/env bash
# run.sh: launcher for gitgate.
#
# Container mode (default): the agent (holds the token) and the AI container (Claude Code, the shim
# as git/gh) run under docker compose, docker-compose or podman compose.
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
  ./run.sh --status   container state, and agent-status run inside the AI container

Native mode (no container engine; the agent runs as you, in the background):
  ./run.sh --native           build (cargo), start the agent, print the export line to use the shim:
                                eval "$(./run.sh --native)"
  ./run.sh --native --shell   same, then a shell ($SHELL) with that PATH
  ./run.sh --native --status  agent-status through the shim (exit non-zero if not running)
  ./run.sh --native --logs    follow the agent's log
  ./run.sh --native --stop    stop the agent (SIGTERM)
  ./run.sh --native --build   only build the binaries

Settings: .env next to run.sh (start with: cp .env.example .env). Environment:
  GITGATE_ENV_FILE     path of the settings file (default: <dir of run.sh>/.env)
  CONTAINER_ENGINE     docker | docker-compose | podman (default: auto-detect in that order)
  GITGATE_PROJECT      compose project name (default: gitgate)
  GITGATE_NATIVE_DIR   native mode state dir (default: <dir of run.sh>/.gitgate)
  GITGATE_BIN_DIR      native mode: use gitgate-agent/gitgate-shim from this dir, do not build
  GITGATE_START_TIMEOUT seconds to wait for the native agent's socket (default: 10)
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
	export PUID="$uid" PGID="$gid" WORKSPACE_DIR="$ws" GITGATE_ENV_FILE="$ENV_FILE"
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
		# The agent's own validator, in its image, with the same environment (builds the image the
		# first time): every setting, named in its message, before anything is left running.
		compose run --rm --no-deps -T agent --check ||
			die "the agent refused the settings in $ENV_FILE (its message is above)"
		compose up -d agent
		if [ "$action" = start ]; then
			exec_compose run --rm claude
		else
			exec_compose run --rm claude bash
		fi
		;;
	build) exec_compose build ;;
	stop) exec_compose down ;;
	logs) exec_compose logs -f agent ;;
	status)
		compose ps || true
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

native_binaries() {
	local dir
	if [ -n "${GITGATE_BIN_DIR:-}" ]; then
		dir=$(abspath "$GITGATE_BIN_DIR")
		AGENT_BIN=$dir/gitgate-agent
		SHIM_BIN=$dir/gitgate-shim
	else
		dir=${CARGO_TARGET_DIR:-$ROOT/target}
		dir=$(abspath "$dir")
		# Always ask cargo: it is a no-op when the binaries are fresh, and it knows every input.
		# The shim has its own size profile (panic=abort, fat LTO): target/shim/gitgate-shim.
		if command -v cargo >/dev/null 2>&1; then
			say "building gitgate-agent and gitgate-shim (cargo build --release / --profile shim)"
			(cd "$ROOT" && cargo build --release -p gitgate-agent >&2 &&
				cargo build --profile shim -p gitgate-shim >&2) ||
				die "cargo build failed (see above)"
		elif [ -x "$dir/release/gitgate-agent" ] && [ -x "$dir/shim/gitgate-shim" ]; then
			warn "cargo not found; using the existing binaries in $dir (they may be stale)"
		else
			die "cargo not found and no binaries in $dir; install Rust (https://rustup.rs) or set GITGATE_BIN_DIR"
		fi
		AGENT_BIN=$dir/release/gitgate-agent
		SHIM_BIN=$dir/shim/gitgate-shim
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
	printf 'export PATH="%s/bin:$PATH" GITGATE_SOCKET="%s" GITGATE_REAL_GIT="%s"\n' \
		"$NATIVE_DIR" "$SOCKET" "$(find_real_git)"
}

native_env() {
	export PATH="$NATIVE_DIR/bin:$PATH" GITGATE_SOCKET="$SOCKET"
	GITGATE_REAL_GIT=${GITGATE_REAL_GIT:-$(find_real_git)}
	export GITGATE_REAL_GIT
}

native_start() {
	local pid ws i timeout tok
	case $NATIVE_DIR in
	*[\"\$\`\\]*) die "GITGATE_NATIVE_DIR must not contain \", \$, \` or \\: $NATIVE_DIR" ;;
	esac
	# sun_path holds 108 bytes on Linux, 104 on macOS.
	[ "${#SOCKET}" -lt 104 ] ||
		die "the socket path $SOCKET is too long for a unix socket; set GITGATE_NATIVE_DIR to a shorter directory"
	if pid=$(running_pid); then
		say "agent already running (pid $pid, socket $SOCKET)"
		native_binaries_link_only
		export_line
		say "to use it in this shell: eval \"\$(./run.sh --native)\""
		return 0
	fi
	validate_settings setting
	native_binaries

	mkdir -p "$NATIVE_DIR" "$NATIVE_DIR/state" "$NATIVE_DIR/bin"
	chmod 0700 "$NATIVE_DIR" "$NATIVE_DIR/state"
	rm -f "$PID_FILE" "$SOCKET"
	# gitgate-shim itself too: hooks/pre-push runs "gitgate-shim hook pre-push".
	for i in git gh agent-status gitgate-shim; do
		ln -sfn "$SHIM_BIN" "$NATIVE_DIR/bin/$i"
	done

	ws=$(setting GITGATE_WORKSPACE || true)
	# shellcheck disable=SC2088 # a literal ~ from .env, expanded here
	case $ws in
	'' | '~') ws=$HOME ;;
	'~/'*) ws=$HOME/${ws#'~/'} ;;
	esac
	tok=$(setting GITHUB_TOKEN || true)$(setting GITHUB_TOKEN_FILE || true)
	[ -n "$tok" ] ||
		warn "GITHUB_TOKEN is not set: push/fetch/gh will fail until it is (in $ENV_FILE); denials and agent-status work"

	set -- "$AGENT_BIN"
	[ ! -f "$ENV_FILE" ] || set -- "$@" --env-file "$ENV_FILE"
	# The agent must not share our process group, or Ctrl-C in this terminal (or in the --shell)
	# would reach it. setsid: its own session; without job control the background child is not a
	# group leader, so setsid execs in place and $! is the agent's pid. No setsid (macOS): nohup
	# in a background job of its own process group (set -m).
	if command -v setsid >/dev/null 2>&1; then
		GITGATE_SOCKET=$SOCKET GITGATE_STATE_DIR=$NATIVE_DIR/state GITGATE_WORKSPACE=$ws \
			setsid "$@" </dev/null >"$LOG_FILE" 2>&1 &
		pid=$!
	else
		set -m
		GITGATE_SOCKET=$SOCKET GITGATE_STATE_DIR=$NATIVE_DIR/state GITGATE_WORKSPACE=$ws \
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
	say "agent started (pid $pid, socket $SOCKET, workspace $ws, log $LOG_FILE)"
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
	rm -f "$PID_FILE" "$SOCKET"
	say "agent stopped (pid $pid)"
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
		[ -f "$LOG_FILE" ] || die "no log at $LOG_FILE (start the agent: ./run.sh --native)"
		exec tail -n 100 -f "$LOG_FILE"
		;;
	esac
}

# ---------------------------------------------------------------------------------------------
# Arguments

MODE=container
ACTION=''
set_action() {
	[ -z "$ACTION" ] || die "give only one of --build, --stop, --shell, --logs, --status (got --$ACTION and $2)"
	ACTION=$1
}
for arg in "$@"; do
	case $arg in
	--native) MODE=native ;;
	--build) set_action build "$arg" ;;
	--stop) set_action stop "$arg" ;;
	--shell) set_action shell "$arg" ;;
	--logs) set_action logs "$arg" ;;
	--status) set_action status "$arg" ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument: $arg (see ./run.sh --help)" ;;
	esac
done
ACTION=${ACTION:-start}

if [ "$MODE" = native ]; then
	native_main "$ACTION"
else
	container_main "$ACTION"
fi
