#!/usr/bin/env python3
"""Statistics exact under a Redis outage, under load (issue 6):

    tests/bench/stats-outage.py [--binary ./src/jurisdns] [--qps 5000] [--outage 30]

knotd serves tests/zones/test.zone; jurisdns (stats to a redis-server with an fsync'd append-only
file) takes dnsperf load for outage + 30 s. Redis is SIGKILLed 10 s in and restarted `outage`
seconds later on the same files. Then the script waits until the counts are flushed and
compares Redis's total with the queries dnsperf got answers to (plus the harness's readiness
probes, counted by jurisdns like any answered query). It prints the daemon's peak RSS during
the outage, and exits 1 when the numbers differ.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness as h

NAMES = ["www", "host2", "host3", "aonly", "leaf.ent", "ttl60", "ttl3600", "mixed"]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=None)
    ap.add_argument("--qps", type=int, default=5000)
    ap.add_argument("--outage", type=int, default=30)
    args = ap.parse_args()
    if args.binary:
        os.environ["JURISDNS_BIN"] = os.path.abspath(args.binary)
    duration = args.outage + 30
    tmp = h.TempDir("jd-outage-")
    knot = h.Knot()
    knot.start()
    redis = h.RedisServer(tmp, ["--appendonly", "yes", "--appendfsync", "always"])
    redis.start()
    r = redis.client()
    qfile = tmp.file("queries.txt")
    with open(qfile, "w") as f:
        for i in range(2000):
            f.write("%s.example.test A\n" % NAMES[i % len(NAMES)])
            f.write("nx%d.example.test A\n" % i)  # NXDOMAIN, cached negatively after the first
    jd = h.Jurisdns(upstreams=[knot.addr], tmp=tmp, server={"workers": 2})
    jd.config_text = jd.config() + jd.render([
        ("redis", {"address": redis.address, "snapshot": ""}),
        ("stats", {"instance": "outage", "interval": 1000})])
    jd.write_config()
    peak = [0]
    try:
        jd.start()
        perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(jd.port), "-d", qfile,
                                 "-l", str(duration), "-Q", str(args.qps), "-c", "4", "-t", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(10)
        redis.kill()
        t_kill = time.monotonic()
        print("redis killed at 10 s", flush=True)
        while time.monotonic() - t_kill < args.outage:
            peak[0] = max(peak[0], rss_kib(jd.proc.pid))
            time.sleep(0.5)
        redis.start()
        print("redis restarted after %d s" % args.outage, flush=True)
        out, _ = perf.communicate(timeout=duration + 60)
        m = re.search(r"Queries completed:\s+(\d+)", out)
        completed = int(m.group(1))
        lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
        jd.stop()  # the last flush happens at exit
        r = redis.client()
        total = int(r.hget("jurisdns:{stats}:total", "queries") or 0)
        # the readiness probe(s): the harness sends one opcode STATUS query per try
        probes = int(r.hget("jurisdns:{stats}:client:127.0.0.1", "queries") or 0) - completed
        print("dnsperf: %d answered, %d lost; Redis total: %d; difference %d (the readiness "
              "probe); jurisdns peak RSS during the outage: %d KiB"
              % (completed, lost, total, total - completed, peak[0]))
        ok = lost == 0 and 0 <= total - completed <= 3 and probes == total - completed
        print("EXACT" if ok else "MISMATCH")
        return 0 if ok else 1
    finally:
        jd.kill()
        redis.stop()
        knot.stop()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
