"""serverfixture - runs a real sipvault-server on loopback for the integration tests.

    with Server(customers=[...], env={"SIPVAULT_CLOSING_GRACE": "1"}) as srv:
        a = srv.agent("acme")                 # connected, handshake done
        ...
        srv.wait_object("acme-calls", call_id, first_ts, "quality.json")

The server comes from $SV_BIN_DIR/sipvault-server, listens on free 127.0.0.1 ports (TCP agents,
UDP HEP, HTTP metrics) and stores into a temporary SIPVAULT_DATA_DIR, removed at the end unless
SV_KEEP_TMP is set. Every server started is killed at exit, whatever happened. Also a tiny test
runner: run_tests(globals()) runs every test_* function and prints "N passed, M failed".
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svclient  # noqa: E402

DEFAULT_CUSTOMERS = [
    {"id": "acme", "token": "acme-token-0123456789", "bucket": "acme-calls"},
    {"id": "beta", "token": "beta-token-9876543210", "bucket": "beta-calls"},
]

_live = []
_created = []


def _kill_all():
    for s in list(_live):
        s.kill()


atexit.register(_kill_all)


def _sig_exit(signum, frame):
    _kill_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _sig_exit)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_bin():
    d = os.environ.get("SV_BIN_DIR")
    if not d:
        raise RuntimeError("SV_BIN_DIR is not set")
    b = os.path.join(d, "sipvault-server")
    if not os.access(b, os.X_OK):
        raise RuntimeError(b + " is not built")
    return b


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Server:
    def __init__(self, customers=None, env=None, name="srv"):
        self.customers = customers or DEFAULT_CUSTOMERS
        self.extra_env = dict(env or {})
        self.tmp = tempfile.mkdtemp(prefix="sv-it-%s." % name)
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.tcp_port = self.hep_port = self.metrics_port = None
        self.starts = 0
        _created.append(self)

    # -- lifecycle
    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("SIPVAULT_")}
        e.update({
            "SIPVAULT_LISTEN_TCP": "127.0.0.1:%d" % self.tcp_port,
            "SIPVAULT_LISTEN_HEP": "127.0.0.1:%d" % self.hep_port,
            "SIPVAULT_METRICS_LISTEN": "127.0.0.1:%d" % self.metrics_port,
            "SIPVAULT_DATA_DIR": self.data_dir,
            "SIPVAULT_CUSTOMERS": json.dumps(self.customers),
            "SIPVAULT_LOG_LEVEL": "debug",
            "SIPVAULT_CLOSING_GRACE": "1",
        })
        e.update(self.extra_env)
        return e

    def start(self, timeout=10.0):
        last = None
        for _ in range(3):  # a port taken between free_port() and bind(): try others
            if self.tcp_port is None or self.starts == 0 or last is not None:
                self.tcp_port = free_port()
                self.hep_port = free_port(socket.SOCK_DGRAM)
                self.metrics_port = free_port()
            try:
                self._spawn(timeout)
                return self
            except RuntimeError as e:
                last = e
                if self.proc and self.proc.poll() is None:
                    self.kill()
        raise last

    def _spawn(self, timeout):
        log = open(self.log_path, "ab")
        log.write(b"==== start %d\n" % (self.starts + 1))
        log.flush()
        conf = os.path.join(self.tmp, "server.conf")  # never read /etc/sipvault/server.conf
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write("{}\n")
        self.proc = subprocess.Popen([server_bin(), "--config", conf], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        _live.append(self)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sipvault-server exited with %d at start:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if self._listening():
                return
            time.sleep(0.05)
        raise RuntimeError("sipvault-server not listening after %.0f s:\n%s"
                           % (timeout, self.log_tail()))

    def _listening(self):
        for port in (self.tcp_port, self.metrics_port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig and waits; returns the exit status (raises on timeout after SIGKILL)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("sipvault-server did not exit within %.0f s of signal %d"
                                   % (timeout, sig))
        if self in _live:
            _live.remove(self)
        return self.proc.returncode

    def restart(self, timeout=10.0):
        rc = self.stop()
        self._spawn(timeout)
        return rc

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self in _live:
            _live.remove(self)

    def cleanup(self):
        self.kill()
        if not os.environ.get("SV_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, et, ev, tb):
        if et is not None:
            sys.stdout.write("---- server log (last lines) ----\n%s\n" % self.log_tail(60))
        self.cleanup()
        return False

    # -- access
    @property
    def tcp_addr(self):
        return ("127.0.0.1", self.tcp_port)

    @property
    def hep_addr(self):
        return ("127.0.0.1", self.hep_port)

    def customer(self, cid):
        for c in self.customers:
            if c["id"] == cid:
                return c
        raise KeyError(cid)

    def agent(self, customer, caps=None, token=None, **kw):
        c = self.customer(customer)
        return svclient.Agent(self.tcp_addr, customer, c["token"] if token is None else token,
                              caps=caps, **kw)

    def metrics(self):
        return svclient.fetch_metrics(("127.0.0.1", self.metrics_port))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- objects
    def objects_root(self, bucket=None):
        r = os.path.join(self.data_dir, "objects")
        return os.path.join(r, bucket) if bucket else r

    def call_dir(self, bucket, call_id, first_ts):
        return os.path.join(self.objects_root(bucket), svclient.call_prefix(call_id, first_ts))

    def object_path(self, bucket, call_id, first_ts, name):
        return os.path.join(self.call_dir(bucket, call_id, first_ts), name)

    def wait_object(self, bucket, call_id, first_ts, name="quality.json", timeout=10.0):
        p = self.object_path(bucket, call_id, first_ts, name)
        wait_until(lambda: os.path.exists(p), timeout, what="%s/%s%s" % (
            bucket, svclient.call_prefix(call_id, first_ts)[:120], name))
        return p

    def all_objects(self):
        """Every object key under objects/, as (bucket, key) pairs (temporary files excluded)."""
        out = []
        root = self.objects_root()
        for dp, _, files in os.walk(root):
            for f in files:
                rel = os.path.relpath(os.path.join(dp, f), root)
                bucket, _, key = rel.partition(os.sep)
                out.append((bucket, key))
        return sorted(out)

    def quality(self, bucket, call_id, first_ts, timeout=10.0):
        p = self.wait_object(bucket, call_id, first_ts, "quality.json", timeout)
        with open(p) as f:
            return json.load(f)

    def rtcp_json(self, bucket, call_id, first_ts):
        return json.loads(svclient.read_gz(self.object_path(bucket, call_id, first_ts,
                                                            "rtcp.json.gz")))

    def wait_metric(self, name, value, timeout=5.0, **labels):
        """Waits until metric name{labels} >= value; returns the Metrics."""
        last = [None]

        def ok():
            m = self.metrics()
            last[0] = m.get(name, **labels)
            return m if last[0] >= value else None
        try:
            return wait_until(ok, timeout, 0.1, "%s%r >= %s" % (name, labels, value))
        except TimeoutError:
            raise AssertionError("%s%r = %s, expected >= %s" % (name, labels, last[0], value))


# --------------------------------------------------------------------------- runner

class Failed(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise Failed(msg)


def eq(got, want, what=""):
    if got != want:
        raise Failed("%s: got %r, expected %r" % (what, got, want))


def run_tests(ns, setup=None, teardown=None):
    """Runs every test_* function of the module namespace ns in definition order. setup() may
    return a context passed to each test taking an argument. Exits with the summary."""
    tests = [(k, v) for k, v in ns.items() if k.startswith("test_") and callable(v)]
    only = os.environ.get("SV_TEST_ONLY")
    if only:
        tests = [t for t in tests if only in t[0]]
    passed = failed = 0
    t0 = time.monotonic()
    for name, fn in tests:
        t1 = time.monotonic()
        try:
            fn()
            passed += 1
            print("PASS %s (%.1f s)" % (name, time.monotonic() - t1), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("FAIL %s (%.1f s): %s" % (name, time.monotonic() - t1, e), flush=True)
            traceback.print_exc(file=sys.stdout)
    _kill_all()
    for srv in _created:
        if failed and os.path.exists(srv.log_path):
            print("---- %s: server log (last lines) ----\n%s" % (srv.tmp, srv.log_tail(40)))
        srv.cleanup()
    print("total %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed or not tests else 0)


# --------------------------------------------------------------------------- object checks

def _ip(s):
    import ipaddress
    return str(ipaddress.ip_address(s))


def _first_line(m):
    return m.raw.split(b"\r\n", 1)[0].decode("latin-1")


def check_pcap(path, msgs, what="sip.pcap.gz"):
    """tshark reads every message of msgs back from path: count, capture order, ns timestamps,
    addresses, ports, transport, Call-ID, method or status."""
    rows = svclient.tshark_sip(path)
    exp = sorted(msgs, key=lambda m: m.ts)
    eq(len(rows), len(exp), what + ": message count")
    for i, (r, m) in enumerate(zip(rows, exp)):
        w = "%s: message %d (%s)" % (what, i + 1, m.label)
        eq(r["ts_ns"], m.ts, w + " timestamp")
        eq((r["src"], r["sport"], r["dst"], r["dport"]),
           (_ip(m.src[0]), m.src[1], _ip(m.dst[0]), m.dst[1]), w + " addresses")
        want_proto = "tcp" if b"SIP/2.0/TCP" in m.raw.split(b"\r\n\r\n")[0] else "udp"
        eq(r["proto"], want_proto, w + " transport")
        line = _first_line(m)
        if line.startswith("SIP/2.0 "):
            eq(r["status"], int(line.split()[1]), w + " status")
        else:
            eq(r["method"], line.split()[0], w + " method")
        cid = m.call_id if isinstance(m.call_id, str) else m.call_id.decode("latin-1")
        eq(r["call_id"], cid, w + " Call-ID")
    return rows


def check_pcap_bytes(path, msgs):
    """The raw SIP bytes of each record end with the message as sent (any link/IP/transport
    headers before it), in capture order."""
    recs = svclient.pcap_records(path)
    exp = sorted(msgs, key=lambda m: m.ts)
    eq(len(recs), len(exp), "pcap records")
    for i, ((ts, data), m) in enumerate(zip(recs, exp)):
        check(data.endswith(m.raw), "pcap record %d does not hold %s byte for byte" % (i + 1,
                                                                                     m.label))
        eq(ts, m.ts, "pcap record %d timestamp" % (i + 1))


def analyze(path):
    """sipvault-server --analyze path -> parsed quality.json."""
    p = subprocess.run([server_bin(), "--analyze", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise Failed("--analyze %s: status %d: %s" % (path, p.returncode, p.stderr.decode()))
    return json.loads(p.stdout)


def log_chunks(call_dir):
    """{chunk number: [lines]} of the log-NNNNNN.gz objects in a call directory."""
    out = {}
    if not os.path.isdir(call_dir):
        return out
    for f in os.listdir(call_dir):
        if f.startswith("log-") and f.endswith(".gz") and len(f) >= 13:
            n = int(f[4:-3])
            text = svclient.read_gz(os.path.join(call_dir, f)).decode("utf-8", errors="replace")
            out[n] = [ln for ln in text.split("\n") if ln != ""]
    return out


def check_logs(call_dir, lines, what="logs"):
    """Chunks are log-000001.gz .. contiguous, and together hold exactly lines, in order."""
    chunks = log_chunks(call_dir)
    if not lines:
        eq(chunks, {}, what + ": no log chunk expected")
        return chunks
    nums = sorted(chunks)
    eq(nums, list(range(1, len(nums) + 1)), what + ": chunk numbers")
    got = [ln for n in nums for ln in chunks[n]]
    eq(len(got), len(lines), what + ": line count")
    eq(got, list(lines), what + ": lines in order")
    return chunks
