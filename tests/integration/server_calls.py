"""sipvault-server integration: complete calls of every kind through a real daemon on loopback.

One server, one agent per customer; every kind of call is driven at once, then each call's
objects (sip.pcap.gz read back with tshark, rtcp.json.gz, quality.json, log chunks) and the
metrics are checked.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import svclient as sc  # noqa: E402
from serverfixture import (Server, analyze, check, check_logs, check_pcap, check_pcap_bytes,  # noqa: E402
                           eq, run_tests, wait_until)

B = "acme-calls"
RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
S = {}  # shared state of this file: server, agent, dialogs


def cid(name):
    return "%s-%s@test.example" % (name, RUN)


def send_rtcp(agent, d, pairs):
    for ts, src, dst, ssrc, raw in pairs:
        agent.rtcp(ts, d.call_id, ssrc, raw, src, dst)


def logs_for(agent, d, n, t0_ms=1100):
    lines = ["%s log line %d of call %s" % (d.call_id, i + 1, d.call_id[:20]) for i in range(n)]
    for i, ln in enumerate(lines):
        agent.log(d.ts(t0_ms + i), d.call_id, ln)
    return lines


def test_00_drive_calls():
    srv = Server(name="calls")
    srv.start()
    S["srv"] = srv
    a = srv.agent("acme", caps="ack,rtcp-addr,stats")
    check("rtcp-addr" in a.caps, "rtcp-addr not negotiated: %r" % a.ack_caps)
    S["agent"] = a
    calls = S["calls"] = {}
    base = sc.now_ns() - 10 * 1000000000

    # answered, BYE from the caller: the 7 messages, 4 RTCP reports, 10 log lines
    d = sc.Dialog(cid("bye-caller"), base)
    msgs = d.answered(bye_from_caller=True, t_bye_ms=3000)
    a.send_messages(msgs[:5])
    send_rtcp(a, d, d.rtcp_pair(1500, 2500, rtt_ms=40) + d.rtcp_pair(1600, 2600, rtt_ms=40,
                                                                      uas_sends_sr=False))
    lines = logs_for(a, d, 10)
    a.send_messages(msgs[5:])
    calls["bye-caller"] = (d, lines, "bye", 200)

    # answered, BYE from the callee
    d = sc.Dialog(cid("bye-callee"), base)
    d.answered(bye_from_caller=False)
    a.send_messages(d.msgs)
    calls["bye-callee"] = (d, [], "bye", 200)

    # CANCEL
    d = sc.Dialog(cid("cancel"), base)
    inv = d.invite(0)
    d.response(20, inv, 100)
    d.response(300, inv, 180)
    c = d.request(2000, "CANCEL", True, inv.cseq, branch=inv.branch, to_tag=False)
    d.response(2010, c, 200)
    d.response(2020, inv, 487)
    d.ack(2030, resp_2xx=False)
    a.send_messages(d.msgs)
    calls["cancel"] = (d, [], "cancel", 487)

    # rejected with 3xx..6xx
    for st in (302, 404, 486, 503, 603):
        d = sc.Dialog(cid("reject-%d" % st), base)
        inv = d.invite(0)
        d.response(20, inv, 100)
        d.response(700, inv, st, extra=["Contact: <sip:elsewhere@203.0.113.9>"] if st == 302
                   else [])
        d.ack(720, resp_2xx=False)
        a.send_messages(d.msgs)
        calls["reject-%d" % st] = (d, [], "failed", st)

    # 401 / 407 challenge, then a new INVITE with the same Call-ID: one call
    for st, hdr in ((401, "Authorization"), (407, "Proxy-Authorization")):
        d = sc.Dialog(cid("auth-%d" % st), base)
        inv = d.invite(0)
        d.response(15, inv, st, extra=['%s: Digest realm="example.com", nonce="abc"' % (
            "WWW-Authenticate" if st == 401 else "Proxy-Authenticate")])
        d.ack(20, resp_2xx=False)
        inv2 = d.invite(100, cseq=2, extra=['%s: Digest username="alice", realm="example.com", '
                                            'nonce="abc", uri="%s", response="0123"' % (
                                                hdr, d.to_uri)])
        d.response(120, inv2, 100)
        d.response(600, inv2, 180)
        d.response(1000, inv2, 200, d.answer_sdp())
        d.ack(1050)
        bye = d.request(3000, "BYE", True)
        d.response(3020, bye, 200)
        a.send_messages(d.msgs)
        calls["auth-%d" % st] = (d, [], "bye", 200)

    # re-INVITE (callee moves its media) and UPDATE (caller moves its media)
    d = sc.Dialog(cid("reinvite"), base)
    inv = d.invite(0)
    d.response(20, inv, 100)
    d.response(1000, inv, 200, d.answer_sdp())
    d.ack(1050)
    d.callee_media = ("198.51.100.77", 31000)
    re_inv = d.request(1500, "INVITE", False, 7, d.answer_sdp())
    d.response(1510, re_inv, 200, d._offer(d.caller_media, d.uac_ssrc))
    d.request(1520, "ACK", False, 7)
    d.caller_media = ("192.0.2.99", 41000)
    upd = d.request(1600, "UPDATE", True, None, d._offer(d.caller_media, d.uac_ssrc))
    d.response(1610, upd, 200, d.answer_sdp())
    bye = d.request(3000, "BYE", True)
    d.response(3010, bye, 200)
    a.send_messages(d.msgs[:-2])
    send_rtcp(a, d, d.rtcp_pair(2000, 2500, rtt_ms=60) + d.rtcp_pair(2100, 2600, rtt_ms=60,
                                                                      uas_sends_sr=False))
    a.send_messages(d.msgs[-2:])
    calls["reinvite"] = (d, [], "bye", 200)

    # 183 early media with reliable provisional responses (PRACK)
    d = sc.Dialog(cid("prack"), base)
    inv = d.invite(0, extra=["Supported: 100rel"])
    d.response(20, inv, 100)
    d.response(400, inv, 183, d.answer_sdp(), extra=["Require: 100rel", "RSeq: 1"])
    pr = d.request(420, "PRACK", True, None, extra=["RAck: 1 1 INVITE"])
    d.response(430, pr, 200)
    d.response(2000, inv, 200, d.answer_sdp())
    d.ack(2050)
    bye = d.request(4000, "BYE", False)
    d.response(4010, bye, 200)
    a.send_messages(d.msgs)
    calls["prack"] = (d, [], "bye", 200)

    # forked INVITE: two branches answer 2xx
    d = sc.Dialog(cid("forked"), base)
    other, other_tag = ("198.51.100.30", 5060), "fork-b-tag"
    inv = d.invite(0)
    d.response(20, inv, 100)
    d.response(300, inv, 180)
    d.response(900, inv, 200, d.answer_sdp())
    d.response(950, inv, 200, sc.sdp("198.51.100.30", 32000, 77, 1), to_tag=other_tag, src=other)
    d.ack(1000)
    d.request(1010, "ACK", True, inv.cseq, peer=other, peer_tag=other_tag)
    b2 = d.request(1020, "BYE", True, None, peer=other, peer_tag=other_tag)
    d.response(1030, b2, 200, src=other)
    bye = d.request(3000, "BYE", True)
    d.response(3010, bye, 200)
    a.send_messages(d.msgs)
    calls["forked"] = (d, [], "bye", 200)

    # out of order (100 after 180, 200 of the BYE before the BYE), then RTCP and a log line
    # after the BYE, within the grace
    d = sc.Dialog(cid("ooo"), base)
    m = d.answered(True, 3000)
    order = [m[0], m[2], m[1], m[3], m[4], m[6], m[5]]
    a.send_messages(order)
    send_rtcp(a, d, d.rtcp_pair(2000, 3100, rtt_ms=20))
    lines = ["after the BYE, within the grace"]
    a.log(d.ts(3100), d.call_id, lines[0])
    calls["ooo"] = (d, lines, "bye", 200)

    # IPv6 signalling over TCP, IPv6 media
    d = sc.Dialog(cid("v6tcp"), base, caller=("2001:db8::10", 5060),
                  callee=("2001:db8::20", 5060), caller_media=("2001:db8::10", 40000),
                  callee_media=("2001:db8::20", 30000), transport="TCP")
    d.answered(True)
    a.send_messages(d.msgs[:5])
    send_rtcp(a, d, d.rtcp_pair(1500, 2500))
    a.send_messages(d.msgs[5:])
    calls["v6tcp"] = (d, [], "bye", 200)

    # messages outside any INVITE dialog: counted, never stored as calls
    nc = S["noncall"] = []
    for method in ("OPTIONS", "REGISTER", "MESSAGE"):
        d = sc.Dialog(cid("noncall-" + method.lower()), base)
        r = d.request(0, method, True, 1, extra=["Expires: 3600"] if method == "REGISTER" else [],
                      to_tag=False)
        d.response(10, r, 200)
        a.send_messages(d.msgs)
        nc.append(d)

    # the reference agent's way: no capabilities, DATA_RTCP without addresses, sequence 0
    ref = srv.agent("acme")
    eq(ref.ack_caps, None, "HANDSHAKE_ACK to an agent without caps has no caps field")
    S["ref"] = ref
    d = sc.Dialog(cid("v1rtcp"), base)
    d.answered(True)
    ref.send_messages(d.msgs[:5])
    for ts, src, dst, ssrc, raw in d.rtcp_pair(1500, 2500):
        ref.rtcp(ts, d.call_id, ssrc, raw)
    ref.send_messages(d.msgs[5:])
    calls["v1rtcp"] = (d, [], "bye", 200)

    # every frame durable: the ACK covers the last sequence number sent
    a.wait_ack(a.seq)


def _objects(name, timeout=15):
    srv = S["srv"]
    d = S["calls"][name][0]
    q = srv.quality(B, d.call_id, d.base_ts, timeout)
    return srv, d, q


def _check_call(name, verdict=None):
    srv, d, q = _objects(name)
    _, lines, end_reason, final = S["calls"][name]
    cdir = srv.call_dir(B, d.call_id, d.base_ts)
    pcap = os.path.join(cdir, "sip.pcap.gz")
    check(os.path.exists(pcap), "no sip.pcap.gz")
    check(os.path.exists(os.path.join(cdir, "rtcp.json.gz")), "no rtcp.json.gz")
    check_pcap(pcap, d.msgs)
    check_pcap_bytes(pcap, d.msgs)
    eq(q["call_id"], d.call_id, "quality call_id")
    eq(q["customer"], "acme", "quality customer")
    s = q["summary"]
    eq(s["final_status"], final, "final_status")
    eq(s["end_reason"], end_reason, "end_reason")
    eq(s["started_at"], sc.iso_ms(d.msgs[0].ts), "started_at")
    check("alice@example.com" in s["from"], "from: %r" % s["from"])
    check("+15551234567@example.net" in s["to"], "to: %r" % s["to"])
    if 200 <= final < 300:
        ok200 = min(m.ts for m in d.msgs if m.label == "200" and b"INVITE" in
                    m.raw.split(b"CSeq:")[1].split(b"\r\n")[0])
        eq(s["answered_at"], sc.iso_ms(ok200), "answered_at")
        byes = [m.ts for m in d.msgs if m.label == "BYE"]
        check(s["ended_at"] is not None and sc.iso_ms(max(byes)) <= s["ended_at"]
              <= sc.iso_ms(max(m.ts for m in d.msgs)), "ended_at %r" % s["ended_at"])
        check(s["duration_seconds"] > 0, "duration_seconds")
    else:
        eq(s["answered_at"], None, "answered_at of an unanswered call")
        eq(q["audio_status"], "not_answered", "audio_status")
        eq(q["verdict"], "unknown", "verdict")
    if verdict:
        eq(q["verdict"], verdict, "verdict")
    # quality.json is what --analyze makes of rtcp.json.gz
    again = analyze(os.path.join(cdir, "rtcp.json.gz"))
    eq(again, q, "--analyze rtcp.json.gz vs quality.json")
    check_logs(cdir, lines)
    # exactly the expected objects (log chunks checked above)
    names = sorted(n for n in os.listdir(cdir) if not n.startswith("log-"))
    eq(names, ["quality.json", "rtcp.json.gz", "sip.pcap.gz"], "objects in the call directory")
    return srv, d, q


def _reports(name):
    srv, d, q = _objects(name)
    return d, srv.rtcp_json(B, d.call_id, d.base_ts)["reports"]


def _check_rtcp(name, rtt, n=4):
    d, reps = _reports(name)
    eq(len(reps), n, "reports in rtcp.json")
    for r in reps:
        want_dir = "uac" if r["ssrc"] == d.uac_ssrc else "uas"
        eq(r["direction"], want_dir, "direction of the report from ssrc %#x" % r["ssrc"])
        eq(r["source"], "agent", "source")
        if r.get("src") is not None:
            rtcp = d.uac_rtcp if want_dir == "uac" else d.uas_rtcp
            want = ("[%s]:%d" if ":" in rtcp[0] else "%s:%d") % rtcp
            check(r["src"] in (want, "%s:%d" % rtcp), "src %r, expected %r" % (r["src"], want))
        check(r["packet_type"] in ("sr", "rr"), "packet_type")
        if r["packet_type"] == "rr":
            eq(len(r["blocks"]), 1, "RR blocks")
            b = r["blocks"][0]
            check(b["rtt_ms"] is not None and abs(b["rtt_ms"] - rtt) < 1.0,
                  "rtt_ms %r, expected %.1f" % (b["rtt_ms"], rtt))
            eq(b["jitter"], 80, "jitter")
            eq(b["fraction_lost"], 0, "fraction_lost")
    return reps


def test_answered_bye_from_caller():
    srv, d, q = _check_call("bye-caller", "excellent")
    eq(q["audio_status"], "normal", "audio_status")
    eq(q["source"], "rtcp", "source")
    eq(sorted(q["directions"]), ["uac", "uas"], "directions")
    eq(q["summary"]["codec"].lower(), "pcmu", "codec")
    _check_rtcp("bye-caller", 40.0)


def test_answered_bye_from_callee():
    srv, d, q = _check_call("bye-callee")
    eq(q["audio_status"], "noa", "audio_status without RTCP")
    eq(q["verdict"], "bad", "verdict without RTCP")


def test_cancel():
    _check_call("cancel")


def test_rejected_3xx_to_6xx():
    for st in (302, 404, 486, 503, 603):
        _check_call("reject-%d" % st)


def test_auth_challenge_is_one_call():
    srv = S["srv"]
    for st in (401, 407):
        srv_, d, q = _check_call("auth-%d" % st)
        day = os.path.dirname(srv.call_dir(B, d.call_id, d.base_ts).rstrip("/"))
        same = [k for k in os.listdir(day) if d.call_id.split("@")[0] in k]
        eq(len(same), 1, "call directories for the challenged call")


def test_reinvite_update_media():
    _check_call("reinvite")
    reps = _check_rtcp("reinvite", 60.0)
    d = S["calls"]["reinvite"][0]
    srcs = {r.get("src") for r in reps}
    check(any(s and "198.51.100.77" in s for s in srcs), "reports from the callee's new media")


def test_early_media_prack():
    _check_call("prack")


def test_forked_2xx():
    _check_call("forked")


def test_out_of_order_and_after_bye():
    _check_call("ooo")
    d, reps = _reports("ooo")
    eq(len(reps), 2, "reports sent after the BYE within the grace")


def test_ipv6_tcp():
    _check_call("v6tcp")
    _check_rtcp("v6tcp", 40.0, 2)


def test_reference_agent_data_rtcp():
    _check_call("v1rtcp")
    d, reps = _reports("v1rtcp")
    eq(len(reps), 2, "reports")
    for r in reps:
        eq(r["direction"], "uac" if r["ssrc"] == d.uac_ssrc else "uas",
           "direction by SSRC (a=ssrc in the SDP)")


def test_late_after_complete():
    srv, d, q = _objects("bye-caller")
    cdir = srv.call_dir(B, d.call_id, d.base_ts)
    before = {f: os.stat(os.path.join(cdir, f)).st_mtime_ns for f in os.listdir(cdir)}
    objs_before = srv.all_objects()
    m0 = srv.metrics()
    late0 = m0.get("sipvault_drops_total", reason="late")
    done0 = m0.get("sipvault_calls_completed_total", customer="acme")
    a = S["agent"]
    bye_ok = d.msgs[-1]
    a.sip(bye_ok.ts + 500000000, d.call_id, bye_ok.src, bye_ok.dst, bye_ok.raw)
    a.log(bye_ok.ts + 500000000, d.call_id, "a late line")
    a.wait_ack(a.seq)
    srv.wait_metric("sipvault_drops_total", late0 + 2, reason="late")
    time.sleep(2.5)  # more than the grace: nothing new may appear
    after = {f: os.stat(os.path.join(cdir, f)).st_mtime_ns for f in os.listdir(cdir)}
    eq(after, before, "objects of the completed call")
    eq(srv.all_objects(), objs_before, "no new objects")
    eq(srv.metrics().get("sipvault_calls_completed_total", customer="acme"), done0,
       "calls completed")


def test_non_call_messages_not_stored():
    srv = S["srv"]
    srv.quality(B, S["calls"]["bye-callee"][0].call_id, S["calls"]["bye-callee"][0].base_ts)
    keys = [k for _, k in srv.all_objects()]
    for d in S["noncall"]:
        key = sc.call_key(d.call_id)
        check(not any(key in k for k in keys), "%s stored as a call" % d.call_id)
    m = srv.metrics()
    check(m.get("sipvault_drops_total", reason="not_call") >= 6,
          "drops not_call = %s" % m.get("sipvault_drops_total", reason="not_call"))


def test_metrics_after_calls():
    srv = S["srv"]
    for name in S["calls"]:
        _objects(name)
    n = len(S["calls"])
    m = srv.wait_metric("sipvault_calls_completed_total", n, customer="acme")
    eq(m.get("sipvault_calls_completed_total", customer="acme"), n, "calls completed")
    eq(m.get("sipvault_calls_completed_total", customer="beta"), 0, "beta completed nothing")
    check(m.get("sipvault_frames_total", customer="acme") > 100, "frames_total{customer=acme}")
    check(m.get("sipvault_frame_bytes_total", customer="acme") > 10000, "frame bytes")
    check(m.get("sipvault_objects_written_total") >= 3 * n, "objects written")
    eq(m.get("sipvault_object_errors_total"), 0, "object errors")
    eq(m.get("sipvault_agents_connected", customer="acme"), 2, "agents connected")
    check(m.has("sipvault_sessions"), "sipvault_sessions present")
    # every call-related log line names the customer and the Call-ID
    log = srv.log_text()
    d = S["calls"]["bye-caller"][0]
    check("customer=acme" in log and d.call_id in log, "log lines name customer and Call-ID")


def test_zz_sigterm_exits_0():
    srv = S["srv"]
    S["agent"].close()
    S["ref"].close()
    eq(srv.stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    run_tests(globals())
