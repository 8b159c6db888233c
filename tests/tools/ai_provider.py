#!/usr/bin/env python3
"""A test AI provider speaking both streaming protocols sipvault-api uses.

  POST /v1/chat/completions   OpenAI-compatible chat completions (SipPulse AI):
                              Authorization: Bearer KEY, body {"model", "stream": true,
                              "messages": [{"role": "system"|"user"|"assistant", ...}]};
                              answer: chunked text/event-stream of
                              "data: {chat.completion.chunk}" and a final "data: [DONE]".
  POST /v1/messages           Anthropic Messages: x-api-key KEY, anthropic-version
                              2023-06-01, body {"model", "max_tokens", "stream": true,
                              "system", "messages"}; answer: the event types message_start,
                              content_block_start, ping, content_block_delta (text_delta),
                              content_block_stop, message_delta, message_stop, or error.
  GET  /_requests             what was asked so far (JSON list), for the tests:
                              path, mode, problems (request shape), outcome
                              ("completed", "cancelled": the client went away, "dropped",
                              "error", "rejected").

The request headers and body are checked as documented; a request that breaks the rules is
answered 400 with the problems listed (and recorded). The mode is chosen by the last user
message, when it starts with "mode=NAME":

  normal       a short answer, quickly
  slow         the answer with SLOW_DELAY seconds between tokens
  long         tokens every 0.1 s for 60 s (client-cancel tests)
  stall_first  the request is read, then nothing is sent at all
  stall_mid    a few tokens, then silence (connection kept open)
  error500     HTTP 500 with the provider's JSON error document
  error429     HTTP 429 with the provider's JSON rate-limit error
  drop_mid     a few tokens, then the connection is closed without ending the stream
  error_event  a few tokens, then an in-stream error (Anthropic "event: error",
               OpenAI "data: {"error": ...}")
  echo         answers with facts about the system prompt it received (Call-ID line,
               whether lines were cut, its size), to check the context

Usage: ai_provider.py [--port N] [--key-openai K] [--key-anthropic K]. Binds 127.0.0.1
(port 0: a free one) and prints "AI_PROVIDER_PORT=N" on stdout once it listens.
"""
import argparse
import json
import re
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_DELAY = 0.2
ANSWER = ["The call ", "was set up ", "normally: ", "INVITE, ", "180 Ringing, ",
          "200 OK, ", "ACK, ", "then BYE. ", "Quality was good ", "(MOS 4.3)."]


class Provider(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, keys):
        super().__init__(addr, Handler)
        self.keys = keys
        self.lock = threading.Lock()
        self.log = []

    def record(self, entry):
        with self.lock:
            entry["id"] = len(self.log)
            self.log.append(entry)
        return entry


class ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ai-provider-test/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("ai_provider: " + (fmt % args) + "\n")

    # ---------------------------------------------------------------- helpers
    def send_json(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, text):
        data = text.encode()
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ClientGone() from e

    def end_stream(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ClientGone() from e

    def client_closed(self, timeout):
        """Waits up to timeout seconds; True when the client closed its side."""
        r, _, _ = select.select([self.connection], [], [], timeout)
        if not r:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait_for_close(self, limit=60.0):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if self.client_closed(0.05):
                raise ClientGone()
        return

    # ---------------------------------------------------------------- events
    def sse(self, proto, kind, payload):
        """One event of the provider's protocol; kind is the Anthropic event name."""
        if proto == "openai":
            self.chunk("data: " + (payload if isinstance(payload, str) else json.dumps(payload))
                       + "\n\n")
        else:
            self.chunk("event: %s\ndata: %s\n\n" % (kind, json.dumps(payload)))

    def openai_token(self, text):
        self.sse("openai", None, {
            "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": self.model, "choices": [{"index": 0, "delta": {"content": text},
                                              "logprobs": None, "finish_reason": None}]})

    def begin(self, proto):
        self.start_stream()
        if proto == "openai":
            self.sse(proto, None, {
                "id": "chatcmpl-test", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "logprobs": None, "finish_reason": None}]})
        else:
            self.sse(proto, "message_start", {"type": "message_start", "message": {
                "id": "msg_test", "type": "message", "role": "assistant", "content": [],
                "model": self.model, "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 100, "output_tokens": 1}}})
            self.sse(proto, "content_block_start", {
                "type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}})
            self.sse(proto, "ping", {"type": "ping"})

    def token(self, proto, text):
        if proto == "openai":
            self.openai_token(text)
        else:
            self.sse(proto, "content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}})

    def end_answer(self, proto):
        if proto == "openai":
            self.sse(proto, None, {
                "id": "chatcmpl-test", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.model,
                "choices": [{"index": 0, "delta": {}, "logprobs": None,
                             "finish_reason": "stop"}]})
            self.sse(proto, None, "[DONE]")
        else:
            self.sse(proto, "content_block_stop", {"type": "content_block_stop", "index": 0})
            self.sse(proto, "message_delta", {
                "type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                   "stop_sequence": None},
                "usage": {"output_tokens": 15}})
            self.sse(proto, "message_stop", {"type": "message_stop"})
        self.end_stream()

    def error_doc(self, proto, kind, message):
        if proto == "openai":
            return {"error": {"message": message, "type": kind, "param": None, "code": kind}}
        return {"type": "error", "error": {"type": kind, "message": message}}

    # ---------------------------------------------------------------- checks
    def check(self, proto, body):
        p = []
        h = self.headers
        ctype = (h.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/json":
            p.append("content-type is %r" % ctype)
        if proto == "openai":
            if h.get("Authorization") != "Bearer " + self.server.keys["openai"]:
                p.append("bad Authorization")
        else:
            if h.get("x-api-key") != self.server.keys["anthropic"]:
                p.append("bad x-api-key")
            if h.get("anthropic-version") != "2023-06-01":
                p.append("bad anthropic-version")
        try:
            doc = json.loads(body)
        except ValueError:
            return p + ["body is not JSON"], None
        if not isinstance(doc, dict):
            return p + ["body is not an object"], None
        if not isinstance(doc.get("model"), str) or not doc["model"]:
            p.append("model missing")
        if doc.get("stream") is not True:
            p.append("stream is not true")
        msgs = doc.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return p + ["messages missing"], doc
        roles = ("user", "assistant") if proto == "anthropic" else ("system", "user", "assistant")
        for m in msgs:
            if not isinstance(m, dict) or m.get("role") not in roles or \
                    not isinstance(m.get("content"), str) or not m["content"]:
                p.append("bad message %r" % (m,))
        if proto == "anthropic":
            if not isinstance(doc.get("max_tokens"), int) or doc["max_tokens"] < 1:
                p.append("max_tokens missing")
            if not isinstance(doc.get("system"), str) or not doc["system"]:
                p.append("system missing")
            if msgs[0].get("role") != "user":
                p.append("first message is not the user's")
        else:
            if msgs[0].get("role") != "system":
                p.append("first message is not the system prompt")
            if any(m.get("role") == "system" for m in msgs[1:]):
                p.append("system message after the first")
        if msgs[-1].get("role") != "user":
            p.append("last message is not the user's")
        return p, doc

    # ---------------------------------------------------------------- routes
    def do_GET(self):
        if self.path == "/_requests":
            with self.server.lock:
                doc = list(self.server.log)
            self.send_json(200, doc)
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/v1/chat/completions":
            proto = "openai"
        elif self.path == "/v1/messages":
            proto = "anthropic"
        else:
            self.send_json(404, {"error": "not found"})
            return
        problems, doc = self.check(proto, body)
        mode = "normal"
        system = ""
        if doc is not None and isinstance(doc.get("messages"), list) and doc["messages"]:
            last = doc["messages"][-1]
            if isinstance(last, dict) and isinstance(last.get("content"), str) and \
                    last["content"].startswith("mode="):
                mode = last["content"][5:].split()[0]
            if proto == "anthropic":
                system = doc.get("system") or ""
            elif isinstance(doc["messages"][0], dict):
                system = doc["messages"][0].get("content") or ""
        self.model = (doc or {}).get("model") or "?"
        entry = self.server.record({"path": self.path, "proto": proto, "mode": mode,
                                    "problems": problems, "outcome": "running",
                                    "model": self.model, "system_len": len(system),
                                    "messages": len((doc or {}).get("messages") or [])})
        if problems:
            entry["outcome"] = "rejected"
            self.send_json(400, self.error_doc(proto, "invalid_request_error",
                                               "; ".join(problems)))
            return
        try:
            self.run_mode(proto, mode, system)
            entry["outcome"] = {"error500": "error", "error429": "error",
                                "drop_mid": "dropped", "error_event": "error"}.get(mode,
                                                                                   "completed")
        except ClientGone:
            entry["outcome"] = "cancelled"
            self.close_connection = True
        finally:
            if entry["outcome"] == "running":
                entry["outcome"] = "cancelled"

    def run_mode(self, proto, mode, system):
        if mode == "error500":
            self.send_json(500, self.error_doc(proto, "api_error", "Internal server error"))
            return
        if mode == "error429":
            self.send_json(429, self.error_doc(proto, "rate_limit_error", "Too many requests"))
            return
        if mode == "stall_first":
            self.wait_for_close()
            raise ClientGone()
        self.begin(proto)
        if mode == "echo":
            call_line = next((ln for ln in system.splitlines() if ln.startswith("Call-ID: ")),
                             "Call-ID: ?")
            cut = re.search(r"\[\.\.\. \d+ lines cut \.\.\.\]", system) is not None
            for piece in (call_line, "\n", "cut=%s" % ("yes" if cut else "no"),
                          " size=%d" % len(system.encode())):
                self.token(proto, piece)
            self.end_answer(proto)
            return
        if mode == "long":
            end = time.monotonic() + 60
            i = 0
            while time.monotonic() < end:
                self.token(proto, "word%d " % i)
                i += 1
                if self.client_closed(0.1):
                    raise ClientGone()
            self.end_answer(proto)
            return
        words = ANSWER
        if mode in ("stall_mid", "drop_mid", "error_event"):
            words = ANSWER[:3]
        for w in words:
            self.token(proto, w)
            if mode == "slow":
                time.sleep(SLOW_DELAY)
        if mode == "stall_mid":
            self.wait_for_close()
            raise ClientGone()
        if mode == "drop_mid":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "error_event":
            if proto == "openai":
                self.sse(proto, None, self.error_doc(proto, "server_error", "Overloaded"))
            else:
                self.sse(proto, "error", self.error_doc(proto, "overloaded_error", "Overloaded"))
            self.end_stream()
            return
        self.end_answer(proto)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key-openai", default="test-sippulse-key")
    ap.add_argument("--key-anthropic", default="test-anthropic-key")
    a = ap.parse_args()
    srv = Provider(("127.0.0.1", a.port),
                   {"openai": a.key_openai, "anthropic": a.key_anthropic})
    print("AI_PROVIDER_PORT=%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
