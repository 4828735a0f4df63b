// The operators' dashboard. Reads the scoring service's authenticated JSON API with an operator
// token and redraws itself as the live index moves: /v1/index is polled every POLL_MS (it is
// served from the service's in-memory snapshot), details are fetched only when the snapshot's
// generation changes. All text goes in through textContent: names come from events and
// operators, and must never become markup.
"use strict";

(function () {
  const POLL_MS = 2000;
  const HONOURS_MS = 10000;
  const HISTORY_MS = 60000;
  const LIVE_SAMPLES = 120;
  // The published 80-point pass line is not verified (docs/indicators.md); shown as a share of max.
  const PASS_SHARE = 0.8;
  const TOKEN_KEY = "learnstreet.dashboard.token";
  const LANG_KEY = "learnstreet.dashboard.lang";
  const COMMUNITY_KEY = "learnstreet.dashboard.community";

  const $ = (id) => document.getElementById(id);
  const C = window.Charts;

  const state = {
    dict: {},
    lang: localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh-CN",
    token: null,
    selected: localStorage.getItem(COMMUNITY_KEY) || "street",
    meta: null, // /v1/indicators
    overview: null,
    prevOverview: new Map(), // community -> {total, aspects}
    detail: null,
    prevLeaves: new Map(), // indicator id -> {value, numerator, denominator, score}
    detailFor: null,
    rect: null,
    history: null,
    historyFor: null,
    historyAt: 0,
    honours: null,
    honoursAt: 0,
    live: [],
    generation: null,
    timer: null,
    running: false,
  };

  class AuthError extends Error {
    constructor(status) {
      super(`HTTP ${status}`);
      this.status = status;
    }
  }

  function t(key, vars) {
    const table = state.dict[state.lang] || {};
    let s = table[key] !== undefined ? table[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, String(v));
    return s;
  }

  function name(obj, fallback) {
    if (!obj) return fallback || "";
    return (state.lang === "en" ? obj.name_en : obj.name_zh) || obj.name_en || obj.name_zh || fallback || "";
  }

  // Community and street names come from the API (the street's reference data), never from here.
  function communityName(id) {
    const c = state.overview && state.overview.communities.find((x) => x.community_id === id);
    return c ? name(c, id) : id === "street" ? t("street") : id;
  }

  function pageVars() {
    return { street: state.overview ? communityName("street") : "" };
  }

  // --- token -------------------------------------------------------------------------------------

  function takeToken() {
    const url = new URL(window.location.href);
    const fromUrl = url.searchParams.get("token");
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      // A token must not linger in the address bar, the history or a bookmark.
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
    }
    const community = url.searchParams.get("community");
    if (community) state.selected = community;
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(path) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) throw new AuthError(response.status);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function showAuth(messageKey) {
    stop();
    $("board").hidden = true;
    $("auth").hidden = false;
    $("sign-out").hidden = true;
    $("auth-message").dataset.key = messageKey;
    $("auth-message").textContent = t(messageKey);
    $("auth-message").dataset.status = messageKey === "auth_401" ? "401" : messageKey === "auth_403" ? "403" : "";
    setLive("idle");
    $("token-input").focus();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    showAuth("auth_missing");
  }

  // --- language ----------------------------------------------------------------------------------

  function relabel() {
    const vars = pageVars();
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n, vars).trim();
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    document.title = `${t("title", vars).trim()} · ${state.lang === "en" ? "学习型街道指数" : "learning-street index"}`;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    relabel();
    const message = $("auth-message");
    if (message.dataset.key) message.textContent = t(message.dataset.key);
    renderAll(false);
  }

  // --- rendering ---------------------------------------------------------------------------------

  function setLive(mode) {
    const live = $("live");
    live.dataset.state = mode;
    if (mode === "live" && state.overview) {
      const at = state.overview.computed_at ? new Date(state.overview.computed_at) : new Date();
      const time = at.toLocaleTimeString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
      $("live-text").textContent = `${t("live")} · ${t("updated")} ${time} · ${t("generation", { n: state.overview.generation })}`;
    } else if (mode === "offline") {
      $("live-text").textContent = t("offline");
    } else {
      $("live-text").textContent = "";
    }
  }

  function orderedCommunities() {
    const list = (state.overview ? state.overview.communities : []).filter((c) => c.community_id !== "street");
    return list.slice().sort((a, b) => (a.name_en || a.community_id).localeCompare(b.name_en || b.community_id));
  }

  function aspectMeta() {
    return state.meta ? state.meta.aspects : [];
  }

  function renderOverview(highlight) {
    const ov = state.overview;
    if (!ov) return;
    const max = ov.max || 100;
    const pass = max * PASS_SHARE;
    const street = ov.communities.find((c) => c.community_id === "street");
    const aspects = aspectMeta();
    const changedTotal = (c) => highlight && state.prevOverview.has(c.community_id) &&
      state.prevOverview.get(c.community_id).total !== c.total;

    if (street) {
      C.gauge($("gauge"), street.total, max, pass, t("pass_line"));
      const total = $("street-total");
      total.textContent = C.fmt(street.total, 2);
      total.dataset.value = String(street.total);
      if (changedTotal(street)) flash(total);
      $("street-max").textContent = C.fmt(max, 0);
      const bars = $("street-aspects");
      bars.replaceChildren();
      aspects.forEach((a, i) => {
        const v = street.aspects[a.id] || 0;
        const row = document.createElement("div");
        row.className = "aspect-bar";
        row.dataset.aspect = a.id;
        const label = document.createElement("span");
        label.textContent = name(a, a.id);
        const track = document.createElement("span");
        track.className = "track";
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.width = `${Math.min(100, (100 * v) / a.max)}%`;
        fill.style.background = C.ASPECT_COLOURS[i];
        track.appendChild(fill);
        const num = document.createElement("span");
        num.className = "num";
        num.textContent = `${C.fmt(v, 1)} / ${C.fmt(a.max, 0)}`;
        const prev = state.prevOverview.get("street");
        if (highlight && prev && prev.aspects[a.id] !== v) flash(num);
        row.append(label, track, num);
        bars.appendChild(row);
      });
    }

    const communities = orderedCommunities();
    C.hbars($("community-bars"), communities.map((c) => ({
      key: c.community_id,
      label: name(c, c.community_id),
      value: c.total,
      changed: changedTotal(c),
      selected: c.community_id === state.selected,
      note: c.below_pass_line ? `${c.below_pass_line} ${t("below_pass")}` : "",
    })), { max, passLine: pass, passLabel: t("pass_line"), onSelect: select });

    const legend = $("aspect-legend");
    legend.replaceChildren();
    aspects.forEach((a, i) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = C.ASPECT_COLOURS[i];
      item.append(swatch, document.createTextNode(`${name(a, a.id)} (${C.fmt(a.max, 0)})`));
      legend.appendChild(item);
    });
    C.stacked($("aspect-stacks"), communities.map((c) => {
      const prev = state.prevOverview.get(c.community_id);
      return {
        key: c.community_id,
        label: name(c, c.community_id),
        parts: aspects.map((a) => c.aspects[a.id] || 0),
        changed: aspects.map((a) => Boolean(highlight && prev && prev.aspects[a.id] !== c.aspects[a.id])),
      };
    }), { max, aspects: aspects.map((a) => ({ id: a.id, label: name(a, a.id), max: a.max })) });

    const spark = state.live.map((s) => ({ label: s.label, y: s.total }));
    const ys = spark.map((p) => p.y);
    const lo = ys.length ? Math.min(...ys) : 0, hi = ys.length ? Math.max(...ys) : 1;
    const pad = Math.max(0.05, (hi - lo) * 0.2);
    C.line($("spark"), spark, { min: lo - pad, max: hi + pad });
    renderSelect();
  }

  function renderSelect() {
    const select = $("community-select");
    const options = [{ id: "street", label: communityName("street") }].concat(
      orderedCommunities().map((c) => ({ id: c.community_id, label: name(c, c.community_id) })));
    const signature = options.map((o) => `${o.id}:${o.label}`).join("|");
    if (select.dataset.signature !== signature) {
      select.replaceChildren(...options.map((o) => new Option(o.label, o.id)));
      select.dataset.signature = signature;
    }
    select.value = state.selected;
  }

  function formatValue(leaf, v) {
    if (v === null || v === undefined) return t("not_assessed");
    if (leaf.unit === "ratio") return `${(100 * v).toFixed(1)}%`;
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString(state.lang) : Number(v.toFixed(2)).toString();
  }

  function formatCount(v) {
    if (v === null || v === undefined) return "–";
    return Number.isInteger(v) || Math.abs(v) >= 1000 ? Math.round(v).toLocaleString(state.lang) : v.toFixed(2);
  }

  // The API states windows in English; the known shapes are translated, anything new is shown as is.
  const WINDOWS = [
    [/^(\d+) days$/, "window_days"],
    [/^this calendar year$/, "window_year"],
    [/^sessions of the last (\d+) days and ahead$/, "window_ahead"],
    [/^sessions ended in the last (\d+) days$/, "window_ended"],
  ];

  function formatWindow(text) {
    for (const [pattern, key] of WINDOWS) {
      const m = pattern.exec(text || "");
      if (m) return t(key, { n: m[1] });
    }
    return text || "";
  }

  function cell(text, className, raw) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    if (raw !== undefined && raw !== null) td.dataset.value = String(raw);
    return td;
  }

  // The number a value is divided by, with what it counts (reference population, registered
  // residents, seats...), as scoring's API names it.
  function denominatorCell(leaf, computed) {
    if (!computed) return cell("–", "denominator");
    const td = cell(formatCount(leaf.denominator), "denominator", leaf.denominator);
    const per = state.lang === "en" ? leaf.denominator_en : leaf.denominator_zh;
    if (per) {
      const small = document.createElement("small");
      small.className = "per";
      small.textContent = per;
      td.append(document.createElement("br"), small);
      td.title = per;
    }
    return td;
  }

  function renderDetail(highlight) {
    const d = state.detail;
    if (!d) return;
    $("detail-total").textContent = `${communityName(d.community_id)} · ${C.fmt(d.total, 2)} / ${C.fmt(d.max, 0)}`;
    const prevAspects = new Map((state.prevDetailAspects || []).map((a) => [a.id, a.score]));
    C.radar($("radar"), d.aspects.map((a) => ({
      label: name(a, a.id), value: a.score, max: a.max,
      changed: highlight && prevAspects.has(a.id) && prevAspects.get(a.id) !== a.score,
    })));
    // The service decides what is below its pass line (lower-is-better metrics included).
    const below = new Set(state.rect ? state.rect.items.map((i) => i.indicator_id) : []);
    const body = $("indicators").querySelector("tbody");
    body.replaceChildren();
    for (const aspect of d.aspects) {
      const head = document.createElement("tr");
      head.className = "aspect-head";
      const th = document.createElement("th");
      th.colSpan = 6;
      th.textContent = `${name(aspect, aspect.id)} · ${C.fmt(aspect.score, 2)} / ${C.fmt(aspect.max, 0)}`;
      head.appendChild(th);
      body.appendChild(head);
      for (const leaf of aspect.indicators) {
        const tr = document.createElement("tr");
        tr.dataset.indicator = leaf.id;
        if (below.has(leaf.id)) tr.classList.add("below");
        const label = cell(name(leaf, leaf.id), "name");
        label.title = leaf.how || "";
        const computed = leaf.kind === "computed";
        const cells = [
          label,
          cell(formatValue(leaf, leaf.value), "value", leaf.value),
          cell(computed ? formatCount(leaf.numerator) : "–", "numerator", computed ? leaf.numerator : undefined),
          denominatorCell(leaf, computed),
          cell(computed ? formatWindow(leaf.window) : t("assessed"), "window"),
          cell(`${C.fmt(leaf.score, 2)} / ${C.fmt(leaf.max, 0)}`, "score", leaf.score),
        ];
        const prev = state.prevLeaves.get(leaf.id);
        if (highlight && prev) {
          if (prev.value !== leaf.value) flash(cells[1]);
          if (prev.numerator !== leaf.numerator) flash(cells[2]);
          if (prev.denominator !== leaf.denominator) flash(cells[3]);
          if (prev.score !== leaf.score) flash(cells[5]);
        }
        tr.append(...cells);
        body.appendChild(tr);
      }
    }
  }

  function leafById(id) {
    if (!state.detail) return null;
    for (const a of state.detail.aspects) for (const l of a.indicators) if (l.id === id) return l;
    return null;
  }

  // An item's rectification task: status, owner and deadline, and whether it is overdue.
  function taskText(task) {
    if (!task) return t("task_none");
    const parts = [t(`task_${task.status}`), task.owner, task.deadline];
    if (task.overdue) parts.push(t("task_overdue"));
    return parts.join(" · ");
  }

  function renderRectification() {
    const r = state.rect;
    $("rect-community").textContent = communityName(state.selected);
    const body = $("rectification").querySelector("tbody");
    body.replaceChildren();
    if (!r) return;
    $("rect-none").hidden = r.items.length > 0;
    for (const item of r.items) {
      const leaf = leafById(item.indicator_id) || { id: item.indicator_id };
      const tr = document.createElement("tr");
      tr.dataset.indicator = item.indicator_id;
      const unitLeaf = item.kind === "computed" ? leaf : {};
      tr.append(
        cell(name(leaf, item.indicator_id), "name"),
        cell(formatValue(unitLeaf, item.value), "value"),
        cell(formatValue(unitLeaf, item.pass_line), "pass"),
        cell(Number(item.gap).toLocaleString(state.lang), "gap"),
        cell(state.lang === "en" ? item.action_en : item.action_zh, "action"),
        cell(taskText(item.task), item.task && item.task.overdue ? "task overdue" : "task"),
      );
      body.appendChild(tr);
    }
  }

  function renderHistory() {
    const h = state.history;
    if (!h) return;
    const max = (state.overview && state.overview.max) || 100;
    const points = h.days.map((d) => ({ label: d.day.slice(5), y: d.total }));
    C.line($("trend"), points, { min: 0, max, ticks: [0, 20, 40, 60, 80, 100].map((v) => (v * max) / 100), passLine: max * PASS_SHARE });
    $("trend-note").textContent = `${communityName(h.community_id)}${points.length <= 1 ? " · " + t("trend_one_day") : ""}`;
  }

  // the selection's states (services/scoring/domain/selection.py), each a literal label of i18n.json
  const STATE_LABELS = {
    nominated: () => t("state_nominated"),
    community_approved: () => t("state_community_approved"),
    rejected: () => t("state_rejected"),
    in_notice: () => t("state_in_notice"),
    withdrawn: () => t("state_withdrawn"),
    awarded: () => t("state_awarded"),
    revoked: () => t("state_revoked"),
  };

  function renderHonours() {
    const body = $("honours").querySelector("tbody");
    body.replaceChildren();
    if (!state.honours) return;
    $("honours-none").hidden = state.honours.items.length > 0;
    for (const h of state.honours.items) {
      const tr = document.createElement("tr");
      // every state of the selection shows, candidates included: the state is named unless awarded
      const label = STATE_LABELS[h.state];
      const title = `${name(h, h.kind)}${label && h.state !== "awarded" ? ` (${label()})` : ""}`;
      const at = h.awarded_at || h.nominated_at;
      const when = new Date(at).toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
      const recipient = cell(h.recipient_id, "recipient");
      recipient.title = h.reason || "";
      tr.append(cell(title, "honour"), recipient, cell(h.community_id ? communityName(h.community_id) : "–"), cell(when));
      if (h.state && !["awarded", "in_notice", "nominated", "community_approved"].includes(h.state)) tr.classList.add("revoked");
      body.appendChild(tr);
    }
  }

  function renderAll(highlight) {
    renderOverview(highlight);
    renderDetail(highlight);
    renderRectification();
    renderHistory();
    renderHonours();
    if (state.running) setLive("live");
  }

  // Restarts the CSS animation even when the same cell changes on consecutive updates.
  function flash(node) {
    node.classList.remove("flash");
    void node.getBoundingClientRect();
    node.classList.add("flash");
  }

  // --- data --------------------------------------------------------------------------------------

  function remember() {
    if (state.overview) {
      state.prevOverview = new Map(state.overview.communities.map((c) => [c.community_id, { total: c.total, aspects: { ...c.aspects } }]));
    }
  }

  async function refreshDetail() {
    const id = encodeURIComponent(state.selected);
    const [detail, rect] = await Promise.all([api(`/v1/index/${id}`), api(`/v1/index/${id}/rectification`)]);
    const same = state.detail && state.detail.community_id === detail.community_id;
    if (same) {
      state.prevLeaves = new Map();
      for (const a of state.detail.aspects) for (const l of a.indicators) state.prevLeaves.set(l.id, l);
      state.prevDetailAspects = state.detail.aspects.map((a) => ({ id: a.id, score: a.score }));
    } else {
      state.prevLeaves = new Map();
      state.prevDetailAspects = [];
    }
    state.detail = detail;
    state.rect = rect;
    state.detailFor = detail.community_id;
    renderDetail(same);
    renderRectification();
  }

  async function tick() {
    const overview = await api("/v1/index");
    remember();
    const changed = !state.overview || overview.generation !== state.overview.generation;
    const highlight = Boolean(state.overview);
    state.overview = overview;
    if (!highlight) relabel(); // the street's name is known now
    const street = overview.communities.find((c) => c.community_id === "street");
    if (street && changed) {
      const at = overview.computed_at ? new Date(overview.computed_at) : new Date();
      state.live.push({ label: at.toLocaleTimeString("en-GB", { hour12: false }), total: street.total });
      if (state.live.length > LIVE_SAMPLES) state.live.shift();
    }
    if (!overview.communities.some((c) => c.community_id === state.selected)) state.selected = "street";
    renderOverview(highlight);
    const now = Date.now();
    const jobs = [];
    if (changed || state.detailFor !== state.selected) jobs.push(refreshDetail());
    if (state.historyFor !== state.selected || now - state.historyAt > HISTORY_MS) {
      const id = state.selected;
      jobs.push(api(`/v1/index/${encodeURIComponent(id)}/history?days=90`).then((h) => {
        state.history = h;
        state.historyFor = id;
        state.historyAt = Date.now();
        renderHistory();
      }));
    }
    if (now - state.honoursAt > HONOURS_MS) {
      jobs.push(api("/v1/honours?state=all&limit=10").then((h) => {
        state.honours = h;
        state.honoursAt = Date.now();
        renderHonours();
      }));
    }
    await Promise.all(jobs);
    setLive("live");
  }

  async function loop() {
    if (!state.running) return;
    let delay = POLL_MS;
    try {
      await tick();
    } catch (e) {
      if (e instanceof AuthError) {
        if (e.status === 401) sessionStorage.removeItem(TOKEN_KEY);
        showAuth(e.status === 401 ? "auth_401" : "auth_403");
        return;
      }
      console.warn("dashboard update failed", e);
      setLive("offline");
      delay = POLL_MS * 2;
    }
    if (state.running) state.timer = setTimeout(loop, delay);
  }

  function stop() {
    state.running = false;
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }

  // The payload is only read to keep residents' and kiosks' tokens off this page; the API checks
  // every token's signature and role itself.
  function tokenRole(value) {
    try {
      const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="))).role;
    } catch (e) {
      return null;
    }
  }

  async function start() {
    stop();
    const role = tokenRole(state.token);
    if (role && !["operator", "assessor"].includes(role)) {
      sessionStorage.removeItem(TOKEN_KEY);
      showAuth("auth_403");
      return;
    }
    try {
      state.meta = await api("/v1/indicators");
    } catch (e) {
      if (e instanceof AuthError) {
        if (e.status === 401) sessionStorage.removeItem(TOKEN_KEY);
        showAuth(e.status === 401 ? "auth_401" : "auth_403");
        return;
      }
      setLive("offline");
      state.timer = setTimeout(start, POLL_MS * 2);
      return;
    }
    $("auth").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    $("version").textContent = state.meta.version;
    state.running = true;
    loop();
  }

  function select(id) {
    state.selected = id;
    localStorage.setItem(COMMUNITY_KEY, id);
    state.detail = null;
    state.rect = null;
    renderOverview(false);
    renderRectification();
    // The next update fetches the new community's detail and history at once.
    if (state.running) {
      stop();
      state.running = true;
      loop();
    }
  }

  async function init() {
    const response = await fetch("/dashboard/assets/i18n.json", { cache: "no-cache" });
    state.dict = await response.json();
    state.token = takeToken();
    $("lang").addEventListener("click", () => {
      state.lang = state.lang === "en" ? "zh-CN" : "en";
      localStorage.setItem(LANG_KEY, state.lang);
      applyLanguage();
    });
    $("sign-out").addEventListener("click", signOut);
    $("community-select").addEventListener("change", (e) => select(e.target.value));
    $("auth-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      state.token = value;
      $("token-input").value = "";
      start();
    });
    applyLanguage();
    if (state.token) start();
    else showAuth("auth_missing");
  }

  document.addEventListener("DOMContentLoaded", init);
})();
