"""agent_traffic - real traffic on loopback for the agent tests: sipp UAS/UAC calls with a
known Call-ID, RTCP sent between the SDP endpoints, proxy-style log lines.

    uas = Uas("udp", 15060, 20100).start()
    call = Call("udp", uas_port=15060, uac_port=15061, media_port=20000, hold_ms=1500).start()
    call.call_id                       # agentd-1-<pid>@127.0.0.1
    send_rtcp(call, ...); logw.line(call.call_id, "...")
    call.wait()
"""

import atexit
import base64
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svclient  # noqa: E402

SIPP = "/usr/bin/sipp"
_procs = []


def _kill_all():
    for p in list(_procs):
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_all)


def _sipp(args, cwd):
    if not os.access(SIPP, os.X_OK):
        raise RuntimeError("sipp not found at " + SIPP + " (Debian package sip-tester)")
    p = subprocess.Popen([SIPP] + args + ["-nostdin"], cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _procs.append(p)
    return p


class Uas:
    def __init__(self, transport, port, media_port, cwd):
        self.args = ["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port)]
        if transport == "tcp":
            self.args += ["-t", "t1"]
        self.cwd = cwd
        self.proc = None

    def start(self):
        # A port still held for a moment by a sipp of an earlier test (EADDRINUSE, errno 98)
        # is waited for, up to ~5 s; any other failure is final.
        for attempt in range(10):
            self.proc = _sipp(self.args, self.cwd)
            time.sleep(0.3)
            if self.proc.poll() is None:
                return self
            err = self.proc.stderr.read().decode()
            if "errno = 98" not in err or attempt == 9:
                raise RuntimeError("sipp UAS exited: " + err)
            time.sleep(0.2)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Call:
    """One sipp UAC call (built-in uac and uas scenarios: INVITE, 180, 200, ACK, pause, BYE, 200)."""

    def __init__(self, transport, uas_port, uac_port, media_port, hold_ms, cwd):
        self.transport = transport
        self.args = ["-sn", "uac", "127.0.0.1:%d" % uas_port, "-i", "127.0.0.1", "-p",
                     str(uac_port), "-mp", str(media_port), "-m", "1", "-l", "1", "-d",
                     str(hold_ms), "-cid_str", "agentd-%u-%p@%s", "-timeout", "20"]
        if transport == "tcp":
            self.args += ["-t", "t1"]
        self.cwd = cwd
        self.media_port = media_port
        self.proc = None
        self.call_id = None

    def start(self):
        self.proc = _sipp(self.args, self.cwd)
        self.call_id = "agentd-1-%d@127.0.0.1" % self.proc.pid
        return self

    def wait(self, timeout=20):
        rc = self.proc.wait(timeout)
        if rc != 0:
            raise RuntimeError("sipp UAC %s: exit %d: %s" % (self.call_id, rc,
                                                           self.proc.stderr.read().decode()))


def send_rtcp(dst_port, ssrc, n, src_port=None):
    """Sends n distinct RTCP SR packets (SR + SDES) from 127.0.0.1 (ephemeral port, or
    src_port) to 127.0.0.1:dst_port; returns their bytes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if src_port:
        s.bind(("127.0.0.1", src_port))
    out = []
    for i in range(n):
        pkt = svclient.rtcp_sr(ssrc, time.time_ns(), rtp_ts=1000 * (i + 1), packets=50 * (i + 1),
                               octets=8000 * (i + 1)) + svclient.rtcp_sdes(ssrc, "agentd@lo")
        s.sendto(pkt, ("127.0.0.1", dst_port))
        out.append(pkt)
        time.sleep(0.05)
    s.close()
    return out


def rtcp_raw(report):
    return base64.b64decode(report["raw"]) if report.get("raw") else None


class LogWriter:
    """Appends proxy-style lines to a log file (opened per line, O_APPEND, like a syslog
    daemon) and remembers, per Call-ID, the lines written."""

    def __init__(self, path):
        self.path = path
        self.lines = {}
        self.n = 0

    def line(self, call_id, text):
        self.n += 1
        ln = "Nov 26 10:00:%02d proxy opensips[123]: [%s] %s #%d" % (self.n % 60, call_id,
                                                                     text, self.n)
        with open(self.path, "a") as f:
            f.write(ln + "\n")
        self.lines.setdefault(call_id, []).append(ln)
        return ln

    def noise(self, text="ACC: OPTIONS from 10.0.0.1 keepalive"):
        self.n += 1
        with open(self.path, "a") as f:
            f.write("Nov 26 10:00:00 proxy opensips[123]: %s #%d\n" % (text, self.n))
