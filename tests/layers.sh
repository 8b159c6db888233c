#!/usr/bin/env bash
# The library's layers (docs/architecture.md): a file in src/common/LAYER may
# include headers of its own layer and of lower ones only, lowest first
# base < proto < call < store, always naming the layer ("base/buf.h"); and
# nothing in src/common includes a header of the programs (src/agent,
# src/server, src/api, src/retention).
set -euo pipefail
cd "${SV_SOURCE_DIR:?}"

layers=(base proto call store)
rank() {
	local i
	for i in "${!layers[@]}"; do
		[ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo -1
}

# Every header the programs own, by file name.
declare -A prog_header=()
for f in src/agent/*.h src/server/*.h src/api/*.h src/retention/*.h; do
	[ -e "$f" ] && prog_header[$(basename "$f")]=$f
done

bad=0
nfiles=0
complain() {
	echo "layers: $*" >&2
	bad=$((bad + 1))
}

while IFS= read -r -d '' file; do
	nfiles=$((nfiles + 1))
	layer=${file#src/common/}
	layer=${layer%%/*}
	own=$(rank "$layer")
	if [ "$own" -lt 0 ]; then
		complain "$file: not in a layer folder (${layers[*]})"
		continue
	fi
	while IFS=: read -r line inc; do
		inc=${inc#*\"}
		inc=${inc%%\"*}
		case $inc in
		*agent/* | *server/* | *api/* | *retention/* | ../*)
			complain "$file:$line: includes \"$inc\", a program's header"
			continue
			;;
		esac
		if [ -n "${prog_header[$(basename "$inc")]:-}" ] && [[ $inc != */* ]]; then
			complain "$file:$line: includes \"$inc\", a program's header (${prog_header[$(basename "$inc")]})"
			continue
		fi
		if [[ $inc != */* ]]; then
			complain "$file:$line: includes \"$inc\" without its layer (write \"LAYER/$inc\")"
			continue
		fi
		theirs=$(rank "${inc%%/*}")
		if [ "$theirs" -lt 0 ]; then
			complain "$file:$line: includes \"$inc\", not a header of a layer (${layers[*]})"
		elif [ "$theirs" -gt "$own" ]; then
			complain "$file:$line: $layer includes \"$inc\" of the higher layer ${inc%%/*}"
		fi
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find src/common -name '*.[ch]' -print0 | sort -z)

[ "$nfiles" -gt 0 ] || { echo "layers: no sources found under src/common" >&2; exit 1; }
if [ "$bad" -ne 0 ]; then
	echo "layers: $bad violation(s) in $nfiles files" >&2
	exit 1
fi
echo "layers: $nfiles files in src/common respect base < proto < call < store"
