#!/usr/bin/env bash
# `make demo`: shows what the parts built so far produce. Until the server
# daemon exists, that is the quality report of a bundled sample call:
# sipvault-server --analyze etc/sample/rtcp.json, followed by a short
# explanation of what it says.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "$build" in
/*) ;;
*) build="$root/$build" ;;
esac
server="$build/bin/sipvault-server"
sample="$root/etc/sample/rtcp.json"
[ -x "$server" ] || { echo "demo: $server not found; run 'make build' first" >&2; exit 1; }
[ -f "$sample" ] || { echo "demo: $sample is missing" >&2; exit 1; }

report=$(mktemp /tmp/sv-demo.XXXXXX)
trap 'rm -f "$report"' EXIT

echo "== sipvault-server --analyze etc/sample/rtcp.json"
echo
"$server" --analyze "$sample" | tee "$report"
echo

python3 - "$report" <<'PY'
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
text = (
    f"What you see: the quality.json that sipvault-server stores next to the SIP capture of "
    f"every call. It was computed from {s['sample_count']} RTCP report blocks that the two "
    f"endpoints of call {r['call_id']} ({s['codec']}, {s['duration_seconds']:.0f} s, "
    f"{s['from']} -> {s['to']}) sent each other; each block gives jitter, packet loss and "
    f"round-trip time for the media its sender received, and the ITU-T G.107 E-model turns "
    f"them into a MOS score. Per leg - {leg('uac')}; {leg('uas')}. The verdict is "
    f"'{r['verdict']}' (audio {r['audio_status']}) because of: {cause}. The timeseries holds "
    f"the same figures in 5-second buckets, which is what the dashboard plots. "
    f"Run it on any rtcp.json or rtcp.json.gz with: sipvault-server --analyze FILE."
)
print(textwrap.fill(text, width=100))
PY
