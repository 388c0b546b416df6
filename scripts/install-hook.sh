#!/bin/sh
# Install gitgate's advisory pre-push hook into a repository (default: the current one).
#   scripts/install-hook.sh [path/to/repo]
# A repository's own pre-push hook is never replaced (the agent enforces the policy anyway).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd -P)
repo=${1:-.}
hooks=$(git -C "$repo" rev-parse --path-format=absolute --git-path hooks) || {
	echo "install-hook.sh: not a git repository: $repo" >&2
	exit 1
}
mkdir -p "$hooks"
if [ -e "$hooks/pre-push" ] && ! cmp -s "$hooks/pre-push" "$here/hooks/pre-push"; then
	echo "install-hook.sh: $hooks/pre-push exists and is not gitgate's; leaving it alone (the agent still enforces the policy on every push)" >&2
	exit 0
fi
cp "$here/hooks/pre-push" "$hooks/pre-push"
chmod 0755 "$hooks/pre-push"
echo "install-hook.sh: installed $hooks/pre-push" >&2
