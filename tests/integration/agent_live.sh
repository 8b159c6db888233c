#!/usr/bin/env bash
# sipvault-agent live capture on lo with sipp calls (see agent_live.py).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/agent_live.py"
