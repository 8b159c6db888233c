"""sipvault-server integration: SIGTERM in the middle of 100 active calls, then a restart.

100 calls are set up (INVITE .. ACK, RTCP, log lines) and acknowledged (ack extension: durable),
the server gets SIGTERM and must exit 0 without completing them; after a restart the agent sends
the BYEs on a new connection and all 100 calls complete with all their messages and lines. A
second round kills the server mid-stream with SIGKILL after the ACK: acknowledged frames must
survive even that. SIGHUP reloads the customers.
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import svclient as sc  # noqa: E402
from serverfixture import (Server, check, check_logs, check_pcap, eq, run_tests,  # noqa: E402
                           wait_until)

RUN = "%x" % (time.time_ns() & 0xFFFFFFFF)
B = "acme-calls"
S = {}
N = 100


def setup_calls(agent, prefix, n):
    base = sc.now_ns() - 20 * 10**9
    calls = []
    for i in range(n):
        d = sc.Dialog("%s-%d-%s@restart.example" % (prefix, i, RUN), base + i * 1000,
                      uac_ssrc=0x10000 + i, uas_ssrc=0x20000 + i)
        d.answered(bye_from_caller=(i % 2 == 0), t_bye_ms=4000)
        agent.send_messages(d.msgs[:5])
        for ts, src, dst, ssrc, raw in d.rtcp_pair(1500, 2500):
            agent.rtcp(ts, d.call_id, ssrc, raw, src, dst)
        lines = ["call %d line %d" % (i, j) for j in range(3)]
        for j, ln in enumerate(lines):
            agent.log(d.ts(1100 + j), d.call_id, ln)
        calls.append((d, lines))
    return calls


def finish_calls(agent, calls):
    for d, _ in calls:
        agent.send_messages(d.msgs[5:])


def check_calls(s, calls):
    for d, lines in calls:
        q = s.quality(B, d.call_id, d.base_ts, 20)
        eq(q["summary"]["end_reason"], "bye", d.call_id + " end_reason")
        cdir = s.call_dir(B, d.call_id, d.base_ts)
        rows = check_pcap(os.path.join(cdir, "sip.pcap.gz"), d.msgs, d.call_id)
        eq(len(rows), 7, "messages")
        reps = s.rtcp_json(B, d.call_id, d.base_ts)["reports"]
        eq(len(reps), 2, d.call_id + " reports")
        check_logs(cdir, lines, d.call_id + " logs")
    # exactly one directory per call: nothing split in two by the restart
    dirs = {os.path.dirname(k) for _, k in s.all_objects()}
    eq(len(dirs), len(calls), "call directories")


def test_sigterm_with_100_active_calls():
    s = S["srv"] = Server(name="restart", env={"SIPVAULT_LOG_FLUSH": "3600"}).start()
    a = s.agent("acme", caps="ack,rtcp-addr")
    calls = setup_calls(a, "term", N)
    a.wait_ack(a.seq, timeout=15)
    m = s.metrics()
    eq(m.get("sipvault_sessions", state="active"), N, "active sessions before SIGTERM")
    t0 = time.monotonic()
    eq(s.stop(signal.SIGTERM), 0, "exit status after SIGTERM")
    check(time.monotonic() - t0 < 10, "SIGTERM took too long")
    eq(s.all_objects(), [], "objects written at SIGTERM (calls must resume, not complete)")
    a.close()
    s.restart()
    m = s.metrics()
    eq(m.get("sipvault_sessions", state="active"), N, "active sessions after the restart")
    b = s.agent("acme", caps="ack,rtcp-addr")
    finish_calls(b, calls)
    b.wait_ack(b.seq, timeout=15)
    check_calls(s, calls)
    s.wait_metric("sipvault_calls_completed_total", N, customer="acme")
    b.close()


def test_sigkill_after_ack():
    s = S["srv"]
    a = s.agent("acme", caps="ack,rtcp-addr")
    calls = setup_calls(a, "kill", 20)
    a.wait_ack(a.seq, timeout=15)
    s.stop(signal.SIGKILL)
    a.close()
    s.restart()
    b = s.agent("acme", caps="ack,rtcp-addr")
    finish_calls(b, calls)
    b.wait_ack(b.seq, timeout=15)
    for d, lines in calls:
        s.quality(B, d.call_id, d.base_ts, 20)
        check_pcap(os.path.join(s.call_dir(B, d.call_id, d.base_ts), "sip.pcap.gz"), d.msgs,
                   d.call_id)
        check_logs(s.call_dir(B, d.call_id, d.base_ts), lines, d.call_id + " logs")
    b.close()


def test_sighup_reloads_customers():
    s = S["srv"]
    # a new customer appears in the environment file? The server reads SIPVAULT_CUSTOMERS from
    # its environment (fixed at exec) or its --config file: use the file.
    conf = os.path.join(s.tmp, "server.conf")
    new = s.customers + [{"id": "gamma", "token": "gamma-token-555555", "bucket": "gamma-calls"}]
    s.extra_env["SIPVAULT_CUSTOMERS"] = ""  # empty = unset: the file's value is used
    with open(conf, "w") as f:
        json.dump({"SIPVAULT_CUSTOMERS": s.customers}, f)
    s.restart()
    g = sc.Agent(s.tcp_addr, "gamma", "gamma-token-555555")
    eq(g.ack_status, 1, "gamma before the reload")
    g.close()
    with open(conf, "w") as f:
        json.dump({"SIPVAULT_CUSTOMERS": new}, f)
    s.signal(signal.SIGHUP)
    wait_until(lambda: sc.Agent(s.tcp_addr, "gamma", "gamma-token-555555").ack_status == 0, 5,
               0.2, "gamma accepted after SIGHUP")
    # a broken file keeps the old registry
    with open(conf, "w") as f:
        f.write("{not json")
    s.signal(signal.SIGHUP)
    time.sleep(0.5)
    check(s.alive(), "server died on a broken reload")
    g = sc.Agent(s.tcp_addr, "gamma", "gamma-token-555555")
    eq(g.ack_status, 0, "gamma after a failed reload")
    g.close()
    eq(s.stop(), 0, "exit status")


if __name__ == "__main__":
    run_tests(globals())
