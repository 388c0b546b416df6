#!/usr/bin/env bash
# containers/egress/squid-conf.sh: check ALLOWED_EGRESS and render the egress proxy's squid.conf.
#
#   squid-conf.sh --check JSON        print the allowlist (one pattern a line, normalised), or exit 2
#                                     with one line on stderr naming ALLOWED_EGRESS and what is wrong
#   squid-conf.sh [OPTION...] JSON    print the squid.conf for that allowlist (same check first)
#
# JSON is ALLOWED_EGRESS: a JSON array of domain names, each exact (api.anthropic.com) or with a
# leading "*." or "." for the name and all its subdomains (*.pythonhosted.org). Names only: no
# URL, no port, no IP address, no wildcard anywhere but the whole leading label.
#
# The configuration: CONNECT only to port 443 of an allowed name, plain HTTP only to port 80 of
# an allowed name, everything else denied (raw IP addresses, other ports, other names, other
# schemes); no cache; no Via or X-Forwarded-For; one access log line per request.
# Options (the defaults are the container's; the tests point them at temporary files):
#   --listen ADDR:PORT|PORT   http_port (default 3128)
#   --pid-file PATH           (default /run/squid/squid.pid, on the container's tmpfs)
#   --access-log DEST         (default stdio:/dev/stdout: the container log, ./run.sh --logs egress)
#   --cache-log DEST          (default /dev/stderr)
#   --hosts-file PATH         (default: Squid's, /etc/hosts)
#   --tls-port N, --http-port N   the allowed ports (default 443 and 80; tests only)
#
# Run by run.sh (bash 3.2 compatible: no associative arrays, mapfile or ${x,,}); no other runtime.
set -eu

err() {
	printf 'ALLOWED_EGRESS %s\n' "$*" >&2
	exit 2
}

# check_pattern P: print P normalised (lower case, "*." written "."), or exit 2 saying why.
check_pattern() {
	local p=$1 name label rest wild=''
	case $p in
	'') err 'contains an empty string; write a domain name like "api.example.com", or remove it' ;;
	*://*)
		name=${p#*://}
		name=${name%%/*}
		err "entries are domain names, not URLs: \"$p\"; write only the host name, e.g. \"${name%%:*}\""
		;;
	*/*) err "entries are domain names, not URLs or paths: \"$p\"; write only the host name" ;;
	*[[:space:]]*) err "entries must not contain spaces: \"$p\"" ;;
	\[*\] | *:*:*) err "entries are domain names, not IP addresses: \"$p\"; allow the name the client uses" ;;
	*:*) err "entries are domain names without a port: \"$p\"; HTTPS is allowed to port 443 and plain HTTP to port 80 only" ;;
	esac
	p=$(printf '%s' "$p" | tr '[:upper:]' '[:lower:]') || err "could not be read (tr failed)"
	case $p in
	'*.'*)
		wild=.
		name=${p#'*.'}
		;;
	.*)
		wild=.
		name=${p#.}
		;;
	*) name=$p ;;
	esac
	case $name in
	*'*'*) err "allows a wildcard only as the whole leading label (\"*.example.com\"): \"$p\"" ;;
	esac
	case $name in
	*[!a-z0-9.-]*) err "entries are domain names (letters, digits, '-' and '.'): \"$p\"" ;;
	'' | .* | *. | *..*) err "entries are domain names with non-empty labels (no leading, trailing or double dots): \"$p\"" ;;
	esac
	[ "${#name}" -le 253 ] || err "entries are at most 253 characters: \"$p\""
	case $name in
	*.*) ;;
	*) err "entries must be fully qualified names with a dot (\"$p\" is a single label; a wildcard over a top-level domain is refused)" ;;
	esac
	rest=$name
	while :; do
		label=${rest%%.*}
		[ "${#label}" -le 63 ] || err "has a label longer than 63 characters: \"$p\""
		case $label in
		-* | *-) err "has a label starting or ending with '-': \"$p\"" ;;
		esac
		[ "$rest" != "$label" ] || break
		rest=${rest#*.}
	done
	# The last label (top-level domain) is never all digits: that is an IPv4 address (or one).
	case $label in
	*[a-z]*) ;;
	*) err "entries are domain names, not IP addresses: \"$p\"" ;;
	esac
	printf '%s%s\n' "$wild" "$name"
}

# parse_allowlist JSON: the patterns, normalised, without duplicates or names a wildcard covers.
parse_allowlist() {
	local json=$1 ws str re body item out='' p q covered seen
	LC_ALL=C
	ws='[[:space:]]*'
	str='"([^"\\[:cntrl:]]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"'
	re="^${ws}\\[${ws}(${str}(${ws},${ws}${str})*)?${ws}\\]${ws}\$"
	[ -n "$json" ] || err 'is empty; set a JSON array of domain names like ["api.anthropic.com"], or remove the line for the default'
	[[ $json =~ $re ]] ||
		err "must be a JSON array of strings, like [\"api.anthropic.com\",\"*.pythonhosted.org\"]; got: $json"
	case $json in
	*\\*) err "entries are plain domain names (no escapes): $json" ;;
	esac
	# Valid JSON without escapes: each element is a "..." run without quotes inside.
	body=${json#*[}
	body=${body%]*}
	while :; do
		case $body in
		*\"*) ;;
		*) break ;;
		esac
		body=${body#*\"}
		item=${body%%\"*}
		body=${body#*\"}
		p=$(check_pattern "$item") || exit 2
		out="$out$p"$'\n'
	done
	# Drop duplicates and names a wildcard in the list covers (Squid warns about both); keep the
	# order of the first occurrence. (Patterns hold no glob characters by now.)
	seen=' '
	for p in $out; do
		case $seen in *" $p "*) continue ;; esac
		seen="$seen$p "
		covered=''
		for q in $out; do
			case $q in
			.*) [ "$q" = "$p" ] || case $p in *"$q" | "${q#.}") covered=1 ;; esac ;;
			esac
		done
		[ -n "$covered" ] || printf '%s\n' "$p"
	done
}

render() {
	local list=$1 p
	cat <<EOF
# squid.conf for the gitgate egress proxy, rendered by run.sh from ALLOWED_EGRESS. Do not edit:
# change ALLOWED_EGRESS in .env and restart (./run.sh --stop && ./run.sh).
http_port $LISTEN
pid_filename $PID_FILE
access_log $ACCESS_LOG squid
cache_log $CACHE_LOG
logfile_rotate 0
coredump_dir none
netdb_filename none
pinger_enable off
EOF
	[ -z "$HOSTS_FILE" ] || printf 'hosts_file %s\n' "$HOSTS_FILE"
	cat <<'EOF'

# A forward proxy that stores nothing and adds nothing.
cache deny all
cache_mem 0 MB
via off
forwarded_for delete
httpd_suppress_version_string on
visible_hostname gitgate-egress
shutdown_lifetime 1 seconds

# The allowlist. -n: match the name the client asked for only, never a reverse DNS lookup of an
# address (a PTR record chosen by whoever owns the address must not grant access).
EOF
	if [ -n "$list" ]; then
		printf 'acl allowed_egress dstdomain -n'
		for p in $list; do printf ' %s' "$p"; done
		printf '\n'
	else
		printf '# ALLOWED_EGRESS is []: nothing is allowed.\n'
	fi
	cat <<EOF
acl raw_ip dstdom_regex -n ^[0-9.]+\$ ^\\[ :
acl tls_port port $TLS_PORT
acl plain_http_port port $HTTP_PORT
acl plain_http proto HTTP
acl CONNECT method CONNECT

http_access deny raw_ip
EOF
	if [ -n "$list" ]; then
		cat <<'EOF'
http_access allow CONNECT tls_port allowed_egress
http_access allow !CONNECT plain_http plain_http_port allowed_egress
EOF
	fi
	cat <<'EOF'
http_access deny all
http_reply_access allow all
icp_access deny all
htcp_access deny all
snmp_access deny all
EOF
}

LISTEN=3128
PID_FILE=/run/squid/squid.pid
ACCESS_LOG=stdio:/dev/stdout
CACHE_LOG=/dev/stderr
HOSTS_FILE=''
TLS_PORT=443
HTTP_PORT=80
CHECK=''
while [ $# -gt 1 ]; do
	case $1 in
	--check)
		CHECK=1
		shift
		;;
	--listen | --pid-file | --access-log | --cache-log | --hosts-file | --tls-port | --http-port)
		[ $# -ge 3 ] || {
			echo "squid-conf.sh: $1 needs a value" >&2
			exit 64
		}
		case $1 in
		--listen) LISTEN=$2 ;;
		--pid-file) PID_FILE=$2 ;;
		--access-log) ACCESS_LOG=$2 ;;
		--cache-log) CACHE_LOG=$2 ;;
		--hosts-file) HOSTS_FILE=$2 ;;
		--tls-port) TLS_PORT=$2 ;;
		--http-port) HTTP_PORT=$2 ;;
		esac
		shift 2
		;;
	--)
		shift
		break
		;;
	*)
		echo "squid-conf.sh: unknown option $1" >&2
		exit 64
		;;
	esac
done
[ $# = 1 ] || {
	echo "usage: squid-conf.sh [--check] [OPTION...] ALLOWED_EGRESS-JSON" >&2
	exit 64
}
case $TLS_PORT$HTTP_PORT in
'' | *[!0-9]*)
	echo "squid-conf.sh: ports must be numbers" >&2
	exit 64
	;;
esac
LIST=$(parse_allowlist "$1") || exit 2
if [ -n "$CHECK" ]; then
	[ -z "$LIST" ] || printf '%s\n' "$LIST"
else
	render "$LIST"
fi
