#!/usr/bin/env bash
# The S3 client (src/common/store/s3.c) against a real SigV4-checking S3 server:
# starts OpenStack Swift with s3api on loopback (tests/tools/swiftfixture.py),
# exports its endpoint and credentials as SIPVAULT_S3_*, runs
# $SV_TESTS_DIR/itest_s3, and stops Swift whatever happens.
set -euo pipefail

: "${SV_TESTS_DIR:?SV_TESTS_DIR is not set (run through ctest)}"
: "${SV_SOURCE_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
ITEST=$SV_TESTS_DIR/itest_s3
PY=${SV_SWIFT_PYTHON:-/usr/bin/python3}
[ -x "$ITEST" ] || { echo "FAIL: $ITEST missing" >&2; exit 1; }
[ -x "$PY" ] || { echo "FAIL: $PY missing (Debian python3-swift is needed)" >&2; exit 1; }
command -v memcached >/dev/null || { echo "FAIL: memcached is required" >&2; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl is required" >&2; exit 1; }

TMP=$(mktemp -d /tmp/sv-s3client.XXXXXX)
FIX=
cleanup() {
	if [ -n "$FIX" ] && kill -0 "$FIX" 2>/dev/null; then
		kill -TERM "$FIX" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$FIX" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$FIX" 2>/dev/null || true
		wait "$FIX" 2>/dev/null || true
	fi
	if [ -n "${SV_KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PY" "$SV_SOURCE_DIR/tests/tools/swiftfixture.py" run >"$TMP/env" 2>"$TMP/fixture.log" &
FIX=$!
for _ in $(seq 300); do
	grep -q '^SWIFTFIXTURE_PID=' "$TMP/env" 2>/dev/null && break
	kill -0 "$FIX" 2>/dev/null || { cat "$TMP/fixture.log" >&2; echo "FAIL: Swift did not start" >&2; exit 1; }
	sleep 0.1
done
grep -q '^SWIFTFIXTURE_PID=' "$TMP/env" || { cat "$TMP/fixture.log" >&2; echo "FAIL: Swift start timed out" >&2; exit 1; }
while IFS='=' read -r name value; do
	case "$name" in
	SIPVAULT_S3_*) export "$name=$value" ;;
	esac
done <"$TMP/env"
echo "s3_client: Swift at $SIPVAULT_S3_ENDPOINT" >&2

cd "$TMP"
if ! "$ITEST"; then
	echo "FAIL: itest_s3" >&2
	exit 1
fi
echo "s3_client: ok" >&2
