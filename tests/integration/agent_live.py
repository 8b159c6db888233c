"""sipvault-agent capturing on "lo": sipp UAC/UAS calls over UDP and TCP with SDP, RTCP sent
between the SDP endpoints, proxy log lines naming the Call-IDs. The server's objects of each
call hold exactly the SIP messages, RTCP reports and log lines sent; REGISTER/OPTIONS-free
noise lines are never shipped. Then the agent's SIGTERM exit (status 0)."""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("SV_SOURCE_DIR", "."), "tests", "tools"))
import agent_fixture as af  # noqa: E402
import agent_traffic as at  # noqa: E402
import serverfixture as sf  # noqa: E402
import svclient  # noqa: E402
from serverfixture import check, eq  # noqa: E402

BUCKET = "acme-calls"
ENV = {"SIPVAULT_CLOSING_GRACE": "1"}
# sipp's built-in scenarios: uac sends INVITE, ACK, BYE; uas answers 180, 200 and 200 to BYE
EXPECTED = ["1 INVITE"] * 3 + ["1 ACK", "2 BYE", "2 BYE"]
UAS_MEDIA = {"udp": 20100, "tcp": 20200}
FIRST = ["INVITE", "180", "200", "ACK", "BYE", "200"]


def first_words(call_dir):
    out = []
    for _, data in svclient.pcap_records(os.path.join(call_dir, "sip.pcap.gz")):
        for start in (b"INVITE ", b"ACK ", b"BYE ", b"SIP/2.0 "):
            i = data.find(start)
            if i >= 0:
                line = data[i:].split(b"\r\n", 1)[0].decode()
                out.append(line.split()[1] if line.startswith("SIP/2.0") else line.split()[0])
                break
    return out


def run_calls(tmp, logw, plan, ports, hold_ms=1500):
    """plan: list of transports; returns [(call, rtcp packets sent)]."""
    done = []
    for i, tr in enumerate(plan):
        uas_port, uac_port = ports[tr]
        c = at.Call(tr, uas_port, uac_port, 20000 + 10 * i, hold_ms, tmp).start()
        time.sleep(0.6)  # INVITE / 200 / ACK are through; the call is up
        sent = at.send_rtcp(20000 + 10 * i + 1, 0x1000 + i, 2)       # to the UAC's RTCP
        sent += at.send_rtcp(UAS_MEDIA[tr] + 1, 0x2000 + i, 1)       # to the UAS's RTCP
        logw.line(c.call_id, "INVITE from caller routed")
        logw.noise()
        logw.line(c.call_id, "dialog established")
        c.wait()
        logw.line(c.call_id, "BYE received, dialog ended")
        done.append((c, sent))
    return done


def check_calls(srv, logw, done):
    for c, sent in done:
        d = af.wait_call(srv, BUCKET, c.call_id, "rtcp.json.gz", timeout=20)
        eq(af.stored_cseqs(d), EXPECTED, c.call_id + " CSeqs")
        eq(first_words(d), FIRST, c.call_id + " methods/status")
        import json
        doc = json.loads(svclient.read_gz(os.path.join(d, "rtcp.json.gz")))
        raws = sorted(at.rtcp_raw(r) for r in doc["reports"])
        # the server stores each report of a compound packet: the SR (28 bytes, no blocks)
        # is the report here, the SDES after it carries none
        eq(raws, sorted(p[:28] for p in sent), c.call_id + " RTCP reports")
        sf.check_logs(d, logw.lines[c.call_id], c.call_id + " log lines")


def test_sipp_calls_udp_tcp():
    tmp = tempfile.mkdtemp(prefix="sv-agentlive.")
    log_path = os.path.join(tmp, "opensips.log")
    open(log_path, "w").write("old line before the agent started agentd-1-1@127.0.0.1\n")
    logw = at.LogWriter(log_path)
    with sf.Server(env=ENV, name="agentlive") as srv:
        ag = af.Agent(srv, sip_ports=[15060, 15062], rtp=(20000, 20999), iface="lo",
                      log_file=log_path, tmp=tmp).start()
        uas_u = at.Uas("udp", 15060, 20100, tmp).start()
        uas_t = at.Uas("tcp", 15062, 20200, tmp).start()
        try:
            done = run_calls(tmp, logw, ["udp", "tcp", "udp", "tcp"],
                             {"udp": (15060, 15061), "tcp": (15062, 15063)})
            check_calls(srv, logw, done)
            eq(ag.stop(), 0, "agent exit status after SIGTERM")
            check("exit: packets" in ag.log_text(), "no counters at exit")
        finally:
            uas_u.stop()
            uas_t.stop()
            ag.kill()


if __name__ == "__main__":
    sf.run_tests(globals())
