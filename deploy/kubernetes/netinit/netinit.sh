#!/bin/sh
# gitgate netinit: egress rules for a session pod's network namespace (all its containers share
# it), by uid (iptables owner match on OUTPUT). Runs once as the pod's first init container, as root
# with NET_ADMIN only; the rules then hold for the pod's lifetime and no other container can change
# them (none has NET_ADMIN).
#   AI_UID      may reach only the egress proxy, 127.0.0.1:PROXY_PORT (no DNS, no direct route)
#   PROXY_UID   DNS to the pod's resolvers, TCP 80/443 anywhere (Squid enforces the allowlist)
#   AGENT_UID   DNS to the pod's resolvers, TCP 443 to AGENT_ALLOW_HOSTS (resolved now) and
#               AGENT_ALLOW_CIDRS, and the egress proxy
#   anyone else (root, other uids) nothing but loopback replies. IPv6: loopback only.
# NETINIT_DRY_RUN=1 prints the commands instead of running them (tests/shell/test_kubernetes.sh).
set -eu
# Lists below are split on spaces; nothing is a glob.
set -f

: "${AI_UID:?AI_UID must be set}"
: "${AGENT_UID:?AGENT_UID must be set}"
: "${PROXY_UID:?PROXY_UID must be set}"
PROXY_PORT=${PROXY_PORT:-3128}
# Unset: GitHub's two names; set and empty: AGENT_ALLOW_CIDRS only.
AGENT_ALLOW_HOSTS=${AGENT_ALLOW_HOSTS-github.com api.github.com}
AGENT_ALLOW_CIDRS=${AGENT_ALLOW_CIDRS:-}
if [ -z "$AGENT_ALLOW_HOSTS$AGENT_ALLOW_CIDRS" ]; then
	echo "netinit: AGENT_ALLOW_HOSTS and AGENT_ALLOW_CIDRS are both empty: the agent could reach nothing" >&2
	exit 2
fi
RESOLV_CONF=${RESOLV_CONF:-/etc/resolv.conf}

for v in "$AI_UID" "$AGENT_UID" "$PROXY_UID" "$PROXY_PORT"; do
	case $v in '' | *[!0-9]*)
		echo "netinit: '$v' is not a number (AI_UID, AGENT_UID, PROXY_UID, PROXY_PORT)" >&2
		exit 2
		;;
	esac
done

run() {
	if [ "${NETINIT_DRY_RUN:-}" = 1 ]; then
		echo "$*"
		# A dry run starts from an empty table: no rule is found by -C.
		case " $* " in *" -C "*) return 1 ;; esac
	else
		"$@"
	fi
}
v4() { run iptables -w 5 "$@"; }
v6() { run ip6tables -w 5 "$@"; }

# The resolvers the pod uses (the cluster DNS service address).
resolvers=$(sed -n 's/^[[:space:]]*nameserver[[:space:]]\{1,\}\([0-9.]\{7,15\}\)[[:space:]]*$/\1/p' "$RESOLV_CONF")
[ -n "$resolvers" ] || {
	echo "netinit: no IPv4 nameserver in $RESOLV_CONF" >&2
	exit 2
}

# GitHub's addresses as of now (DNS may hand out others later: docs/kubernetes.md).
agent_addrs=
for h in $AGENT_ALLOW_HOSTS; do
	if [ "${NETINIT_DRY_RUN:-}" = 1 ] && [ -n "${NETINIT_FAKE_ADDRS:-}" ]; then
		a=$NETINIT_FAKE_ADDRS
	else
		a=$(getent ahostsv4 "$h" | awk '{print $1}' | sort -u) || a=
	fi
	[ -n "$a" ] || {
		echo "netinit: cannot resolve $h (AGENT_ALLOW_HOSTS)" >&2
		exit 2
	}
	agent_addrs="$agent_addrs $a"
done
# shellcheck disable=SC2086 # word splitting intended (lists of addresses)
agent_addrs=$(printf '%s\n' $agent_addrs $AGENT_ALLOW_CIDRS | sort -u)

# Idempotent: a rerun in the same network namespace replaces the chain's rules.
v4 -N GITGATE-OUT 2>/dev/null || v4 -F GITGATE-OUT
v4 -A GITGATE-OUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
# The egress proxy, for the AI and the agent.
for uid in "$AI_UID" "$AGENT_UID"; do
	v4 -A GITGATE-OUT -o lo -d 127.0.0.1 -p tcp --dport "$PROXY_PORT" -m owner --uid-owner "$uid" -j ACCEPT
done
for uid in "$AGENT_UID" "$PROXY_UID"; do
	for r in $resolvers; do
		v4 -A GITGATE-OUT -d "$r" -p udp --dport 53 -m owner --uid-owner "$uid" -j ACCEPT
		v4 -A GITGATE-OUT -d "$r" -p tcp --dport 53 -m owner --uid-owner "$uid" -j ACCEPT
	done
done
for a in $agent_addrs; do
	v4 -A GITGATE-OUT -d "$a" -p tcp --dport 443 -m owner --uid-owner "$AGENT_UID" -j ACCEPT
done
v4 -A GITGATE-OUT ! -o lo -p tcp -m multiport --dports 80,443 -m owner --uid-owner "$PROXY_UID" -j ACCEPT
# Everything else, from any uid, is refused (REJECT: clients fail at once instead of hanging).
v4 -A GITGATE-OUT -p tcp -j REJECT --reject-with tcp-reset
v4 -A GITGATE-OUT -j REJECT --reject-with icmp-port-unreachable
v4 -C OUTPUT -j GITGATE-OUT 2>/dev/null || v4 -A OUTPUT -j GITGATE-OUT

v6 -N GITGATE-OUT 2>/dev/null || v6 -F GITGATE-OUT
v6 -A GITGATE-OUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
v6 -A GITGATE-OUT -o lo -p tcp --dport "$PROXY_PORT" -m owner --uid-owner "$AI_UID" -j ACCEPT
v6 -A GITGATE-OUT -o lo -p tcp --dport "$PROXY_PORT" -m owner --uid-owner "$AGENT_UID" -j ACCEPT
v6 -A GITGATE-OUT -j REJECT
v6 -C OUTPUT -j GITGATE-OUT 2>/dev/null || v6 -A OUTPUT -j GITGATE-OUT

echo "netinit: egress rules in place (ai uid $AI_UID -> 127.0.0.1:$PROXY_PORT only; agent uid $AGENT_UID -> $(printf '%s\n' "$agent_addrs" | wc -l) GitHub address(es) and DNS; proxy uid $PROXY_UID -> 80/443)"
