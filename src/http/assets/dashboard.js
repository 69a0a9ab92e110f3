// The dashboard's only program. It talks to the REST API with fetch (same
// origin), draws the charts from the server's history (GET /server/history,
// in the daemon's clock), and builds every piece of text with textContent so
// nothing from the API is ever parsed as HTML.
"use strict";
(() => {
  const NODE_STATES = ["Inexistent", "Starting", "Idle", "Busy", "Error", "Deleting", "Holding", "Held"];
  const INSTANCE_STATES = ["Inexistent", "Pending", "Starting", "Active", "Ready", "Deleting", "Error", "Unknown"];
  const FLAGS = ["Normal", "Frozen", "Draining", "Drained"];
  const JOB_STATES = ["Queued", "Running", "Other"];
  const CHART_STATES = ["Starting", "Idle", "Busy", "Error", "Deleting", "Holding", "Held"];
  const COLORS = {
    Inexistent: "#a0aec0", Starting: "#4e79a7", Idle: "#59a14f", Busy: "#f28e2b", Error: "#e15759",
    Deleting: "#9c755f", Holding: "#b07aa1", Held: "#76b7b2"
  };
  const FLAG_COLORS = ["#59a14f", "#4e79a7", "#f28e2b", "#8a94a6"];
  const TOKEN_KEY = "dyncluster-token";

  const body = document.body;
  const tokenRequired = body.dataset.tokenRequired === "true";
  const refreshSeconds = Math.max(1, Number(body.dataset.refresh) || 2);
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  // The server's history: points {t, nodes: {state: n}, cores: {state: n}}, oldest first, and the daemon's clock at the last sample.
  let history = [];
  let historyTime = null;
  let historyMax = Infinity;
  let refreshing = false;
  let timer = null;
  // status.clouds of the last refresh (live mode only): resource → {auth, error, since}.
  let clouds = {};
  // GET /server/decisions of the last refresh (null: this server keeps no log), and per queued job the newest decision naming it.
  let decisions = null;
  let decisionOf = new Map();

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------ helpers

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else if (k === "dataset") Object.assign(e.dataset, v);
        else if (k === "disabled") e.disabled = !!v;
        else e.setAttribute(k, String(v));
      }
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  const dash = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  function duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "—";
    const s = Math.floor(seconds);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }
  const seg = (s) => encodeURIComponent(s);
  const isPhysical = (n) => n.instance === null || String(n.type).toLowerCase() === "physical";
  const hasJobs = (n) => typeof n.jobs === "string" && n.jobs.trim() !== "";
  const nodeResource = (n) => (isPhysical(n) ? "physical" : n.instance.cloud_resource);

  // ------------------------------------------------------------ errors

  function showError(message) {
    const box = $("errors");
    const item = el("div", { class: "error", role: "alert" },
      el("span", { class: "when", text: new Date().toLocaleTimeString() }),
      el("span", { class: "text", text: message }),
      el("button", { type: "button", text: "Dismiss", onclick: () => item.remove() }));
    box.prepend(item);
    while (box.children.length > 5) box.lastElementChild.remove();
  }
  function setRefreshError(message) {
    const box = $("refresh-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  // ------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(method, path, status, message) {
      super(method + " " + path + " → " + (status ? status + ": " : "") + message);
      this.status = status;
    }
  }
  async function api(method, path) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    let res;
    try {
      res = await fetch(path, { method, headers, cache: "no-store", credentials: "same-origin" });
    } catch (e) {
      throw new ApiError(method, path, 0, "cannot reach the server (" + e.message + ")");
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      if (res.status === 401) askForToken();
      const message = data && typeof data.error === "string" ? data.error : text || res.statusText;
      throw new ApiError(method, path, res.status, message);
    }
    return data;
  }
  async function act(method, path, what) {
    try {
      await api(method, path);
      $("last-action").textContent = what + ": done";
    } catch (e) {
      showError(what + " failed: " + e.message);
    }
    await refresh();
  }

  // ------------------------------------------------------------ token

  function askForToken() {
    const form = $("token-form");
    form.hidden = false;
    $("token-input").focus();
  }
  function initToken() {
    const form = $("token-form");
    form.hidden = !tokenRequired;
    $("token-state").textContent = token ? "token set" : "no token";
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      token = $("token-input").value.trim();
      $("token-input").value = "";
      if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
      $("token-state").textContent = token ? "token set" : "no token";
      refresh();
    });
  }

  // ------------------------------------------------------------ tables

  /** Updates rows in place, keyed, so focus and typed values survive a refresh. */
  function reconcile(tbody, items, key, create, update, emptyText, columns) {
    const existing = new Map();
    for (const tr of Array.from(tbody.rows)) {
      if (tr.dataset.key !== undefined) existing.set(tr.dataset.key, tr); else tr.remove();
    }
    const wanted = [];
    for (const item of items) {
      const k = key(item);
      let tr = existing.get(k);
      if (tr === undefined) { tr = create(item); tr.dataset.key = k; }
      existing.delete(k);
      update(tr, item);
      wanted.push(tr);
    }
    for (const tr of existing.values()) tr.remove();
    wanted.forEach((tr, i) => { if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null); });
    if (items.length === 0) {
      tbody.append(el("tr", null, el("td", { class: "empty", colspan: columns, text: emptyText })));
    }
  }
  function setCells(tr, values) {
    values.forEach((v, i) => {
      const td = tr.cells[i];
      if (v instanceof Node) { td.replaceChildren(v); } else if (td.textContent !== String(v)) td.textContent = String(v);
    });
  }
  function badge(text, color) {
    const b = el("span", { class: "badge", text });
    b.style.background = color;
    return b;
  }
  function button(label, action, onclick, options) {
    return el("button", { type: "button", text: label, class: (options && options.danger) ? "danger" : undefined,
      dataset: { action }, title: options && options.title, onclick });
  }

  function nodeRow(n) {
    const host = n.hostname;
    const tr = el("tr");
    for (let i = 0; i < 9; i++) tr.append(el("td"));
    tr.cells[4].className = "num";
    tr.cells[0].className = "host";
    tr.cells[3].className = "state";
    const actions = el("div", { class: "actions" },
      button("Hold", "hold", () => {
        if (confirm(holdQuestion(host))) act("PUT", "/workernode/" + seg(host) + "/hold", "Hold " + host);
      }),
      button("Unhold", "unhold", () => act("PUT", "/workernode/" + seg(host) + "/unhold", "Unhold " + host)),
      button("Vacate", "vacate", () => {
        if (confirm("Kill and delete every job running on " + host + "?")) act("PUT", "/workernode/" + seg(host) + "/vacate", "Vacate " + host);
      }, { danger: true }),
      button("Remove", "delete", () => {
        if (confirm("Remove " + host + " from the cluster and destroy its instance?")) act("DELETE", "/workernode/" + seg(host), "Remove " + host);
      }, { danger: true }));
    tr.cells[8].append(actions);
    tr.dataset.hostname = host;
    return tr;
  }
  /** What hold does (the first version's meaning): in auto mode the scaler retires a held node, and unhold is then refused. */
  function holdQuestion(host) {
    const auto = $("auto-mode").checked;
    return "Hold " + host + "? It takes no new jobs. " + (auto
      ? "Auto mode is on: the scaler then retires it (once held and without jobs it is removed from the cluster and its instance destroyed; an Idle node goes within a cycle), and unhold is refused from then on."
      : "Auto mode is off: it stays held until you unhold it (turning auto mode on retires it).");
  }
  function updateNodeRow(tr, n) {
    const state = NODE_STATES[n.state] || String(n.state);
    tr.dataset.state = state;
    setCells(tr, [
      n.hostname, nodeResource(n), dash(n.type), state, dash(n.num_proc), dash(n.jobs),
      duration(n.time_in_current_state),
      isPhysical(n) ? "—" : (INSTANCE_STATES[n.instance.state] || String(n.instance.state)) + (n.instance.tasked ? " (task running)" : "")
    ]);
    const cell = tr.cells[3];
    if (cell.firstChild === null || cell.firstChild.textContent !== state || !(cell.firstChild instanceof HTMLElement)) {
      cell.replaceChildren(badge(state, COLORS[state] || "#8a94a6"));
    }
    const physical = isPhysical(n);
    const buttons = tr.cells[8].querySelectorAll("button");
    const rules = {
      hold: n.state === 2 || n.state === 3 ? null : "Only Idle or Busy nodes can be held",
      holdTitle: "Take it offline for new jobs; in auto mode the scaler then retires it",
      unhold: n.state === 7 ? null : "Only Held nodes can be unheld",
      vacate: hasJobs(n) ? null : "No jobs to vacate",
      delete: hasJobs(n) || n.state === 3 ? "It has running jobs" : [1, 4, 7].includes(n.state) ? null : "Only Held, Starting or Error nodes can be removed"
    };
    for (const b of buttons) {
      const reason = physical ? "Physical nodes are never touched" : rules[b.dataset.action];
      b.disabled = reason !== null;
      b.title = reason || (b.dataset.action === "hold" ? rules.holdTitle : "");
    }
  }

  const clock = (epochSeconds) => new Date(epochSeconds * 1000).toLocaleString();
  /**
   * The cloud column of a resource (live mode: status.clouds and the resource's
   * backoff): whether the cloud accepts the credentials, and the boot back-off.
   */
  function cloudHealth(r) {
    const parts = [];
    const auth = clouds[r.name];
    if (auth && auth.auth === false) {
      const b = el("span", { class: "badge auth", text: "auth error" });
      b.dataset.health = "auth";
      parts.push(b, el("span", { class: "detail", text: dash(auth.error) + (auth.since ? " (since " + clock(auth.since) + ")" : "") }));
    }
    const backoff = r.backoff;
    if (backoff && Number(backoff.until) > 0) {
      const b = el("span", { class: "badge backoff", text: "backing off" });
      b.dataset.health = "backoff";
      parts.push(b, el("span", { class: "detail",
        text: "no boots until " + clock(backoff.until) + " after " + backoff.failures + " failed boot(s) in a row" }));
    } else if (backoff && Number(backoff.failures) > 0) {
      const b = el("span", { class: "badge failures", text: backoff.failures + " failed boot(s) in a row" });
      b.dataset.health = "failures";
      parts.push(b);
    }
    if (parts.length === 0) {
      const known = auth !== undefined || backoff !== undefined;
      parts.push(known ? el("span", { class: "badge ok", text: "ok", dataset: { health: "ok" } }) : el("span", { text: "—" }));
    }
    return parts;
  }

  function resourceRow(r) {
    const name = r.name;
    const tr = el("tr");
    for (let i = 0; i < 10; i++) tr.append(el("td"));
    for (const i of [2, 4, 5, 6, 7]) tr.cells[i].className = "num";
    tr.cells[3].className = "flag";
    tr.cells[8].className = "cloud";
    const num = el("input", { type: "number", min: "1", value: "1", "aria-label": "Number of nodes to add to " + name, class: "add-num" });
    const actions = el("div", { class: "actions" },
      num,
      button("Add nodes", "launch", () => {
        const n = num.value.trim();
        act("PUT", "/resource/" + seg(name) + "?num=" + encodeURIComponent(n), "Add " + n + " node(s) to " + name);
      }),
      button("Freeze", "freeze", () => act("PUT", "/resource/" + seg(name) + "/freeze", "Freeze " + name),
        { title: "Keep the current number of nodes: min = max = current" }),
      button("Restore", "restore", () => act("PUT", "/resource/" + seg(name) + "/restore", "Restore " + name),
        { title: "Put min and max back to the configured values" }),
      button("Drain", "drain", () => {
        if (confirm("Drain " + name + "? Its nodes are held and deleted once their jobs finish.")) act("PUT", "/resource/" + seg(name) + "/drain", "Drain " + name);
      }, { danger: true, title: "min = max = 0: retire every node of this resource" }));
    tr.cells[9].append(actions);
    tr.dataset.resource = name;
    return tr;
  }
  function updateResourceRow(tr, r) {
    const flag = FLAGS[r.flag] || String(r.flag);
    const reservation = [
      r.reservation_queue ? "queue " + r.reservation_queue : null,
      r.reservation_account ? "account " + r.reservation_account : null,
      r.reservation_property ? "property " + r.reservation_property : null
    ].filter(Boolean).join(", ");
    setCells(tr, [r.name, dash(r.type), dash(r.priority), flag, dash(r.current_num), dash(r.min_num), dash(r.max_num),
      dash(r.cores_per_node)]);
    tr.cells[3].replaceChildren(badge(flag, FLAG_COLORS[r.flag] || "#8a94a6"));
    const health = cloudHealth(r);
    if (tr.cells[8].textContent !== health.map((e) => e.textContent).join("")) tr.cells[8].replaceChildren(...health);
    tr.cells[0].title = reservation ? "Reserved for " + reservation : "No reservation";
  }

  function jobRow() {
    const tr = el("tr");
    for (let i = 0; i < 11; i++) tr.append(el("td"));
    for (const i of [5, 6, 8]) tr.cells[i].className = "num";
    tr.cells[10].className = "waiting";
    return tr;
  }
  function updateJobRow(tr, j) {
    setCells(tr, [j.jobid, dash(j.name), dash(j.owner), dash(j.queue), dash(j.account), dash(j.requested_cores),
      j.cores_per_node === 0 ? "any" : dash(j.cores_per_node), dash(j.requested_walltime),
      j.priority === null || j.priority === -1 ? "not eligible" : dash(j.priority), JOB_STATES[j.state] || String(j.state),
      waitingBecause(j)]);
  }

  // ------------------------------------------------------------ decisions

  /** Newest first, by when each entry was last taken. */
  const newestFirst = (list) => list.slice().sort((a, b) => b.last_t - a.last_t || b.t - a.t);

  /** Per job id, the newest provision or refusal naming it. */
  function indexDecisions(list) {
    const byJob = new Map();
    for (const d of newestFirst(list)) {
      if (d.kind !== "provision" && d.kind !== "refuse") continue;
      for (const id of d.jobs) if (!byJob.has(id)) byJob.set(id, d);
    }
    return byJob;
  }

  /** Why a queued job still waits, in words: the newest decision naming it, else what is known. */
  function waitingBecause(j) {
    if (j.state !== 0) return "—";
    if (j.priority === null || j.priority === -1) return "not eligible yet: the scheduler has given it no priority";
    if (decisions === null) return "—";
    const d = decisionOf.get(j.jobid);
    if (d === undefined) return "no decision names it yet (the policy has not chosen a node for it)";
    if (d.kind === "provision") return "waiting for a node that is booting in " + d.resource + " (" + clock(d.t) + ")";
    return d.message;
  }

  function fillFilter(select, values, label) {
    const want = [""].concat(values);
    const have = Array.from(select.options).map((o) => o.value);
    if (want.join("\u0000") === have.join("\u0000")) return;
    const current = select.value;
    select.replaceChildren(...want.map((v) => el("option", { value: v, text: v === "" ? "all" : label(v) })));
    select.value = want.includes(current) ? current : "";
  }

  const NO_RESOURCE = "(none)";
  const resourceOf = (d) => (d.resource === null ? NO_RESOURCE : d.resource);

  function decisionRow() {
    const tr = el("tr");
    for (let i = 0; i < 7; i++) tr.append(el("td"));
    tr.cells[3].className = "code";
    tr.cells[4].className = "why";
    tr.cells[6].className = "num";
    return tr;
  }
  function updateDecisionRow(tr, d) {
    const more = d.jobs_total - d.jobs.length;
    const jobs = d.jobs.length === 0 ? "—" : d.jobs.slice(0, 5).join(", ") + (d.jobs_total > 5 ? " (+" + (d.jobs_total - Math.min(5, d.jobs.length)) + " more)" : "");
    setCells(tr, [clock(d.last_t), d.kind, resourceOf(d), d.reason, d.message, jobs,
      d.repeats > 1 ? d.repeats + "× since " + clock(d.t) : "1"]);
    tr.dataset.kind = d.kind;
    tr.dataset.reason = d.reason;
    tr.cells[5].title = more > 0 ? d.jobs_total + " jobs in all" : "";
  }

  function renderDecisions() {
    const panel = $("decisions-panel");
    if (decisions === null) {
      $("decisions-count").textContent = "(this server keeps no log of decisions)";
      reconcile($("decisions").tBodies[0], [], () => "", decisionRow, updateDecisionRow, "No decisions", 7);
      panel.dataset.loaded = "true";
      return;
    }
    const resourceSel = $("decisions-resource");
    const kindSel = $("decisions-kind");
    fillFilter(resourceSel, Array.from(new Set(decisions.map(resourceOf))).sort(), (v) => v);
    fillFilter(kindSel, Array.from(new Set(decisions.map((d) => d.kind))).sort(), (v) => v);
    const shown = newestFirst(decisions).filter((d) =>
      (resourceSel.value === "" || resourceOf(d) === resourceSel.value) && (kindSel.value === "" || d.kind === kindSel.value));
    // Row keys: what an entry is, numbered when two entries of one step look alike.
    const seen = new Map();
    const keyed = shown.map((d) => {
      const base = [d.t, d.kind, d.reason, resourceOf(d), d.by || "", (d.hosts || []).join(",")].join("|");
      const n = (seen.get(base) || 0) + 1;
      seen.set(base, n);
      return { key: base + "#" + n, d };
    });
    reconcile($("decisions").tBodies[0], keyed, (k) => k.key, (k) => decisionRow(), (tr, k) => updateDecisionRow(tr, k.d),
      "No decisions" + (decisions.length > 0 ? " match the filters" : " yet"), 7);
    $("decisions-count").textContent = shown.length + " of " + decisions.length + " shown, newest first";
    panel.dataset.loaded = "true";
  }

  /** GET /server/decisions; null when the server keeps no log (the page says so, data-decisions). */
  async function loadDecisions() {
    if (body.dataset.decisions !== "true") return null;
    return (await api("GET", "/server/decisions?limit=500")).decisions;
  }

  // ------------------------------------------------------------ charts

  /** Merges an answer of GET /server/history?since=T: its points replace ours from T on. */
  function mergeHistory(answer, since) {
    const states = answer.states;
    const points = answer.points.map((p) => {
      const point = { t: p.t, nodes: {}, cores: {} };
      for (const s of CHART_STATES) {
        const k = states.indexOf(s);
        point.nodes[s] = k < 0 ? 0 : p.nodes[k];
        point.cores[s] = k < 0 ? 0 : p.cores[k];
      }
      return point;
    });
    if (since !== null) history = history.filter((p) => p.t < since);
    else history = [];
    history.push(...points);
    historyMax = answer.max_points;
    if (history.length > historyMax) history.splice(0, history.length - historyMax);
    if (answer.time !== null) historyTime = answer.time;
  }
  // Tick spacings of the time axis (seconds).
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  const pad2 = (v) => String(v).padStart(2, "0");
  function clockLabel(t, step) {
    const d = new Date(t * 1000);
    if (step >= 86400) return (d.getMonth() + 1) + "/" + d.getDate();
    const hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    return step < 60 ? hm + ":" + pad2(d.getSeconds()) : hm;
  }
  function niceMax(v) {
    if (v <= 4) return 4;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function drawChart(id, kind) {
    const root = $(id);
    const width = Math.max(300, root.clientWidth || 600);
    const height = 230;
    const pad = { l: 58, r: 14, t: 10, b: 44 };
    root.setAttribute("viewBox", "0 0 " + width + " " + height);
    root.replaceChildren();
    const plotW = width - pad.l - pad.r;
    const plotH = height - pad.t - pad.b;
    // Counts are steps: each point's values hold until the next point, the last one until the daemon's last sample.
    const t1 = historyTime !== null ? historyTime : (history.length ? history[history.length - 1].t : Date.now() / 1000);
    const t0 = history.length ? Math.min(history[0].t, t1 - refreshSeconds) : t1 - refreshSeconds;
    const span = Math.max(t1 - t0, 1);
    let max = 0;
    for (const p of history) max = Math.max(max, CHART_STATES.reduce((a, s) => a + p[kind][s], 0));
    const yMax = niceMax(max);
    const x = (t) => pad.l + ((t - t0) / span) * plotW;
    const y = (v) => pad.t + plotH - (v / yMax) * plotH;
    const text = (attrs, content) => { const e = svg("text", attrs); e.textContent = content; root.append(e); return e; };
    // y: whole numbers only
    const ticks = yMax % 4 === 0 ? 4 : 5;
    for (let i = 0; i <= ticks; i++) {
      const v = (yMax / ticks) * i;
      root.append(svg("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
      text({ class: "axis", x: pad.l - 6, y: y(v) + 4, "text-anchor": "end" }, String(v));
    }
    const yTitle = kind === "nodes" ? "nodes" : "cores";
    text({ class: "axis-title", x: 0, y: 0, "text-anchor": "middle", transform: "translate(14," + (pad.t + plotH / 2) + ") rotate(-90)" }, yTitle);
    // x: the daemon's clock (simulated time under --sim), ticks on round local times
    const step = TIME_STEPS.find((s) => span / s <= Math.max(2, plotW / 90)) || TIME_STEPS[TIME_STEPS.length - 1];
    const tzo = new Date(t1 * 1000).getTimezoneOffset() * 60;
    for (let t = Math.ceil((t0 - tzo) / step) * step + tzo; t <= t1 + 1e-9; t += step) {
      root.append(svg("line", { class: "grid", x1: x(t), x2: x(t), y1: pad.t, y2: pad.t + plotH }));
      text({ class: "axis", x: x(t), y: pad.t + plotH + 15, "text-anchor": "middle" }, clockLabel(t, step));
    }
    text({ class: "axis-title", x: pad.l + plotW / 2, y: height - 6, "text-anchor": "middle" },
      "daemon clock (last " + duration(t1 - t0) + ")");
    if (history.length > 0) {
      const xs = history.map((p) => p.t).concat([t1]);
      const base = xs.map(() => 0);
      const valuesOf = (s) => history.map((p) => p[kind][s]).concat([history[history.length - 1][kind][s]]);
      for (const s of CHART_STATES) {
        const v = valuesOf(s);
        const top = v.map((vi, i) => base[i] + vi);
        if (v.some((vi) => vi !== 0)) {
          const upper = [];
          const lower = [];
          for (let i = 0; i < xs.length; i++) {
            const xa = x(xs[i]).toFixed(1);
            const xb = x(i + 1 < xs.length ? xs[i + 1] : xs[i]).toFixed(1);
            upper.push(xa + "," + y(top[i]).toFixed(1), xb + "," + y(top[i]).toFixed(1));
            lower.push(xa + "," + y(base[i]).toFixed(1), xb + "," + y(base[i]).toFixed(1));
          }
          root.append(svg("polygon", { points: upper.concat(lower.reverse()).join(" "), fill: COLORS[s], "fill-opacity": 0.8,
            stroke: COLORS[s], "stroke-width": 1, "data-state": s }));
        }
        for (let i = 0; i < top.length; i++) base[i] = top[i];
      }
    }
    const legend = $(id + "-legend");
    const last = history[history.length - 1];
    legend.replaceChildren(...CHART_STATES.map((s) => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = COLORS[s];
      return el("span", null, sw, s + " " + (last ? last[kind][s] : 0));
    }));
    root.dataset.points = String(history.length);
  }

  // ------------------------------------------------------------ refresh

  function renderStatus(status, queues) {
    const auto = $("auto-mode");
    if (auto.dataset.busy !== "true") auto.checked = !!status.auto_mode;
    $("auto-label").textContent = status.auto_mode ? "Auto mode on" : "Auto mode off";
    const health = $("cluster-health");
    health.replaceChildren(...Object.entries(status.cluster || {}).map(([part, up]) =>
      el("span", { class: "badge " + (up ? "up" : "down"), title: part + (up ? " answers" : " does not answer"), text: part + (up ? " ✓" : " ✗") })));
    $("tasks").textContent = "cloud tasks: " + queues.waiting + " waiting, " + queues.running + " running, " +
      queues.results_pending + " results pending";
  }

  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const since = history.length > 0 ? history[history.length - 1].t : null;
      const [nodes, jobs, resources, status, queues, past, recent] = await Promise.all([
        api("GET", "/workernode"), api("GET", "/job"), api("GET", "/resource"),
        api("GET", "/server/status"), api("GET", "/server/queues"),
        api("GET", "/server/history" + (since !== null ? "?since=" + since : "")),
        loadDecisions()
      ]);
      setRefreshError("");
      clouds = (status && status.clouds) || {};
      decisions = recent;
      decisionOf = indexDecisions(recent || []);
      // (dry_run: only a daemon in shadow mode says true; older ones do not have the field)
      $("shadow-banner").hidden = !(status && status.dry_run === true);
      renderDecisions();
      reconcile($("nodes").tBodies[0], nodes, (n) => n.hostname, nodeRow, updateNodeRow, "No worker nodes", 9);
      reconcile($("resources").tBodies[0], resources, (r) => r.name, resourceRow, updateResourceRow, "No cloud resources configured", 10);
      reconcile($("jobs").tBodies[0], jobs, (j) => j.jobid, jobRow, updateJobRow, "No queued jobs", 11);
      $("nodes-count").textContent = nodes.length + " nodes, " + nodes.reduce((a, n) => a + (Number(n.num_proc) || 0), 0) + " cores";
      $("jobs-count").textContent = jobs.length + " shown";
      $("resources-count").textContent = resources.length + " resources";
      renderStatus(status, queues);
      mergeHistory(past, since);
      drawChart("chart-nodes", "nodes");
      drawChart("chart-cores", "cores");
      $("updated").textContent = "updated " + new Date().toLocaleTimeString() +
        (historyTime !== null ? " (daemon clock " + new Date(historyTime * 1000).toLocaleTimeString() + ")" : "");
      body.dataset.loaded = "true";
    } catch (e) {
      setRefreshError("Refresh failed: " + e.message);
    } finally {
      refreshing = false;
    }
  }

  function schedule() {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(async () => { await refresh(); schedule(); }, refreshSeconds * 1000);
  }

  function init() {
    initToken();
    const auto = $("auto-mode");
    auto.addEventListener("change", async () => {
      const on = auto.checked;
      auto.dataset.busy = "true";
      await act(on ? "PUT" : "DELETE", "/server/auto", on ? "Auto mode on" : "Auto mode off");
      auto.dataset.busy = "false";
    });
    $("refresh-now").addEventListener("click", () => refresh());
    for (const id of ["decisions-resource", "decisions-kind"]) $(id).addEventListener("change", () => renderDecisions());
    window.addEventListener("resize", () => { drawChart("chart-nodes", "nodes"); drawChart("chart-cores", "cores"); });
    if (tokenRequired && !token && body.dataset.tokenForReads === "true") askForToken();
    refresh().then(schedule);
  }
  init();
})();
