"""sipvault-server integration: where objects land.

Call-IDs with '/', '..', '%', spaces and 2 kB of text are stored under safe keys (contract
section 3); two customers using the same Call-ID at once get separate objects in separate
buckets; a customer can never write into another customer's bucket; log lines land in
contiguous chunks log-000001.gz, ... (periodic flushes while ACTIVE), every line once.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import svclient as sc  # noqa: E402
from serverfixture import (Server, check, check_logs, check_pcap, check_pcap_bytes, eq,  # noqa: E402
                           log_chunks, run_tests, wait_until)

SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-%")
RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
S = {}


def srv():
    if "srv" not in S:
        S["srv"] = Server(name="objects", env={"SIPVAULT_LOG_FLUSH": "1"}).start()
    return S["srv"]


def _find_call(day, call_id):
    """quality.json under day/*/ whose call_id is call_id, or None."""
    if not os.path.isdir(day):
        return None
    for k in os.listdir(day):
        q = os.path.join(day, k, "quality.json")
        try:
            with open(q) as f:
                if json.load(f).get("call_id") == call_id:
                    return q
        except (OSError, ValueError):
            pass
    return None


def test_unsafe_call_ids_get_safe_keys():
    s = srv()
    a = s.agent("acme")
    ids = ["a/b/c-%s@x" % RUN, "..", ".", "../../beta-calls/calls/%s" % RUN,
           "100%%real%%2F%s@x" % RUN, "with some spaces %s@x" % RUN,
           ("long-%s/" % RUN) + "y" * 2048]
    base = sc.now_ns() - 10**9
    dialogs = []
    for i, c in enumerate(ids):
        d = sc.Dialog(c, base + i)
        d.answered()
        a.send_messages(d.msgs)
        dialogs.append(d)
    for d in dialogs:
        key = sc.call_key(d.call_id)
        check("/" not in key and key not in (".", ".."), "bad expected key")
        if len(key) <= 200:
            p = s.wait_object("acme-calls", d.call_id, d.base_ts, "quality.json", 10)
            eq(os.path.basename(os.path.dirname(p)), key, "directory name = call_key")
        else:
            # A key this long fits neither a file name (255 bytes) nor an S3 key (1024): the
            # contract's escaping must be shortened somehow. Accept any safe directory name
            # whose quality.json names the full Call-ID.
            day = os.path.dirname(s.call_dir("acme-calls", d.call_id, d.base_ts).rstrip("/"))
            p = wait_until(lambda: _find_call(day, d.call_id), 10,
                           what="the objects of the %d-byte Call-ID" % len(d.call_id))
            k = os.path.basename(os.path.dirname(p))
            check(len(k) <= 255 and all(c in SAFE for c in k), "unsafe key %r" % k[:80])
        check_pcap(os.path.join(os.path.dirname(p), "sip.pcap.gz"), d.msgs, key[:40])
        eq(json.load(open(p))["call_id"], d.call_id, "call_id in quality.json")
    # nothing anywhere but acme-calls/calls/YYYY/MM/DD/{key}/{object}
    root = s.objects_root()
    for bucket, key in s.all_objects():
        eq(bucket, "acme-calls", "bucket of " + key[:80])
        parts = key.split(os.sep)
        eq(len(parts), 6, "path depth of " + key[:80])
        eq(parts[0], "calls", "prefix of " + key[:80])
    check(not os.path.exists(os.path.join(root, "beta-calls")), "something landed in beta-calls")
    a.close()


def test_same_call_id_two_customers():
    s = srv()
    a, b = s.agent("acme"), s.agent("beta")
    c = "shared-%s@same.example" % RUN
    base = sc.now_ns() - 10**9
    da = sc.Dialog(c, base, from_uri="sip:alice@example.com")
    db = sc.Dialog(c, base + 5, from_uri="sip:alice@example.com", caller=("203.0.113.5", 5060),
                   caller_media=("203.0.113.5", 42000))
    da.answered(t_bye_ms=2000)
    db.answered(bye_from_caller=False, t_bye_ms=2500)
    la = ["acme line %d" % i for i in range(3)]
    lb = ["beta line %d" % i for i in range(4)]
    # interleaved on the two connections
    for ma, mb in zip(da.msgs, db.msgs):
        a.sip(ma.ts, ma.call_id, ma.src, ma.dst, ma.raw)
        b.sip(mb.ts, mb.call_id, mb.src, mb.dst, mb.raw)
    for i, ln in enumerate(la):
        a.log(da.ts(1100 + i), c, ln)
    for i, ln in enumerate(lb):
        b.log(db.ts(1100 + i), c, ln)
    qa = s.quality("acme-calls", c, da.base_ts, 10)
    qb = s.quality("beta-calls", c, db.base_ts, 10)
    eq(qa["customer"], "acme", "customer in acme's quality.json")
    eq(qb["customer"], "beta", "customer in beta's quality.json")
    da_dir, db_dir = s.call_dir("acme-calls", c, da.base_ts), s.call_dir("beta-calls", c,
                                                                          db.base_ts)
    check_pcap_bytes(os.path.join(da_dir, "sip.pcap.gz"), da.msgs)
    check_pcap_bytes(os.path.join(db_dir, "sip.pcap.gz"), db.msgs)
    check_logs(da_dir, la, "acme logs")
    check_logs(db_dir, lb, "beta logs")
    a.close()
    b.close()


def test_log_chunks_while_active():
    s = srv()
    a = s.agent("acme")
    d = sc.Dialog("logs-%s@x" % RUN, sc.now_ns() - 10**9)
    d.answered(t_bye_ms=9000)
    a.send_messages(d.msgs[:5])  # ACTIVE
    cdir = s.call_dir("acme-calls", d.call_id, d.base_ts)
    lines, n = [], 0
    for rnd in range(3):
        for i in range(7):
            n += 1
            ln = "round %d line %d: customer=acme call %s" % (rnd, n, d.call_id)
            lines.append(ln)
            a.log(d.ts(1100 + n), d.call_id, ln)
        want = rnd + 1
        wait_until(lambda: len(log_chunks(cdir)) >= want, 5,
                   what="log chunk %d while the call is ACTIVE" % want)
        check(not os.path.exists(os.path.join(cdir, "quality.json")), "call completed early")
    # a chunk already written is never written again: remember them
    early = {f: open(os.path.join(cdir, f), "rb").read() for f in os.listdir(cdir)}
    for i in range(5):
        n += 1
        lines.append("final line %d" % n)
        a.log(d.ts(5000 + i), d.call_id, lines[-1])
    a.send_messages(d.msgs[5:])
    s.quality("acme-calls", d.call_id, d.base_ts, 10)
    chunks = check_logs(cdir, lines)
    check(len(chunks) >= 4, "expected at least 4 chunks, got %d" % len(chunks))
    for f, data in early.items():
        eq(open(os.path.join(cdir, f), "rb").read(), data, f + " rewritten")
    a.close()


def test_zz_sigterm():
    eq(srv().stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    run_tests(globals())
