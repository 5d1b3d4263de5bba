// The Mini App's language: Fluent messages from GET /api/v1/texts, formatted with
// @fluent/bundle (vendor/fluent-bundle, loaded before this file), and Intl formatting in that
// language. No text lives in the JS or HTML: every word the user reads is a message in
// services/i18n/locales/<lang>/*.ftl, the same files the bot formats in Python.
"use strict";

(function () {
  const FALLBACK = "en";
  const { FluentBundle, FluentResource } = window.FluentBundle;
  let language = FALLBACK;
  let languages = [FALLBACK];
  // In lookup order: the active language, then English for a message it lacks.
  let bundles = [];

  // Keys are written as the bot writes them ("miniapp.send.title"); Fluent ids cannot hold
  // dots, so the catalog stores "miniapp-send-title" (services/i18n/catalog.py, message_id).
  const messageId = (key) => key.replace(/\./g, "-");

  function find(key) {
    const id = messageId(key);
    for (const bundle of bundles) {
      const message = bundle.getMessage(id);
      if (message && message.value) return { bundle, message };
    }
    return null;
  }

  // Numbers in `params` pick plural forms and are written the language's way; strings go in
  // as they are. The result is plain text: callers put it in with textContent, never innerHTML.
  function t(key, params = {}) {
    const found = find(key);
    if (found === null) {
      console.warn(`missing text ${key}`);
      return key;
    }
    const errors = [];
    const text = found.bundle.formatPattern(found.message.value, params, errors);
    if (errors.length) console.warn(`text ${key}:`, ...errors);
    return text;
  }

  function has(key) { return find(key) !== null; }

  // For keys built from API values (a status, a role, a transaction code) that may be newer
  // than this app's texts: the API's own word is better than a raw key.
  function textOr(key, fallback) { return has(key) ? t(key) : fallback; }

  // "ru-RU" → "ru": the API speaks in base languages.
  function base(code) { return String(code || "").split("-")[0].toLowerCase() || FALLBACK; }

  async function fetchTexts(lang) {
    const response = await fetch(`/api/v1/texts?lang=${encodeURIComponent(lang)}`);
    const envelope = await response.json();
    if (!envelope.success) {
      const error = new Error(envelope.error && envelope.error.message);
      error.status = response.status;
      throw error;
    }
    return envelope.data;
  }

  function bundleOf({ language: lang, source }) {
    // No Unicode isolation marks around placeables, as in the bot (catalog.py says why): the
    // app's strings must read exactly as the bot's.
    const bundle = new FluentBundle(lang, { useIsolating: false });
    const errors = bundle.addResource(new FluentResource(source));
    if (errors.length) console.warn(`texts ${lang}:`, ...errors);
    return bundle;
  }

  // A language the API does not have (422) means English; anything else is a real failure.
  async function load(code) {
    let data;
    try {
      data = await fetchTexts(base(code));
    } catch (error) {
      if (error.status !== 422) throw error;
      data = await fetchTexts(FALLBACK);
    }
    ({ language, languages } = data);
    bundles = data.resources.map(bundleOf);
    document.documentElement.lang = language;
    return language;
  }

  const decimalSeparator = () =>
    new Intl.NumberFormat(language).formatToParts(1.5).find((part) => part.type === "decimal").value;

  window.GVLi18n = {
    t, has, textOr, load,
    language: () => language,
    languages: () => languages,
    // Grouped digits of a whole BigInt: Intl formats BigInt exactly, no Number on the way.
    integer(value) { return new Intl.NumberFormat(language).format(value); },
    decimalSeparator,
    date(iso) { return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso)); },
  };
})();
