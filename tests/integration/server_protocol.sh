#!/usr/bin/env bash
# sipvault-server integration: the agent wire protocol as seen from agents.
# See server_protocol.py.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/server_protocol.py"
