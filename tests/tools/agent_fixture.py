"""agent_fixture - runs sipvault-agent for the integration tests (Python 3, stdlib only).

    with serverfixture.Server() as srv:
        ag = Agent(srv, sip_ports=[5060], iface="lo", log_file=path)
        ag.start()                      # live capture; ag.read(pcap) for --read
        ...
        ag.stop()                       # SIGTERM, expects exit 0

Every agent started is killed at exit (atexit), whatever happened. Helpers read SIP messages
back from captures and from the server's sip.pcap.gz objects with tshark (every SIP message
of a frame, with its Call-ID, CSeq and method/status), and find a call's object directory
without knowing its date.
"""

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverfixture  # noqa: E402
import svclient  # noqa: E402

_live = []


def _kill_all():
    for a in list(_live):
        a.kill()


atexit.register(_kill_all)


def agent_bin():
    d = os.environ.get("SV_BIN_DIR")
    if not d:
        raise RuntimeError("SV_BIN_DIR is not set")
    b = os.path.join(d, "sipvault-agent")
    if not os.access(b, os.X_OK):
        raise RuntimeError(b + " is not built")
    return b


class Agent:
    def __init__(self, srv=None, customer="acme", sip_ports=(5060,), rtp=(10000, 30000),
                 iface="lo", log_file=None, address=None, ring=None, ring_size="4M",
                 level="debug", tmp=None, token=None, server_opts=None):
        """server_opts: more [server] keys, e.g. {"heartbeat_interval": 1}."""
        self.tmp = tmp or tempfile.mkdtemp(prefix="sv-agent.")
        self.conf = os.path.join(self.tmp, "agent.conf")
        self.ring = ring or os.path.join(self.tmp, "buffer.dat")
        self.log_path = os.path.join(self.tmp, "agent.log")
        self.proc = None
        if address is None:
            address = "127.0.0.1:%d" % srv.tcp_port
        if token is None:
            token = srv.customer(customer)["token"]
        lines = ["[server]", "address = " + address, "customer_id = " + customer,
                 "token = " + token]
        lines += ["%s = %s" % (k, v) for k, v in sorted((server_opts or {}).items())]
        lines += ["", "[capture]", "mode = pcap",
                 "sip_ports = " + ",".join(str(p) for p in sip_ports),
                 "rtp_port_min = %d" % rtp[0], "rtp_port_max = %d" % rtp[1]]
        if iface:
            lines.append("interface = " + iface)
        if log_file:
            lines.append("log_file = " + log_file)
        lines += ["", "[buffer]", "path = " + self.ring, "max_size = " + ring_size, "",
                  "[logging]", "level = " + level, ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def _spawn(self, extra):
        log = open(self.log_path, "ab")
        log.write(b"==== start\n")
        log.flush()
        self.proc = subprocess.Popen([agent_bin(), "--config", self.conf] + extra,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        _live.append(self)
        return self

    def start(self, wait_capture=True, timeout=10.0):
        self._spawn([])
        if wait_capture:
            serverfixture.wait_until(lambda: "capturing on" in self.log_text() or
                                     self.proc.poll() is not None, timeout,
                                     what="agent capture start")
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited with %d:\n%s" % (self.proc.returncode,
                                                                  self.log_tail()))
            time.sleep(0.3)  # pcap activation finished; filter installed
        return self

    def read(self, pcap, timeout=60.0):
        """Runs --read to completion; returns (exit status, log text)."""
        self._spawn(["--read", pcap])
        try:
            self.proc.wait(timeout)
        finally:
            self.kill()
        return self.proc.returncode, self.log_text()

    def wait_log(self, text, timeout=10.0, count=1):
        return serverfixture.wait_until(lambda: self.log_text().count(text) >= count, timeout,
                                        what="agent log line %r" % text)

    def stop(self, timeout=15.0):
        if self.proc is None or self.proc.poll() is not None:
            rc = self.proc.returncode if self.proc else None
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise RuntimeError("agent did not exit within %.0f s of SIGTERM" % timeout)
        if self in _live:
            _live.remove(self)
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)
        if self in _live:
            _live.remove(self)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self in _live:
            _live.remove(self)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


# --------------------------------------------------------------------------- reading SIP back

def sip_messages(pcap_path, tshark="/usr/bin/tshark"):
    """Every SIP message tshark finds in a capture (several per TCP segment included), in
    order, as dicts: call_id, cseq ("1 INVITE"), method ("" for responses), status (0 for
    requests), frame number."""
    if not os.access(tshark, os.X_OK):
        raise RuntimeError("tshark not found at " + tshark)
    fields = ["frame.number", "sip.Call-ID", "sip.CSeq", "sip.Method", "sip.Status-Code",
              "sip.Request-Line", "sip.Status-Line"]
    cmd = [tshark, "-n", "-r", pcap_path, "-Y", "sip", "-T", "fields", "-E", "separator=\x01",
           "-E", "occurrence=a", "-E", "aggregator=\x02", "-o", "sip.desegment_body:TRUE"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("tshark failed: " + p.stderr.decode(errors="replace"))
    out = []
    for line in p.stdout.decode("utf-8", errors="replace").splitlines():
        v = line.split("\x01")
        v += [""] * (len(fields) - len(v))
        cids = v[1].split("\x02") if v[1] else []
        cseqs = v[2].split("\x02") if v[2] else []
        nreq = len(v[5].split("\x02")) if v[5] else 0
        nresp = len(v[6].split("\x02")) if v[6] else 0
        for i, cid in enumerate(cids):
            cseq = cseqs[i] if i < len(cseqs) else ""
            # one message per frame is the rule; with several, a frame of only requests or
            # only responses is still exact
            is_req = nreq > 0 and (nresp == 0 or i < nreq)
            out.append({"frame": int(v[0]), "call_id": cid, "cseq": " ".join(cseq.split()),
                        "is_request": is_req})
    return out


def dialogs(msgs):
    """{Call-ID: [cseq...]} of the INVITE dialogs: the messages of each Call-ID from its first
    INVITE request on (what the agent ships)."""
    out = {}
    for m in msgs:
        cid = m["call_id"]
        if cid in out:
            out[cid].append(m["cseq"])
        elif m["cseq"].endswith(" INVITE") and m.get("is_request", True):
            out[cid] = [m["cseq"]]
    return out


def call_dirs(srv, bucket):
    """{call_key: absolute directory} of every call stored in bucket."""
    out = {}
    root = srv.objects_root(bucket)
    calls = os.path.join(root, "calls")
    if not os.path.isdir(calls):
        return out
    for dp, dns, _ in os.walk(calls):
        rel = os.path.relpath(dp, calls).split(os.sep)
        if len(rel) == 4:  # YYYY/MM/DD/call_key
            out[rel[3]] = dp
            dns[:] = []
    return out


def call_dir(srv, bucket, call_id):
    return call_dirs(srv, bucket).get(svclient.call_key(call_id))


def wait_call(srv, bucket, call_id, name="sip.pcap.gz", timeout=15.0):
    def ok():
        d = call_dir(srv, bucket, call_id)
        return d if d and os.path.exists(os.path.join(d, name)) else None
    return serverfixture.wait_until(ok, timeout, 0.1, "objects of call %s" % call_id)


def stored_cseqs(call_dir):
    """CSeq ("1 INVITE") of every record of a call's sip.pcap.gz, in file order, read in
    Python (one record per SIP message; fast for captures with many calls)."""
    import re
    out = []
    for _, data in svclient.pcap_records(os.path.join(call_dir, "sip.pcap.gz")):
        m = re.search(rb"\r\nCSeq[ \t]*:[ \t]*(\d+)[ \t]+([A-Za-z]+)", data)
        out.append("%s %s" % (m.group(1).decode(), m.group(2).decode()) if m else "?")
    return out
