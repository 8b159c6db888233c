"""The S3 object store (spool + uploads, src/common/store/s3store.c) against Swift's s3api.

Starts Swift (tests/tools/swiftfixture.py), creates two buckets with boto3, runs
$SV_TESTS_DIR/itest_s3store (puts land in S3; a bucket check with the right keys, a wrong
secret, an unknown access key and a missing bucket; a store "crashing" with a full spool while
Swift is stopped and a new one draining it; Swift's proxy stopped with SIGSTOP for
SV_OUTAGE_S seconds (default 12; the issue's 60 s outage is shortened to keep the suite fast,
the code path is the same) while puts continue, then everything arrives, exactly once). Then
every object listed in the manifest the program wrote is read back with boto3 and compared
byte for byte (SHA-256, size, Content-Type, Content-Encoding).

Run through tests/integration/s3_store.sh (ctest), under /usr/bin/python3 (Debian's
python3-swift, python3-boto3).
"""

import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from swiftfixture import Swift  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

BUCKET_A = "sv-store-a"
BUCKET_B = "sv-store-b"


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def main():
    tests_dir = os.environ.get("SV_TESTS_DIR")
    if not tests_dir:
        fail("SV_TESTS_DIR is not set (run through ctest)")
    itest = os.path.join(tests_dir, "itest_s3store")
    if not os.access(itest, os.X_OK):
        fail("%s missing" % itest)
    with Swift() as s, tempfile.TemporaryDirectory(prefix="sv-s3store-") as tmp:
        sys.stderr.write("s3_store: Swift at %s\n" % s.endpoint)
        cli = boto3.client("s3", endpoint_url=s.endpoint, region_name=s.region,
                           aws_access_key_id=s.access_key, aws_secret_access_key=s.secret_key,
                           config=Config(s3={"addressing_style": "path"},
                                         retries={"max_attempts": 2}))
        for b in (BUCKET_A, BUCKET_B):
            cli.create_bucket(Bucket=b)
        manifest = os.path.join(tmp, "manifest.tsv")
        env = dict(os.environ)
        env.update(s.env())
        env.update({"SV_BUCKET_A": BUCKET_A, "SV_BUCKET_B": BUCKET_B, "SV_MANIFEST": manifest,
                    "SV_SWIFT_PROXY_PGID": str(s.procs[-1].pid)})
        env.setdefault("SV_OUTAGE_S", "12")
        r = subprocess.run([itest], env=env, cwd=tmp)
        # Whatever happened, never leave the proxy stopped.
        try:
            s.resume()
        except OSError:
            pass
        if r.returncode != 0:
            fail("itest_s3store exited with %d" % r.returncode)
        n = 0
        with open(manifest) as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        # The last put of a key wins (none is put twice today, but be exact).
        last = {}
        for row in rows:
            last[(row[0], row[1])] = row
        for (bucket, key), (_, _, size, sha, ct, ce) in sorted(last.items()):
            o = cli.get_object(Bucket=bucket, Key=key)
            body = o["Body"].read()
            if len(body) != int(size) or hashlib.sha256(body).hexdigest() != sha:
                fail("%s/%s: boto3 read %d bytes that differ from what was put" % (
                    bucket, key, len(body)))
            if ct and o.get("ContentType") != ct:
                fail("%s/%s: Content-Type %r, want %r" % (bucket, key, o.get("ContentType"), ct))
            if ce and o.get("ContentEncoding") != ce:
                fail("%s/%s: Content-Encoding %r, want %r" % (
                    bucket, key, o.get("ContentEncoding"), ce))
            n += 1
        if n < 100:
            fail("only %d objects in the manifest" % n)
        sys.stderr.write("s3_store: %d objects read back with boto3, byte for byte\n" % n)
    sys.stderr.write("s3_store: ok\n")


if __name__ == "__main__":
    main()
