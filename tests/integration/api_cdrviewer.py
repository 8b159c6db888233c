"""The CDR-viewer snippets of docs/cdr-viewer.md (PHP, Python, Node.js) make links that
sipvault-api opens: each language signs Call-IDs with / % + = @, spaces and UTF-8 for a call
the real server wrote; curl opens each link; the three make the same link; a link made with
another secret is refused."""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ["SV_SOURCE_DIR"]
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import svclient as sc  # noqa: E402
from apifixture import SECRET, Api, stop_all  # noqa: E402
from serverfixture import Server, check, eq, run_tests  # noqa: E402

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
IDS = ["cdr-%s@pbx.example" % RUN, "a/b %% + = @ c %s" % RUN, "ünïcode-%s@h" % RUN]
SNIPPETS = {
    "php": ["php", os.path.join(SRC, "docs", "cdr-viewer", "sipvault_link.php")],
    "python": [sys.executable, os.path.join(SRC, "docs", "cdr-viewer", "sipvault_link.py")],
    "node": ["node", os.path.join(SRC, "docs", "cdr-viewer", "sipvault_link.js")],
}
S = {}


def setup():
    if "api" in S:
        return S
    srv = Server(name="api-cdr").start()
    ag = srv.agent("acme")
    base = sc.now_ns() - 3 * 10**9
    ds = []
    for i, cid in enumerate(IDS):
        d = sc.Dialog(cid, base + i * 1000)
        d.answered(t_bye_ms=1000)
        ag.send_messages(d.msgs)
        ds.append(d)
    for cid, d in zip(IDS, ds):
        srv.quality("acme-calls", cid, d.base_ts, 15)
    ag.close()
    S["srv"] = srv
    S["api"] = Api(data_dir=srv.data_dir, name="cdr").start()
    return S


def make_link(lang, cid, secret=SECRET, ts=None):
    argv = SNIPPETS[lang] + [S["api"].base, "acme", cid] + ([str(ts)] if ts else [])
    p = subprocess.run(argv, capture_output=True, timeout=30,
                       env=dict(os.environ, SIPVAULT_HMAC_SECRET=secret))
    eq(p.returncode, 0, "%s snippet: %s" % (lang, p.stderr))
    return p.stdout.decode().strip()


def curl(url):
    p = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", url], capture_output=True,
                       timeout=30)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code), body


def test_each_language_opens_the_call():
    setup()
    for lang in SNIPPETS:
        for cid in IDS:
            url = make_link(lang, cid)
            check(url.startswith(S["api"].base + "/calls/"), "contract link form: " + url)
            code, body = curl(url)
            eq(code, 200, "%s link for %r: %s" % (lang, cid, body[:200]))
            eq(json.loads(body)["call_id"], cid, "%s: the right call" % lang)


def test_same_link_in_every_language():
    setup()
    ts = int(time.time())
    for cid in IDS:
        links = {lang: make_link(lang, cid, ts=ts) for lang in SNIPPETS}
        eq(len(set(links.values())), 1, "one link for %r: %r" % (cid, links))


def test_wrong_secret_refused():
    setup()
    for lang in SNIPPETS:
        code, body = curl(make_link(lang, IDS[0], secret="not-the-secret"))
        eq(code, 401, lang + " link with another secret")


def test_zz_stop():
    eq(S["api"].stop(), 0, "API exit status")
    S["srv"].stop()
    stop_all()


if __name__ == "__main__":
    run_tests(globals())
