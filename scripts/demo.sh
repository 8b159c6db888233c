#!/usr/bin/env bash
# `make demo`: runs the product on this machine on the local object store and
# shows one call end to end. It starts sipvault-server on free loopback ports,
# lets sipvault-agent import the bundled sample call (etc/sample/call.pcap:
# SIP with SDP and RTCP both ways, made by scripts/make-sample-call.py; and the
# proxy's log lines, etc/sample/call.log), waits until the call's objects are
# written, and prints where they are and what they say. Then it starts
# sipvault-api over the same store and prints a signed link to the call's API
# (http://127.0.0.1:PORT/calls/...), checked with curl; on a terminal it keeps
# the API running until Enter is pressed (SV_DEMO_NO_WAIT=1: never waits).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "$build" in
/*) ;;
*) build="$root/$build" ;;
esac
server="$build/bin/sipvault-server"
agent="$build/bin/sipvault-agent"
api="$build/bin/sipvault-api"
for b in "$server" "$agent" "$api"; do
	[ -x "$b" ] || { echo "demo: $b not found; run 'make build' first" >&2; exit 1; }
done
pcap="$root/etc/sample/call.pcap"
logfile="$root/etc/sample/call.log"
call_id="demo-7f3a2c91@pbx.example.com"

work=$(mktemp -d /tmp/sipvault-demo.XXXXXX)
server_pid=""
api_pid=""
cleanup() {
	local p
	for p in "$api_pid" "$server_pid"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
}
trap cleanup EXIT

read -r tcp_port hep_port metrics_port api_port < <(python3 - <<'PY'
import socket
socks = []
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_STREAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
PY
)

echo "== sipvault-server: local object store in $work/data"
echo '{}' >"$work/server.conf" # everything comes from the environment below
SIPVAULT_CUSTOMERS='[{"id":"demo","token":"demo-token","bucket":"demo-calls"}]' \
SIPVAULT_DATA_DIR="$work/data" \
SIPVAULT_LISTEN_TCP="127.0.0.1:$tcp_port" \
SIPVAULT_LISTEN_HEP="127.0.0.1:$hep_port" \
SIPVAULT_METRICS_LISTEN="127.0.0.1:$metrics_port" \
SIPVAULT_CLOSING_GRACE=1 \
	"$server" --config "$work/server.conf" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	grep -q "listening for agents" "$work/server.log" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
	sleep 0.1
done

cat >"$work/agent.conf" <<CONF
[server]
address = 127.0.0.1:$tcp_port
customer_id = demo
token = demo-token

[capture]
sip_ports = 5060
rtp_port_min = 10000
rtp_port_max = 30000
log_file = $logfile

[buffer]
path = $work/buffer.dat
max_size = 16M
CONF

echo "== sipvault-agent --read etc/sample/call.pcap (log lines from etc/sample/call.log)"
"$agent" --config "$work/agent.conf" --read "$pcap" 2>"$work/agent.log" ||
	{ cat "$work/agent.log" >&2; exit 1; }
grep "sipvault-agent:" "$work/agent.log" | sed 's/^/   /'

dir="$work/data/objects/demo-calls/calls/2025/11/26/$call_id"
for _ in $(seq 100); do
	[ -f "$dir/quality.json" ] && break
	sleep 0.1
done
[ -f "$dir/quality.json" ] || { echo "demo: the call did not complete" >&2; tail "$work/server.log" >&2; exit 1; }

echo
echo "== the call's objects"
ls -l "$dir" | tail -n +2 | awk '{printf "   %8s  %s\n", $5, $9}'
echo "   in $dir"
echo
echo "== sip.pcap.gz, read back by tshark"
if command -v tshark >/dev/null; then
	tshark -r "$dir/sip.pcap.gz" -Y sip 2>/dev/null | sed 's/^/   /'
fi
echo
echo "== log-000001.gz"
zcat "$dir/log-000001.gz" | sed 's/^/   /'
echo
python3 - "$dir/quality.json" <<'PY'
import json, sys, textwrap
r = json.load(open(sys.argv[1]))
s, d = r["summary"], r["directions"]
def leg(name):
    x = d.get(name)
    if x is None:
        return f"no reports from the {name} side"
    return (f"{name}: MOS {x['mos']['avg']:.2f} (worst {x['mos']['min']:.2f}), "
            f"jitter {x['jitter']['avg']:.1f} ms, loss {x['loss']['avg']:.2f} %, "
            f"RTT {x['rtt']['avg']:.0f} ms")
cause = r["diagnostic"]["probable_cause"] or "nothing to flag"
print(f"== quality.json: verdict {r['verdict']!r}, audio {r['audio_status']}")
text = (
    f"Call {r['call_id']} ({s['codec']}, {s['duration_seconds']:.0f} s, {s['from']} -> "
    f"{s['to']}, ended by {s['end_reason']}, status {s['final_status']}). "
    f"{s['sample_count']} RTCP report blocks from both endpoints, scored with the ITU-T G.107 "
    f"E-model. Per leg - {leg('uac')}; {leg('uas')}. Probable cause: {cause}."
)
print(textwrap.indent(textwrap.fill(text, width=96), "   "))
PY
echo
echo "== sipvault-api on 127.0.0.1:$api_port, over the same store"
secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
echo "# sipvault-api demo: everything comes from the environment" >"$work/api.env"
SIPVAULT_CUSTOMERS='[{"id":"demo","token":"demo-token","bucket":"demo-calls"}]' \
SIPVAULT_DATA_DIR="$work/data" \
SIPVAULT_API_LISTEN="127.0.0.1:$api_port" \
SIPVAULT_HMAC_SECRET="$secret" \
	"$api" --config "$work/api.env" >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do
	grep -q "listening on" "$work/api.log" 2>/dev/null && break
	kill -0 "$api_pid" 2>/dev/null || { cat "$work/api.log" >&2; exit 1; }
	sleep 0.1
done
# the link a CDR viewer makes (docs/cdr-viewer.md), valid for an hour
link=$(SIPVAULT_HMAC_SECRET="$secret" python3 "$root/docs/cdr-viewer/sipvault_link.py" \
	"http://127.0.0.1:$api_port" demo "$call_id")
url="$link&date=2025-11-26"
code=$(curl -s -o "$work/call.json" -w '%{http_code}' "$url")
echo "   GET /calls/{call_id} -> $code"
python3 - "$work/call.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("   call %s of %s on %s: verdict %r, %d artifacts (%s)" % (
    j["call_id"], j["customer"], j["date"], j["summary"]["verdict"], len(j["artifacts"]),
    ", ".join(a["name"] for a in j["artifacts"])))
PY
base=${url%%\?*}
query=${url#*\?}
echo
echo "API URL: $url"
echo "   SIP ladder: $base/sip?$query"
echo "   log lines:  $base/logs?$query"
echo
echo "The objects stay in $work (server log: $work/server.log, API log: $work/api.log)."
if [ -t 0 ] && [ -z "${SV_DEMO_NO_WAIT:-}" ]; then
	read -r -p "The API runs until you press Enter... " _ || true
fi
