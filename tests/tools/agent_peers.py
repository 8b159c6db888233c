"""agent_peers - what the agent talks to in the network tests (Python 3, stdlib only).

    ref = RefServer(caps=None).start()      # a reference-server emulator on a free port
    ...; ref.frames(DATA_SIP)               # every frame received, per connection
    relay = Relay(target_port).start()      # agent -> relay.port -> target
    relay.blackhole(); relay.restore()      # stop / resume forwarding, no FIN, no RST
    write_calls_pcap(path, n_calls, ...)    # a capture of SIP calls with RTCP (and RTP)

RefServer answers the HANDSHAKE the way the reference server does (status 0, no capabilities
field) unless caps is given (then it appends the accepted capabilities, like sipvault-server),
answers HEARTBEAT with HEARTBEAT_ACK and, with "ack", acknowledges every frame it read. It can
be muted (reads, answers nothing). Relay forwards bytes both ways between a client and a
target; blackhole() makes it stop reading and writing on every connection, present and new
(connections are accepted and held), without closing anything, as a network that silently
drops packets would; restore() resumes forwarding on all of them (queued bytes flow again).
"""

import os
import selectors
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svclient as sc  # noqa: E402


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _listener(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    return ls


# --------------------------------------------------------------------------- reference server

class Frame:
    def __init__(self, conn, ftype, seq, payload, t):
        self.conn, self.type, self.seq, self.payload, self.t = conn, ftype, seq, payload, t

    def __repr__(self):
        return "Frame(conn=%d, type=%#x, seq=%d, %d bytes)" % (self.conn, self.type, self.seq,
                                                              len(self.payload))


class RefServer:
    """caps: None = the reference server (HANDSHAKE_ACK without the capabilities field);
    else the accepted capability names, e.g. "ack,stats"."""

    def __init__(self, port=None, caps=None):
        self.port = port or _free_port()
        self.caps = caps
        self.ack = caps is not None and "ack" in [c.strip() for c in caps.split(",")]
        self.muted = False
        self.handshakes = []  # (conn number, customer, token, version, offered caps)
        self.closes = []      # (conn number, monotonic time of EOF/error)
        self._frames = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns = []
        self._ls = None
        self._th = []

    def start(self):
        self._ls = _listener(self.port)
        self._ls.settimeout(0.2)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._th.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._th:
            t.join(5)
        if self._ls:
            self._ls.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass

    def mute(self, on=True):
        self.muted = on

    def frames(self, ftype=None, conn=None):
        with self._lock:
            return [f for f in self._frames if (ftype is None or f.type == ftype) and
                    (conn is None or f.conn == conn)]

    def connections(self):
        with self._lock:
            return len(self.handshakes)

    def _accept(self):
        n = 0
        while not self._stop.is_set():
            try:
                c, _ = self._ls.accept()
            except OSError:
                continue
            n += 1
            self._conns.append(c)
            t = threading.Thread(target=self._serve, args=(c, n), daemon=True)
            t.start()
            self._th.append(t)

    def _serve(self, c, n):
        rd = sc.Reader()
        c.settimeout(0.2)
        shaken = False
        try:
            while not self._stop.is_set():
                try:
                    data = c.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                rd.feed(data)
                last = None
                while True:
                    fr = rd.next()
                    if fr is None:
                        break
                    ftype, seq, payload = fr
                    if not shaken:
                        if ftype != sc.HANDSHAKE:
                            raise ValueError("first frame is not a HANDSHAKE: %#x" % ftype)
                        cust, off = sc._rd_str(payload, 0)
                        tok, off = sc._rd_str(payload, off)
                        ver, off = sc._rd_str(payload, off)
                        offered = None
                        if off < len(payload):
                            offered = sc._rd_str(payload, off)[0].decode()
                        with self._lock:
                            self.handshakes.append((n, cust.decode(), tok.decode(), ver.decode(),
                                                    offered))
                        shaken = True
                        if self.muted:
                            continue
                        p = bytes([0]) + sc.wstr("OK")
                        if self.caps is not None and offered is not None:
                            p += sc.wstr(self.caps)
                        c.sendall(sc.frame(sc.HANDSHAKE_ACK, p, seq))
                        continue
                    with self._lock:
                        self._frames.append(Frame(n, ftype, seq, payload, time.monotonic()))
                    last = seq
                    if ftype == sc.HEARTBEAT and not self.muted:
                        c.sendall(sc.frame(sc.HEARTBEAT_ACK, payload[:8], seq))
                if last is not None and self.ack and not self.muted:
                    c.sendall(sc.frame(sc.ACK, struct.pack(">I", last), 0))
        except (OSError, ValueError):
            pass
        with self._lock:
            self.closes.append((n, time.monotonic()))
        c.close()


# --------------------------------------------------------------------------- blackhole relay

class Relay:
    """client -> 127.0.0.1:port -> 127.0.0.1:target_port, forwarding both ways."""

    def __init__(self, target_port, port=None):
        self.target = ("127.0.0.1", target_port)
        self.port = port or _free_port()
        self.sel = selectors.DefaultSelector()
        self.pairs = []  # [client, upstream, open directions]
        self.holed = False
        self.accepted = 0
        self._cmd = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._th = None

    def start(self):
        self._ls = _listener(self.port)
        self._ls.setblocking(False)
        self.sel.register(self._ls, selectors.EVENT_READ, "accept")
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._th = threading.Thread(target=self._loop, daemon=True)
        self._th.start()
        return self

    def blackhole(self):
        self._command("hole")

    def restore(self):
        self._command("restore")

    def stop(self):
        self._stop.set()
        self._wake_w.send(b"x")
        self._th.join(5)
        for p in self.pairs:
            for s in p[:2]:
                s.close()
        self._ls.close()

    def _command(self, what):
        done = threading.Event()
        with self._lock:
            self._cmd.append((what, done))
        self._wake_w.send(b"x")
        if not done.wait(5):
            raise RuntimeError("relay did not take the command " + what)

    def _watch(self, s, on):
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        if on and s.fileno() >= 0:
            self.sel.register(s, selectors.EVENT_READ, "data")

    def _apply(self):
        for p in self.pairs:
            a, b, dirs = p
            self._watch(a, not self.holed and "ab" in dirs)
            self._watch(b, not self.holed and "ba" in dirs)

    def _loop(self):
        while not self._stop.is_set():
            for key, _ in self.sel.select(0.5):
                if key.data == "wake":
                    self._wake_r.recv(64)
                    with self._lock:
                        cmds, self._cmd = self._cmd, []
                    for what, done in cmds:
                        self.holed = what == "hole"
                        self._apply()
                        done.set()
                elif key.data == "accept":
                    try:
                        c, _ = self._ls.accept()
                    except OSError:
                        continue
                    self.accepted += 1
                    up = socket.create_connection(self.target, 5)
                    c.setblocking(True)
                    up.setblocking(True)
                    self.pairs.append([c, up, {"ab", "ba"}])
                    self._apply()
                else:
                    self._forward(key.fileobj)

    def _forward(self, s):
        for p in self.pairs:
            a, b, dirs = p
            if s is a or s is b:
                break
        else:
            return
        src, dst, d = (a, b, "ab") if s is a else (b, a, "ba")
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        try:
            if data:
                dst.sendall(data)
                return
            dst.shutdown(socket.SHUT_WR)  # pass the EOF on
        except OSError:
            pass
        dirs.discard(d)
        self._watch(src, False)
        if not dirs:
            a.close()
            b.close()
            self.pairs.remove(p)


# --------------------------------------------------------------------------- captures

def _csum(h):
    s = 0
    for i in range(0, len(h), 2):
        s += (h[i] << 8) | h[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src, dst, payload, ident=0):
    """Ethernet (zero MACs, like lo) + IPv4 + UDP (no checksum) carrying payload."""
    udp = struct.pack(">HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    ip = ip[:10] + struct.pack(">H", _csum(ip)) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + udp


class PcapWriter:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))  # ns, Ethernet
        self.n = 0

    def add(self, ts_ns, frame):
        self.f.write(struct.pack("<IIII", ts_ns // 10**9, ts_ns % 10**9, len(frame), len(frame)))
        self.f.write(frame)
        self.n += 1

    def close(self):
        self.f.close()


def call_packets(i, base_ts, sip_port=5060, media_base=20000, rtp=0, rtcp=True, pad=0,
                 hosts=("127.0.0.2", "127.0.0.3")):
    """The packets of call i (7 SIP messages; 4 RTCP reports: SR+SDES and RR+SDES, twice;
    rtp RTP packets per side):
    [(ts_ns, src, dst, payload)], and its Call-ID. pad adds a header of that many bytes to
    the INVITE (bigger frames)."""
    cid = "peers-%d-%x@test" % (i, base_ts & 0xFFFFFFFF)
    mp = media_base + 4 * (i % 2000)
    d = sc.Dialog(cid, base_ts, caller=(hosts[0], sip_port), callee=(hosts[1], sip_port),
                  caller_media=(hosts[0], mp), callee_media=(hosts[1], mp + 2),
                  uac_ssrc=0x10000 + i, uas_ssrc=0x20000 + i)
    extra = ["X-Pad: " + "p" * pad] if pad else []
    inv = d.invite(0, extra=extra)
    d.response(20, inv, 100)
    d.response(200, inv, 180)
    d.response(400, inv, 200, d.answer_sdp())
    d.ack(450)
    out = [(m.ts, m.src, m.dst, m.raw) for m in d.msgs]
    if rtcp:
        for t_sr, src, dst, _, raw in d.rtcp_pair(1000, 1100) + d.rtcp_pair(
                2000, 2100, uas_sends_sr=False):
            out.append((t_sr, src, dst, raw))
    for k in range(rtp):
        for side, (src, dst) in enumerate([(d.caller_media, d.callee_media),
                                           (d.callee_media, d.caller_media)]):
            hdr = struct.pack(">BBHII", 0x80, 0, k & 0xFFFF, 160 * k, 0x10000 + i + side * 7)
            out.append((d.ts(500 + 20 * k), src, dst, hdr + b"\xd5" * 160))
    bye = d.request(3000, "BYE", True)
    d.response(3030, bye, 200)
    out += [(m.ts, m.src, m.dst, m.raw) for m in d.msgs[-2:]]
    return out, cid


def write_calls_pcap(path, n_calls, spacing_ms=5, base_ts=None, **kw):
    """A capture of n_calls calls (call_packets), started spacing_ms apart, in time order.
    Returns (packets written, [Call-ID...], SIP messages, RTCP reports)."""
    base = base_ts or (time.time_ns() - 600 * 10**9)
    pkts, cids = [], []
    for i in range(n_calls):
        p, cid = call_packets(i, base + i * spacing_ms * 10**6, **kw)
        pkts += p
        cids.append(cid)
    pkts.sort(key=lambda x: x[0])
    w = PcapWriter(path)
    nsip = nrtcp = 0
    for n, (ts, src, dst, raw) in enumerate(pkts):
        w.add(ts, udp_frame(src, dst, raw, n))
        if raw[:3] == b"SIP" or raw[:1].isalpha():
            nsip += 1
        elif len(raw) > 1 and 200 <= raw[1] <= 204:
            nrtcp += 1
    w.close()
    return w.n, cids, nsip, nrtcp
