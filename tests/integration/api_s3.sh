#!/usr/bin/env bash
# sipvault-api over S3 (Swift + s3api). See api_s3.py.
set -euo pipefail
exec /usr/bin/python3 "${SV_SOURCE_DIR:?}/tests/integration/api_s3.py"
