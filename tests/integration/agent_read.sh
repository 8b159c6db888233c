#!/usr/bin/env bash
# sipvault-agent --read of third-party captures into a real server (see agent_read.py).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/agent_read.py"
