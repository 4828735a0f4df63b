// Sign-in at an OpenID Connect provider for the dashboard, a public browser client: the
// authorization-code flow with PKCE (RFC 7636, S256), against the standard endpoints of the
// issuer's discovery document only, so any conforming provider works and no provider library is
// loaded. Tokens live in this tab's sessionStorage (never localStorage: they must not outlive the
// tab or reach other tabs) and in memory.
"use strict";

(function () {
  const PENDING_KEY = "learnstreet.dashboard.oidc.pending";
  const SESSION_KEY = "learnstreet.dashboard.oidc.session";
  // Refresh this long before the access token expires, so no API call carries an expired one.
  const REFRESH_MARGIN_S = 30;
  // A sign-in that has not come back within this time is abandoned (its verifier is discarded).
  const PENDING_MAX_MS = 10 * 60 * 1000;

  class SignInError extends Error {
    constructor(code, detail) {
      super(detail ? `${code}: ${detail}` : code);
      this.code = code;
    }
  }

  function base64url(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return base64url(a);
  }

  async function s256(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return base64url(new Uint8Array(digest));
  }

  // A JWT's claims, for reading (names, roles, nonce): the services verify every token themselves.
  function claims(jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const binary = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="));
      const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  function claimAt(obj, path) {
    if (!obj) return undefined;
    if (Object.prototype.hasOwnProperty.call(obj, path)) return obj[path];
    let v = obj;
    for (const key of path.split(".")) {
      if (v === null || typeof v !== "object") return undefined;
      v = v[key];
    }
    return v;
  }

  class Client {
    // config: /dashboard/config.json (issuer, client_id, scope); redirectUri: this page's address.
    constructor(config, redirectUri) {
      this.config = config;
      this.redirectUri = redirectUri;
      this.doc = null;
      this.session = null;
      this.refreshing = null;
      this.timer = null;
      this.onExpired = () => {};
      try {
        this.session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      } catch (e) {
        this.session = null;
      }
    }

    async discover() {
      if (this.doc) return this.doc;
      const url = `${this.config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
      const response = await fetch(url, { cache: "no-cache" });
      if (!response.ok) throw new SignInError("provider_unreachable", `HTTP ${response.status}`);
      const doc = await response.json();
      // A document for another issuer would send the user's credentials elsewhere.
      if (doc.issuer !== this.config.issuer) throw new SignInError("issuer_mismatch", doc.issuer);
      this.doc = doc;
      return doc;
    }

    async signIn(locale) {
      const doc = await this.discover();
      const pending = { state: randomString(16), nonce: randomString(16), verifier: randomString(48), at: Date.now() };
      sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
      const params = new URLSearchParams({
        response_type: "code",
        client_id: this.config.client_id,
        redirect_uri: this.redirectUri,
        scope: this.config.scope || "openid",
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: await s256(pending.verifier),
        code_challenge_method: "S256",
      });
      if (locale) params.set("ui_locales", locale);
      window.location.assign(`${doc.authorization_endpoint}?${params}`);
    }

    // Back from the provider (?code=&state= or ?error=): exchange the code, check state and nonce.
    // Returns true when a sign-in was completed, false when the address carried none.
    async completeSignIn() {
      const url = new URL(window.location.href);
      const code = url.searchParams.get("code");
      const error = url.searchParams.get("error");
      const returned = url.searchParams.get("state");
      if (!code && !error) return false;
      // The code and state must not stay in the address bar, the history or a bookmark.
      for (const k of ["code", "state", "session_state", "iss", "error", "error_description"]) url.searchParams.delete(k);
      window.history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
      let pending = null;
      try {
        pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
      } catch (e) {
        pending = null;
      }
      sessionStorage.removeItem(PENDING_KEY);
      // A response this tab did not ask for (forged link, replay, another tab's flow) is dropped.
      if (!pending || !returned || returned !== pending.state) throw new SignInError("state_mismatch");
      if (Date.now() - pending.at > PENDING_MAX_MS) throw new SignInError("sign_in_expired");
      if (error) throw new SignInError("provider_error", error);
      const doc = await this.discover();
      const tokens = await this.tokenRequest(doc, {
        grant_type: "authorization_code",
        code,
        redirect_uri: this.redirectUri,
        client_id: this.config.client_id,
        code_verifier: pending.verifier,
      });
      const id = claims(tokens.id_token || "");
      // The code came back over this browser, so the ID token is checked before it is believed:
      // who issued it, for whom, for this sign-in (nonce), and not expired.
      const audience = id && (Array.isArray(id.aud) ? id.aud : [id.aud]);
      if (!id || id.iss !== this.config.issuer || !audience.includes(this.config.client_id)) {
        throw new SignInError("id_token_invalid");
      }
      if (id.nonce !== pending.nonce) throw new SignInError("nonce_mismatch");
      if (typeof id.exp !== "number" || id.exp * 1000 < Date.now() - 60000) throw new SignInError("id_token_expired");
      this.keep(tokens);
      return true;
    }

    async tokenRequest(doc, form) {
      const response = await fetch(doc.token_endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams(form),
        cache: "no-store",
        credentials: "omit",
      });
      let body = null;
      try {
        body = await response.json();
      } catch (e) {
        body = null;
      }
      if (!response.ok || !body || !body.access_token) {
        throw new SignInError("token_refused", (body && (body.error_description || body.error)) || `HTTP ${response.status}`);
      }
      return body;
    }

    keep(tokens) {
      const now = Date.now();
      const previous = this.session || {};
      this.session = {
        access_token: tokens.access_token,
        // A refresh response may omit the ID token; the sign-out still needs one as its hint.
        id_token: tokens.id_token || previous.id_token || null,
        refresh_token: tokens.refresh_token || null,
        expires_at: now + 1000 * (Number(tokens.expires_in) || 60),
        refresh_expires_at: tokens.refresh_expires_in ? now + 1000 * Number(tokens.refresh_expires_in) : null,
        refreshed: (previous.refreshed || 0) + (previous.access_token ? 1 : 0),
      };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
      this.schedule();
    }

    // Silent refresh: a new access token with the refresh token shortly before the current one
    // expires, without leaving the page; when the provider refuses (session ended, signed out
    // elsewhere), the page asks for a sign-in again.
    schedule() {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (!this.session || !this.session.refresh_token) return;
      const due = this.session.expires_at - REFRESH_MARGIN_S * 1000 - Date.now();
      this.timer = setTimeout(() => this.refresh().catch(() => this.expire()), Math.max(1000, due));
    }

    refresh() {
      if (this.refreshing) return this.refreshing;
      this.refreshing = (async () => {
        try {
          if (!this.session || !this.session.refresh_token) throw new SignInError("no_refresh_token");
          const doc = await this.discover();
          const tokens = await this.tokenRequest(doc, {
            grant_type: "refresh_token",
            refresh_token: this.session.refresh_token,
            client_id: this.config.client_id,
          });
          this.keep(tokens);
          return this.session.access_token;
        } finally {
          this.refreshing = null;
        }
      })();
      return this.refreshing;
    }

    expire() {
      this.forget();
      this.onExpired();
    }

    // The access token for an API call, refreshed first when it is about to expire (a timer may
    // have been throttled in a background tab).
    async accessToken() {
      if (!this.session) return null;
      if (this.session.expires_at - REFRESH_MARGIN_S * 1000 <= Date.now() && this.session.refresh_token) {
        try {
          await this.refresh();
        } catch (e) {
          this.expire();
          return null;
        }
      }
      return this.session ? this.session.access_token : null;
    }

    forget() {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.session = null;
      sessionStorage.removeItem(SESSION_KEY);
      sessionStorage.removeItem(PENDING_KEY);
    }

    // Ends the provider's session too (RP-initiated logout), so the next sign-in asks for the
    // password again; the provider sends the browser back to this page.
    async signOut() {
      const idToken = this.session && this.session.id_token;
      this.forget();
      let doc = null;
      try {
        doc = await this.discover();
      } catch (e) {
        doc = null;
      }
      if (!doc || !doc.end_session_endpoint) {
        window.location.assign(this.redirectUri);
        return;
      }
      const params = new URLSearchParams({ client_id: this.config.client_id, post_logout_redirect_uri: this.redirectUri });
      if (idToken) params.set("id_token_hint", idToken);
      window.location.assign(`${doc.end_session_endpoint}?${params}`);
    }
  }

  window.DashboardAuth = { Client, SignInError, claims, claimAt };
})();
