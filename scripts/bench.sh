#!/bin/sh
# Regenerate every benchmark figure into BENCHMARKS.md (or pass your own arguments, e.g.
# `scripts/bench.sh --quick shim denied`). Builds the release agent and shim first.
set -eu
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
    set -- --write BENCHMARKS.md
fi
cargo build --release -p gitgate-agent -p gitgate-shim -p gitgate-bench
exec cargo run --release -q -p gitgate-bench -- "$@"
