#!/usr/bin/env bash
# The CDR-viewer link snippets (PHP, Python, Node.js) against sipvault-api. See api_cdrviewer.py.
set -euo pipefail
for t in php node python3 curl; do
	command -v "$t" >/dev/null || { echo "$t is required (scripts/install-deps.sh)" >&2; exit 1; }
done
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/api_cdrviewer.py"
