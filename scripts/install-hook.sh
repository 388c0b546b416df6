#!/bin/sh
# Install gitgate's advisory pre-push hook into a repository (default: the current one).
#   scripts/install-hook.sh [path/to/repo]
# An existing different pre-push hook is kept as pre-push.local-before-gitgate and not run.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd -P)
repo=${1:-.}
hooks=$(git -C "$repo" rev-parse --path-format=absolute --git-path hooks) || {
	echo "install-hook.sh: not a git repository: $repo" >&2
	exit 1
}
mkdir -p "$hooks"
if [ -e "$hooks/pre-push" ] && ! cmp -s "$hooks/pre-push" "$here/hooks/pre-push"; then
	mv "$hooks/pre-push" "$hooks/pre-push.local-before-gitgate"
	echo "install-hook.sh: kept your previous hook as $hooks/pre-push.local-before-gitgate" >&2
fi
cp "$here/hooks/pre-push" "$hooks/pre-push"
chmod 0755 "$hooks/pre-push"
echo "install-hook.sh: installed $hooks/pre-push" >&2
