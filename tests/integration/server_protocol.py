"""sipvault-server integration: the agent wire protocol as seen from agents.

Frames split byte by byte and coalesced, authentication, malformed frames, heartbeats, idle and
non-reading agents, unknown types, and the negotiated extensions (ack, rtcp-addr, stats).
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import svclient as sc  # noqa: E402
from serverfixture import Server, check, check_pcap, eq, run_tests, wait_until  # noqa: E402

B = "acme-calls"
RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
S = {}


def cid(name):
    return "%s-%s@proto.example" % (name, RUN)


def srv():
    if "srv" not in S:
        S["srv"] = Server(name="proto").start()
    return S["srv"]


def alive_check(agent, ts=12345):
    """The connection still works: a HEARTBEAT is answered."""
    agent.heartbeat(ts)
    f = agent.recv_frame(3.0, want=sc.HEARTBEAT_ACK)
    check(f is not None, "no HEARTBEAT_ACK: connection not working")
    eq(struct.unpack(">Q", f[2][:8])[0], ts, "HEARTBEAT_ACK ts")


def test_split_byte_by_byte_and_coalesced():
    s = srv()
    base = sc.now_ns()
    # handshake and every frame one byte per send()
    a = sc.Agent(s.tcp_addr, "acme", s.customer("acme")["token"], handshake=False)
    hs = sc.frame(sc.HANDSHAKE, sc.enc_handshake("acme", s.customer("acme")["token"]), 1)
    a.send_raw(hs, split=1, delay=0.002)
    f = a.recv_frame(3.0, want=sc.HANDSHAKE_ACK)
    check(f is not None, "no HANDSHAKE_ACK to a split handshake")
    eq(f[2][0], 0, "handshake status")
    d1 = sc.Dialog(cid("split"), base)
    d1.answered()
    for m in d1.msgs:
        a.sip(m.ts, m.call_id, m.src, m.dst, m.raw, split=1)
    # a whole call and a heartbeat in one write
    d2 = sc.Dialog(cid("coalesced"), base)
    d2.answered()
    blob = b"".join(sc.frame(sc.DATA_SIP, sc.enc_sip(m.ts, m.call_id, m.src, m.dst, m.raw))
                    for m in d2.msgs[:4])
    blob += sc.frame(sc.HEARTBEAT, sc.enc_heartbeat(99))
    blob += b"".join(sc.frame(sc.DATA_SIP, sc.enc_sip(m.ts, m.call_id, m.src, m.dst, m.raw))
                     for m in d2.msgs[4:])
    a.send_raw(blob)
    f = a.recv_frame(3.0, want=sc.HEARTBEAT_ACK)
    check(f is not None and struct.unpack(">Q", f[2])[0] == 99, "heartbeat inside a batch")
    # frames straddling writes at odd offsets
    d3 = sc.Dialog(cid("odd"), base)
    d3.answered()
    blob = b"".join(sc.frame(sc.DATA_SIP, sc.enc_sip(m.ts, m.call_id, m.src, m.dst, m.raw))
                    for m in d3.msgs)
    a.send_raw(blob, split=77, delay=0.001)
    for d in (d1, d2, d3):
        p = s.wait_object(B, d.call_id, d.base_ts, "quality.json", 10)
        check_pcap(os.path.join(os.path.dirname(p), "sip.pcap.gz"), d.msgs, d.call_id)
    a.close()


def test_wrong_token_refused():
    s = srv()
    m0 = s.metrics()
    bad = "WRONG-secret-token-777"
    a = sc.Agent(s.tcp_addr, "acme", bad)
    eq(a.ack_status, 1, "status for a wrong token")
    check(a.closed_by_peer(3.0), "connection not closed after a failed handshake")
    b = sc.Agent(s.tcp_addr, "nosuchcustomer", bad)
    eq(b.ack_status, 1, "status for an unknown customer")
    check(b.closed_by_peer(3.0), "connection not closed (unknown customer)")
    # the token of another customer does not open this one
    c = sc.Agent(s.tcp_addr, "acme", s.customer("beta")["token"])
    eq(c.ack_status, 1, "status for beta's token on acme")
    check(c.closed_by_peer(3.0), "connection not closed (other customer's token)")
    log = wait_until(lambda: s.log_text() if "auth" in s.log_text().lower() else None, 3,
                     what="an auth failure log line")
    check(bad not in log, "the wrong token appears in the log")
    check(s.customer("beta")["token"] not in log, "a customer token appears in the log")
    lines = [ln for ln in log.splitlines() if "auth" in ln.lower() and "acme" in ln]
    check(lines, "no log line names the customer of the failed handshake")
    check(s.metrics().get("sipvault_drops_total", reason="auth_failed")
          >= m0.get("sipvault_drops_total", reason="auth_failed") + 3, "auth_failed counted")
    for x in (a, b, c):
        x.close()


def test_any_agent_software_version_accepted():
    # The handshake's version string is the agent's software version: a git
    # hash, a release tag of any major number, "dev" or nothing at all.
    s = srv()
    for ver in ("578bc6f", "2.0.0", "dev", "", "v3.1-rc2+dirty"):
        a = s.agent("acme", version=ver)
        eq(a.ack_status, 0, "handshake status for agent version %r" % ver)
        alive_check(a)
        d = sc.Dialog(cid("ver-" + (ver or "empty")))
        d.answered()
        a.send_messages(d.msgs)
        s.wait_object(B, d.call_id, d.base_ts, "quality.json", 10)
        a.close()
    log = s.log_text()
    check('version "578bc6f"' in log, "the agent's version is not logged")


def test_bad_protocol_byte_refused():
    # Only the header's protocol byte decides: a HANDSHAKE under protocol 2
    # gets HANDSHAKE_ACK status 2 (version mismatch) and the connection closes.
    s = srv()
    m0 = s.metrics()
    for proto in (0x02, 0x00, 0xFF):
        a = sc.Agent(s.tcp_addr, "acme", s.customer("acme")["token"], handshake=False)
        hs = sc.enc_handshake("acme", s.customer("acme")["token"], "1.0.0")
        a.send_raw(sc.frame(sc.HANDSHAKE, hs, 1, version=proto))
        f = a.recv_frame(3.0, want=sc.HANDSHAKE_ACK)
        check(f is not None, "no HANDSHAKE_ACK for protocol byte %d" % proto)
        status, msg, _ = sc.dec_handshake_ack(f[2])
        eq(status, 2, "status for protocol byte %d" % proto)
        check("version" in msg, "refusal message %r does not name the version" % msg)
        check(a.closed_by_peer(3.0), "connection not closed (protocol byte %d)" % proto)
        a.close()
    check(s.metrics().get("sipvault_drops_total", reason="protocol_error")
          >= m0.get("sipvault_drops_total", reason="protocol_error") + 3,
          "refused protocol bytes counted")
    check("unsupported protocol version 2" in s.log_text(), "no log line names the protocol byte")
    check(s.alive(), "server died")


def test_frames_before_handshake_close():
    s = srv()
    a = sc.Agent(s.tcp_addr, "acme", "x", handshake=False)
    a.send_raw(sc.frame(sc.DATA_LOG, sc.enc_log(1, "c@x", "hello")))
    check(a.closed_by_peer(3.0), "a data frame before the handshake did not close")
    a.close()


def test_malformed_frames_close_only_that_connection():
    s = srv()
    base = sc.now_ns()
    by = s.agent("beta")  # a bystander in the middle of a call
    d = sc.Dialog(cid("bystander"), base)
    d.answered()
    by.send_messages(d.msgs[:5])
    m0 = s.metrics()
    ok = sc.frame(sc.HEARTBEAT, sc.enc_heartbeat(1))
    cases = {
        "bad magic": b"XV" + ok[2:],
        "bad version": ok[:2] + b"\x02" + ok[3:],
        "oversize": sc.frame(sc.DATA_LOG, b"", length=sc.MAX_PAYLOAD + 1),
        "truncated str": sc.frame(sc.DATA_SIP, struct.pack(">QH", 1, 500) + b"short"),
        "truncated ts": sc.frame(sc.DATA_LOG, b"\x00\x01\x02"),
        "http": b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, data in cases.items():
        a = s.agent("acme")
        eq(a.ack_status, 0, "handshake")
        a.send_raw(data)
        check(a.closed_by_peer(3.0), "%s: connection not closed" % name)
        a.close()
    # a connection at exactly the limit is not closed by its header
    a = s.agent("acme")
    a.send_raw(sc.frame(sc.DATA_LOG, b"", length=sc.MAX_PAYLOAD)[:12])
    a.send_raw(b"\x00" * 1000)
    check(not a.closed_by_peer(0.5), "a 1 MiB length was refused")
    a.close()
    alive_check(by)
    by.send_messages(d.msgs[5:])
    s.wait_object("beta-calls", d.call_id, d.base_ts, "quality.json", 10)
    check(s.alive(), "server died")
    m = s.metrics()
    check(m.get("sipvault_drops_total", reason="protocol_error")
          >= m0.get("sipvault_drops_total", reason="protocol_error") + 5, "protocol errors counted")
    log = s.log_text()
    check("magic" in log.lower(), "no log line tells the bad magic")
    by.close()


def test_malformed_sip_is_not_a_protocol_error():
    s = srv()
    a = s.agent("acme")
    m0 = s.metrics()
    a.sip(sc.now_ns(), cid("garbage"), ("192.0.2.1", 5060), ("192.0.2.2", 5060),
          b"this is not SIP at all\r\n\r\n")
    a.sip(sc.now_ns(), "", ("192.0.2.1", 5060), ("192.0.2.2", 5060),
          sc.Dialog("x@y").invite(0).raw)  # empty Call-ID: unattributable, counted
    alive_check(a)
    s.wait_metric("sipvault_drops_total", m0.get("sipvault_drops_total", reason="malformed_sip")
                  + 1, reason="malformed_sip")
    a.close()


def test_heartbeat_answered_with_ts_and_seq():
    s = srv()
    a = s.agent("acme")
    for seq, ts in ((7, 0x0102030405060708), (0, 0), (7, 0xFFFFFFFFFFFFFFFF)):
        a.send_raw(sc.frame(sc.HEARTBEAT, sc.enc_heartbeat(ts), seq))
        f = a.recv_frame(3.0, want=sc.HEARTBEAT_ACK)
        check(f is not None, "no HEARTBEAT_ACK")
        eq(struct.unpack(">Q", f[2][:8])[0], ts, "HEARTBEAT_ACK ts")
        eq(f[1], seq, "HEARTBEAT_ACK sequence")
    a.close()


def test_idle_agent_not_disconnected():
    s = srv()
    a = s.agent("acme")
    check(not a.closed_by_peer(3.5), "idle agent disconnected")
    alive_check(a)
    d = sc.Dialog(cid("after-idle"))
    d.answered()
    a.send_messages(d.msgs)
    s.wait_object(B, d.call_id, d.base_ts, "quality.json", 10)
    a.close()


def test_agent_that_never_reads():
    s = srv()
    lazy = s.agent("acme")
    lazy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hb = sc.frame(sc.HEARTBEAT, sc.enc_heartbeat(5))
    blob = hb * 5000
    t0 = time.monotonic()
    sent = 0
    lazy.sock.settimeout(0.5)
    # ~4 MB of HEARTBEATs = 4 MB of answers nobody reads
    while sent < 200 and time.monotonic() - t0 < 15:
        try:
            lazy.sock.sendall(blob)
            sent += 1
        except socket.timeout:
            break  # the server stopped reading us (its output is full): fine
    other = s.agent("beta")
    t1 = time.monotonic()
    alive_check(other)
    check(time.monotonic() - t1 < 2.0, "another agent was slowed down")
    d = sc.Dialog(cid("beside-lazy"))
    d.answered()
    other.send_messages(d.msgs)
    s.wait_object("beta-calls", d.call_id, d.base_ts, "quality.json", 10)
    s.metrics()
    rss = int([ln.split()[1] for ln in open("/proc/%d/status" % s.proc.pid)
               if ln.startswith("VmRSS")][0])
    check(rss < 200 * 1024, "server RSS %d kB with a non-reading agent" % rss)
    lazy.close()
    other.close()


def test_ack_extension():
    s = srv()
    a = s.agent("acme", caps=" stats, ack ,bogus,,rtcp-addr")
    eq(a.ack_status, 0, "handshake")
    eq(a.ack_caps, "ack,rtcp-addr,stats", "accepted capabilities (order ack,rtcp-addr,stats)")
    d = sc.Dialog(cid("acked"))
    d.answered()
    a.send_messages(d.msgs[:5])
    a.stats(sc.now_ns(), {"pcap_drops": 0, "ring_drops": 0, "buffered_frames": 3})
    a.heartbeat(1)
    for ts, src, dst, ssrc, raw in d.rtcp_pair(1500, 2500):
        a.rtcp(ts, d.call_id, ssrc, raw, src, dst)
    for i in range(50):
        a.log(d.ts(1100 + i), d.call_id, "line %d" % i)
    a.send_messages(d.msgs[5:])
    last = a.seq
    eq(last, 5 + 1 + 1 + 2 + 50 + 2, "frames numbered from 1")
    seen = a.wait_ack(last)
    check(all(x <= y for x, y in zip(seen, seen[1:])), "ACKs go backwards: %r" % seen)
    check(all(1 <= x <= last for x in seen), "ACK outside 1..%d: %r" % (last, seen))
    hb = a.recv_frame(1.0, want=sc.HEARTBEAT_ACK)
    check(hb is not None, "HEARTBEAT_ACK with ack negotiated")
    s.wait_object(B, d.call_id, d.base_ts, "quality.json", 10)
    # a reconnecting agent starts again at 1 and resends: tolerated
    a.close()
    b = s.agent("acme", caps="ack")
    eq(b.ack_caps, "ack", "accepted capabilities")
    d2 = sc.Dialog(cid("acked2"))
    d2.answered()
    b.send_messages(d2.msgs)
    b.wait_ack(b.seq)
    eq(b.seq, 7, "numbering restarts per connection")
    s.wait_object(B, d2.call_id, d2.base_ts, "quality.json", 10)
    b.close()


def test_unknown_and_unnegotiated_types_skipped():
    s = srv()
    a = s.agent("acme")  # no capabilities
    m0 = s.metrics()
    a.send_raw(sc.frame(0x42, b"\x01" * 300))
    a.send_raw(sc.frame(0x00, b""))
    a.send_raw(sc.frame(sc.DATA_RTCP_ADDR, sc.enc_rtcp_addr(1, "c@x", ("1.1.1.1", 1),
                                                            ("2.2.2.2", 2), 1, b"")))
    alive_check(a)
    s.wait_metric("sipvault_drops_total",
                  m0.get("sipvault_drops_total", reason="unknown_frame_type") + 3,
                  reason="unknown_frame_type")
    a.close()


def test_zz_sigterm():
    s = srv()
    eq(s.stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    run_tests(globals())
