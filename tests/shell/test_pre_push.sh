#!/usr/bin/env bash
# hooks/pre-push under dash (POSIX sh) with a stub gitgate-shim, and without any shim.
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOOK=$REPO/hooks/pre-push
SHELL_FOR_HOOK=$(command -v dash 2>/dev/null || true)
if [ -z "$SHELL_FOR_HOOK" ]; then
	skip "dash not installed (apt-get install dash); running the hook under sh instead"
	SHELL_FOR_HOOK=/bin/sh
fi
SYSBIN=$TMP_ROOT/sysbin
make_sysbin "$SYSBIN"
STUBS=$TMP_ROOT/stubs
mkdir -p "$STUBS"
# The stub shim records its argv and stdin; it denies (126, with a one-line reason) any update of
# refs/heads/main, like the agent with the default BLOCKED_BRANCHES.
cat >"$STUBS/gitgate-shim" <<'STUB'
#!/bin/sh
printf '%s\n' "$@" >"$STUB_ARGS"
cat >"$STUB_STDIN"
if grep -q ' refs/heads/main ' "$STUB_STDIN"; then
	echo "gitgate: denied: push to main: branch is blocked (BLOCKED_BRANCHES)" >&2
	exit 126
fi
exit 0
STUB
chmod +x "$STUBS/gitgate-shim"
export STUB_ARGS=$TMP_ROOT/args STUB_STDIN=$TMP_ROOT/stdin
Z=0000000000000000000000000000000000000000
A=1111111111111111111111111111111111111111
B=2222222222222222222222222222222222222222
URL=https://github.com/me/project.git

# hook INPUT [VAR=VALUE...]: run the hook under dash as git would, stdin INPUT.
hook() {
	local input=$1
	shift
	rm -f "$STUB_ARGS" "$STUB_STDIN"
	RC=0
	printf '%s' "$input" | env -i PATH="$STUBS:$SYSBIN" STUB_ARGS="$STUB_ARGS" STUB_STDIN="$STUB_STDIN" \
		"$@" "$SHELL_FOR_HOOK" "$HOOK" origin "$URL" >/dev/null 2>"$TMP_ROOT/err" || RC=$?
	ERR=$(cat "$TMP_ROOT/err")
}

allowed="refs/heads/claude/x $A refs/heads/claude/x $Z
"
hook "$allowed"
# Each line is passed on with the ancestry the hook could work out locally appended (v3).
if [ "$RC" = 0 ] && [ "$(cat "$STUB_STDIN")" = "${allowed%?} na" ] &&
	[ "$(cat "$STUB_ARGS")" = "hook"$'\n'"pre-push"$'\n'"origin"$'\n'"$URL" ]; then
	pass "allowed ref line: exit 0, shim got 'hook pre-push origin <url>' and the ref lines"
else
	fail "allowed ref line" "exit $RC; stderr: $ERR" "args: $(cat "$STUB_ARGS" 2>/dev/null)" "stdin: $(cat "$STUB_STDIN" 2>/dev/null)"
fi

denied="refs/heads/claude/x $A refs/heads/claude/x $Z
refs/heads/main $B refs/heads/main $A
"
hook "$denied"
denied_sent="refs/heads/claude/x $A refs/heads/claude/x $Z na
refs/heads/main $B refs/heads/main $A unknown"
if [ "$RC" = 126 ] && contains "$ERR" "gitgate: denied: push to main" && [ "$(cat "$STUB_STDIN")" = "$denied_sent" ]; then
	pass "denied ref line: exit 126 with the agent's reason, every line passed through"
else
	fail "denied ref line" "exit $RC; stderr: $ERR" "stdin: $(cat "$STUB_STDIN" 2>/dev/null)"
fi

hook ""
if [ "$RC" = 0 ] && [ -e "$STUB_STDIN" ] && [ ! -s "$STUB_STDIN" ]; then
	pass "no ref lines: the shim is asked anyway and allows"
else
	fail "no ref lines" "exit $RC; stderr: $ERR"
fi

hook "$denied" GITGATE_SHIM="$STUBS/gitgate-shim"
if [ "$RC" = 126 ]; then pass "GITGATE_SHIM as an absolute path"; else fail "GITGATE_SHIM as an absolute path" "exit $RC; $ERR"; fi

# No shim anywhere: allowed, with a warning (the agent is the enforcement).
rm -f "$STUB_ARGS"
RC=0
ERR=$(printf '%s' "$denied" | env -i PATH="$SYSBIN" "$SHELL_FOR_HOOK" "$HOOK" origin "$URL" 2>&1 >/dev/null) || RC=$?
if [ "$RC" = 0 ] && contains "$ERR" "warning: gitgate-shim not found" && [ ! -e "$STUB_ARGS" ]; then
	pass "no shim on PATH: allowed with a warning"
else
	fail "no shim on PATH" "exit $RC; stderr: $ERR"
fi
RC=0
ERR=$(printf '%s' "$denied" | env -i PATH="$STUBS:$SYSBIN" GITGATE_SHIM=/nonexistent/gitgate-shim \
	"$SHELL_FOR_HOOK" "$HOOK" origin "$URL" 2>&1 >/dev/null) || RC=$?
if [ "$RC" = 0 ] && contains "$ERR" "warning: /nonexistent/gitgate-shim not found"; then
	pass "GITGATE_SHIM pointing nowhere: allowed with a warning"
else
	fail "GITGATE_SHIM pointing nowhere" "exit $RC; stderr: $ERR"
fi

# Real git runs the hook: a push to a local bare repo through the real git, with the hook installed
# by scripts/install-hook.sh (a hook denial stops the push before anything is sent).
REAL_GIT=$(command -v git 2>/dev/null || true)
if [ -n "$REAL_GIT" ]; then
	G=$TMP_ROOT/git
	mkdir -p "$G"
	export GIT_CONFIG_NOSYSTEM=1 HOME=$G GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com \
		GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
	"$REAL_GIT" init -q --bare "$G/remote.git"
	"$REAL_GIT" init -q -b main "$G/work"
	"$REAL_GIT" -C "$G/work" commit -q --allow-empty -m one
	"$REAL_GIT" -C "$G/work" remote add origin "$G/remote.git"
	PATH="$STUBS:$PATH" sh "$REPO/scripts/install-hook.sh" "$G/work" 2>/dev/null
	RC=0
	PATH="$STUBS:$PATH" "$REAL_GIT" -C "$G/work" push -q origin main:refs/heads/claude/x 2>"$TMP_ROOT/err" || RC=$?
	RC2=0
	PATH="$STUBS:$PATH" "$REAL_GIT" -C "$G/work" push -q origin main 2>"$TMP_ROOT/err2" || RC2=$?
	if [ "$RC" = 0 ] && [ "$RC2" != 0 ] && grep -q "push to main" "$TMP_ROOT/err2" &&
		"$REAL_GIT" -C "$G/remote.git" rev-parse -q --verify refs/heads/claude/x >/dev/null &&
		! "$REAL_GIT" -C "$G/remote.git" rev-parse -q --verify refs/heads/main >/dev/null; then
		pass "installed hook under real git: claude/x pushed, main refused"
	else
		fail "installed hook under real git" "allowed push exit $RC: $(cat "$TMP_ROOT/err")" \
			"denied push exit $RC2: $(cat "$TMP_ROOT/err2")"
	fi
else
	skip "git not installed: the installed-hook test"
fi

finish
