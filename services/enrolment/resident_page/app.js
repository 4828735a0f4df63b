// The residents' mobile page: courses near the resident's community, enrol and cancel, the
// waitlist position kept live, the learning passport, surveys and session ratings, and the
// notification preference centre. Plain script, no build step, nothing loaded from elsewhere (the
// CSP allows this origin, and activities' for surveys and ratings, only).
'use strict';

(function () {
  // what POST /v1/sign-in/token takes (services/enrolment/entrypoints/sign_in.py `Code`)
  const CODE_PATTERN = /^[0-9]{6}$/;
  const STORE = 'learnstreet.resident';   // sessionStorage: {access_token, resident_id, expires_at}
  const LANG = 'learnstreet.lang';        // localStorage: the page's language, once chosen
  const $ = (id) => document.getElementById(id);

  const state = {
    config: null, i18n: null, lang: 'zh-CN', auth: null, resident: null,
    sessions: [],          // the list shown on the courses tab
    names: new Map(),      // session_id -> {course, venue, starts_at, community_id}: for the other tabs
    enrolments: new Map(), // session_id -> the live enrolment (confirmed or waitlisted)
    tab: 'courses', poll: null, expiry: null, phone: '', resendAt: 0, searchTimer: null,
    surveys: [],           // open surveys addressed to the resident, and those they answered
    answered: new Map(),   // survey_id -> 'answered' | 'closed' (activities' record, or 201/409 here)
    answeredAt: new Map(), // survey_id -> when the answer was recorded (activities' answered_at)
    rated: new Map(),      // session_id -> score (activities' record, or rated here) or null (409, not yet read)
    consentWait: null,     // {send, resolve}: an answer or rating waiting for the surveys consent
  };

  // --- words ----------------------------------------------------------------------------------

  function t(key, vars) {
    const words = state.i18n ? state.i18n[state.lang] : null;
    let s = (words && words[key]) || (state.i18n && state.i18n['zh-CN'][key]) || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
    return s;
  }
  const named = (names) => (names ? names[state.lang] || names['zh-CN'] || names.en || '' : '');
  function when(iso) {
    if (!iso) return '';
    return new Intl.DateTimeFormat(state.lang, {
      timeZone: state.config.time_zone, month: 'short', day: 'numeric', weekday: 'short',
      hour: '2-digit', minute: '2-digit', hour12: false,
    }).format(new Date(iso));
  }
  function communityName(id) {
    const c = (state.config.communities || []).find((x) => x.community_id === id);
    return c ? named(c.name) : id || '';
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t('title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    if (state.config) $('street').textContent = named(state.config.street);
    fillCommunities();
    fillCategories();
    fillPurposes();
    if (state.auth) { renderSessions(); renderEnrolments(); if (state.passport) renderPassport(state.passport); }
    if (state.auth && surveysOn()) { renderSurveys(); renderRatings(); fillConsentWords(); }
    if (state.auth) fillRecordWords();
    updateResend();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'type' || k === 'id' || k === 'for') node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text || '';
    n.dataset.kind = kind || '';
    n.hidden = !text;
  }

  // --- the API ----------------------------------------------------------------------------------

  class Expired extends Error {}

  async function api(method, path, body) {
    if (!state.auth || Date.now() >= state.auth.expires_at) { signOut('expired'); throw new Expired(); }
    const init = { method, headers: { Authorization: 'Bearer ' + state.auth.access_token } };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      notice(t('offline'), 'offline');
      throw e;
    }
    if (response.status === 401) { signOut('expired'); throw new Expired(); }
    const data = (response.headers.get('content-type') || '').includes('json') ? await response.json() : null;
    return { status: response.status, data, response };
  }

  // FastAPI's and the kit's errors: {"detail": [{"loc": ["body", field], "msg"}]} or {"detail": "..."}.
  function problems(data) {
    const detail = data && data.detail;
    if (!Array.isArray(detail)) return [{ field: null, msg: String(detail || '') }];
    return detail.map((d) => {
      const loc = (d.loc || []).filter((x) => x !== 'body' && x !== 'query' && x !== 'path');
      return { field: loc.length ? String(loc[0]) : null, msg: String(d.msg || '') };
    });
  }
  const message = (data) => problems(data).map((p) => p.msg).join('; ');

  // --- sign-in --------------------------------------------------------------------------------

  function tokenExpiry(token) {
    try {
      const body = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(body + '==='.slice((body.length + 3) % 4)));
      return claims.exp ? claims.exp * 1000 : null;
    } catch (e) {
      return null;
    }
  }

  function loadAuth() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE) || 'null');
      if (!saved || !saved.access_token || !saved.resident_id) return null;
      const exp = saved.expires_at || tokenExpiry(saved.access_token);
      if (!exp || Date.now() >= exp) { sessionStorage.removeItem(STORE); return null; }
      return { access_token: saved.access_token, resident_id: saved.resident_id, expires_at: exp };
    } catch (e) {
      return null;
    }
  }

  function signOut(reason) {
    sessionStorage.removeItem(STORE);
    state.auth = null;
    state.resident = null;
    state.passport = null;
    state.enrolments.clear();
    state.sessions = [];
    state.names.clear();
    state.surveys = [];
    state.answered.clear();
    state.answeredAt.clear();
    state.rated.clear();
    state.noRecord = false;
    state.consents = null; // the next resident's decisions are read afresh
    $('record-consent').hidden = true;
    $('passport-record').hidden = false;
    if (state.consentWait) endConsent(null);
    // Nothing of this resident stays in the page (hidden is not gone) for whoever holds the phone next.
    for (const id of ['sessions', 'enrolments', 'years', 'honours', 'attendance', 'surveys', 'ratings']) $(id).replaceChildren();
    $('prefs').reset();
    notice('');
    stopPolling();
    clearTimeout(state.expiry);
    $('app').hidden = true;
    $('tabs').hidden = true;
    $('sign-out').hidden = true;
    $('signin').hidden = false;
    $('token-form').hidden = true;
    $('code-form').hidden = false;
    const m = $('signin-message');
    m.textContent = reason === 'expired' ? t('expired') : '';
    m.dataset.status = reason || '';
  }

  function updateResend() {
    const left = Math.ceil((state.resendAt - Date.now()) / 1000);
    const button = $('resend');
    button.disabled = left > 0;
    button.textContent = left > 0 ? t('resend_in', { s: left }) : t('resend');
    if (left > 0) setTimeout(updateResend, 1000);
  }

  async function sendCode(event) {
    if (event) event.preventDefault();
    const phone = $('phone').value.trim();
    const m = $('signin-message');
    if (!/^\+?[0-9][0-9 -]{4,19}$/.test(phone)) {
      $('phone').setAttribute('aria-invalid', 'true');
      m.textContent = t('phone_invalid');
      return;
    }
    $('phone').removeAttribute('aria-invalid');
    let response;
    try {
      response = await fetch('/v1/sign-in/code', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ phone }),
      });
    } catch (e) {
      m.textContent = t('signin_unavailable');
      return;
    }
    if (response.status === 429) {
      const s = Number(response.headers.get('Retry-After') || 60);
      state.resendAt = Date.now() + s * 1000;
      m.textContent = t('too_many', { s });
      updateResend();
      return;
    }
    if (response.status !== 202) {
      m.textContent = response.status === 422 ? t('phone_invalid') : t('signin_unavailable');
      return;
    }
    const data = await response.json();
    state.phone = phone;
    state.resendAt = Date.now() + (data.retry_after_s || 60) * 1000;
    $('code-form').hidden = true;
    $('token-form').hidden = false;
    m.textContent = t('code_sent', { m: Math.max(1, Math.round((data.expires_in_s || 300) / 60)) });
    m.dataset.status = 'sent';
    updateResend();
    $('code').focus();
  }

  async function verifyCode(event) {
    event.preventDefault();
    const code = $('code').value.replace(/\s+/g, '');  // "123 456" as read aloud is the same code
    const m = $('signin-message');
    if (!CODE_PATTERN.test(code)) {
      $('code').setAttribute('aria-invalid', 'true');
      m.textContent = t('code_invalid');
      return;
    }
    $('code').removeAttribute('aria-invalid');
    let response;
    try {
      response = await fetch('/v1/sign-in/token', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ phone: state.phone, code }),
      });
    } catch (e) {
      m.textContent = t('signin_unavailable');
      return;
    }
    if (response.status === 429) {
      m.textContent = t('too_many', { s: Number(response.headers.get('Retry-After') || 60) });
      return;
    }
    if (response.status !== 200) {
      m.textContent = response.status === 401 || response.status === 422 ? t('signin_failed') : t('signin_unavailable');
      m.dataset.status = String(response.status);
      return;
    }
    const data = await response.json();
    const auth = {
      access_token: data.access_token, resident_id: data.resident_id,
      expires_at: Date.now() + (data.expires_in || 600) * 1000,
    };
    sessionStorage.setItem(STORE, JSON.stringify(auth));
    $('code').value = '';
    m.textContent = '';
    await start(auth);
  }

  // --- signed in ------------------------------------------------------------------------------

  async function start(auth) {
    state.auth = auth;
    // Back to the sign-in when the token runs out, not at the next failing click.
    clearTimeout(state.expiry);
    state.expiry = setTimeout(() => signOut('expired'), Math.max(0, auth.expires_at - Date.now()));
    $('signin').hidden = true;
    $('sign-out').hidden = false;
    try {
      const me = await api('GET', `/v1/residents/${encodeURIComponent(auth.resident_id)}`);
      if (me.status !== 200) { notice(t('error', { msg: message(me.data) })); return; }
      state.resident = me.data;
      if (!localStorage.getItem(LANG) && me.data.language) state.lang = me.data.language;
      applyLanguage();
      $('community').value = me.data.community_id;
      $('tab-btn-surveys').hidden = !surveysOn();
      $('tabs').hidden = false;
      $('app').hidden = false;
      showTab(state.tab);
      fillPrefs();
      await Promise.all([loadSessions(), refreshEnrolments(), loadConsents()]);
      startPolling();
    } catch (e) {
      if (!(e instanceof Expired)) notice(t('error', { msg: e.message }));
    }
  }

  function showTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll('#tabs button')) {
      const on = b.dataset.tab === tab;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
      $('tab-' + b.dataset.tab).hidden = !on;
    }
    if (tab === 'passport') loadPassport();
    if (tab === 'prefs') fillPrefs();
    if (tab === 'courses' && state.auth) loadSessions();
    if (tab === 'surveys') loadSurveysTab().catch(() => {});
  }

  // --- courses --------------------------------------------------------------------------------

  function fillCommunities() {
    const select = $('community');
    if (!state.config) return;
    const chosen = select.value;
    select.replaceChildren(
      el('option', { value: '', text: t('all_communities') }),
      ...state.config.communities.map((c) => el('option', { value: c.community_id, text: named(c.name) })),
    );
    select.value = chosen;
  }

  async function loadSessions() {
    const params = new URLSearchParams({ limit: '50' });
    const community = $('community').value;
    const q = $('search').value.trim();
    if (community) params.set('community_id', community);
    if (q) params.set('q', q);
    const r = await api('GET', '/v1/sessions?' + params);
    if (r.status !== 200) { notice(t('error', { msg: message(r.data) })); return; }
    if ($('notice').dataset.kind === 'offline') notice('');
    state.sessions = r.data;
    for (const s of r.data) remember(s.session_id, s);
    renderSessions();
  }

  function remember(sessionId, s) {
    state.names.set(sessionId, { course: s.course, venue: s.venue, starts_at: s.starts_at, community_id: s.community_id });
  }

  function statusBadge(enrolment) {
    if (!enrolment) return null;
    const text = enrolment.status === 'waitlisted' ? t('waitlisted', { n: enrolment.position }) : t('confirmed');
    return el('p', { class: 'badge mine', 'data-status': enrolment.status, 'data-position': enrolment.position || '', text });
  }

  function sessionCard(s) {
    const mine = state.enrolments.get(s.session_id);
    const li = el('li', { 'data-session': s.session_id });
    const title = el('h3', { text: named(s.course) });
    const place = el('p', { class: 'meta', text: [named(s.venue), communityName(s.community_id)].filter(Boolean).join(' · ') });
    const time = el('p', { class: 'meta' }, el('time', { dateTime: s.starts_at, text: when(s.starts_at) }));
    const seats = el('p', { class: 'seats', 'data-seats-left': s.seats_left,
      text: s.seats_left > 0 ? t('seats_left', { n: s.seats_left }) : t('full', { n: s.waitlisted }) });
    const actions = el('div', { class: 'actions' });
    if (mine) {
      actions.append(el('button', { type: 'button', class: 'secondary cancel', 'data-enrolment': mine.enrolment_id,
        'aria-label': `${t('cancel')}: ${named(s.course)}`, text: t('cancel') }));
    } else {
      const label = s.seats_left > 0 ? t('enrol') : t('join_waitlist');
      actions.append(el('button', { type: 'button', class: 'primary enrol', 'data-session': s.session_id,
        'aria-label': `${label}: ${named(s.course)}`, text: label }));
    }
    const audience = s.audiences && s.audiences.length && state.resident && !s.audiences.includes(state.resident.audience_group)
      ? el('p', { class: 'meta', text: t('not_for_you', { groups: s.audiences.map((g) => t('audience_' + g)).join('、') }) })
      : null;
    // append() would write a null as the text "null": absent parts are left out.
    li.append(...[title, place, time, seats, statusBadge(mine), audience, actions].filter(Boolean),
      el('p', { class: 'card-error', role: 'alert' }));
    return li;
  }

  function renderSessions() {
    const list = $('sessions');
    // Keep the keyboard focus on the same button across a redraw.
    const focused = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.closest('li').dataset.session : null;
    list.replaceChildren(...state.sessions.map(sessionCard));
    $('sessions-empty').hidden = state.sessions.length > 0;
    if (focused) {
      const again = list.querySelector(`li[data-session="${CSS.escape(focused)}"] button`);
      if (again) again.focus();
    }
  }

  async function enrol(sessionId, card) {
    const r = await api('POST', `/v1/sessions/${encodeURIComponent(sessionId)}/enrolments`, { resident_id: state.auth.resident_id });
    if (r.status !== 201) { card.querySelector('.card-error').textContent = message(r.data); return; }
    state.enrolments.set(sessionId, r.data);
    notice(r.data.status === 'waitlisted' ? t('waitlisted_ok', { n: r.data.position }) : t('enrolled_ok'));
    await loadSessions();
    renderEnrolments();
  }

  async function cancel(enrolmentId, card) {
    const r = await api('DELETE', `/v1/enrolments/${encodeURIComponent(enrolmentId)}`);
    if (r.status !== 200) { if (card) card.querySelector('.card-error').textContent = message(r.data); return; }
    state.enrolments.delete(r.data.session_id);
    notice(t('cancelled_ok'));
    if (state.tab === 'courses') await loadSessions();
    renderSessions();
    renderEnrolments();
  }

  // --- my enrolments, kept live ---------------------------------------------------------------

  async function refreshEnrolments() {
    const r = await api('GET', `/v1/residents/${encodeURIComponent(state.auth.resident_id)}/enrolments?limit=500`);
    if (r.status !== 200) return;
    const before = state.enrolments;
    const live = new Map();
    const now = Date.now();
    for (const e of r.data) {
      if (e.status === 'cancelled' || (e.starts_at && Date.parse(e.starts_at) < now)) continue;
      live.set(e.session_id, e);
    }
    const promoted = [...live.values()].filter((e) => e.status === 'confirmed' && before.get(e.session_id)?.status === 'waitlisted');
    const changed = live.size !== before.size || [...live].some(([k, e]) => {
      const was = before.get(k);
      return !was || was.status !== e.status || was.position !== e.position;
    });
    state.enrolments = live;
    if ([...live.keys()].some((k) => !state.names.has(k))) await loadNames();
    if (promoted.length) {
      notice(promoted.map((e) => t('promoted', { course: named(state.names.get(e.session_id)?.course) })).join(' '));
    }
    if (changed) {
      renderEnrolments();
      if (state.tab === 'courses') await loadSessions(); else renderSessions();
    }
  }

  // Names of sessions not in the current list (another community's): the passport carries them.
  async function loadNames() {
    // the passport is served with that purpose only; at sign-in this can run before the consents
    // have loaded (refreshEnrolments beside loadConsents), and then must not ask and be refused
    if (!granted('learning_record')) return;
    const r = await api('GET', `/v1/residents/${encodeURIComponent(state.auth.resident_id)}/passport`);
    if (r.status !== 200) return;
    state.passport = r.data;
    for (const e of r.data.enrolments) if (!state.names.has(e.session_id)) remember(e.session_id, e);
  }

  function renderEnrolments() {
    const list = $('enrolments');
    const live = [...state.enrolments.values()].sort((a, b) => String(a.starts_at).localeCompare(String(b.starts_at)));
    list.replaceChildren(...live.map((e) => {
      const n = state.names.get(e.session_id) || {};
      return el('li', { 'data-session': e.session_id, 'data-enrolment': e.enrolment_id },
        el('h3', { text: named(n.course) || e.course_id }),
        el('p', { class: 'meta', text: [named(n.venue), communityName(n.community_id)].filter(Boolean).join(' · ') }),
        el('p', { class: 'meta' }, el('time', { dateTime: e.starts_at, text: when(e.starts_at) })),
        statusBadge(e),
        el('div', { class: 'actions' }, el('button', { type: 'button', class: 'secondary cancel', 'data-enrolment': e.enrolment_id,
          'aria-label': `${t('cancel')}: ${named(n.course) || e.course_id}`, text: t('cancel') })),
        el('p', { class: 'card-error', role: 'alert' }));
    }));
    $('enrolments-empty').hidden = live.length > 0;
  }

  function startPolling() {
    stopPolling();
    const tick = async () => {
      if (document.visibilityState !== 'visible' || !state.auth) return;
      try { await refreshEnrolments(); } catch (e) { /* offline or signed out: said already */ }
    };
    state.poll = setInterval(tick, (state.config.poll_s || 4) * 1000);
  }
  function stopPolling() { if (state.poll) clearInterval(state.poll); state.poll = null; }

  // --- passport -------------------------------------------------------------------------------

  // Purposes the resident has (as far as the page knows) not agreed to: the page does not ask for
  // what the server would refuse (403 naming consent), it offers the agreement instead.
  function refused(purpose) {
    return Boolean(state.consents) && !state.consents.purposes.some((p) => p.purpose === purpose && p.granted);
  }

  function granted(purpose) {
    return Boolean(state.consents) && state.consents.purposes.some((p) => p.purpose === purpose && p.granted);
  }

  async function loadPassport() {
    if (!state.auth) return;
    if (refused('learning_record')) { askRecordConsent(); return; }
    const r = await api('GET', `/v1/residents/${encodeURIComponent(state.auth.resident_id)}/passport`);
    if (needsConsent(r)) { askRecordConsent(); return; }
    if (r.status !== 200) { notice(t('error', { msg: message(r.data) })); return; }
    $('record-consent').hidden = true;
    $('passport-record').hidden = false;
    state.passport = r.data;
    renderPassport(r.data);
  }

  function askRecordConsent() {
    $('passport-record').hidden = true;
    $('record-consent').hidden = false;
    fillRecordWords();
  }

  function fillRecordWords() {
    if (!state.notice) return;
    $('record-consent-words').textContent = (state.notice.purposes.learning_record || {})[state.lang] || '';
    $('record-consent-version').textContent = t('notice_version', { v: state.notice.version, d: state.notice.published });
  }

  async function agreeToRecord() {
    const m = $('record-consent-message');
    m.textContent = '';
    const me = encodeURIComponent(state.auth.resident_id);
    const r = await api('PUT', `/v1/residents/${me}/consents/learning_record`, { notice_version: state.notice.version });
    if (r.status === 409) { await loadConsents(); fillRecordWords(); m.textContent = t('notice_changed'); return; }
    if (r.status !== 200) { m.textContent = t('error', { msg: message(r.data) }); return; }
    state.consents = r.data;
    fillPurposes();
    await loadPassport();
  }

  async function download(path, filename) {
    const r = await fetch(path, { headers: { Authorization: 'Bearer ' + state.auth.access_token } });
    if (r.status === 401) { signOut('expired'); return; }
    if (!r.ok) { notice(t('error', { msg: r.status })); return; }
    const url = URL.createObjectURL(await r.blob());
    const a = el('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function renderPassport(p) {
    const me = encodeURIComponent(p.resident_id);
    $('years').replaceChildren(...p.years.map((y) => el('li', { 'data-year': y.year },
      el('h3', { text: t('year_line', { year: y.year, hours: y.hours, credits: y.credits, n: y.attendances }) }),
      el('div', { class: 'actions' }, el('button', { type: 'button', class: 'link download',
        'data-path': `/v1/residents/${me}/passport/certificate?year=${y.year}&lang=${state.lang}&format=pdf`,
        'data-filename': `certificate-${y.year}.pdf`, text: t('certificate', { year: y.year }) })))));
    $('years-empty').hidden = p.years.length > 0;
    $('honours').replaceChildren(...p.honours.map((h) => el('li', { 'data-honour': h.honour_id },
      el('h3', { text: named(h.name) }),
      el('p', { class: 'meta', text: h.period }),
      el('p', { class: 'badge', 'data-state': h.state, text: t(h.state) }),
      h.credential ? el('div', { class: 'actions' }, el('button', { type: 'button', class: 'link download',
        'data-path': h.credential, 'data-filename': `honour-${h.honour_id}.jwt`, text: t('download_credential') })) : null)));
    $('honours-empty').hidden = p.honours.length > 0;
    const rows = [...p.attendance].reverse();
    $('attendance').replaceChildren(...rows.map((a) => el('li', { 'data-attendance': a.attendance_id },
      el('strong', { text: named(a.course) || a.course_id }),
      el('p', { class: 'meta', text: [a.date, named(a.venue) || a.venue_id, t('minutes', { n: a.minutes })].join(' · ') }))));
  }

  // --- surveys and session ratings (on activities, docs/decisions/0016) -----------------------
  // The page calls activities' own origin (config.activities_url; its CSP connect-src names it and
  // activities admits this origin by CORS). Answers and ratings need the notice's `surveys`
  // purpose: a 403 naming `consent` asks the resident, records the agreement here on enrolment,
  // and sends again while activities has not yet learnt it (it travels on Kafka).

  const surveysOn = () => Boolean(state.config && state.config.activities_url);
  const onActivities = (path) => state.config.activities_url + path;
  const domId = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, '_');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const needsConsent = (r) => r && r.status === 403 && problems(r.data).some((p) => p.field === 'consent');
  const titled = (x) => (state.lang === 'en' ? x.title_en : x.title_zh) || x.title_zh || x.title_en || '';
  const labelled = (x) => (state.lang === 'en' ? x.label_en : x.label_zh) || x.label_zh || x.label_en || '';

  // loc of a 422 without "body": ["answers", 2, "value"] -> {path: [...], msg}
  function errorsAt(data) {
    const detail = data && data.detail;
    if (!Array.isArray(detail)) return [{ path: [], msg: String(detail || '') }];
    return detail.map((d) => ({ path: (d.loc || []).filter((x) => x !== 'body'), msg: String(d.msg || '') }));
  }

  // What the resident answered and rated, as activities recorded it (GET, no consent needed to
  // read one's own): answered surveys show as answered with their date, rated sessions their
  // score, after a reload too. Returns the answered surveys, newest first.
  async function loadMine() {
    const me = encodeURIComponent(state.auth.resident_id);
    const [answers, ratings] = await Promise.all([
      api('GET', onActivities(`/v1/residents/${me}/survey-responses`)),
      api('GET', onActivities(`/v1/residents/${me}/satisfaction`)),
    ]);
    const mine = answers.status === 200 ? answers.data : [];
    for (const r of mine) {
      state.answered.set(r.survey_id, 'answered');
      state.answeredAt.set(r.survey_id, r.answered_at);
    }
    if (ratings.status === 200) for (const r of ratings.data) state.rated.set(r.session_id, r.score);
    return mine;
  }

  async function loadSurveysTab() {
    if (!state.auth || !surveysOn()) return;
    const me = encodeURIComponent(state.auth.resident_id);
    const [surveys, passport, mine] = await Promise.all([
      api('GET', onActivities('/v1/surveys?open=true')),
      refused('learning_record') ? null : api('GET', `/v1/residents/${me}/passport`),
      loadMine().catch(() => []), // the lists below still show if this fails
    ]);
    if (surveys.status === 200) {
      // answered ones stay on show as answered (the server lists only what is still to answer):
      // those answered here, and those activities says were answered (titles from the answers)
      const listed = new Set(surveys.data.map((s) => s.survey_id));
      const kept = state.surveys.filter((s) => state.answered.has(s.survey_id) && !listed.has(s.survey_id));
      for (const k of kept) listed.add(k.survey_id);
      const recorded = mine.filter((r) => !listed.has(r.survey_id))
        .map((r) => ({ survey_id: r.survey_id, title_zh: r.title_zh, title_en: r.title_en, questions: [] }));
      state.surveys = [...surveys.data, ...kept, ...recorded];
    } else {
      notice(t('error', { msg: message(surveys.data) }));
    }
    if (passport && passport.status === 200) state.passport = passport.data;
    // the attended sessions come from the passport, served with the learning_record purpose only
    state.noRecord = !passport || needsConsent(passport);
    renderSurveys();
    renderRatings();
  }

  // Redrawing (a language switch, a reload of the list) keeps what the resident has typed or ticked.
  function keepInputs(root, draw) {
    const kept = new Map();
    for (const i of root.querySelectorAll('input, textarea')) kept.set(i.id, i.type === 'radio' || i.type === 'checkbox' ? i.checked : i.value);
    const focused = document.activeElement && root.contains(document.activeElement) ? document.activeElement.id : null;
    draw();
    for (const i of root.querySelectorAll('input, textarea')) {
      if (!kept.has(i.id)) continue;
      if (i.type === 'radio' || i.type === 'checkbox') i.checked = kept.get(i.id); else i.value = kept.get(i.id);
    }
    if (focused && $(focused)) $(focused).focus();
  }

  function questionField(q, base, j) {
    const mark = q.required ? ' *' : '';
    const err = el('p', { id: base + '-err', class: 'error', hidden: true });
    if (q.kind === 'text') {
      return el('div', { class: 'field question', 'data-q': String(j), 'data-kind': q.kind },
        el('label', { for: base, text: titled(q) + (q.required ? mark : t('optional')) }),
        el('textarea', { id: base, rows: 3, maxLength: state.config.survey_text_max || 2000, 'aria-describedby': base + '-err' }),
        err);
    }
    const choices = q.kind === 'scale'
      ? Array.from({ length: q.scale_max || 5 }, (_, k) => ({ id: String(k + 1), text: String(k + 1) }))
      : q.options.map((o) => ({ id: o.id, text: labelled(o) }));
    const type = q.kind === 'multiple' ? 'checkbox' : 'radio';
    const box = el('fieldset', { class: 'question' + (q.kind === 'scale' ? ' scale' : ''), 'data-q': String(j), 'data-kind': q.kind,
      'aria-describedby': base + '-err' },
    el('legend', { text: titled(q) + mark }),
    q.kind === 'multiple' ? el('p', { class: 'hint', text: t('pick_any') }) : null,
    q.kind === 'scale' ? el('p', { class: 'hint', text: t('scale_hint', { max: q.scale_max || 5 }) }) : null);
    const options = el('div', { class: q.kind === 'scale' ? 'points' : 'options' });
    choices.forEach((c, k) => options.append(el('div', { class: 'field check' },
      el('input', { id: `${base}-${k}`, type, name: base, value: c.id }),
      el('label', { for: `${base}-${k}`, text: c.text }))));
    box.append(options, err);
    return box;
  }

  function surveyCard(s) {
    const sid = s.survey_id;
    const li = el('li', { 'data-survey': sid }, el('h3', { text: titled(s) }));
    if (s.closes_at) li.append(el('p', { class: 'meta', text: t('closes', { when: when(s.closes_at) }) }));
    const done = state.answered.get(sid);
    if (done) {
      li.append(el('p', { class: 'badge', 'data-state': done, text: t(done === 'closed' ? 'survey_closed' : 'answered') }));
      const at = state.answeredAt.get(sid);
      if (at) li.append(el('p', { class: 'meta', 'data-answered-at': at, text: t('answered_on', { when: when(at) }) }));
      return li;
    }
    const form = el('form', { class: 'survey', 'data-survey': sid, noValidate: true });
    s.questions.forEach((q, j) => form.append(questionField(q, `sv-${domId(sid)}-${j}`, j)));
    form.append(el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: t('submit_survey') })),
      el('p', { class: 'card-error', role: 'alert' }));
    li.append(form);
    return li;
  }

  function renderSurveys() {
    keepInputs($('surveys'), () => $('surveys').replaceChildren(...state.surveys.map(surveyCard)));
    $('surveys-empty').hidden = state.surveys.length > 0;
  }

  function attendedSessions() {
    const seen = new Set();
    const out = [];
    for (const a of [...((state.passport && state.passport.attendance) || [])].reverse()) {
      if (seen.has(a.session_id)) continue;
      seen.add(a.session_id);
      out.push(a);
    }
    return out.slice(0, 20); // the newest twenty sessions: older ones are long past rating
  }

  function ratingCard(a) {
    const sid = a.session_id;
    const base = `rt-${domId(sid)}`;
    const li = el('li', { 'data-rating-session': sid },
      el('h3', { text: named(a.course) || a.course_id }),
      el('p', { class: 'meta', text: [a.date, named(a.venue) || a.venue_id].filter(Boolean).join(' · ') }));
    if (state.rated.has(sid)) {
      const score = state.rated.get(sid);
      li.append(el('p', { class: 'badge', 'data-state': 'rated', 'data-score': score || '',
        text: score ? t('rated_score', { n: score }) : t('rated_already') }));
      return li;
    }
    const points = el('div', { class: 'points' });
    for (let n = 1; n <= 5; n++) {
      points.append(el('div', { class: 'field check' },
        el('input', { id: `${base}-${n}`, type: 'radio', name: base, value: String(n) }),
        el('label', { for: `${base}-${n}`, title: t('score_' + n) }, String(n),
          el('span', { class: 'sr-only', text: ` · ${t('score_' + n)}` }))));
    }
    const form = el('form', { class: 'rating', 'data-session': sid, noValidate: true },
      el('fieldset', { class: 'question scale', 'aria-describedby': base + '-err' },
        el('legend', { text: t('rating_legend') }),
        el('p', { class: 'hint', text: t('rating_scale') }),
        points,
        el('p', { id: base + '-err', class: 'error', hidden: true })),
      el('div', { class: 'field' },
        el('label', { for: base + '-comment', text: t('rating_comment') }),
        el('textarea', { id: base + '-comment', rows: 2, maxLength: state.config.rating_comment_max || 1000,
          'aria-describedby': base + '-comment-err' }),
        el('p', { id: base + '-comment-err', class: 'error', hidden: true })),
      el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: t('rate') })),
      el('p', { class: 'card-error', role: 'alert' }));
    li.append(form);
    return li;
  }

  function renderRatings() {
    const rows = attendedSessions();
    keepInputs($('ratings'), () => $('ratings').replaceChildren(...rows.map(ratingCard)));
    $('ratings-empty').hidden = rows.length > 0;
    $('ratings-empty').textContent = t(state.noRecord ? 'ratings_need_record' : 'no_ratings');
  }

  function clearFormErrors(form) {
    for (const p of form.querySelectorAll('.error')) { p.textContent = ''; p.hidden = true; }
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
    form.querySelector('.card-error').textContent = '';
  }

  function showError(form, errId, text) {
    const p = errId && $(errId);
    if (!p) { form.querySelector('.card-error').textContent = text; return; }
    p.textContent = text;
    p.hidden = false;
    const box = p.closest('.question, .field');
    const input = box && box.querySelector('input, textarea');
    if (input) input.setAttribute('aria-invalid', 'true');
  }

  function collectAnswers(form, s) {
    const answers = [];
    const missing = [];
    s.questions.forEach((q, j) => {
      const box = form.querySelector(`[data-q="${j}"]`);
      let value = null;
      if (q.kind === 'single' || q.kind === 'scale') {
        const c = box.querySelector('input:checked');
        if (c) value = q.kind === 'scale' ? Number(c.value) : c.value;
      } else if (q.kind === 'multiple') {
        const v = [...box.querySelectorAll('input:checked')].map((i) => i.value);
        if (v.length) value = v;
      } else {
        const v = box.querySelector('textarea').value.trim();
        if (v) value = v;
      }
      if (value === null) { if (q.required) missing.push(j); } else answers.push({ j, question_id: q.id, value });
    });
    return { answers, missing };
  }

  async function submitSurvey(form) {
    const sid = form.dataset.survey;
    const s = state.surveys.find((x) => x.survey_id === sid);
    if (!s) return;
    const base = `sv-${domId(sid)}`;
    clearFormErrors(form);
    const { answers, missing } = collectAnswers(form, s);
    if (missing.length) {
      for (const j of missing) showError(form, `${base}-${j}-err`, t('answer_needed'));
      const first = form.querySelector(`[data-q="${missing[0]}"] input, [data-q="${missing[0]}"] textarea`);
      if (first) first.focus();
      return;
    }
    const body = { answers: answers.map(({ question_id, value }) => ({ question_id, value })) };
    const r = await withConsent(() => api('POST', onActivities(`/v1/surveys/${encodeURIComponent(sid)}/responses`), body));
    if (!r) { form.querySelector('.card-error').textContent = t('consent_declined'); return; }
    if (r.status === 201 || r.status === 409) {
      const closed = r.status === 409 && s.closes_at && Date.parse(s.closes_at) <= Date.now();
      state.answered.set(sid, closed ? 'closed' : 'answered');
      if (r.status === 201) {
        state.answeredAt.set(sid, r.data.answered_at);
        notice(t('survey_thanks'), 'ok');
      }
      renderSurveys();
      if (r.status === 409) loadMine().then(renderSurveys).catch(() => {}); // answered elsewhere: when
      return;
    }
    if (needsConsent(r)) { form.querySelector('.card-error').textContent = t('consent_pending'); return; }
    for (const e of errorsAt(r.data)) {
      // ["answers", i, "value"]: the i-th answer sent, i.e. its question
      const i = e.path[0] === 'answers' ? Number(e.path[1]) : NaN;
      const j = Number.isInteger(i) && answers[i] ? answers[i].j : null;
      showError(form, j === null ? null : `${base}-${j}-err`, e.msg);
    }
  }

  async function submitRating(form) {
    const sid = form.dataset.session;
    const base = `rt-${domId(sid)}`;
    clearFormErrors(form);
    const picked = form.querySelector('input[type=radio]:checked');
    if (!picked) { showError(form, base + '-err', t('score_needed')); form.querySelector('input[type=radio]').focus(); return; }
    const score = Number(picked.value);
    const comment = $(base + '-comment').value.trim();
    const body = comment ? { score, comment } : { score };
    const r = await withConsent(() => api('POST', onActivities(`/v1/sessions/${encodeURIComponent(sid)}/satisfaction`), body));
    if (!r) { form.querySelector('.card-error').textContent = t('consent_declined'); return; }
    if (r.status === 201 || r.status === 409) {
      state.rated.set(sid, r.status === 201 ? score : null);
      if (r.status === 201) notice(t('rating_thanks'), 'ok');
      renderRatings();
      if (r.status === 409) loadMine().then(renderRatings).catch(() => {}); // rated elsewhere: the score
      return;
    }
    if (needsConsent(r)) { form.querySelector('.card-error').textContent = t('consent_pending'); return; }
    for (const e of errorsAt(r.data)) {
      const at = { score: base + '-err', comment: base + '-comment-err' }[e.path[0]];
      showError(form, at || null, e.msg);
    }
  }

  // Sends; on a 403 naming `consent`, asks the resident (the notice's words). Resolves with the
  // final answer, or null when the resident does not agree now.
  async function withConsent(send) {
    const r = await send();
    if (!needsConsent(r)) return r;
    if (state.consentWait) state.consentWait.resolve(null); // one question at a time: the newest
    return new Promise((resolve) => {
      state.consentWait = { send, resolve };
      showConsent();
    });
  }

  async function showConsent() {
    if (!state.notice) await loadConsents().catch(() => {});
    fillConsentWords();
    $('survey-consent').hidden = false;
    $('survey-consent-message').textContent = '';
    $('survey-consent-agree').disabled = false;
    $('survey-consent').scrollIntoView({ block: 'start' });
    $('survey-consent-agree').focus();
  }

  function fillConsentWords() {
    if (!state.notice) return;
    $('survey-consent-words').textContent = (state.notice.purposes.surveys || {})[state.lang] || '';
    $('survey-consent-version').textContent = t('notice_version', { v: state.notice.version, d: state.notice.published });
  }

  function endConsent(result) {
    const wait = state.consentWait;
    state.consentWait = null;
    $('survey-consent').hidden = true;
    $('survey-consent-message').textContent = '';
    if (wait) wait.resolve(result);
  }

  async function agreeToSurveys() {
    const wait = state.consentWait;
    if (!wait) return;
    const m = $('survey-consent-message');
    m.textContent = t('consent_saving');
    m.dataset.kind = 'ok';
    const me = encodeURIComponent(state.auth.resident_id);
    const r = await api('PUT', `/v1/residents/${me}/consents/surveys`, { notice_version: state.notice.version });
    if (r.status === 409) { // the notice changed meanwhile: show the current one and ask again
      await loadConsents();
      fillConsentWords();
      m.dataset.kind = '';
      m.textContent = t('notice_changed');
      return;
    }
    if (r.status !== 200) { m.dataset.kind = ''; m.textContent = t('error', { msg: message(r.data) }); return; }
    state.consents = r.data;
    fillPurposes();
    // Activities learns the agreement from enrolment's event: send again until it has.
    let out = null;
    const tries = state.config.consent_retries || 8;
    for (let i = 0; i < tries; i++) {
      out = await wait.send();
      if (!needsConsent(out)) break;
      m.textContent = t('consent_waiting');
      if (i < tries - 1) await sleep(state.config.consent_retry_ms || 1500);
    }
    endConsent(out);
  }

  // --- preference centre ----------------------------------------------------------------------

  function fillCategories() {
    const box = $('categories');
    if (!state.config) return;
    const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
    const first = box.children.length === 0;
    box.replaceChildren(...state.config.categories.map((c) => el('div', { class: 'field check' },
      el('input', { id: 'cat-' + c, type: 'checkbox', value: c, checked: first || checked.has(c) }),
      el('label', { for: 'cat-' + c, text: t('cat_' + c) }))));
    if (state.resident && first) fillPrefs();
  }

  function fillPrefs() {
    const r = state.resident;
    if (!r) return;
    $('consent').checked = r.consent;
    $('channel-sms').checked = r.preferred_channel === 'sms';
    $('channel-email').checked = r.preferred_channel === 'email';
    $('email').value = r.email || '';
    const out = new Set(r.opted_out_categories || []);
    for (const box of $('categories').querySelectorAll('input')) box.checked = !out.has(box.value) && !out.has('all');
    const own = r.quiet_hours_start !== null && r.quiet_hours_start !== undefined;
    $('own-quiet').checked = own;
    $('quiet-start').value = r.quiet_hours_start || '';
    $('quiet-end').value = r.quiet_hours_end || '';
    quietEnabled();
    $('language').value = r.language || 'zh-CN';
    clearErrors();
  }

  function quietEnabled() {
    const on = $('own-quiet').checked;
    $('quiet-start').disabled = !on;
    $('quiet-end').disabled = !on;
  }

  const FIELD_INPUT = {
    consent: 'consent', preferred_channel: 'channel-email', email: 'email', opted_out_categories: null,
    quiet_hours: 'quiet-start', quiet_hours_start: 'quiet-start', quiet_hours_end: 'quiet-end', language: 'language',
  };

  function clearErrors() {
    for (const p of document.querySelectorAll('#prefs .error')) { p.textContent = ''; p.hidden = true; }
    for (const i of document.querySelectorAll('#prefs [aria-invalid]')) i.removeAttribute('aria-invalid');
    $('prefs-message').textContent = '';
    delete $('prefs-message').dataset.kind;
  }

  function fieldError(field, text) {
    const key = field && field.startsWith('quiet_hours') ? 'quiet_hours' : field;
    const p = key && $('err-' + key);
    if (!p) { $('prefs-message').textContent = t('save_failed', { msg: text }); return; }
    p.textContent = text;
    p.hidden = false;
    const input = FIELD_INPUT[field] ? $(FIELD_INPUT[field]) : null;
    if (input) { input.setAttribute('aria-invalid', 'true'); input.setAttribute('aria-describedby', p.id); }
  }

  async function savePrefs(event) {
    event.preventDefault();
    clearErrors();
    const email = $('email').value.trim();
    const channel = $('channel-email').checked ? 'email' : 'sms';
    const own = $('own-quiet').checked;
    const start = $('quiet-start').value;
    const end = $('quiet-end').value;
    let bad = false;
    if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) { fieldError('email', t('email_invalid')); bad = true; }
    if ($('consent').checked && channel === 'email' && !email) { fieldError('email', t('email_needed')); bad = true; }
    if (own && (!start || !end)) { fieldError('quiet_hours', t('quiet_both')); bad = true; }
    if (bad) return;
    const body = {
      consent: $('consent').checked,
      preferred_channel: channel,
      email: email || null,
      opted_out_categories: [...$('categories').querySelectorAll('input')].filter((i) => !i.checked).map((i) => i.value),
      quiet_hours_start: own ? start.slice(0, 5) : null,
      quiet_hours_end: own ? end.slice(0, 5) : null,
      language: $('language').value,
    };
    const r = await api('PATCH', `/v1/residents/${encodeURIComponent(state.auth.resident_id)}`, body);
    if (r.status !== 200) {
      for (const p of problems(r.data)) {
        const field = p.field || (/quiet_hours/.test(p.msg) ? 'quiet_hours' : null);
        fieldError(field, p.msg);
      }
      return;
    }
    state.resident = r.data;
    if (!(await savePurposes())) return;
    fillPrefs();
    fillPurposes();
    $('prefs-message').textContent = t('saved');
    $('prefs-message').dataset.kind = 'ok';
  }

  // --- consent per purpose of the street's privacy notice ---------------------------------------
  // Notifications stay the consent box above (the same decision); the other purposes are listed
  // with the notice's own words, and a change is recorded under the notice's current version.
  const PURPOSES_HERE = ['learning_record', 'surveys'];

  async function loadConsents() {
    const [notice, mine] = await Promise.all([
      fetch('/v1/privacy-notice').then((r) => r.json()),
      api('GET', `/v1/residents/${encodeURIComponent(state.auth.resident_id)}/consents`),
    ]);
    state.notice = notice;
    if (mine.status === 200) state.consents = mine.data;
    fillPurposes();
  }

  function fillPurposes() {
    if (!state.notice || !state.consents) return;
    const granted = new Set(state.consents.purposes.filter((p) => p.granted).map((p) => p.purpose));
    $('purposes').replaceChildren(...PURPOSES_HERE.map((p) => el('div', { class: 'field check' },
      el('input', { id: 'purpose-' + p, type: 'checkbox', value: p, checked: granted.has(p) }),
      el('label', { for: 'purpose-' + p, text: (state.notice.purposes[p] || {})[state.lang] || p }))));
    $('notice-version').textContent = t('notice_version', { v: state.notice.version, d: state.notice.published });
  }

  async function savePurposes() {
    // only what changed: each decision is kept on record, so an unchanged box records nothing
    const granted = new Set(state.consents.purposes.filter((p) => p.granted).map((p) => p.purpose));
    const me = encodeURIComponent(state.auth.resident_id);
    for (const p of PURPOSES_HERE) {
      const box = $('purpose-' + p);
      if (!box || box.checked === granted.has(p)) continue;
      const r = box.checked
        ? await api('PUT', `/v1/residents/${me}/consents/${p}`, { notice_version: state.notice.version })
        : await api('DELETE', `/v1/residents/${me}/consents/${p}`);
      if (r.status !== 200) {
        for (const e of problems(r.data)) fieldError(e.field === 'notice_version' ? 'purpose' : e.field, e.msg);
        return false;
      }
      state.consents = r.data;
    }
    return true;
  }

  // --- wiring ---------------------------------------------------------------------------------

  function wire() {
    $('lang').addEventListener('click', () => {
      state.lang = state.lang === 'zh-CN' ? 'en' : 'zh-CN';
      localStorage.setItem(LANG, state.lang);
      applyLanguage();
    });
    $('sign-out').addEventListener('click', () => signOut(''));
    $('code-form').addEventListener('submit', sendCode);
    $('token-form').addEventListener('submit', verifyCode);
    $('resend').addEventListener('click', () => sendCode());
    const all = [...document.querySelectorAll('#tabs button')];
    const tabs = () => all.filter((x) => !x.hidden);
    for (const b of all) {
      b.addEventListener('click', () => showTab(b.dataset.tab));
      // Arrow keys move between tabs, as a tab list does.
      b.addEventListener('keydown', (e) => {
        const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
        if (!step) return;
        const shown = tabs();
        const next = shown[(shown.indexOf(b) + step + shown.length) % shown.length];
        showTab(next.dataset.tab);
        next.focus();
      });
    }
    $('community').addEventListener('change', () => loadSessions().catch(() => {}));
    $('search').addEventListener('input', () => {
      clearTimeout(state.searchTimer);
      state.searchTimer = setTimeout(() => loadSessions().catch(() => {}), 300);
    });
    $('filter').addEventListener('submit', (e) => { e.preventDefault(); loadSessions().catch(() => {}); });
    document.body.addEventListener('click', (e) => {
      const button = e.target.closest('button');
      if (!button || button.disabled) return;
      const card = button.closest('li');
      const act = (promise) => {
        button.disabled = true;
        promise.catch(() => {}).finally(() => { button.disabled = false; });
      };
      if (button.classList.contains('enrol')) act(enrol(button.dataset.session, card));
      else if (button.classList.contains('cancel')) act(cancel(button.dataset.enrolment, card));
      else if (button.classList.contains('download')) act(download(button.dataset.path, button.dataset.filename));
    });
    for (const [list, submit] of [['surveys', submitSurvey], ['ratings', submitRating]]) {
      $(list).addEventListener('submit', (e) => {
        e.preventDefault();
        const form = e.target;
        const button = form.querySelector('button[type=submit]');
        if (button.disabled) return;
        button.disabled = true;
        submit(form).catch(() => {}).finally(() => { button.disabled = false; });
      });
    }
    $('survey-consent-agree').addEventListener('click', () => {
      const b = $('survey-consent-agree');
      b.disabled = true;
      agreeToSurveys().catch(() => {}).finally(() => { b.disabled = false; });
    });
    $('survey-consent-later').addEventListener('click', () => endConsent(null));
    $('record-consent-agree').addEventListener('click', () => {
      const b = $('record-consent-agree');
      b.disabled = true;
      agreeToRecord().catch(() => {}).finally(() => { b.disabled = false; });
    });
    $('own-quiet').addEventListener('change', quietEnabled);
    $('prefs').addEventListener('submit', (e) => savePrefs(e).catch(() => {}));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && state.auth) refreshEnrolments().catch(() => {});
    });
  }

  async function boot() {
    const [config, words] = await Promise.all([
      fetch('/m/config.json').then((r) => r.json()),
      fetch('/m/assets/i18n.json').then((r) => r.json()),
    ]);
    state.config = config;
    state.i18n = words;
    // The street's language until the resident chooses (or their record says) otherwise.
    state.lang = localStorage.getItem(LANG) === 'en' ? 'en' : 'zh-CN';
    wire();
    applyLanguage();
    const auth = loadAuth();
    if (auth) await start(auth); else signOut('');
    document.body.dataset.ready = 'true';
  }

  boot();
})();
