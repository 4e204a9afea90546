/* jurisdns console: shared helpers (window.JD) and the "This device" page (index.html).
 *
 * Rules (the server sends a strict Content-Security-Policy): no inline script or style, no eval,
 * no external resource. Everything a device controls (its DHCP host name, the names it queries,
 * its MAC) is hostile, so text goes into the page only through textContent / createTextNode and
 * attribute values through setAttribute; innerHTML is never used. Charts are SVG elements made
 * with createElementNS. */
"use strict";

(function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const REASONS = ["hosted", "operator", "domain"];
  const FIRSTS_SHOWN = 10;

  /* --- DOM helpers --------------------------------------------------------------------- */

  /* el("p", {class: "x", "data-k": v}, child, "text", ...): an element; strings become text
   * nodes, null/undefined children are skipped. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
  }

  function append(e, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === "string" || typeof c === "number"
        ? document.createTextNode(String(c)) : c);
    }
  }

  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
    return e;
  }

  function $(id) { return document.getElementById(id); }

  function show(e, on) { e.hidden = !on; return e; }

  /* --- formatting ---------------------------------------------------------------------- */

  const nf = new Intl.NumberFormat("en");
  function num(n) { return nf.format(Number(n) || 0); }

  function pct(part, whole) {
    if (!whole) return "0 %";
    const p = 100 * part / whole;
    return (p > 0 && p < 1 ? "<1" : p >= 99.5 && part < whole ? ">99" : String(Math.round(p))) + " %";
  }

  function when(ts) {
    if (!ts) return "never";
    const d = new Date(Number(ts) * 1000);
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function isoTime(ts) {
    return ts ? new Date(Number(ts) * 1000).toISOString().replace(".000", "") : "";
  }

  const MODE_TEXT = {
    off: "Not watched: jurisdns answers normally and keeps no statistics for this device.",
    log: "Watched: jurisdns answers normally and shows you where the answers lead.",
    block: "Blocking: answers that lead into the groups ticked below are replaced."
  };
  const MODE_LABEL = { off: "Don't watch", log: "Watch and show me", block: "Block" };

  /* --- API ----------------------------------------------------------------------------- */

  let csrf = "";
  function setCsrf(t) { if (typeof t === "string" && t) csrf = t; }

  /* api(method, path, body): the parsed JSON reply; throws an Error whose message is the
   * server's {"error": ...} sentence (or the HTTP status) with .status and .body set. */
  async function api(method, path, body) {
    const opt = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET" && method !== "HEAD") {
      opt.headers["X-CSRF-Token"] = csrf;
      if (body !== undefined) {
        opt.headers["Content-Type"] = "application/json";
        opt.body = JSON.stringify(body);
      }
    }
    let res;
    try {
      res = await fetch(path, opt);
    } catch (e) {
      const err = new Error("jurisdns does not answer (" + e.message + "). Is it running?");
      err.status = 0;
      throw err;
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === "string" ? data.error
        : "HTTP " + res.status + " " + res.statusText;
      const err = new Error(msg);
      err.status = res.status;
      err.body = data;
      throw err;
    }
    if (data && typeof data.csrf === "string") setCsrf(data.csrf);
    return data;
  }

  function showError(e) {
    const box = $("error");
    if (!box) return;
    if (!e) { box.textContent = ""; show(box, false); return; }
    box.textContent = e instanceof Error ? e.message : String(e);
    show(box, true);
  }

  /* --- counts -------------------------------------------------------------------------- */

  function groupCounts(c, g) {
    const x = (c && c.groups && c.groups[g]) || {};
    return {
      total: Number(x.total) || 0, hosted: Number(x.hosted) || 0,
      operator: Number(x.operator) || 0, domain: Number(x.domain) || 0
    };
  }

  /* The groups that appear anywhere in the document: all of the groups file first, then any
   * group that has counts but is no longer in it. */
  function allGroups(doc) {
    const out = [];
    const add = (g) => { if (typeof g === "string" && !out.includes(g)) out.push(g); };
    (doc.groups || []).forEach(add);
    const c = doc.counts || {};
    for (const span of ["all", "week", "today"]) {
      if (c[span] && c[span].groups) Object.keys(c[span].groups).forEach(add);
    }
    if (doc.top) Object.keys(doc.top).forEach(add);
    return out;
  }

  /* A horizontal bar (inline SVG, 100 units wide, scales to its box) of one group's share of
   * the queries, split by reason. */
  function shareBar(gc, total, label) {
    const s = svg("svg", {
      class: "bar", viewBox: "0 0 100 6", preserveAspectRatio: "none",
      role: "img", "aria-label": label
    });
    s.appendChild(svg("rect", { class: "bar-bg", x: 0, y: 0, width: 100, height: 6 }));
    let x = 0;
    for (const r of REASONS) {
      const w = total ? 100 * gc[r] / total : 0;
      if (w <= 0) continue;
      s.appendChild(svg("rect", { class: "r-" + r, x: x.toFixed(3), y: 0,
        width: Math.max(w, 0.6).toFixed(3), height: 6 },
        svg("title", { text: r + ": " + num(gc[r]) })));
      x += w;
    }
    return s;
  }

  function legend() {
    return el("ul", { class: "legend" }, REASONS.map((r) =>
      el("li", null, el("span", { class: "swatch r-" + r }), r)));
  }

  /* The share of each group in span ("today", "week", "all") of the counts, as a list of
   * rows with the numbers and a bar. */
  function shares(doc, span) {
    const c = (doc.counts || {})[span] || {};
    const total = Number(c.queries) || 0;
    const box = el("div", { class: "shares" });
    const groups = allGroups(doc);
    if (!groups.length) {
      box.appendChild(el("p", { class: "muted", text: "The groups file defines no group." }));
      return box;
    }
    for (const g of groups) {
      const gc = groupCounts(c, g);
      const row = el("div", { class: "share", "data-group": g, "data-span": span },
        el("div", { class: "share-head" },
          el("strong", { class: "gname", text: g }),
          el("span", { class: "gnum" },
            el("span", { "data-field": "total", text: num(gc.total) }),
            " of " + num(total) + " (" + pct(gc.total, total) + ")")),
        shareBar(gc, total, g + ": " + pct(gc.total, total) + " of the queries"),
        el("p", { class: "reasons muted" }, REASONS.map((r, i) => [
          i ? " · " : "", r + " ",
          el("span", { "data-field": r, text: num(gc[r]) })])));
      box.appendChild(row);
    }
    box.appendChild(legend());
    return box;
  }

  /* Top domains per group: doc.top = {GROUP: [{domain, count, reason, why}]}; why
   * ("operator:AS45102 Alibaba") says why it was labelled, reason (the kind) is the fallback. */
  function topLists(doc) {
    const box = el("div", { class: "tops" });
    const top = doc.top || {};
    let any = false;
    for (const g of allGroups(doc)) {
      const list = Array.isArray(top[g]) ? top[g] : [];
      if (!list.length) continue;
      any = true;
      box.appendChild(el("h3", { text: g }));
      box.appendChild(el("ol", { class: "toplist", "data-group": g }, list.map((t) =>
        el("li", null,
          el("span", { class: "dom", text: String(t.domain) }),
          el("span", { class: "cnt", text: num(t.count) }),
          (t.why || t.reason) ? el("code", { class: "why", text: String(t.why || t.reason) }) : null))));
    }
    if (!any) {
      box.appendChild(el("p", { class: "empty",
        text: "No labelled names yet: when this device reaches a name of a group, it is listed here." }));
    }
    return box;
  }

  /* first_contacts: [{ts, group, domain?, reason?}], newest first. */
  function firstContacts(list) {
    list = Array.isArray(list) ? list.slice() : [];
    if (!list.length) {
      return el("p", { class: "empty",
        text: "No first contacts yet. When this device first reaches a group, or a new domain in one, it shows up here." });
    }
    list.sort((a, b) => (Number(b.ts) || 0) - (Number(a.ts) || 0));
    const more = list.length > FIRSTS_SHOWN ? list.length - FIRSTS_SHOWN : 0;
    list = list.slice(0, FIRSTS_SHOWN);
    const ul = el("ul", { class: "firsts" }, list.map((f) =>
      el("li", null,
        el("time", { datetime: isoTime(f.ts), text: when(f.ts) }), " ",
        el("strong", { text: String(f.group || "") }), " ",
        f.domain ? el("span", { class: "dom", text: String(f.domain) }) : el("span", { text: "(first query into the group)" }),
        f.reason ? [" ", el("code", { class: "why", text: String(f.reason) })] : null)));
    return more ? el("div", null, ul, el("p", { class: "muted", text: "and " + num(more) + " earlier" })) : ul;
  }

  /* Group checkboxes: a block entry "PRC" or "PRC:operator" ticks PRC. Returns the box; its
   * value() gives the block list to send (reason-specific entries of a ticked group kept). */
  function groupPicker(container, groups, block, disabled, name) {
    clear(container);
    block = Array.isArray(block) ? block : [];
    const byGroup = (g) => block.filter((b) =>
      String(b).toLowerCase() === g.toLowerCase() ||
      String(b).toLowerCase().startsWith(g.toLowerCase() + ":"));
    const boxes = [];
    if (!groups.length) {
      container.appendChild(el("p", { class: "muted", text: "The groups file defines no group." }));
    }
    for (const g of groups) {
      const cb = el("input", { type: "checkbox", name: name || "block", value: g,
        checked: byGroup(g).length > 0, disabled: !!disabled });
      const entries = byGroup(g);
      const reasonOnly = entries.length && !entries.some((b) => !String(b).includes(":"));
      container.appendChild(el("label", { class: "check" }, cb, " " + g,
        reasonOnly ? el("span", { class: "muted", text: " (" + entries.join(", ") + ")" }) : null));
      boxes.push({ g: g, cb: cb, entries: entries });
    }
    return {
      boxes: boxes,
      value: () => {
        const out = [];
        for (const b of boxes) {
          if (!b.cb.checked) continue;
          if (b.entries.length) out.push(...b.entries); else out.push(b.g);
        }
        return out;
      }
    };
  }

  window.JD = {
    el, svg, clear, $, show, num, pct, when, isoTime, api, setCsrf, showError,
    groupCounts, allGroups, shareBar, legend, shares, topLists, firstContacts, groupPicker,
    REASONS, MODE_TEXT, MODE_LABEL
  };

  /* --- the "This device" page ---------------------------------------------------------- */

  if (document.body.dataset.page !== "me") return;

  let me = null;
  let picker = null;
  let busy = false;

  function render() {
    show($("loading"), false);
    const name = me.name ? String(me.name) : "";
    $("dev-name").textContent = name || "This device";
    $("dev-id").textContent = (name ? "" : "This device: ") + String(me.id || "unknown address");
    $("dev-mac").textContent = me.mac ? " · " + String(me.mac) : "";
    $("dev-vendor").textContent = me.vendor ? " · " + String(me.vendor) : "";
    show($("device"), true);
    if (me.admin) $("admin-link").textContent = "Admin pages";

    const redis = me.redis !== false;
    show($("noredis"), !redis);

    /* mode */
    const mode = String(me.mode || "off");
    $("mode-now").textContent = (MODE_TEXT[mode] || ("Mode: " + mode));
    const locked = !!me.locked;
    const lk = $("locked");
    lk.textContent = locked ? "Locked by " + (me.locked_by ? String(me.locked_by) : "the administrator") +
      ": this device cannot change its mode. Ask them to unlock it." : "";
    show(lk, locked);
    const canChange = redis && !locked && !busy;
    for (const b of document.querySelectorAll("button.mode")) {
      b.setAttribute("aria-pressed", b.dataset.mode === mode ? "true" : "false");
      b.disabled = !canChange;
    }
    picker = groupPicker($("groups"), me.groups || [], me.block, !canChange, "block");
    for (const b of picker.boxes) b.cb.addEventListener("change", onGroups);
    const hint = $("mode-hint");
    if (!redis) {
      hint.textContent = "Changing the mode here needs Redis too (the page writes the device's rule there).";
    } else if (mode === "block" && !picker.value().length) {
      hint.textContent = "Nothing is blocked until you tick a group.";
    } else {
      hint.textContent = "";
    }
    show(hint, !!hint.textContent);
    show($("mode"), true);

    /* counts */
    const counts = me.counts;
    if (!redis || !counts) {
      show($("counts"), false); show($("top"), false); show($("firsts"), false);
      return;
    }
    const t = counts.today || {}, w = counts.week || {};
    $("today-queries").textContent = num(t.queries);
    $("week-queries").textContent = num(w.queries);
    $("week-blocked").textContent = num(w.blocked);
    const all = Number((counts.all || {}).queries) || 0;
    const empty = !all && !(Number(w.queries) || 0);
    show($("empty"), empty && mode !== "off");
    if (mode === "off" && empty) {
      $("empty").textContent = "This device is not watched, so jurisdns keeps no statistics for it. Press \u201cWatch and show me\u201d to start.";
      show($("empty"), true);
    }
    const sh = clear($("shares"));
    sh.appendChild(el("h3", { text: "Where this week's answers led" }));
    sh.appendChild(shares(me, "week"));
    sh.appendChild(el("h3", { text: "Today" }));
    sh.appendChild(shares(me, "today"));
    show($("counts"), true);
    clear($("top-lists")).appendChild(topLists(me));
    show($("top"), true);
    clear($("first-list")).appendChild(firstContacts(me.first_contacts));
    show($("firsts"), true);
  }

  async function save(body, what) {
    busy = true;
    render();
    showError(null);
    const ok = $("saved");
    show(ok, false);
    try {
      me = await api("PUT", "/api/me", body);
      ok.textContent = what;
      show(ok, true);
    } catch (e) {
      showError(e);
      try { me = await api("GET", "/api/me"); } catch (e2) { /* keep the old view */ }
    }
    busy = false;
    render();
  }

  function onMode(ev) {
    const mode = ev.currentTarget.dataset.mode;
    save({ mode: mode, block: picker ? picker.value() : [] },
      "Saved: " + MODE_LABEL[mode] + ". jurisdns applies it within a second.");
  }

  function onGroups() {
    save({ mode: String(me.mode || "off"), block: picker.value() }, "Saved: the groups to avoid.");
  }

  async function load() {
    try {
      me = await api("GET", "/api/me");
      render();
    } catch (e) {
      show($("loading"), false);
      showError(e);
    }
  }

  for (const b of document.querySelectorAll("button.mode")) b.addEventListener("click", onMode);
  load();
})();
