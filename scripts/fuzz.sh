#!/usr/bin/env bash
# Run every libFuzzer target for a few seconds, starting from its checked-in
# corpus. New inputs go to a scratch directory; crashes are saved in fuzz-out/
# and make the run fail (copy them into tests/fuzz/corpus/MODULE to keep them).
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/fuzz-out"
mkdir -p "$out"
status=0
for bin in "$build"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	mod=${bin##*/fuzz_}
	scratch=$(mktemp -d)
	echo "fuzz: $mod for ${seconds}s"
	if ! "$bin" -max_total_time="$seconds" -artifact_prefix="$out/$mod-" \
		"$scratch" "$root/tests/fuzz/corpus/$mod" >"$out/$mod.log" 2>&1; then
		echo "fuzz: $mod FAILED, see $out/$mod.log" >&2
		status=1
	fi
	rm -rf "$scratch"
done
exit $status
