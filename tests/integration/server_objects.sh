#!/usr/bin/env bash
# sipvault-server integration: where objects land.
# See server_objects.py.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/server_objects.py"
