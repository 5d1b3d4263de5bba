// The Mini App's language: texts from GET /api/v1/texts, and Intl formatting in that language.
// No text lives in the JS or HTML: every word the user reads is a key in
// services/i18n/locales/<lang>/miniapp.json.
"use strict";

(function () {
  const FALLBACK = "en";
  let language = FALLBACK;
  let languages = [FALLBACK];
  let texts = {};

  // Python str.format style, as in the catalog: "{name}" is a parameter, "{{" and "}}" are braces.
  // The result is plain text: callers put it in with textContent, never innerHTML.
  function t(key, params = {}) {
    const template = texts[key];
    if (template === undefined) {
      console.warn(`missing text ${key}`);
      return key;
    }
    return template.replace(/\{\{|\}\}|\{(\w+)\}/g, (match, name) =>
      name === undefined ? match[0] : String(params[name] ?? match));
  }

  function has(key) { return Object.prototype.hasOwnProperty.call(texts, key); }

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

  // A language the API does not have (422) means English; anything else is a real failure.
  async function load(code) {
    let data;
    try {
      data = await fetchTexts(base(code));
    } catch (error) {
      if (error.status !== 422) throw error;
      data = await fetchTexts(FALLBACK);
    }
    ({ language, languages, texts } = data);
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
