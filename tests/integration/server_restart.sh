#!/usr/bin/env bash
# sipvault-server integration: SIGTERM in the middle of 100 active calls, then a restart.
# See server_restart.py.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/server_restart.py"
