"""bench_agent - sipvault-agent capture benchmark (run by build/bench/bench_agent; `make bench`).

Writes a capture of SIP calls (INVITE/100/180/200/ACK/BYE/200, 4 RTCP reports and RTP both
ways per call, 127.0.0.2 <-> 127.0.0.3, SIP port 5060, media 20000-28000), starts a real
sipvault-server on loopback and, per packet rate, a fresh sipvault-agent capturing on lo
(pinned to one CPU) that ships to it, then replays the capture on lo with
`tcpreplay -i lo --pps=RATE --limit=RATE*SECONDS`. Reports per rate: packets replayed and
tcpreplay's actual rate, the agent's CPU per packet (utime+stime from /proc/PID/stat over the
replay and the 1 s after it, also shown as a share of one core over the replay time), its
peak RSS (VmHWM), pcap drops (ps_drop+ps_ifdrop as the agent counts them) and
the agent's own counters (packets seen, duplicates, SIP/RTCP frames, ring drops).

Needs root (capture on lo) and tcpreplay (Debian package tcpreplay); fails otherwise.
usage: bench_agent.py [--rates 10000,50000,100000] [--seconds 5] [--cpu 1] [--rtp 20]
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("SV_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
import agent_fixture as af  # noqa: E402
import agent_peers as ap  # noqa: E402
import serverfixture as sf  # noqa: E402

TCPREPLAY = shutil.which("tcpreplay") or "/usr/bin/tcpreplay"
CLK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])  # utime + stime (fields 14 and 15)


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    return 0


def exit_counters(text):
    m = re.search(r"exit: packets (\d+) \(decode errors (\d+), duplicates (\d+), capture drops "
                  r"(\d+)\+(\d+)\).*?sip sent (\d+).*?rtcp (\d+) unmatched (\d+).*?"
                  r"dropped from the full buffer (\d+)", text)
    if not m:
        raise RuntimeError("no exit counters in the agent log")
    k = ["packets", "decode_errors", "duplicates", "pcap_drops", "pcap_ifdrops", "sip",
         "rtcp", "rtcp_unmatched", "ring_drops"]
    return dict(zip(k, (int(x) for x in m.groups())))


def main():
    ap_ = argparse.ArgumentParser()
    ap_.add_argument("--rates", default="10000,50000,100000")
    ap_.add_argument("--seconds", type=float, default=5.0)
    ap_.add_argument("--cpu", type=int, default=1 if os.cpu_count() > 1 else 0)
    ap_.add_argument("--rtp", type=int, default=20, help="RTP packets per side per call")
    a = ap_.parse_args()
    rates = [int(r) for r in a.rates.split(",")]
    if os.geteuid() != 0:
        sys.exit("bench_agent: needs root (live capture on lo)")
    if not os.access(TCPREPLAY, os.X_OK):
        sys.exit("bench_agent: tcpreplay not found (Debian package tcpreplay)")
    tmp = tempfile.mkdtemp(prefix="sv-benchagent.")
    srv = None
    try:
        per_call = 7 + 4 + 2 * a.rtp
        need = int(max(rates) * a.seconds)
        ncalls = need // per_call + 1
        pcap = os.path.join(tmp, "calls.pcap")
        t0 = time.monotonic()
        n, _, nsip, nrtcp = ap.write_calls_pcap(pcap, ncalls, spacing_ms=2, rtp=a.rtp)
        print("capture: %d calls, %d packets (%d SIP, %d RTCP, %d RTP), %.0f MB, written in "
              "%.1f s" % (ncalls, n, nsip, nrtcp, n - nsip - nrtcp, os.path.getsize(pcap) / 1e6,
                          time.monotonic() - t0))
        srv = sf.Server(env={"SIPVAULT_CLOSING_GRACE": "1", "SIPVAULT_LOG_LEVEL": "warn"},
                        name="benchagent").start()
        print("agent pinned to CPU %d (taskset); server and tcpreplay unpinned" % a.cpu)
        print("%8s %10s %10s %9s %9s %9s %9s %8s %9s %8s %8s" % (
            "pps", "replayed", "actual", "cpu%", "ns/pkt", "seen", "dups", "pcapdrop",
            "ring_drop", "sip", "rtcp"))
        for rate in rates:
            ag = af.Agent(srv, sip_ports=[5060], rtp=(20000, 29999), iface="lo",
                          tmp=tempfile.mkdtemp(dir=tmp), ring_size="512M", level="info")
            ag._spawn([])
            os.sched_setaffinity(ag.proc.pid, {a.cpu})
            ag.wait_log("capturing on", timeout=10)
            ag.wait_log("connected to", timeout=10)
            time.sleep(0.5)
            pid = ag.proc.pid
            c0 = cpu_ticks(pid)
            limit = int(rate * a.seconds)
            p = subprocess.run([TCPREPLAY, "-i", "lo", "--pps=%d" % rate, "--limit=%d" % limit,
                                pcap], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=a.seconds * 10 + 60)
            out = p.stdout.decode(errors="replace")
            if p.returncode != 0:
                raise RuntimeError("tcpreplay failed:\n" + out)
            time.sleep(1.0)  # the agent drains its socket buffer; pcap_stats read (200 ms tick)
            c1 = cpu_ticks(pid)
            hwm = status_kb(pid, "VmHWM")
            eq_rc = ag.stop(60)
            if eq_rc != 0:
                raise RuntimeError("agent exit %s:\n%s" % (eq_rc, ag.log_tail()))
            c = exit_counters(ag.log_text())
            m = re.search(r"Actual: (\d+) packets .*? ([\d.]+) seconds", out)
            sent = int(m.group(1)) if m else limit
            secs = float(m.group(2)) if m else a.seconds
            cpu_s = (c1 - c0) / CLK
            print("%8d %10d %10.0f %8.1f%% %9.0f %9d %9d %8d %9d %8d %8d" % (
                rate, sent, sent / secs if secs else 0, 100.0 * cpu_s / secs,
                cpu_s * 1e9 / sent, c["packets"], c["duplicates"],
                c["pcap_drops"] + c["pcap_ifdrops"], c["ring_drops"], c["sip"], c["rtcp"]))
            print("%8s peak RSS %d KiB; tcpreplay: %s" % (
                "", hwm, " ".join(out.split("Actual:")[1].split()[:12]) if "Actual:" in out
                else "?"))
            sys.stdout.flush()
    finally:
        if srv:
            srv.stop()
            srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
