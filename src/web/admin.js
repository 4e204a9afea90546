/* jurisdns console: the admin pages (admin.html): login, the devices table, a device's page
 * (hourly charts, top domains, first contacts, live tail over server-sent events) and the
 * policy. Uses window.JD from app.js; the same rules apply: no innerHTML, text through
 * textContent only, SVG through createElementNS. Routes are URL fragments: #devices,
 * #device/ID, #policy. */
"use strict";

(function () {
  const JD = window.JD;
  const { el, svg, clear, $, show, num, pct, when, isoTime, api, showError } = JD;

  let me = null;           /* GET /api/me: admin flag, csrf, the groups of the groups file */
  let devices = [];
  let sortKey = "queries";
  let sortDir = -1;
  let live = null;         /* the EventSource of the device page */
  let current = null;      /* the device document on the device page */
  let dPicker = null, pPicker = null;

  const SECTIONS = ["login", "devices", "device", "policy"];

  function only(id) {
    show($("loading"), false);
    for (const s of SECTIONS) show($(s), s === id);
    show($("admin-nav"), !!(me && me.admin));
  }

  function stopLive() {
    if (live) { live.close(); live = null; }
  }

  function flash(id, text) {
    const e = $(id);
    e.textContent = text;
    show(e, true);
    setTimeout(() => show(e, false), 4000);
  }

  /* --- routing ------------------------------------------------------------------------- */

  async function route() {
    stopLive();
    showError(null);
    if (!me || !me.admin) { only("login"); $("password").focus(); return; }
    const h = decodeURIComponent(location.hash.replace(/^#/, ""));
    try {
      if (h.startsWith("device/")) await deviceView(h.slice(7));
      else if (h === "policy") await policyView();
      else await devicesView();
    } catch (e) {
      if (e.status === 401) { me.admin = false; only("login"); }
      showError(e);
    }
  }

  /* --- login --------------------------------------------------------------------------- */

  async function onLogin(ev) {
    ev.preventDefault();
    showError(null);
    const btn = $("login-button");
    btn.disabled = true;
    try {
      const r = await api("POST", "/api/login", { password: $("password").value });
      $("password").value = "";
      me = await api("GET", "/api/me");
      if (!me.admin && r && r.admin) me.admin = true;
      await route();
    } catch (e) {
      showError(e.status === 401 ? new Error("Wrong password.") : e);
    }
    btn.disabled = false;
  }

  async function onLogout() {
    stopLive();
    try { await api("POST", "/api/logout", {}); } catch (e) { showError(e); }
    try { me = await api("GET", "/api/me"); } catch (e) { me = null; }
    if (me) me.admin = false;
    location.hash = "";
    only("login");
  }

  /* --- the devices table --------------------------------------------------------------- */

  function topShare(d) {
    const q = Number(d.queries) || 0;
    let best = 0;
    for (const v of Object.values(d.groups || {})) best = Math.max(best, Number(v) || 0);
    return q ? best / q : 0;
  }

  function sortValue(d, key) {
    switch (key) {
      case "name": return String(d.name || d.id || "").toLowerCase();
      case "vendor": return String(d.vendor || "").toLowerCase();
      case "mode": return String(d.mode || "") + (d.locked ? "1" : "0");
      case "share": return topShare(d);
      default: return Number(d[key]) || 0;
    }
  }

  function renderDevices() {
    const body = clear($("devices-body"));
    const list = devices.slice().sort((a, b) => {
      const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir ||
        String(a.id).localeCompare(String(b.id));
    });
    for (const b of document.querySelectorAll("button.sort")) {
      const th = b.parentNode;
      th.setAttribute("aria-sort", b.dataset.key === sortKey
        ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
    for (const d of list) {
      const q = Number(d.queries) || 0;
      const share = el("span", { class: "share-cell" });
      const gs = Object.entries(d.groups || {}).filter(([, n]) => Number(n) > 0);
      if (!gs.length) share.appendChild(el("span", { class: "muted", text: "none" }));
      gs.forEach(([g, n], i) => {
        if (i) share.appendChild(document.createTextNode(", "));
        share.appendChild(el("span", { "data-group": g, text: g + " " + pct(n, q) }));
      });
      const href = "#device/" + encodeURIComponent(String(d.id));
      body.appendChild(el("tr", { "data-id": String(d.id) },
        el("td", { "data-label": "Name" }, el("div", null,
          el("a", { href: href, class: "dname", text: String(d.name || d.id) }),
          d.name ? el("span", { class: "muted sub", text: String(d.id) }) : null)),
        el("td", { "data-label": "Vendor", text: d.vendor ? String(d.vendor) : "" }),
        el("td", { "data-label": "Queries", class: "n", "data-field": "queries", text: num(q) }),
        el("td", { "data-label": "Group share" }, share),
        el("td", { "data-label": "Blocked", class: "n", "data-field": "blocked", text: num(d.blocked) }),
        el("td", { "data-label": "Last seen" },
          el("time", { datetime: isoTime(d.last_seen), text: when(d.last_seen) })),
        el("td", { "data-label": "Mode" }, el("div", null, el("span", { class: "mode-tag m-" + String(d.mode || "off"),
          text: String(d.mode || "off") }), d.locked ? el("span", { class: "lock", text: " locked" }) : null))));
    }
    show($("devices-empty"), !devices.length);
  }

  async function loadDevices() {
    const r = await api("GET", "/api/devices");
    devices = Array.isArray(r && r.devices) ? r.devices : [];
  }

  async function devicesView() {
    await loadDevices();
    renderDevices();
    only("devices");
  }

  function onSort(ev) {
    const key = ev.currentTarget.dataset.key;
    if (key === sortKey) sortDir = -sortDir;
    else { sortKey = key; sortDir = (key === "name" || key === "vendor" || key === "mode") ? 1 : -1; }
    renderDevices();
  }

  /* --- the hourly charts (inline SVG) --------------------------------------------------- */

  const BAR = 4, CH = 90, TOP = 14, AXIS = 16;

  /* One chart: stacked bars per hour. series = [{cls, label, value(hourRecord)}]. */
  function hourChart(title, hourly, series) {
    const n = hourly.length;
    const W = Math.max(n, 1) * BAR;
    let max = 0;
    for (const h of hourly) {
      let s = 0;
      for (const ser of series) s += ser.value(h);
      max = Math.max(max, s);
    }
    const H = TOP + CH + AXIS;
    const chart = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": title + ", per hour, last " + Math.round(n / 24) + " days, peak " + max });
    chart.appendChild(svg("text", { class: "ctitle", x: 0, y: 10, text: title + " (peak " + num(max) + "/h)" }));
    chart.appendChild(svg("line", { class: "axis", x1: 0, y1: TOP + CH + 0.5, x2: W, y2: TOP + CH + 0.5 }));
    hourly.forEach((h, i) => {
      const hour = String(h.hour || "");
      if (hour.slice(8, 10) === "00") {
        chart.appendChild(svg("line", { class: "day", x1: i * BAR, y1: TOP, x2: i * BAR, y2: TOP + CH + 4 }));
        chart.appendChild(svg("text", { class: "tick", x: i * BAR + 2, y: H - 3,
          text: hour.slice(4, 6) + "-" + hour.slice(6, 8) }));
      }
      let y = TOP + CH;
      const parts = [];
      for (const ser of series) {
        const v = ser.value(h);
        if (!v || !max) continue;
        const bh = CH * v / max;
        y -= bh;
        parts.push(svg("rect", { class: ser.cls, x: i * BAR + 0.5, y: y.toFixed(2), width: BAR - 1,
          height: Math.max(bh, 0.5).toFixed(2) }));
        parts.push(ser.label + " " + v);
      }
      if (parts.length) {
        const g = svg("g", null);
        const tip = hour.slice(0, 4) + "-" + hour.slice(4, 6) + "-" + hour.slice(6, 8) + " " +
          hour.slice(8, 10) + ":00 UTC: " + parts.filter((p) => typeof p === "string").join(", ");
        g.appendChild(svg("title", { text: tip }));
        for (const p of parts) if (typeof p !== "string") g.appendChild(p);
        chart.appendChild(g);
      }
    });
    return chart;
  }

  function charts(doc) {
    const box = el("div", { class: "charts" });
    const hourly = Array.isArray(doc.hourly) ? doc.hourly : [];
    if (!hourly.length) {
      box.appendChild(el("p", { class: "empty", text: "No hourly statistics: this device has no queries in the last 7 days." }));
      return box;
    }
    box.appendChild(hourChart("All queries", hourly,
      [{ cls: "q-all", label: "queries", value: (h) => Number(h.queries) || 0 }]));
    for (const g of JD.allGroups(doc)) {
      const series = JD.REASONS.map((r) => ({ cls: "r-" + r, label: r,
        value: (h) => Number(((h.groups || {})[g] || {})[r]) || 0 }));
      box.appendChild(hourChart(g + " by reason", hourly, series));
    }
    box.appendChild(JD.legend());
    return box;
  }

  /* --- the device page ----------------------------------------------------------------- */

  function renderDevice(d) {
    current = d;
    const name = d.name ? String(d.name) : String(d.id);
    $("d-name").textContent = name;
    $("d-meta").textContent = [String(d.id), d.mac ? String(d.mac) : "", d.vendor ? String(d.vendor) : "",
      d.locked ? "locked by " + String(d.locked_by || "the administrator") : ""].filter(Boolean).join(" · ");
    const c = d.counts || {};
    $("d-today").textContent = num((c.today || {}).queries);
    $("d-week").textContent = num((c.week || {}).queries);
    $("d-blocked").textContent = num((c.week || {}).blocked);
    $("d-mode").value = String(d.mode || "off");
    $("d-label").value = d.name ? String(d.name) : "";
    $("d-locked").checked = !!d.locked;
    dPicker = JD.groupPicker($("d-groups"), (me && me.groups) || d.groups || [], d.block, false, "d-block");
    clear($("d-charts")).appendChild(charts(d));
    const sh = clear($("d-shares"));
    if (d.redis === false || !d.counts) {
      sh.appendChild(el("p", { class: "notice", text: "Statistics need Redis: set [redis] address in the jurisdns configuration." }));
    } else {
      sh.appendChild(JD.shares(d, "week"));
    }
    clear($("d-top")).appendChild(JD.topLists(d));
    clear($("d-firsts")).appendChild(JD.firstContacts(d.first_contacts));
  }

  function startLive(id) {
    const body = clear($("d-live-body"));
    const state = $("d-live-state");
    state.textContent = "Connecting\u2026";
    const es = new EventSource("/api/events");
    live = es;
    es.onopen = () => { state.textContent = "Live: new labelled queries of this device appear below."; };
    es.onerror = () => {
      state.textContent = es.readyState === EventSource.CLOSED ? "The live feed stopped. Reload the page to restart it."
        : "Reconnecting\u2026";
    };
    es.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (!ev || typeof ev !== "object") return;
      /* the admin's feed has every device: keep this one's (its id is its address or MAC) */
      const ids = [ev.client, ev.ip, ev.id].filter((x) => x !== undefined && x !== null).map(String);
      if (ids.length && !ids.includes(id)) return;
      const ts = ev.ts_ms ? Number(ev.ts_ms) / 1000 : Number(ev.ts) || Date.now() / 1000;
      const row = el("tr", null,
        el("td", { "data-label": "Time" }, el("time", { datetime: isoTime(ts),
          text: new Date(ts * 1000).toLocaleTimeString() })),
        el("td", { "data-label": "Name", class: "dom", text: String(ev.qname || ev.domain || "") }),
        el("td", { "data-label": "Group", text: String(ev.group || "") }),
        /* every reason of the query (ev.why, a list); ev.reason is the first one */
        el("td", { "data-label": "Why", class: "whys" },
          (Array.isArray(ev.why) && ev.why.length ? ev.why : [ev.reason || ""]).map((w) =>
            el("code", { class: "why", text: String(w) }))),
        el("td", { "data-label": "Action", text: String(ev.action || "") }));
      body.insertBefore(row, body.firstChild);
      while (body.childNodes.length > 100) body.removeChild(body.lastChild);
    };
  }

  async function deviceView(id) {
    const d = await api("GET", "/api/devices/" + encodeURIComponent(id));
    renderDevice(d);
    only("device");
    startLive(String(d.id || id));
  }

  async function onDeviceSave(ev) {
    ev.preventDefault();
    if (!current) return;
    showError(null);
    const body = { mode: $("d-mode").value, block: dPicker ? dPicker.value() : [],
      locked: $("d-locked").checked };
    const nm = $("d-label").value.trim();
    if (nm !== String(current.name || "")) body.name = nm;
    try {
      const d = await api("PUT", "/api/devices/" + encodeURIComponent(String(current.id)), body);
      if (d && d.id) renderDevice(d);
      flash("d-saved", "Saved. jurisdns applies it within a second.");
    } catch (e) {
      showError(e);
    }
  }

  /* --- the policy page ----------------------------------------------------------------- */

  function lines(text) {
    return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  }

  function renderLocks() {
    const body = clear($("locks-body"));
    if (!devices.length) {
      body.appendChild(el("tr", null, el("td", { colspan: 3, class: "muted", text: "No devices yet." })));
    }
    for (const d of devices) {
      const btn = el("button", { type: "button", class: "small",
        text: d.locked ? "Unlock" : "Lock" });
      btn.addEventListener("click", async () => {
        showError(null);
        btn.disabled = true;
        try {
          await api("PUT", "/api/devices/" + encodeURIComponent(String(d.id)),
            { locked: !d.locked });
          await loadDevices();
          renderLocks();
        } catch (e) {
          showError(e);
          btn.disabled = false;
        }
      });
      body.appendChild(el("tr", { "data-id": String(d.id) },
        el("td", { "data-label": "Device" }, el("div", null, String(d.name || d.id),
          d.name ? el("span", { class: "muted sub", text: String(d.id) }) : null)),
        el("td", { "data-label": "Mode", text: String(d.mode || "off") + (d.locked ? " (locked)" : "") }),
        el("td", { "data-label": "Lock" }, btn)));
    }
  }

  async function policyView() {
    const p = await api("GET", "/api/policy");
    const def = (p && p.default) || {};
    $("p-mode").value = String(def.mode || "off");
    pPicker = JD.groupPicker($("p-groups"), (me && me.groups) || [], def.block, false, "p-block");
    $("p-allow").value = (Array.isArray(p.allow) ? p.allow : []).join("\n");
    $("p-deny").value = (Array.isArray(p.deny) ? p.deny : []).join("\n");
    await loadDevices();
    renderLocks();
    only("policy");
  }

  async function onPolicySave(ev) {
    ev.preventDefault();
    showError(null);
    try {
      await api("PUT", "/api/policy", {
        default: { mode: $("p-mode").value, block: pPicker ? pPicker.value() : [] },
        allow: lines($("p-allow").value), deny: lines($("p-deny").value)
      });
      flash("p-saved", "Saved. Every instance applies it within a second.");
    } catch (e) {
      showError(e);
    }
  }

  /* --- start --------------------------------------------------------------------------- */

  async function start() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("d-form").addEventListener("submit", onDeviceSave);
    $("p-form").addEventListener("submit", onPolicySave);
    for (const b of document.querySelectorAll("button.sort")) b.addEventListener("click", onSort);
    window.addEventListener("hashchange", route);
    try {
      me = await api("GET", "/api/me");
    } catch (e) {
      show($("loading"), false);
      showError(e);
      me = null;
    }
    await route();
  }

  start();
})();
