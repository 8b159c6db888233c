"""sipvault-api over the local object store: calls written by the real sipvault-server, read
back through signed links — summary, quality.json, artifacts (fetched with curl), the SIP
ladder (compared with tshark), log lines; every kind of bad link refused with one 401 and
counted; malformed input 400, unknown calls 404, body limits 413; the cache reads each object
of a completed call once."""

import gzip
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import svclient as sc  # noqa: E402
from apifixture import Api, link, sign, stop_all  # noqa: E402
from serverfixture import Server, check, eq, run_tests, wait_until  # noqa: E402

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
S = {}
IDS = ["plain-%s@pc33.example" % RUN, "a/b %% + = @ c-%s" % RUN, "100%%2F-%s@x" % RUN]


def setup_calls():
    """One server run writes the calls; the API then reads its data directory."""
    if "api" in S:
        return S
    srv = Server(name="api", env={"SIPVAULT_LOG_FLUSH": "1"}).start()
    ag = srv.agent("acme")
    base = sc.now_ns() - 3 * 10**9
    S["dialogs"] = {}
    for i, cid in enumerate(IDS):
        d = sc.Dialog(cid, base + i * 1000)
        d.answered(t_bye_ms=2000)
        # a retransmitted INVITE, as a UAC sends it when the 100 is late
        inv = d.msgs[0]
        d.msgs.insert(1, sc.Msg(inv.ts + 500 * 10**6, inv.call_id, inv.src, inv.dst, inv.raw,
                                "INVITE (retransmission)"))
        ag.send_messages(d.msgs)
        for n in range(3):
            ag.log(d.ts(1100 + n), cid, "log line %d of %s" % (n, cid))
        S["dialogs"][cid] = d
    for cid, d in S["dialogs"].items():
        srv.quality("acme-calls", cid, d.base_ts, 15)
    ag.close()
    S["srv"] = srv
    S["api"] = Api(data_dir=srv.data_dir, name="local").start()
    return S


def api():
    return setup_calls()["api"]


def test_health_and_metrics():
    a = api()
    r = a.request("/health")
    eq(r.status, 200, "health")
    eq(r.json(), {"status": "ok"}, "health body")
    m = a.metrics()
    check(m.has("sipvault_api_requests_total"), "requests metric")
    check("sipvault_api_request_duration_seconds_bucket" in m.text, "latency histogram")


def test_summary_every_form():
    a = api()
    for cid in IDS:
        d = S["dialogs"][cid]
        for form in ("path", "query"):
            if form == "path" and "/" in cid:
                pass  # direct clients may use the path form with %2F too
            r = a.request(link("acme", cid, form=form, ts=int(d.base_ts / 1e9)))
            eq(r.status, 200, "summary of %r (%s form): %s" % (cid, form, r.body[:200]))
            j = r.json()
            eq(j["call_id"], cid, "call_id")
            eq(j["customer"], "acme", "customer")
            eq(j["complete"], True, "complete")
            eq(j["quality"]["call_id"], cid, "quality.json inside")
            eq(j["summary"]["final_status"], 200, "summary from quality.json")
            names = [x["name"] for x in j["artifacts"]]
            eq(names[:3], ["quality.json", "sip.pcap.gz", "rtcp.json.gz"][:len(names[:3])],
               "artifact order")
            check("log-000001.gz" in names, "log chunk listed: %r" % names)


def test_artifacts_with_curl():
    a = api()
    cid = IDS[1]
    d = S["dialogs"][cid]
    j = a.request(link("acme", cid, form="query")).json()
    cdir = S["srv"].call_dir("acme-calls", cid, d.base_ts)
    for art in j["artifacts"]:
        p = subprocess.run(["curl", "-sS", "-f", a.base + art["url"]], capture_output=True,
                           timeout=20)
        eq(p.returncode, 0, "curl %s: %s" % (art["url"], p.stderr))
        want = open(os.path.join(cdir, art["name"]), "rb").read()
        eq(p.stdout, want, "bytes of " + art["name"])
        eq(len(want), art["size"], "size of " + art["name"])
    # the artifact URL is bound to its call: another Call-ID's signature does not open it
    bad = j["artifacts"][0]["url"].replace("sig=", "sig=0")
    eq(a.request(bad).status, 401, "artifact with a broken signature")
    r = a.request(link("acme", cid, "artifacts/..", form="query"))
    eq(r.status, 400, "artifact name ..")
    r = a.request(link("acme", cid, "artifacts/nope.gz", form="query"))
    eq(r.status, 404, "unknown artifact")


def test_sip_ladder_matches_tshark():
    a = api()
    for cid in IDS:
        d = S["dialogs"][cid]
        r = a.request(link("acme", cid, "sip", form="query"))
        eq(r.status, 200, "sip")
        msgs = r.json()
        eq(len(msgs), len(d.msgs), "message count")
        for m, want in zip(msgs, sorted(d.msgs, key=lambda x: x.ts)):
            eq(m["ts_ns"], want.ts, "time of " + want.label)
            eq(m["raw"].encode(), want.raw, "raw text of " + want.label)
            eq(m["src"], "%s:%d" % want.src, "src")
            eq(m["dst"], "%s:%d" % want.dst, "dst")
            eq(m["transport"], "UDP", "transport")
            eq(m["time"][:19], time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(want.ts // 10**9)),
               "ISO time")
        eq(msgs[0]["method"], "INVITE", "first is the INVITE")
        eq(msgs[0]["cseq"], 1, "CSeq")
        eq([m["method"] for m in msgs if m["retransmission"]], ["INVITE"],
           "the INVITE retransmission, and only it")
        # tshark's own opinion on the same file
        cdir = S["srv"].call_dir("acme-calls", cid, d.base_ts)
        p = subprocess.run(["tshark", "-r", os.path.join(cdir, "sip.pcap.gz"), "-Y", "sip",
                            "-T", "fields", "-e", "sip.resend"], capture_output=True, timeout=60)
        ts = [ln.strip() == "1" for ln in p.stdout.decode().splitlines()]
        eq([m["retransmission"] for m in msgs], ts, "retransmission flags as tshark")


def test_sip_ladder_over_tcp():
    """A dialog over TCP (Via SIP/2.0/TCP): the server writes TCP segments, the API reassembles."""
    s = setup_calls()
    cid = "tcp-%s@x" % RUN
    ag = s["srv"].agent("acme")
    d = sc.Dialog(cid, sc.now_ns() - 2 * 10**9, transport="TCP")
    d.answered(t_bye_ms=1000)
    ag.send_messages(d.msgs)
    s["srv"].quality("acme-calls", cid, d.base_ts, 15)
    ag.close()
    r = s["api"].request(link("acme", cid, "sip", form="query"))
    eq(r.status, 200, "sip over TCP")
    msgs = r.json()
    eq([m["raw"].encode() for m in msgs], [m.raw for m in sorted(d.msgs, key=lambda x: x.ts)],
       "messages reassembled")
    eq({m["transport"] for m in msgs}, {"TCP"}, "transport")
    check(not any(m["retransmission"] for m in msgs), "no retransmission over TCP")


def test_active_call_is_never_cached():
    """While a call is ACTIVE its objects are read afresh; once complete, the API shows it."""
    s = setup_calls()
    cid = "active-%s@x" % RUN
    ag = s["srv"].agent("acme")
    d = sc.Dialog(cid, sc.now_ns() - 2 * 10**9)
    d.answered(t_bye_ms=9000)
    ag.send_messages(d.msgs[:5])  # up to the ACK: ACTIVE
    ag.log(d.ts(1100), cid, "first line")
    cdir = s["srv"].call_dir("acme-calls", cid, d.base_ts)
    wait_until(lambda: os.path.exists(os.path.join(cdir, "log-000001.gz")), 10,
               what="the first log chunk of the active call")
    r = s["api"].request(link("acme", cid, form="query"))
    eq(r.status, 200, "summary of an active call")
    j = r.json()
    eq((j["complete"], j["summary"], j["quality"]), (False, None, None), "active: no report yet")
    eq([x["text"] for x in s["api"].request(link("acme", cid, "logs", form="query")).json()],
       ["first line"], "logs so far")
    ag.log(d.ts(1200), cid, "second line")
    ag.send_messages(d.msgs[5:])
    s["srv"].quality("acme-calls", cid, d.base_ts, 15)
    ag.close()
    j = s["api"].request(link("acme", cid, form="query")).json()
    eq(j["complete"], True, "complete now")
    eq(j["quality"]["call_id"], cid, "its report")
    eq([x["text"] for x in s["api"].request(link("acme", cid, "logs", form="query")).json()],
       ["first line", "second line"], "every line")


def test_logs_in_order():
    a = api()
    cid = IDS[0]
    r = a.request(link("acme", cid, "logs"))
    eq(r.status, 200, "logs")
    lines = r.json()
    eq([x["text"] for x in lines], ["log line %d of %s" % (n, cid) for n in range(3)], "lines")
    check(all(x["chunk"] >= 1 and x["line"] >= 1 for x in lines), "chunk and line numbers")


def test_bad_links_refused_and_counted():
    a = api()
    cid = IDS[0]
    now = int(time.time())
    before = a.metrics()
    cases = {
        "bad_signature": [
            link("acme", cid, sig="0" * 64),  # forged
            link("acme", cid, sign_call_id=IDS[2]),  # replayed for another call
            link("acme", cid, sign_customer="beta"),  # cross-customer
            link("beta", cid, sign_customer="acme"),
            link("acme", cid, secret="another-secret"),
        ],
        "expired": [link("acme", cid, ts=now - 3700)],
        "future": [link("acme", cid, ts=now + 120)],
        "unknown_customer": [link("nobody", cid)],
        "malformed": [link("acme", cid, sig="xyz"), link("acme", cid, ts="12a")],
        "missing": ["/calls/%s" % cid, "/calls/%s?customer=acme&ts=%d" % (cid, now)],
    }
    bodies = set()
    for reason, links in cases.items():
        for ln in links:
            r = a.request(ln)
            eq(r.status, 401, "%s: %s" % (reason, ln))
            bodies.add(r.body)
    eq(len(bodies), 1, "every refusal says the same")
    eq(json.loads(bodies.pop()), {"error": "invalid or expired link"}, "401 body")
    after = a.metrics()
    for reason, links in cases.items():
        eq(after.get("sipvault_api_links_refused_total", reason=reason)
           - before.get("sipvault_api_links_refused_total", reason=reason), len(links),
           "refusals counted as " + reason)
    # a beta link never opens acme's call (beta has no such call: 404, not acme's data)
    r = a.request(link("beta", cid))
    eq(r.status, 404, "beta's link to acme's Call-ID")
    # a link a minute ahead (clock skew) still opens
    eq(a.request(link("acme", cid, ts=now + 50)).status, 200, "ts 50 s ahead")


def test_malformed_and_unknown():
    a = api()
    eq(a.request(link("acme", "no-such-call-%s" % RUN)).status, 404, "unknown call")
    eq(a.request("/nothing").status, 404, "unknown path")
    r = a.request("/calls/a%00b?customer=acme&ts=1&sig=00")
    eq(r.status, 400, "NUL in the Call-ID")
    eq(r.json(), {"error": "malformed request"}, "400 body")
    for path in ("/calls/..%2F..%2Fetc?customer=acme", "/calls/%2E%2E?customer=acme",
                 "/calls?call_id=..%2Fx&customer=acme", "/calls/a%zz"):
        eq(a.request(path).status, 400, path)
    raw = a.raw(b"GET /calls/../../etc/passwd HTTP/1.0\r\n\r\n")
    check(raw.startswith(b"HTTP/1.0 400") or raw.startswith(b"HTTP/1.1 400"), raw[:40])
    # limits: a request line or headers beyond 16 KiB, a chat body beyond 256 KiB
    raw = a.raw(b"GET /calls/" + b"x" * 20000 + b" HTTP/1.0\r\n\r\n")
    check(raw[9:12] in (b"400", b"413", b"414", b"431") or raw == b"", "long line: %r" % raw[:40])
    raw = a.raw(b"GET /health HTTP/1.0\r\nX-Big: " + b"y" * 20000 + b"\r\n\r\n")
    check(raw[9:12] != b"200", "huge header accepted: %r" % raw[:40])
    r = a.request(link("acme", IDS[0], "chat"), method="POST", body=b"{" + b" " * 300000 + b"}",
                  headers={"Content-Type": "application/json"})
    eq(r.status, 413, "chat body too large")
    eq(r.json(), {"error": "request body too large"}, "413 body")
    eq(a.request(link("acme", IDS[0], "chat")).status, 405, "GET on chat")
    eq(a.request(link("acme", IDS[0]), method="POST", body=b"{}").status, 405, "POST on summary")
    check(a.proc.poll() is None, "the API is still running")


def test_date_hint_and_search_cost():
    a = api()
    cid = IDS[2]
    d = S["dialogs"][cid]
    day = time.strftime("%Y-%m-%d", time.gmtime(d.base_ts // 10**9))
    # a fresh API: nothing cached
    b = Api(data_dir=S["srv"].data_dir, name="cost").start()
    m0 = b.metrics()
    eq(b.request(link("acme", cid, date=day)).status, 200, "with date")
    for ep in ("sip", "logs"):
        eq(b.request(link("acme", cid, ep, date=day)).status, 200, ep)
    m1 = b.metrics()
    eq(m1.get("sipvault_api_objstore_requests_total", op="list")
       - m0.get("sipvault_api_objstore_requests_total", op="list"), 1, "one lookup with date")
    # without a date: from the call's own ts one list; from a ts a day earlier (a CDR clock
    # off by a day) the ts day, the day before, then the day after: three
    for shift, want in ((0, 1), (-86400, 3)):
        e = Api(data_dir=S["srv"].data_dir, name="cost3",
                env={"SIPVAULT_HMAC_MAX_AGE": "31536000"}).start()
        m0 = e.metrics()
        r = e.request(link("acme", cid, ts=d.base_ts // 10**9 + shift))
        eq(r.status, 200, "found from ts %+d" % shift)
        m1 = e.metrics()
        eq(m1.get("sipvault_api_objstore_requests_total", op="list")
           - m0.get("sipvault_api_objstore_requests_total", op="list"), want,
           "lists for ts %+d s" % shift)
        e.stop()
    # a dashboard's several requests read each object once
    m0 = b.metrics()
    for _ in range(3):
        for ep in ("", "sip", "logs"):
            eq(b.request(link("acme", cid, ep, date=day)).status, 200, "repeat " + ep)
    m1 = b.metrics()
    gets = m1.get("sipvault_api_objstore_requests_total", op="get") \
        - m0.get("sipvault_api_objstore_requests_total", op="get")
    eq(gets, 0, "objects already read by the first requests are not read again")
    eq(m1.get("sipvault_api_objstore_requests_total", op="list")
       - m0.get("sipvault_api_objstore_requests_total", op="list"), 0, "no lookup once cached")
    check(m1.get("sipvault_api_cache_lookups_total", result="hit") >
          m0.get("sipvault_api_cache_lookups_total", result="hit"), "cache hits counted")
    b.stop()


def test_chat_without_provider():
    a = api()
    r = a.request(link("acme", IDS[0], "chat"), method="POST",
                  body=json.dumps({"messages": [{"role": "user", "content": "why?"}]}).encode(),
                  headers={"Content-Type": "application/json"})
    eq(r.status, 503, "no provider configured")
    check("error" in r.json(), "JSON error")


def test_zz_sigterm():
    eq(api().stop(), 0, "API exit status after SIGTERM")
    eq(S["srv"].stop(), 0, "server exit status")
    stop_all()


if __name__ == "__main__":
    run_tests(globals())
