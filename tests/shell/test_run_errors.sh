#!/usr/bin/env bash
# run.sh error paths: each prints one clear "run.sh: ..." line and exits non-zero before starting
# anything; valid settings are accepted.
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYSBIN=$TMP_ROOT/sysbin
make_sysbin "$SYSBIN"
STUBS=$TMP_ROOT/stubs
make_stub "$STUBS" docker
export STUB_LOG=$TMP_ROOT/stub.log
WS=$TMP_ROOT/workspace
mkdir -p "$WS"
ENVF=$TMP_ROOT/.env

# write_env LINE...: the .env for the next run (a token and the workspace, then LINE...).
write_env() {
	{
		echo "GITHUB_TOKEN=ghp_testtoken"
		echo "WORKSPACE_DIR=$WS"
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$ENVF"
}

# run_sh [VAR=VALUE...] -- ARGS...: run.sh with the stub docker and only system tools on PATH.
run_sh() {
	local vars=()
	while [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	shift
	rm -f "$STUB_LOG"
	run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$STUBS:$SYSBIN" STUB_LOG="$STUB_LOG" \
		GITGATE_ENV_FILE="$ENVF" "${vars[@]}" "$RUN_SH" "$@"
}

# expect_error NAME MESSAGE_PART...: the last run failed, printing one run.sh: line with each part,
# and started nothing.
expect_error() {
	local name=$1 part ok=1
	shift
	[ "$RC" != 0 ] || ok=0
	for part in "$@"; do contains "$ERR" "$part" || ok=0; done
	contains "$ERR" "run.sh: " || ok=0
	[ -z "$(engine_calls)" ] || ok=0
	if [ "$ok" = 1 ]; then
		pass "$name"
	else
		fail "$name" "exit $RC" "stderr: $ERR" "wanted: $*" "engine calls: $(engine_calls)"
	fi
}

expect_started() {
	local name=$1
	if [ "$RC" = 0 ] && contains "$(engine_calls)" " up -d agent"; then
		pass "$name"
	else
		fail "$name" "exit $RC" "stderr: $ERR" "engine calls: $(engine_calls)"
	fi
}

# --- No engine ---------------------------------------------------------------------------------
write_env
rm -f "$STUB_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$SYSBIN" GITGATE_ENV_FILE="$ENVF" "$RUN_SH"
expect_error "no engine on PATH" "no container engine found" "docker compose" "docker-compose" \
	"podman compose" "podman-compose" "./run.sh --native"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$SYSBIN" GITGATE_ENV_FILE="$ENVF" "$RUN_SH" --stop
expect_error "no engine on PATH (--stop)" "no container engine found"
for eng in docker docker-compose podman; do
	run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$SYSBIN" GITGATE_ENV_FILE="$ENVF" CONTAINER_ENGINE=$eng "$RUN_SH"
	expect_error "CONTAINER_ENGINE=$eng not installed" "CONTAINER_ENGINE=$eng"
done
run_sh CONTAINER_ENGINE=docker STUB_DOCKER_NO_PLUGIN=1 --
expect_error "CONTAINER_ENGINE=docker without the compose plugin" "compose plugin"
run_sh CONTAINER_ENGINE=lxc --
expect_error "CONTAINER_ENGINE=lxc rejected" "CONTAINER_ENGINE must be docker, docker-compose or podman" "lxc"

# --- No .env -----------------------------------------------------------------------------------
rm -f "$ENVF"
for cmd in "" --build --shell --stop; do
	# shellcheck disable=SC2086 # empty = no argument
	run_sh -- $cmd
	expect_error "no .env (${cmd:-start})" "cp .env.example .env" "$ENVF"
done

# --- Token -------------------------------------------------------------------------------------
printf 'WORKSPACE_DIR=%s\n' "$WS" >"$ENVF"
run_sh --
expect_error "no GITHUB_TOKEN" "GITHUB_TOKEN is not set" "GITHUB_TOKEN_FILE"
printf 'GITHUB_TOKEN=\nWORKSPACE_DIR=%s\n' "$WS" >"$ENVF"
run_sh --
expect_error "empty GITHUB_TOKEN" "GITHUB_TOKEN is not set"
printf '# GITHUB_TOKEN=ghp_commented\nWORKSPACE_DIR=%s\n' "$WS" >"$ENVF"
run_sh -- --shell
expect_error "commented-out GITHUB_TOKEN (--shell)" "GITHUB_TOKEN is not set"
printf 'GITHUB_TOKEN_FILE=%s/missing\nWORKSPACE_DIR=%s\n' "$TMP_ROOT" "$WS" >"$ENVF"
run_sh --
expect_error "unreadable GITHUB_TOKEN_FILE" "GITHUB_TOKEN_FILE=$TMP_ROOT/missing" "not a readable file"
# The token in the caller's environment does not count: only .env reaches the agent container.
printf 'WORKSPACE_DIR=%s\n' "$WS" >"$ENVF"
run_sh GITHUB_TOKEN=ghp_fromenv --
expect_error "GITHUB_TOKEN only in the shell environment is not used" "GITHUB_TOKEN is not set"
# --build, --stop, --logs do not need the token.
for cmd in --build --stop --logs; do
	run_sh -- $cmd
	if [ "$RC" = 0 ]; then pass "no token is fine for $cmd"; else fail "no token is fine for $cmd" "$ERR"; fi
done

# --- JSON array settings -----------------------------------------------------------------------
for val in 'main' '["main"' '[main]' '["a",]' '[1]' '["a" "b"]' '{"a":1}' '["a"]]' '[,]' \
	"['main']" '["bad\escape"]'; do
	write_env "BLOCKED_BRANCHES=$val"
	run_sh --
	expect_error "BLOCKED_BRANCHES=$val rejected" "BLOCKED_BRANCHES must be a JSON array of strings" "got: $val"
done
for key in ALLOWED_BRANCH_PATTERNS ALLOWED_REPOS ALLOWED_HOSTS; do
	write_env "$key=[\"ok\",]"
	run_sh --
	expect_error "$key=[\"ok\",] rejected" "$key must be a JSON array of strings" "got: [\"ok\",]"
done
for val in '[]' '["main","release/*"]' '[ "main" , "release/*" ]' ' ["main"]  ' '["a\"b","c\\d","\u00e9"]' \
	'"["main", "x"]"' "'[\"main\", \"x\"]'" '["main"] # a comment'; do
	write_env "BLOCKED_BRANCHES=$val" 'ALLOWED_BRANCH_PATTERNS=["claude/*","feature/*"]' \
		'ALLOWED_REPOS=["me/project","org/*"]' 'ALLOWED_HOSTS=["github.com","ghe.example.com:8443"]'
	run_sh --
	expect_started "BLOCKED_BRANCHES=$val accepted"
done
# Quotes are removed as a pair, without escape processing (as the agent's --env-file parser does).
write_env 'BLOCKED_BRANCHES="[\"main\"]"'
run_sh --
expect_error 'BLOCKED_BRANCHES="[\"main\"]" rejected: no escapes inside quotes' 'got: [\"main\"]'
write_env 'BLOCKED_BRANCHES='
run_sh --
expect_error "empty BLOCKED_BRANCHES rejected (the agent refuses it too)" "BLOCKED_BRANCHES is empty" "remove the line"
write_env '# BLOCKED_BRANCHES=[main]'
run_sh --
expect_started "commented-out BLOCKED_BRANCHES = the agent's default"
# The last definition wins.
write_env 'BLOCKED_BRANCHES=[main]' 'BLOCKED_BRANCHES=["main"]'
run_sh --
expect_started "a later valid definition overrides an earlier one"

# --- .env.example as shipped, with a token filled in -----------------------------------------------
{
	cat "$REPO/.env.example"
	echo "GITHUB_TOKEN=ghp_testtoken"
	echo "WORKSPACE_DIR=$WS"
} >"$ENVF"
run_sh --
expect_started ".env.example + a token: accepted and started"
sed 's/^GITHUB_TOKEN=.*/GITHUB_TOKEN=/' "$REPO/.env.example" >"$ENVF"
echo "WORKSPACE_DIR=$WS" >>"$ENVF"
run_sh --
expect_error ".env.example as shipped: the token is missing" "GITHUB_TOKEN is not set"

# --- The agent's own --check (in its image) refusing the settings ----------------------------------
write_env
run_sh STUB_CHECK_FAIL=1 --
if [ "$RC" != 0 ] && contains "$ERR" "invalid setting ALLOW_FORCE_PUSH: stub" &&
	contains "$ERR" "run.sh: the agent refused the settings in $ENVF" &&
	contains "$(engine_calls)" "agent --env-file /etc/gitgate/gitgate.env --check" && ! contains "$(engine_calls)" " up -d"; then
	pass "agent --check failing: its message, a run.sh line, nothing started"
else
	fail "agent --check failing" "exit $RC" "stderr: $ERR" "engine calls: $(engine_calls)"
fi

# --- Booleans ----------------------------------------------------------------------------------
write_env 'ALLOW_FORCE_PUSH=maybe'
run_sh --
expect_error "ALLOW_FORCE_PUSH=maybe rejected" "ALLOW_FORCE_PUSH must be true or false" "got: maybe"
write_env 'ALLOW_FORCE_PUSH=false' 'ALLOW_TAG_PUSH=true' 'ALLOW_PR_MERGE=False' 'ALLOW_DELETE_REMOTE=TRUE' \
	'REQUIRE_MLOCK=yes' 'ALLOW_FORCE_PUSH=0' 'ALLOW_TAG_PUSH=On'
run_sh --
expect_started "booleans the agent accepts (true/false/1/0/yes/no/on/off, any case) accepted"

# --- .env is data, never executed ----------------------------------------------------------------
marker=$TMP_ROOT/executed
write_env "PUID=\$(touch $marker)" "GITHUB_API_URL=\`touch $marker\`" "touch $marker" "; touch $marker"
run_sh --
if [ ! -e "$marker" ]; then pass ".env is not executed"; else fail ".env is not executed" "$marker was created"; fi
expect_error "command substitution in PUID is not a number" "PUID and PGID must be numbers"

# --- Other argument and path errors ---------------------------------------------------------------
write_env
run_sh -- --frobnicate
expect_error "unknown argument" "unknown argument: --frobnicate" "--help"
run_sh -- --stop --logs
expect_error "two commands" "give only one of"
write_env "WORKSPACE_DIR=$TMP_ROOT/nope"
run_sh --
expect_error "missing WORKSPACE_DIR" "WORKSPACE_DIR is not a directory" "$TMP_ROOT/nope"

finish
