# shellcheck shell=bash disable=SC2034 # variables used by the sourcing tests
# Helpers for the shell tests. Sourced by each test_*.sh; run them all with: bash tests/shell/run_all.sh
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
RUN_SH=$REPO/run.sh
PASSED=0
FAILED=0
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/gitgate-shell.XXXXXX")
trap 'rm -rf "$TMP_ROOT"' EXIT

# Results also go to $GITGATE_TEST_RESULTS (one word a line) when run_all.sh collects them.
record() { [ -z "${GITGATE_TEST_RESULTS:-}" ] || echo "$1" >>"$GITGATE_TEST_RESULTS"; }
pass() {
	PASSED=$((PASSED + 1))
	record pass
	echo "ok   - $1"
}
fail() {
	local name=$1 l
	shift
	FAILED=$((FAILED + 1))
	record fail
	echo "FAIL - $name"
	for l in "$@"; do printf '       %s\n' "$l"; done
}
skip() { echo "skip - $1"; }

# finish: this file's summary; exit status non-zero on any failure.
finish() {
	echo "# ${0##*/}: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

# make_sysbin DIR: DIR with symlinks to the system tools run.sh, the stubs and the tests need, and
# nothing else (no docker, podman, cargo): a PATH without any container engine.
make_sysbin() {
	local dir=$1 t p
	mkdir -p "$dir"
	for t in bash sh dash env cat sed grep mkdir chmod ln rm sleep tail tr id head cp mv \
		dirname basename ls touch wc cmp stat kill perl python3 setsid nohup mktemp readlink sha256sum cksum; do
		p=$(command -v "$t" 2>/dev/null) || continue
		case $p in /*) ln -sf "$p" "$dir/$t" ;; esac
	done
}

# make_stub DIR NAME...: a fake engine command under each NAME that appends its argv (one line,
# words joined by spaces, program name first) to $STUB_LOG and a few environment values to
# $STUB_ENV_LOG. "docker compose version" fails when STUB_DOCKER_NO_PLUGIN is set; "podman compose
# version" fails unless STUB_PODMAN_COMPOSE is set; "... agent ... --check" fails when STUB_CHECK_FAIL
# is. GITGATE_ENV_HASH (the .env digest run.sh exports for compose) goes to $STUB_HASH_LOG.
make_stub() {
	local dir=$1 name
	shift
	mkdir -p "$dir"
	for name in "$@"; do
		cat >"$dir/$name" <<'STUB'
#!/bin/sh
name=${0##*/}
{
	printf '%s' "$name"
	for a in "$@"; do printf ' %s' "$a"; done
	printf '\n'
} >>"$STUB_LOG"
printf 'PUID=%s PGID=%s WORKSPACE_DIR=%s GITGATE_ENV_FILE=%s GITHUB_TOKEN=%s GITHUB_TOKEN_FILE=%s\n' \
	"${PUID-unset}" "${PGID-unset}" "${WORKSPACE_DIR-unset}" "${GITGATE_ENV_FILE-unset}" \
	"${GITHUB_TOKEN-unset}" "${GITHUB_TOKEN_FILE-unset}" >>"${STUB_ENV_LOG:-/dev/null}"
printf '%s\n' "${GITGATE_ENV_HASH-unset}" >>"${STUB_HASH_LOG:-/dev/null}"
case " $* " in
*" agent "*" --check "*)
	[ -z "${STUB_CHECK_FAIL:-}" ] || { echo "gitgate-agent: invalid setting ALLOW_FORCE_PUSH: stub" >&2; exit 2; }
	;;
esac
case "$name $*" in
"docker compose version")
	[ -z "${STUB_DOCKER_NO_PLUGIN:-}" ] || { echo "docker: 'compose' is not a docker command." >&2; exit 1; }
	echo "Docker Compose version v2.29.0"
	;;
"podman compose version")
	[ -n "${STUB_PODMAN_COMPOSE:-}" ] || { echo "Error: looking up compose provider failed" >&2; exit 125; }
	echo "podman-compose version 1.0.6"
	;;
esac
exit 0
STUB
		chmod +x "$dir/$name"
	done
}

# run_capture CMD...: run CMD (stdin /dev/null); its stdout, stderr and status in OUT, ERR, RC.
OUT='' ERR='' RC=0
run_capture() {
	local o=$TMP_ROOT/.out e=$TMP_ROOT/.err
	RC=0
	"$@" >"$o" 2>"$e" </dev/null || RC=$?
	OUT=$(cat "$o")
	ERR=$(cat "$e")
}

# engine_calls: the stub log without the detection probes ("... version").
engine_calls() { grep -v ' version$' "$STUB_LOG" 2>/dev/null || true; }

contains() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
