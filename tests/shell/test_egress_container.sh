#!/usr/bin/env bash
# Opt-in (GITGATE_CONTAINER_TEST=1, needs podman + runc as root: apt-get install podman runc): the
# egress wiring of containers/compose.yaml with real containers and networks.
#   - network "int" (--internal) and "out", as in compose.yaml;
#   - a TLS server (openssl s_server) on "out" only, standing for a host on the internet;
#   - the egress proxy on both, hardened as compose runs it (read-only root, cap-drop ALL,
#     no-new-privileges, uid 13, tmpfs), with the production squid.conf rendered by
#     containers/egress/squid-conf.sh for ["allowed.test"] plus a hosts_file mapping the test names
#     to the server (the only addition);
#   - a client (curl) on "int" only, standing for the AI container, HTTPS_PROXY set to the proxy.
# Checked: the client has no route to the server without the proxy; through it, the allowed name
# reaches the server, and a denied name, the server's IP and another port get 403; the proxy's
# log (podman logs, what ./run.sh --logs egress shows) has each request.
# No registry is needed: the image is built FROM scratch from this machine's squid, curl and
# openssl with the libraries ldd lists. Every podman call is bounded; everything is removed.
#   GITGATE_CONTAINER_TEST=1 bash tests/shell/test_egress_container.sh
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${GITGATE_CONTAINER_TEST:-}" != 1 ]; then
	skip "set GITGATE_CONTAINER_TEST=1 to run the podman egress test"
	finish
	exit $?
fi
for t in podman curl openssl ldd timeout; do
	if ! command -v "$t" >/dev/null 2>&1; then
		fail "GITGATE_CONTAINER_TEST=1 but $t is missing (apt-get install podman runc curl openssl)"
		finish
		exit $?
	fi
done
SQUID=$(command -v squid 2>/dev/null || echo /usr/sbin/squid)
if [ ! -x "$SQUID" ] || [ ! -x /usr/lib/squid/unlinkd ] || [ ! -d /usr/share/squid ]; then
	fail "GITGATE_CONTAINER_TEST=1 but squid is not installed (apt-get install squid)"
	finish
	exit $?
fi
if [ "$(id -u)" != 0 ]; then
	skip "the podman egress test needs root (podman networks with fixed subnets)"
	finish
	exit $?
fi

# podman's default nofile limit can exceed what a sandbox allows (see tests/tests/container.rs).
if [ -z "${CONTAINERS_CONF:-}" ]; then
	export CONTAINERS_CONF=$TMP_ROOT/containers.conf
	{
		printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
		! command -v runc >/dev/null 2>&1 || printf '[engine]\nruntime = "runc"\n'
	} >"$CONTAINERS_CONF"
fi
P() { timeout 120 podman "$@" 2> >(grep -v 'failed to connect to syslog' >&2); }

ID=gg$$
IMAGE=localhost/gitgate-egress-test:$ID
NET_INT=$ID-int NET_OUT=$ID-out
SUB=$((100 + $$ % 100))
INT_PREFIX=10.201.$SUB OUT_PREFIX=10.202.$SUB
SRV_IP=$OUT_PREFIX.10 PROXY_IP=$INT_PREFIX.2
cleanup() {
	P rm -f -t 2 "$ID-client" "$ID-egress" "$ID-srv" >/dev/null 2>&1
	P network rm -f "$NET_INT" "$NET_OUT" >/dev/null 2>&1
	P rmi -f "$IMAGE" >/dev/null 2>&1
	rm -rf "$TMP_ROOT"
}
trap cleanup EXIT

# The image: host binaries and their libraries, FROM scratch.
CTX=$TMP_ROOT/ctx
mkdir -p "$CTX/etc" "$CTX/usr/share" "$CTX/usr/lib/squid"
for b in "$SQUID" /usr/lib/squid/unlinkd "$(command -v curl)" "$(command -v openssl)"; do
	mkdir -p "$CTX$(dirname "$b")"
	cp -L "$b" "$CTX$b"
	for l in $(ldd "$b" | grep -o '/[^ ]*'); do
		mkdir -p "$CTX$(dirname "$l")"
		cp -nL "$l" "$CTX$l"
	done
done
cp -rL /usr/share/squid "$CTX/usr/share/"
printf 'root:x:0:0::/:/nonexistent\nproxy:x:13:13::/:/nonexistent\n' >"$CTX/etc/passwd"
printf 'root:x:0:\nproxy:x:13:\n' >"$CTX/etc/group"
printf 'FROM scratch\nCOPY . /\n' >"$TMP_ROOT/Containerfile"
if ! P build -q -t "$IMAGE" -f "$TMP_ROOT/Containerfile" "$CTX" >/dev/null; then
	fail "podman build of the FROM scratch test image"
	finish
	exit $?
fi

# The files the containers mount (readable by uid 13).
W=$(mktemp -d "${TMPDIR:-/tmp}/gitgate-egress-ct.XXXXXX")
chmod 0755 "$W"
trap 'cleanup; rm -rf "$W"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 1 \
	-subj /CN=allowed.test >/dev/null 2>&1
chmod 0644 "$W/key.pem"
printf '%s allowed.test denied.test\n' "$SRV_IP" >"$W/hosts"
bash "$REPO/containers/egress/squid-conf.sh" --hosts-file /etc/squid/hosts '["allowed.test"]' >"$W/squid.conf"
chmod 0644 "$W/hosts" "$W/squid.conf"

if ! { P network create --internal --subnet "$INT_PREFIX.0/24" "$NET_INT" >/dev/null &&
	P network create --subnet "$OUT_PREFIX.0/24" "$NET_OUT" >/dev/null; }; then
	fail "podman network create (internal and outside)"
fi
P run -d --name "$ID-srv" --network "$NET_OUT:ip=$SRV_IP" -v "$W:/w:ro" "$IMAGE" \
	/usr/bin/openssl s_server -accept 443 -cert /w/cert.pem -key /w/key.pem -www >/dev/null ||
	fail "start the TLS server container"
P run -d --name "$ID-egress" --network "$NET_INT:ip=$PROXY_IP" --network "$NET_OUT" \
	--read-only --cap-drop ALL --security-opt no-new-privileges --user 13:13 \
	--tmpfs /run/squid:mode=1777 --tmpfs /var/spool/squid:mode=1777 --tmpfs /var/log/squid:mode=1777 --tmpfs /tmp \
	-v "$W/squid.conf:/etc/squid/squid.conf:ro" -v "$W/hosts:/etc/squid/hosts:ro" \
	"$IMAGE" /usr/sbin/squid -N -d 1 -f /etc/squid/squid.conf >/dev/null ||
	fail "start the egress proxy container"

i=0
until P logs "$ID-egress" 2>&1 | grep -q 'Accepting HTTP Socket connections'; do
	if [ "$i" -ge 60 ]; then
		fail "the proxy did not start within 30 s" "$(P logs "$ID-egress" 2>&1 | tail -n 20)"
		finish
		exit $?
	fi
	sleep 0.5
	i=$((i + 1))
done
pass "egress proxy container up: read-only root, cap-drop ALL, no-new-privileges, uid 13, production squid.conf"

# client ARGS...: curl in a container on the internal network only; prints "HTTP CONNECT".
client() {
	P run --rm --network "$NET_INT" -e HTTPS_PROXY="http://$PROXY_IP:3128" -e HTTP_PROXY="http://$PROXY_IP:3128" \
		"$IMAGE" /usr/bin/curl -sk --max-time 10 -o /dev/null -w '%{http_code} %{http_connect}' "$@" 2>/dev/null
}

got=$(client --noproxy '*' "https://$SRV_IP/")
if [ "${got%% *}" = 000 ]; then
	pass "AI-side container on the internal network: no route to the outside server without the proxy ($got)"
else
	fail "the internal network reached the outside server directly" "$got"
fi
got=$(client https://allowed.test/)
if [ "$got" = "200 200" ]; then
	pass "through the proxy: CONNECT allowed.test:443 reaches the outside server"
else
	fail "allowed.test through the proxy" "$got" "$(P logs "$ID-egress" 2>&1 | tail -n 5)"
fi
for u in https://denied.test/ "https://$SRV_IP/" https://allowed.test:8443/; do
	got=$(client "$u")
	if [ "$got" = "000 403" ]; then
		pass "through the proxy: $u refused with 403"
	else
		fail "through the proxy: $u" "$got"
	fi
done
logs=$(P logs "$ID-egress" 2>&1)
st=0
for l in "TCP_TUNNEL/200 [0-9]* CONNECT allowed.test:443 " "TCP_DENIED/403 [0-9]* CONNECT denied.test:443 " \
	"TCP_DENIED/403 [0-9]* CONNECT $SRV_IP:443 " "TCP_DENIED/403 [0-9]* CONNECT allowed.test:8443 "; do
	printf '%s\n' "$logs" | grep -q "$l" || st=1
done
if [ "$st" = 0 ]; then
	pass "the proxy's container log has each request (allowed and denied)"
else
	fail "proxy log" "$(printf '%s\n' "$logs" | grep TCP_)"
fi

finish
