#!/usr/bin/env bash
# run.sh --native with stub binaries (GITGATE_BIN_DIR): start, already running, status, shell, stop,
# failures at start; and --help. The real binaries are exercised by the Rust end-to-end tests.
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYSBIN=$TMP_ROOT/sysbin
make_sysbin "$SYSBIN"
HOMEDIR=$TMP_ROOT/home
mkdir -p "$HOMEDIR"
ENVF=$TMP_ROOT/.env
: >"$ENVF"

# run_native ND [VAR=VALUE...] -- ARGS...: run.sh with native dir ND and the stub binaries.
run_native() {
	local nd=$1 vars=()
	shift
	while [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	shift
	run_capture env -i HOME="$HOMEDIR" PATH="$SYSBIN" GITGATE_ENV_FILE="$ENVF" GITGATE_NATIVE_DIR="$nd" \
		GITGATE_BIN_DIR="$STUBBIN" STUB_AGENT_RECORD="$nd.record" "${vars[@]}" "$RUN_SH" "$@"
}

# gone PID: the process has exited (a zombie waiting for init to reap it counts as exited).
gone() {
	kill -0 "$1" 2>/dev/null || return 0
	case $(cat "/proc/$1/stat" 2>/dev/null) in *") Z"* | *") X"* | '') return 0 ;; esac
	return 1
}

check() { # check NAME CONDITION_STATUS DETAIL...
	local name=$1 st=$2
	shift 2
	if [ "$st" = 0 ]; then pass "$name"; else fail "$name" "$@"; fi
}

# --- Without binaries ----------------------------------------------------------------------------
STUBBIN=$TMP_ROOT/nobin
run_capture env -i HOME="$HOMEDIR" PATH="$SYSBIN" "$RUN_SH" --help
contains "$OUT" "Usage:" && contains "$OUT" "--native" && contains "$OUT" "--status" && contains "$OUT" "--native --reload" &&
	contains "$OUT" "--native --restart" && contains "$OUT" "./run.sh --reload" && contains "$OUT" "never" &&
	contains "$OUT" "can read .env" && [ "$RC" = 0 ]
check "--help prints the usage and exits 0" $? "exit $RC" "$OUT"

ND=$TMP_ROOT/nd-none
run_native "$ND" -- --native --stop
[ "$RC" = 0 ] && contains "$ERR" "run.sh: native agent is not running (no pid file at $ND/agent.pid)"
check "--native --stop without a pid file: says so" $? "exit $RC" "$ERR"
run_native "$ND" -- --native --status
[ "$RC" != 0 ] && contains "$ERR" "not running" && contains "$ERR" "./run.sh --native"
check "--native --status when not running: non-zero with a hint" $? "exit $RC" "$ERR"
run_native "$ND" -- --native --reload
[ "$RC" != 0 ] && contains "$ERR" "native agent is not running (start it: ./run.sh --native)"
check "--native --reload when not running: non-zero with a hint" $? "exit $RC" "$ERR"
run_native "$ND" -- --native --logs
[ "$RC" != 0 ] && contains "$ERR" "no log at $ND/agent.log"
check "--native --logs without a log: non-zero" $? "exit $RC" "$ERR"
run_native "$ND" -- --native
[ "$RC" != 0 ] && contains "$ERR" "missing $STUBBIN/gitgate-agent"
check "--native with GITGATE_BIN_DIR lacking the binaries: non-zero" $? "exit $RC" "$ERR"
run_native "$ND" BLOCKED_BRANCHES='[main' -- --native
[ "$RC" != 0 ] && contains "$ERR" "BLOCKED_BRANCHES must be a JSON array of strings" && contains "$ERR" "got: [main"
check "--native validates JSON settings (environment over .env) before starting" $? "exit $RC" "$ERR"

LONG=$TMP_ROOT/$(printf 'x%.0s' $(seq 1 100))
run_native "$LONG" -- --native
[ "$RC" != 0 ] && contains "$ERR" "too long for a unix socket" && contains "$ERR" "GITGATE_NATIVE_DIR"
check "--native with a socket path too long: clear error" $? "exit $RC" "$ERR"

# A stale pid file (a pid that is not a running agent) is removed by --stop.
mkdir -p "$ND"
sh -c 'exit 0' &
dead=$!
wait "$dead"
echo "$dead" >"$ND/agent.pid"
run_native "$ND" -- --native --stop
[ "$RC" = 0 ] && contains "$ERR" "stale pid file" && [ ! -e "$ND/agent.pid" ]
check "--native --stop with a stale pid file removes it" $? "exit $RC" "$ERR"
echo "$$" >"$ND/agent.pid" # alive, but not an agent: never signalled
run_native "$ND" -- --native --stop
[ "$RC" = 0 ] && contains "$ERR" "stale pid file" && kill -0 $$
check "--native --stop does not signal a recycled pid that is not the agent" $? "exit $RC" "$ERR"

# --- Stub binaries ---------------------------------------------------------------------------------
PERL=$(command -v perl 2>/dev/null || true)
if [ -z "$PERL" ]; then
	skip "perl not installed: the stub agent (a unix socket listener) cannot run; native start tests skipped"
	finish
	exit $?
fi
STUBBIN=$TMP_ROOT/bin
mkdir -p "$STUBBIN"
cat >"$STUBBIN/gitgate-agent" <<'STUB'
#!/usr/bin/env perl
# Stub agent: records how it was started, listens on $GITGATE_SOCKET, exits on SIGTERM.
use strict;
use warnings;
use IO::Socket::UNIX;
if (grep { $_ eq '--check' } @ARGV) {
	open(my $c, '>>', "$ENV{STUB_AGENT_RECORD}.check") or die "record: $!";
	print $c "args=@ARGV\n";
	close($c);
	if ($ENV{STUB_AGENT_CHECK_FAIL}) {
		print STDERR "gitgate-agent: --env-file: unknown setting ALLOWED_REPO (did you mean ALLOWED_REPOS?)\n";
		exit 2;
	}
	print "gitgate-agent: configuration OK\n";
	exit 0;
}
open(my $rec, '>', $ENV{STUB_AGENT_RECORD}) or die "record: $!";
print $rec "args=@ARGV\n";
print $rec "$_=" . ($ENV{$_} // 'unset') . "\n"
	for qw(GITGATE_SOCKET GITGATE_STATE_DIR GITGATE_WORKSPACE GITHUB_TOKEN);
close($rec);
if ($ENV{STUB_AGENT_FAIL}) {
	print STDERR "gitgate-agent: invalid setting BLOCKED_BRANCHES: stub failure\n";
	exit 2;
}
my $sock = $ENV{GITGATE_SOCKET};
# SIGHUP: print the line in <record>.hup (what the test wants the agent to say), as the agent does.
my $hup = "$ENV{STUB_AGENT_RECORD}.hup";
$SIG{HUP} = sub {
	my $line = "configuration reloaded (SIGHUP): no setting changed";
	if (open(my $h, '<', $hup)) { $line = <$h>; chomp $line; close($h); }
	print STDERR "2026-01-01T00:00:00.000Z gitgate-agent: $line\n";
};
$SIG{TERM} = sub { unlink $sock; exit 0 };
$SIG{INT} = $SIG{TERM};
my $l;
unless ($ENV{STUB_AGENT_NOSOCKET}) {
	$l = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $sock, Listen => 5) or die "listen: $!";
}
print STDERR "gitgate-agent: listening on $sock\n";
sleep 1 while 1;
STUB
cat >"$STUBBIN/gitgate-shim" <<'STUB'
#!/bin/sh
case ${0##*/} in
agent-status) echo "stub agent-status socket=$GITGATE_SOCKET real_git=$GITGATE_REAL_GIT" ;;
*) echo "stub shim as ${0##*/}: $*" ;;
esac
STUB
chmod +x "$STUBBIN/gitgate-agent" "$STUBBIN/gitgate-shim"
STARTED=()
cleanup_agents() {
	local nd
	for nd in "${STARTED[@]}"; do
		env -i HOME="$HOMEDIR" PATH="$SYSBIN" GITGATE_NATIVE_DIR="$nd" "$RUN_SH" --native --stop >/dev/null 2>&1
	done
	rm -rf "$TMP_ROOT"
}
trap cleanup_agents EXIT

ND=$TMP_ROOT/nd
STARTED+=("$ND")
run_native "$ND" -- --native
line1="export PATH=\"$ND/bin:\$PATH\" GITGATE_SOCKET=\"$ND/agent.sock\" GITGATE_REAL_GIT=\""
[ "$RC" = 0 ] && [ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ] && contains "$OUT" "$line1"
check "--native: starts, prints one export line on stdout" $? "exit $RC" "stdout: $OUT" "stderr: $ERR" \
	"log: $(cat "$ND/agent.log" 2>/dev/null)"
contains "$ERR" "GITHUB_TOKEN is not set" && contains "$ERR" "eval"
check "--native without a token: a warning (not an error) and the eval hint on stderr" $? "$ERR"
pid=$(cat "$ND/agent.pid" 2>/dev/null)
[ -n "$pid" ] && kill -0 "$pid" && [ -S "$ND/agent.sock" ]
check "pid file names the running agent; socket exists" $? "pid=$pid" "$(ls -la "$ND")"
# shellcheck disable=SC2012 # the mode string of one known path
perms=$(ls -ld "$ND")
case $perms in drwx------*) st=0 ;; *) st=1 ;; esac
check "native dir is 0700" $st "$perms"
st=0
for n in git gh agent-status gitgate-shim; do
	[ "$(readlink "$ND/bin/$n")" = "$STUBBIN/gitgate-shim" ] || st=1
done
check "bin/{git,gh,agent-status,gitgate-shim} link to the shim" $st "$(ls -l "$ND/bin")"
rec=$(cat "$ND.record")
expected="args=--env-file $ENVF
GITGATE_SOCKET=$ND/agent.sock
GITGATE_STATE_DIR=$ND/state
GITGATE_WORKSPACE=unset
GITHUB_TOKEN=unset"
[ "$rec" = "$expected" ]
check "agent started with --env-file, socket and state dir, and no GITGATE_WORKSPACE" $? "expected:" "$expected" "got:" "$rec"
contains "$(cat "$ND/agent.log")" "listening on $ND/agent.sock"
check "agent output goes to agent.log" $? "$(cat "$ND/agent.log")"
# The export line works when evaluated.
# shellcheck disable=SC2016 # expanded by the inner bash
got=$(env -i PATH="$SYSBIN" bash -c 'eval "$1"; command -v git; command -v gh; echo "$GITGATE_SOCKET $GITGATE_MODE"' sh "$OUT")
[ "$got" = "$ND/bin/git"$'\n'"$ND/bin/gh"$'\n'"$ND/agent.sock native" ]
check "eval of the export line puts the shim first on PATH, GITGATE_MODE=native (the shim's hints)" $? "$got"

run_native "$ND" -- --native
[ "$RC" = 0 ] && contains "$ERR" "already running (pid $pid" && contains "$OUT" "$line1" && [ "$(cat "$ND/agent.pid")" = "$pid" ]
check "--native again: already running, same pid, export line" $? "exit $RC" "$OUT" "$ERR"

# --- Settings changed while it runs: restart (checked first), reload, --restart ---------------------
# .env edited: --check with the new settings, then a restart that says why.
echo 'ALLOW_TAG_PUSH=true' >>"$ENVF"
rm -f "$ND.record.check"
run_native "$ND" -- --native
pid2=$(cat "$ND/agent.pid" 2>/dev/null)
[ "$RC" = 0 ] && contains "$ERR" "the settings in $ENVF or the environment changed since the agent started; restarting the agent (pid $pid)" &&
	[ -n "$pid2" ] && [ "$pid2" != "$pid" ] && gone "$pid" && contains "$OUT" "$line1" &&
	grep -qx "args=--env-file $ENVF --check" "$ND.record.check"
check "--native after editing .env: checks, restarts, says so" $? "exit $RC" "$ERR" "pids $pid $pid2" "$(cat "$ND.record.check" 2>/dev/null)"
pid=$pid2
run_native "$ND" -- --native
[ "$RC" = 0 ] && contains "$ERR" "already running (pid $pid" && [ "$(cat "$ND/agent.pid")" = "$pid" ]
check "... then again: already running with the current settings, not restarted" $? "exit $RC" "$ERR"
# A setting in the environment counts too.
run_native "$ND" BLOCKED_BRANCHES='["main","develop"]' -- --native
pid2=$(cat "$ND/agent.pid" 2>/dev/null)
[ "$RC" = 0 ] && contains "$ERR" "restarting the agent (pid $pid)" && [ "$pid2" != "$pid" ]
check "--native with a setting changed in the environment: restarted" $? "exit $RC" "$ERR"
pid=$pid2
# The agent refusing the new settings: the running agent is kept.
echo 'ALLOWED_REPO=["a/b"]' >>"$ENVF"
run_native "$ND" STUB_AGENT_CHECK_FAIL=1 BLOCKED_BRANCHES='["main","develop"]' -- --native
[ "$RC" != 0 ] && contains "$ERR" "unknown setting ALLOWED_REPO (did you mean ALLOWED_REPOS?)" &&
	contains "$ERR" "the running agent (pid $pid) keeps the ones it started with" && [ -z "$OUT" ] &&
	[ "$(cat "$ND/agent.pid")" = "$pid" ] && ! gone "$pid"
check "--native with settings the agent refuses: error, the running agent kept" $? "exit $RC" "$OUT" "$ERR"
sed -i '/^ALLOWED_REPO=/d' "$ENVF"

# --reload: SIGHUP, and the agent's own reload line shown.
echo 'configuration reloaded (SIGHUP): changed ALLOW_TAG_PUSH; not applied until the agent restarts: GITHUB_TOKEN' >"$ND.record.hup"
run_native "$ND" BLOCKED_BRANCHES='["main","develop"]' -- --native --reload
[ "$RC" = 0 ] && contains "$ERR" "run.sh: agent: configuration reloaded (SIGHUP): changed ALLOW_TAG_PUSH; not applied until the agent restarts: GITHUB_TOKEN" &&
	contains "$ERR" "to apply those: ./run.sh --native --restart" && [ "$(cat "$ND/agent.pid")" = "$pid" ]
check "--native --reload: SIGHUP, the agent's line, the restart hint for what it cannot apply" $? "exit $RC" "$ERR"
echo 'reload rejected, keeping the previous configuration: BLOCKED_BRANCHES: expected a JSON array' >"$ND.record.hup"
run_native "$ND" BLOCKED_BRANCHES='["main","develop"]' -- --native --reload
[ "$RC" != 0 ] && contains "$ERR" "reload rejected, keeping the previous configuration: BLOCKED_BRANCHES"
check "--native --reload rejected by the agent: its reason, non-zero" $? "exit $RC" "$ERR"
rm -f "$ND.record.hup"

# --restart: always.
run_native "$ND" -- --native --restart
pid2=$(cat "$ND/agent.pid" 2>/dev/null)
[ "$RC" = 0 ] && contains "$ERR" "restarting the agent (pid $pid)" && [ "$pid2" != "$pid" ] && gone "$pid" && contains "$OUT" "$line1"
check "--native --restart: stopped and started again" $? "exit $RC" "$ERR"
pid=$pid2

run_native "$ND" -- --native --status
[ "$RC" = 0 ] && contains "$OUT" "stub agent-status socket=$ND/agent.sock real_git="
check "--native --status runs agent-status through the shim" $? "exit $RC" "$OUT" "$ERR"

cat >"$TMP_ROOT/fakeshell" <<'STUB'
#!/bin/sh
echo "PATH=$PATH"
echo "GITGATE_SOCKET=$GITGATE_SOCKET"
STUB
chmod +x "$TMP_ROOT/fakeshell"
run_native "$ND" SHELL="$TMP_ROOT/fakeshell" -- --native --shell
[ "$RC" = 0 ] && contains "$OUT" "PATH=$ND/bin:$SYSBIN" && contains "$OUT" "GITGATE_SOCKET=$ND/agent.sock"
check "--native --shell: \$SHELL with the shim first on PATH and GITGATE_SOCKET" $? "exit $RC" "$OUT" "$ERR"

run_native "$ND" -- --native --stop
gone "$pid" && [ "$RC" = 0 ] && [ ! -e "$ND/agent.pid" ] && [ ! -e "$ND/agent.sock" ] && [ ! -e "$ND/agent.launch" ] &&
	contains "$ERR" "agent stopped (pid $pid)"
check "--native --stop: SIGTERM, process gone, pid file and socket removed" $? "exit $RC" "$ERR"

# Without setsid (macOS): nohup in a process group of its own, so Ctrl-C does not reach it.
NOSETSID=$TMP_ROOT/sysbin-nosetsid
mkdir -p "$NOSETSID"
cp -P "$SYSBIN"/* "$NOSETSID"/
rm -f "$NOSETSID/setsid"
run_capture env -i HOME="$HOMEDIR" PATH="$NOSETSID" GITGATE_ENV_FILE="$ENVF" GITGATE_NATIVE_DIR="$ND" \
	GITGATE_BIN_DIR="$STUBBIN" STUB_AGENT_RECORD="$ND.record" "$RUN_SH" --native
pid=$(cat "$ND/agent.pid" 2>/dev/null)
pgrp=$(cut -d' ' -f5 "/proc/$pid/stat" 2>/dev/null || true)
[ "$RC" = 0 ] && [ -S "$ND/agent.sock" ] && { [ ! -e /proc/self/stat ] || [ "$pgrp" = "$pid" ]; }
check "without setsid: started with nohup in its own process group" $? "exit $RC" "$ERR" "pid $pid pgrp $pgrp"
run_native "$ND" -- --native --stop
[ "$RC" = 0 ] && gone "$pid"
check "... and stopped" $? "exit $RC" "$ERR"

# A deprecated GITGATE_WORKSPACE in .env and a token: the start works, the workspace is not passed
# on (the agent never reads it), one warning says so, and the token is left for the agent to read.
printf 'GITHUB_TOKEN=ghp_x\nGITGATE_WORKSPACE=%s/ws\n' "$TMP_ROOT" >"$ENVF"
run_native "$ND" -- --native
[ "$RC" = 0 ] && grep -qx "GITGATE_WORKSPACE=unset" "$ND.record" && ! contains "$ERR" "GITHUB_TOKEN is not set" &&
	contains "$ERR" "GITGATE_WORKSPACE is deprecated and ignored" && grep -qx "GITHUB_TOKEN=unset" "$ND.record"
check "a deprecated GITGATE_WORKSPACE in .env is not passed on, with a warning; the token is left for the agent" $? "exit $RC" "$ERR" "$(cat "$ND.record")"
launch=$(cat "$ND/agent.launch" 2>/dev/null)
! contains "$launch" ghp_x && ! contains "$launch" "workspace=" && [ "$(printf '%s\n' "$launch" | grep -c '^settings=[0-9a-f]\{64\}$')" = 1 ]
check "agent.launch records the settings as a sha256 digest only, never the token" $? "$launch"
run_native "$ND" -- --native --stop

# No .env: started without --env-file.
run_native "$ND" GITGATE_ENV_FILE="$TMP_ROOT/absent.env" -- --native
[ "$RC" = 0 ] && grep -qx "args=" "$ND.record"
check "no .env: the agent runs without --env-file" $? "exit $RC" "$ERR" "$(cat "$ND.record")"
run_native "$ND" -- --native --stop

# The agent exits at start: its log is shown and run.sh fails.
ND2=$TMP_ROOT/nd2
STARTED+=("$ND2")
run_native "$ND2" STUB_AGENT_FAIL=1 -- --native
[ "$RC" != 0 ] && contains "$ERR" "invalid setting BLOCKED_BRANCHES: stub failure" && contains "$ERR" "exited at start" &&
	[ ! -e "$ND2/agent.pid" ] && [ -z "$OUT" ]
check "agent exiting at start: log tail shown, non-zero, no export line" $? "exit $RC" "$OUT" "$ERR"

# The socket never appears: bounded wait, then an error naming the log and how to stop.
run_native "$ND2" STUB_AGENT_NOSOCKET=1 GITGATE_START_TIMEOUT=1 -- --native
[ "$RC" != 0 ] && contains "$ERR" "did not create $ND2/agent.sock within 1s" && contains "$ERR" "--native --stop"
check "socket never created: fails after GITGATE_START_TIMEOUT" $? "exit $RC" "$ERR"
run_native "$ND2" -- --native --stop
[ "$RC" = 0 ] && contains "$ERR" "agent stopped"
check "... and --native --stop stops that agent" $? "exit $RC" "$ERR"


# --- Building with cargo (stub cargo and rustc): the static (musl) shim when rustc has the target --
CARGOBIN=$TMP_ROOT/cargobin
mkdir -p "$CARGOBIN" "$TMP_ROOT/sysroot-musl/lib/rustlib/x86_64-unknown-linux-musl/lib" "$TMP_ROOT/sysroot-gnu/lib"
cat >"$CARGOBIN/cargo" <<'STUB'
#!/bin/sh
# Stub cargo: logs its argv, "builds" by copying the stub binaries where cargo would put them.
echo "cargo $*" >>"$STUB_CARGO_LOG"
t=$CARGO_TARGET_DIR
case " $* " in
*" -p gitgate-agent "*) mkdir -p "$t/release" && cp "$STUB_SRC/gitgate-agent" "$t/release/" ;;
*" --target "*)
	if [ -n "${STUB_MUSL_FAIL:-}" ]; then
		echo "error[E0463]: can't find crate for core (stub)" >&2
		exit 101
	fi
	tt=${*##*--target }
	tt=${tt%% *}
	mkdir -p "$t/$tt/shim" && cp "$STUB_SRC/gitgate-shim" "$t/$tt/shim/"
	;;
*) mkdir -p "$t/shim" && cp "$STUB_SRC/gitgate-shim" "$t/shim/" ;;
esac
STUB
cat >"$CARGOBIN/rustc" <<'STUB'
#!/bin/sh
case $1 in
-vV) printf 'rustc 1.95.0 (stub)\nhost: x86_64-unknown-linux-gnu\n' ;;
--print) echo "$STUB_SYSROOT" ;;
*) exit 1 ;;
esac
STUB
chmod +x "$CARGOBIN/cargo" "$CARGOBIN/rustc"
# run_built ND TARGET_DIR SYSROOT [VAR=VALUE...]: run.sh --native building with the stub cargo.
run_built() {
	local nd=$1 t=$2 sysroot=$3
	shift 3
	STARTED+=("$nd")
	run_native "$nd" GITGATE_BIN_DIR= PATH="$CARGOBIN:$SYSBIN" CARGO_TARGET_DIR="$t" STUB_SRC="$STUBBIN" \
		STUB_CARGO_LOG="$t.cargo" STUB_SYSROOT="$TMP_ROOT/$sysroot" "$@" -- --native
}
T=$TMP_ROOT/t-musl
run_built "$TMP_ROOT/nd-musl" "$T" sysroot-musl
[ "$RC" = 0 ] && [ "$(readlink "$TMP_ROOT/nd-musl/bin/git")" = "$T/x86_64-unknown-linux-musl/shim/gitgate-shim" ] &&
	grep -qx 'cargo build --profile shim -p gitgate-shim --target x86_64-unknown-linux-musl' "$T.cargo" &&
	! grep -qx 'cargo build --profile shim -p gitgate-shim' "$T.cargo" && ! contains "$ERR" "glibc"
check "--native builds the static shim (--target x86_64-unknown-linux-musl) when rustc has the target, and links it" $? \
	"exit $RC" "$ERR" "$(cat "$T.cargo")" "$(ls -l "$TMP_ROOT/nd-musl/bin")"
run_native "$TMP_ROOT/nd-musl" -- --native --stop

T=$TMP_ROOT/t-gnu
run_built "$TMP_ROOT/nd-gnu" "$T" sysroot-gnu
[ "$RC" = 0 ] && [ "$(readlink "$TMP_ROOT/nd-gnu/bin/git")" = "$T/shim/gitgate-shim" ] &&
	! grep -q -- '--target' "$T.cargo" &&
	[ "$(printf '%s\n' "$ERR" | grep -c 'warning: .*rustup target add x86_64-unknown-linux-musl')" = 1 ]
check "--native without the musl target: the glibc shim, with a one-line warning naming the rustup command" $? \
	"exit $RC" "$ERR" "$(cat "$T.cargo")"
run_native "$TMP_ROOT/nd-gnu" -- --native --stop

T=$TMP_ROOT/t-fail
run_built "$TMP_ROOT/nd-fail" "$T" sysroot-musl STUB_MUSL_FAIL=1
[ "$RC" = 0 ] && [ "$(readlink "$TMP_ROOT/nd-fail/bin/git")" = "$T/shim/gitgate-shim" ] &&
	contains "$ERR" "warning: the static shim build (--target x86_64-unknown-linux-musl) failed" &&
	grep -qx 'cargo build --profile shim -p gitgate-shim' "$T.cargo"
check "--native when the static shim build fails: falls back to the glibc build with a warning" $? \
	"exit $RC" "$ERR" "$(cat "$T.cargo")"
run_native "$TMP_ROOT/nd-fail" -- --native --stop

# No cargo on PATH: the binaries already built, the static shim preferred.
STARTED+=("$TMP_ROOT/nd-nocargo")
run_native "$TMP_ROOT/nd-nocargo" GITGATE_BIN_DIR= CARGO_TARGET_DIR="$TMP_ROOT/t-musl" -- --native
[ "$RC" = 0 ] && contains "$ERR" "cargo not found; using the existing binaries" &&
	[ "$(readlink "$TMP_ROOT/nd-nocargo/bin/git")" = "$TMP_ROOT/t-musl/x86_64-unknown-linux-musl/shim/gitgate-shim" ]
check "--native without cargo: uses the built binaries, the static shim first" $? "exit $RC" "$ERR" \
	"$(ls -l "$TMP_ROOT/nd-nocargo/bin" 2>&1)"
run_native "$TMP_ROOT/nd-nocargo" -- --native --stop

finish
