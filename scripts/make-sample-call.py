#!/usr/bin/env python3
"""Writes the bundled sample call that `make demo` imports: etc/sample/call.pcap (SIP over UDP
with SDP offer and answer, RTCP SR/RR both ways every 5 s) and etc/sample/call.log (the proxy's
log lines for it, plus lines of other traffic the agent must not ship).

The project made this call itself (addresses from the documentation ranges of RFC 5737), so it
can be shipped with the source. Deterministic: run it again and the files are byte-identical.
Usage: scripts/make-sample-call.py [OUTDIR]   (default: etc/sample)
"""
import os
import struct
import sys

# svclient derives Via branches from hash(): pin the hash seed so the output is reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED="0"))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
import svclient  # noqa: E402  (SIP, SDP and RTCP builders shared with the tests)

CALL_ID = "demo-7f3a2c91@pbx.example.com"
BASE_TS = 1764151200 * 10**9  # 2025-11-26T10:00:00Z
CALLER = ("192.0.2.10", 5060)
PROXY = ("203.0.113.5", 5060)
CALLER_MEDIA = ("192.0.2.10", 16000)
CALLEE_MEDIA = ("203.0.113.5", 20000)


def ipv4_udp(src, dst, payload, ident):
    """An IPv4 + UDP packet (LINKTYPE_RAW) with a correct IPv4 header checksum."""
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0, 64, 17, 0,
                      bytes(map(int, src[0].split("."))), bytes(map(int, dst[0].split("."))))
    s = sum(struct.unpack("!10H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:]
    return hdr + udp


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "etc", "sample")
    d = svclient.Dialog(CALL_ID, base_ts=BASE_TS, caller=CALLER, callee=PROXY,
                        caller_media=CALLER_MEDIA, callee_media=CALLEE_MEDIA,
                        from_uri="sip:alice@example.com", to_uri="sip:+15551234567@example.net")
    d.from_tag, d.to_tag = "a1b2c3", "d4e5f6"
    d.answered(t_bye_ms=62000)
    packets = [(m.ts, m.src, m.dst, m.raw) for m in d.msgs]
    # RTCP every 5 s from each side; the caller's leg loses a little now and then
    for i, t in enumerate(range(5000, 61000, 5000)):
        lost = 3 if i % 4 == 2 else 0
        for ts, src, dst, _ssrc, raw in d.rtcp_pair(t, t + 400, rtt_ms=48 + (i % 3) * 6,
                                                    fraction_lost=lost, jitter=96 + 8 * (i % 5),
                                                    uas_sends_sr=(i % 2 == 0)):
            packets.append((ts, src, dst, raw))
    packets.sort(key=lambda p: p[0])

    with open(os.path.join(out, "call.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101))  # ns, RAW
        for n, (ts, src, dst, raw) in enumerate(packets):
            pkt = ipv4_udp(src, dst, raw, 0x4000 + n)
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(pkt), len(pkt)))
            f.write(pkt)

    lines = [
        (0, "INFO:core:main: heartbeat: 12 active dialogs"),
        (10, "NOTICE:script: new INVITE from sip:alice@example.com to sip:+15551234567@example.net "
             "call-id=%s" % CALL_ID),
        (15, "INFO:auth: sip:alice@example.com authenticated (Call-ID: %s)" % CALL_ID),
        (20, "INFO:rtpproxy: offer for [%s] media 192.0.2.10:16000 -> 203.0.113.5:20000" % CALL_ID),
        (300, "INFO:core:main: OPTIONS keepalive from 198.51.100.7 answered"),
        (1000, "INFO:dialog: dlg:%s confirmed by 200 OK, answer 203.0.113.5:20000" % CALL_ID),
        (30000, "WARNING:rtpproxy: [%s] jitter above 12 ms on the caller leg" % CALL_ID),
        (62000, "NOTICE:script: BYE from sip:alice@example.com call-id=%s duration=61s" % CALL_ID),
        (62040, "INFO:dialog: dlg:%s deleted, reason BYE" % CALL_ID),
        (62100, "INFO:core:main: heartbeat: 11 active dialogs"),
    ]
    with open(os.path.join(out, "call.log"), "w") as f:
        for t_ms, text in lines:
            sec = (BASE_TS // 10**9) + t_ms // 1000
            hh, mm, ss = (sec // 3600) % 24, (sec // 60) % 60, sec % 60
            f.write("Nov 26 %02d:%02d:%02d proxy /usr/sbin/opensips[4321]: %s\n" % (hh, mm, ss, text))


if __name__ == "__main__":
    main()
