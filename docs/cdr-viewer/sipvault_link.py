#!/usr/bin/env python3
"""A SIP VAULT deep link for one call, as a CDR viewer makes it (docs/cdr-viewer.md).

sig = lowercase hex HMAC-SHA256(secret, customer "\\n" call_id "\\n" ts).
Usage from the command line: sipvault_link.py BASE_URL CUSTOMER CALL_ID [TS]
with the secret in the environment variable SIPVAULT_HMAC_SECRET.
"""
import hashlib
import hmac
import os
import sys
import time
from urllib.parse import quote, urlencode


def sipvault_link(base, secret, customer, call_id, ts=None, date=None):
    ts = int(time.time()) if ts is None else int(ts)
    msg = "%s\n%s\n%d" % (customer, call_id, ts)
    sig = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
    query = {"customer": customer, "ts": ts, "sig": sig}
    if date is not None:
        query["date"] = date  # optional hint (YYYY-MM-DD, UTC day the call started), not signed
    return "%s/calls/%s?%s" % (base.rstrip("/"), quote(call_id, safe=""),
                               urlencode(query, quote_via=quote))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: sipvault_link.py BASE_URL CUSTOMER CALL_ID [TS]")
    print(sipvault_link(sys.argv[1], os.environ["SIPVAULT_HMAC_SECRET"], sys.argv[2],
                        sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
