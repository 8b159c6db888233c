#!/usr/bin/env bash
# Every C and BPF source must be formatted as .clang-format says.
set -euo pipefail
clang_format=${1:-clang-format}
cd "${SV_SOURCE_DIR:?}"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
	find src bpf tests -name '*.[ch]')
[ ${#files[@]} -gt 0 ] || { echo "style: no sources found" >&2; exit 1; }
"$clang_format" --dry-run --Werror "${files[@]}"
echo "style: ${#files[@]} files formatted correctly"
