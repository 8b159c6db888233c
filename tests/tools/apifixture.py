"""sipvault-api for integration tests: start it on a free port over a data directory (or an
S3 endpoint), sign links as a CDR viewer does, and make requests."""

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from serverfixture import DEFAULT_CUSTOMERS, free_port

SECRET = "test-hmac-secret-0123456789abcdef"
_live = []


def api_bin():
    b = os.path.join(os.environ["SV_BIN_DIR"], "sipvault-api")
    if not os.access(b, os.X_OK):
        raise RuntimeError(b + " is not built")
    return b


def sign(customer, call_id, ts, secret=SECRET):
    msg = customer.encode() + b"\n" + (call_id.encode() if isinstance(call_id, str) else call_id) \
        + b"\n" + str(ts).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def q(s, safe=""):
    return urllib.parse.quote(s, safe=safe)


def link(customer, call_id, endpoint="", ts=None, sig=None, date=None, form="path",
         secret=SECRET, sign_customer=None, sign_call_id=None, extra=""):
    """The path and query of a call endpoint ("" summary, "sip", "logs", "chat",
    "artifacts/NAME"); form "path" puts the Call-ID in the path, "query" in call_id=."""
    ts = int(time.time()) if ts is None else ts
    if sig is None:
        sig = sign(sign_customer or customer, sign_call_id or call_id, ts, secret)
    params = [("customer", customer), ("ts", str(ts)), ("sig", sig)]
    if date:
        params.append(("date", date))
    if form == "path":
        path = "/calls/" + q(call_id) + ("/" + endpoint if endpoint else "")
    else:
        path = "/calls" + ("/" + endpoint if endpoint else "")
        params.insert(0, ("call_id", call_id))
    return path + "?" + urllib.parse.urlencode(params) + extra


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Api:
    def __init__(self, data_dir=None, customers=None, env=None, name="api"):
        self.tmp = tempfile.mkdtemp(prefix="sv-api-%s." % name)
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.customers = customers or DEFAULT_CUSTOMERS
        self.extra_env = dict(env or {})
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.tmp, "api.log")

    def env(self):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("SIPVAULT_", "SIPPULSE_", "ANTHROPIC_", "AWS_"))}
        e.update({
            "SIPVAULT_API_LISTEN": "127.0.0.1:%d" % self.port,
            "SIPVAULT_DATA_DIR": self.data_dir,
            "SIPVAULT_CUSTOMERS": json.dumps(self.customers),
            "SIPVAULT_HMAC_SECRET": SECRET,
            "SIPVAULT_HMAC_MAX_AGE": "3600",
            "SIPVAULT_LOG_LEVEL": "debug",
        })
        e.update(self.extra_env)
        return e

    def start(self, timeout=10.0):
        self.port = free_port()
        conf = os.path.join(self.tmp, "api.env")  # never read the files under /etc
        with open(conf, "w") as f:
            f.write("# sipvault-api under test: everything comes from the environment\n")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([api_bin(), "--config", conf], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        _live.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sipvault-api exited with %d:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sipvault-api not listening:\n" + self.log_tail())

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self, n=40):
        try:
            return "".join(open(self.log_path, errors="replace").readlines()[-n:])
        except OSError:
            return ""

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, path, method="GET", body=None, headers=None, timeout=10.0):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def raw(self, data, timeout=5.0):
        """Sends raw bytes, returns the raw answer (status line first)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.sendall(data)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        s.close()
        return out

    def metrics(self):
        import svclient
        return svclient.Metrics(self.request("/metrics").body.decode())


def stop_all():
    for a in _live:
        if a.proc is not None and a.proc.poll() is None:
            a.proc.kill()
