#!/usr/bin/env bash
# Runs every micro-benchmark built from tests/bench/bench_*.c and prints its
# results, with the machine it ran on. Results worth keeping go into
# docs/performance.md together with this command.
set -euo pipefail
build=${1:-build}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "kernel:  $(uname -r)"
found=0
for b in "$build"/bench/bench_*; do
	[ -x "$b" ] || continue
	found=1
	echo "== ${b##*/}"
	"$b"
done
[ $found -eq 1 ] || { echo "bench: no benchmarks built in $build/bench" >&2; exit 1; }
