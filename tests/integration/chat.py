#!/usr/bin/env python3
"""The AI chat engine (src/api/chat.c) against the test provider (tests/tools/ai_provider.py).

Starts the provider and tests/integration/itest_chat (the engine behind evhttp, without the
rest of sipvault-api), then for both providers (SipPulse/OpenAI-compatible and Anthropic):
every provider mode, client cancel (the provider must see its request cancelled), HTTP/1.0
clients (no chunked encoding, connection closed at the end), no provider -> 503, bad bodies
-> 400, an unreachable provider -> 503, and the engine's counters. Exit 0 when all pass.
Needs SV_TESTS_DIR and SV_SOURCE_DIR (chat.sh sets them).
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

TESTS = os.environ["SV_TESTS_DIR"]
SRC = os.environ["SV_SOURCE_DIR"]
HARNESS = os.path.join(TESTS, "itest_chat")
PROVIDER = os.path.join(SRC, "tests", "tools", "ai_provider.py")
ANSWER = ("The call was set up normally: INVITE, 180 Ringing, 200 OK, ACK, then BYE. "
          "Quality was good (MOS 4.3).")
CALL_ID = "a84b4c76e66710@pc33.example.com"
FIRST_BYTE_MS = 1500
IDLE_MS = 1500

failures = []
procs = []


def check(cond, what):
    if cond:
        print("ok   " + what, flush=True)
    else:
        print("FAIL " + what, flush=True)
        failures.append(what)


def start(cmd, key):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    procs.append(p)
    line = p.stdout.readline()
    if not line.startswith(key + "="):
        raise SystemExit("FAIL: %s did not start (%r)" % (cmd[0], line))
    return p, int(line.strip().split("=", 1)[1])


def body(content, history=None):
    msgs = list(history or []) + [{"role": "user", "content": content}]
    return json.dumps({"messages": msgs}).encode()


def dechunk(raw):
    out = b""
    while raw:
        head, _, rest = raw.partition(b"\r\n")
        n = int(head.split(b";")[0], 16)
        if n == 0:
            return out, True
        out += rest[:n]
        raw = rest[n + 2:]
    return out, False


def request(port, path, data, version="1.1", extra=b"", cancel_after_token=False,
            cancel_after=None, timeout=20.0):
    """POSTs data; returns a dict: status, headers, body (dechunked), events, times."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    req = (b"POST %s HTTP/%s\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n%s\r\n" % (path.encode(), version.encode(), len(data), extra))
    t0 = time.monotonic()
    s.sendall(req + data)
    raw = b""
    first_token = None
    closed = False
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if cancel_after is not None and time.monotonic() - t0 > cancel_after:
            break
        s.settimeout(max(0.05, min(0.2, deadline - time.monotonic())))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            closed = True
            break
        raw += chunk
        if first_token is None and b"event: token" in raw:
            first_token = time.monotonic() - t0
            if cancel_after_token:
                break
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if sep and version == "1.1":
            hl = head.lower()
            if b"transfer-encoding: chunked" in hl and rest.endswith(b"0\r\n\r\n"):
                break
            if b"content-length:" in hl:
                n = int(hl.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) >= n:
                    break
    elapsed = time.monotonic() - t0
    s.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0] if lines else ""
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    complete = True
    if headers.get("transfer-encoding") == "chunked":
        rest, complete = dechunk(rest)
    events = []
    for block in rest.decode("utf-8", "replace").split("\n\n"):
        name, data_lines = "message", []
        for ln in block.split("\n"):
            if ln.startswith("event: "):
                name = ln[7:]
            elif ln.startswith("data: "):
                data_lines.append(ln[6:])
        if data_lines:
            events.append((name, json.loads("\n".join(data_lines))))
    status = int(status_line.split()[1]) if len(status_line.split()) > 1 else 0
    return {"status": status, "status_line": status_line, "headers": headers, "body": rest,
            "events": events, "first_token": first_token, "elapsed": elapsed,
            "closed": closed, "complete": complete}


def text_of(r):
    return "".join(d["text"] for n, d in r["events"] if n == "token")


def names(r):
    return [n for n, _ in r["events"]]


def error_of(r):
    errs = [d.get("error", "") for n, d in r["events"] if n == "error"]
    return errs[-1] if errs else None


def get_json(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as f:
        return json.loads(f.read())


def provider_log(pport):
    return get_json(pport, "/_requests")


def wait_outcome(pport, idx, want, limit=8.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        log = provider_log(pport)
        if idx < len(log) and log[idx]["outcome"] == want:
            return log[idx]
        time.sleep(0.1)
    log = provider_log(pport)
    return log[idx] if idx < len(log) else None


def run(pport, hport):
    for prov, path in (("openai", "/v1/chat/completions"), ("anthropic", "/v1/messages")):
        eng = "sippulse" if prov == "openai" else "anthropic"
        url = "/%s/chat" % eng
        tag = "%s:" % eng

        def last():
            log = provider_log(pport)
            return len(log) - 1, log[-1]

        # normal, HTTP/1.1 chunked
        r = request(hport, url, body("what happened?"))
        i, ent = last()
        check(r["status"] == 200, tag + " normal answers 200")
        check(r["headers"].get("content-type", "").startswith("text/event-stream"),
              tag + " normal is text/event-stream")
        check(r["headers"].get("transfer-encoding") == "chunked" and r["complete"],
              tag + " HTTP/1.1 stream is chunked and ends with the last chunk")
        check(text_of(r) == ANSWER, tag + " tokens make the whole answer (%r)" % text_of(r))
        check(names(r)[-1:] == ["done"], tag + " stream ends with a done event")
        check(ent["path"] == path and ent["problems"] == [] and ent["outcome"] == "completed",
              tag + " provider saw a well-formed request (%s)" % ent)
        if prov == "openai":
            check(ent["model"] == "test-model", tag + " SIPPULSE_AI_MODEL is sent")
        else:
            check(ent["model"] == "test-claude", tag + " ANTHROPIC_MODEL is sent")

        # a conversation with history
        hist = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        r = request(hport, url, body("and then?", hist))
        i, ent = last()
        check(r["status"] == 200 and ent["problems"] == [] and
              ent["messages"] == (4 if prov == "openai" else 3),
              tag + " history is passed on (%s)" % ent)

        # slow: tokens arrive as they come
        r = request(hport, url, body("mode=slow"))
        check(r["status"] == 200 and text_of(r) == ANSWER and names(r)[-1] == "done",
              tag + " slow answer complete")
        check(r["first_token"] is not None and r["first_token"] < r["elapsed"] - 1.0,
              tag + " slow tokens streamed before the end (first %.2fs of %.2fs)" %
              (r["first_token"] or -1, r["elapsed"]))

        # stalled before the first byte: 503, upstream request cancelled
        r = request(hport, url, body("mode=stall_first"))
        i, _ = last()
        check(r["status"] == 503 and "no answer within" in r["body"].decode(),
              tag + " stalled before first byte -> 503 (%s)" % r["body"][:200])
        check(r["elapsed"] < FIRST_BYTE_MS / 1000 + 2, tag + " first-byte timeout honoured")
        ent = wait_outcome(pport, i, "cancelled")
        check(ent and ent["outcome"] == "cancelled", tag + " stalled request closed upstream")

        # stalled mid-stream: error event
        r = request(hport, url, body("mode=stall_mid"))
        i, _ = last()
        check(r["status"] == 200 and text_of(r).startswith("The call ") and
              names(r)[-1] == "error" and "stalled" in error_of(r),
              tag + " stalled mid-stream -> error event (%s)" % names(r))
        ent = wait_outcome(pport, i, "cancelled")
        check(ent and ent["outcome"] == "cancelled", tag + " stalled stream closed upstream")

        # HTTP errors before the stream: 503 with a short reason
        r = request(hport, url, body("mode=error500"))
        check(r["status"] == 503 and "HTTP 500: api_error: Internal server error" in
              r["body"].decode(), tag + " provider 500 -> 503 (%s)" % r["body"][:200])
        r = request(hport, url, body("mode=error429"))
        check(r["status"] == 503 and "HTTP 429: rate_limit_error: Too many requests" in
              r["body"].decode(), tag + " provider 429 -> 503 (%s)" % r["body"][:200])

        # connection dropped mid-stream
        r = request(hport, url, body("mode=drop_mid"))
        check(r["status"] == 200 and names(r)[-1] == "error" and text_of(r) and
              "done" not in names(r), tag + " dropped mid-stream -> error event (%s: %s)" %
              (names(r), error_of(r)))

        # an error inside the stream
        r = request(hport, url, body("mode=error_event"))
        check(r["status"] == 200 and names(r)[-1] == "error" and
              "Overloaded" in (error_of(r) or ""),
              tag + " in-stream error -> error event (%s)" % error_of(r))

        # the context: the call's evidence, cut when large
        r = request(hport, url, body("mode=echo"))
        t = text_of(r)
        check(("Call-ID: " + CALL_ID) in t and "cut=no" in t,
              tag + " context names the call (%r)" % t)
        r = request(hport, url + "?big=1", body("mode=echo"))
        t = text_of(r)
        size = int(t.split("size=")[1]) if "size=" in t else -1
        check("cut=yes" in t and 0 < size < 300000,
              tag + " a large call is cut (%r)" % t)

        # client cancel mid-stream: the provider sees its request cancelled
        r = request(hport, url, body("mode=long"), cancel_after_token=True)
        i, _ = last()
        check(r["status"] == 200 and r["first_token"] is not None, tag + " long stream started")
        ent = wait_outcome(pport, i, "cancelled")
        check(ent and ent["outcome"] == "cancelled",
              tag + " client gone mid-stream -> upstream cancelled (%s)" % ent)

        # client cancel before the first byte: noticed at once, not by the timeout
        before = get_json(hport, "/stats")[eng]
        r = request(hport, url, body("mode=stall_first"), cancel_after=0.3)
        i, _ = last()
        ent = wait_outcome(pport, i, "cancelled")
        after = get_json(hport, "/stats")[eng]
        check(ent and ent["outcome"] == "cancelled",
              tag + " client gone before first byte -> upstream cancelled")
        check(after["client_gone"] == before["client_gone"] + 1 and
              after["upstream_errors"] == before["upstream_errors"],
              tag + " ... counted as client gone, not as a timeout")

        # HTTP/1.0 (nginx's proxy_pass), with and without keep-alive
        for extra in (b"", b"Connection: keep-alive\r\n"):
            r = request(hport, url, body("hello"), version="1.0", extra=extra)
            what = tag + " HTTP/1.0%s" % (" keep-alive" if extra else "")
            check(r["status_line"].startswith("HTTP/1.0 200"), what + " answers 200")
            check("transfer-encoding" not in r["headers"] and
                  "content-length" not in r["headers"], what + " has no chunking or length")
            check(text_of(r) == ANSWER and names(r)[-1] == "done", what + " streams the answer")
            check(r["closed"], what + " connection closed at the end")

    # no provider
    r = request(hport, "/none/chat", body("hello"))
    check(r["status"] == 503 and "no AI provider" in r["body"].decode(),
          "no provider -> 503 (%s)" % r["body"][:100])
    # both keys: SipPulse wins
    n = len(provider_log(pport))
    r = request(hport, "/both/chat", body("hello"))
    log = provider_log(pport)
    check(r["status"] == 200 and len(log) == n + 1 and log[-1]["proto"] == "openai",
          "both keys set -> SipPulse")
    # bad bodies
    for bad, what in ((b"{", "not JSON"), (b'{"messages":[]}', "no messages"),
                      (json.dumps({"messages": [{"role": "system", "content": "x"}]}).encode(),
                       "bad role"),
                      (json.dumps({"messages": [{"role": "user", "content": "a"},
                                                {"role": "assistant", "content": "b"}]})
                       .encode(), "last message not the user's")):
        n = len(provider_log(pport))
        r = request(hport, "/sippulse/chat", bad)
        check(r["status"] == 400 and "error" in json.loads(r["body"] or b"{}") and
              len(provider_log(pport)) == n, "bad body (%s) -> 400, nothing sent" % what)

    st = get_json(hport, "/stats")
    print("stats: %s" % json.dumps(st), flush=True)
    for eng in ("sippulse", "anthropic"):
        s = st[eng]
        check(s["streams"] == s["completed"] + s["upstream_errors"] + s["client_gone"],
              eng + " counters add up")
        check(s["client_gone"] >= 2 and s["upstream_errors"] >= 6,
              eng + " cancels and upstream errors counted")
    check(st["none"]["no_provider"] == 1, "no-provider requests counted")


def main():
    prov, pport = start([sys.executable, PROVIDER], "AI_PROVIDER_PORT")
    harness, hport = start([HARNESS, "--sippulse", "http://127.0.0.1:%d/v1" % pport,
                            "--anthropic", "http://127.0.0.1:%d/" % pport,
                            "--first-byte", str(FIRST_BYTE_MS), "--idle", str(IDLE_MS)], "PORT")
    # a provider nobody listens on
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    dead_h, dport = start([HARNESS, "--sippulse", "http://127.0.0.1:%d/v1" % dead,
                           "--anthropic", "http://127.0.0.1:%d" % dead], "PORT")
    try:
        run(pport, hport)
        for eng in ("sippulse", "anthropic"):
            r = request(dport, "/%s/chat" % eng, body("hello"))
            check(r["status"] == 503 and "unreachable" in r["body"].decode(),
                  eng + ": unreachable provider -> 503 (%s)" % r["body"][:120])
        # a stream in flight when the engine is freed
        sock = socket.create_connection(("127.0.0.1", hport))
        data = body("mode=long")
        sock.sendall(b"POST /anthropic/chat HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(data) + data)
        time.sleep(0.5)
    finally:
        for p in (harness, dead_h):
            p.terminate()
            try:
                rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = -9
            check(rc == 0, "harness exits cleanly on SIGTERM (rc %d)" % rc)
        prov.terminate()
        prov.wait(timeout=10)
    if failures:
        print("%d check(s) failed" % len(failures), flush=True)
        sys.exit(1)
    print("chat: all checks passed", flush=True)


if __name__ == "__main__":
    main()
