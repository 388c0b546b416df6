#!/usr/bin/env bash
# run.sh against stub engines: the exact compose invocations for each command and each engine.
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYSBIN=$TMP_ROOT/sysbin
make_sysbin "$SYSBIN"
WS=$TMP_ROOT/workspace
mkdir -p "$WS"
ENVF=$TMP_ROOT/env/.env
mkdir -p "${ENVF%/*}"
cat >"$ENVF" <<ENV
GITHUB_TOKEN=ghp_testtoken
ALLOWED_REPOS=["me/project"]
BLOCKED_BRANCHES=["main","master"]
WORKSPACE_DIR=$WS
PUID=1234
PGID=2345
ENV
COMPOSE=$REPO/containers/compose.yaml
PODMAN_OVERRIDE=$REPO/containers/compose.podman.yaml

# check_engine LABEL STUBS ENGINE_PREFIX EXTRA_FILES [VAR=VALUE...]: every command through one engine.
check_engine() {
	local label=$1 stubs=$2 prefix=$3 extra=$4 stubdir base check cmd expected got args
	shift 4
	stubdir=$TMP_ROOT/stubs-$label
	rm -rf "$stubdir"
	# shellcheck disable=SC2086 # word list
	make_stub "$stubdir" $stubs
	base="$prefix -f $COMPOSE${extra:+ $extra} -p gitgate --env-file $ENVF"
	check="$base run --rm --no-deps -T agent --env-file /etc/gitgate/gitgate.env --check"
	for cmd in start --build --stop --shell --logs --status --reload; do
		case $cmd in
		--reload) expected="$check"$'\n'"$base kill -s SIGHUP agent"$'\n'"$base kill -s SIGHUP egress" ;;
		start) expected="$check"$'\n'"$base up -d agent egress"$'\n'"$base run --rm claude" ;;
		--build) expected="$base build" ;;
		--stop) expected="$base down" ;;
		--shell) expected="$check"$'\n'"$base up -d agent egress"$'\n'"$base run --rm claude bash" ;;
		--logs) expected="$base logs -f agent" ;;
		--status) expected="$base ps"$'\n'"$base run --rm --no-deps -T claude agent-status" ;;
		esac
		export STUB_LOG=$TMP_ROOT/stub.log STUB_ENV_LOG=$TMP_ROOT/stub-env.log
		rm -f "$STUB_LOG" "$STUB_ENV_LOG"
		args=()
		[ "$cmd" = start ] || args=("$cmd")
		run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" \
			STUB_ENV_LOG="$STUB_ENV_LOG" GITGATE_ENV_FILE="$ENVF" "$@" \
			"$RUN_SH" "${args[@]}"
		got=$(engine_calls)
		if grep -q ghp_testtoken "$STUB_LOG" "$STUB_ENV_LOG"; then
			fail "$label: ./run.sh ${args[*]}: the token reached the engine's argv or environment"
		fi
		if [ "$RC" = 0 ] && [ "$got" = "$expected" ]; then
			pass "$label: ./run.sh ${args[*]}"
		else
			fail "$label: ./run.sh ${args[*]}" "exit $RC; stderr: $ERR" "expected:" "$expected" "got:" "$got"
		fi
	done
	# What the engine saw in its environment (compose interpolation), for the last command.
	got=$(tail -n 1 "$STUB_ENV_LOG" 2>/dev/null)
	expected="PUID=1234 PGID=2345 WORKSPACE_DIR=$WS GITGATE_ENV_FILE=$ENVF GITHUB_TOKEN=unset GITHUB_TOKEN_FILE=unset"
	if [ "$got" = "$expected" ]; then
		pass "$label: engine env has PUID, PGID, WORKSPACE_DIR, GITGATE_ENV_FILE and no token"
	else
		fail "$label: engine env" "expected: $expected" "got:      $got"
	fi
}

check_engine docker-plugin "docker" "docker compose" ""
check_engine docker-compose "docker-compose" "docker-compose" ""
check_engine docker-without-plugin "docker docker-compose" "docker-compose" "" STUB_DOCKER_NO_PLUGIN=1
check_engine podman-compose-subcommand "podman" "podman compose" "-f $PODMAN_OVERRIDE" STUB_PODMAN_COMPOSE=1
check_engine podman-compose-python "podman podman-compose" "podman-compose" "-f $PODMAN_OVERRIDE"
# Order of detection: docker compose before docker-compose before podman.
check_engine prefer-docker-plugin "docker docker-compose podman podman-compose" "docker compose" "" STUB_PODMAN_COMPOSE=1
check_engine prefer-docker-compose "docker-compose podman podman-compose" "docker-compose" "" STUB_PODMAN_COMPOSE=1
# CONTAINER_ENGINE overrides detection.
check_engine override-docker-compose "docker docker-compose" "docker-compose" "" CONTAINER_ENGINE=docker-compose
check_engine override-podman "docker podman-compose" "podman-compose" "-f $PODMAN_OVERRIDE" CONTAINER_ENGINE=podman
check_engine override-docker "docker docker-compose" "docker compose" "" CONTAINER_ENGINE=docker

# CONTAINER_ENGINE may also come from .env.
stubdir=$TMP_ROOT/stubs-envfile-engine
make_stub "$stubdir" docker docker-compose
cp "$ENVF" "$TMP_ROOT/env/.env.engine"
echo "CONTAINER_ENGINE=docker-compose" >>"$TMP_ROOT/env/.env.engine"
export STUB_LOG=$TMP_ROOT/stub.log
rm -f "$STUB_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" \
	GITGATE_ENV_FILE="$TMP_ROOT/env/.env.engine" "$RUN_SH" --stop
if [ "$RC" = 0 ] && [ "$(engine_calls)" = "docker-compose -f $COMPOSE -p gitgate --env-file $TMP_ROOT/env/.env.engine down" ]; then
	pass "CONTAINER_ENGINE from .env"
else
	fail "CONTAINER_ENGINE from .env" "exit $RC; stderr: $ERR" "got: $(engine_calls)"
fi

# GITGATE_PROJECT renames the compose project.
rm -f "$STUB_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" \
	GITGATE_ENV_FILE="$ENVF" GITGATE_PROJECT=other "$RUN_SH" --stop
if [ "$RC" = 0 ] && [ "$(engine_calls)" = "docker compose -f $COMPOSE -p other --env-file $ENVF down" ]; then
	pass "GITGATE_PROJECT sets the project name"
else
	fail "GITGATE_PROJECT" "exit $RC; stderr: $ERR" "got: $(engine_calls)"
fi

# GITHUB_TOKEN_FILE (relative to the .env's directory) adds the secret override, exported absolute.
echo "secret" >"$TMP_ROOT/env/token"
cat >"$TMP_ROOT/env/.env.tokfile" <<ENV
GITHUB_TOKEN_FILE=token
WORKSPACE_DIR=$WS
PUID=1234
PGID=2345
ENV
export STUB_ENV_LOG=$TMP_ROOT/stub-env.log
rm -f "$STUB_LOG" "$STUB_ENV_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" STUB_ENV_LOG="$STUB_ENV_LOG" \
	GITGATE_ENV_FILE="$TMP_ROOT/env/.env.tokfile" "$RUN_SH"
b="docker compose -f $COMPOSE -f $REPO/containers/compose.token-file.yaml -p gitgate --env-file $TMP_ROOT/env/.env.tokfile"
if [ "$RC" = 0 ] && [ "$(engine_calls)" = "$b run --rm --no-deps -T agent --env-file /etc/gitgate/gitgate.env --check"$'\n'"$b up -d agent egress"$'\n'"$b run --rm claude" ] &&
	contains "$(tail -n 1 "$STUB_ENV_LOG")" "GITHUB_TOKEN_FILE=$TMP_ROOT/env/token"; then
	pass "GITHUB_TOKEN_FILE: token-file override, absolute path exported"
else
	fail "GITHUB_TOKEN_FILE" "exit $RC; stderr: $ERR" "got: $(engine_calls)" "env: $(tail -n 1 "$STUB_ENV_LOG")"
fi

# GITGATE_ENV_HASH: a digest of .env (and the token file), exported for compose's label so "up -d"
# recreates the agent when the file changed; the same for the same file; never the token itself.
export STUB_HASH_LOG=$TMP_ROOT/stub-hash.log
hash_of_run() {
	rm -f "$STUB_HASH_LOG"
	run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" STUB_HASH_LOG="$STUB_HASH_LOG" \
		GITGATE_ENV_FILE="$1" "$RUN_SH" --build
	tail -n 1 "$STUB_HASH_LOG" 2>/dev/null
}
cp "$ENVF" "$TMP_ROOT/env/.env.hash"
h1=$(hash_of_run "$TMP_ROOT/env/.env.hash")
h2=$(hash_of_run "$TMP_ROOT/env/.env.hash")
echo 'ALLOW_TAG_PUSH=true' >>"$TMP_ROOT/env/.env.hash"
h3=$(hash_of_run "$TMP_ROOT/env/.env.hash")
echo "rotated" >"$TMP_ROOT/env/token"
h4=$(hash_of_run "$TMP_ROOT/env/.env.tokfile")
echo "rotated again" >"$TMP_ROOT/env/token"
h5=$(hash_of_run "$TMP_ROOT/env/.env.tokfile")
if [ "${#h1}" = 64 ] && [ "$h1" = "$h2" ] && [ "$h1" != "$h3" ] && [ "${#h4}" = 64 ] && [ "$h4" != "$h5" ] &&
	! contains "$h1$h3" ghp_testtoken; then
	pass "GITGATE_ENV_HASH follows .env and the token file, stable otherwise"
else
	fail "GITGATE_ENV_HASH" "h1=$h1 h2=$h2 h3=$h3 h4=$h4 h5=$h5" "$ERR"
fi

# --reload: the agent's --check refusing the new settings: no signal, the old configuration stays.
rm -f "$STUB_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" STUB_CHECK_FAIL=1 \
	GITGATE_ENV_FILE="$ENVF" "$RUN_SH" --reload
if [ "$RC" != 0 ] && contains "$ERR" "running agent keeps its configuration" && ! contains "$(engine_calls)" " kill "; then
	pass "--reload with settings the agent refuses: nothing signalled"
else
	fail "--reload with refused settings" "exit $RC; stderr: $ERR" "got: $(engine_calls)"
fi
# --reload says what it did.
rm -f "$STUB_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" GITGATE_ENV_FILE="$ENVF" "$RUN_SH" --reload
if [ "$RC" = 0 ] && contains "$ERR" "sent SIGHUP: the agent re-read $ENVF" && contains "$ERR" "./run.sh --stop && ./run.sh"; then
	pass "--reload: SIGHUP sent, says where to see the result and how to restart"
else
	fail "--reload message" "exit $RC; stderr: $ERR"
fi
# --restart is native-only.
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" GITGATE_ENV_FILE="$ENVF" "$RUN_SH" --restart
if [ "$RC" != 0 ] && contains "$ERR" "./run.sh --native --restart" && contains "$ERR" "./run.sh --stop && ./run.sh"; then
	pass "--restart without --native: points to both ways"
else
	fail "--restart in container mode" "exit $RC; stderr: $ERR"
fi

# The agent reads .env in its container as uid 10001: a file it cannot read gets a warning with the fix.
cp "$ENVF" "$TMP_ROOT/env/.env.private"
chmod 0600 "$TMP_ROOT/env/.env.private"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" \
	GITGATE_ENV_FILE="$TMP_ROOT/env/.env.private" "$RUN_SH"
if [ "$RC" = 0 ] && contains "$ERR" "not readable by the agent's uid 10001" && contains "$ERR" "sudo chgrp 10001"; then
	pass ".env unreadable by uid 10001: a warning naming the fix"
else
	fail ".env unreadable by uid 10001" "exit $RC; stderr: $ERR"
fi
chmod 0644 "$TMP_ROOT/env/.env.private"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" \
	GITGATE_ENV_FILE="$TMP_ROOT/env/.env.private" "$RUN_SH"
if [ "$RC" = 0 ] && ! contains "$ERR" "not readable"; then
	pass ".env readable by others: no warning"
else
	fail ".env readable: no warning" "exit $RC; stderr: $ERR"
fi

# Defaults: no PUID/PGID/WORKSPACE_DIR in .env -> id -u / id -g and the repository.
printf 'GITHUB_TOKEN=x\n' >"$TMP_ROOT/env/.env.min"
rm -f "$STUB_LOG" "$STUB_ENV_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" STUB_ENV_LOG="$STUB_ENV_LOG" \
	GITGATE_ENV_FILE="$TMP_ROOT/env/.env.min" "$RUN_SH" --build
expected="PUID=$(id -u) PGID=$(id -g) WORKSPACE_DIR=$REPO GITGATE_ENV_FILE=$TMP_ROOT/env/.env.min"
if [ "$RC" = 0 ] && contains "$(tail -n 1 "$STUB_ENV_LOG")" "$expected"; then
	pass "defaults: PUID/PGID from id, WORKSPACE_DIR = the repository"
else
	fail "defaults" "exit $RC; stderr: $ERR" "expected: $expected" "got: $(tail -n 1 "$STUB_ENV_LOG")"
fi

# Relative WORKSPACE_DIR is relative to the repository (as compose's default "..").
printf 'GITHUB_TOKEN=x\nWORKSPACE_DIR=containers\n' >"$TMP_ROOT/env/.env.rel"
rm -f "$STUB_LOG" "$STUB_ENV_LOG"
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" STUB_ENV_LOG="$STUB_ENV_LOG" \
	GITGATE_ENV_FILE="$TMP_ROOT/env/.env.rel" "$RUN_SH" --build
if [ "$RC" = 0 ] && contains "$(tail -n 1 "$STUB_ENV_LOG")" "WORKSPACE_DIR=$REPO/containers "; then
	pass "relative WORKSPACE_DIR resolved against the repository"
else
	fail "relative WORKSPACE_DIR" "exit $RC; stderr: $ERR" "got: $(tail -n 1 "$STUB_ENV_LOG")"
fi

# Run from another directory, through a relative path to run.sh.
rm -f "$STUB_LOG"
# shellcheck disable=SC2016 # expanded by the inner bash
run_capture env -i HOME="$TMP_ROOT" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" PATH="$stubdir:$SYSBIN" STUB_LOG="$STUB_LOG" \
	GITGATE_ENV_FILE="$ENVF" bash -c 'cd "$1/containers" && ../run.sh --stop' sh "$REPO"
if [ "$RC" = 0 ] && [ "$(engine_calls)" = "docker compose -f $COMPOSE -p gitgate --env-file $ENVF down" ]; then
	pass "works from another directory (compose file path is absolute)"
else
	fail "run from another directory" "exit $RC; stderr: $ERR" "got: $(engine_calls)"
fi

finish
