"""sipvault-server with SIPVAULT_S3_ENDPOINT: objects through the spool into Swift's s3api.

- Calls of two customers flow from the wire protocol to objects in the right buckets; every
  object is read back with boto3 and equals, byte for byte, what a second server using the
  local store wrote for the same frames (same keys, same bytes, nothing else in the buckets).
- Start-up bucket check: a customer whose bucket does not exist gets one error line naming it
  and sipvault_s3_bucket_ok 0, the others 1; the server keeps running. With a wrong secret,
  every customer gets one line, uploads are retried with a warning naming the bucket, counted
  in sipvault_s3_errors_total{bucket}, and the secret appears nowhere in the log.
- Outage: Swift's proxy is stopped (SIGSTOP) for OUTAGE_S seconds (60 s, as issue 4 asks;
  SV_OUTAGE_S shortens it when iterating locally) while calls keep flowing; the spool metrics show the backlog; after SIGCONT everything arrives, nothing lost,
  nothing extra.
- A server stopped (SIGTERM) with a non-empty spool drains it after a restart.

Runs under /usr/bin/python3 (Debian's python3-swift and python3-boto3).
"""

import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import svclient as sc  # noqa: E402
from serverfixture import DEFAULT_CUSTOMERS, Server, check, eq, run_tests, wait_until  # noqa: E402
from swiftfixture import Swift  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
OUTAGE_S = float(os.environ.get("SV_OUTAGE_S", "60"))
GAMMA = {"id": "gamma", "token": "gamma-token-5555555555", "bucket": "gamma-no-such-bucket"}
S = {}


def setup():
    sw = Swift()
    sw.start()
    S["swift"] = sw
    cli = boto3.client("s3", endpoint_url=sw.endpoint, region_name=sw.region,
                       aws_access_key_id=sw.access_key, aws_secret_access_key=sw.secret_key,
                       config=Config(s3={"addressing_style": "path"},
                                     retries={"max_attempts": 2}))
    for c in DEFAULT_CUSTOMERS:
        cli.create_bucket(Bucket=c["bucket"])
    S["boto"] = cli
    S["local"] = Server(name="s3-local").start()
    S["s3"] = Server(name="s3", customers=DEFAULT_CUSTOMERS + [GAMMA], env=sw.env()).start()


def s3_keys(bucket, prefix=""):
    out = []
    for page in S["boto"].get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                    Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def make_calls(tag, n):
    base = sc.now_ns() - 30 * 10**9
    calls = []
    for i in range(n):
        cust = "acme" if i % 3 else "beta"
        d = sc.Dialog("%s-%d-%s@s3.example" % (tag, i, RUN), base + i * 1000,
                      uac_ssrc=0x30000 + i, uas_ssrc=0x40000 + i)
        d.answered(bye_from_caller=(i % 2 == 0), t_bye_ms=3000)
        rtcp = list(d.rtcp_pair(1500, 2500))
        lines = ["%s call %d line %d" % (tag, i, j) for j in range(3)]
        calls.append((cust, d, rtcp, lines))
    return calls


def send_calls(srv, calls):
    agents = {}
    for cust, d, rtcp, lines in calls:
        a = agents.get(cust) or agents.setdefault(cust, srv.agent(cust, caps="ack,rtcp-addr"))
        a.send_messages(d.msgs[:5])
        for ts, src, dst, ssrc, raw in rtcp:
            a.rtcp(ts, d.call_id, ssrc, raw, src, dst)
        for j, ln in enumerate(lines):
            a.log(d.ts(1100 + j), d.call_id, ln)
        a.send_messages(d.msgs[5:])
    for a in agents.values():
        a.wait_ack(a.seq, timeout=15)
        a.close()


def completed(srv):
    m = srv.metrics()
    return sum(m.get("sipvault_calls_completed_total", customer=c["id"])
               for c in DEFAULT_CUSTOMERS)


def local_objects(calls):
    """{(bucket, key): bytes} the local-store server wrote for these calls."""
    loc = S["local"]
    out = {}
    for cust, d, _, _ in calls:
        bucket = loc.customer(cust)["bucket"]
        cdir = loc.call_dir(bucket, d.call_id, d.base_ts)
        wait_until(lambda: os.path.exists(os.path.join(cdir, "quality.json")), 20,
                   what="local objects of " + d.call_id)
        for f in sorted(os.listdir(cdir)):
            if ".tmp." in f:
                continue
            with open(os.path.join(cdir, f), "rb") as fh:
                key = sc.call_prefix(d.call_id, d.base_ts) + f
                out[(bucket, key)] = fh.read()
    return out


def check_s3_equals_local(calls):
    want = local_objects(calls)
    check(len(want) >= 3 * len(calls), "local objects: %d" % len(want))
    for (bucket, key), data in sorted(want.items()):
        o = S["boto"].get_object(Bucket=bucket, Key=key)
        got = o["Body"].read()
        eq(len(got), len(data), "%s/%s size" % (bucket, key))
        check(got == data, "%s/%s: S3 bytes differ from the local store's" % (bucket, key))
        if key.endswith(".gz"):
            eq(o.get("ContentType"), "application/gzip", key + " content type")
        elif key.endswith(".json"):
            eq(o.get("ContentType"), "application/json", key + " content type")
    # Nothing else under these calls' directories, in either bucket (right bucket only).
    for c in DEFAULT_CUSTOMERS:
        for cust, d, _, _ in calls:
            prefix = sc.call_prefix(d.call_id, d.base_ts)
            got = s3_keys(c["bucket"], prefix)
            exp = sorted(k for (b, k) in want if b == c["bucket"] and k.startswith(prefix))
            eq(got, exp, "keys of %s in %s" % (d.call_id, c["bucket"]))
    return len(want)


def wait_drained(srv, timeout=60):
    wait_until(lambda: srv.metrics().get("sipvault_spool_objects") == 0, timeout, 0.2,
               "an empty spool")


# --------------------------------------------------------------------------- tests

def test_bucket_check_at_startup():
    s = S["s3"]
    # the checks run concurrently: wait for each customer's result
    s.wait_metric("sipvault_s3_bucket_ok", 1, 15, customer="acme")
    s.wait_metric("sipvault_s3_bucket_ok", 1, 15, customer="beta")
    wait_until(lambda: "customer=gamma S3 bucket check failed" in s.log_text(), 15,
               what="gamma's error line")
    lines = [ln for ln in s.log_text().splitlines() if "S3 bucket check failed" in ln]
    eq(len(lines), 1, "error lines: %r" % lines)
    check("bucket gamma-no-such-bucket: bucket does not exist" in lines[0], lines[0])
    check("NoSuchBucket" in lines[0], lines[0])
    m = s.metrics()
    check(m.has("sipvault_s3_bucket_ok"), "no sipvault_s3_bucket_ok")
    eq(m.get("sipvault_s3_bucket_ok", customer="gamma", bucket="gamma-no-such-bucket"), 0,
       "gamma bucket check metric")
    for name in ("sipvault_spool_objects", "sipvault_spool_bytes", "sipvault_spool_oldest_seconds",
                 "sipvault_s3_errors_total"):
        check(m.has(name), "metric %s missing" % name)
    check(s.alive(), "server stopped after a failed bucket check")
    check(S["swift"].secret_key not in s.log_text(), "secret key in the log")


def test_calls_flow_to_the_right_buckets_like_the_local_store():
    calls = make_calls("flow", 12)
    send_calls(S["local"], calls)
    send_calls(S["s3"], calls)
    wait_until(lambda: completed(S["s3"]) >= 12, 30, 0.2, "12 completed calls")
    wait_drained(S["s3"])
    n = check_s3_equals_local(calls)
    m = S["s3"].metrics()
    eq(m.get("sipvault_spool_bytes"), 0, "spool bytes")
    eq(m.get("sipvault_spool_oldest_seconds"), 0, "oldest spooled")
    eq(m.get("sipvault_s3_errors_total", bucket="acme-calls"), 0, "acme upload errors")
    check(m.get("sipvault_s3_uploads_total") >= n, "uploads_total %s < %d" % (
        m.get("sipvault_s3_uploads_total"), n))
    eq(os.listdir(os.path.join(S["s3"].data_dir, "spool", "objects")), [], "spool directory")
    check(not os.path.exists(os.path.join(S["s3"].data_dir, "objects")) or
          S["s3"].all_objects() == [], "the S3 server wrote into the local store")


def test_outage_everything_arrives_after():
    s = S["s3"]
    done0 = completed(s)
    calls = make_calls("outage", 18)
    send_calls(S["local"], calls)
    S["swift"].pause()
    try:
        t0 = time.monotonic()
        for k in range(0, 18, 3):  # calls keep flowing during the outage
            send_calls(s, calls[k:k + 3])
            time.sleep(OUTAGE_S / 8)
        wait_until(lambda: completed(s) >= done0 + 18, 30, 0.2, "calls completed in the outage")
        m = s.metrics()
        check(m.get("sipvault_spool_objects") >= 18 * 3, "spool objects %s" %
              m.get("sipvault_spool_objects"))
        check(m.get("sipvault_spool_bytes") > 0, "spool bytes")
        check(m.get("sipvault_spool_oldest_seconds") > 0.5, "oldest %s" %
              m.get("sipvault_spool_oldest_seconds"))
        time.sleep(max(0, OUTAGE_S - (time.monotonic() - t0)))
    finally:
        S["swift"].resume()
    wait_drained(s, 90)
    check_s3_equals_local(calls)


def test_restart_with_a_full_spool_drains_it():
    s = S["s3"]
    calls = make_calls("restart", 6)
    send_calls(S["local"], calls)
    done0 = completed(s)
    S["swift"].pause()
    try:
        send_calls(s, calls)
        wait_until(lambda: completed(s) >= done0 + 6, 30, 0.2, "calls completed")
        eq(s.stop(signal.SIGTERM), 0, "exit status")
    finally:
        S["swift"].resume()
    spool = os.path.join(s.data_dir, "spool", "objects")
    left = [f for f in os.listdir(spool) if f.endswith(".obj")]
    check(len(left) >= 6 * 3, "spool after the stop: %d files" % len(left))
    s._spawn(10)
    wait_drained(s, 60)
    eq([f for f in os.listdir(spool) if f.endswith(".obj")], [], "spool after the restart")
    check("waiting in %s from before" % spool in s.log_text(), "no recovery line in the log")
    check_s3_equals_local(calls)


def test_wrong_secret_one_line_per_customer():
    sw = S["swift"]
    env = sw.env()
    env["SIPVAULT_S3_SECRET_KEY"] = "wrong-secret-value-123"
    s = Server(name="s3-bad", env=env).start()
    wait_until(lambda: s.log_text().count("S3 bucket check failed") >= 2, 15,
               what="two error lines")
    lines = [ln for ln in s.log_text().splitlines() if "S3 bucket check failed" in ln]
    eq(len(lines), 2, "lines %r" % lines)
    for c in DEFAULT_CUSTOMERS:
        check(any("customer=%s " % c["id"] in ln and "signature refused" in ln for ln in lines),
              "no line for %s: %r" % (c["id"], lines))
    # A call still completes (spooled), its upload fails: a warning names the bucket.
    calls = make_calls("badkey", 1)
    send_calls(s, calls)
    wait_until(lambda: "upload to bucket %s failed" % s.customer(calls[0][0])["bucket"]
               in s.log_text(), 20, what="the upload warning")
    m = s.wait_metric("sipvault_s3_errors_total", 1, 10, bucket=s.customer(calls[0][0])["bucket"])
    check(m.get("sipvault_spool_objects") >= 3, "spooled objects kept")
    eq(m.get("sipvault_s3_bucket_ok", customer="acme"), 0, "acme bucket check")
    text = s.log_text()
    check("wrong-secret-value-123" not in text, "secret in the log")
    check(s.alive(), "server stopped")
    eq(s.stop(), 0, "exit status")
    s.cleanup()


if __name__ == "__main__":
    try:
        setup()
    except Exception as e:  # noqa: BLE001
        print("FAIL setup: %s" % e)
        if "swift" in S:
            S["swift"].stop()
        sys.exit(1)
    try:
        run_tests(globals())
    finally:
        S["swift"].stop()
