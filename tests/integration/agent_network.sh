#!/usr/bin/env bash
# sipvault-agent and the network: heartbeats, stats, rx timeout, blackhole, full ring, no-ack server (see agent_network.py).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "${SV_SOURCE_DIR:?}/tests/integration/agent_network.py"
