#!/usr/bin/env bash
# .env.example documents every setting: each key the agent reads (agent/src/config.rs ENV_KEYS,
# GITHUB_TOKEN, GITHUB_TOKEN_FILE) appears in it, and each key in it is read by someone.
# shellcheck source=tests/shell/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXAMPLE=$REPO/.env.example
# Keys of KEY=value lines, commented out or not.
example_keys=$(sed -n 's/^#\{0,1\} \{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$EXAMPLE" | sort -u)

CONFIG_RS=$REPO/agent/src/config.rs
if [ -f "$CONFIG_RS" ]; then
	agent_keys=$(sed -n '/^const ENV_KEYS/,/^];/{s/^ *("\([A-Z][A-Z0-9_]*\)", "[a-z_]*",.*/\1/p; s/^ *"\([A-Z][A-Z0-9_]*\)",$/\1/p;}' "$CONFIG_RS" | sort -u)
	if [ "$(printf '%s\n' "$agent_keys" | wc -l)" -lt 10 ]; then
		fail "found the agent's ENV_KEYS in agent/src/config.rs" "got: $agent_keys"
	else
		missing=''
		for k in $agent_keys GITHUB_TOKEN GITHUB_TOKEN_FILE; do
			printf '%s\n' "$example_keys" | grep -qx "$k" || missing="$missing $k"
		done
		if [ -z "$missing" ]; then
			pass ".env.example documents every setting the agent reads"
		else
			fail ".env.example lacks settings the agent reads:$missing"
		fi
	fi
else
	skip "agent/src/config.rs not found"
	agent_keys=''
fi

# Keys run.sh, compose or the shim read.
others="GITHUB_TOKEN GITHUB_TOKEN_FILE WORKSPACE_DIR PUID PGID CONTAINER_ENGINE GITGATE_REAL_GIT GITGATE_REAL_GH GITGATE_MIRROR_DIR ALLOWED_EGRESS EGRESS"
unknown=''
for k in $example_keys; do
	case " $others ${agent_keys//$'\n'/ } " in
	*" $k "*) ;;
	*) unknown="$unknown $k" ;;
	esac
done
if [ -z "$unknown" ]; then
	pass "every key in .env.example is read by the agent, run.sh, compose or the shim"
else
	fail ".env.example has keys nobody reads:$unknown"
fi

# Each key has a comment line right above it (or above its block).
undocumented=$(awk '/^#? ?[A-Z][A-Z0-9_]*=/ { if (prev !~ /^#/) print $0 } { prev = $0 }' "$EXAMPLE")
if [ -z "$undocumented" ]; then
	pass "every setting in .env.example follows a comment"
else
	fail "settings without a comment above" "$undocumented"
fi

finish
