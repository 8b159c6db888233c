"""sipvault-server integration: RTCP over HEP v3 (UDP).

RTCP as JSON in each dialect (rtpengine, rtpproxy acct_rtcp_hep, captagent, heplify) and as
binary (plain and zlib-compressed), attributed by auth key, by hep_sources, and by Call-ID;
unattributable and malformed packets are counted and never attached to a call.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import svclient as sc  # noqa: E402
from serverfixture import Server, check, eq, run_tests, wait_until  # noqa: E402

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
S = {}


def cid(name):
    return "%s-%s@hep.example" % (name, RUN)


def hep_total(srv):
    return srv.metrics().get("sipvault_hep_packets_total")


def send_and_wait(srv, pkts):
    """Sends HEP datagrams and waits until the server has counted them all."""
    n0 = hep_total(srv)
    sc.hep_send(srv.hep_addr, pkts)
    wait_until(lambda: hep_total(srv) >= n0 + len(pkts), 5, what="%d HEP packets counted"
               % len(pkts))


def start_call(agent, name, base):
    d = sc.Dialog(cid(name), base)
    d.answered()
    agent.send_messages(d.msgs[:5])
    return d


def end_call(agent, d):
    agent.send_messages(d.msgs[5:])


def blk(d, to_uas, **kw):
    b = {"ssrc": d.uas_ssrc if to_uas else d.uac_ssrc, "fraction_lost": 0, "cumulative_lost": 0,
         "highest_seq": 1000, "jitter": 40, "lsr": 0, "dlsr": 0}
    b.update(kw)
    return b


def test_00_setup():
    s = S["a"] = Server(name="hep").start()
    S["acme"] = s.agent("acme")
    S["beta"] = s.agent("beta")


def test_dialects_and_binary_by_auth_key():
    s = S["a"]
    tok = s.customer("acme")["token"]
    d = start_call(S["acme"], "auth", sc.now_ns() - 5 * 10**9)
    S["auth"] = d
    S["acme"].heartbeat(1)
    S["acme"].recv_frame(3, want=sc.HEARTBEAT_ACK)  # the call exists before HEP arrives
    pk, want = [], []
    t = 1200
    for i, (name, fn) in enumerate(sorted(sc.JSON_DIALECTS.items())):
        uac = i % 2 == 0  # alternate the sending side
        src, dst = (d.uac_rtcp, d.uas_rtcp) if uac else (d.uas_rtcp, d.uac_rtcp)
        ssrc = d.uac_ssrc if uac else d.uas_ssrc
        doc = fn(ssrc, d.ts(t), blk(d, uac, jitter=40 + i, fraction_lost=i))
        pk.append(sc.hep_encode(src, dst, d.ts(t), doc, correlation_id=d.call_id, auth_key=tok,
                                compress=(name == "heplify")))
        want.append(("uac" if uac else "uas", 40 + i, name))
        t += 100
    # binary: SR from the uas (compressed), then the uac's RR with LSR/DLSR (rtt 50 ms)
    for j, (ts, src, dst, ssrc, raw) in enumerate(d.rtcp_pair(2000, 2800, rtt_ms=50)):
        pk.append(sc.hep_encode(src, dst, ts, raw, correlation_id=d.call_id, auth_key=tok,
                                compress=(j == 0)))
    send_and_wait(s, pk)
    end_call(S["acme"], d)
    s.quality("acme-calls", d.call_id, d.base_ts, 10)
    reps = s.rtcp_json("acme-calls", d.call_id, d.base_ts)["reports"]
    eq(len(reps), 6, "reports (4 JSON dialects + SR + RR)")
    for r in reps:
        eq(r["source"], "hep", "source")
    by_jitter = {r["blocks"][0]["jitter"]: r for r in reps if r.get("blocks")}
    for direction, jit, name in want:
        check(jit in by_jitter, "%s report missing (jitter %d)" % (name, jit))
        eq(by_jitter[jit]["direction"], direction, "%s direction" % name)
        eq(by_jitter[jit]["blocks"][0]["fraction_lost"], jit - 40, "%s fraction_lost" % name)
    rr = [r for r in reps if r.get("packet_type") == "rr" and r["ssrc"] == d.uac_ssrc
          and r["blocks"][0]["lsr"] != 0]
    eq(len(rr), 1, "binary RR")
    eq(rr[0]["direction"], "uac", "binary RR direction")
    check(abs((rr[0]["blocks"][0]["rtt_ms"] or 0) - 50) < 1.0, "rtt_ms %r" % rr[0]["blocks"][0])
    check(rr[0].get("raw"), "raw bytes of a binary report")


def test_by_call_id_and_unattributable():
    s = S["a"]
    base = sc.now_ns() - 5 * 10**9
    db = start_call(S["beta"], "cid", base)          # beta only
    both_a = start_call(S["acme"], "both", base)      # same Call-ID at both customers
    both_b = start_call(S["beta"], "both", base)
    for a in (S["acme"], S["beta"]):
        a.heartbeat(2)
        a.recv_frame(3, want=sc.HEARTBEAT_ACK)
    m0 = s.metrics()
    un0 = m0.get("sipvault_drops_total", reason="hep_unattributed")
    pk = []
    # by Call-ID: no auth key, live at beta only
    ts, src, dst, ssrc, raw = db.rtcp_pair(1500, 2500)[1]
    pk.append(sc.hep_encode(src, dst, ts, raw, correlation_id=db.call_id))
    # ambiguous Call-ID, unknown Call-ID, no Call-ID: unattributable
    ts2, src2, dst2, _, raw2 = both_a.rtcp_pair(1500, 2500)[1]
    pk.append(sc.hep_encode(src2, dst2, ts2, raw2, correlation_id=both_a.call_id))
    pk.append(sc.hep_encode(src2, dst2, ts2, raw2, correlation_id=cid("nobody")))
    pk.append(sc.hep_encode(src2, dst2, ts2, raw2))
    # acme's auth key with beta's Call-ID: never attached to beta's call
    pk.append(sc.hep_encode(src, dst, ts + 1000000, raw, correlation_id=db.call_id,
                            auth_key=s.customer("acme")["token"]))
    send_and_wait(s, pk)
    for a, d in ((S["beta"], db), (S["acme"], both_a), (S["beta"], both_b)):
        end_call(a, d)
    s.quality("beta-calls", db.call_id, db.base_ts)
    reps = s.rtcp_json("beta-calls", db.call_id, db.base_ts)["reports"]
    eq(len(reps), 1, "beta's call got exactly its Call-ID-attributed report")
    eq(reps[0]["direction"], "uac", "direction")
    for bucket, d in (("acme-calls", both_a), ("beta-calls", both_b)):
        s.quality(bucket, d.call_id, d.base_ts)
        eq(s.rtcp_json(bucket, d.call_id, d.base_ts)["reports"], [],
           "ambiguous HEP attached in " + bucket)
    check(not os.path.exists(s.call_dir("acme-calls", db.call_id, db.base_ts)),
          "acme's auth key created a call for beta's Call-ID")
    m = s.metrics()
    check(m.get("sipvault_drops_total", reason="hep_unattributed") >= un0 + 3,
          "unattributable HEP counted: %s" % m.get("sipvault_drops_total",
                                                   reason="hep_unattributed"))


def test_malformed_and_other_types_counted():
    s = S["a"]
    m0 = s.metrics()
    d = sc.Dialog(cid("types"))
    inv = d.invite(0)
    pk = [b"HEP3\x00\x03", b"garbage that is not HEP", b"HEP3" + b"\xff" * 40,
          sc.hep_encode(d.caller, d.callee, inv.ts, inv.raw, proto_type=sc.HEP_PROTO_SIP,
                        correlation_id=d.call_id, auth_key=s.customer("acme")["token"]),
          sc.hep_encode(d.caller, d.callee, inv.ts, b"SYSLOG: hello", proto_type=100,
                        correlation_id=d.call_id, auth_key=s.customer("acme")["token"]),
          sc.hep_encode(d.uac_rtcp, d.uas_rtcp, inv.ts, b"{\"not\": \"rtcp\"}",
                        correlation_id=d.call_id, auth_key=s.customer("acme")["token"])]
    sc.hep_send(s.hep_addr, pk)
    s.wait_metric("sipvault_drops_total", m0.get("sipvault_drops_total", reason="hep_malformed")
                  + 3, reason="hep_malformed")
    s.wait_metric("sipvault_drops_total",
                  m0.get("sipvault_drops_total", reason="hep_unsupported_type") + 2,
                  reason="hep_unsupported_type")
    check(not os.path.exists(s.call_dir("acme-calls", d.call_id, d.base_ts)),
          "HEP SIP created a call")
    check(s.alive(), "server died")


def test_by_hep_sources():
    cust = [{"id": "acme", "token": "acme-token-0123456789", "bucket": "acme-calls"},
            {"id": "beta", "token": "beta-token-9876543210", "bucket": "beta-calls",
             "hep_sources": ["127.0.0.0/8"]}]
    with Server(customers=cust, name="hepsrc") as s:
        a, b = s.agent("acme"), s.agent("beta")
        base = sc.now_ns() - 5 * 10**9
        da = start_call(a, "src", base)
        db = start_call(b, "src", base)
        for x in (a, b):
            x.heartbeat(3)
            x.recv_frame(3, want=sc.HEARTBEAT_ACK)
        (ts, src, dst, ssrc, raw) = db.rtcp_pair(1500, 2500)[1]
        pk = [sc.hep_encode(src, dst, ts, raw, correlation_id=db.call_id),  # source -> beta
              sc.hep_encode(src, dst, ts + 10**6, raw, correlation_id=da.call_id,
                            auth_key=s.customer("acme")["token"])]  # auth key first -> acme
        send_and_wait(s, pk)
        end_call(a, da)
        end_call(b, db)
        s.quality("beta-calls", db.call_id, db.base_ts)
        s.quality("acme-calls", da.call_id, da.base_ts)
        eq(len(s.rtcp_json("beta-calls", db.call_id, db.base_ts)["reports"]), 1,
           "beta's report (hep_sources)")
        eq(len(s.rtcp_json("acme-calls", da.call_id, da.base_ts)["reports"]), 1,
           "acme's report (auth key wins over hep_sources)")
        a.close()
        b.close()
        eq(s.stop(), 0, "exit status")


def test_zz_stop():
    S["acme"].close()
    S["beta"].close()
    eq(S["a"].stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    run_tests(globals())
