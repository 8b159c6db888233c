"""sipvault-agent under faults, capturing real sipp calls on "lo": the server down at start,
the server killed (SIGKILL) and restarted mid-call, a handshake never answered, the agent
killed with kill -9 while buffering and restarted, log rotation (rename + create, then
copytruncate) while lines are written. Every call is complete afterwards (exactly the SIP
messages, RTCP reports and log lines sent), nothing duplicated."""

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("SV_SOURCE_DIR", "."), "tests", "tools"))
import agent_fixture as af  # noqa: E402
import agent_traffic as at  # noqa: E402
import serverfixture as sf  # noqa: E402
import svclient  # noqa: E402
from serverfixture import check, eq  # noqa: E402

BUCKET = "acme-calls"
ENV = {"SIPVAULT_CLOSING_GRACE": "1"}
EXPECTED = ["1 INVITE"] * 3 + ["1 ACK", "2 BYE", "2 BYE"]
SIP_PORTS = [15070, 15072]
PORTS = {"udp": (15070, 15071), "tcp": (15072, 15073)}
UAS_MEDIA = {"udp": 21100, "tcp": 21200}
_media = [21000]


class Env:
    """A tmp dir, a log file, the UASs, a server object (maybe not started yet)."""

    def __init__(self, name):
        self.tmp = tempfile.mkdtemp(prefix="sv-agentfault.")
        self.log_path = os.path.join(self.tmp, "opensips.log")
        open(self.log_path, "w").close()
        self.logw = at.LogWriter(self.log_path)
        self.srv = sf.Server(env=ENV, name=name)
        self.uas = [at.Uas("udp", PORTS["udp"][0], UAS_MEDIA["udp"], self.tmp).start(),
                    at.Uas("tcp", PORTS["tcp"][0], UAS_MEDIA["tcp"], self.tmp).start()]
        self.agents = []
        self.done = []

    def pick_ports(self):
        s = self.srv
        s.tcp_port = sf.free_port()
        s.hep_port = sf.free_port(socket.SOCK_DGRAM)
        s.metrics_port = sf.free_port()

    def start_server(self):
        self.srv._spawn(10.0)  # on the ports chosen before (the agent already knows them)

    def agent(self, ring=None):
        a = af.Agent(self.srv, sip_ports=SIP_PORTS, rtp=(21000, 21999), iface="lo",
                     log_file=self.log_path, tmp=tempfile.mkdtemp(dir=self.tmp), ring=ring,
                     address="127.0.0.1:%d" % self.srv.tcp_port)
        self.agents.append(a)
        return a

    def call(self, tr, hold_ms=1200, during=None):
        media = _media[0]
        _media[0] += 10
        c = at.Call(tr, PORTS[tr][0], PORTS[tr][1], media, hold_ms, self.tmp).start()
        time.sleep(0.6)
        sent = at.send_rtcp(media + 1, 0x3000 + media, 1)
        sent += at.send_rtcp(UAS_MEDIA[tr] + 1, 0x4000 + media, 1)
        self.logw.line(c.call_id, "call up")
        self.logw.noise()
        if during:
            during(c)
        c.wait()
        self.logw.line(c.call_id, "call ended")
        self.done.append((c, sent))
        return c

    def check(self, timeout=30):
        for c, sent in self.done:
            d = af.wait_call(self.srv, BUCKET, c.call_id, "rtcp.json.gz", timeout=timeout)
            eq(af.stored_cseqs(d), EXPECTED, c.call_id + " SIP messages")
            doc = json.loads(svclient.read_gz(os.path.join(d, "rtcp.json.gz")))
            eq(sorted(at.rtcp_raw(r) for r in doc["reports"]), sorted(p[:28] for p in sent),
               c.call_id + " RTCP reports")
            sf.check_logs(d, self.logw.lines[c.call_id], c.call_id + " log lines")

    def close(self, failed=False):
        for u in self.uas:
            u.stop()
        for a in self.agents:
            if failed:
                print("---- agent log ----\n" + a.log_tail(40))
            a.kill()
        if failed:
            print("---- server log ----\n" + self.srv.log_tail(30))
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)


def scenario(name, fn):
    e = Env(name)
    ok = False
    try:
        fn(e)
        ok = True
    finally:
        e.close(failed=not ok)


def test_server_down_at_start():
    def body(e):
        e.pick_ports()
        ag = e.agent().start()
        e.call("udp")
        e.call("tcp")
        time.sleep(0.5)
        check("frames buffered" in ag.log_text() or "retrying" in ag.log_text(),
              "agent did not notice the server is down")
        e.start_server()
        ag.wait_log("connected to", timeout=20)
        e.check()
        eq(ag.stop(), 0, "agent exit")
    scenario("down", body)


def test_server_killed_mid_call():
    def body(e):
        e.pick_ports()
        e.start_server()
        ag = e.agent().start()
        ag.wait_log("connected to")

        def crash(c):
            e.srv.kill()  # SIGKILL
            e.logw.line(c.call_id, "while the server is down")
            time.sleep(0.5)
            e.start_server()
        e.call("udp", hold_ms=2500, during=crash)
        e.call("tcp")
        ag.wait_log("connected to", count=2, timeout=20)
        e.check()
        eq(ag.stop(), 0, "agent exit")
    scenario("killed", body)


def test_handshake_never_answered():
    def body(e):
        e.pick_ports()
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", e.srv.tcp_port))
        lsock.listen(16)
        held = []
        stop = threading.Event()

        def silent():  # accepts, reads, never answers
            lsock.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = lsock.accept()
                    held.append(conn)
                except OSError:
                    pass
        th = threading.Thread(target=silent, daemon=True)
        th.start()
        ag = e.agent().start()
        e.call("udp")
        ag.wait_log("no HANDSHAKE_ACK", timeout=15)
        check(held, "the agent never connected to the silent listener")
        stop.set()
        th.join()
        lsock.close()
        for c in held:
            c.close()
        e.start_server()
        ag.wait_log("connected to", timeout=40)
        e.check()
        eq(ag.stop(), 0, "agent exit")
    scenario("silent", body)


def test_agent_kill9_while_buffering():
    def body(e):
        e.pick_ports()
        ag = e.agent().start()
        e.call("udp")
        e.call("tcp")
        time.sleep(0.5)  # well past the 20 ms flush: the frames are synced to the ring
        ag.kill9()
        e.start_server()
        ag2 = e.agent(ring=ag.ring).start()
        ag2.wait_log("connected to", timeout=20)
        check(" 0 unacknowledged frames recovered" not in ag2.log_text(),
              "nothing recovered from the ring")
        e.check()
        eq(ag2.stop(), 0, "agent exit")
        # a third start finds nothing left to send
        ag3 = e.agent(ring=ag.ring).start()
        ag3.wait_log("connected to", timeout=20)
        eq(ag3.stop(), 0, "agent exit")
        check(" 0 unacknowledged frames recovered" in ag3.log_text(),
              "acknowledged frames were still in the ring:\n" + ag3.log_tail(10))
    scenario("kill9", body)


def test_log_rotation_under_load():
    def body(e):
        e.pick_ports()
        e.start_server()
        ag = e.agent().start()
        ag.wait_log("connected to")

        def rotate(c):
            stop = threading.Event()

            def writer():
                while not stop.is_set():
                    e.logw.line(c.call_id, "load line")
                    e.logw.noise()
                    time.sleep(0.005)
            th = threading.Thread(target=writer, daemon=True)
            th.start()
            time.sleep(0.5)
            os.rename(e.log_path, e.log_path + ".1")  # rename + create
            open(e.log_path, "a").close()
            time.sleep(0.7)
            shutil.copyfile(e.log_path, e.log_path + ".2")  # copytruncate
            with open(e.log_path, "r+") as f:
                f.truncate(0)
            time.sleep(0.7)
            stop.set()
            th.join()
        e.call("udp", hold_ms=3000, during=rotate)
        e.check()
        n = len(e.logw.lines[e.done[0][0].call_id])
        check(n > 100, "only %d lines written" % n)
        text = ag.log_text()
        check("was rotated (new file)" in text, "rename + create not noticed")
        check("(copytruncate): read the rest from" in text, "copytruncate not noticed")
        eq(ag.stop(), 0, "agent exit")
    scenario("rotate", body)


if __name__ == "__main__":
    sf.run_tests(globals())
