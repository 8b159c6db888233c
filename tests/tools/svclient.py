"""svclient - a test client for sipvault-server (Python 3, standard library only).

Speaks the agent wire protocol v1 with this project's extensions (docs/wire-protocol.md) and
HEP v3 (with zlib-compressed payloads and the RTCP JSON dialects of docs/internals/hep.md), and
builds what agents and media servers send: SIP dialogs with SDP, RTCP SR/RR/SDES/XR packets.
Also: call_key and object paths (contract section 3), reading sip.pcap.gz back with tshark,
and a Prometheus text parser for /metrics.

`python3 svclient.py` runs a self-test of the encoders against the byte examples of the docs.
"""

import base64
import datetime
import gzip
import ipaddress
import json
import os
import select
import socket
import struct
import subprocess
import time
import urllib.request
import zlib

# --------------------------------------------------------------------------- wire protocol

MAGIC = b"SV"
VERSION = 1
HDR_LEN = 12
MAX_PAYLOAD = 1 << 20

HANDSHAKE = 0x01
HANDSHAKE_ACK = 0x02
DATA_SIP = 0x03
DATA_RTCP = 0x04
DATA_LOG = 0x05
HEARTBEAT = 0x06
HEARTBEAT_ACK = 0x07
DATA_QUALITY = 0x08
ACK = 0x09
DATA_RTCP_ADDR = 0x0A
AGENT_STATS = 0x0B

DIR_INBOUND = 0
DIR_OUTBOUND = 1
FLAG_IPV6 = 0x80


def now_ns():
    return time.time_ns()


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def wstr(x):
    """A wire `str`: u16 length + bytes."""
    x = _b(x)
    if len(x) > 0xFFFF:
        raise ValueError("str longer than 65535 bytes")
    return struct.pack(">H", len(x)) + x


def frame(ftype, payload, seq=0, magic=MAGIC, version=VERSION, length=None):
    """One frame. `length` overrides the header's length field (for malformed frames)."""
    payload = _b(payload)
    n = len(payload) if length is None else length
    return magic + bytes([version, ftype]) + struct.pack(">II", n, seq) + payload


def _addr(ep):
    """(ip, port) -> (packed ip, port, is_v6)."""
    ip = ipaddress.ip_address(ep[0])
    return ip.packed, int(ep[1]), ip.version == 6


def enc_handshake(customer, token, version="1.0.0", caps=None):
    p = wstr(customer) + wstr(token) + wstr(version)
    if caps is not None:
        p += wstr(caps)
    return p


def enc_sip(ts, call_id, src, dst, raw, direction=DIR_INBOUND):
    s_ip, s_port, v6 = _addr(src)
    d_ip, d_port, v6d = _addr(dst)
    if v6 != v6d:
        raise ValueError("src and dst must be of the same family")
    d = direction | (FLAG_IPV6 if v6 else 0)
    return (struct.pack(">Q", ts) + wstr(call_id) + bytes([d]) + s_ip + struct.pack(">H", s_port)
            + d_ip + struct.pack(">H", d_port) + _b(raw))


def enc_rtcp(ts, call_id, ssrc, raw):
    return struct.pack(">Q", ts) + wstr(call_id) + struct.pack(">I", ssrc) + _b(raw)


def enc_rtcp_addr(ts, call_id, src, dst, ssrc, raw):
    s_ip, s_port, v6 = _addr(src)
    d_ip, d_port, _ = _addr(dst)
    return (struct.pack(">Q", ts) + wstr(call_id) + bytes([FLAG_IPV6 if v6 else 0]) + s_ip
            + struct.pack(">H", s_port) + d_ip + struct.pack(">H", d_port)
            + struct.pack(">I", ssrc) + _b(raw))


def enc_log(ts, call_id, line):
    return struct.pack(">Q", ts) + wstr(call_id) + _b(line)


def enc_quality(ts, call_id, doc):
    if not isinstance(doc, (bytes, str)):
        doc = json.dumps(doc)
    return struct.pack(">Q", ts) + wstr(call_id) + _b(doc)


def enc_heartbeat(ts):
    return struct.pack(">Q", ts)


def enc_stats(ts, doc):
    if not isinstance(doc, (bytes, str)):
        doc = json.dumps(doc)
    return struct.pack(">Q", ts) + _b(doc)


class Reader:
    """Reassembles frames from a byte stream: feed() then frames()."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def next(self):
        if len(self.buf) < HDR_LEN:
            return None
        if self.buf[:2] != MAGIC or self.buf[2] != VERSION:
            raise ValueError("bad frame header from server: %r" % self.buf[:12])
        ftype = self.buf[3]
        n, seq = struct.unpack(">II", self.buf[4:12])
        if len(self.buf) < HDR_LEN + n:
            return None
        payload = self.buf[HDR_LEN:HDR_LEN + n]
        self.buf = self.buf[HDR_LEN + n:]
        return ftype, seq, payload


def _rd_str(p, off):
    if off + 2 > len(p):
        raise ValueError("truncated str")
    (n,) = struct.unpack(">H", p[off:off + 2])
    if off + 2 + n > len(p):
        raise ValueError("truncated str")
    return p[off + 2:off + 2 + n], off + 2 + n


def dec_handshake_ack(p):
    """-> (status, message str, caps str or None)."""
    status = p[0]
    msg, off = _rd_str(p, 1)
    caps = None
    if off < len(p):
        c, off = _rd_str(p, off)
        caps = c.decode()
    return status, msg.decode(errors="replace"), caps


class Agent:
    """One agent connection. Frames are numbered 1, 2, 3, ... when `ack` was negotiated,
    else with `seq` (default 0, as the reference agent may do)."""

    def __init__(self, addr, customer, token, caps=None, version="1.0.0", timeout=5.0,
                 handshake=True):
        self.addr = addr
        self.customer = customer
        self.token = token
        self.caps_offered = caps
        self.caps = set()
        self.version = version
        self.timeout = timeout
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader()
        self.seq = 0
        self.fixed_seq = 0
        self.received = []  # frames read while waiting for something else
        self.ack_status = None
        self.ack_message = None
        self.ack_caps = None
        if handshake:
            self.handshake()

    # -- low level
    def send_raw(self, data, split=None, delay=0.0):
        """Sends bytes; split=n sends n-byte pieces (1 = byte by byte)."""
        if not split:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), split):
            self.sock.sendall(data[i:i + split])
            if delay:
                time.sleep(delay)

    def next_seq(self):
        if "ack" in self.caps:
            self.seq = 1 if self.seq == 0xFFFFFFFF else self.seq + 1
            return self.seq
        return self.fixed_seq

    def build(self, ftype, payload):
        return frame(ftype, payload, self.next_seq())

    def send(self, ftype, payload, split=None):
        data = self.build(ftype, payload)
        self.send_raw(data, split)
        return data

    def recv_frame(self, timeout=None, want=None):
        """Next frame (type, seq, payload) from the server, optionally of type `want`
        (others are kept in self.received). None on timeout; raises EOFError when closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for i, f in enumerate(self.received):
                if want is None or f[0] == want:
                    return self.received.pop(i)
            while True:
                f = self.reader.next()
                if f is None:
                    break
                if want is None or f[0] == want:
                    return f
                self.received.append(f)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            self.reader.feed(data)

    def handshake(self):
        payload = enc_handshake(self.customer, self.token, self.version, self.caps_offered)
        self.send_raw(frame(HANDSHAKE, payload, 1))
        f = self.recv_frame(want=HANDSHAKE_ACK)
        if f is None:
            raise TimeoutError("no HANDSHAKE_ACK")
        self.ack_status, self.ack_message, self.ack_caps = dec_handshake_ack(f[2])
        if self.ack_caps:
            self.caps = set(c.strip() for c in self.ack_caps.split(",") if c.strip())
        return self.ack_status

    def closed_by_peer(self, timeout=3.0):
        """True when the server closes the connection within timeout (data is discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], max(0, deadline - time.monotonic()))
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                return True
            self.reader.feed(data)
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- data frames
    def sip(self, ts, call_id, src, dst, raw, direction=DIR_INBOUND, split=None):
        return self.send(DATA_SIP, enc_sip(ts, call_id, src, dst, raw, direction), split)

    def rtcp(self, ts, call_id, ssrc, raw, src=None, dst=None):
        if src is not None:
            return self.send(DATA_RTCP_ADDR, enc_rtcp_addr(ts, call_id, src, dst, ssrc, raw))
        return self.send(DATA_RTCP, enc_rtcp(ts, call_id, ssrc, raw))

    def log(self, ts, call_id, line):
        return self.send(DATA_LOG, enc_log(ts, call_id, line))

    def quality(self, ts, call_id, doc):
        return self.send(DATA_QUALITY, enc_quality(ts, call_id, doc))

    def heartbeat(self, ts):
        return self.send(HEARTBEAT, enc_heartbeat(ts))

    def stats(self, ts, doc):
        return self.send(AGENT_STATS, enc_stats(ts, doc))

    def send_messages(self, msgs, split=None):
        """Sends a list of Msg (see Dialog) as DATA_SIP frames."""
        for m in msgs:
            self.sip(m.ts, m.call_id, m.src, m.dst, m.raw, split=split)

    def wait_ack(self, seq, timeout=5.0):
        """Waits for an ACK covering seq (serial order); returns the list of ACK values seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.recv_frame(timeout=max(0.01, deadline - time.monotonic()), want=ACK)
            if f is None:
                break
            (v,) = struct.unpack(">I", f[2][:4])
            seen.append(v)
            if ((seq - v) & 0xFFFFFFFF) == 0 or ((v - seq) & 0xFFFFFFFF) < 0x80000000:
                return seen
        raise TimeoutError("no ACK covering %d (saw %r)" % (seq, seen))


# --------------------------------------------------------------------------- HEP v3

HEP_FAMILY_INET = 2
HEP_FAMILY_INET6 = 10
HEP_PROTO_SIP = 1
HEP_PROTO_RTCP = 5
HEP_PROTO_LOG = 100


def hep_chunk(ctype, value, vendor=0):
    return struct.pack(">HHH", vendor, ctype, 6 + len(value)) + value


def hep_encode(src, dst, ts_ns, payload, proto_type=HEP_PROTO_RTCP, correlation_id=None,
               auth_key=None, capture_id=2001, compress=False, node_name=None, ip_proto=17):
    s_ip, s_port, v6 = _addr(src)
    d_ip, d_port, _ = _addr(dst)
    c = hep_chunk(1, bytes([HEP_FAMILY_INET6 if v6 else HEP_FAMILY_INET]))
    c += hep_chunk(2, bytes([ip_proto]))
    c += hep_chunk(5 if v6 else 3, s_ip) + hep_chunk(6 if v6 else 4, d_ip)
    c += hep_chunk(7, struct.pack(">H", s_port)) + hep_chunk(8, struct.pack(">H", d_port))
    c += hep_chunk(9, struct.pack(">I", ts_ns // 1000000000))
    c += hep_chunk(10, struct.pack(">I", (ts_ns // 1000) % 1000000))
    c += hep_chunk(11, bytes([proto_type]))
    c += hep_chunk(12, struct.pack(">I", capture_id))
    if auth_key is not None:
        c += hep_chunk(14, _b(auth_key))
    if correlation_id is not None:
        c += hep_chunk(17, _b(correlation_id))
    if node_name is not None:
        c += hep_chunk(19, _b(node_name))
    payload = _b(payload)
    if compress:
        c += hep_chunk(16, zlib.compress(payload))
    else:
        c += hep_chunk(15, payload)
    total = 6 + len(c)
    if total > 65535:
        raise ValueError("HEP packet too long")
    return b"HEP3" + struct.pack(">H", total) + c


def hep_decode(pkt):
    """-> dict of chunk type -> value bytes (for self-tests)."""
    if pkt[:4] != b"HEP3":
        raise ValueError("not HEP3")
    (total,) = struct.unpack(">H", pkt[4:6])
    out, off = {}, 6
    while off < total:
        vendor, ctype, n = struct.unpack(">HHH", pkt[off:off + 6])
        out[ctype] = pkt[off + 6:off + n]
        off += n
    return out


def hep_send(addr, packets):
    s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for p in packets:
            s.sendto(p, addr)
    finally:
        s.close()


# --------------------------------------------------------------------------- RTCP

RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE, RTCP_XR = 200, 201, 202, 203, 207

NTP_EPOCH_OFFSET = 2208988800


def ntp_from_ns(ns):
    sec = ns // 1000000000 + NTP_EPOCH_OFFSET
    frac = ((ns % 1000000000) << 32) // 1000000000
    return sec & 0xFFFFFFFF, frac


def compact_ntp(ns):
    """Middle 32 bits of the NTP timestamp at ns (the LSR of a report)."""
    sec, frac = ntp_from_ns(ns)
    return ((sec & 0xFFFF) << 16) | (frac >> 16)


def report_block(ssrc, fraction_lost=0, cumulative_lost=0, highest_seq=0, jitter=0, lsr=0,
                 dlsr=0):
    return (struct.pack(">IB", ssrc, fraction_lost) + (cumulative_lost & 0xFFFFFF).to_bytes(3, "big")
            + struct.pack(">IIII", highest_seq, jitter, lsr, dlsr))


def _rtcp_hdr(count, pt, body):
    assert len(body) % 4 == 0
    return struct.pack(">BBH", 0x80 | count, pt, (len(body) + 4) // 4 - 1) + body


def rtcp_sr(ssrc, ts_ns, rtp_ts=0, packets=0, octets=0, blocks=()):
    sec, frac = ntp_from_ns(ts_ns)
    body = struct.pack(">IIIIII", ssrc, sec, frac, rtp_ts, packets, octets) + b"".join(blocks)
    return _rtcp_hdr(len(blocks), RTCP_SR, body)


def rtcp_rr(ssrc, blocks=()):
    return _rtcp_hdr(len(blocks), RTCP_RR, struct.pack(">I", ssrc) + b"".join(blocks))


def rtcp_sdes(ssrc, cname):
    item = bytes([1, len(cname)]) + _b(cname)
    chunk = struct.pack(">I", ssrc) + item + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _rtcp_hdr(1, RTCP_SDES, chunk)


def rtcp_xr_voip(ssrc, src_ssrc, loss_rate=0, discard_rate=0, rtd=0, esd=0, mos_lq=0, mos_cq=0):
    """XR with one VoIP metrics block (RFC 3611 4.7); rtd = round-trip delay in ms."""
    blk = struct.pack(">I", src_ssrc) + bytes([loss_rate, discard_rate, 0, 0])
    blk += struct.pack(">HHHH", 0, 0, rtd, esd)
    blk += bytes([127, 127, 127, 16])          # signal, noise, RERL, Gmin
    blk += bytes([127, 127, mos_lq, mos_cq])   # R, ext R, MOS-LQ, MOS-CQ
    blk += bytes([0, 0]) + struct.pack(">HHH", 0, 0, 0)  # RX config, reserved, JB x3
    hdr = bytes([7, 0]) + struct.pack(">H", len(blk) // 4)
    return _rtcp_hdr(0, RTCP_XR, struct.pack(">I", ssrc) + hdr + blk)


# RTCP JSON as the HEP senders print it (docs/internals/hep.md).

def json_rtpengine(ssrc, ts_ns, block=None, sr=True):
    sec, frac = ntp_from_ns(ts_ns)
    d = {}
    if sr:
        d["sender_information"] = {"ntp_timestamp_sec": sec, "ntp_timestamp_usec": frac,
                                   "octets": 16000, "rtp_timestamp": 160000, "packets": 100}
    d.update({"ssrc": ssrc, "type": 200 if sr else 201, "report_count": 1 if block else 0})
    if block:
        d["report_blocks"] = [{"source_ssrc": block["ssrc"], "highest_seq_no": block["highest_seq"],
                               "fraction_lost": block["fraction_lost"], "ia_jitter": block["jitter"],
                               "packets_lost": block["cumulative_lost"] & 0xFFFFFF,
                               "lsr": block["lsr"], "dlsr": block["dlsr"]}]
    d["sdes_report_count"] = 1
    d["sdes_information"] = [{"sdes_chunk_ssrc": ssrc, "type": 1, "text": "rtpengine-01"}]
    return json.dumps(d)


def json_rtpproxy(ssrc, ts_ns, block):
    """acct_rtcp_hep: pretty-printed, RR with the trailing comma."""
    b = block
    return ('{\n "ssrc": %d,\n "type": 201,\n "report_blocks": [\n  {\n   "source_ssrc": %d,\n'
            '   "fraction_lost": %d,\n   "packets_lost": %d,\n   "highest_seq_no": %d,\n'
            '   "ia_jitter": %d,\n   "lsr": %d,\n   "dlsr": %d\n  }\n ],\n "report_count": 1,\n}\n'
            % (ssrc, b["ssrc"], b["fraction_lost"], b["cumulative_lost"], b["highest_seq"],
               b["jitter"], b["lsr"], b["dlsr"]))


def json_captagent(ssrc, ts_ns, block):
    sec, frac = ntp_from_ns(ts_ns)
    b = block
    return json.dumps({
        "sender_information": {"ntp_timestamp_sec": sec, "ntp_timestamp_usec": frac,
                               "octets": 16000, "rtp_timestamp": 16000, "packets": 100},
        "ssrc": ssrc, "type": 200,
        "report_blocks": [{"source_ssrc": b["ssrc"], "highest_seq_no": b["highest_seq"],
                           "fraction_lost": b["fraction_lost"], "ia_jitter": b["jitter"],
                           "packets_lost": b["cumulative_lost"] & 0xFFFFFFFF,
                           "lsr": b["lsr"], "dlsr": b["dlsr"]}],
        "report_count": 1, "sdes_ssrc": ssrc, "sdes_chunk_ssrc": 16909060,
        "sdes_information": [{"type": 1, "text": "agent@10.0.0.5"}], "sdes_report_count": 1})


def json_heplify(ssrc, ts_ns, block):
    b = block
    return json.dumps({
        "sender_information": {"ntp_timestamp_sec": 0, "ntp_timestamp_usec": 0, "rtp_timestamp": 0,
                               "packets": 0, "octets": 0},
        "ssrc": ssrc, "type": 201, "report_count": 1,
        "report_blocks": [{"source_ssrc": b["ssrc"], "fraction_lost": b["fraction_lost"],
                           "packets_lost": b["cumulative_lost"], "highest_seq_no": b["highest_seq"],
                           "ia_jitter": b["jitter"], "lsr": b["lsr"], "dlsr": b["dlsr"]}],
        "report_blocks_xr": {"type": 0, "id": 0, "fraction_lost": 0, "fraction_discard": 0,
                             "burst_density": 0, "gap_density": 0, "burst_duration": 0,
                             "gap_duration": 0, "round_trip_delay": 0, "end_system_delay": 0},
        "sdes_ssrc": ssrc})


JSON_DIALECTS = {"rtpengine": lambda s, t, b: json_rtpengine(s, t, b, sr=False),
                 "rtpproxy": json_rtpproxy, "captagent": json_captagent, "heplify": json_heplify}


# --------------------------------------------------------------------------- SIP

class Msg:
    """One SIP message as captured: capture time, addresses, raw bytes."""

    def __init__(self, ts, call_id, src, dst, raw, label):
        self.ts, self.call_id, self.src, self.dst, self.raw, self.label = (
            ts, call_id, src, dst, raw, label)

    def __repr__(self):
        return "Msg(%s)" % self.label


REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK",
           302: "Moved Temporarily", 401: "Unauthorized", 404: "Not Found",
           407: "Proxy Authentication Required", 486: "Busy Here", 487: "Request Terminated",
           503: "Service Unavailable", 603: "Decline"}


def sdp(ip, port, session_id=1, version=1, codec=(0, "PCMU", 8000), ssrc=None, direction="sendrecv"):
    pt, name, rate = codec
    fam = "IP6" if ":" in ip else "IP4"
    lines = ["v=0", "o=- %d %d IN %s %s" % (session_id, version, fam, ip), "s=-",
             "c=IN %s %s" % (fam, ip), "t=0 0", "m=audio %d RTP/AVP %d 101" % (port, pt),
             "a=rtpmap:%d %s/%d" % (pt, name, rate), "a=rtpmap:101 telephone-event/8000",
             "a=ptime:20"]
    if ssrc is not None:
        lines.append("a=ssrc:%d cname:sv-test" % ssrc)
    lines.append("a=" + direction)
    return ("\r\n".join(lines) + "\r\n").encode()


class Dialog:
    """Builds the messages of one INVITE dialog between a caller (uac) and a callee (uas).

    Every builder returns a Msg with capture time base_ts + t_ms and appends it to self.msgs.
    The caller's media is caller_media (RTP port; RTCP = port + 1), the callee's callee_media."""

    def __init__(self, call_id, base_ts=None, caller=("192.0.2.10", 5060),
                 callee=("198.51.100.20", 5060), caller_media=("192.0.2.10", 40000),
                 callee_media=("198.51.100.20", 30000), from_uri="sip:alice@example.com",
                 to_uri="sip:+15551234567@example.net", codec=(0, "PCMU", 8000),
                 transport="UDP", uac_ssrc=0x1001, uas_ssrc=0x2002):
        self.call_id = call_id
        self.base_ts = now_ns() if base_ts is None else base_ts
        self.caller, self.callee = caller, callee
        self.caller_media, self.callee_media = caller_media, callee_media
        self.from_uri, self.to_uri = from_uri, to_uri
        self.codec = codec
        self.transport = transport
        self.uac_ssrc, self.uas_ssrc = uac_ssrc, uas_ssrc
        self.from_tag = "ftag%x" % (hash(call_id) & 0xFFFFFF)
        self.to_tag = "ttag%x" % (hash(call_id[::-1]) & 0xFFFFFF)
        self.cseq = 1
        self.branch_n = 0
        self.sdp_version = 1
        self.msgs = []
        self.invite_branch = None

    def ts(self, t_ms):
        return self.base_ts + int(t_ms * 1000000)

    @property
    def uac_rtcp(self):
        return (self.caller_media[0], self.caller_media[1] + 1)

    @property
    def uas_rtcp(self):
        return (self.callee_media[0], self.callee_media[1] + 1)

    def _branch(self):
        self.branch_n += 1
        return "z9hG4bK%x.%d" % (hash(self.call_id) & 0xFFFFFFF, self.branch_n)

    def _msg(self, t_ms, src, dst, start, headers, body=b"", label=None):
        cid = self.call_id if isinstance(self.call_id, str) else self.call_id.decode("latin-1")
        lines = [start] + headers + ["Call-ID: " + cid]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        m = Msg(self.ts(t_ms), self.call_id, src, dst, raw, label or start.split(" ")[0])
        self.msgs.append(m)
        return m

    def _offer(self, media, ssrc, hold=False):
        self.sdp_version += 1
        return sdp(media[0], media[1], 1000 + ssrc, self.sdp_version, self.codec, ssrc,
                   "sendonly" if hold else "sendrecv")

    def request(self, t_ms, method, from_caller=True, cseq=None, body=b"", extra=(), to_tag=True,
                branch=None, peer=None, peer_tag=None):
        """peer/peer_tag: the callee address and To tag to use instead of the defaults (a
        request to one branch of a forked call)."""
        callee = peer or self.callee
        src, dst = (self.caller, callee) if from_caller else (callee, self.caller)
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or self._branch()
        f_uri, t_uri = (self.from_uri, self.to_uri)
        f_tag, t_tag = (self.from_tag, peer_tag or self.to_tag)
        if not from_caller:
            f_uri, t_uri, f_tag, t_tag = t_uri, f_uri, t_tag, f_tag
        ruri = t_uri if from_caller else f_uri
        hdrs = ["Via: SIP/2.0/%s %s:%d;branch=%s" % (self.transport, src[0], src[1], branch),
                "Max-Forwards: 70",
                "From: <%s>;tag=%s" % (f_uri, f_tag),
                "To: <%s>%s" % (t_uri, (";tag=" + t_tag) if to_tag else ""),
                "CSeq: %d %s" % (cseq, method),
                "Contact: <sip:%s:%d>" % src] + list(extra)
        m = self._msg(t_ms, src, dst, "%s %s SIP/2.0" % (method, ruri), hdrs, body, method)
        m.branch, m.cseq, m.method, m.from_caller = branch, cseq, method, from_caller
        return m

    def response(self, t_ms, req, status, body=b"", extra=(), to_tag=None, src=None):
        """Response to req (a Msg from request()); sent in the opposite direction (from src
        when given: another branch of a forked call)."""
        src, dst = (src or req.dst), req.src
        fc = req.from_caller
        f_uri, t_uri, f_tag, t_tag = ((self.from_uri, self.to_uri, self.from_tag, self.to_tag)
                                      if fc else
                                      (self.to_uri, self.from_uri, self.to_tag, self.from_tag))
        if to_tag is None:
            to_tag = t_tag if status > 100 else None
        hdrs = ["Via: SIP/2.0/%s %s:%d;branch=%s" % (self.transport, req.src[0], req.src[1],
                                                   req.branch),
                "From: <%s>;tag=%s" % (f_uri, f_tag),
                "To: <%s>%s" % (t_uri, (";tag=" + to_tag) if to_tag else ""),
                "CSeq: %d %s" % (req.cseq, req.method)] + list(extra)
        if 200 <= status < 300 or status in (180, 183):
            hdrs.append("Contact: <sip:%s:%d>" % src)
        return self._msg(t_ms, src, dst, "SIP/2.0 %d %s" % (status, REASONS.get(status, "Other")),
                         hdrs, body, str(status))

    # -- common pieces
    def invite(self, t_ms=0, cseq=None, extra=()):
        if cseq is None:
            cseq = self.cseq
        else:
            self.cseq = cseq
        m = self.request(t_ms, "INVITE", True, cseq, self._offer(self.caller_media, self.uac_ssrc),
                         extra, to_tag=False)
        self.invite_req = m
        return m

    def answer_sdp(self):
        return self._offer(self.callee_media, self.uas_ssrc)

    def ack(self, t_ms, resp_2xx=True):
        inv = self.invite_req
        return self.request(t_ms, "ACK", True, inv.cseq,
                            branch=None if resp_2xx else inv.branch)

    def answered(self, bye_from_caller=True, t_bye_ms=3000):
        """INVITE / 100 / 180 / 200 (SDP) / ACK / BYE / 200: the 7 messages of a normal call."""
        inv = self.invite(0)
        self.response(20, inv, 100)
        self.response(500, inv, 180)
        self.response(1000, inv, 200, self.answer_sdp())
        self.ack(1050)
        bye = self.request(t_bye_ms, "BYE", bye_from_caller)
        self.response(t_bye_ms + 30, bye, 200)
        return self.msgs

    # -- RTCP of this call: (ts, src, dst, ssrc, bytes)
    def rtcp_pair(self, t_sr_ms, t_rr_ms, rtt_ms=40.0, fraction_lost=0, jitter=80,
                  cumulative_lost=0, uas_sends_sr=True):
        """An SR from one side at t_sr and the other side's RR at t_rr, whose LSR/DLSR give
        rtt_ms. Returns two tuples; the RR's direction is the side that is not the SR's."""
        sr_ssrc, rr_ssrc = (self.uas_ssrc, self.uac_ssrc) if uas_sends_sr else (self.uac_ssrc,
                                                                                self.uas_ssrc)
        sr_src, sr_dst = (self.uas_rtcp, self.uac_rtcp) if uas_sends_sr else (self.uac_rtcp,
                                                                              self.uas_rtcp)
        t_sr, t_rr = self.ts(t_sr_ms), self.ts(t_rr_ms)
        dlsr = int(round(((t_rr - t_sr) / 1e9 - rtt_ms / 1000.0) * 65536))
        sr = rtcp_sr(sr_ssrc, t_sr, 8000, 50, 8000,
                     [report_block(rr_ssrc, fraction_lost, cumulative_lost, 300, jitter, 0, 0)])
        rr = rtcp_rr(rr_ssrc, [report_block(sr_ssrc, fraction_lost, cumulative_lost, 350, jitter,
                                            compact_ntp(t_sr), dlsr)])
        return [(t_sr, sr_src, sr_dst, sr_ssrc, sr + rtcp_sdes(sr_ssrc, "sr@test")),
                (t_rr, sr_dst, sr_src, rr_ssrc, rr + rtcp_sdes(rr_ssrc, "rr@test"))]


# --------------------------------------------------------------------------- objects

_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-")


def call_key(call_id):
    b = _b(call_id) if isinstance(call_id, str) else call_id
    if not b:
        raise ValueError("empty Call-ID")
    if all(c == 0x2E for c in b):
        return "%2E" * len(b)
    return "".join(chr(c) if c in _SAFE else "%%%02X" % c for c in b)


def date_path(ts_ns):
    d = datetime.datetime.fromtimestamp(ts_ns // 1000000000, datetime.timezone.utc)
    return "%04d/%02d/%02d" % (d.year, d.month, d.day)


def call_prefix(call_id, first_ts_ns):
    return "calls/%s/%s/" % (date_path(first_ts_ns), call_key(call_id))


def iso_ms(ts_ns):
    d = datetime.datetime.fromtimestamp(ts_ns // 1000000000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % ((ts_ns // 1000000) % 1000)


def read_gz(path):
    with gzip.open(path, "rb") as f:
        return f.read()


def tshark_sip(pcap_path, tshark="/usr/bin/tshark"):
    """Every frame of a (gzipped) pcap as a dict: ts_ns, src, dst, sport, dport, proto,
    call_id, method, status, raw. Raises when tshark is missing or fails."""
    if not os.access(tshark, os.X_OK):
        raise RuntimeError("tshark not found at " + tshark)
    fields = ["frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport",
              "udp.dstport", "tcp.srcport", "tcp.dstport", "sip.Call-ID", "sip.Method",
              "sip.Status-Code", "sip.CSeq.method"]
    cmd = [tshark, "-n", "-r", pcap_path, "-T", "fields", "-E", "separator=\x01",
           "-E", "occurrence=f", "-o", "sip.desegment_body:TRUE"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("tshark failed: " + p.stderr.decode(errors="replace"))
    out = []
    for line in p.stdout.decode("utf-8", errors="replace").splitlines():
        v = line.split("\x01")
        v += [""] * (len(fields) - len(v))
        sec, _, frac = v[0].partition(".")
        ts = int(sec) * 1000000000 + int((frac + "000000000")[:9])
        proto = "udp" if v[5] else ("tcp" if v[7] else "")
        out.append({"ts_ns": ts, "src": v[1] or v[3], "dst": v[2] or v[4],
                    "sport": int(v[5] or v[7] or 0), "dport": int(v[6] or v[8] or 0),
                    "proto": proto, "call_id": v[9], "method": v[10],
                    "status": int(v[11]) if v[11] else 0, "cseq_method": v[12]})
    return out


def pcap_records(path):
    """Records of a (gzipped) pcap written by the server: list of (ts_ns, bytes)."""
    data = read_gz(path) if path.endswith(".gz") else open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xa1\xb2\x3c\x4d", b"\xa1\xb2\xc3\xd4"):
        e = ">"
    elif magic in (b"\x4d\x3c\xb2\xa1", b"\xd4\xc3\xb2\xa1"):
        e = "<"
    else:
        raise ValueError("not a pcap file")
    nano = magic in (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
    off, recs = 24, []
    while off + 16 <= len(data):
        sec, sub, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        recs.append((sec * 1000000000 + (sub if nano else sub * 1000), data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return recs


# --------------------------------------------------------------------------- metrics

def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            lbl, _, val = rest.rpartition("}")
            labels, i = {}, 0
            while i < len(lbl):
                eq = lbl.index("=", i)
                k = lbl[i:eq].strip().lstrip(",").strip()
                j = eq + 2
                v = []
                while lbl[j] != '"':
                    if lbl[j] == "\\":
                        j += 1
                        v.append({"n": "\n"}.get(lbl[j], lbl[j]))
                    else:
                        v.append(lbl[j])
                    j += 1
                labels[k] = "".join(v)
                i = j + 1
                while i < len(lbl) and lbl[i] in ", ":
                    i += 1
        else:
            name, _, val = line.partition(" ")
            labels = {}
        out.append((name.strip(), labels, float(val.split()[0])))
    return out


class Metrics:
    def __init__(self, text):
        self.text = text
        self.series = parse_metrics(text)

    def get(self, name, **labels):
        """Sum of the series of `name` whose labels include `labels` (0 when none)."""
        return sum(v for n, l, v in self.series
                   if n == name and all(l.get(k) == str(x) for k, x in labels.items()))

    def has(self, name):
        return any(n == name for n, _, _ in self.series)


def fetch_metrics(addr, timeout=3.0):
    url = "http://%s:%d/metrics" % addr
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return Metrics(r.read().decode("utf-8", errors="replace"))


# --------------------------------------------------------------------------- self-test

def _selftest():
    fails = 0
    oks = 0

    def check(name, got, want):
        nonlocal fails, oks
        if got != want:
            fails += 1
            print("FAIL %s:\n  got  %s\n  want %s" % (name, got.hex(" ") if isinstance(got, bytes)
                                                     else got, want.hex(" ") if isinstance(
                                                         want, bytes) else want))
        else:
            oks += 1
            print("ok   %s" % name)

    # docs/wire-protocol.md examples
    check("handshake example", frame(HANDSHAKE, enc_handshake("acme", "s3cr3t", "1.0.0"), 1),
          bytes.fromhex("53560101000000150000000100046163 6d650006733363723374000531 2e302e30"
                        .replace(" ", "")))
    check("heartbeat example", frame(HEARTBEAT, enc_heartbeat(0x0102030405060708), 7),
          bytes.fromhex("535601060000000800000007 0102030405060708".replace(" ", "")))
    # DATA_SIP layout: ts, str, dir, v4 src, port, v4 dst, port, raw
    p = enc_sip(1, "c", ("1.2.3.4", 5060), ("5.6.7.8", 5080), b"X", DIR_OUTBOUND)
    check("sip v4", p, bytes.fromhex("0000000000000001 0001 63 01 01020304 13c4 05060708 13d8 58"
                                     .replace(" ", "")))
    p = enc_sip(1, "c", ("::1", 1), ("::2", 2), b"")
    check("sip v6 flag", p[11], 0x80)
    check("sip v6 len", len(p), 8 + 3 + 1 + 16 + 2 + 16 + 2)
    # call_key (contract section 3)
    check("call_key", call_key("a/b c%d@x..y"), "a%2Fb%20c%25d@x..y")
    check("call_key dots", call_key(".."), "%2E%2E")
    # HEP: round trip through the decoder, compressed payload inflates
    pkt = hep_encode(("10.0.0.1", 1000), ("10.0.0.2", 2000), 1700000000123456789, b"{}",
                     correlation_id="cid", auth_key="k", compress=True)
    ch = hep_decode(pkt)
    check("hep len", struct.unpack(">H", pkt[4:6])[0], len(pkt))
    check("hep corr", ch[17], b"cid")
    check("hep usec", struct.unpack(">I", ch[10])[0], 123456)
    check("hep zlib", zlib.decompress(ch[16]), b"{}")
    # RTCP: RR with one block is 32 bytes, length field 7
    rr = rtcp_rr(1, [report_block(2, 3, 12, 1200, 24)])
    check("rr", rr, bytes.fromhex("81c90007 00000001 00000002 0300000c 000004b0 00000018 00000000"
                                  " 00000000".replace(" ", "")))
    check("sdes pad", len(rtcp_sdes(1, "abc")) % 4, 0)
    check("xr len", len(rtcp_xr_voip(1, 2)), 4 + 4 + 4 + 32)
    check("compact ntp", compact_ntp(0) >> 16, (NTP_EPOCH_OFFSET & 0xFFFF))
    print("%d passed, %d failed" % (oks, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    raise SystemExit(_selftest())
