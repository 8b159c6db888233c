#!/usr/bin/env bash
# sipvault-server end to end, minimal: two customers, one complete call from a
# tiny wire-protocol client (handshake with "ack,rtcp-addr", INVITE/100/200/
# ACK/BYE/200, two DATA_RTCP_ADDR reports, three DATA_LOG lines) plus one HEP
# RTCP report -> the four objects under objects/{bucket}/calls/Y/M/D/{key}/,
# tshark reads the 6 SIP messages back, /metrics answers; a wrong token is
# refused (status 1) and never logged; SIGTERM in the middle of a call and a
# restart complete the call; SIGHUP reloads the customers.
# The thorough protocol tests live in the Python suite; this is the smoke test.
set -euo pipefail

: "${SV_BIN_DIR:?SV_BIN_DIR is not set (run through ctest)}"
BIN=$SV_BIN_DIR/sipvault-server
[ -x "$BIN" ] || { echo "FAIL: $BIN missing" >&2; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 is required" >&2; exit 1; }
command -v tshark >/dev/null || { echo "FAIL: tshark is required" >&2; exit 1; }

TMP=$(mktemp -d /tmp/sv-smoke.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	if [ -n "${SV_KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	if [ -f "$TMP/server.log" ]; then
		echo "--- server log (tail)" >&2
		tail -n 40 "$TMP/server.log" >&2
	fi
	exit 1
}

read -r TCP HEP METRICS < <(python3 - <<'PY'
import socket
ss, ports = [], []
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    ss.append(s)
    ports.append(s.getsockname()[1])
print(*ports)
PY
)
DATA=$TMP/data
CONF=$TMP/server.conf
write_conf() { # customers JSON array
	printf '{"SIPVAULT_CUSTOMERS": %s}\n' "$1" >"$CONF"
}
write_conf '[{"id":"acme","token":"acme-secret-token","bucket":"acme-calls"},
 {"id":"beta","token":"beta-secret-token","bucket":"beta-calls"}]'

start_server() {
	env -i PATH=/usr/bin:/bin ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
		SIPVAULT_LISTEN_TCP="127.0.0.1:$TCP" SIPVAULT_LISTEN_HEP="127.0.0.1:$HEP" \
		SIPVAULT_METRICS_LISTEN="127.0.0.1:$METRICS" SIPVAULT_DATA_DIR="$DATA" \
		SIPVAULT_CLOSING_GRACE=1 SIPVAULT_LOG_LEVEL=debug \
		"$BIN" --config "$CONF" >>"$TMP/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		grep -q "listening for agents" "$TMP/server.log" 2>/dev/null && return 0
		kill -0 "$PID" 2>/dev/null || fail "server exited at start"
		sleep 0.05
	done
	fail "server did not start"
}

stop_server() {
	kill -TERM "$PID"
	local st=0
	wait "$PID" || st=$?
	PID=
	[ "$st" -eq 0 ] || fail "server exit status $st after SIGTERM"
}

# The client: python3 client.py TCP HEP COMMAND ...
cat >"$TMP/client.py" <<'PY'
import socket, struct, sys, time

TCP, HEPPORT = int(sys.argv[1]), int(sys.argv[2])
cmd, args = sys.argv[3], sys.argv[4:]
seq = 0

def frame(t, payload, s=None):
    global seq
    if s is None:
        seq += 1
        s = seq
    return struct.pack(">2sBBII", b"SV", 1, t, len(payload), s) + payload

def st(b):
    b = b if isinstance(b, bytes) else b.encode()
    return struct.pack(">H", len(b)) + b

def recv_exact(sock, n):
    b = b""
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c:
            raise EOFError("connection closed after %d of %d bytes" % (len(b), n))
        b += c
    return b

def recv_frame(sock):
    h = recv_exact(sock, 12)
    magic, ver, t, ln, s = struct.unpack(">2sBBII", h)
    assert magic == b"SV" and ver == 1, h
    return t, s, recv_exact(sock, ln)

def connect(cust, token, caps=None):
    global seq
    sock = socket.create_connection(("127.0.0.1", TCP), timeout=10)
    p = st(cust) + st(token) + st("1.0.0")
    if caps is not None:
        p += st(caps)
    sock.sendall(frame(1, p, 1))
    seq = 0
    t, s, pl = recv_frame(sock)
    assert t == 2, "expected HANDSHAKE_ACK, got type %d" % t
    status, mlen = pl[0], struct.unpack(">H", pl[1:3])[0]
    rest = pl[3 + mlen:]
    got_caps = None
    if rest:
        cl = struct.unpack(">H", rest[:2])[0]
        got_caps = rest[2:2 + cl].decode()
    return sock, status, got_caps

NOW = time.time_ns()
A, B, M = "10.0.0.1", "10.0.0.2", "10.0.0.3"

def sip(call_id, src, dst, text, ts):
    raw = text.encode()
    p = struct.pack(">Q", ts) + st(call_id) + bytes([0])
    p += socket.inet_aton(src) + struct.pack(">H", 5060) + socket.inet_aton(dst)
    p += struct.pack(">H", 5060) + raw
    return frame(3, p)

def sdp(ip, port):
    body = ("v=0\no=- 1 1 IN IP4 %s\ns=-\nc=IN IP4 %s\nt=0 0\nm=audio %d RTP/AVP 0\n"
            "a=rtpmap:0 PCMU/8000\n" % (ip, ip, port)).replace("\n", "\r\n")
    return body

def msg(first, call_id, cseq, tag_to=True, body=""):
    h = ("%s\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK%d\n"
         "From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>%s\n"
         "Call-ID: %s\nCSeq: %s\nContact: <sip:alice@10.0.0.1>\n" %
         (first, abs(hash(first + cseq)) % 100000, ";tag=b2" if tag_to else "", call_id, cseq))
    if body:
        h += "Content-Type: application/sdp\n"
    h += "Content-Length: %d\n\n" % len(body)
    return h.replace("\n", "\r\n") + body

def setup_frames(cid, t):
    f = sip(cid, A, B, msg("INVITE sip:bob@example.com SIP/2.0", cid, "1 INVITE", False,
                           sdp(A, 10000)), t)
    f += sip(cid, B, A, msg("SIP/2.0 100 Trying", cid, "1 INVITE", False), t + 10**7)
    f += sip(cid, B, A, msg("SIP/2.0 200 OK", cid, "1 INVITE", True, sdp(M, 20000)), t + 10**9)
    f += sip(cid, A, B, msg("ACK sip:bob@10.0.0.3 SIP/2.0", cid, "1 ACK"), t + 11 * 10**8)
    return f

def teardown_frames(cid, t):
    f = sip(cid, A, B, msg("BYE sip:bob@10.0.0.3 SIP/2.0", cid, "2 BYE"), t)
    f += sip(cid, B, A, msg("SIP/2.0 200 OK", cid, "2 BYE"), t + 10**7)
    return f

def rr(ssrc, about, lost, jitter):
    return struct.pack(">BBHI", 0x81, 201, 7, ssrc) + struct.pack(
        ">IIIIII", about, (lost << 24) | 3, 1000, jitter, 0, 0)

def rtcp_addr(cid, t, src, sport, dst, dport, ssrc, raw):
    p = struct.pack(">Q", t) + st(cid) + bytes([0]) + socket.inet_aton(src)
    p += struct.pack(">H", sport) + socket.inet_aton(dst) + struct.pack(">HI", dport, ssrc) + raw
    return frame(0x0A, p)

def log(cid, t, line):
    return frame(5, struct.pack(">Q", t) + st(cid) + line.encode())

def hep(cid, key, raw):
    def ch(t, v):
        return struct.pack(">HHH", 0, t, 6 + len(v)) + v
    c = ch(1, b"\x02") + ch(2, b"\x11") + ch(3, socket.inet_aton(M)) + ch(4, socket.inet_aton(A))
    c += ch(7, struct.pack(">H", 20001)) + ch(8, struct.pack(">H", 10001))
    c += ch(9, struct.pack(">I", NOW // 10**9 + 3)) + ch(10, struct.pack(">I", 0))
    c += ch(11, b"\x05") + ch(12, struct.pack(">I", 7)) + ch(14, key.encode())
    c += ch(15, raw) + ch(17, cid.encode())
    return b"HEP3" + struct.pack(">H", 6 + len(c)) + c

def wait_ack(sock, want):
    while True:
        t, s, pl = recv_frame(sock)
        if t == 9 and struct.unpack(">I", pl[:4])[0] == want:
            return

if cmd == "call":            # cust token call_id : a whole call, split byte-wise in part
    cust, token, cid = args
    sock, status, caps = connect(cust, token, "ack,rtcp-addr")
    assert status == 0 and caps == "ack,rtcp-addr", (status, caps)
    data = setup_frames(cid, NOW)
    data += rtcp_addr(cid, NOW + 2 * 10**9, A, 10001, M, 20001, 0x1111, rr(0x1111, 0x2222, 2, 40))
    data += rtcp_addr(cid, NOW + 2 * 10**9, M, 20001, A, 10001, 0x2222, rr(0x2222, 0x1111, 0, 16))
    for i in range(3):
        data += log(cid, NOW + 10**8 * i, "proxy log line %d for %s" % (i + 1, cid))
    for i in range(0, len(data), 7):   # split into small segments
        sock.sendall(data[i:i + 7])
    wait_ack(sock, seq)                # everything so far is durable and in the call
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(hep(cid, token, rr(0x2222, 0x1111, 1, 24)), ("127.0.0.1", HEPPORT))
    time.sleep(0.3)
    data = frame(6, struct.pack(">Q", 0x0102030405060708)) + teardown_frames(cid, NOW + 5 * 10**9)
    sock.sendall(data)
    while True:                    # HEARTBEAT_ACK with the same ts, then the final ACK
        t, s, pl = recv_frame(sock)
        if t == 7:
            assert pl == bytes.fromhex("0102030405060708"), pl
            break
    wait_ack(sock, seq)
    sock.close()
elif cmd == "half":          # cust token call_id : setup only, wait until durable
    cust, token, cid = args
    sock, status, caps = connect(cust, token, "ack")
    assert status == 0 and caps == "ack", (status, caps)
    sock.sendall(setup_frames(cid, NOW) + log(cid, NOW, "before the restart"))
    wait_ack(sock, seq)
    sock.close()
elif cmd == "finish":        # cust token call_id : teardown, reference-agent style (no caps)
    cust, token, cid = args
    sock, status, caps = connect(cust, token)
    assert status == 0 and caps is None, (status, caps)
    sock.sendall(log(cid, NOW, "after the restart") + teardown_frames(cid, NOW + 5 * 10**9))
    sock.sendall(frame(6, struct.pack(">Q", 42)))
    t, s, pl = recv_frame(sock)
    assert t == 7 and struct.unpack(">Q", pl)[0] == 42, (t, pl)
    sock.close()
elif cmd == "refused":       # cust token : status 1, then the server closes
    cust, token = args
    sock, status, caps = connect(cust, token)
    assert status == 1, status
    sock.settimeout(5)
    assert sock.recv(1) == b"", "connection not closed after a refused handshake"
elif cmd == "accepted":      # cust token
    cust, token = args
    sock, status, caps = connect(cust, token)
    assert status == 0, status
elif cmd == "hold":          # cust token : stays connected until the server closes it
    cust, token = args
    sock, status, caps = connect(cust, token)
    assert status == 0, status
    print("connected", flush=True)
    sock.settimeout(20)
    assert sock.recv(1) == b"", "expected the server to close the connection"
elif cmd == "garbage":       # after a good handshake: a bad magic closes the connection
    cust, token = args
    sock, status, caps = connect(cust, token)
    assert status == 0
    sock.sendall(b"XX\x01\x03\x00\x00\x00\x00\x00\x00\x00\x00")
    sock.settimeout(5)
    assert sock.recv(1) == b"", "connection not closed after a malformed frame"
else:
    sys.exit("unknown command " + cmd)
PY
client() { python3 "$TMP/client.py" "$TCP" "$HEP" "$@"; }

# find_call BUCKET CALLKEY : prints the call's object directory (or nothing)
find_call() {
	find "$DATA/objects/$1/calls" -mindepth 4 -maxdepth 4 -type d -name "$2" 2>/dev/null | head -n 1
}
wait_quality() { # BUCKET CALLKEY
	local d
	for _ in $(seq 1 100); do
		d=$(find_call "$1" "$2")
		if [ -n "$d" ] && [ -f "$d/quality.json" ]; then
			echo "$d"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
count_sip() {
	tshark -r "$1" -Y sip -T fields -e sip.CSeq 2>/dev/null | grep -c . || true
}

start_server

# 1. One complete call for acme.
client call acme acme-secret-token "smoke-1@example.com" || fail "call 1 client"
dir=$(wait_quality acme-calls "smoke-1@example.com") || fail "no quality.json for call 1"
case "$dir" in
*/calls/[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/smoke-1@example.com) ;;
*) fail "unexpected object path $dir" ;;
esac
for o in sip.pcap.gz rtcp.json.gz quality.json log-000001.gz; do
	[ -s "$dir/$o" ] || fail "call 1: $o missing"
done
n=$(count_sip "$dir/sip.pcap.gz")
[ "$n" -eq 6 ] || fail "call 1: tshark sees $n SIP messages, wanted 6"
[ "$(gzip -dc "$dir/log-000001.gz" | grep -c 'proxy log line')" -eq 3 ] || fail "call 1: log lines"
python3 - "$dir" <<'PY' || fail "call 1: rtcp.json / quality.json content"
import gzip, json, sys
d = sys.argv[1]
r = json.load(gzip.open(d + "/rtcp.json.gz"))
q = json.load(open(d + "/quality.json"))
assert r["call_id"] == "smoke-1@example.com", r["call_id"]
src = sorted(x["source"] for x in r["reports"])
assert src == ["agent", "agent", "hep"], src
assert q["customer"] == "acme" and q["call_id"] == "smoke-1@example.com", q
assert q["summary"]["end_reason"] == "bye" and q["summary"]["final_status"] == 200, q["summary"]
assert q["audio_status"] == "normal", q["audio_status"]
PY
[ ! -e "$DATA/objects/beta-calls/calls" ] || fail "objects leaked into beta's bucket"

# 2. Wrong token: status 1, closed, token not logged; garbage closes the connection.
client refused acme not-the-token || fail "wrong token not refused"
client refused nobody acme-secret-token || fail "unknown customer not refused"
grep -q "auth failed for customer acme from 127.0.0.1" "$TMP/server.log" || fail "no auth failure log"
if grep -q "not-the-token" "$TMP/server.log"; then fail "the token was logged"; fi
client garbage beta beta-secret-token || fail "malformed frame did not close the connection"
grep -q "customer=beta agent .*closing connection: malformed stream" "$TMP/server.log" ||
	fail "no log line for the malformed frame"

# 3. Metrics.
python3 - "$METRICS" <<'PY' >"$TMP/metrics" || fail "/metrics did not answer"
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())
PY
for pat in 'sipvault_frames_total{type="DATA_SIP",customer="acme"} 6' \
	'sipvault_calls_completed_total{customer="acme"} 1' \
	'sipvault_drops_total{reason="auth_failed"} 2' 'sipvault_sessions{state="pending"}' \
	'sipvault_objects_written_total{object="quality"} 1' 'sipvault_journal_segments' \
	'sipvault_hep_packets_total{result="stored"} 1'; do
	grep -qF "$pat" "$TMP/metrics" || fail "metrics lack '$pat'"
done

# 4. SIGTERM in the middle of a call; the restart completes it.
client half acme acme-secret-token "smoke-2@example.com" || fail "call 2 setup"
stop_server
[ -z "$(find_call acme-calls smoke-2@example.com)" ] || fail "call 2 written before its BYE"
start_server
client finish acme acme-secret-token "smoke-2@example.com" || fail "call 2 teardown"
dir=$(wait_quality acme-calls "smoke-2@example.com") || fail "no quality.json for call 2"
n=$(count_sip "$dir/sip.pcap.gz")
[ "$n" -eq 6 ] || fail "call 2: tshark sees $n SIP messages across the restart, wanted 6"
[ "$(gzip -dc "$dir"/log-*.gz | grep -c 'the restart')" -eq 2 ] || fail "call 2: log lines"
grep -q "calls resumed" "$TMP/server.log" || fail "no replay log line"

# 5. SIGHUP: beta removed (its connection closed), gamma added; a broken file keeps the old set.
client hold beta beta-secret-token >"$TMP/hold.out" &
HOLD=$!
for _ in $(seq 1 50); do grep -q connected "$TMP/hold.out" && break; sleep 0.1; done
write_conf '[{"id":"acme","token":"acme-secret-token","bucket":"acme-calls"},
 {"id":"gamma","token":"gamma-secret-token","bucket":"gamma-calls"}]'
kill -HUP "$PID"
wait "$HOLD" || fail "beta's connection was not closed after the reload"
client accepted gamma gamma-secret-token || fail "gamma refused after SIGHUP"
client refused beta beta-secret-token || fail "beta still accepted after SIGHUP"
echo '{"SIPVAULT_CUSTOMERS": [' >"$CONF"
kill -HUP "$PID"
for _ in $(seq 1 50); do grep -q "configuration not reloaded" "$TMP/server.log" && break; sleep 0.1; done
grep -q "configuration not reloaded" "$TMP/server.log" || fail "no log line for a bad reload"
client accepted gamma gamma-secret-token || fail "a bad reload dropped the customers"

stop_server
echo "server_smoke.sh: all checks passed"
