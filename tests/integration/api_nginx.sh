#!/usr/bin/env bash
# sipvault-api behind nginx (nginx/sipvault.conf). See api_nginx.py.
set -euo pipefail
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is required (scripts/install-deps.sh)" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/api_nginx.py"
