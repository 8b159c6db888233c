#!/usr/bin/python3
"""Oracle for tests/unit/test_sigv4.c: botocore (Debian's python3-botocore)
signs the requests described in a JSON file, and prints what it produced.

usage: sigv4_botocore.py CASES.json  ->  JSON list on stdout, one object per case

Each case: {"mode", "method", "scheme", "host", "path" (raw), "query": [[n, v]...],
"headers": [[n, v]...], "body_hex", "now" (Unix s), "access_key", "secret_key",
"token" (or null), "region", "expires", "unsigned_payload", "bucket", "key",
"operation", "params"}.

modes:
  header         S3SigV4Auth on an AWSRequest whose URL is encoded the way
                 botocore's serializer does it (quote(path, safe='/~'),
                 percent_encode for the query)
  presign        S3SigV4QueryAuth on the same AWSRequest
  generic        SigV4Auth (non-S3: normalised, double-encoded path)
  client-header  a real botocore S3 client (path-style) builds and signs the
                 request for `operation`; it is captured before sending
  client-presign the same client's generate_presigned_url()

The clock is frozen at "now" by replacing the datetime module botocore.auth
uses. Exits non-zero (and the C test fails) when botocore is missing.
"""
import datetime
import json
import sys
import types
from urllib.parse import quote

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def freeze(now):
    fixed = datetime.datetime.utcfromtimestamp(now)

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

        @classmethod
        def now(cls, tz=None):
            return fixed if tz is None else fixed.replace(tzinfo=tz)

    botocore.auth.datetime = types.SimpleNamespace(datetime=Frozen)


def url_of(c):
    url = c["scheme"] + "://" + c["host"] + quote(c["path"].encode("utf-8"), safe="/~")
    if c["query"]:
        url += "?" + "&".join(
            quote(n.encode("utf-8"), safe="-_.~") + "=" + quote(v.encode("utf-8"), safe="-_.~")
            for n, v in c["query"]
        )
    return url


def creds_of(c):
    return Credentials(c["access_key"], c["secret_key"], c.get("token"))


def request_of(c):
    body = bytes.fromhex(c["body_hex"]) if c.get("body_hex") else b""
    req = AWSRequest(method=c["method"], url=url_of(c), headers=dict(c["headers"]), data=body)
    if c.get("unsigned_payload"):
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    return req


class Captured(Exception):
    def __init__(self, request):
        super().__init__("captured")
        self.request = request


def client_of(c):
    sess = botocore.session.get_session()
    return sess.create_client(
        "s3",
        region_name=c["region"],
        endpoint_url=c["scheme"] + "://" + c["host"],
        aws_access_key_id=c["access_key"],
        aws_secret_access_key=c["secret_key"],
        aws_session_token=c.get("token"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}),
    )


def run(c):
    freeze(c["now"])
    mode = c["mode"]
    out = {"mode": mode}
    if mode in ("header", "generic"):
        req = request_of(c)
        cls = botocore.auth.S3SigV4Auth if mode == "header" else botocore.auth.SigV4Auth
        signer = cls(creds_of(c), "s3", c["region"])
        signer.add_auth(req)
        out["url"] = req.url
        out["headers"] = [[k, v] for k, v in req.headers.items()]
    elif mode == "presign":
        req = request_of(c)
        botocore.auth.S3SigV4QueryAuth(creds_of(c), "s3", c["region"],
                                       expires=c["expires"]).add_auth(req)
        out["url"] = req.url
    elif mode == "client-presign":
        cl = client_of(c)
        out["url"] = cl.generate_presigned_url(c["operation"], Params=c["params"],
                                               ExpiresIn=c["expires"])
    elif mode == "client-header":
        cl = client_of(c)

        def capture(request, **kwargs):
            raise Captured(request)

        cl.meta.events.register("before-send.s3", capture)
        params = dict(c["params"])
        if "Body" in params:
            params["Body"] = bytes.fromhex(params["Body"])
        try:
            getattr(cl, c["operation"])(**params)
            raise SystemExit("request was not captured")
        except Captured as e:
            out["url"] = e.request.url
            out["method"] = e.request.method
            hdrs = []
            for k, v in e.request.headers.items():
                hdrs.append([k, v.decode("utf-8") if isinstance(v, bytes) else v])
            out["headers"] = hdrs
            body = e.request.body or b""
            if hasattr(body, "read"):
                body = body.read()
            if isinstance(body, str):
                body = body.encode("utf-8")
            out["body_hex"] = body.hex()
    else:
        raise SystemExit("unknown mode " + mode)
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    json.dump([run(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
