"""sipvault-agent --read: third-party captures into a real server. For every INVITE dialog
tshark finds in a capture, the call's sip.pcap.gz holds the same SIP messages (count, CSeq
and method, in order); out-of-dialog requests are not shipped; RTCP of the SDP endpoints
is shipped; --read exits 0 once the server acknowledged everything, and also (saying so)
when the server is unreachable and the frames stay in the disk buffer."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("SV_SOURCE_DIR", "."), "tests", "tools"))
import agent_fixture as af  # noqa: E402
import serverfixture as sf  # noqa: E402
from serverfixture import check, eq  # noqa: E402

DATA = os.path.join(os.environ.get("SV_SHARED_DATA", "/work/shared/data"), "pcap")
ENV = {"SIPVAULT_PENDING_TIMEOUT": "2", "SIPVAULT_ACTIVE_TIMEOUT": "3"}
BUCKET = "acme-calls"

CAPTURES = [
    # file, sip_ports, rtp range
    ("sipnab/rtp-protocol.pcap", [5060], (10000, 30000)),
    ("heplify/sip_ipv4_tcp.pcap", [5060], (10000, 30000)),
    ("heplify/rtp_rtcp_sip_ipv4_udp.pcap", [5060, 5061], (1024, 65535)),
    ("sipnab/sipp-branch-scenario.pcapng", [5060, 5061], (10000, 30000)),
]


def counter(log, name):
    m = re.search(name + r" (\d+)", log)
    check(m, "no %r in the agent's exit line" % name)
    return int(m.group(1))


def import_and_check(srv, rel, ports, rtp):
    path = os.path.join(DATA, rel)
    check(os.path.exists(path), "missing capture " + path)
    want = af.dialogs(af.sip_messages(path))
    check(want, rel + ": tshark finds no INVITE dialog")
    ag = af.Agent(srv, sip_ports=ports, rtp=rtp, iface=None, level="info")
    rc, log = ag.read(path)
    eq(rc, 0, rel + ": --read exit status (log:\n%s)" % log[-2000:])
    check("the server acknowledged every frame" in log, rel + ": no acknowledgement line")
    eq(counter(log, "sip sent"), sum(len(v) for v in want.values()), rel + ": SIP frames")
    keys = {cid: af.svclient.call_key(cid) for cid in want}

    def all_there():
        dirs = af.call_dirs(srv, BUCKET)
        ok = all(k in dirs and os.path.exists(os.path.join(dirs[k], "sip.pcap.gz"))
                 for k in keys.values())
        return dirs if ok else None
    dirs = sf.wait_until(all_there, 30, 0.2, rel + ": every call's objects")
    for i, (cid, cseqs) in enumerate(want.items()):
        d = dirs[keys[cid]]
        if i < 3:  # tshark reads the stored file back (the first calls of each capture)
            got = [m["cseq"] for m in af.sip_messages(os.path.join(d, "sip.pcap.gz"))]
            eq(got, cseqs, "%s: call %s messages (tshark)" % (rel, cid))
        eq(af.stored_cseqs(d), cseqs, "%s: call %s messages" % (rel, cid))
    return log


def test_third_party_captures():
    with sf.Server(env=ENV, name="agentread") as srv:
        for rel, ports, rtp in CAPTURES:
            log = import_and_check(srv, rel, ports, rtp)
            if rel.startswith("heplify/rtp_rtcp"):
                # 28 RTCP packets: 14 between the SDP endpoints of call 12013223
                # (40377 <-> 8001) and 14 on the relay's other leg (40379 <-> 4801), matched
                # by the sender SSRC learned on the first leg; frame 521 comes from 4801 with
                # SSRC 0x58f33dea before that SSRC was seen on the first leg (frame 523), so
                # it matches nothing: 27 shipped, 1 unmatched
                eq(counter(log, "rtcp"), 27, "RTCP frames")
                eq(counter(log, "unmatched"), 1, "unmatched RTCP")
                d = af.wait_call(srv, BUCKET, "12013223@200.57.7.195", "rtcp.json.gz")
                check(os.path.getsize(os.path.join(d, "rtcp.json.gz")) > 40, "rtcp.json.gz empty")
                # the REGISTERs are out of dialog: never shipped
                check(af.call_dir(srv, BUCKET, "46E1C3CB36304F84A020CF6DD3F96461@Verso.com")
                      is None, "a REGISTER made a call")


def test_server_unreachable():
    with sf.Server(env=ENV, name="agentread2") as srv:
        port = srv.tcp_port
        srv.stop()
        ag = af.Agent(srv, address="127.0.0.1:%d" % port, iface=None, level="info")
        path = os.path.join(DATA, "sipnab/rtp-protocol.pcap")
        rc, log = ag.read(path)
        eq(rc, 0, "--read with the server down")
        check("frames are kept in the disk buffer" in log, "no buffer line:\n" + log[-1500:])
        # the next run (server back) delivers the buffered frames, once
        srv.restart()
        ag2 = af.Agent(srv, ring=ag.ring, iface=None, level="info")
        rc, log = ag2.read(os.path.join(DATA, "heplify/sip_ipv4_tcp.pcap"))
        eq(rc, 0, "second --read")
        d = af.wait_call(srv, BUCKET, "1907983263271201083544@10.33.6.101", timeout=20)
        got = [m["cseq"] for m in af.sip_messages(os.path.join(d, "sip.pcap.gz"))]
        eq(len(got), 9, "buffered call delivered once")


def _tls_proxy(srv, tmp):
    """A TLS terminator on 127.0.0.1 in front of the server's agent port (Python ssl, one
    thread per connection). Returns (port, ca file, stop function)."""
    import socket
    import ssl
    import subprocess
    import threading
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(0.2)
    stop = threading.Event()

    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.close()
            except OSError:
                pass

    def serve():
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            try:
                c.settimeout(None)
                t = ctx.wrap_socket(c, server_side=True)
                u = socket.create_connection(srv.tcp_addr)
            except OSError:
                c.close()
                continue
            threading.Thread(target=pipe, args=(t, u), daemon=True).start()
            threading.Thread(target=pipe, args=(u, t), daemon=True).start()
    th = threading.Thread(target=serve, daemon=True)
    th.start()

    def halt():
        stop.set()
        th.join()
        ls.close()
    return ls.getsockname()[1], cert, halt


def test_tls():
    import tempfile
    with sf.Server(env=ENV, name="agenttls") as srv:
        tmp = tempfile.mkdtemp(prefix="sv-agenttls.")
        port, ca, halt = _tls_proxy(srv, tmp)
        try:
            ag = af.Agent(srv, address="127.0.0.1:%d" % port, iface=None, level="info")
            with open(ag.conf) as f:
                text = f.read().replace("[capture]", "tls = on\nca_file = %s\n\n[capture]" % ca)
            with open(ag.conf, "w") as f:
                f.write(text)
            rc, log = ag.read(os.path.join(DATA, "sipnab/rtp-protocol.pcap"))
            eq(rc, 0, "--read over TLS")
            check("over TLS" in log and "acknowledged every frame" in log, log[-1500:])
            d = af.wait_call(srv, BUCKET, "1907983263271201083544@10.33.6.101", timeout=20)
            eq(len(af.stored_cseqs(d)), 9, "call over TLS")
            # a CA that did not sign the server's certificate: refused, frames kept
            bad = af.Agent(srv, address="127.0.0.1:%d" % port, iface=None, level="info")
            with open(bad.conf) as f:
                text = f.read().replace("[capture]", "tls = on\nca_file = /etc/ssl/certs/"
                                        "ca-certificates.crt\n\n[capture]")
            with open(bad.conf, "w") as f:
                f.write(text)
            rc, log = bad.read(os.path.join(DATA, "sipnab/rtp-protocol.pcap"))
            eq(rc, 0, "--read with an untrusted server")
            check("TLS:" in log and "kept in the disk buffer" in log, log[-1500:])
        finally:
            halt()
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sf.run_tests(globals())
