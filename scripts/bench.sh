#!/usr/bin/env bash
# Runs every benchmark built from tests/bench/bench_*.c and prints its
# results, with the machine it ran on. Results worth keeping go into
# docs/performance.md together with this command. Some need more than a build:
# bench_s3store starts OpenStack Swift (python3-swift), bench_agent needs root
# and tcpreplay. A failing benchmark does not stop the others; the exit status
# says whether all of them ran.
set -uo pipefail
build=${1:-build}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "kernel:  $(uname -r)"
found=0
failed=()
for b in "$build"/bench/bench_*; do
	[ -x "$b" ] || continue
	found=1
	echo "== ${b##*/}"
	"$b" || failed+=("${b##*/}")
done
[ $found -eq 1 ] || { echo "bench: no benchmarks built in $build/bench" >&2; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: failed: ${failed[*]}" >&2
	exit 1
fi
