"""sipvault-api behind the real nginx with nginx/sipvault.conf (its plain-HTTP test variant):
Call-IDs holding / % + = @ and spaces reach the right call through the dashboard's query form
(nginx decodes %2F in paths, so the path form is only for Call-IDs without '/'); artifact links
carry the /api prefix and download through nginx; the AI chat streams over nginx's HTTP/1.0
upstream connection (no chunked encoding) token by token, against the test AI provider."""

import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ["SV_SOURCE_DIR"]
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import svclient as sc  # noqa: E402
from apifixture import Api, link, stop_all  # noqa: E402
from nginxfixture import Nginx  # noqa: E402
from serverfixture import Server, check, eq, run_tests  # noqa: E402

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
IDS = ["nginx-%s@host" % RUN, "slash/%s/x" % RUN, "pct%%25%%2F-%s" % RUN,
       "plus+eq=at@%s" % RUN, "with space %s@h" % RUN, "all / %% + = @ and spaces %s" % RUN]
BIG = "big-%s@host" % RUN
S = {}
KEY = "test-sippulse-key"


def setup():
    if "nginx" in S:
        return S
    srv = Server(name="api-nginx", env={"SIPVAULT_LOG_FLUSH": "1"}).start()
    ag = srv.agent("acme")
    base = sc.now_ns() - 3 * 10**9
    S["dialogs"] = {}
    for i, cid in enumerate(IDS):
        d = sc.Dialog(cid, base + i * 1000)
        d.answered(t_bye_ms=1500)
        ag.send_messages(d.msgs)
        ag.log(d.ts(1100), cid, "a log line of " + cid)
        S["dialogs"][cid] = d
    big = sc.Dialog(BIG, base + 99 * 1000)
    big.answered(t_bye_ms=1500)
    ag.send_messages(big.msgs)
    for n in range(450):
        ag.log(big.ts(1100) + n, BIG, "big call log line %d" % n)
    S["dialogs"][BIG] = big
    for cid, d in S["dialogs"].items():
        srv.quality("acme-calls", cid, d.base_ts, 15)
    ag.close()
    S["srv"] = srv
    prov = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "tools",
                                                          "ai_provider.py"),
                             "--port", "0", "--key-openai", KEY], stdout=subprocess.PIPE,
                            text=True)
    S["prov"] = prov
    line = prov.stdout.readline()
    check(line.startswith("AI_PROVIDER_PORT="), "provider started: %r" % line)
    purl = "http://127.0.0.1:%s/v1" % line.strip().split("=")[1]
    S["api"] = Api(data_dir=srv.data_dir, name="nginx", env={
        "SIPPULSE_API_KEY": KEY, "SIPPULSE_API_URL": purl, "SIPPULSE_BASE_URL": purl,
        "SIPPULSE_AI_MODEL": "test-model", "SIPVAULT_AI_MODEL": "test-model"}).start()
    S["nginx"] = Nginx(os.path.join(SRC, "nginx", "sipvault.conf"), S["api"].port).start()
    return S


def get(path, timeout=20):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(S["nginx"].base + path, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_health_through_nginx():
    setup()
    st, body = get("/api/health")
    eq(st, 200, "health through nginx")
    eq(json.loads(body), {"status": "ok"}, "body")
    st, body = get("/")
    eq(st, 200, "dashboard root")


def test_call_ids_through_nginx():
    setup()
    for cid in IDS:
        for ep in ("", "sip", "logs"):
            st, body = get("/api" + link("acme", cid, ep, form="query"))
            eq(st, 200, "query form %r %s: %s" % (cid, ep, body[:200]))
            j = json.loads(body)
            if ep == "":
                eq(j["call_id"], cid, "the right call")
            elif ep == "sip":
                eq(j[0]["call_id"], cid, "the right ladder")
            else:
                eq([x["text"] for x in j], ["a log line of " + cid], "the right logs")
        st, body = get("/api" + link("acme", cid, form="path"))
        if "/" in cid:
            check(st in (401, 404), "path form with '/' cannot arrive intact: %d" % st)
        else:
            eq(st, 200, "path form %r: %s" % (cid, body[:200]))
            eq(json.loads(body)["call_id"], cid, "path form: the right call")


def test_artifacts_through_nginx():
    setup()
    cid = IDS[-1]
    st, body = get("/api" + link("acme", cid, form="query"))
    eq(st, 200, "summary")
    for art in json.loads(body)["artifacts"]:
        check(art["url"].startswith("/api/calls/artifacts/"), "prefixed URL " + art["url"])
        p = subprocess.run(["curl", "-sS", "-f", S["nginx"].base + art["url"]],
                           capture_output=True, timeout=20)
        eq(p.returncode, 0, "curl through nginx: %s" % p.stderr)
        d = S["dialogs"][cid]
        want = open(os.path.join(S["srv"].call_dir("acme-calls", cid, d.base_ts),
                                 art["name"]), "rb").read()
        eq(p.stdout, want, "bytes of " + art["name"])


def test_chat_streams_through_nginx():
    setup()
    cid = IDS[-1]
    body = json.dumps({"messages": [{"role": "user", "content": "mode=slow why?"}]}).encode()
    path = "/api" + link("acme", cid, "chat", form="query")
    s = socket.create_connection(("127.0.0.1", S["nginx"].port), timeout=30)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (path.encode(), len(body))
              + body)
    t0 = time.monotonic()
    raw, arrivals = b"", []
    while True:
        b = s.recv(65536)
        if not b:
            break
        raw += b
        arrivals.append((time.monotonic() - t0, raw.count(b"data:")))
    s.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), "chat status: %r" % head[:80])
    check(b"text/event-stream" in head, "SSE content type")
    check(b"The call " in rest and b"(MOS 4.3)" in rest, "the whole answer: %r" % rest[-300:])
    # streamed, not buffered: the first tokens arrived well before the last
    firsts = [t for t, n in arrivals if n >= 1]
    check(firsts and arrivals[-1][0] - firsts[0] > 0.8,
          "tokens arrived over time: %r" % arrivals[:5])


def chat_direct(cid, content, version=b"1.0"):
    """POSTs to the API itself (no nginx) as an HTTP/1.0 client; returns (head, body)."""
    body = json.dumps({"messages": [{"role": "user", "content": content}]}).encode()
    path = link("acme", cid, "chat", form="query")
    s = socket.create_connection(("127.0.0.1", S["api"].port), timeout=30)
    s.sendall(b"POST %s HTTP/%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % (path.encode(), version, len(body)) + body)
    raw = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        raw += b
    s.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    return head, rest


def test_chat_context_from_the_calls_evidence():
    setup()
    m0 = S["api"].metrics()
    head, body = chat_direct(IDS[0], "mode=echo what happened?")
    check(head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head[:60])
    check(b"chunked" not in head.lower(), "no chunked encoding for an HTTP/1.0 client")
    text = "".join(json.loads(ln[5:])["text"] for ln in body.decode().splitlines()
                   if ln.startswith("data:") and '"text"' in ln)
    check(("Call-ID: " + IDS[0]) in text, "the context names the call: %r" % text)
    check("cut=no" in text, "a small call is not cut: %r" % text)
    head, body = chat_direct(BIG, "mode=echo what happened?")
    text = "".join(json.loads(ln[5:])["text"] for ln in body.decode().splitlines()
                   if ln.startswith("data:") and '"text"' in ln)
    check("cut=yes" in text, "450 log lines are cut for the AI: %r" % text)
    st, logs = get("/api" + link("acme", BIG, "logs", form="query"))
    eq(len(json.loads(logs)), 450, "but GET /logs gives every line")
    m1 = S["api"].metrics()
    check(m1.get("sipvault_api_requests_total", endpoint="chat", status="200")
          - m0.get("sipvault_api_requests_total", endpoint="chat", status="200") == 2,
          "chat answers counted")
    check(m1.get("sipvault_api_chat_total", event="completed")
          - m0.get("sipvault_api_chat_total", event="completed") == 2, "completed streams")


def test_chat_provider_failures():
    setup()
    m0 = S["api"].metrics()
    head, body = chat_direct(IDS[0], "mode=error500 why?")
    check(head.startswith(b"HTTP/1.0 503") or head.startswith(b"HTTP/1.1 503"),
          "provider failing before the stream: 503: %r" % head[:60])
    check(b"error" in body, "JSON error")
    eq(S["api"].request(link("beta", IDS[0], "chat", form="query"), method="POST",
                        body=b'{"messages":[{"role":"user","content":"x"}]}').status, 404,
       "beta's link to acme's call")
    r = S["api"].request(link("acme", IDS[0], "chat", form="query"), method="POST",
                         body=b"not json")
    eq(r.status, 400, "bad conversation JSON")
    m1 = S["api"].metrics()
    check(m1.get("sipvault_api_chat_total", event="upstream_errors")
          > m0.get("sipvault_api_chat_total", event="upstream_errors"), "upstream error counted")


def test_chat_client_goes_away():
    setup()
    m0 = S["api"].metrics()
    body = json.dumps({"messages": [{"role": "user", "content": "mode=long go on"}]}).encode()
    path = link("acme", IDS[0], "chat", form="query")
    s = socket.create_connection(("127.0.0.1", S["api"].port), timeout=30)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body)) + body)
    got = b""
    while b"data:" not in got:
        got += s.recv(4096)
    s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m1 = S["api"].metrics()
        if m1.get("sipvault_api_chat_total", event="client_gone") > \
                m0.get("sipvault_api_chat_total", event="client_gone"):
            break
        time.sleep(0.1)
    check(m1.get("sipvault_api_chat_total", event="client_gone")
          > m0.get("sipvault_api_chat_total", event="client_gone"), "the stream was cancelled")
    check(S["api"].proc.poll() is None, "the API runs on")


def test_zz_stop():
    S["nginx"].stop()
    eq(S["api"].stop(), 0, "API exit status")
    S["srv"].stop()
    S["prov"].kill()
    stop_all()


if __name__ == "__main__":
    run_tests(globals())
