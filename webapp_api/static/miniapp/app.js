// The Mini App shell: Telegram WebApp glue, the API client, money formatting, hash routing.
// Views live in views/*.js and register themselves; the shell knows none of them by name.
// Texts and number/date formats come from i18n.js, loaded before this file.
"use strict";

(function () {
  const tg = window.Telegram && window.Telegram.WebApp ? window.Telegram.WebApp : null;
  const i18n = window.GVLi18n;
  const { t } = i18n;
  const views = [];
  let current = null;
  let mainButtonHandler = null;

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
    }
  }

  // Every call carries the raw initData. An error is shown in the user's language when the
  // texts know its code (the same `error.<code>` texts the bot uses, filled with the error's
  // details), else as the envelope's message.
  async function request(path, { method = "GET", body, headers = {} } = {}) {
    if (!tg || !tg.initData) throw new ApiError(401, "auth_missing", t("miniapp.error.open_from_telegram"));
    const init = { method, headers: { Authorization: `tma ${tg.initData}`, ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`/api/v1${path}`, init);
    } catch (error) {
      throw new ApiError(0, "network", t("miniapp.error.network"));
    }
    let envelope = null;
    try { envelope = await response.json(); } catch (error) { envelope = null; }
    if (!envelope || typeof envelope.success !== "boolean") {
      throw new ApiError(response.status, "bad_response", t("miniapp.error.bad_response", { status: response.status }));
    }
    if (!envelope.success) {
      const error = envelope.error || {};
      const key = `error.${error.code}`;
      const message = i18n.has(key) ? t(key, error.details || {}) : error.message || t("miniapp.error.generic");
      throw new ApiError(response.status, error.code || "error", message, error.details);
    }
    return { data: envelope.data, pagination: envelope.pagination || null, status: response.status };
  }

  async function api(path, options) { return (await request(path, options)).data; }

  // Amounts are integer strings in the asset's smallest unit: BigInt only, never Number.
  // Grouping and the decimal mark follow the active language ("1,234.5" / "1 234,5").
  const units = {
    format(amount, decimals, { sign = false } = {}) {
      const text = String(amount);
      const negative = text.startsWith("-");
      const value = BigInt(negative ? text.slice(1) : text);
      const base = 10n ** BigInt(decimals);
      const whole = i18n.integer(value / base);
      const fraction = decimals ? (value % base).toString().padStart(decimals, "0").replace(/0+$/, "") : "";
      const prefix = negative ? "−" : sign && value > 0n ? "+" : "";
      return prefix + whole + (fraction ? i18n.decimalSeparator() + fraction : "");
    },
    // "1.5" with 6 decimals → "1500000"; null when the text is not an amount in this asset.
    parse(text, decimals) {
      const match = String(text).trim().replace(",", ".").match(/^(\d+)(?:\.(\d*))?$/);
      if (!match) return null;
      const fraction = match[2] || "";
      if (fraction.length > decimals) return null;
      return BigInt(match[1] + fraction.padEnd(decimals, "0")).toString();
    },
  };

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.classList.toggle("hidden", !message);
  }

  const mainButton = {
    set(text, handler) {
      if (!tg) return;
      if (mainButtonHandler) tg.MainButton.offClick(mainButtonHandler);
      mainButtonHandler = handler;
      tg.MainButton.onClick(handler);
      tg.MainButton.setParams({ text, is_visible: true, is_active: true });
    },
    busy(on) { if (tg) (on ? tg.MainButton.showProgress() : tg.MainButton.hideProgress()); },
    hide() {
      if (!tg) return;
      if (mainButtonHandler) tg.MainButton.offClick(mainButtonHandler);
      mainButtonHandler = null;
      tg.MainButton.hide();
    },
  };

  function confirm(message) {
    return new Promise((resolve) => (tg && tg.showConfirm ? tg.showConfirm(message, resolve) : resolve(window.confirm(message))));
  }

  // Stars purchases: the API makes an invoice link, Telegram shows the payment sheet.
  // Resolves with Telegram's status: "paid", "cancelled", "failed" or "pending".
  function pay(invoiceUrl) {
    if (!tg || !tg.openInvoice) return Promise.resolve("failed");
    return new Promise((resolve) => tg.openInvoice(invoiceUrl, resolve));
  }

  function parseRoute() {
    const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
    return { id: path || views[0].id, params: new URLSearchParams(query) };
  }

  async function route() {
    const { id, params } = parseRoute();
    const view = views.find((v) => v.id === id) || views[0];
    if (current && current.leave) current.leave();
    current = view;
    mainButton.hide();
    showError("");
    for (const tab of document.querySelectorAll("#tabs a")) tab.classList.toggle("active", tab.dataset.view === view.id);
    const container = document.getElementById("view");
    container.replaceChildren(el("div", { class: "loading" }, t("miniapp.loading")));
    try {
      await view.render(container, params);
    } catch (error) {
      container.replaceChildren();
      showError(error.message || String(error));
    }
  }

  function renderTabs() {
    const { id } = parseRoute();
    document.getElementById("tabs").replaceChildren(...views.map((view) =>
      el("a", { href: `#/${view.id}`, "data-view": view.id, "data-testid": `tab-${view.id}`, class: view.id === id ? "active" : null }, t(view.titleKey))));
  }

  // The profile is read once per app open and shared: the shell needs its language, the
  // profile view shows it. A failed read is not kept, so the next look tries again.
  let profile = null;
  function me() {
    return (profile = profile || api("/me").catch((e) => { profile = null; throw e; }));
  }

  async function useLanguage(language, { rerender = false } = {}) {
    if (language !== i18n.language()) {
      await i18n.load(language);
      rerender = true;
    }
    if (!rerender) return;
    renderTabs();
    await route();
  }

  // The user's choice is saved first (the bot speaks it too), then the app follows; the
  // view is drawn again even in the same language, since the saved profile changed.
  async function setLanguage(language) {
    const updated = await api("/me", { method: "PATCH", body: { language } });
    profile = Promise.resolve(updated);
    await useLanguage(updated.language, { rerender: true });
  }

  // Without texts there is no language to speak, so the only thing shown is a retry arrow.
  function textsFailed(error) {
    console.error(error);
    document.getElementById("view").replaceChildren(
      el("button", { class: "more", type: "button", "data-testid": "retry", onclick: () => location.reload() }, "↻"));
  }

  // The first view: one that claims the launch (a `startapp` parameter such as gift_…, or the
  // page's own query) with `opens({startParam, search})` → its route query; else the first tab.
  function launchRoute() {
    const launch = {
      startParam: (tg && tg.initDataUnsafe && tg.initDataUnsafe.start_param) || "",
      search: new URLSearchParams(location.search),
    };
    for (const view of views) {
      const query = view.opens ? view.opens(launch) : null;
      if (query !== null && query !== undefined) return `${view.id}${query ? "?" + query : ""}`;
    }
    return views[0].id;
  }

  async function start() {
    views.sort((a, b) => a.order - b.order);
    // Telegram hands launch parameters over in the fragment; once its script has read them,
    // the fragment belongs to the router.
    // Telegram also passes the start parameter as ?tgWebAppStartParam=: it may be a gift
    // link's secret, so it leaves the address (and any Referer) at once.
    const search = new URLSearchParams(location.search);
    search.delete("tgWebAppStartParam");
    const query = search.toString() ? `?${search}` : "";
    if (location.hash.startsWith("#tgWebApp")) history.replaceState(null, "", `${location.pathname}${query}#/${launchRoute()}`);
    if (tg) { tg.ready(); tg.expand(); }
    // First paint in the Telegram client's language (known without a request to our API),
    // then the profile's language, which may be the user's own choice, if it differs.
    const user = tg && tg.initDataUnsafe && tg.initDataUnsafe.user;
    try {
      await i18n.load(user && user.language_code);
    } catch (error) {
      return textsFailed(error);
    }
    renderTabs();
    window.addEventListener("hashchange", route);
    const first = route();
    if (tg && tg.initData) {
      me().then((mine) => first.then(() => useLanguage(mine.language)))
        .catch((error) => console.warn("staying in the client's language:", error));
      if (window.GVL.live) window.GVL.live.start();
    }
  }

  window.GVL = {
    tg, api, request, ApiError, units, el, showError, mainButton, confirm, pay, start, me, setLanguage,
    // Draws the open view again from the API when it shows state a live event changed (a
    // view with `live: true`); a form being filled in is left alone.
    refresh: () => (current && current.live ? route() : undefined),
    t, textOr: i18n.textOr, language: i18n.language, languages: i18n.languages, date: i18n.date,
    // A view: {id, titleKey, order, render(container, params), leave?(), live?, opens?(launch)}.
    register(view) { views.push(view); },
    navigate(id, query) { location.hash = `#/${id}${query ? "?" + query : ""}`; },
    // The asset list changes rarely; one read per app open is enough.
    // The platform's own token leads every list; the rest keep the API's order.
    assets: (() => {
      let cached = null;
      const ordered = (list) => [...list].sort((a, b) => (b.code === "VIBE") - (a.code === "VIBE"));
      return () => (cached = cached || api("/assets").then(ordered).catch((e) => { cached = null; throw e; }));
    })(),
  };
})();
