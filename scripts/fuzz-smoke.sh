#!/usr/bin/env bash
# Fuzz smoke test (issue 6): run every cargo-fuzz target in fuzz/ for a bounded time and fail on any
# crash, panic, leak, timeout or OOM.
#
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]      (default 60)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a toolchain that accepts -Z flags:
# a nightly toolchain (`cargo +nightly fuzz ...`, used when installed), otherwise the default
# toolchain with RUSTC_BOOTSTRAP=1. FUZZ_TOOLCHAIN=<name> forces a toolchain. When neither works
# the script prints why and exits 0 (a skip, not a pass). New inputs found are written to a
# temporary directory: the committed seed corpora in fuzz/corpus/<target>/ are only read.
# Crash inputs land in fuzz/artifacts/<target>/ (git-ignored); reproduce one with
#   cd fuzz && cargo +nightly fuzz run <target> artifacts/<target>/<file>
set -euo pipefail

secs="${1:-60}"
case "$secs" in
'' | *[!0-9]* | 0) echo "usage: $0 [SECONDS_PER_TARGET] (a whole number > 0)" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

skip() {
	echo "fuzz-smoke: SKIPPED: $*" >&2
	exit 0
}

if ! cargo fuzz --version >/dev/null 2>&1; then
	skip "cargo-fuzz is not installed (install it with: cargo install cargo-fuzz --locked)"
fi

# Pick how to build: +toolchain, or RUSTC_BOOTSTRAP=1 with the default one.
tc=()
bootstrap=()
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
	tc=("+$FUZZ_TOOLCHAIN")
elif command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
	tc=("+nightly")
else
	bootstrap=(env RUSTC_BOOTSTRAP=1)
fi
how="cargo ${tc[*]:-} fuzz (${bootstrap[*]:-no RUSTC_BOOTSTRAP})"

build_log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$work" "$build_log"' EXIT

echo "fuzz-smoke: building the targets with $how"
if ! "${bootstrap[@]}" cargo "${tc[@]}" fuzz build >"$build_log" 2>&1; then
	if [ ${#bootstrap[@]} -gt 0 ]; then
		tail -n 20 "$build_log" >&2
		skip "no toolchain here can build the fuzz targets (no nightly; the default toolchain with RUSTC_BOOTSTRAP=1 failed, see above)"
	fi
	# A nightly that is installed but cannot build the targets is a real failure.
	cat "$build_log" >&2
	echo "fuzz-smoke: FAILED: building the fuzz targets" >&2
	exit 1
fi

mapfile -t targets < <("${bootstrap[@]}" cargo "${tc[@]}" fuzz list)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz-smoke: FAILED: no fuzz targets found" >&2
	exit 1
fi

failed=0
for t in "${targets[@]}"; do
	mkdir -p "$work/$t" "corpus/$t"
	log="$work/$t.log"
	echo "fuzz-smoke: $t for ${secs}s ..."
	set +e
	"${bootstrap[@]}" cargo "${tc[@]}" fuzz run "$t" "$work/$t" "corpus/$t" -- \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
	rc=$?
	set -e
	execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
	cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')"
	if [ "$rc" -ne 0 ] || grep -q -E '^(==[0-9]+==ERROR|SUMMARY: libFuzzer)' "$log"; then
		failed=1
		echo "fuzz-smoke: $t: FAILED (exit $rc)" >&2
		grep -E 'panicked at|ERROR|SUMMARY|Test unit written to' "$log" | head -n 20 >&2 || true
		tail -n 30 "$log" >&2
	else
		echo "fuzz-smoke: $t: ok: ${execs:-?} executions, coverage ${cov:-?}, 0 crashes"
	fi
done

if [ "$failed" -ne 0 ]; then
	echo "fuzz-smoke: FAILED (crash inputs are in fuzz/artifacts/)" >&2
	exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${secs}s each without a crash"
