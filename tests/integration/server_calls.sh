#!/usr/bin/env bash
# sipvault-server on loopback: complete calls of every kind (see server_calls.py).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/server_calls.py"
