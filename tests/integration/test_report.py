#!/usr/bin/python3
"""jurisdns-ctl report --html (src/report.c): one self-contained HTML page built from the
statistics in Redis, checked against Redis number by number.

No daemon: the class starts a redis-server on a unix socket in a temporary directory (stopped
by its PID) and writes the statistics keys itself, following docs/redis-schema.md
("Statistics"), with S = "jurisdns:{stats}:" and Pp = "jurisdns:{policy}:":
  S total, S total:HOUR, S clients, S client:ID, S client:ID:HOUR, S top:ID:GROUP, S events,
  S instance:NAME; Pp client:ID (name) and Pp lease:IP (hostname) for the display names.

The page is parsed with html.parser; the numbers carry data-* attributes:
  data-total=FIELD (totals), data-client=ID data-field=FIELD (device table), data-top=ID
  data-group=G data-domain=D (top domains), tr data-event=STREAM-ID (first contacts),
  figure data-chart=ID|total > rect data-hour data-group data-value (hourly charts).

The rendering check uses headless Chromium (Debian package chromium; skipped when missing)
and decodes its PNG screenshot with zlib + struct.

Needs /usr/bin/redis-server (or $REDIS_SERVER), python3-redis and src/jurisdns-ctl (or
$JURISDNS_CTL); skipped as a whole while jurisdns-ctl has no 'report' command."""

import collections
import html.parser
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import unittest
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

try:
    import redis
except ImportError:  # reported by setUpModule: a suite that skips silently proves nothing
    redis = None

REDIS_SERVER = h.REDIS_SERVER
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


CTL = h.ctl_bin()

P = "jurisdns:"
S = P + "{stats}:"
PP = P + "{policy}:"

HOSTILE = "<img src=x onerror=alert(1)>"
C1 = "192.168.1.23"        # policy name kitchen-camera (and a lease name that must lose)
C2 = "192.168.1.40"        # lease host name livingroom-tv
C3 = "aa:bb:cc:dd:ee:ff"   # policy name HOSTILE
C4 = "2001:db8::7"         # no group traffic; a lease with an empty host name: shown as its id
C5 = "10.0.0.5"            # in the set, never counted (an empty hash)

CLIENTS = {
    C1: {"queries": "120", "cache_hits": "30", "blocked": "5", "a:sinkhole": "5", "g:PRC": "40",
         "g:PRC:hosted": "30", "g:PRC:operator": "8", "g:PRC:domain": "2", "g:RU": "3",
         "g:RU:hosted": "3"},
    C2: {"queries": "123456789012", "cache_hits": "7", "g:PRC": "7", "g:PRC:hosted": "7"},
    C3: {"queries": "50", "blocked": "1", "a:nxdomain": "1", "g:PRC": "1", "g:PRC:domain": "1"},
    C4: {"queries": "10", "rewritten": "2", "a:strip": "2"},
}
TOTAL = {"queries": "123456790500", "cache_hits": "400", "blocked": "6", "rewritten": "2",
         "a:sinkhole": "5", "a:nxdomain": "1", "a:strip": "2", "g:PRC": "48",
         "g:PRC:hosted": "37", "g:PRC:operator": "8", "g:PRC:domain": "3", "g:RU": "3",
         "g:RU:hosted": "3"}
# hours ago -> per client {field: value}; 30 h ago is outside a 1-day report, inside 7 days
HOURLY = {
    0: {C1: {"queries": "9", "g:PRC": "4", "g:RU": "1"}, C2: {"queries": "100", "g:PRC": "2"}},
    1: {C1: {"queries": "12", "g:PRC": "6"}},
    2: {C1: {"queries": "20", "g:PRC": "11", "g:RU": "2"}, C3: {"queries": "3", "g:PRC": "1"}},
    5: {C1: {"queries": "4", "g:PRC": "3"}, C2: {"queries": "50", "g:PRC": "5"}},
    30: {C1: {"queries": "40", "g:PRC": "16"}},
    # older than 7 days: never charted by default
    24 * 8: {C1: {"queries": "1", "g:PRC": "1"}},
}
TOP = {
    (C1, "PRC"): {"d%02d.example.cn" % i: i + 1 for i in range(12)},   # 12: the page shows 10
    (C1, "RU"): {"mail.example.ru": 3},
    (C2, "PRC"): {"a1.tuyaeu.com": 5, "\"><svg onload=alert(1)>.example": 2},
    (C3, "PRC"): {"cam.example.cn": 1},
}
NEVENTS = 60


def utc_hour(t):
    return time.strftime("%Y%m%d%H", time.gmtime(t))


def setUpModule():
    if redis is None:
        raise RuntimeError("python3-redis is missing (apt-get install python3-redis)")
    if not (os.path.isfile(REDIS_SERVER) and os.access(REDIS_SERVER, os.X_OK)):
        raise RuntimeError("redis-server not found at %s" % REDIS_SERVER)
    if not (os.path.isfile(CTL) and os.access(CTL, os.X_OK)):
        raise unittest.SkipTest("jurisdns-ctl not built at %s (make src/jurisdns-ctl)" % CTL)
    # not wired yet: the command is rejected before any connection is made
    p = subprocess.run([CTL, "-c", "/dev/null", "-r", "unix:/nonexistent/jd-report-probe.sock",
                        "report", "--html", "/nonexistent/jd-report-probe.html"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=20, text=True)
    if "unknown command" in p.stderr:
        raise unittest.SkipTest("jurisdns-ctl has no 'report' command yet: %s" % p.stderr.strip())


RedisServer = h.RedisServer

# --------------------------------------------------------------------------------------------
# the page, parsed
# --------------------------------------------------------------------------------------------

El = collections.namedtuple("El", "tag attrs text chart")


class Page(html.parser.HTMLParser):
    """Every element with a data-* attribute, with its text (descendants included) and the
    data-chart of the figure it is in; every start tag; end tags that close nothing."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.stack = []        # [tag, attrs, text parts]
        self.elements = []
        self.tags = []
        self.stray = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in self.VOID:
            self._record(tag, a, "")
        else:
            self.stack.append([tag, a, []])

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self._record(tag, a, "")

    def handle_endtag(self, tag):
        at = next((i for i in range(len(self.stack) - 1, -1, -1) if self.stack[i][0] == tag),
                  None)
        if at is None:
            self.stray.append(tag)
            return
        while len(self.stack) > at:
            t, a, parts = self.stack.pop()
            text = "".join(parts)
            if self.stack:
                self.stack[-1][2].append(text)
            self._record(t, a, text)

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)

    def _record(self, tag, a, text):
        if any(k.startswith("data-") for k in a):
            chart = next((e[1]["data-chart"] for e in reversed(self.stack)
                          if "data-chart" in e[1]), None)
            self.elements.append(El(tag, a, text, chart))

    def find(self, tag=None, **attrs):
        """Elements with these data-* attributes (keyword x_y means data-x-y)."""
        want = {"data-" + k.replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.elements if (tag is None or e.tag == tag)
                and all(e.attrs.get(k) == v for k, v in want.items())]

    def one(self, tag=None, **attrs):
        found = self.find(tag, **attrs)
        if len(found) != 1:
            raise AssertionError("expected one element %s %s, found %d" % (tag, attrs, len(found)))
        return found[0]


# --------------------------------------------------------------------------------------------
# a small PNG decoder (8-bit RGB or RGBA, not interlaced: what Chromium writes)
# --------------------------------------------------------------------------------------------

def _unfilter(ftype, line, prev, bpp):
    if ftype == 0:
        return bytearray(line)
    if ftype == 2:
        return bytearray((a + b) & 255 for a, b in zip(line, prev))
    out = bytearray(line)
    n = len(out)
    for i in range(n):
        left = out[i - bpp] if i >= bpp else 0
        if ftype == 1:
            out[i] = (out[i] + left) & 255
        elif ftype == 3:
            out[i] = (out[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:
            up, ul = prev[i], prev[i - bpp] if i >= bpp else 0
            p = left + up - ul
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
            out[i] = (out[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        else:
            raise ValueError("PNG: unknown filter type %d" % ftype)
    return out


def png_pixels(path):
    """(width, height, Counter of pixel values) of the PNG at path."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, ht, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("PNG: unsupported format %r" % (hdr,))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    if len(raw) != ht * (stride + 1):
        raise ValueError("PNG: %d bytes of image data for %dx%d" % (len(raw), w, ht))
    prev = bytearray(stride)
    counts = collections.Counter()
    for y in range(ht):
        at = y * (stride + 1)
        prev = _unfilter(raw[at], raw[at + 1:at + 1 + stride], prev, bpp)
        counts.update(zip(*(prev[c::bpp] for c in range(bpp))))
    return w, ht, counts


# --------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------

def run_ctl(*args, timeout=60):
    return subprocess.run([CTL, "-c", "/dev/null"] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout, text=True)


class ReportCase(unittest.TestCase):
    """One redis-server and one populated data set per class; the default page (7 days) is
    built once and parsed; tests that need another page build their own."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir("jd-report-")
        cls.redis = RedisServer(cls.tmp)
        try:
            cls.redis.start()
            cls.r = cls.redis.client()
            cls.populate(cls.r)
            cls.page_path = cls.tmp.file("report.html")
            cls.proc = run_ctl("-r", cls.redis.address, "report", "--html", cls.page_path)
            cls.text = None
            if cls.proc.returncode == 0:
                with open(cls.page_path, "rb") as f:
                    cls.raw = f.read()
                cls.text = cls.raw.decode("utf-8")   # strict: the page is UTF-8
                cls.page = Page(cls.text)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "r", None) is not None:
                cls.r.close()
            cls.redis.stop()
        finally:
            cls.tmp.cleanup()

    @classmethod
    def populate(cls, r):
        now = int(time.time())
        cls.t_populated = now
        r.hset(S + "total", mapping=TOTAL)
        r.sadd(S + "clients", C1, C2, C3, C4, C5)
        for i, (cid, fields) in enumerate(CLIENTS.items()):
            r.hset(S + "client:" + cid, mapping=dict(fields, first_seen=str(now - 86400 * (i + 2)),
                                                     last_seen=str(now - 60 * i)))
        for ago, per in HOURLY.items():
            hour = utc_hour(now - ago * 3600)
            tot = collections.Counter()
            for cid, fields in per.items():
                r.hset(S + "client:%s:%s" % (cid, hour), mapping=fields)
                tot.update({k: int(v) for k, v in fields.items()})
            r.hset(S + "total:" + hour, mapping={k: str(v) for k, v in tot.items()})
        for (cid, group), members in TOP.items():
            r.zadd(S + "top:%s:%s" % (cid, group), members)
        r.hset(PP + "client:" + C1, mapping={"mode": "log", "name": "kitchen-camera"})
        r.hset(PP + "lease:" + C1, mapping={"hostname": "lease-name-that-loses", "mac": "x"})
        r.hset(PP + "lease:" + C2, mapping={"hostname": "livingroom-tv", "expires": "0"})
        r.hset(PP + "client:" + C3, mapping={"mode": "block", "name": HOSTILE})
        r.hset(PP + "lease:" + C4, mapping={"hostname": "", "expires": "0"})
        r.hset(S + "instance:t1", mapping={"version": "9.9.9-test", "geo_age_days": "12",
                                           "last_flush": str(now)})
        r.hset(S + "instance:t2", mapping={"version": "9.9.8", "geo_age_days": "-1",
                                           "last_flush": str(now - 1)})
        ids = (C1, C2, C3)
        for i in range(NEVENTS):
            cid = ids[i % 3]
            if i % 4 == 0:
                fields = {"type": "group", "client": cid, "group": "PRC"}
            else:
                fields = {"type": "domain", "client": cid, "group": "PRC",
                          "domain": "n%d.example.cn" % i, "reason": "hosted"}
            if i == NEVENTS - 1:
                fields["domain"] = "\"><script>alert(1)</script>"
            fields.update(ts=str(now - NEVENTS + i), instance="t1")
            r.xadd(S + "events", fields)

    def setUp(self):
        self.assertEqual((self.proc.returncode, self.proc.stderr), (0, ""),
                         "report failed:\n%s%s" % (self.proc.stdout, self.proc.stderr))

    # --- helpers -----------------------------------------------------------------------------

    def cell(self, cid, field):
        return self.page.one("td", client=cid, field=field).text

    def window(self, page, days):
        """The hours (YYYYMMDDHH) a page generated at data-generated charts."""
        gen = int(page.one("time").attrs["data-generated"])
        last = gen // 3600 * 3600
        return [utc_hour(last - k * 3600) for k in range(days * 24 - 1, -1, -1)]

    def expected_bars(self, key_base, hours, groups):
        exp = {}
        for hour in hours:
            vals = self.r.hmget(key_base + hour, ["g:" + g for g in groups])
            for g, v in zip(groups, vals):
                if v is not None and int(v):
                    exp[(hour, g)] = v
        return exp

    def bars(self, page, chart):
        return {(e.attrs["data-hour"], e.attrs["data-group"]): e.attrs["data-value"]
                for e in page.find("rect") if e.chart == chart}


class TestReport(ReportCase):

    def test_self_contained(self):
        """One page: a doctype, UTF-8, balanced tags, no script, nothing loaded from anywhere,
        no event handler attributes (the hostile strings stayed text)."""
        self.assertTrue(self.text.startswith("<!DOCTYPE html>"))
        self.assertIn("report written to", self.proc.stdout)
        self.assertEqual(self.page.stack, [], "elements left open")
        self.assertEqual(self.page.stray, [], "end tags that close nothing")
        low = self.text.lower()
        for bad in ("http://", "https://", "<script", "url(", "@import", "<link", "<iframe",
                    "<object", "<embed", "<img"):
            self.assertNotIn(bad, low)
        for tag, attrs in self.page.tags:
            self.assertNotIn(tag, ("script", "img", "iframe", "object", "embed", "link", "base"))
            for name in attrs:
                self.assertFalse(name.startswith("on"), "%s %s=" % (tag, name))
                self.assertNotIn(name, ("src", "href", "xlink:href", "srcset", "action"))
        self.assertFalse(os.path.exists(self.page_path + ".tmp"))

    def test_totals(self):
        """Every data-total number is Redis's total hash field as is (absent = 0), and the
        totals cover the four counters and every group with its three reasons."""
        total = self.r.hgetall(S + "total")
        shown = {e.attrs["data-total"]: e.text for e in self.page.elements
                 if "data-total" in e.attrs}
        for field in ("queries", "cache_hits", "blocked", "rewritten"):
            self.assertIn(field, shown)
        for g in ("PRC", "RU"):
            for f in ("g:" + g, "g:%s:hosted" % g, "g:%s:operator" % g, "g:%s:domain" % g):
                self.assertIn(f, shown)
        for field, text in shown.items():
            self.assertEqual(text, total.get(field, "0"), field)
        self.assertEqual(shown["queries"], "123456790500")

    def test_devices(self):
        """One row per client (the set's members), in order of exposure; queries, blocked and
        the group counts are Redis's as is; the share is the group count over queries."""
        rows = [e.attrs["data-client"] for e in self.page.find("tr") if "data-client" in e.attrs]
        members = self.r.smembers(S + "clients")
        self.assertEqual(sorted(rows), sorted(members))
        self.assertEqual(int(self.page.one(count="devices").text), len(members))

        def key(cid):
            d = self.r.hgetall(S + "client:" + cid)
            gsum = sum(int(v) for k, v in d.items() if k.startswith("g:") and k.count(":") == 1)
            return (-gsum, -int(d.get("queries", 0)), cid)
        self.assertEqual(rows, sorted(members, key=key))
        for cid in members:
            d = self.r.hgetall(S + "client:" + cid)
            for field in ("queries", "blocked", "g:PRC", "g:RU"):
                self.assertEqual(self.cell(cid, field), d.get(field, "0"), (cid, field))
            for field in ("first_seen", "last_seen"):
                e = self.page.one("td", client=cid, field=field)
                if field not in d:
                    self.assertEqual(e.text, "-")
                    continue
                self.assertEqual(e.attrs["data-value"], d[field])
                self.assertEqual(e.text, time.strftime("%Y-%m-%d %H:%M:%S",
                                                       time.gmtime(int(d[field]))))
        self.assertEqual(self.cell(C2, "queries"), "123456789012")
        row = self.page.one("tr", client=C1).text
        self.assertIn("33.3%", row)   # 40 of 120 queries into PRC
        self.assertIn("2.5%", row)    # 3 of 120 into RU

    def test_names(self):
        """The policy's name first, else the lease's host name, else the id; a hostile name is
        escaped and comes back as the same text."""
        self.assertEqual(self.cell(C1, "name"), "kitchen-camera")
        self.assertEqual(self.cell(C2, "name"), "livingroom-tv")
        self.assertEqual(self.cell(C3, "name"), HOSTILE)
        self.assertEqual(self.cell(C4, "name"), C4)
        self.assertEqual(self.cell(C5, "name"), C5)
        self.assertNotIn("lease-name-that-loses", self.text)
        self.assertNotIn(HOSTILE, self.text)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", self.text)

    def test_instances(self):
        """The heartbeats: version and GeoIP age as Redis has them."""
        rows = {e.attrs["data-instance"]: e for e in self.page.find("tr")
                if "data-instance" in e.attrs}
        self.assertEqual(sorted(rows), ["t1", "t2"])
        self.assertEqual([e.text for e in self.page.find("td", field="version")],
                         ["9.9.9-test", "9.9.8"])
        ages = [e.text for e in self.page.find("td", field="geo_age_days")]
        self.assertEqual(ages[0], "12")
        self.assertTrue(ages[1].startswith("-1"), ages[1])

    def test_top_domains(self):
        """Each device's top domains per group: Redis's ZREVRANGE 0 9 WITHSCORES, in order,
        with the scores as Redis prints them; a hostile domain stays text."""
        keys = sorted(self.r.scan_iter(S + "top:*", count=1000))
        self.assertEqual(len(keys), len(TOP))
        for key in keys:
            cid, group = key[len(S + "top:"):].rsplit(":", 1)
            raw = self.r.execute_command("ZREVRANGE", key, 0, 9, "WITHSCORES")
            exp = list(zip(raw[0::2], raw[1::2]))
            got = [(e.attrs["data-domain"], e.text)
                   for e in self.page.find("td", top=cid, group=group)]
            self.assertEqual(got, exp, key)
        self.assertEqual(len(self.page.find("td", top=C1, group="PRC")), 10)
        self.assertEqual(self.page.find("td", top=C1, group="PRC")[0].text, "12")

    def test_events(self):
        """The last 50 first contacts, newest first, with the device's display name."""
        raw = self.r.xrevrange(S + "events", count=50)
        rows = [e for e in self.page.find("tr") if "data-event" in e.attrs]
        self.assertEqual(len(rows), min(50, NEVENTS))
        self.assertEqual([e.attrs["data-event"] for e in rows], [eid for eid, _ in raw])
        first = raw[0][1]
        self.assertEqual(self.page.find("td", field="domain")[0].text, first["domain"])
        clients = [e for e in self.page.find("td", field="client") if "data-client" in e.attrs]
        self.assertEqual(len(clients), len(rows))
        names = {C1: "kitchen-camera", C2: "livingroom-tv", C3: HOSTILE}
        for e, (_, f) in zip(clients, raw):
            self.assertEqual(e.attrs["data-client"], f["client"])
            self.assertTrue(e.text.startswith(names[f["client"]]), e.text)
        times = [e for e in self.page.find("td", field="ts")]
        self.assertEqual(times[0].attrs["data-value"], first["ts"])

    def test_charts(self):
        """A chart for all clients and one per device with group traffic; its bars are the
        hourly counters of the last 7 days exactly (missing hours: no bar), nothing older."""
        charts = [e.attrs["data-chart"] for e in self.page.find("figure")]
        self.assertEqual(charts, ["total", C1, C2, C3])
        hours = self.window(self.page, 7)
        for chart, base in (("total", S + "total:"), (C1, S + "client:%s:" % C1),
                            (C2, S + "client:%s:" % C2), (C3, S + "client:%s:" % C3)):
            exp = self.expected_bars(base, hours, ["PRC", "RU"])
            self.assertTrue(exp, chart)
            self.assertEqual(self.bars(self.page, chart), exp, chart)
        old = utc_hour(self.t_populated - 24 * 8 * 3600)
        self.assertNotIn(old, {hr for hr, _ in self.bars(self.page, C1)})
        self.assertIn(utc_hour(self.t_populated - 30 * 3600),
                      {hr for hr, _ in self.bars(self.page, C1)})

    def test_days(self):
        """--days 1: 24 hours; the counters of 30 hours ago are left out. --days 91: usage."""
        path = self.tmp.file("day.html")
        p = run_ctl("-r", self.redis.address, "report", "--html", path, "--days", "1")
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        with open(path, encoding="utf-8") as f:
            page = Page(f.read())
        hours = self.window(page, 1)
        exp = self.expected_bars(S + "client:%s:" % C1, hours, ["PRC", "RU"])
        self.assertEqual(self.bars(page, C1), exp)
        self.assertNotIn(utc_hour(self.t_populated - 30 * 3600),
                         {hr for hr, _ in self.bars(page, C1)})
        p = run_ctl("-r", self.redis.address, "report", "--html", path, "--days", "91")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_days_90(self):
        """--days 90, the most: 2,160 hours per chart; the counters of 8 days ago are in."""
        path = self.tmp.file("days90.html")
        p = run_ctl("-r", self.redis.address, "report", "--html", path, "--days", "90")
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        with open(path, encoding="utf-8") as f:
            page = Page(f.read())
        hours = self.window(page, 90)
        self.assertEqual(len(hours), 2160)
        exp = self.expected_bars(S + "client:%s:" % C1, hours, ["PRC", "RU"])
        self.assertIn(utc_hour(self.t_populated - 24 * 8 * 3600), {hr for hr, _ in exp})
        self.assertEqual(self.bars(page, C1), exp)

    def test_caps(self):
        """205 devices with group traffic (another prefix): 200 rows, the most exposed ones
        first, and 12 device charts (plus the total), those of the 12 most exposed."""
        sb = "many:{stats}:"
        ids = ["10.1.%d.%d" % (i // 100, i % 100) for i in range(205)]
        pipe = self.r.pipeline(transaction=False)
        pipe.sadd(sb + "clients", *ids)
        hour = utc_hour(time.time())
        for i, cid in enumerate(ids):
            # exposure i + 1; equal exposures would be ordered by queries, then id
            pipe.hset(sb + "client:" + cid, mapping={"queries": 1000, "g:PRC": i + 1})
            pipe.hset(sb + "client:%s:%s" % (cid, hour), mapping={"g:PRC": i + 1})
        pipe.hset(sb + "total", mapping={"queries": 205000, "g:PRC": 21115})
        pipe.execute()
        self.addCleanup(lambda: self.r.delete(*self.r.keys("many:*")))
        path = self.tmp.file("many.html")
        p = run_ctl("-r", self.redis.address, "-p", "many:", "report", "--html", path)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        with open(path, encoding="utf-8") as f:
            page = Page(f.read())
        rows = [e.attrs["data-client"] for e in page.find("tr") if "data-client" in e.attrs]
        self.assertEqual(rows, ids[::-1][:200])
        self.assertEqual(page.one(count="devices").text, "205")
        charts = [e.attrs["data-chart"] for e in page.find("figure")]
        self.assertEqual(charts, ["total"] + ids[::-1][:12])

    def test_totals_only(self):
        """Totals without any device (every client in mode off): the groups of the total hash,
        in name order, and the chart of all clients."""
        sb = "anon:{stats}:"
        hour = utc_hour(time.time())
        self.r.hset(sb + "total", mapping={"queries": 9, "g:RU": 2, "g:PRC": 3, "g:PRC:hosted": 3,
                                           "g:RU:operator": 2})
        self.r.hset(sb + "total:" + hour, mapping={"queries": 9, "g:RU": 2, "g:PRC": 3})
        self.addCleanup(lambda: self.r.delete(*self.r.keys("anon:*")))
        path = self.tmp.file("anon.html")
        p = run_ctl("-r", self.redis.address, "-p", "anon:", "report", "--html", path)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        with open(path, encoding="utf-8") as f:
            page = Page(f.read())
        self.assertEqual([e.attrs["data-group"] for e in page.find("tr")
                          if "data-group" in e.attrs], ["PRC", "RU"])
        self.assertEqual(page.one(total="g:RU:operator").text, "2")
        self.assertEqual([e.attrs["data-chart"] for e in page.find("figure")], ["total"])
        self.assertEqual(self.bars(page, "total"), {(hour, "PRC"): "3", (hour, "RU"): "2"})

    def test_empty_redis(self):
        """Another prefix with nothing in it: a page with zeros, no rows, no charts."""
        path = self.tmp.file("empty.html")
        p = run_ctl("-r", self.redis.address, "-p", "nothing:", "report", "--html", path)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        with open(path, encoding="utf-8") as f:
            page = Page(f.read())
        self.assertEqual(page.stack, [])
        for field in ("queries", "cache_hits", "blocked", "rewritten"):
            self.assertEqual(page.one(total=field).text, "0")
        self.assertEqual(page.one(count="devices").text, "0")
        self.assertEqual(page.find("figure"), [])
        self.assertEqual([e for e in page.find("tr") if "data-event" in e.attrs], [])

    # --- errors ------------------------------------------------------------------------------

    def assert_fails(self, p, path):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, "expected one line on stderr: %r" % p.stderr)
        self.assertTrue(lines[0].startswith("jurisdns-ctl: "), lines[0])
        self.assertFalse(os.path.exists(path), "a page was written")
        self.assertFalse(os.path.exists(path + ".tmp"), "the temporary file was left")
        return lines[0]

    def test_redis_unreachable(self):
        path = self.tmp.file("unreachable.html")
        p = run_ctl("-r", "unix:" + self.tmp.file("no-such.sock"), "report", "--html", path)
        self.assertIn("Redis", self.assert_fails(p, path))

    def test_redis_wrong_type(self):
        """A key of the wrong type is a Redis error: exit 1, and no page."""
        self.r.set("wrong:{stats}:clients", "not a set")
        self.addCleanup(self.r.delete, "wrong:{stats}:clients")
        path = self.tmp.file("wrong.html")
        p = run_ctl("-r", self.redis.address, "-p", "wrong:", "report", "--html", path)
        self.assertIn("WRONGTYPE", self.assert_fails(p, path))

    def test_unwritable_file(self):
        path = self.tmp.file("no-such-dir/report.html")
        p = run_ctl("-r", self.redis.address, "report", "--html", path)
        self.assert_fails(p, path)

    # --- rendering ---------------------------------------------------------------------------

    def test_chromium_screenshot(self):
        """Headless Chromium renders the page to a PNG that is not blank: more than 1% of the
        pixels differ from the most common one (the background)."""
        if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
            self.skipTest("chromium not found at %s (apt-get install chromium, or set CHROMIUM)"
                          % CHROMIUM)
        out = self.tmp.file("shot.png")
        log = self.tmp.file("chromium.log")
        home = self.tmp.file("chromium-home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home)
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--hide-scrollbars", "--screenshot=" + out, "--window-size=1280,2000",
                 "--user-data-dir=" + self.tmp.file("chromium-profile"),
                 "file://" + self.page_path],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                # its own process group: the renderer and helper processes go with it
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        self.assertIsNotNone(rc, "chromium did not finish within 60 s:\n" + text[-3000:])
        self.assertEqual(rc, 0, text[-3000:])
        self.assertTrue(os.path.isfile(out), "no screenshot:\n" + text[-3000:])
        w, ht, counts = png_pixels(out)
        self.assertEqual((w, ht), (1280, 2000))
        _, common = counts.most_common(1)[0]
        other = w * ht - common
        self.assertGreater(other, w * ht // 100, "the screenshot is blank")


if __name__ == "__main__":
    h.main()
