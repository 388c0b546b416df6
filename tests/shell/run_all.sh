#!/usr/bin/env bash
# Run every tests/shell/test_*.sh; the last line is "N passed, N failed"; exit non-zero on failure.
#   bash tests/shell/run_all.sh
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
results=$(mktemp "${TMPDIR:-/tmp}/gitgate-shell-results.XXXXXX")
trap 'rm -f "$results"' EXIT
export GITGATE_TEST_RESULTS="$results"
crashed=0
for t in "$here"/test_*.sh; do
	echo "## ${t##*/}"
	before=$(grep -c fail "$results" || true)
	rc=0
	bash "$t" || rc=$?
	after=$(grep -c fail "$results" || true)
	if [ "$rc" != 0 ] && [ "$before" = "$after" ]; then
		echo "FAIL - ${t##*/} exited $rc without recording a failure"
		crashed=$((crashed + 1))
	fi
done
passed=$(grep -c pass "$results" || true)
failed=$(($(grep -c fail "$results" || true) + crashed))
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
