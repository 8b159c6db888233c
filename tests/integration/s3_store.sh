#!/usr/bin/env bash
# The S3 object store (src/common/store/s3store.c: spool + uploads) against a real
# SigV4-checking S3 server: see s3_store.py, which starts OpenStack Swift with
# s3api (tests/tools/swiftfixture.py), runs $SV_TESTS_DIR/itest_s3store and
# checks every object it put with boto3, byte for byte.
set -euo pipefail
: "${SV_TESTS_DIR:?SV_TESTS_DIR is not set (run through ctest)}"
: "${SV_SOURCE_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
PY=${SV_SWIFT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || { echo "FAIL: $PY missing (Debian python3-swift and python3-boto3 are needed)" >&2; exit 1; }
command -v memcached >/dev/null || { echo "FAIL: memcached is required" >&2; exit 1; }
exec "$PY" "$SV_SOURCE_DIR/tests/integration/s3_store.py"
