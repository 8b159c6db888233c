#!/usr/bin/env bash
# sipvault-server integration: RTCP over HEP v3 (UDP).
# See server_hep.py.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/server_hep.py"
