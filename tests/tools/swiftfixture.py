"""swiftfixture - a real S3 server for the tests: OpenStack Swift with s3api on loopback.

    with Swift() as s3:                     # or: s3 = Swift(); s3.start(); ...; s3.stop()
        s3.endpoint, s3.access_key, s3.secret_key, s3.region
        os.environ.update(s3.env())         # SIPVAULT_S3_ENDPOINT, ..._REGION, ..._ACCESS_KEY, ..._SECRET_KEY

    /usr/bin/python3 tests/tools/swiftfixture.py run     # prints the env lines, waits until killed

Why Swift: it verifies AWS Signature V4 (s3rver does not), so a wrong secret, a wrong region or a
wrong payload hash are refused the way R2 refuses them. Layout, in a fresh temporary directory:

- memcached on a free 127.0.0.1 port (s3api/tempauth cache tokens there);
- one ring each for account, container and object: one device (a plain directory,
  mount_check = false), one replica, part_power 6;
- account, container and object servers and the proxy, each `workers = 0` (one process, no fork),
  on free 127.0.0.1 ports;
- proxy pipeline `catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy
  proxy-logging proxy-server`, `[filter:s3api] location = auto`, path-style addressing.

Credentials: tempauth user `test:tester`, key `testing`. Swift's s3api takes the access key as
tempauth's "account:user" name, so the access key is "test:tester" (the colon is harmless in
SigV4: the credential scope is split on '/'). Region "auto"; s3api's `location = auto` makes Swift
check that the request is scoped to "auto", so a different region is refused with 400.

The Swift processes need Debian's python3-swift, so they always run under /usr/bin/python3 (or
$SV_SWIFT_PYTHON); this module itself uses only the standard library and runs under any Python 3.
Every process started is killed at stop(), at interpreter exit and on SIGTERM; the temporary
directory is removed unless SV_KEEP_TMP is set (its path is then printed).
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request

SWIFT_PYTHON = os.environ.get("SV_SWIFT_PYTHON", "/usr/bin/python3")
MEMCACHED = os.environ.get("SV_MEMCACHED", "memcached")

ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"
REGION = "auto"

_live = []


def _kill_all():
    for s in list(_live):
        s.stop()


atexit.register(_kill_all)


def _die_with_parent():
    # In the child, before exec: SIGKILL when the fixture process dies, even by SIGKILL, so a
    # crashed test run leaves no Swift behind.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Runs one Swift WSGI server in this process (workers = 0). Swift reads swift.conf from
# /etc/swift unless told otherwise, and logs to syslog (/dev/log, else UDP :514): point it at
# our directory and send its log lines to stderr instead.
_SERVER_MAIN = r"""
import logging, sys
import swift.common.utils as u
u.ThreadSafeSysLogHandler = lambda *a, **k: logging.NullHandler()
u.set_swift_dir(sys.argv[1])
import swift.common.storage_policy as sp
sp.reload_storage_policies()
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[2], sys.argv[3], verbose=True))
"""

# Builds the three rings with one device each (one replica).
_RING_MAIN = r"""
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for name, port in (("account", sys.argv[2]), ("container", sys.argv[3]), ("object", sys.argv[4])):
    b = RingBuilder(6, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d0", "weight": 100.0, "meta": ""})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (d, name))
    b.save("%s/%s.builder" % (d, name))
"""


class Swift:
    def __init__(self, verbose=False):
        self.verbose = verbose or bool(os.environ.get("SV_SWIFT_VERBOSE"))
        self.dir = None
        self.procs = []
        self.endpoint = None
        self.port = None
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self._log = None

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self, timeout=20.0):
        """Starts memcached and Swift; returns (endpoint, access_key, secret_key, region)."""
        if self.endpoint is not None:
            return self.creds()
        _live.append(self)
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self.creds()

    def creds(self):
        return (self.endpoint, self.access_key, self.secret_key, self.region)

    def env(self):
        """The environment variables a SIP VAULT program reads for its S3 store."""
        return {
            "SIPVAULT_S3_ENDPOINT": self.endpoint,
            "SIPVAULT_S3_REGION": self.region,
            "SIPVAULT_S3_ACCESS_KEY": self.access_key,
            "SIPVAULT_S3_SECRET_KEY": self.secret_key,
        }

    def stop(self):
        """Kills every process started (SIGTERM, then SIGKILL) and removes the directory."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.monotonic() + 3.0
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
            else:
                # The server may have left children in its group (it should not: workers = 0).
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
        self.procs = []
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir is not None:
            if os.environ.get("SV_KEEP_TMP"):
                sys.stderr.write("swiftfixture: kept %s\n" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        self.endpoint = None
        if self in _live:
            _live.remove(self)

    def pause(self):
        """Stops the proxy (SIGSTOP): requests hang until resume(). For outage tests."""
        os.killpg(self.procs[-1].pid, signal.SIGSTOP)

    def resume(self):
        os.killpg(self.procs[-1].pid, signal.SIGCONT)

    def log_text(self):
        """Everything the Swift processes printed so far (for test failure messages)."""
        if self.dir is None:
            return ""
        with open(os.path.join(self.dir, "swift.log"), "r", errors="replace") as f:
            return f.read()

    # ---------------------------------------------------------------- internals
    def _spawn(self, argv):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                             start_new_session=True, cwd=self.dir, preexec_fn=_die_with_parent)
        self.procs.append(p)
        return p

    def _start(self, timeout):
        d = self.dir = tempfile.mkdtemp(prefix="sv-swift-")
        os.makedirs(os.path.join(d, "srv", "d0"))
        os.makedirs(os.path.join(d, "run"))
        self._log = open(os.path.join(d, "swift.log"), "ab")
        mc, acc, con, obj, proxy = (free_port() for _ in range(5))

        mc_argv = [MEMCACHED, "-l", "127.0.0.1", "-p", str(mc), "-U", "0", "-m", "16", "-t", "1",
                   "-c", "256"]
        if os.geteuid() == 0:
            mc_argv += ["-u", "root"]  # memcached refuses to run as root without it
        self._spawn(mc_argv)
        common = textwrap.dedent("""\
            [DEFAULT]
            swift_dir = {d}
            devices = {d}/srv
            mount_check = false
            bind_ip = 127.0.0.1
            bind_port = {port}
            workers = 0
            log_level = {level}
            log_name = {name}
            disable_fallocate = true
            """)
        level = "DEBUG" if self.verbose else "WARNING"
        with open(os.path.join(d, "swift.conf"), "w") as f:
            f.write(textwrap.dedent("""\
                [swift-hash]
                swift_hash_path_suffix = sipvault-test
                swift_hash_path_prefix = sipvault
                [storage-policy:0]
                name = default
                default = yes
                """))
        for name, port in (("account", acc), ("container", con), ("object", obj)):
            with open(os.path.join(d, "%s-server.conf" % name), "w") as f:
                f.write(common.format(d=d, port=port, level=level, name=name))
                f.write(textwrap.dedent("""\
                    [pipeline:main]
                    pipeline = {name}-server
                    [app:{name}-server]
                    use = egg:swift#{name}
                    """).format(name=name))
        with open(os.path.join(d, "proxy-server.conf"), "w") as f:
            f.write(common.format(d=d, port=proxy, level=level, name="proxy"))
            f.write(textwrap.dedent("""\
                [pipeline:main]
                pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy proxy-logging proxy-server
                [app:proxy-server]
                use = egg:swift#proxy
                account_autocreate = true
                [filter:catch_errors]
                use = egg:swift#catch_errors
                [filter:gatekeeper]
                use = egg:swift#gatekeeper
                [filter:proxy-logging]
                use = egg:swift#proxy_logging
                [filter:cache]
                use = egg:swift#memcache
                memcache_servers = 127.0.0.1:{mc}
                [filter:listing_formats]
                use = egg:swift#listing_formats
                [filter:s3api]
                use = egg:swift#s3api
                location = auto
                dns_compliant_bucket_names = true
                max_bucket_listing = 1000
                max_multi_delete_objects = 1000
                [filter:tempauth]
                use = egg:swift#tempauth
                user_test_tester = testing .admin
                [filter:copy]
                use = egg:swift#copy
                """).format(mc=mc))

        r = subprocess.run([SWIFT_PYTHON, "-c", _RING_MAIN, d, str(acc), str(con), str(obj)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=d)
        if r.returncode != 0:
            raise RuntimeError("swiftfixture: ring build failed:\n" + r.stdout.decode(errors="replace"))

        for name in ("account", "container", "object", "proxy"):
            self._spawn([SWIFT_PYTHON, "-c", _SERVER_MAIN, d,
                         os.path.join(d, "%s-server.conf" % name), "%s-server" % name])

        self.port = proxy
        self.endpoint = "http://127.0.0.1:%d" % proxy
        deadline = time.monotonic() + timeout
        for name, port in (("memcached", mc), ("account", acc), ("container", con),
                           ("object", obj), ("proxy", proxy)):
            self._wait_port(name, port, deadline)
        # Readiness: the proxy answers through the whole pipeline and s3api is in it: a
        # ListBuckets with a bogus (V2) signature is refused with an S3 XML error.
        probe = urllib.request.Request(self.endpoint + "/", headers={
            "Authorization": "AWS %s:bogus" % self.access_key,
            "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())})
        while True:
            try:
                urllib.request.urlopen(probe, timeout=2).read()
                break
            except urllib.error.HTTPError as e:
                body = e.read()
                if b"<Error>" in body or b"<?xml" in body:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("swiftfixture: proxy answered %d without s3api:\n%s" % (
                        e.code, body[:300]))
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("swiftfixture: proxy not answering:\n" + self.log_text())
            time.sleep(0.05)

    def _wait_port(self, name, port, deadline):
        while True:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("swiftfixture: a process exited (%s) with %d:\n%s" % (
                        " ".join(p.args[:2]), p.returncode, self.log_text()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("swiftfixture: %s not listening on %d:\n%s" % (
                        name, port, self.log_text()))
                time.sleep(0.05)


def _main(argv):
    if len(argv) < 2 or argv[1] not in ("run",):
        sys.stderr.write("usage: swiftfixture.py run\n"
                         "  starts Swift+s3api on 127.0.0.1, prints the S3 settings as\n"
                         "  NAME=value lines, and runs until killed (SIGTERM/SIGINT)\n")
        return 2
    s = Swift()
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        s.start()
        for k, v in s.env().items():
            sys.stdout.write("%s=%s\n" % (k, v))
        sys.stdout.write("SWIFTFIXTURE_PID=%d\n" % os.getpid())
        sys.stdout.flush()
        while not stop:
            time.sleep(0.2)
    finally:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
