#!/usr/bin/env bash
# sipvault-agent under faults (server down, killed, silent; kill -9; log rotation) (see agent_faults.py).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/agent_faults.py"
