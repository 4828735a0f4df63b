// The staff dashboard. Reads the scoring service's authenticated JSON API and redraws itself as
// the live index moves: /v1/index is polled every POLL_MS (it is served from the service's
// in-memory snapshot), details are fetched only when the snapshot's generation changes. The
// selection of honours and the rectification tasks are read every SELECTION_MS; what each person
// sees and may do is decided by the API (a community worker's lists come scoped from the server),
// the page only leaves out buttons the API would refuse. The token comes from a sign-in at the
// street's identity provider (oidc.js) or, in development, is pasted (both wired by auth-ui.js,
// shared with the district page). All text goes in through textContent: names come from events
// and operators, and must never become markup.
"use strict";

(function () {
  const POLL_MS = 2000;
  const HISTORY_MS = 60000;
  const SELECTION_MS = 5000;
  const LIVE_SAMPLES = 120;
  // The published 80-point pass line is not verified (docs/indicators.md); shown as a share of max.
  const PASS_SHARE = 0.8;
  const LANG_KEY = "learnstreet.dashboard.lang";
  const COMMUNITY_KEY = "learnstreet.dashboard.community";
  const SIGNED_OUT_KEY = "learnstreet.dashboard.signed-out";
  // shared/http/auth.py ROLES, in the order the API picks the role a person acts in.
  const ROLES = ["operator", "assessor", "community_worker", "venue_staff", "kiosk", "resident"];
  const DASHBOARD_ROLES = ["operator", "assessor", "community_worker"];
  // the selection's states (services/scoring/domain/selection.py), in the order a candidate passes them
  const STATES = ["nominated", "community_approved", "in_notice", "awarded", "rejected", "withdrawn", "revoked"];
  const HOLDS_A_PLACE = ["in_notice", "awarded"];

  const $ = (id) => document.getElementById(id);
  const C = window.Charts;
  const AuthUI = window.AuthUI; // auth-ui.js: config, the provider's client, the development token

  const state = {
    dict: {},
    config: { mode: "token" }, // /dashboard/config.json
    auth: null, // DashboardAuth.Client when the service takes the identity provider's tokens
    identity: null, // {name, role, roles, community}
    indexAllowed: true,
    selection: null,
    selectionAt: 0,
    selectionFilter: "all",
    records: new Map(), // honour id -> its selection record, for the rows opened
    opened: new Set(),
    drafts: new Map(), // "honour id:field" -> text typed, kept across redraws
    notes: new Map(), // honour id -> {ok, text} of the last action
    tasks: null,
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
    const fromIndex = state.overview && state.overview.communities.find((x) => x.community_id === id);
    const c = fromIndex || (state.config.communities || []).concat(state.config.street ? [state.config.street] : [])
      .find((x) => x.community_id === id);
    return c ? name(c, id) : id === "street" ? t("street") : id;
  }

  function pageVars() {
    return { street: state.overview || state.config.street ? communityName("street") : "" };
  }

  // --- token -------------------------------------------------------------------------------------

  function takeToken() {
    const token = AuthUI.takeToken(state.auth);
    const community = new URL(window.location.href).searchParams.get("community");
    if (community) state.selected = community;
    return token;
  }

  async function bearer() {
    if (state.auth) state.token = await state.auth.accessToken();
    return state.token;
  }

  // One call to the API; under the identity provider a 401 gets one silent refresh and a retry.
  async function call(method, path, body) {
    const send = async () => fetch(path, {
      method,
      headers: Object.assign(
        { Authorization: `Bearer ${await bearer()}`, Accept: "application/json" },
        body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let response = await send();
    if (response.status === 401 && state.auth && state.auth.session) {
      try {
        await state.auth.refresh();
        response = await send();
      } catch (e) {
        // the provider refused the refresh: the answer stays the 401
      }
    }
    return response;
  }

  async function api(path) {
    const response = await call("GET", path);
    if (response.status === 401 || response.status === 403) throw new AuthError(response.status);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // A change (review, objection...): the API's answer with its reason when it refuses.
  async function change(method, path, body) {
    const response = await call(method, path, body);
    let payload = null;
    try {
      payload = await response.json();
    } catch (e) {
      payload = null;
    }
    const detail = payload && payload.detail !== undefined ? payload.detail : null;
    const reason = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : `HTTP ${response.status}`;
    return { ok: response.ok, status: response.status, body: payload, reason };
  }

  function showAuth(messageKey) {
    stop();
    const oidc = Boolean(state.auth);
    $("board").hidden = true;
    $("auth").hidden = false;
    $("auth").dataset.mode = oidc ? "oidc" : "token";
    $("auth-form").hidden = oidc;
    $("sign-in").hidden = !oidc;
    // Signed in at the provider but refused here (403): the way out is signing out there.
    $("sign-out").hidden = !(oidc && state.auth.session);
    $("who").hidden = !(oidc && state.auth.session);
    $("auth-title").dataset.i18n = oidc ? "auth_title_oidc" : "auth_title";
    $("auth-title").textContent = t($("auth-title").dataset.i18n);
    $("auth-hint").dataset.i18n = oidc ? "auth_hint_oidc" : "auth_hint";
    $("auth-hint").textContent = t($("auth-hint").dataset.i18n, pageVars());
    $("auth-message").dataset.key = messageKey;
    $("auth-message").textContent = authText(messageKey);
    $("auth-message").dataset.status = messageKey === "auth_401" ? "401" : messageKey === "auth_403" ? "403" : "";
    setLive("idle");
    (oidc ? $("sign-in") : $("token-input")).focus();
  }

  // Under the identity provider a refusal speaks of the account, not of a pasted token.
  function authText(key) {
    const oidcKey = `${key}_oidc`;
    return state.auth && t(oidcKey) !== oidcKey ? t(oidcKey) : t(key);
  }

  function signOut() {
    stop();
    state.token = null;
    state.identity = null;
    if (state.auth) {
      sessionStorage.setItem(SIGNED_OUT_KEY, "1");
      state.auth.signOut();
      return;
    }
    AuthUI.forgetToken();
    showAuth("auth_missing");
  }

  async function signIn() {
    $("sign-in").disabled = true;
    try {
      await state.auth.signIn(state.lang);
    } catch (e) {
      $("sign-in").disabled = false;
      showAuth("auth_provider_unreachable");
    }
  }

  // --- who is signed in ----------------------------------------------------------------------------

  // Read from the token for display and to leave out buttons; the API checks every call itself.
  function identityFrom(token) {
    const A = window.DashboardAuth;
    const c = (token && A.claims(token)) || {};
    let roles, community, who;
    if (state.auth) {
      const raw = A.claimAt(c, state.config.roles_claim || "realm_access.roles");
      roles = Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(/[\s,]+/) : [];
      community = A.claimAt(c, state.config.community_claim || "community_id");
      who = c.name || c.preferred_username || c.email || c.sub;
    } else {
      roles = c.role ? [c.role] : [];
      community = c.community_id;
      who = c.sub;
    }
    const known = ROLES.filter((r) => roles.includes(r));
    const role = DASHBOARD_ROLES.find((r) => known.includes(r)) || known[0] || null;
    return { name: who || "", role, roles: known, community: typeof community === "string" ? community : null,
             username: c.preferred_username || c.sub || "", claimsRead: Boolean(token && A.claims(token)) };
  }

  function renderWho() {
    const id = state.identity;
    const node = $("who");
    if (!id) {
      node.hidden = true;
      return;
    }
    node.hidden = false;
    node.dataset.role = id.role || "";
    node.dataset.community = id.community || "";
    node.dataset.username = id.username || "";
    const parts = [id.name, id.role ? label("role", id.role) : ""];
    if (id.community) parts.push(communityName(id.community));
    $("who-text").textContent = parts.filter(Boolean).join(" · ");
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
    if (message.dataset.key) message.textContent = authText(message.dataset.key);
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

  // --- selection of honours (评选) -----------------------------------------------------------------

  function stateLabel(s) {
    return STATES.includes(s) ? t(`state_${s}`) : s;
  }

  function when(iso) {
    if (!iso) return "–";
    return new Date(iso).toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(label, action, honourId, className) {
    const b = el("button", `act ${className || ""}`.trim(), label);
    b.type = "button";
    b.dataset.action = action;
    b.dataset.honour = honourId;
    return b;
  }

  function draftInput(honourId, field, placeholderKey) {
    const input = el("input", `reason ${field}`);
    input.type = "text";
    input.maxLength = 1000;
    input.placeholder = t(placeholderKey);
    input.dataset.honour = honourId;
    input.dataset.field = field;
    input.value = state.drafts.get(`${honourId}:${field}`) || "";
    input.setAttribute("aria-label", t(placeholderKey));
    return input;
  }

  function role() {
    return state.identity ? state.identity.role : null;
  }

  // The buttons a person is offered; the API decides (a community worker's review of another
  // community's candidate is refused there whatever the page shows).
  function mayCommunityReview(h) {
    if (h.state !== "nominated") return false;
    return role() === "operator" || (role() === "community_worker" && h.community_id === state.identity.community);
  }

  // Places of an honour kind in a community that candidates in notice or awarded hold, of the
  // indicator file's quota, as far as the list shows them (the API counts them exactly).
  function places(h) {
    const quotas = (state.config.selection && state.config.selection.quotas) || {};
    const base = h.kind.split(":")[0];
    const per = quotas[base] || {};
    const quota = h.community_id && per[h.community_id] !== undefined ? per[h.community_id] : per.default;
    const used = (state.selection ? state.selection.items : []).filter((x) => x.kind === h.kind &&
      x.period === h.period && x.community_id === h.community_id && HOLDS_A_PLACE.includes(x.state)).length;
    return { used, quota: quota === undefined ? null : quota };
  }

  function renderSelectionStates() {
    const items = state.selection ? state.selection.items : [];
    const counts = new Map(STATES.map((s) => [s, 0]));
    for (const h of items) counts.set(h.state, (counts.get(h.state) || 0) + 1);
    const bar = $("selection-states");
    bar.replaceChildren();
    for (const s of ["all"].concat(STATES)) {
      const n = s === "all" ? items.length : counts.get(s) || 0;
      const chip = el("button", `chip state-${s}${state.selectionFilter === s ? " on" : ""}`,
        `${s === "all" ? t("state_all") : stateLabel(s)} ${n}`);
      chip.type = "button";
      chip.dataset.state = s;
      chip.dataset.count = String(n);
      chip.setAttribute("aria-pressed", String(state.selectionFilter === s));
      bar.appendChild(chip);
    }
  }

  function actionsCell(h) {
    const td = el("td", "actions");
    const box = el("div", "action-box");
    if (mayCommunityReview(h)) {
      box.append(draftInput(h.honour_id, "review", "reason_reject_placeholder"),
        button(t("approve"), "community-approve", h.honour_id, "ok"),
        button(t("reject"), "community-reject", h.honour_id, "no"));
    } else if (h.state === "community_approved" && role() === "operator") {
      const p = places(h);
      const quota = el("span", "quota", p.quota === null ? t("quota_none") : t("quota", { used: p.used, quota: p.quota }));
      if (p.quota !== null && p.used >= p.quota) quota.classList.add("full");
      box.append(quota, draftInput(h.honour_id, "review", "reason_reject_placeholder"),
        button(t("street_approve"), "street-approve", h.honour_id, "ok"),
        button(t("reject"), "street-reject", h.honour_id, "no"));
    }
    box.append(button(state.opened.has(h.honour_id) ? t("record_hide") : t("record"), "record", h.honour_id, "ghost"));
    td.appendChild(box);
    const note = state.notes.get(h.honour_id);
    if (note) td.appendChild(el("div", `note ${note.ok ? "ok" : "error"}`, note.text));
    return td;
  }

  // A label of i18n.json, or the API's own word for one this page does not know yet.
  function label(prefix, word) {
    const key = `${prefix}_${word}`;
    return t(key) === key ? word : t(key);
  }

  function stepText(step) {
    const parts = [label("step", step.step)];
    if (step.acted_by) parts.push(`${step.acted_by}${step.actor_role ? ` (${label("role", step.actor_role)})` : ""}`);
    if (step.reason) parts.push(`${t("reason")}: ${step.reason}`);
    return parts.join(" · ");
  }

  function recordRow(h) {
    const tr = el("tr", "record");
    tr.dataset.record = h.honour_id;
    const td = el("td");
    td.colSpan = 6;
    const r = state.records.get(h.honour_id);
    if (!r) {
      td.appendChild(el("p", "hint", t("loading")));
    } else if (r.error) {
      td.appendChild(el("p", "alert", `${t("record_unavailable")} (${r.error})`));
    } else {
      td.appendChild(el("h4", null, t("selection_record")));
      const steps = el("ol", "steps");
      for (const step of r.steps || []) {
        const li = el("li");
        li.dataset.step = step.step;
        li.append(el("time", null, when(step.at)), document.createTextNode(` ${stepText(step)}`));
        steps.appendChild(li);
      }
      td.appendChild(steps);
      if (r.notice_ends_at) td.appendChild(el("p", "hint", `${t("notice_until")} ${when(r.notice_ends_at)}`));
      td.appendChild(el("h4", null, t("objections")));
      const objections = r.objections || [];
      if (!objections.length) td.appendChild(el("p", "hint", t("objections_none")));
      const list = el("ul", "objections");
      for (const o of objections) {
        const li = el("li");
        li.dataset.objection = o.objection_id;
        li.appendChild(el("span", null, `${when(o.lodged_at)} · ${o.lodged_by} · ${o.reason}`));
        if (o.outcome) {
          li.appendChild(el("span", `outcome ${o.outcome}`, ` → ${t(`outcome_${o.outcome}`)}: ${o.resolution_reason || ""}`));
        } else if (role() === "operator" && h.state === "in_notice") {
          const key = `${h.honour_id}/${o.objection_id}`;
          const input = draftInput(key, "resolution", "reason_resolution_placeholder");
          const upheld = button(t("uphold"), "objection-upheld", h.honour_id, "no");
          const dismissed = button(t("dismiss"), "objection-dismissed", h.honour_id, "ok");
          upheld.dataset.objection = dismissed.dataset.objection = o.objection_id;
          li.append(input, upheld, dismissed);
        }
        list.appendChild(li);
      }
      td.appendChild(list);
      // Anyone signed in may object during the notice period (the API says who may).
      if (h.state === "in_notice" && ["operator", "assessor"].includes(role())) {
        const form = el("div", "lodge");
        form.append(draftInput(h.honour_id, "objection", "reason_objection_placeholder"),
          button(t("lodge_objection"), "objection-lodge", h.honour_id, "no"));
        td.appendChild(form);
      }
    }
    tr.appendChild(td);
    return tr;
  }

  function renderSelection() {
    const body = $("selection-table").querySelector("tbody");
    body.replaceChildren();
    renderSelectionStates();
    $("selection-scope").textContent = role() === "community_worker" && state.identity.community
      ? communityName(state.identity.community) : communityName("street");
    if (!state.selection) return;
    const order = (s) => STATES.indexOf(s);
    const items = state.selection.items
      .filter((h) => state.selectionFilter === "all" || h.state === state.selectionFilter)
      .sort((a, b) => order(a.state) - order(b.state) || String(b.nominated_at).localeCompare(String(a.nominated_at)));
    $("selection-none").hidden = items.length > 0;
    for (const h of items) {
      const tr = el("tr");
      tr.dataset.honour = h.honour_id;
      tr.dataset.state = h.state;
      tr.dataset.community = h.community_id || "";
      const title = `${name(h, h.kind)}${h.place ? ` · ${t("place", { n: h.place })}` : ""}`;
      const recipient = el("td", "recipient", h.recipient_id || "–");
      recipient.title = h.reason || "";
      const badge = el("span", `badge state-${h.state}`, stateLabel(h.state));
      const stateCell = el("td", "state");
      stateCell.appendChild(badge);
      if (h.state === "in_notice" && h.notice_ends_at) stateCell.appendChild(el("small", "until", ` ${t("until")} ${when(h.notice_ends_at)}`));
      tr.append(el("td", "honour", title), recipient, el("td", "community", h.community_id ? communityName(h.community_id) : "–"),
        stateCell, el("td", "when", when(h.nominated_at)), actionsCell(h));
      body.appendChild(tr);
      if (state.opened.has(h.honour_id)) body.appendChild(recordRow(h));
    }
  }

  // A community worker reads its own community's candidates (the API scopes the list); staff who
  // read the whole street read every honour in every state.
  function selectionPath() {
    return role() === "community_worker" ? "/v1/honour-candidates?state=all&limit=500" : "/v1/honours?state=all&limit=500";
  }

  async function refreshSelection() {
    const data = await api(selectionPath());
    state.selection = data;
    state.selectionAt = Date.now();
    for (const id of state.opened) await refreshRecord(id, false);
    renderSelection();
  }

  async function refreshRecord(id, draw) {
    const response = await call("GET", `/v1/honours/${encodeURIComponent(id)}`);
    if (response.ok) state.records.set(id, await response.json());
    else state.records.set(id, { error: `HTTP ${response.status}` });
    if (draw !== false) renderSelection();
  }

  async function act(b) {
    const id = b.dataset.honour;
    const action = b.dataset.action;
    if (action === "record") {
      if (state.opened.has(id)) state.opened.delete(id);
      else {
        state.opened.add(id);
        refreshRecord(id).catch(() => {});
      }
      renderSelection();
      return;
    }
    const draft = (field) => (state.drafts.get(`${id}:${field}`) || "").trim();
    const path = `/v1/honours/${encodeURIComponent(id)}`;
    let request;
    if (action === "community-approve" || action === "street-approve") {
      const reason = draft("review");
      request = [`${path}/${action.split("-")[0]}-review`, { decision: "approved", ...(reason ? { reason } : {}) }];
    } else if (action === "community-reject" || action === "street-reject") {
      // A rejection is told to the candidate's community and kept in the record: it needs its reason.
      if (!draft("review")) return note(id, false, t("reason_required"));
      request = [`${path}/${action.split("-")[0]}-review`, { decision: "rejected", reason: draft("review") }];
    } else if (action === "objection-lodge") {
      if (!draft("objection")) return note(id, false, t("reason_required"));
      request = [`${path}/objections`, { reason: draft("objection") }];
    } else if (action === "objection-upheld" || action === "objection-dismissed") {
      const key = `${id}/${b.dataset.objection}:resolution`;
      const reason = (state.drafts.get(key) || "").trim();
      if (!reason) return note(id, false, t("reason_required"));
      request = [`${path}/objections/${encodeURIComponent(b.dataset.objection)}/resolve`,
        { outcome: action.split("-")[1], reason }];
    } else {
      return;
    }
    b.disabled = true;
    const result = await change("POST", ...request);
    if (result.ok) {
      for (const k of Array.from(state.drafts.keys())) if (k.startsWith(id)) state.drafts.delete(k);
      note(id, true, t(`done_${action}`));
    } else {
      note(id, false, `${t("refused")} (${result.status}): ${result.reason}`);
    }
    try {
      await refreshSelection();
    } catch (e) {
      renderSelection();
    }
  }

  function note(id, ok, text) {
    state.notes.set(id, { ok, text });
    renderSelection();
  }

  // --- rectification tasks (整改任务) ---------------------------------------------------------------

  function indicatorName(id) {
    for (const a of (state.meta && state.meta.aspects) || []) {
      for (const l of a.indicators || []) if (l.id === id) return name(l, id);
    }
    return id;
  }

  function renderTasks() {
    const body = $("tasks").querySelector("tbody");
    body.replaceChildren();
    if (!state.tasks) return;
    const items = state.tasks.items.slice().sort((a, b) =>
      Number(b.overdue) - Number(a.overdue) || String(a.deadline).localeCompare(String(b.deadline)));
    $("tasks-none").hidden = items.length > 0;
    const overdue = items.filter((x) => x.overdue).length;
    $("tasks-overdue").textContent = overdue ? t("tasks_overdue", { n: overdue }) : "";
    for (const task of items) {
      const tr = el("tr");
      tr.dataset.task = task.task_id;
      tr.dataset.status = task.status;
      tr.dataset.community = task.community_id;
      tr.dataset.owner = task.owner;
      if (task.overdue) tr.classList.add("overdue");
      const owner = task.owner_kind === "community" ? communityName(task.owner) : task.owner;
      const status = el("td", "status");
      status.appendChild(el("span", `badge task-${task.status}`, label("task", task.status)));
      if (task.overdue) status.appendChild(el("span", "badge overdue-badge", t("task_overdue")));
      tr.append(el("td", "community", communityName(task.community_id)), el("td", "indicator", indicatorName(task.indicator_id)),
        el("td", "owner", owner), el("td", "deadline", task.deadline), status);
      body.appendChild(tr);
    }
  }

  async function refreshTasks() {
    state.tasks = await api("/v1/rectification-tasks?limit=500");
    renderTasks();
  }

  function renderAll(highlight) {
    renderWho();
    if (state.indexAllowed) {
      renderOverview(highlight);
      renderDetail(highlight);
      renderRectification();
      renderHistory();
    }
    renderSelection();
    renderTasks();
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

  async function tickIndex() {
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
    await Promise.all(jobs);
  }

  async function tick() {
    const jobs = [];
    if (state.indexAllowed) jobs.push(tickIndex());
    if (Date.now() - state.selectionAt > SELECTION_MS) {
      state.selectionAt = Date.now();
      jobs.push(refreshSelection(), refreshTasks());
    }
    await Promise.all(jobs);
    setLive("live");
  }

  function refused(e) {
    if (e.status === 401) {
      AuthUI.forgetToken();
      if (state.auth) state.auth.forget();
    }
    showAuth(e.status === 401 ? (state.auth ? "auth_session_ended" : "auth_401") : "auth_403");
  }

  async function loop() {
    if (!state.running) return;
    let delay = POLL_MS;
    try {
      await tick();
    } catch (e) {
      if (e instanceof AuthError && e.status === 403 && state.identity && state.identity.role === "community_worker" &&
          state.indexAllowed) {
        // A part of the index the API does not open to this community worker: their selection and
        // tasks stay, the index goes.
        state.indexAllowed = false;
        $("board").dataset.index = "off";
        state.selectionAt = 0;
        state.timer = setTimeout(loop, 0);
        return;
      }
      if (e instanceof AuthError) {
        refused(e);
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

  async function start() {
    stop();
    await bearer();
    state.identity = identityFrom(state.token);
    renderWho();
    // Residents, kiosks and venue staff have no dashboard; a token whose claims cannot be read
    // goes on to the API, which answers for it.
    if (state.identity.claimsRead && !DASHBOARD_ROLES.includes(state.identity.role)) {
      AuthUI.forgetToken();
      showAuth("auth_403");
      return;
    }
    state.indexAllowed = true;
    // A community worker's index is their community's (the street's detail is not theirs to read).
    if (state.identity.role === "community_worker" && state.identity.community) state.selected = state.identity.community;
    try {
      state.meta = await api("/v1/indicators");
    } catch (e) {
      if (e instanceof AuthError && e.status === 403 && state.identity.role === "community_worker") {
        // The index routes do not admit this community worker (yet): their selection and tasks only.
        state.indexAllowed = false;
        state.meta = null;
      } else if (e instanceof AuthError) {
        refused(e);
        return;
      } else {
        setLive("offline");
        state.timer = setTimeout(start, POLL_MS * 2);
        return;
      }
    }
    $("auth").hidden = true;
    $("board").hidden = false;
    $("board").dataset.role = state.identity.role || "";
    $("board").dataset.index = state.indexAllowed ? "on" : "off";
    $("sign-out").hidden = false;
    $("version").textContent = state.meta ? state.meta.version : "";
    relabel();
    renderAll(false);
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

  function signInMessage(error) {
    const known = ["state_mismatch", "nonce_mismatch", "sign_in_expired", "provider_error", "token_refused",
      "id_token_invalid", "id_token_expired", "issuer_mismatch", "provider_unreachable"];
    return error && known.includes(error.code) ? `auth_${error.code}` : "auth_sign_in_failed";
  }

  async function init() {
    const [dict, config] = await Promise.all([
      fetch("/dashboard/assets/i18n.json", { cache: "no-cache" }).then((r) => r.json()),
      AuthUI.loadConfig(),
    ]);
    state.dict = dict;
    state.config = config;
    state.auth = AuthUI.client(config, "/dashboard");
    if (state.auth) {
      state.auth.onExpired = () => {
        stop();
        showAuth("auth_session_ended");
      };
    }
    state.token = takeToken();
    $("lang").addEventListener("click", () => {
      state.lang = state.lang === "en" ? "zh-CN" : "en";
      localStorage.setItem(LANG_KEY, state.lang);
      applyLanguage();
    });
    $("sign-out").addEventListener("click", signOut);
    $("sign-in").addEventListener("click", signIn);
    $("community-select").addEventListener("change", (e) => select(e.target.value));
    $("selection-states").addEventListener("click", (e) => {
      const chip = e.target.closest("button[data-state]");
      if (!chip) return;
      state.selectionFilter = chip.dataset.state;
      renderSelection();
    });
    $("selection-table").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-action]");
      if (b && !b.disabled) act(b);
    });
    $("selection-table").addEventListener("input", (e) => {
      const input = e.target;
      if (input.dataset && input.dataset.field) state.drafts.set(`${input.dataset.honour}:${input.dataset.field}`, input.value);
    });
    AuthUI.onTokenForm((value) => {
      state.token = value;
      start();
    });
    applyLanguage();
    if (state.auth) {
      try {
        await state.auth.completeSignIn();
      } catch (e) {
        console.warn("sign-in refused", e.message);
        state.auth.forget();
        showAuth(signInMessage(e));
        return;
      }
      if (state.auth.session) {
        sessionStorage.removeItem(SIGNED_OUT_KEY);
        state.auth.schedule();
        start();
        return;
      }
      const signedOut = sessionStorage.getItem(SIGNED_OUT_KEY);
      sessionStorage.removeItem(SIGNED_OUT_KEY);
      showAuth(signedOut ? "auth_signed_out" : "auth_sign_in");
      return;
    }
    if (state.token) start();
    else showAuth("auth_missing");
  }

  document.addEventListener("DOMContentLoaded", init);
})();
