"""boto3's PUT throughput, the reference for bench_s3store: N PutObject calls of SIZE bytes
with CONC threads sharing one client (boto3 clients are thread-safe; the connection pool is
sized to CONC). Reads SIPVAULT_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY; prints
"puts=N seconds=S per_s=R" on stdout. Run under /usr/bin/python3 (Debian python3-boto3).

    s3_put_boto3.py BUCKET CONC COUNT SIZE PREFIX
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def main(argv):
    bucket, conc, count, size, prefix = argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5]
    e = os.environ
    cli = boto3.client("s3", endpoint_url=e["SIPVAULT_S3_ENDPOINT"],
                       region_name=e.get("SIPVAULT_S3_REGION", "auto"),
                       aws_access_key_id=e["SIPVAULT_S3_ACCESS_KEY"],
                       aws_secret_access_key=e["SIPVAULT_S3_SECRET_KEY"],
                       config=Config(s3={"addressing_style": "path"},
                                     max_pool_connections=max(conc, 10),
                                     retries={"max_attempts": 3}))
    body = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(size))

    def put(i):
        cli.put_object(Bucket=bucket, Key="%s/%06d" % (prefix, i), Body=body,
                       ContentType="application/gzip")

    for i in range(min(10, count)):  # warm-up: connections, credentials
        put(count + i)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=conc) as ex:
        for f in [ex.submit(put, i) for i in range(count)]:
            f.result()
    dt = time.monotonic() - t0
    print("puts=%d seconds=%.3f per_s=%.1f" % (count, dt, count / dt))


if __name__ == "__main__":
    main(sys.argv)
