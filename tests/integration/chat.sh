#!/usr/bin/env bash
# The AI chat engine of sipvault-api (src/api/chat.c) against the test AI provider
# (tests/tools/ai_provider.py): tests/integration/chat.py starts the provider and
# $SV_TESTS_DIR/itest_chat, runs every case, and stops both whatever happens.
set -euo pipefail

: "${SV_TESTS_DIR:?SV_TESTS_DIR is not set (run through ctest)}"
: "${SV_SOURCE_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
export SV_SOURCE_DIR
[ -x "$SV_TESTS_DIR/itest_chat" ] || { echo "FAIL: $SV_TESTS_DIR/itest_chat missing" >&2; exit 1; }
exec python3 "$SV_SOURCE_DIR/tests/integration/chat.py"
