"""sipvault-api over S3: OpenStack Swift + s3api (the existing fixture) holds the objects the
real sipvault-server wrote; the API finds the call with ListObjectsV2 through curl multi on its
event loop, answers summary, ladder and logs, and hands out SigV4 pre-signed artifact URLs
(15 minutes) that curl fetches byte-identical to what boto3 reads. A dashboard's repeated
requests cost no further object-store requests; a call from today costs one lookup.

Runs under /usr/bin/python3 (Debian's python3-swift and python3-boto3).
"""

import os
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import svclient as sc  # noqa: E402
from apifixture import Api, link, stop_all  # noqa: E402
from serverfixture import DEFAULT_CUSTOMERS, Server, check, eq, run_tests, wait_until  # noqa: E402
from swiftfixture import Swift  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
CID = "s3 call/%s+x=y@%%host" % RUN
S = {}


def api_env(sw):
    e = dict(sw.env())
    # the guide's names for the keys the API reads and pre-signs with
    e.update({"AWS_ACCESS_KEY_ID": sw.access_key, "AWS_SECRET_ACCESS_KEY": sw.secret_key})
    return e


def setup():
    if "api" in S:
        return S
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
    srv = Server(name="api-s3", env=dict(sw.env(), SIPVAULT_LOG_FLUSH="1")).start()
    S["srv"] = srv
    ag = srv.agent("acme")
    d = sc.Dialog(CID, sc.now_ns() - 2 * 10**9)
    d.answered(t_bye_ms=1500)
    ag.send_messages(d.msgs)
    for n in range(4):
        ag.log(d.ts(1100 + n), CID, "s3 log line %d" % n)
    S["dialog"] = d
    prefix = sc.call_prefix(CID, d.base_ts)
    S["prefix"] = prefix

    def keys():
        r = cli.list_objects_v2(Bucket="acme-calls", Prefix=prefix)
        return [o["Key"] for o in r.get("Contents", [])]
    wait_until(lambda: any(k.endswith("quality.json") for k in keys()), 30,
               what="quality.json in Swift")
    ag.close()
    S["api"] = Api(name="s3", env=api_env(sw)).start()
    return S


def test_summary_and_presigned_urls():
    s = setup()
    a = s["api"]
    r = a.request(link("acme", CID, form="query"))
    eq(r.status, 200, "summary over S3: %s" % r.body[:300])
    j = r.json()
    eq(j["quality"]["call_id"], CID, "quality.json")
    names = [x["name"] for x in j["artifacts"]]
    for want in ("quality.json", "sip.pcap.gz", "rtcp.json.gz", "log-000001.gz"):
        check(want in names, "%s listed: %r" % (want, names))
    for art in j["artifacts"]:
        u = urllib.parse.urlsplit(art["url"])
        qs = urllib.parse.parse_qs(u.query)
        eq(qs["X-Amz-Expires"], ["900"], "15-minute pre-signed URL")
        check(u.netloc == urllib.parse.urlsplit(s["swift"].endpoint).netloc, "points at S3")
        p = subprocess.run(["curl", "-sS", "-f", art["url"]], capture_output=True, timeout=30)
        eq(p.returncode, 0, "curl %s: %s" % (art["name"], p.stderr))
        want = s["boto"].get_object(Bucket="acme-calls", Key=s["prefix"] + art["name"])
        eq(p.stdout, want["Body"].read(), "bytes of " + art["name"])
        eq(art["size"], len(p.stdout), "size of " + art["name"])


def test_sip_and_logs():
    s = setup()
    a = s["api"]
    r = a.request(link("acme", CID, "sip", form="query"))
    eq(r.status, 200, "sip")
    msgs = r.json()
    eq([m["raw"].encode() for m in msgs],
       [m.raw for m in sorted(s["dialog"].msgs, key=lambda x: x.ts)], "ladder")
    r = a.request(link("acme", CID, "logs", form="query"))
    eq(r.status, 200, "logs")
    eq([x["text"] for x in r.json()], ["s3 log line %d" % n for n in range(4)], "log lines")


def test_costs_and_cache():
    s = setup()
    b = Api(name="s3-cost", env=api_env(s["swift"])).start()
    m0 = b.metrics()
    eq(b.request(link("acme", CID, form="query", ts=s["dialog"].base_ts // 10**9)).status, 200,
       "first request")
    m1 = b.metrics()
    eq(m1.get("sipvault_api_objstore_requests_total", op="list")
       - m0.get("sipvault_api_objstore_requests_total", op="list"), 1, "one lookup for today")
    for _ in range(3):
        for ep in ("", "sip", "logs"):
            eq(b.request(link("acme", CID, ep, form="query")).status, 200, "again " + ep)
    m2 = b.metrics()
    eq(m2.get("sipvault_api_objstore_requests_total", op="list")
       - m1.get("sipvault_api_objstore_requests_total", op="list"), 0, "no more lookups")
    gets = m2.get("sipvault_api_objstore_requests_total", op="get") \
        - m1.get("sipvault_api_objstore_requests_total", op="get")
    eq(gets, 2, "sip.pcap.gz and the one log chunk read once each")
    # beta cannot open acme's call, even with the same Call-ID
    eq(b.request(link("beta", CID, form="query")).status, 404, "beta's bucket has no such call")
    eq(b.stop(), 0, "exit status")


def test_store_down_is_503():
    s = setup()
    a = Api(name="s3-down", env=dict(api_env(s["swift"]),
                                     SIPVAULT_S3_ENDPOINT="http://127.0.0.1:9")).start()
    r = a.request(link("acme", CID, form="query"), timeout=60)
    eq(r.status, 503, "object store unreachable")
    eq(r.json(), {"error": "object store unavailable"}, "503 body")
    a.stop()


def test_zz_stop():
    eq(S["api"].stop(), 0, "API exit status")
    S["srv"].stop()
    S["swift"].stop()
    stop_all()


if __name__ == "__main__":
    run_tests(globals())
