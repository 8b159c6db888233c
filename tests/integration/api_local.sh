#!/usr/bin/env bash
# sipvault-api over the local object store. See api_local.py.
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/api_local.py"
