#!/usr/bin/python3
"""console_fill.py - Redis data for the console bench (tests/bench/console.sh), written as the
Redis protocol on standard output for `redis-cli --pipe` (one pass, pipelined: seconds for
1,000 devices x 30 days).

    console_fill.py [--devices N] [--days D] [--prefix P] [--now UNIX] [--seed S] > fill.resp

Keys, through the schema of docs/redis-schema.md (S = P{stats}:, PP = P{policy}:):
  S clients, S client:ID (all-time = the sum of its hours, first_seen, last_seen),
  S client:ID:YYYYMMDDHH for D x 24 hours (a device is idle in ~30 % of them: no key),
  S total and S total:HOUR, S top:ID:GROUP (up to 100 domains), S seen:ID:GROUP,
  S events (first contacts, capped at 10,000 like [stats] events),
  PP leases + PP lease:IP (MAC, host name) for every device, PP clients + PP client:ID (a rule
  with mode, block, name; every 10th locked) for every 5th device, PP default, PP version.
Devices are 10.1.X.Y; the groups are PRC and EU (the groups file of console.sh). Deterministic
for a given --seed and --now. Only the standard library."""

import argparse
import random
import sys
import time

GROUPS = ("PRC", "EU")
KINDS = ("hosted", "operator", "domain")
HOURS_KEPT = 24 * 30


def resp(out, *args):
    """One command in the Redis protocol."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    out.append(b"".join(parts))


def hour_name(t):
    return time.strftime("%Y%m%d%H", time.gmtime(t))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--prefix", default="jurisdns:")
    ap.add_argument("--now", type=int, default=int(time.time()))
    ap.add_argument("--seed", type=int, default=13)
    o = ap.parse_args()
    rnd = random.Random(o.seed)
    S = o.prefix + "{stats}:"
    PP = o.prefix + "{policy}:"
    now = o.now - o.now % 3600
    nh = o.days * 24
    hours = [now - (nh - 1 - i) * 3600 for i in range(nh)]
    ttl = 86400 * 30
    w = sys.stdout.buffer
    total_h = {}
    total = {}
    events = []
    ids = ["10.1.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(o.devices)]

    for n, dev in enumerate(ids):
        out = []
        rate = rnd.choice((5, 20, 60, 200))        # queries per active hour
        share = {g: rnd.random() * (0.3 if g == "PRC" else 0.15) for g in GROUPS}
        allc = {}
        first = None
        for t in hours:
            if rnd.random() < 0.3:
                continue
            q = max(1, int(rnd.expovariate(1.0 / rate)))
            f = {"queries": q, "cache_hits": q * 6 // 10}
            blocked = 0
            for g in GROUPS:
                gq = int(q * share[g])
                if not gq:
                    continue
                f["g:" + g] = gq
                left = gq
                for k in KINDS[:-1]:
                    x = rnd.randint(0, left)
                    if x:
                        f["g:%s:%s" % (g, k)] = x
                    left -= x
                if left:
                    f["g:%s:domain" % g] = left
                if g == "PRC" and n % 5 == 0:
                    blocked += gq
            if blocked:
                f["blocked"] = blocked
                f["a:sinkhole"] = blocked
            key = "%sclient:%s:%s" % (S, dev, hour_name(t))
            args = ["HSET", key]
            for k, v in f.items():
                args += [k, v]
                allc[k] = allc.get(k, 0) + v
                th = total_h.setdefault(t, {})
                th[k] = th.get(k, 0) + v
            resp(out, *args)
            resp(out, "EXPIRE", key, ttl - (now - t))
            first = first or t
        if first is None:
            first = now
        args = ["HSET", S + "client:" + dev, "first_seen", first, "last_seen", o.now - rnd.randint(0, 3600)]
        for k, v in allc.items():
            args += [k, v]
            total[k] = total.get(k, 0) + v
        resp(out, *args)
        resp(out, "SADD", S + "clients", dev)
        for g in GROUPS:
            if not allc.get("g:" + g):
                continue
            doms = ["d%03d.%s-%d.example" % (i, g.lower(), n % 37) for i in range(rnd.randint(10, 100))]
            zargs = ["ZADD", "%stop:%s:%s" % (S, dev, g)]
            for i, d in enumerate(doms):
                zargs += [max(1, allc["g:" + g] // (i + 2)), d]
            resp(out, *zargs)
            resp(out, "SADD", "%sseen:%s:%s" % (S, dev, g), *doms)
            events.append((first, dev, g, None, None))
            for d in doms[:5]:
                events.append((first + rnd.randint(0, nh * 3600 - 1), dev, g, d, rnd.choice(KINDS)))
        mac = "02:%02x:%02x:%02x:%02x:%02x" % (n >> 8 & 255, n & 255, rnd.randrange(256),
                                              rnd.randrange(256), rnd.randrange(256))
        resp(out, "SADD", PP + "leases", dev)
        resp(out, "HSET", PP + "lease:" + dev, "mac", mac, "hostname", "device-%04d" % n,
             "expires", 0, "source", "dnsmasq")
        if n % 5 == 0:
            rule = ["HSET", PP + "client:" + dev, "mode", "block" if n % 10 == 0 else "log",
                    "block", "PRC", "name", "rule-%04d" % n]
            if n % 50 == 0:
                rule += ["locked", "admin"]
            resp(out, "SADD", PP + "clients", dev)
            resp(out, *rule)
        w.write(b"".join(out))

    out = []
    for t, th in total_h.items():
        args = ["HSET", S + "total:" + hour_name(t)]
        for k, v in th.items():
            args += [k, v]
        resp(out, *args)
    args = ["HSET", S + "total"]
    for k, v in total.items():
        args += [k, v]
    resp(out, *args)
    # the stream in time order, capped as the daemon caps it
    events.sort()
    for t, dev, g, d, why in events[-10000:]:
        f = ["type", "group" if d is None else "domain", "client", dev, "group", g, "ts", t,
             "instance", "fill"]
        if d is not None:
            f += ["domain", d, "reason", why]
        resp(out, "XADD", S + "events", "*", *f)
    resp(out, "HSET", PP + "default", "mode", "log", "block", "PRC")
    resp(out, "SET", PP + "version", 1)
    w.write(b"".join(out))


if __name__ == "__main__":
    main()
