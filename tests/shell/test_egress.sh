#!/usr/bin/env bash
# The egress allowlist (ALLOWED_EGRESS, EGRESS): run.sh's checks and wiring against a stub engine;
# the rendered squid.conf through the real Squid: "squid -k parse", then Squid on loopback with a
# hosts_file mapping test names to 127.0.0.1, in front of a local TLS server (openssl s_server)
# and a local plain-HTTP server (perl): what is allowed reaches them, everything else gets 403
# and they see nothing; each request is in the access log.
# Squid is needed: skipped (with a message) when it is absent, except in CI (CI=true), where a
# missing squid (or curl, openssl, perl) is a failure (.ci/run installs them).
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RENDER=$REPO/containers/egress/squid-conf.sh
SYSBIN=$TMP_ROOT/sysbin
make_sysbin "$SYSBIN"
STUBS=$TMP_ROOT/stubs
make_stub "$STUBS" docker
export STUB_LOG=$TMP_ROOT/stub.log
WS=$TMP_ROOT/workspace
mkdir -p "$WS"
ENVF=$TMP_ROOT/.env
CONF=$TMP_ROOT/egress.squid.conf
COMPOSE=$REPO/containers/compose.yaml
DEFAULT='["api.anthropic.com","statsig.anthropic.com","statsig.com","sentry.io"]'

write_env() {
	{
		echo "GITHUB_TOKEN=ghp_testtoken"
		echo "WORKSPACE_DIR=$WS"
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$ENVF"
}
run_sh() {
	rm -f "$STUB_LOG"
	run_capture env -i HOME="$TMP_ROOT" PATH="$STUBS:$SYSBIN" STUB_LOG="$STUB_LOG" GITGATE_ENV_FILE="$ENVF" \
		GITGATE_EGRESS_CONF="$CONF" "$RUN_SH" "$@"
}
base="docker compose -f $COMPOSE -p gitgate --env-file $ENVF"

# --- run.sh refuses a bad ALLOWED_EGRESS before starting anything --------------------------------
while IFS='|' read -r val want; do
	[ -n "$val" ] || continue
	write_env "ALLOWED_EGRESS=$val"
	rm -f "$CONF"
	for cmd in start --shell --reload --egress-config; do
		args=()
		[ "$cmd" = start ] || args=("$cmd")
		run_sh "${args[@]}"
		if [ "$RC" != 0 ] && contains "$ERR" "run.sh: ALLOWED_EGRESS " && contains "$ERR" "$want" &&
			contains "$ERR" "(in $ENVF)" && [ -z "$(engine_calls)" ] && [ ! -e "$CONF" ] &&
			[ "$(printf '%s\n' "$ERR" | grep -c ALLOWED_EGRESS)" = 1 ]; then
			pass "ALLOWED_EGRESS=$val refused by ./run.sh ${args[*]}: $want"
		else
			fail "ALLOWED_EGRESS=$val refused by ./run.sh ${args[*]}" "exit $RC" "stderr: $ERR" "wanted: $want" "engine calls: $(engine_calls)"
		fi
	done
done <<'CASES'
api.anthropic.com|must be a JSON array of strings
["api.anthropic.com"|must be a JSON array of strings
[api.anthropic.com]|must be a JSON array of strings
["a.com",]|must be a JSON array of strings
[1]|must be a JSON array of strings
{"a":"b.com"}|must be a JSON array of strings
[["a.com"]]|must be a JSON array of strings
["a.com","b.com"]]|must be a JSON array of strings
|
[""]|contains an empty string
["api.anthropic.com",""]|contains an empty string
["https://registry.npmjs.org/"]|not URLs: "https://registry.npmjs.org/"; write only the host name, e.g. "registry.npmjs.org"
["registry.npmjs.org/pkg"]|not URLs or paths
["pypi.org:443"]|without a port
["pypi.org:8080"]|without a port
["a.*.example.com"]|a wildcard only as the whole leading label
["example.*"]|a wildcard only as the whole leading label
["*example.com"]|a wildcard only as the whole leading label
["**.example.com"]|a wildcard only as the whole leading label
["*"]|a wildcard only as the whole leading label
["*.com"]|fully qualified names with a dot
[".com"]|fully qualified names with a dot
["localhost"]|fully qualified names with a dot
["140.82.112.3"]|not IP addresses
["10.0.0.1"]|not IP addresses
["[2001:db8::1]"]|not IP addresses
["2001:db8::1"]|not IP addresses
["exa mple.com"]|must not contain spaces
["a..b.com"]|non-empty labels
["example.com."]|non-empty labels
["-bad.example.com"]|starting or ending with '-'
["bad_name.example.com"]|letters, digits, '-' and '.'
["a\u002ecom"]|no escapes
CASES
write_env "ALLOWED_EGRESS="
run_sh
if [ "$RC" != 0 ] && contains "$ERR" "run.sh: ALLOWED_EGRESS is empty" && contains "$ERR" "remove the line for the default" &&
	[ -z "$(engine_calls)" ]; then
	pass "ALLOWED_EGRESS= (empty) refused, naming the default"
else
	fail "ALLOWED_EGRESS= (empty) refused" "exit $RC" "stderr: $ERR" "engine calls: $(engine_calls)"
fi
for val in maybe 2 disabled; do
	write_env "EGRESS=$val"
	for cmd in start --stop --build --status --logs; do
		args=()
		[ "$cmd" = start ] || args=("$cmd")
		run_sh "${args[@]}"
		if [ "$RC" != 0 ] && contains "$ERR" "run.sh: EGRESS must be on or off" && contains "$ERR" "got: $val" &&
			[ -z "$(engine_calls)" ]; then
			pass "EGRESS=$val refused by ./run.sh ${args[*]}"
		else
			fail "EGRESS=$val refused by ./run.sh ${args[*]}" "exit $RC" "stderr: $ERR" "engine calls: $(engine_calls)"
		fi
	done
done
# --status with an invalid ALLOWED_EGRESS: says so, still runs agent-status.
write_env 'ALLOWED_EGRESS=["https://x.example"]'
run_sh --status
if contains "$ERR" "warning: ALLOWED_EGRESS entries are domain names, not URLs" && contains "$(engine_calls)" "agent-status"; then
	pass "--status with an invalid ALLOWED_EGRESS: a warning naming it, agent-status still runs"
else
	fail "--status with an invalid ALLOWED_EGRESS" "exit $RC" "stderr: $ERR" "calls: $(engine_calls)"
fi

# --- Valid lists: started, the rendered configuration has exactly the normalised names ----------
while IFS='|' read -r val want; do
	[ -n "$val" ] || continue
	write_env "ALLOWED_EGRESS=$val"
	rm -f "$CONF"
	run_sh
	got=$(sed -n 's/^acl allowed_egress dstdomain -n //p' "$CONF" 2>/dev/null)
	calls=$(engine_calls)
	if [ "$RC" = 0 ] && [ "$got" = "$want" ] && contains "$calls" "$base up -d agent egress" &&
		contains "$calls" "$base run --rm claude"; then
		pass "ALLOWED_EGRESS=$val accepted and rendered as: ${want:-(no acl)}"
	else
		fail "ALLOWED_EGRESS=$val accepted" "exit $RC" "stderr: $ERR" "acl: $got" "wanted: $want" "calls: $calls"
	fi
done <<'CASES'
["api.anthropic.com","statsig.anthropic.com","statsig.com","sentry.io"]|api.anthropic.com statsig.anthropic.com statsig.com sentry.io
[ "API.Anthropic.com" , "*.pythonhosted.org", "pypi.org" ]|api.anthropic.com .pythonhosted.org pypi.org
["*.example.com","a.example.com","example.com",".example.com","b.com","b.com"]|.example.com b.com
["xn--bcher-kva.example","a-b.c0m.io"]|xn--bcher-kva.example a-b.c0m.io
'["registry.npmjs.org"]'|registry.npmjs.org
[]|
CASES
# No ALLOWED_EGRESS line: the default, exactly Claude Code's hosts (no GitHub).
write_env
rm -f "$CONF"
run_sh
got=$(sed -n 's/^acl allowed_egress dstdomain -n //p' "$CONF" 2>/dev/null)
if [ "$RC" = 0 ] && [ "$got" = "api.anthropic.com statsig.anthropic.com statsig.com sentry.io" ] &&
	! grep -qi github "$CONF"; then
	pass "no ALLOWED_EGRESS: the default (Claude Code's hosts only, no GitHub)"
else
	fail "no ALLOWED_EGRESS: the default" "exit $RC" "stderr: $ERR" "acl: $got"
fi
# .env.example documents the same default run.sh applies.
if grep -qxF "# ALLOWED_EGRESS=$DEFAULT" "$REPO/.env.example" &&
	grep -qF "DEFAULT_ALLOWED_EGRESS='$DEFAULT'" "$RUN_SH" && ! grep -q '^ALLOWED_EGRESS=.*github' "$REPO/.env.example"; then
	pass ".env.example, run.sh: the same default ALLOWED_EGRESS, without GitHub"
else
	fail ".env.example and run.sh disagree on the default ALLOWED_EGRESS"
fi

# --- EGRESS=off: a warning at start and in --status; the override; the proxy is not started ------
write_env "EGRESS=off"
run_sh
calls=$(engine_calls)
off="docker compose -f $COMPOSE -f $REPO/containers/compose.egress-off.yaml -p gitgate --env-file $ENVF"
if [ "$RC" = 0 ] && contains "$ERR" "run.sh: warning: EGRESS=off" && contains "$ERR" "direct network access" &&
	contains "$calls" "$off up -d agent"$'\n' && ! contains "$calls" "up -d agent egress" &&
	contains "$calls" "$off run --rm claude"; then
	pass "EGRESS=off: warning at start, compose.egress-off.yaml added, proxy not started"
else
	fail "EGRESS=off at start" "exit $RC" "stderr: $ERR" "calls: $calls"
fi
run_sh --status
if contains "$ERR" "run.sh: warning: EGRESS=off" && contains "$(engine_calls)" "$off ps"; then
	pass "EGRESS=off: warning in --status"
else
	fail "EGRESS=off in --status" "exit $RC" "stderr: $ERR" "calls: $(engine_calls)"
fi
write_env "EGRESS=OFF"
run_sh --reload
if [ "$RC" = 0 ] && contains "$ERR" "warning: EGRESS=off" && ! contains "$(engine_calls)" "SIGHUP egress"; then
	pass "EGRESS=off: --reload warns and signals no proxy"
else
	fail "EGRESS=off --reload" "exit $RC" "stderr: $ERR" "calls: $(engine_calls)"
fi

# --- --status shows the list in effect; --logs egress; --egress-config -------------------------
write_env 'ALLOWED_EGRESS=["api.anthropic.com","registry.npmjs.org"]'
run_sh
run_sh --status
if contains "$ERR" "egress proxy: the AI container may reach only (HTTPS on 443, HTTP on 80): api.anthropic.com registry.npmjs.org" &&
	! contains "$ERR" "differs"; then
	pass "--status: the allowlist in effect"
else
	fail "--status: the allowlist in effect" "stderr: $ERR"
fi
write_env 'ALLOWED_EGRESS=["api.anthropic.com"]'
run_sh --status
if contains "$ERR" "may reach only (HTTPS on 443, HTTP on 80): api.anthropic.com registry.npmjs.org" &&
	contains "$ERR" "ALLOWED_EGRESS in $ENVF differs from the list in effect; apply it: ./run.sh --reload"; then
	pass "--status: an edited ALLOWED_EGRESS not yet applied is named"
else
	fail "--status: edited ALLOWED_EGRESS" "stderr: $ERR"
fi
run_sh --reload
if [ "$RC" = 0 ] && contains "$(engine_calls)" "$base kill -s SIGHUP egress" &&
	[ "$(sed -n 's/^acl allowed_egress dstdomain -n //p' "$CONF")" = api.anthropic.com ]; then
	pass "--reload: squid.conf re-rendered, the proxy sent SIGHUP"
else
	fail "--reload egress" "exit $RC" "stderr: $ERR" "calls: $(engine_calls)"
fi
run_sh --logs egress
if [ "$RC" = 0 ] && [ "$(engine_calls)" = "$base logs -f egress" ]; then
	pass "--logs egress follows the proxy's log"
else
	fail "--logs egress" "exit $RC" "stderr: $ERR" "calls: $(engine_calls)"
fi
run_sh --logs agent
if [ "$RC" = 0 ] && [ "$(engine_calls)" = "$base logs -f agent" ]; then pass "--logs agent"; else fail "--logs agent" "$(engine_calls)"; fi
run_sh --native --logs egress
if [ "$RC" != 0 ] && contains "$ERR" "native mode has no egress proxy"; then
	pass "--native --logs egress: native mode has no proxy, said so"
else
	fail "--native --logs egress" "exit $RC" "stderr: $ERR"
fi
run_capture env -i HOME="$TMP_ROOT" PATH="$SYSBIN" GITGATE_ENV_FILE="$ENVF" "$RUN_SH" --egress-config
if [ "$RC" = 0 ] && contains "$OUT" "acl allowed_egress dstdomain -n api.anthropic.com" && contains "$OUT" "http_port 3128"; then
	pass "--egress-config prints the rendered squid.conf (no engine needed)"
else
	fail "--egress-config" "exit $RC" "stderr: $ERR" "$OUT"
fi

# --- The rendered configuration itself (text) ---------------------------------------------------
prod=$(bash "$RENDER" "$DEFAULT")
st=0
for line in 'http_port 3128' 'via off' 'forwarded_for delete' 'cache deny all' 'access_log stdio:/dev/stdout squid' \
	'acl tls_port port 443' 'acl plain_http_port port 80' 'http_access deny raw_ip' \
	'http_access allow CONNECT tls_port allowed_egress' 'http_access allow !CONNECT plain_http plain_http_port allowed_egress'; do
	printf '%s\n' "$prod" | grep -qxF "$line" || {
		st=1
		echo "       missing: $line"
	}
done
# Deny-by-default: the last http_access rule is "deny all", and no allow rule lacks the allowlist.
[ "$(printf '%s\n' "$prod" | grep '^http_access' | tail -n 1)" = "http_access deny all" ] || st=1
! printf '%s\n' "$prod" | grep '^http_access allow' | grep -qv 'allowed_egress' || st=1
if [ "$st" = 0 ]; then
	pass "rendered squid.conf: port 3128, 443/80 only for allowed names, deny all last, via off, no X-Forwarded-For, no cache, access log to stdout"
else
	fail "rendered squid.conf" "$prod"
fi
empty=$(bash "$RENDER" '[]')
if ! printf '%s\n' "$empty" | grep -q '^http_access allow' && printf '%s\n' "$empty" | grep -qx 'http_access deny all'; then
	pass "ALLOWED_EGRESS=[]: no allow rule at all"
else
	fail "ALLOWED_EGRESS=[] renders an allow rule" "$empty"
fi

# --- The egress image: Squid from Debian's packages, non-root, nothing from the repository --------
cf=$REPO/containers/Containerfile.egress
if grep -q 'apt-get install -y --no-install-recommends squid' "$cf" && grep -qx 'USER proxy:proxy' "$cf" &&
	! grep -Eq '^(COPY|ADD) ' "$cf" && grep -q '"-N"' "$cf" && [ "$(grep -v '^#' "$cf.dockerignore")" = '*' ]; then
	pass "Containerfile.egress: Debian's squid, runs as proxy in the foreground, copies nothing (build context: nothing)"
else
	fail "Containerfile.egress" "$(cat "$cf" "$cf.dockerignore")"
fi

# --- The real Squid ------------------------------------------------------------------------------
need_tool() { # need_tool CMD: present, or skip (fail in CI)
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "${CI:-}" = true ]; then
		fail "$1 is required in CI for the egress proxy tests (.ci/run installs it: apt-get install $2)"
	else
		skip "$1 not installed (apt-get install $2): egress proxy not tested against the real Squid"
	fi
	return 1
}
SQUID=$(command -v squid 2>/dev/null || true)
[ -n "$SQUID" ] || [ ! -x /usr/sbin/squid ] || SQUID=/usr/sbin/squid
if [ -z "$SQUID" ]; then
	need_tool squid squid
	finish
	exit $?
fi

# (a) squid -k parse: the production rendering (default list, registries, []) and a broken one.
parse_ok() { "$SQUID" -k parse -f "$1" >"$TMP_ROOT/parse.out" 2>&1 && ! grep -Eq 'FATAL|ERROR|unrecognized' "$TMP_ROOT/parse.out"; }
for val in "$DEFAULT" '["api.anthropic.com","*.pythonhosted.org","pypi.org","registry.npmjs.org","crates.io","static.crates.io"]' '[]'; do
	bash "$RENDER" "$val" >"$TMP_ROOT/prod.conf"
	if parse_ok "$TMP_ROOT/prod.conf"; then
		pass "squid -k parse: the production configuration for $val"
	else
		fail "squid -k parse: $val" "$(cat "$TMP_ROOT/parse.out")"
	fi
done
{
	bash "$RENDER" "$DEFAULT"
	echo 'http_access allow bogus_acl'
} >"$TMP_ROOT/broken.conf"
if ! parse_ok "$TMP_ROOT/broken.conf"; then
	pass "squid -k parse rejects a broken configuration (the check can fail)"
else
	fail "squid -k parse accepted an undefined acl"
fi

# (b) Squid on loopback in front of local servers.
if ! { need_tool curl curl && need_tool openssl openssl && need_tool perl perl; }; then
	finish
	exit $?
fi
# Root (CI) binds the real ports 443 and 80; otherwise test-only high ports (--tls-port/--http-port).
if [ "$(id -u)" = 0 ]; then TLS=443 HTTP=80; else TLS=$((20000 + $$ % 10000)) HTTP=$((TLS + 1)); fi
OTHER_TLS=$((30000 + $$ % 10000))
OTHER_HTTP=$((OTHER_TLS + 1))
PROXY_PORT=$((OTHER_TLS + 2))
# Squid drops root privileges to its cache_effective_user: its files live in a world-writable
# directory outside the 0700 $TMP_ROOT.
SQ=$(mktemp -d "${TMPDIR:-/tmp}/gitgate-egress.XXXXXX")
chmod 0777 "$SQ"
PIDS=()
cleanup() {
	local p i
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$SQ" "$TMP_ROOT"
}
trap cleanup EXIT

# wait_for FILE PATTERN SECONDS: bounded wait for PATTERN in FILE.
wait_for() {
	local i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		[ "$i" -lt $(($3 * 10)) ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

printf '127.0.0.1 allowed.test sub.wild.test wild.test evilwild.test wild.test.evil.test denied.test\n' >"$SQ/hosts"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SQ/key.pem" -out "$SQ/cert.pem" -days 1 \
	-subj /CN=allowed.test >/dev/null 2>&1 || fail "openssl req: test certificate"
# TLS servers: -state logs every connection's handshake (nothing = it saw nothing).
tls_server() { # PORT LOG
	openssl s_server -accept "127.0.0.1:$1" -cert "$SQ/cert.pem" -key "$SQ/key.pem" -www -state >"$2" 2>&1 </dev/null &
	PIDS+=($!)
}
# Plain-HTTP servers: log each request line and header received, answer 200.
http_server() { # PORT LOG
	perl -MIO::Socket::INET -e '
		$| = 1;
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 8, ReuseAddr => 1) or die "listen: $!\n";
		print "LISTENING\n";
		while (my $c = $s->accept) {
			my $l = <$c>; $l = "" unless defined $l;
			print "REQUEST $l";
			while (my $h = <$c>) { last if $h =~ /^\r?\n$/; print "HEADER $h" }
			print $c "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello plain\n";
			close $c;
		}' "$1" >"$2" 2>&1 </dev/null &
	PIDS+=($!)
}
tls_server "$TLS" "$SQ/tls.log"
tls_server "$OTHER_TLS" "$SQ/tls-other.log"
http_server "$HTTP" "$SQ/http.log"
http_server "$OTHER_HTTP" "$SQ/http-other.log"

bash "$RENDER" --listen "127.0.0.1:$PROXY_PORT" --pid-file "$SQ/squid.pid" --access-log "$SQ/access.log" \
	--cache-log "$SQ/cache.log" --hosts-file "$SQ/hosts" --tls-port "$TLS" --http-port "$HTTP" \
	'["allowed.test","*.wild.test"]' >"$SQ/squid.conf"
if parse_ok "$SQ/squid.conf"; then pass "squid -k parse: the test configuration"; else fail "squid -k parse: test configuration" "$(cat "$TMP_ROOT/parse.out")"; fi
"$SQUID" -N -f "$SQ/squid.conf" >"$SQ/squid.out" 2>&1 </dev/null &
PIDS+=($!)

ready=1
if ! { wait_for "$SQ/tls.log" ACCEPT 10 && wait_for "$SQ/tls-other.log" ACCEPT 10 &&
	wait_for "$SQ/http.log" LISTENING 10 && wait_for "$SQ/http-other.log" LISTENING 10; }; then
	ready=0
	fail "local servers did not start within 10 s" "$(cat "$SQ"/tls.log "$SQ"/http.log "$SQ"/tls-other.log "$SQ"/http-other.log)"
fi
wait_for "$SQ/cache.log" 'Accepting HTTP Socket connections' 20 || {
	ready=0
	fail "squid did not start listening within 20 s" "$(tail -n 20 "$SQ/cache.log" "$SQ/squid.out" 2>/dev/null)"
}

PROXY=http://127.0.0.1:$PROXY_PORT
# through URL [CURL-ARGS...]: curl through the proxy; CODE = the final HTTP status, CONNECT = the
# proxy's answer to CONNECT (000 for plain HTTP), BODY = the body.
CODE='' CONNECT='' BODY=''
through() {
	local url=$1 w
	shift
	w=$(curl -sS -k --max-time 10 --proxy "$PROXY" --noproxy '' -o "$SQ/body" -w '%{http_code} %{http_connect}' "$@" "$url" 2>/dev/null) || true
	CODE=${w% *} CONNECT=${w#* }
	BODY=$(cat "$SQ/body" 2>/dev/null || true)
}
size() { wc -c <"$1" | tr -d ' '; }
# logged PATTERN: the access log has a line matching PATTERN (bounded wait: squid writes it after
# the transaction).
logged() { wait_for "$SQ/access.log" "$1" 5; }

if [ "$ready" = 1 ]; then
	# Denied first (so no earlier connection's log lines are still arriving), then allowed.
	# Denied CONNECTs: 403 from the proxy, the server saw nothing, a TCP_DENIED/403 log line each.
	while read -r target log why; do
		[ -n "$target" ] || continue
		before=$(size "$log")
		through "https://$target/"
		if [ "$CONNECT" = 403 ] && [ "$(size "$log")" = "$before" ] && logged "TCP_DENIED/403 [0-9]* CONNECT $target "; then
			pass "CONNECT $target ($why): 403, the server saw nothing, logged TCP_DENIED/403"
		else
			fail "CONNECT $target ($why)" "connect=$CONNECT code=$CODE" "server log grew: $before -> $(size "$log")" "$(cat "$SQ/access.log")"
		fi
	done <<EOF
denied.test:$TLS $SQ/tls.log a name not in the list
evilwild.test:$TLS $SQ/tls.log a name that only ends like a wildcard entry
wild.test.evil.test:$TLS $SQ/tls.log an allowed name as a prefix of another domain
127.0.0.1:$TLS $SQ/tls.log a raw IP address
allowed.test:$OTHER_TLS $SQ/tls-other.log an allowed name on another port
allowed.test:$HTTP $SQ/http.log an allowed name on the plain-HTTP port
EOF
	# An IPv6 literal, [::1]:443 (the loopback the TLS server is not on: the 403 must come first).
	through "https://[::1]:$TLS/" -g
	if [ "$CONNECT" = 403 ] && logged "TCP_DENIED/403 [0-9]* CONNECT \[::1\]:$TLS "; then
		pass "CONNECT [::1]:$TLS (an IPv6 address): 403, logged TCP_DENIED/403"
	else
		fail "CONNECT [::1]:$TLS" "connect=$CONNECT code=$CODE" "$(cat "$SQ/access.log")"
	fi
	# Denied plain HTTP: 403, nothing reached the HTTP servers.
	while read -r host url log why; do
		[ -n "$url" ] || continue
		before=$(size "$log")
		through "$url"
		if [ "$CODE" = 403 ] && [ "$(size "$log")" = "$before" ] && logged "TCP_DENIED/403 [0-9]* GET http://${host}[:/]"; then
			pass "GET $url ($why): 403, the server saw nothing, logged TCP_DENIED/403"
		else
			fail "GET $url ($why)" "code=$CODE" "server log grew: $before -> $(size "$log")" "$(cat "$SQ/access.log")"
		fi
	done <<EOF
denied.test http://denied.test:$HTTP/x $SQ/http.log a name not in the list
127.0.0.1 http://127.0.0.1:$HTTP/x $SQ/http.log a raw IP address
allowed.test http://allowed.test:$OTHER_HTTP/x $SQ/http-other.log an allowed name on another port
EOF
	# Allowed: CONNECT to an allowed name on the TLS port reaches the TLS server.
	for name in allowed.test sub.wild.test; do
		before=$(size "$SQ/tls.log")
		through "https://$name:$TLS/"
		if [ "$CONNECT" = 200 ] && [ "$CODE" = 200 ] && contains "$BODY" "s_server" &&
			[ "$(size "$SQ/tls.log")" -gt "$before" ] && logged "TCP_TUNNEL/200 [0-9]* CONNECT $name:$TLS "; then
			pass "CONNECT $name:$TLS (allowed) reaches the local TLS server; access log: TCP_TUNNEL/200"
		else
			fail "CONNECT $name:$TLS (allowed)" "connect=$CONNECT code=$CODE" "body: ${BODY:0:200}" "$(cat "$SQ/access.log")"
		fi
	done
	# Allowed: plain HTTP to an allowed name on the HTTP port reaches the HTTP server.
	through "http://allowed.test:$HTTP/hello"
	if [ "$CODE" = 200 ] && [ "$BODY" = "hello plain" ] && grep -q "REQUEST GET /hello" "$SQ/http.log" &&
		logged "TCP_MISS/200 [0-9]* GET http://allowed.test"; then
		pass "plain HTTP GET http://allowed.test:$HTTP/ (allowed) reaches the local HTTP server"
	else
		fail "plain HTTP to allowed.test" "code=$CODE body=$BODY" "$(cat "$SQ/http.log")" "$(cat "$SQ/access.log")"
	fi
	# What reached the server carries no Via and no X-Forwarded-For (via off, forwarded_for delete).
	if grep -q '^HEADER Host: allowed.test' "$SQ/http.log" && ! grep -qi '^HEADER via:' "$SQ/http.log" &&
		! grep -qi '^HEADER x-forwarded-for:' "$SQ/http.log"; then
		pass "plain HTTP through the proxy: no Via, no X-Forwarded-For header added"
	else
		fail "headers added by the proxy" "$(cat "$SQ/http.log")"
	fi

	# Squid's own answer carries no version string and the requests carried no Via header.
	if ! grep -q 'squid/[0-9]' "$SQ/body" 2>/dev/null; then
		pass "the proxy's error page names no Squid version (httpd_suppress_version_string)"
	else
		fail "the proxy's error page shows its version" "$(head -c 400 "$SQ/body")"
	fi
fi

# Stop Squid (bounded) before the servers: the cleanup trap ends the rest.
sq_pid=${PIDS[${#PIDS[@]}-1]}
kill -TERM "$sq_pid" 2>/dev/null || true
i=0
while kill -0 "$sq_pid" 2>/dev/null && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$sq_pid" 2>/dev/null; then
	fail "squid did not stop within 10 s of SIGTERM"
else
	pass "squid stopped on SIGTERM"
fi

finish
