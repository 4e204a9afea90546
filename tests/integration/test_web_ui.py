#!/usr/bin/python3
"""The web console in a real browser (issue 13): headless Chromium driven by python3-selenium
(chromium-driver), against the real daemon with `[web] listen` on a free port, a real
redis-server on a unix socket, and knotd as the upstream.

- "This device" (index.html) after DNS queries from 127.0.0.1 shows the numbers that are in
  Redis (P{stats}:client:127.0.0.1 and its hourly hashes).
- The device's DHCP lease host name (P{policy}:lease:127.0.0.1) is `<img src=x onerror=alert(1)>`:
  it shows as text, no element is made of it and no alert opens.
- The browser console has no errors; the 390x844 phone viewport has no horizontal scroll.
- The admin logs in with a password set by `jurisdns-ctl web passwd` (stdin) and the devices
  table shows the device, its name as text and its query count from Redis.
- Pressing "Block" makes the next query of the device for a PRC name come back sinkholed.
- A device the admin locked shows who locked it, with its controls disabled.
- Without [redis] the page says what it needs and shows the mode and groups of the config.

Screenshots go to $abs_top_builddir/tests/integration/artefacts/*.png (the test's artefacts).
The browser runs with a temporary profile; the driver is quit and chromedriver stopped by PID;
every wait is bounded (WebDriverWait)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h

try:
    import redis
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    IMPORT_ERROR = None
except ImportError as e:  # reported by setUpModule
    IMPORT_ERROR = e

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ZONES = h.POLICY_ZONES
GROUPS = h.PRC_GROUPS
P = "jurisdns:"
S = P + "{stats}:"
ME = "127.0.0.1"               # the browser and the DNS client: the same device
HOSTILE = "<img src=x onerror=alert(1)>"
PASSWORD = "correct horse battery"
SINK = "0.0.0.0"
WAIT = 10                      # seconds: the bound of every browser wait

KNOT = None


def setUpModule():
    global KNOT
    if IMPORT_ERROR is not None:
        raise RuntimeError("%s (apt-get install python3-selenium python3-redis chromium-driver)"
                           % IMPORT_ERROR)
    if not os.access(CHROMEDRIVER, os.X_OK):
        raise RuntimeError("chromedriver not found at %s (apt-get install chromium-driver)"
                           % CHROMEDRIVER)
    KNOT = h.start_knot(ZONES)


def tearDownModule():
    h.stop_knot(KNOT)


def artefacts_dir():
    base = os.environ.get("abs_top_builddir")
    d = (os.path.join(base, "tests", "integration", "artefacts") if base
         else os.path.join(h.HERE, "artefacts"))
    os.makedirs(d, exist_ok=True)
    return d


def number(text):
    """The integer of a number as the page shows it ("1,234")."""
    return int(text.replace(",", "").strip() or 0)


def wait_web(base, jd, timeout=10.0):
    """Wait (bounded) until the console answers GET / with 200."""
    def up():
        try:
            with urllib.request.urlopen(base + "/", timeout=1) as res:
                return res.status == 200
        except OSError:
            return False
    h.wait_for(up, timeout, interval=0.1,
               what="the web console on %s; log:\n%s" % (base, jd.read_log()))


class Browser:
    """Headless Chromium with a temporary profile, quit and stopped by PID."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="jd-chromium-")
        opts = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1280,900", "--user-data-dir=" + self.profile):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.service = Service(CHROMEDRIVER)
        self.driver = None
        try:
            self.driver = webdriver.Chrome(service=self.service, options=opts)
        except BaseException:
            self.stop()
            raise
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)

    def stop(self):
        try:
            if self.driver is not None:
                self.driver.quit()
        except Exception:
            pass
        finally:
            self.driver = None
            proc = getattr(self.service, "process", None)
            if proc is not None:
                h.stop_process(proc, timeout=5)
            shutil.rmtree(self.profile, ignore_errors=True)


class WebUI(h.JDTestCase):
    """One redis-server, one daemon and one browser for the class; the tests run in the order
    of their names (the last one switches the device to block and puts it back)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir("jd-web-ui-")
        cls.redis = cls.jd = cls.browser = None
        try:
            cls.redis = h.RedisServer(cls.tmp).start()
            cls.r = cls.redis.client()
            # the DHCP lease of this device, as contrib/dhcp/ writes it
            cls.r.hset(P + "{policy}:lease:" + ME, mapping={
                "mac": "02:00:5e:00:53:01", "hostname": HOSTILE, "expires": 0,
                "source": "dnsmasq"})
            cls.r.sadd(P + "{policy}:leases", ME)
            cls.passwd = cls.tmp.file("web.passwd")
            cls.web_port = h.free_port()
            cls.jd = h.make_daemon(
                cls.tmp, [KNOT], groups=GROUPS, test_geoip=True,
                policy={"default_mode": "log", "block": "PRC"},
                redis={"address": cls.redis.address, "snapshot": "", "refresh": 0,
                       "timeout": 1000},
                stats={"instance": "webui", "interval": 200, "retention_days": 2},
                web={"listen": "127.0.0.1:%d" % cls.web_port, "password_file": cls.passwd})
            cls.jd.start()
            cls.base = "http://127.0.0.1:%d" % cls.web_port
            cls.wait_web()
            cls.browser = Browser()
            cls.d = cls.browser.driver
        except BaseException:
            cls.stop_all()
            raise

    @classmethod
    def stop_all(cls):
        try:
            if cls.browser is not None:
                cls.browser.stop()
        finally:
            try:
                if cls.jd is not None:
                    cls.jd.kill()
            finally:
                if cls.redis is not None:
                    cls.redis.stop()
                cls.tmp.cleanup()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.jd is not None and cls.jd.alive():
                cls.jd.stop()
        finally:
            cls.stop_all()

    @classmethod
    def wait_web(cls):
        wait_web(cls.base, cls.jd)

    # --- helpers ------------------------------------------------------------------------------

    def shot(self, name):
        self.d.save_screenshot(os.path.join(artefacts_dir(), name + ".png"))

    def wait(self, cond, what, timeout=WAIT):
        try:
            return WebDriverWait(self.d, timeout).until(cond)
        except TimeoutException:
            self.shot("failed-" + self._testMethodName)
            err = self.d.find_elements(By.ID, "error")
            raise AssertionError("%s within %ds (page error: %r; console: %r)"
                                 % (what, timeout, err[0].text if err else None,
                                    self.d.get_log("browser")))

    def visible(self, elem_id):
        return lambda d: any(e.is_displayed() for e in d.find_elements(By.ID, elem_id))

    def text(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css).text

    def console_errors(self):
        return [l for l in self.d.get_log("browser") if l.get("level") == "SEVERE"]

    def assertNoAlert(self):
        try:
            WebDriverWait(self.d, 1.0).until(EC.alert_is_present())
        except TimeoutException:
            return
        try:
            text = self.d.switch_to.alert.text
            self.d.switch_to.alert.accept()
        except NoAlertPresentException:
            text = "?"
        self.fail("the page opened an alert (%r): the host name ran as script" % text)

    def ask(self, name, source=ME):
        return h.udp(h.make_query(name, "A"), self.jd.port, source=source, timeout=3.0)

    def answers(self, r):
        return sorted(rd.to_text() for rrset in r.answer for rd in rrset)

    def hourly(self, client, hours):
        """Sum of the client's hourly hashes for the given UTC hours (YYYYMMDDHH)."""
        out = {}
        for hr in hours:
            for k, v in self.r.hgetall("%sclient:%s:%s" % (S, client, hr)).items():
                if k not in ("first_seen", "last_seen"):
                    out[k] = out.get(k, 0) + int(v)
        return out

    def stable_counts(self, timeout=5.0):
        """Wait until the device's all-time queries in Redis stop changing (the flush
        interval is 200 ms); returns the all-time hash."""
        key = S + "client:" + ME
        last = [None, 0]

        def still():
            q = self.r.hget(key, "queries")
            if q is not None and q == last[0]:
                last[1] += 1
            else:
                last[0], last[1] = q, 0
            return last[1] >= 3
        h.wait_for(still, timeout, interval=0.2,
                   what="stable counts in %s; log:\n%s" % (key, self.jd.read_log()))
        return self.r.hgetall(key)

    def load_me(self):
        self.d.get(self.base + "/")
        self.wait(self.visible("mode"), "the mode card of 'This device'")

    # --- the tests ----------------------------------------------------------------------------

    def test_1_this_device_numbers_equal_redis(self):
        for name in ("cn.policy.test", "a.cn.policy.test", "b.cn.policy.test",
                     "ali-de.policy.test", "x.ali-de.policy.test", "a1.tuyaeu.com",
                     "de.policy.test", "cn.policy.test"):
            r = self.ask(name)
            self.assertNotEqual(self.answers(r), [SINK], "%s sinkholed in mode log" % name)
        allt = self.stable_counts()
        self.assertGreaterEqual(int(allt.get("g:PRC", 0)), 6, allt)
        now = time.time()
        today = time.strftime("%Y%m%d", time.gmtime(now))
        day_hours = [today + "%02d" % i for i in range(24)]
        week_hours = [time.strftime("%Y%m%d%H", time.gmtime(now - 3600 * i)) for i in range(168)]
        t, w = self.hourly(ME, day_hours), self.hourly(ME, week_hours)
        self.load_me()
        self.wait(self.visible("counts"), "the counts card")
        self.shot("index-desktop")
        self.assertEqual(number(self.text("#today-queries")), t.get("queries", 0))
        self.assertEqual(number(self.text("#week-queries")), w.get("queries", 0))
        self.assertEqual(number(self.text("#week-blocked")), w.get("blocked", 0))
        self.assertEqual(w.get("queries"), int(allt["queries"]), "week != all time in Redis")
        for span, c in (("week", w), ("today", t)):
            row = '.share[data-group="PRC"][data-span="%s"] ' % span
            self.assertEqual(number(self.text(row + '[data-field="total"]')), c.get("g:PRC", 0),
                             span)
            for reason in ("hosted", "operator", "domain"):
                self.assertEqual(number(self.text(row + '[data-field="%s"]' % reason)),
                                 c.get("g:PRC:" + reason, 0), "%s %s" % (span, reason))
        # the top PRC domains are the members of the top set, each with why it was labelled
        top = self.r.zrevrange(S + "top:%s:PRC" % ME, 0, -1)
        self.assertTrue(top, "no top set in Redis")
        items = self.d.find_elements(By.CSS_SELECTOR, '.toplist[data-group="PRC"] li')
        shown = [li.find_element(By.CSS_SELECTOR, ".dom").text for li in items]
        self.assertTrue(shown and set(shown) <= set(top), "shown %r, Redis %r" % (shown, top))
        for li, dom in zip(items, shown):
            self.assertEqual(number(li.find_element(By.CSS_SELECTOR, ".cnt").text),
                             int(self.r.zscore(S + "top:%s:PRC" % ME, dom)), dom)
        self.assertIn("a1.tuyaeu.com", shown)
        # why: the reason kind first ("hosted", or "hosted:CN" with the detail)
        whys = {}
        for li, dom in zip(items, shown):
            w = li.find_elements(By.CSS_SELECTOR, ".why")
            whys[dom] = w[0].text if w else ""
        for dom, kind in (("a1.tuyaeu.com", "domain"), ("ali-de.policy.test", "operator"),
                          ("cn.policy.test", "hosted")):
            self.assertIn(dom, whys)
            self.assertRegex(whys[dom], "^%s(:|$)" % kind, "why %s was labelled" % dom)
        self.assertEqual(self.console_errors(), [])

    def test_2_hostile_host_name_is_text(self):
        self.load_me()
        self.assertNoAlert()
        self.assertEqual(self.text("#dev-name"), HOSTILE)
        self.assertIn(HOSTILE, self.d.find_element(By.TAG_NAME, "body").text)
        self.assertEqual(self.d.find_elements(By.TAG_NAME, "img"), [],
                         "an element was made of the host name")
        self.assertEqual(self.console_errors(), [])

    def test_3_console_has_no_errors(self):
        self.d.get_log("browser")  # drain
        for page, ready in (("/", "mode"), ("/admin.html", "login")):
            self.d.get(self.base + page)
            self.wait(self.visible(ready), "%s ready" % page)
            time.sleep(0.3)  # late errors (a missing favicon, a failed fetch) come in too
            self.assertEqual(self.console_errors(), [], page)

    def test_4_phone_viewport_has_no_horizontal_scroll(self):
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 2,
                                "mobile": True})
        self.addCleanup(self.d.execute_cdp_cmd, "Emulation.clearDeviceMetricsOverride", {})
        self.load_me()
        self.wait(self.visible("counts"), "the counts card")
        sw, iw = self.d.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        self.shot("index-phone")
        self.assertEqual(iw, 390)
        self.assertLessEqual(sw, iw, "horizontal scroll on a 390 px phone")
        self.assertEqual(self.console_errors(), [])

    def test_5_admin_login_and_devices(self):
        r = subprocess.run([h.ctl_bin(), "web", "passwd", "--file", self.passwd],
                           input=PASSWORD + "\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "jurisdns-ctl web passwd: %s%s" % (r.stdout, r.stderr))
        self.d.get(self.base + "/admin.html")
        self.wait(self.visible("login"), "the login form")
        # a wrong password is refused, with the reason shown as text
        self.d.find_element(By.ID, "password").send_keys("wrong")
        self.d.find_element(By.ID, "login-button").click()
        self.wait(self.visible("error"), "the error of a wrong password")
        self.assertFalse(self.d.find_element(By.ID, "devices").is_displayed())
        self.d.get_log("browser")  # the 401 of the wrong password is logged by Chromium
        pw = self.d.find_element(By.ID, "password")
        pw.clear()
        pw.send_keys(PASSWORD)
        self.d.find_element(By.ID, "login-button").click()
        row = 'tr[data-id="%s"]' % ME
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, row), "the device's row")
        self.assertNoAlert()
        self.assertEqual(self.text(row + " a.dname"), HOSTILE)
        allt = self.r.hgetall(S + "client:" + ME)
        self.assertEqual(number(self.text(row + ' [data-field="queries"]')),
                         int(allt["queries"]))
        self.assertEqual(self.d.find_elements(By.TAG_NAME, "img"), [])
        self.shot("admin-devices")
        # the device page: charts (inline SVG) and the live tail
        self.d.find_element(By.CSS_SELECTOR, row + " a.dname").click()
        self.wait(self.visible("device"), "the device page")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#d-charts svg.chart"),
                  "the hourly charts")
        self.assertEqual(self.text("#d-name"), HOSTILE)
        self.ask("live.cn.policy.test")
        self.wait(lambda d: any("live.cn.policy.test" in e.text for e in
                                d.find_elements(By.CSS_SELECTOR, "#d-live-body tr")),
                  "the live tail showing a new labelled query")
        live = [e for e in self.d.find_elements(By.CSS_SELECTOR, "#d-live-body tr")
                if "live.cn.policy.test" in e.text][0]
        self.assertEqual([c.text for c in live.find_elements(By.CSS_SELECTOR, "code.why")],
                         ["hosted:CN"], "the live tail's why of each label")
        self.shot("admin-device")
        # the policy page writes the deny list through the same Redis path as jurisdns-ctl
        self.d.get(self.base + "/admin.html#policy")
        self.wait(self.visible("policy"), "the policy page")
        deny_key = P + "{policy}:deny"
        self.addCleanup(lambda: (self.r.srem(deny_key, "deny-by-web.example"),
                                 self.r.incr(P + "{policy}:version")))
        v0 = int(self.r.get(P + "{policy}:version") or 0)
        self.d.find_element(By.ID, "p-deny").send_keys("deny-by-web.example")
        self.d.find_element(By.CSS_SELECTOR, '#p-form button[type="submit"]').click()
        self.wait(self.visible("p-saved"), "the policy saved message")
        self.assertIn("deny-by-web.example", self.r.smembers(deny_key))
        self.assertGreater(int(self.r.get(P + "{policy}:version") or 0), v0, "no version bump")
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 2,
                                "mobile": True})
        self.addCleanup(self.d.execute_cdp_cmd, "Emulation.clearDeviceMetricsOverride", {})
        for frag, ready in (("#devices", "devices"), ("#policy", "policy")):
            self.d.get(self.base + "/admin.html" + frag)
            self.wait(self.visible(ready), "admin %s on a phone" % frag)
            sw, iw = self.d.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            self.shot("admin-%s-phone" % ready)
            self.assertLessEqual(sw, iw, "horizontal scroll on admin %s" % frag)
        self.assertEqual(self.console_errors(), [])

    def test_6_block_button_sinkholes_the_next_query(self):
        r = self.ask("before.cn.policy.test")
        self.assertNotEqual(self.answers(r), [SINK], "sinkholed before Block was pressed")
        key = P + "{policy}:client:" + ME

        def restore():
            self.r.delete(key)
            self.r.srem(P + "{policy}:clients", ME)
            v = self.r.incr(P + "{policy}:version")
            self.r.publish(P + "policy:changed", v)
        self.addCleanup(restore)
        self.load_me()
        self.d.find_element(By.CSS_SELECTOR, 'button[data-mode="block"]').click()
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, 'button[data-mode="block"]')
                  .get_attribute("aria-pressed") == "true", "the Block button pressed")
        self.wait(self.visible("saved"), "the saved message")
        self.assertEqual(self.r.hget(key, "mode"), "block")
        self.shot("index-blocked")
        # the daemon applies it within a second (published change); fresh names: no cache
        n = [0]

        def sinkholed():
            n[0] += 1
            return self.answers(self.ask("after%d.cn.policy.test" % n[0])) == [SINK]
        h.wait_for(sinkholed, 3.0, interval=0.1,
                   what="a sinkholed answer after pressing Block; log:\n%s" % self.jd.read_log())
        self.assertLessEqual(n[0], 25)
        self.assertNotEqual(self.answers(self.ask("after.de.policy.test")), [SINK],
                            "an unlabelled name is sinkholed too")
        self.assertEqual(self.console_errors(), [])

    def test_7_locked_device_shows_who_and_cannot_change(self):
        key = P + "{policy}:client:" + ME

        def publish():
            v = self.r.incr(P + "{policy}:version")
            self.r.publish(P + "policy:changed", v)

        def restore():
            self.r.delete(key)
            self.r.srem(P + "{policy}:clients", ME)
            publish()
        self.addCleanup(restore)
        self.r.sadd(P + "{policy}:clients", ME)
        self.r.hset(key, mapping={"mode": "log", "locked": "admin"})
        publish()
        self.load_me()
        self.wait(self.visible("locked"), "the locked notice")
        self.assertIn("admin", self.text("#locked"))
        for b in self.d.find_elements(By.CSS_SELECTOR, "button.mode"):
            self.assertFalse(b.is_enabled(), "mode button %r enabled on a locked device" % b.text)
        for cb in self.d.find_elements(By.CSS_SELECTOR, "#groups input"):
            self.assertFalse(cb.is_enabled())
        self.shot("index-locked")
        self.assertEqual(self.console_errors(), [])

    def test_8_top_domains_say_why_with_the_operator_name(self):
        """Each top domain shows why it was labelled as in S why:ID:GROUP: for an operator
        label the AS with its name from the GeoIP database (text from the database: shown as
        text)."""
        why = "operator:AS45102 Alibaba US Technology Co., Ltd."
        self.ask("ali-de.policy.test")
        h.wait_for(lambda: self.r.hget(S + "why:%s:PRC" % ME, "ali-de.policy.test") == why, 5.0,
                   interval=0.05, what="the why of ali-de.policy.test in Redis")
        self.load_me()
        li = '.toplist[data-group="PRC"] li'
        self.wait(lambda d: any(e.find_element(By.CSS_SELECTOR, ".dom").text == "ali-de.policy.test"
                                for e in d.find_elements(By.CSS_SELECTOR, li)),
                  "ali-de.policy.test in the top PRC list")
        shown = {e.find_element(By.CSS_SELECTOR, ".dom").text: e.find_element(By.CSS_SELECTOR, ".why").text
                 for e in self.d.find_elements(By.CSS_SELECTOR, li)}
        self.assertEqual(shown["ali-de.policy.test"], why)
        for dom, w in self.r.hgetall(S + "why:%s:PRC" % ME).items():
            if dom in shown:
                self.assertEqual(shown[dom], w, dom)
        self.assertEqual(self.console_errors(), [])


class WithoutRedis(h.JDTestCase):
    """No [redis]: the page says what it needs and shows the mode and groups of the config."""

    def test_page_says_redis_is_needed(self):
        port = h.free_port()
        jd = self.daemon([KNOT], start=False, groups=GROUPS, test_geoip=True,
                         policy={"default_mode": "block", "block": "PRC"})
        jd.web = {"listen": "127.0.0.1:%d" % port, "password_file": jd.tmp.file("web.passwd")}
        jd.start()
        self.addCleanup(jd.stop)
        base = "http://127.0.0.1:%d" % port
        wait_web(base, jd)
        b = Browser()
        self.addCleanup(b.stop)
        d = b.driver
        d.get(base + "/")
        try:
            WebDriverWait(d, WAIT).until(lambda d: d.find_element(By.ID, "mode").is_displayed())
        except TimeoutException:
            self.fail("no mode card; page error: %r" % d.find_element(By.ID, "error").text)
        d.save_screenshot(os.path.join(artefacts_dir(), "index-no-redis.png"))
        self.assertTrue(d.find_element(By.ID, "noredis").is_displayed())
        self.assertIn("[redis] address", d.find_element(By.ID, "noredis").text)
        pressed = [e.get_attribute("data-mode") for e in
                   d.find_elements(By.CSS_SELECTOR, 'button.mode[aria-pressed="true"]')]
        self.assertEqual(pressed, ["block"], "the mode of the config")
        ticked = [e.get_attribute("value") for e in
                  d.find_elements(By.CSS_SELECTOR, "#groups input:checked")]
        self.assertEqual(ticked, ["PRC"], "the groups of the config")
        self.assertFalse(d.find_element(By.ID, "counts").is_displayed())
        self.assertEqual([l for l in d.get_log("browser") if l.get("level") == "SEVERE"], [])


if __name__ == "__main__":
    h.main()
