// The district page: each street's published index side by side, and a street's communities
// (?street=<id>). Reads /v1/district/... every POLL_MS with the token the dashboard's sign-in gives
// (oidc.js at the street's identity provider, or a pasted development token; both wired by
// auth-ui.js, shared with the dashboard). All text goes in through textContent: names come from
// events and reference data, never markup.
"use strict";

(function () {
  const POLL_MS = 3000;
  const LANG_KEY = "learnstreet.dashboard.lang";
  const DICT = {
    "zh-CN": {
      title: "区级学习型街道指数", subtitle: "各街道发布的指数，实时并列", lang_toggle: "English",
      sign_out: "退出", auth_title: "请登录", sign_in: "登录", auth_submit: "打开",
      auth_missing: "需要登录（操作员或评估员）。", auth_refused: "此账号无权查看区级指数（需操作员或评估员）。",
      streets: "各街道指数", street: "街道", community: "社区", total: "总分", communities: "社区数",
      computed_at: "计算时间", not_yet: "尚未发布", back: "返回全区", live: "实时", offline: "连接中断",
      note: "只读取各街道发布的指数（scoring.index），不读取原始数据。", unknown: "未知街道",
    },
    en: {
      title: "District learning-street index", subtitle: "Each street's published index, live, side by side",
      lang_toggle: "中文", sign_out: "Sign out", auth_title: "Please sign in", sign_in: "Sign in",
      auth_submit: "Open", auth_missing: "Signing in is needed (an operator or an assessor).",
      auth_refused: "This account may not read the district index (operators and assessors).",
      streets: "Streets", street: "Street", community: "Community", total: "Total", communities: "Communities",
      computed_at: "Computed at", not_yet: "not published yet", back: "Back to the district", live: "live",
      offline: "offline", note: "Reads only each street's published index (scoring.index), never its raw data.",
      unknown: "unknown street",
    },
  };
  const $ = (id) => document.getElementById(id);
  const AuthUI = window.AuthUI; // auth-ui.js: config, the provider's client, the development token
  const state = { lang: localStorage.getItem(LANG_KEY) || "zh-CN", auth: null, token: null, data: null, timer: null };
  const street = new URL(window.location.href).searchParams.get("street");

  const t = (key) => (DICT[state.lang] || DICT["zh-CN"])[key] || key;
  const nameOf = (o) => (state.lang === "en" ? o.name_en : o.name_zh) || o.community_id || o.street;
  const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(1));
  const when = (iso) => (iso ? new Date(iso).toLocaleString(state.lang, { timeZone: "Asia/Shanghai" }) : "–");

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    document.title = t("title");
    render();
  }

  function bars(container, rows, max) {
    container.replaceChildren();
    for (const row of rows) {
      const line = el("div", null, "aspect-bar bar-row");
      line.dataset.id = row.id;
      const label = row.href ? el("a", row.label, "label") : el("span", row.label, "label");
      if (row.href) label.href = row.href;
      const track = el("span", null, "track");
      const fill = el("span", null, "fill");
      fill.style.width = `${Math.max(0, Math.min(100, (100 * (row.value || 0)) / (max || 100)))}%`;
      track.append(fill);
      line.append(label, track, el("span", fmt(row.value), "num"));
      container.append(line);
    }
  }

  function head(tr, first, aspects, extra) {
    tr.replaceChildren(el("th", t(first)), el("th", t("total")));
    for (const a of aspects) tr.append(el("th", state.lang === "en" ? a.name_en : a.name_zh));
    for (const key of extra) tr.append(el("th", t(key)));
  }

  function cells(tr, item, aspects) {
    tr.append(el("td", fmt(item.total), item.total === null ? "score missing" : "score"));
    for (const a of aspects) tr.append(el("td", fmt(item.aspects[a.id]), "score"));
  }

  function renderDistrict(d) {
    $("district-part").hidden = false;
    $("street-part").hidden = true;
    bars($("street-bars"), d.streets.map((s) => ({ id: s.street, label: nameOf(s), value: s.total,
      href: `/district?street=${encodeURIComponent(s.street)}` })), d.max);
    head($("streets-head"), "street", d.aspects, ["communities", "computed_at"]);
    const body = $("streets-body");
    body.replaceChildren();
    for (const s of d.streets) {
      const tr = el("tr");
      tr.dataset.street = s.street;
      const name = el("td");
      const link = el("a", nameOf(s));
      link.href = `/district?street=${encodeURIComponent(s.street)}`;
      name.append(link);
      tr.append(name);
      cells(tr, s, d.aspects);
      tr.append(el("td", s.communities, "value"), el("td", s.total === null ? t("not_yet") : when(s.computed_at)));
      body.append(tr);
    }
  }

  function renderStreet(d) {
    $("district-part").hidden = true;
    $("street-part").hidden = false;
    $("street-title").textContent = nameOf(d);
    $("street-total").textContent = `${t("total")} ${fmt(d.total)}`;
    bars($("community-bars"), d.communities.map((c) => ({ id: c.community_id, label: nameOf(c), value: c.total })), d.max);
    head($("communities-head"), "community", d.aspects_named, ["computed_at"]);
    const body = $("communities-body");
    body.replaceChildren();
    for (const c of d.communities) {
      const tr = el("tr");
      tr.dataset.community = c.community_id;
      tr.append(el("td", nameOf(c)));
      cells(tr, c, d.aspects_named);
      tr.append(el("td", when(c.computed_at)));
      body.append(tr);
    }
  }

  function render() {
    if (!state.data) return;
    if (street) renderStreet(state.data);
    else renderDistrict(state.data);
    $("board").dataset.drawn = String(Date.now());
  }

  function showAuth(key) {
    $("board").hidden = true;
    $("auth").hidden = false;
    $("auth-message").textContent = t(key);
    $("auth-message").dataset.status = key;
    $("sign-in").hidden = !state.auth;
    $("auth-form").hidden = !!state.auth;
  }

  function live(ok) {
    $("live").dataset.state = ok ? "live" : "offline";
    $("live-text").textContent = t(ok ? "live" : "offline");
  }

  async function poll() {
    if (state.auth) state.token = await state.auth.accessToken();
    if (!state.token) return showAuth("auth_missing");
    const path = street ? `/v1/district/streets/${encodeURIComponent(street)}` : "/v1/district/index";
    try {
      const r = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` }, cache: "no-store" });
      if (r.status === 401) return showAuth("auth_missing");
      if (r.status === 403) return showAuth("auth_refused");
      if (r.status === 404) {
        $("auth").hidden = false;
        $("auth-message").textContent = `${t("unknown")}: ${street}`;
        return;
      }
      if (!r.ok) throw new Error(String(r.status));
      state.data = await r.json();
      $("auth").hidden = true;
      $("board").hidden = false;
      $("sign-out").hidden = false;
      live(true);
      render();
    } catch (e) {
      live(false);
    }
    state.timer = setTimeout(poll, POLL_MS);
  }

  async function init() {
    const config = await AuthUI.loadConfig();
    state.auth = AuthUI.client(config, "/district");
    if (state.auth) state.auth.onExpired = () => showAuth("auth_missing");
    state.token = AuthUI.takeToken(state.auth);
    $("lang").addEventListener("click", () => {
      state.lang = state.lang === "en" ? "zh-CN" : "en";
      localStorage.setItem(LANG_KEY, state.lang);
      applyLanguage();
    });
    $("sign-in").addEventListener("click", () => state.auth.signIn(state.lang));
    $("sign-out").addEventListener("click", () => {
      clearTimeout(state.timer);
      AuthUI.forgetToken();
      if (state.auth) state.auth.signOut();
      else showAuth("auth_missing");
    });
    AuthUI.onTokenForm((value) => {
      state.token = value;
      poll();
    });
    applyLanguage();
    if (state.auth) {
      try {
        await state.auth.completeSignIn();
      } catch (e) {
        state.auth.forget();
        return showAuth("auth_missing");
      }
      if (!state.auth.session) return showAuth("auth_missing");
      state.auth.schedule();
    }
    if (state.auth || state.token) poll();
    else showAuth("auth_missing");
  }

  document.addEventListener("DOMContentLoaded", init);
})();
