#!/usr/bin/env bash
# `make demo` end to end: scripts/demo.sh against the built programs must show
# the sample call complete — its four objects, the 7 SIP messages, the 7 log
# lines of that call (not the 3 of other traffic) and a verdict. Also checks
# that etc/sample/call.pcap and call.log are what scripts/make-sample-call.py makes.
set -euo pipefail
root=${SV_SOURCE_DIR:?}
build=$(cd "${SV_BIN_DIR:?}/.." && pwd)
out=$(mktemp /tmp/sv-demo-test.XXXXXX)
gen=$(mktemp -d /tmp/sv-demo-gen.XXXXXX)
cleanup() {
	local dir
	dir=$(sed -n 's/^The objects stay in \(\/tmp\/sipvault-demo\.[A-Za-z0-9]*\) .*/\1/p' "$out" 2>/dev/null)
	[ -n "$dir" ] && rm -rf "$dir"
	rm -rf "$out" "$gen"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$out" >&2; exit 1; }

python3 "$root/scripts/make-sample-call.py" "$gen"
cmp "$gen/call.pcap" "$root/etc/sample/call.pcap" || fail "etc/sample/call.pcap is stale: rerun scripts/make-sample-call.py"
cmp "$gen/call.log" "$root/etc/sample/call.log" || fail "etc/sample/call.log is stale"

SV_DEMO_NO_WAIT=1 bash "$root/scripts/demo.sh" "$build" >"$out" 2>&1 </dev/null || fail "scripts/demo.sh exited $?"
grep -q "the server acknowledged every frame (7 SIP, 24 RTCP, 0 quality)" "$out" || fail "agent summary"
for obj in sip.pcap.gz rtcp.json.gz quality.json log-000001.gz; do
	grep -qE "^ +[0-9]+  $obj\$" "$out" || fail "object $obj not listed"
done
[ "$(grep -c 'SIP.*Request: \|SIP.*Status: ' "$out")" -eq 7 ] || fail "tshark did not show 7 SIP messages"
[ "$(grep -c 'opensips\[4321\].*demo-7f3a2c91@pbx.example.com' "$out")" -eq 7 ] || fail "7 log lines of the call"
grep -q "heartbeat" "$out" && fail "a log line of other traffic was shipped"
grep -qE "== quality.json: verdict '(excellent|good|fair|poor|bad)', audio normal" "$out" || fail "verdict"
grep -qE '^API URL: http://127\.0\.0\.1:[0-9]+/calls/demo-7f3a2c91%40pbx\.example\.com\?customer=demo&ts=[0-9]+&sig=[0-9a-f]{64}&date=2025-11-26$' "$out" || fail "API URL"
grep -q "GET /calls/{call_id} -> 200" "$out" || fail "the API did not answer the link"
grep -q "verdict 'excellent', 4 artifacts" "$out" || fail "the API's summary"
echo "demo: 1 passed, 0 failed"
