// The sign-in wiring both operator pages share (the dashboard, app.js; the district page,
// district.js): the service's auth mode from /dashboard/config.json and, under the identity
// provider, its client (oidc.js); in development a token taken from ?token= or pasted into the
// page's token form, kept in this tab's sessionStorage.
"use strict";

(function () {
  const TOKEN_KEY = "learnstreet.dashboard.token";

  // /dashboard/config.json; token mode when it cannot be read.
  function loadConfig() {
    return fetch("/dashboard/config.json", { cache: "no-cache" }).then((r) => r.json()).catch(() => ({ mode: "token" }));
  }

  // The identity provider's client for the page at `path` (its redirect URI); null in token mode.
  function client(config, path) {
    if (config.mode === "oidc" && config.issuer && config.client_id) {
      return new window.DashboardAuth.Client(config, `${window.location.origin}${path}`);
    }
    return null;
  }

  // The development token: from ?token= (kept only without the identity provider, under which a
  // pasted token is never taken, not even from the address) or from an earlier visit of this tab.
  function takeToken(auth) {
    const url = new URL(window.location.href);
    const fromUrl = url.searchParams.get("token");
    if (fromUrl) {
      if (!auth) sessionStorage.setItem(TOKEN_KEY, fromUrl);
      // A token must not linger in the address bar, the history or a bookmark.
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
    }
    return auth ? null : sessionStorage.getItem(TOKEN_KEY);
  }

  // The token form: a pasted token is kept for this tab and handed to `onToken`.
  function onTokenForm(onToken) {
    document.getElementById("auth-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = document.getElementById("token-input");
      const value = input.value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      input.value = "";
      onToken(value);
    });
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
  }

  window.AuthUI = { loadConfig, client, takeToken, onTokenForm, forgetToken };
})();
