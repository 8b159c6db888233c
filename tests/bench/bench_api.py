#!/usr/bin/env python3
"""sipvault-api benchmark (`make bench`, through bench_api).

1. First request for a call from the local store: the real sipvault-server writes N calls;
   a fresh sipvault-api answers GET /calls/{id} once per call (each a cache miss: lookup,
   quality.json read); the time is measured by the client on a kept-alive connection, and
   the API's own histogram is printed too.
2. GET /calls/{id} from the cache vs nginx serving the same JSON bytes as a static file:
   wrk, 200 connections, 2 threads, DURATION seconds each; requests/s and p99.

Prints one line per figure, ready for docs/performance.md.
"""
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ["SV_SOURCE_DIR"]
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
import svclient as sc  # noqa: E402
from apifixture import Api, link, stop_all  # noqa: E402
from serverfixture import Server, free_port  # noqa: E402

N_CALLS = int(os.environ.get("SV_BENCH_API_CALLS", "50"))
DURATION = int(os.environ.get("SV_BENCH_API_SECONDS", "10"))
CONNS = 200
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk")


def wrk(url):
    p = subprocess.run([WRK, "-t2", "-c%d" % CONNS, "-d%ds" % DURATION, "--latency", url],
                       capture_output=True, text=True, timeout=DURATION + 60)
    out = p.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(errs.group(1)) if errs else 0, out


def main():
    if WRK is None or not os.path.exists(NGINX):
        sys.exit("bench_api: needs wrk and nginx (scripts/install-deps.sh)")
    print("bench_api: %d calls, wrk -t2 -c%d -d%ds" % (N_CALLS, CONNS, DURATION))
    srv = Server(name="bench-api").start()
    ag = srv.agent("acme")
    base = sc.now_ns() - 5 * 10**9
    ids = []
    for i in range(N_CALLS):
        cid = "bench-%d-%x@pbx.example" % (i, base & 0xFFFFFF)
        d = sc.Dialog(cid, base + i * 1000)
        d.answered(t_bye_ms=1000)
        ag.send_messages(d.msgs)
        for n in range(5):
            ag.log(d.ts(1100 + n), cid, "log line %d" % n)
        ids.append((cid, d))
    for cid, d in ids:
        srv.quality("acme-calls", cid, d.base_ts, 30)
    ag.close()
    api = Api(data_dir=srv.data_dir, name="bench").start()

    # 1. first request per call, from the local store
    conn = http.client.HTTPConnection("127.0.0.1", api.port)
    conn.request("GET", "/health")
    conn.getresponse().read()
    firsts, body = [], None
    for cid, d in ids:
        path = link("acme", cid, ts=d.base_ts // 10**9)
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        firsts.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, (r.status, body[:200])
    firsts.sort()
    print("first request from the local store (client side, keep-alive, %d calls): "
          "median %.2f ms, p90 %.2f ms, max %.2f ms"
          % (len(firsts), statistics.median(firsts), firsts[int(len(firsts) * 0.9) - 1],
             firsts[-1]))
    m = api.metrics()
    print("  server side: %d requests, mean %.2f ms"
          % (m.get("sipvault_api_request_duration_seconds_count"),
             1000 * m.get("sipvault_api_request_duration_seconds_sum")
             / max(1, m.get("sipvault_api_request_duration_seconds_count"))))

    # 2. cached GET /calls/{id} vs nginx static
    cid, d = ids[0]
    path = link("acme", cid, ts=int(time.time()))
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    tmp = tempfile.mkdtemp(prefix="sv-bench-nginx.")
    os.chmod(tmp, 0o755)
    os.makedirs(os.path.join(tmp, "www"))
    with open(os.path.join(tmp, "www", "call.json"), "wb") as f:
        f.write(body)
    os.chmod(os.path.join(tmp, "www"), 0o755)
    os.chmod(os.path.join(tmp, "www", "call.json"), 0o644)
    nport = free_port()
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write("""daemon off;
worker_processes 1;
pid %(t)s/nginx.pid;
error_log %(t)s/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %(t)s/body;
    proxy_temp_path %(t)s/proxy;
    fastcgi_temp_path %(t)s/fastcgi;
    uwsgi_temp_path %(t)s/uwsgi;
    scgi_temp_path %(t)s/scgi;
    types { application/json json; }
    server { listen 127.0.0.1:%(p)d; root %(t)s/www; }
}
""" % {"t": tmp, "p": nport})
    ng = subprocess.Popen([NGINX, "-c", os.path.join(tmp, "nginx.conf"), "-p", tmp],
                          start_new_session=True)
    time.sleep(0.5)
    try:
        n_rps, n_p99, n_err, _ = wrk("http://127.0.0.1:%d/call.json" % nport)
        a_rps, a_p99, a_err, out = wrk(api.base + path)
    finally:
        os.killpg(ng.pid, signal.SIGTERM)
        ng.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("nginx static file (%d bytes, 1 worker): %.0f req/s, p99 %.2f ms, %d errors"
          % (len(body), n_rps, n_p99, n_err))
    print("sipvault-api GET /calls/{id} from the cache: %.0f req/s, p99 %.2f ms, %d errors"
          % (a_rps, a_p99, a_err))
    print("api / nginx: %.0f %%" % (100.0 * a_rps / n_rps))
    m = api.metrics()
    print("  cache: %d hits, %d misses; object-store requests: %d lists, %d gets"
          % (m.get("sipvault_api_cache_lookups_total", result="hit"),
             m.get("sipvault_api_cache_lookups_total", result="miss"),
             m.get("sipvault_api_objstore_requests_total", op="list"),
             m.get("sipvault_api_objstore_requests_total", op="get")))
    api.stop()
    srv.stop()
    srv.cleanup()
    stop_all()
    ok = a_err == 0 and n_err == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
