#!/usr/bin/env bash
# Lint: shellcheck over every shell file we ship, and compose.yaml through docker-compose config.
# Each skips with a message when its tool is absent (.ci/run installs shellcheck and docker-compose).
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO" || exit 1

if command -v shellcheck >/dev/null 2>&1; then
	files=(run.sh hooks/pre-push scripts/*.sh tests/shell/*.sh containers/egress/*.sh)
	if out=$(shellcheck "${files[@]}" 2>&1); then
		pass "shellcheck clean: ${files[*]}"
	else
		fail "shellcheck" "$out"
	fi
	# The hook must stay POSIX sh (git may run it with dash).
	if out=$(shellcheck --shell=sh hooks/pre-push scripts/install-hook.sh 2>&1); then
		pass "shellcheck --shell=sh: hooks/pre-push scripts/install-hook.sh"
	else
		fail "shellcheck --shell=sh" "$out"
	fi
else
	skip "shellcheck not installed (apt-get install shellcheck)"
fi

if command -v dash >/dev/null 2>&1; then
	if dash -n hooks/pre-push && dash -n scripts/install-hook.sh; then
		pass "dash -n: hooks/pre-push scripts/install-hook.sh parse"
	else
		fail "dash -n"
	fi
fi
if bash -n run.sh; then pass "bash -n run.sh"; else fail "bash -n run.sh"; fi

# The Containerfiles' builder stages copy proto, policy, agent, shim (and hooks, which the shim
# embeds) only, and cut the workspace
# members down to those (containers/builder-members.sed): check that on the real Cargo.toml.
cut=$(sed -f containers/builder-members.sed Cargo.toml)
if printf '%s\n' "$cut" | grep -qx 'members = \["proto", "policy", "agent", "shim"\]' &&
	! printf '%s\n' "$cut" | grep -q '^default-members' &&
	[ "$(printf '%s\n' "$cut" | grep -c '^members')" = 1 ] &&
	printf '%s\n' "$cut" | grep -q '^\[workspace.package\]'; then
	pass "builder-members.sed cuts Cargo.toml's workspace to the four crates, rest intact"
else
	fail "builder-members.sed on Cargo.toml" "$cut"
fi
st=0
for f in containers/Containerfile.agent containers/Containerfile.claude; do
	for d in proto policy agent shim hooks; do grep -qx "COPY $d $d" "$f" || st=1; done
	grep -q 'sed -i -f /tmp/builder-members.sed Cargo.toml' "$f" || st=1
	grep -q '^!containers/builder-members.sed$' "$f.dockerignore" || st=1
	# Nothing that could hold a secret is copied wholesale.
	! grep -Eq '^COPY +(\.|\./?) ' "$f" || st=1
done
# Files the crates embed from outside themselves (include_str!("../../hooks/pre-push")) must be
# copied too.
embedded=$(grep -rhoE 'include_(str|bytes)!\("(\.\./)+[^/"]+' proto/src policy/src agent/src shim/src 2>/dev/null |
	sed -E 's/.*\("(\.\.\/)+//' | sort -u)
while read -r top; do
	case $top in '' | proto | policy | agent | shim | src) continue ;; esac
	for f in containers/Containerfile.agent containers/Containerfile.claude; do
		grep -qx "COPY $top $top" "$f" || {
			st=1
			echo "       $f does not copy $top/, which a crate embeds"
		}
	done
done <<<"$embedded"
if [ "$st" = 0 ]; then
	pass "Containerfiles copy exactly the crates they build and what those embed (never the whole context)"
else
	fail "Containerfiles' COPY lines"
fi

# compose_config ENGINE... -- FILE...: "config" must succeed; its output is kept in CONFIG.
CONFIG=''
compose_config() {
	local cmd=()
	while [ "$1" != -- ]; do
		cmd+=("$1")
		shift
	done
	shift
	local args=() f
	for f in "$@"; do args+=(-f "$f"); done
	CONFIG=$(env GITGATE_ENV_FILE="$TMP_ROOT/.env" PUID=1234 PGID=2345 WORKSPACE_DIR="$TMP_ROOT/ws" \
		GITHUB_TOKEN_FILE="$TMP_ROOT/token" GITGATE_EGRESS_CONF="$TMP_ROOT/egress.squid.conf" \
		"${cmd[@]}" "${args[@]}" -p gitgate --env-file "$TMP_ROOT/.env" config 2>&1)
}

check_compose() {
	local label=$1
	shift
	mkdir -p "$TMP_ROOT/ws"
	printf 'GITHUB_TOKEN=ghp_testtoken\nGITGATE_WORKSPACE=/native/path\n' >"$TMP_ROOT/.env"
	echo token >"$TMP_ROOT/token"
	if compose_config "$@" -- containers/compose.yaml; then
		pass "$label config: containers/compose.yaml"
		# The token reaches the agent only; container wiring overrides native-mode paths from .env.
		local agent claude
		agent=$(printf '%s\n' "$CONFIG" | sed -n '/^  agent:/,/^  [a-z]/p')
		claude=$(printf '%s\n' "$CONFIG" | sed -n '/^  claude:/,/^[a-z]/p')
		# The agent reads .env itself (mounted read-only, --env-file): the token is in no
		# container's environment, and the AI container has no way to the file.
		if ! contains "$CONFIG" "ghp_testtoken" && ! contains "$claude" "GITHUB_TOKEN" &&
			contains "$agent" "source: $TMP_ROOT/.env" && contains "$agent" "target: /etc/gitgate/gitgate.env" &&
			contains "$agent" "--env-file" && ! contains "$claude" "/etc/gitgate"; then
			pass "$label: .env mounted read-only in the agent only, read there with --env-file; the token in no environment"
		else
			fail "$label: token placement" "$CONFIG"
		fi
		# v3: the agent never sees the workspace and the AI container no agent state; they share
		# only the socket volume.
		if ! contains "$agent" "GITGATE_WORKSPACE" && ! contains "$agent" "$TMP_ROOT/ws" &&
			! contains "$agent" "mirrors" && contains "$agent" "ALLOWED_UIDS: '[1234,10001]'" &&
			contains "$agent" "read_only: true" && contains "$claude" "user: 1234:2345" &&
			contains "$claude" "source: $TMP_ROOT/ws" && ! contains "$claude" "mirrors" &&
			contains "$claude" "socket:/run/gitgate:rw" &&
			! contains "$claude" "state:" && contains "$agent" "state:/var/lib/gitgate:rw" &&
			contains "$claude" "/dev/null:/workspace/.env:ro" && ! contains "$claude" "GITGATE_MIRROR_DIR"; then
			pass "$label: wiring (no workspace or mirrors for the agent, ALLOWED_UIDS from PUID, user, only the socket shared, .env shadowed)"
		else
			fail "$label: wiring" "$CONFIG"
		fi
	else
		fail "$label config: containers/compose.yaml" "$CONFIG"
	fi
	if compose_config "$@" -- containers/compose.yaml containers/compose.token-file.yaml containers/compose.podman.yaml; then
		if contains "$CONFIG" "GITHUB_TOKEN_FILE: /run/secrets/github_token" && contains "$CONFIG" "userns_mode: keep-id"; then
			pass "$label config: with compose.token-file.yaml and compose.podman.yaml"
		else
			fail "$label config: overrides not applied" "$CONFIG"
		fi
	else
		fail "$label config: with the override files" "$CONFIG"
	fi
	check_compose_egress "$@"
}

# The egress wiring: claude on the internal network only, with the proxy variables; the proxy on
# both networks, locked down, with the rendered squid.conf read-only; the agent outside only.
# section NAME: one service's block of the last config output.
section() { printf '%s\n' "$CONFIG" | sed -n "/^  $1:/,/^  [a-z]/p" | sed '$d'; }
check_compose_egress() {
	local label=$1 agent claude egress nets
	compose_config "$@" -- containers/compose.yaml || {
		fail "$label egress: config" "$CONFIG"
		return
	}
	agent=$(section agent) claude=$(section claude) egress=$(section egress)
	nets=$(printf '%s\n' "$CONFIG" | sed -n '/^networks:/,/^[a-z]/p')
	if printf '%s\n' "$nets" | grep -A1 '^  internal:' | grep -q 'internal: true' &&
		contains "$claude" $'networks:\n      internal:' && ! contains "$claude" "outside" &&
		contains "$agent" $'networks:\n      outside:' && ! contains "$agent" "internal:" &&
		contains "$egress" "internal:" && contains "$egress" "outside:"; then
		pass "$label egress: claude on the internal network only (internal: true), agent outside only, proxy on both"
	else
		fail "$label egress: networks" "$CONFIG"
	fi
	if contains "$claude" "HTTPS_PROXY: http://egress:3128" && contains "$claude" "HTTP_PROXY: http://egress:3128" &&
		contains "$claude" "https_proxy: http://egress:3128" && contains "$claude" "http_proxy: http://egress:3128" &&
		contains "$claude" "NO_PROXY: localhost,127.0.0.1,::1" && contains "$claude" "no_proxy: localhost"; then
		pass "$label egress: the AI container's HTTPS_PROXY/HTTP_PROXY/NO_PROXY (both cases) point at the proxy"
	else
		fail "$label egress: proxy variables" "$claude"
	fi
	if contains "$egress" "read_only: true" && contains "$egress" $'cap_drop:\n    - ALL' &&
		! contains "$egress" "cap_add" && contains "$egress" "no-new-privileges:true" &&
		contains "$egress" "user: '13:13'" && contains "$egress" "- /run/squid:" &&
		contains "$egress" "source: $TMP_ROOT/egress.squid.conf" && contains "$egress" "target: /etc/squid/squid.conf" &&
		printf '%s\n' "$egress" | grep -B2 'target: /etc/squid/squid.conf' | grep -q 'read_only: true' &&
		contains "$egress" "dockerfile: containers/Containerfile.egress" && ! contains "$egress" "socket:"; then
		pass "$label egress: proxy non-root, read-only root FS with tmpfs, cap_drop ALL, no-new-privileges, squid.conf read-only, no socket"
	else
		fail "$label egress: proxy hardening" "$egress"
	fi
	if compose_config "$@" -- containers/compose.yaml containers/compose.egress-off.yaml; then
		claude=$(section claude)
		if contains "$claude" "outside" && contains "$claude" "HTTPS_PROXY: ''" && contains "$claude" "https_proxy: ''"; then
			pass "$label egress: compose.egress-off.yaml puts claude outside with no proxy variables"
		else
			fail "$label egress: EGRESS=off override" "$claude"
		fi
	else
		fail "$label egress: config with compose.egress-off.yaml" "$CONFIG"
	fi
	# Without the rendered configuration compose refuses, naming it (never an empty bind source).
	local out
	if out=$(env GITGATE_ENV_FILE="$TMP_ROOT/.env" WORKSPACE_DIR="$TMP_ROOT/ws" "$@" -f containers/compose.yaml \
		-p gitgate --env-file "$TMP_ROOT/.env" config 2>&1); then
		fail "$label egress: config without GITGATE_EGRESS_CONF must fail" "$out"
	elif contains "$out" "GITGATE_EGRESS_CONF"; then
		pass "$label egress: config without GITGATE_EGRESS_CONF fails, naming it"
	else
		fail "$label egress: config without GITGATE_EGRESS_CONF: message" "$out"
	fi
}

if command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
	check_compose docker-compose docker-compose
else
	skip "docker-compose not installed (apt-get install docker-compose): compose.yaml not validated with it"
fi
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
	check_compose "docker compose" docker compose
else
	skip "docker compose plugin not available: compose.yaml not validated with it"
fi

finish
