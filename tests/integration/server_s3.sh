#!/usr/bin/env bash
# sipvault-server with the S3 back end against OpenStack Swift (s3api). See server_s3.py.
set -euo pipefail
PY=${SV_SWIFT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || { echo "FAIL: $PY missing (Debian python3-swift and python3-boto3 are needed)" >&2; exit 1; }
command -v memcached >/dev/null || { echo "FAIL: memcached is required" >&2; exit 1; }
exec "$PY" "${SV_SOURCE_DIR:?}/tests/integration/server_s3.py"
