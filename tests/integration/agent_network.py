"""sipvault-agent and the network: heartbeats and AGENT_STATS at the configured intervals, the
receive timeout, a blackholed path (no FIN, no RST) between the agent and a real server, the
full disk ring (oldest whole records dropped, counted, logged) and a reference server that does
not negotiate "ack" (every frame arrives, frames are released once written).

Peers: tests/tools/agent_peers.py (a reference-server emulator, a TCP relay that can blackhole
the path, a capture generator). The blackhole scenario reuses the sipp set-up of agent_faults.py
on its own ports."""

import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("SV_SOURCE_DIR", "."), "tests", "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_faults  # noqa: E402
import agent_fixture as af  # noqa: E402
import agent_peers as ap  # noqa: E402
import serverfixture as sf  # noqa: E402
import svclient as sc  # noqa: E402
from serverfixture import check, eq  # noqa: E402

# ports of this suite (the suites may run in parallel)
LIVE_SIP_PORT = 15095
FAST = {"heartbeat_interval": 1, "rx_timeout": 4, "handshake_timeout": 2, "stats_interval": 2}
agent_faults.SIP_PORTS = [15080, 15082]
agent_faults.PORTS = {"udp": (15080, 15081), "tcp": (15082, 15083)}
agent_faults.UAS_MEDIA = {"udp": 22600, "tcp": 22700}
agent_faults._media[0] = 22000


def sip_raw(payload):
    """The raw SIP message of a DATA_SIP payload (IPv4)."""
    _, off = sc._rd_str(payload, 8)
    return payload[off + 1 + 12:]


def pcap_sip(path):
    """Raw UDP payloads of a capture written by agent_peers, in order (SIP only)."""
    out = []
    for _, data in sc.pcap_records(path):
        raw = data[14 + 20 + 8:]
        if raw[:1].isalpha():
            out.append(raw)
    return out


def empty_pcap(path):
    ap.PcapWriter(path).close()
    return path


def send_dialog(cid, port):
    """The messages of one INVITE dialog as real UDP datagrams on lo, 127.0.0.2 -> .3."""
    d = sc.Dialog(cid, caller=("127.0.0.2", port + 1), callee=("127.0.0.3", port),
                  caller_media=("127.0.0.2", 20000), callee_media=("127.0.0.3", 20002))
    d.answered(t_bye_ms=100)
    for m in d.msgs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(m.src)
        s.sendto(m.raw, m.dst)
        s.close()
        time.sleep(0.01)
    return [m.raw for m in d.msgs]


def live_agent(tmp, ref, **kw):
    return af.Agent(address="127.0.0.1:%d" % ref.port, token="t", tmp=tmp,
                    sip_ports=[LIVE_SIP_PORT], rtp=(22800, 22899), iface="lo", **kw)


def test_heartbeats_and_stats():
    tmp = tempfile.mkdtemp(prefix="sv-agentnet.")
    ref = ap.RefServer(caps="ack,rtcp-addr,stats").start()
    ag = live_agent(tmp, ref, server_opts=FAST)
    try:
        ag.start()
        ag.wait_log("connected to")
        time.sleep(6.5)
        hbs = ref.frames(sc.HEARTBEAT)
        stats = ref.frames(sc.AGENT_STATS)
        eq(ref.connections(), 1, "connections (an answered agent must not time out)")
        check(5 <= len(hbs) <= 8, "%d heartbeats in 6.5 s at 1 s" % len(hbs))
        gaps = [b.t - a.t for a, b in zip(hbs, hbs[1:])]
        check(all(0.7 <= g <= 1.5 for g in gaps), "heartbeat gaps %r" % gaps)
        check(3 <= len(stats) <= 5, "%d AGENT_STATS in 6.5 s at 2 s (+1 at connect)" % len(stats))
        sgaps = [b.t - a.t for a, b in zip(stats, stats[1:])]
        check(all(1.6 <= g <= 2.6 for g in sgaps), "AGENT_STATS gaps %r" % sgaps)
        doc = json.loads(stats[-1].payload[8:])
        for k in ("agent_version", "packets", "pcap_drops", "ring_drops", "buffered_frames",
                  "frames_sent", "frames_acked", "reconnects"):
            check(k in doc, "AGENT_STATS lacks %s: %r" % (k, doc))
        eq(doc["reconnects"], 0, "reconnects")
        # with "ack", every frame is numbered 1, 2, 3... on the connection
        eq([f.seq for f in ref.frames()], list(range(1, len(ref.frames()) + 1)), "sequences")
        check("nothing received" not in ag.log_text(), "rx timeout on a live connection")
        eq(ag.stop(), 0, "agent exit")
    except Exception:
        print("---- agent log ----\n" + ag.log_tail(30))
        raise
    finally:
        ag.kill()
        ref.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_rx_timeout():
    """A server that stops answering (no ACK, no HEARTBEAT_ACK) while the connection stays
    up: the agent gives up on it after rx_timeout and sends what was unacknowledged again on
    the next connection."""
    tmp = tempfile.mkdtemp(prefix="sv-agentnet.")
    ref = ap.RefServer(caps="ack,rtcp-addr,stats").start()
    ag = live_agent(tmp, ref, server_opts=FAST)
    try:
        ag.start()
        ag.wait_log("connected to")
        time.sleep(0.5)
        ref.mute()
        t0 = time.monotonic()
        sent = send_dialog("rx-timeout-%d@test" % os.getpid(), LIVE_SIP_PORT)
        sf.wait_until(lambda: ref.closes, 10, what="the agent closing the silent connection")
        dt = ref.closes[0][1] - t0
        check(3.0 <= dt <= 6.0, "closed %.1f s after the server went silent (rx_timeout 4)" % dt)
        ag.wait_log("nothing received from the server for 4 s")
        got1 = [sip_raw(f.payload) for f in ref.frames(sc.DATA_SIP, conn=1)]
        eq(sorted(got1), sorted(sent), "SIP on the first connection (sent, never acknowledged)")
        ref.mute(False)  # (an attempt made while muted times out: handshake_timeout)
        ag.wait_log("connected to", count=2, timeout=10)
        last = ref.handshakes[-1][0]
        sf.wait_until(lambda: len(ref.frames(sc.DATA_SIP, conn=last)) >= len(sent), 5,
                      what="the unacknowledged frames sent again")
        time.sleep(0.3)
        got2 = [sip_raw(f.payload) for f in ref.frames(sc.DATA_SIP, conn=last)]
        eq(got2, got1, "SIP sent again on the next answered connection, in order")
        eq(ag.stop(), 0, "agent exit")
        check("rx timeouts 1" in ag.log_text(), "exit counters:\n" + ag.log_tail(3))
    except Exception:
        print("---- agent log ----\n" + ag.log_tail(30))
        raise
    finally:
        ag.kill()
        ref.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_reference_server_without_ack():
    """The reference server: HANDSHAKE_ACK without capabilities. Every frame arrives (RTCP as
    plain DATA_RTCP), and the frames leave the ring once written: the next start of the agent
    with the same ring has nothing to send."""
    tmp = tempfile.mkdtemp(prefix="sv-agentnet.")
    ref = ap.RefServer(caps=None).start()
    try:
        pcap = os.path.join(tmp, "calls.pcap")
        n, cids, nsip, nrtcp = ap.write_calls_pcap(pcap, 200, spacing_ms=20)
        ag = af.Agent(address="127.0.0.1:%d" % ref.port, token="t", tmp=tmp, iface=None,
                      server_opts=FAST)
        rc, log = ag.read(pcap)
        eq(rc, 0, "agent --read exit\n" + log[-2000:])
        check("the server does not acknowledge frames; sent every frame" in log,
              "not drained:\n" + log[-1000:])
        check('server did not accept "ack"' in log, "no warning about the missing ack")
        eq(ref.handshakes[0][4], "ack,rtcp-addr,stats", "capabilities offered")
        got = [sip_raw(f.payload) for f in ref.frames(sc.DATA_SIP)]
        eq(len(got), nsip, "SIP frames received")
        eq(got, pcap_sip(pcap), "SIP messages, byte for byte, in capture order")
        eq(len(ref.frames(sc.DATA_RTCP)), nrtcp, "DATA_RTCP frames (no rtcp-addr)")
        eq(len(ref.frames(sc.DATA_RTCP_ADDR)), 0, "DATA_RTCP_ADDR frames")
        eq(len(ref.frames(sc.AGENT_STATS)), 0, "AGENT_STATS without stats")
        # released after writing: nothing is left in the ring
        ag2 = af.Agent(address="127.0.0.1:%d" % ref.port, token="t", tmp=tmp, iface=None,
                       ring=ag.ring)
        rc, log2 = ag2.read(empty_pcap(os.path.join(tmp, "empty.pcap")))
        eq(rc, 0, "second run exit")
        check(" 0 unacknowledged frames recovered" in log2, "frames left in the ring:\n" + log2)
        eq(len(ref.frames(sc.DATA_SIP)), nsip, "SIP frames after the second run")
    finally:
        ref.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_ring_full():
    """Server down, 2 MiB ring, ~4.6 MB of frames: the oldest whole records are dropped, counted
    and logged; once a server is there the rest arrives intact, in order."""
    tmp = tempfile.mkdtemp(prefix="sv-agentnet.")
    port = sf.free_port()
    ref = None
    try:
        pcap = os.path.join(tmp, "big.pcap")
        n, cids, nsip, _ = ap.write_calls_pcap(pcap, 400, rtcp=False, pad=8000)
        ag = af.Agent(address="127.0.0.1:%d" % port, token="t", tmp=tmp, iface=None,
                      ring_size="2M", level="info")
        rc, log = ag.read(pcap)
        eq(rc, 0, "agent --read exit\n" + log[-2000:])
        check("unreachable;" in log, "no unreachable line:\n" + log[-1000:])
        check("disk buffer full: dropped the" in log, "ring drops not logged")
        import re
        m = re.search(r"dropped from the full buffer (\d+)", log)
        dropped = int(m.group(1))
        check(dropped > 0, "nothing dropped")
        logged = sum(int(x) for x in re.findall(r"dropped the (\d+) oldest", log))
        eq(logged, dropped, "drops logged vs counted")
        kept = int(re.search(r"unreachable; (\d+) frames are kept", log).group(1))
        eq(kept + dropped, nsip, "kept + dropped")
        ref = ap.RefServer(port=port, caps="ack,rtcp-addr,stats").start()
        ag2 = af.Agent(address="127.0.0.1:%d" % port, token="t", tmp=tmp, iface=None,
                       ring=ag.ring, ring_size="2M", level="info")
        rc, log2 = ag2.read(empty_pcap(os.path.join(tmp, "empty.pcap")))
        eq(rc, 0, "second run exit\n" + log2[-1000:])
        check(" %d unacknowledged frames recovered" % kept in log2, "recovered:\n" + log2)
        got = [sip_raw(f.payload) for f in ref.frames(sc.DATA_SIP)]
        eq(got, pcap_sip(pcap)[dropped:], "the newest frames, whole, in order")
    finally:
        if ref:
            ref.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_blackhole():
    """A path that silently drops everything (a relay that stops reading and writing, no FIN,
    no RST) between the agent and a real server, mid-call: the agent notices by the missing
    HEARTBEAT_ACKs, reconnects with backoff (the attempts into the hole time out too), and
    once the path is back every call is complete on the server, nothing duplicated."""
    e = agent_faults.Env("blackhole")
    relay = None
    ok = False
    try:
        e.pick_ports()
        e.start_server()
        relay = ap.Relay(e.srv.tcp_port).start()
        ag = af.Agent(e.srv, sip_ports=agent_faults.SIP_PORTS, rtp=(22000, 22999), iface="lo",
                      log_file=e.log_path, tmp=tempfile.mkdtemp(dir=e.tmp),
                      address="127.0.0.1:%d" % relay.port,
                      server_opts={"heartbeat_interval": 1, "rx_timeout": 3,
                                   "handshake_timeout": 2})
        e.agents.append(ag)
        ag.start()
        ag.wait_log("connected to")
        e.call("udp")  # before: delivered normally

        def hole(c):
            relay.blackhole()
            e.logw.line(c.call_id, "during the blackhole")
        t0 = time.monotonic()
        e.call("udp", hold_ms=2000, during=hole)  # begins before, ends during the blackhole
        e.call("tcp")  # entirely during the blackhole
        ag.wait_log("nothing received from the server for 3 s", timeout=10)
        check(time.monotonic() - t0 < 10, "dead path noticed too late")
        # at least one more attempt goes into the hole (handshake timeout), with backoff
        ag.wait_log("no HANDSHAKE_ACK within 2 s", timeout=10)
        check("connection closed by the server" not in ag.log_text(), "the relay closed")
        relay.restore()
        ag.wait_log("connected to", count=2, timeout=20)
        e.call("udp")  # after
        e.check()
        text = ag.log_text()
        eq(ag.stop(), 0, "agent exit")
        check(relay.accepted >= 3, "only %d connections through the relay" % relay.accepted)
        check("retrying in 1 s" in text and "retrying in 2 s" in text, "no backoff")
        ok = True
    finally:
        if relay:
            relay.stop()
        e.close(failed=not ok)


if __name__ == "__main__":
    sf.run_tests(globals())
