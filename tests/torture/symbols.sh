#!/usr/bin/env bash
# The torture shim wraps malloc, calloc, realloc, free, strdup and strndup
# (and jansson's json_loadb, json_dumps): fail when libsipvault starts to call
# another allocator, which the shim would not see, so the wrap list grows with it.
set -euo pipefail
lib=${1:?usage: symbols.sh libsipvault.a}
extra=$(nm -u "$lib" | awk '{print $2}' | sort -u |
	grep -Ex '(posix_memalign|aligned_alloc|memalign|valloc|pvalloc|reallocarray|asprintf|vasprintf|open_memstream|open_wmemstream|getline|getdelim|wcsdup|strdupa|strndupa|realpath|get_current_dir_name|scandir)' || true)
if [ -n "$extra" ]; then
	echo "torture: libsipvault calls allocators the shim does not wrap: $extra" >&2
	echo "torture: add them to the --wrap list in CMakeLists.txt and to tests/torture/torture.c" >&2
	exit 1
fi
echo "torture: libsipvault allocates only through wrapped functions"
