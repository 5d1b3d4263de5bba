// The local stand-in for https://telegram.org/js/telegram-web-app.js.
// It reads the launch parameters from the URL fragment exactly as the real script does and speaks
// to the embedding client (the sandbox web chat) with the same postMessage events Telegram's web
// clients use: {eventType: "web_app_…", eventData}. Only the surface Mini Apps commonly use is here.
(function () {
  "use strict";
  const hash = new URLSearchParams(location.hash.slice(1));
  const initData = hash.get("tgWebAppData") || "";
  let themeParams = {};
  try { themeParams = JSON.parse(hash.get("tgWebAppThemeParams") || "{}"); } catch (error) { themeParams = {}; }

  function parseInitData(raw) {
    const result = {};
    for (const [key, value] of new URLSearchParams(raw)) {
      if (["user", "receiver", "chat"].includes(key)) {
        try { result[key] = JSON.parse(value); } catch (error) { result[key] = null; }
      } else if (key === "auth_date" || key === "can_send_after") {
        result[key] = Number(value);
      } else {
        result[key] = value;
      }
    }
    return result;
  }

  function post(eventType, eventData) {
    const target = window.parent !== window ? window.parent : null;
    if (target) target.postMessage(JSON.stringify({ eventType, eventData: eventData || {} }), "*");
  }

  const handlers = {};
  function emit(name, ...args) { for (const handler of handlers[name] || []) handler.apply(WebApp, args); }

  function applyTheme() {
    const style = document.documentElement.style;
    for (const [key, value] of Object.entries(themeParams)) style.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
    style.setProperty("--tg-viewport-height", `${window.innerHeight}px`);
    style.setProperty("--tg-viewport-stable-height", `${window.innerHeight}px`);
  }

  function bottomButton(type) {
    const button = {
      type, text: type === "main" ? "Continue" : "Cancel", color: themeParams.button_color || "#3390ec",
      textColor: themeParams.button_text_color || "#ffffff", isVisible: false, isActive: true, isProgressVisible: false,
      setText(text) { button.text = String(text); return sync(); },
      onClick(callback) { WebApp.onEvent("mainButtonClicked", callback); return button; },
      offClick(callback) { WebApp.offEvent("mainButtonClicked", callback); return button; },
      show() { button.isVisible = true; return sync(); },
      hide() { button.isVisible = false; return sync(); },
      enable() { button.isActive = true; return sync(); },
      disable() { button.isActive = false; return sync(); },
      showProgress() { button.isProgressVisible = true; return sync(); },
      hideProgress() { button.isProgressVisible = false; return sync(); },
      setParams(params) {
        if ("text" in params) button.text = String(params.text);
        if ("color" in params) button.color = params.color;
        if ("text_color" in params) button.textColor = params.text_color;
        if ("is_visible" in params) button.isVisible = Boolean(params.is_visible);
        if ("is_active" in params) button.isActive = Boolean(params.is_active);
        return sync();
      },
    };
    function sync() {
      post("web_app_setup_main_button", {
        is_visible: button.isVisible, is_active: button.isActive, is_progress_visible: button.isProgressVisible,
        text: button.text, color: button.color, text_color: button.textColor,
      });
      return button;
    }
    return button;
  }

  const invoiceCallbacks = {};
  const popupCallbacks = [];
  const shareCallbacks = [];

  const WebApp = {
    initData,
    initDataUnsafe: parseInitData(initData),
    version: hash.get("tgWebAppVersion") || "8.0",
    platform: hash.get("tgWebAppPlatform") || "unknown",
    colorScheme: "light",
    themeParams,
    isExpanded: true,
    viewportHeight: window.innerHeight,
    viewportStableHeight: window.innerHeight,
    headerColor: themeParams.header_bg_color || "#ffffff",
    backgroundColor: themeParams.bg_color || "#ffffff",
    isClosingConfirmationEnabled: false,
    isSandbox: true,
    MainButton: null,
    BackButton: {
      isVisible: false,
      show() { this.isVisible = true; post("web_app_setup_back_button", { is_visible: true }); return this; },
      hide() { this.isVisible = false; post("web_app_setup_back_button", { is_visible: false }); return this; },
      onClick(callback) { WebApp.onEvent("backButtonClicked", callback); return this; },
      offClick(callback) { WebApp.offEvent("backButtonClicked", callback); return this; },
    },
    HapticFeedback: {
      impactOccurred() { return this; }, notificationOccurred() { return this; }, selectionChanged() { return this; },
    },
    isVersionAtLeast(version) {
      const [a, b] = [String(WebApp.version).split("."), String(version).split(".")];
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const diff = Number(a[i] || 0) - Number(b[i] || 0);
        if (diff) return diff > 0;
      }
      return true;
    },
    ready() { post("web_app_ready"); },
    expand() { post("web_app_expand"); },
    close() { post("web_app_close"); },
    setHeaderColor(color) { WebApp.headerColor = color; post("web_app_set_header_color", { color }); },
    setBackgroundColor(color) { WebApp.backgroundColor = color; post("web_app_set_background_color", { color }); },
    enableClosingConfirmation() { WebApp.isClosingConfirmationEnabled = true; },
    disableClosingConfirmation() { WebApp.isClosingConfirmationEnabled = false; },
    onEvent(name, callback) { (handlers[name] = handlers[name] || []).push(callback); },
    offEvent(name, callback) { handlers[name] = (handlers[name] || []).filter((h) => h !== callback); },
    sendData(data) { post("web_app_data_send", { data: String(data) }); },
    openLink(url) { post("web_app_open_link", { url }); },
    openTelegramLink(url) {
      const parsed = new URL(url);
      post("web_app_open_tg_link", { path_full: parsed.pathname + parsed.search });
    },
    openInvoice(url, callback) {
      // Same rule as Telegram's script: the slug is the part after t.me/$ or t.me/invoice/.
      const match = String(url).match(/^https?:\/\/t\.me\/(?:\$|invoice\/)([A-Za-z0-9_\-=]+)/);
      if (!match) throw new Error("WebAppInvoiceUrlInvalid");
      const slug = match[1];
      if (callback) invoiceCallbacks[slug] = callback;
      post("web_app_open_invoice", { slug });
    },
    // As Telegram's script: only for a bot with inline mode (tgWebAppBotInline), 256 characters.
    switchInlineQuery(query, chooseChatTypes) {
      if (!WebApp.isVersionAtLeast("6.7")) throw new Error("WebAppMethodUnsupported");
      if (!hash.get("tgWebAppBotInline")) throw new Error("WebAppInlineModeDisabled");
      const text = String(query || "");
      if (text.length > 256) throw new Error("WebAppInlineQueryInvalid");
      const types = Array.isArray(chooseChatTypes) ? chooseChatTypes : [];
      for (const type of types) if (!["users", "bots", "groups", "channels"].includes(type)) throw new Error("WebAppInlineChooseChatTypeInvalid");
      post("web_app_switch_inline_query", { query: text, chat_types: types });
    },
    // Bot API 8.0: a message the bot prepared (savePreparedInlineMessage), sent where the
    // person picks; `callback(true)` once sent.
    shareMessage(msgId, callback) {
      if (!WebApp.isVersionAtLeast("8.0")) throw new Error("WebAppMethodUnsupported");
      shareCallbacks.push(callback || null);
      post("web_app_send_prepared_message", { id: String(msgId) });
    },
    showPopup(params, callback) {
      popupCallbacks.push(callback || null);
      post("web_app_open_popup", { title: params.title || "", message: params.message, buttons: params.buttons || [{ type: "close" }] });
    },
    showAlert(message, callback) { WebApp.showPopup({ message }, callback ? () => callback() : null); },
    showConfirm(message, callback) {
      WebApp.showPopup({ message, buttons: [{ type: "ok", id: "ok", text: "OK" }, { type: "cancel" }] },
        callback ? (id) => callback(id === "ok") : null);
    },
  };
  WebApp.MainButton = bottomButton("main");

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    let message;
    try { message = typeof event.data === "string" ? JSON.parse(event.data) : event.data; } catch (error) { return; }
    const data = message.eventData || {};
    switch (message.eventType) {
      case "main_button_pressed": emit("mainButtonClicked"); break;
      case "back_button_pressed": emit("backButtonClicked"); break;
      case "invoice_closed": {
        const callback = invoiceCallbacks[data.slug];
        delete invoiceCallbacks[data.slug];
        if (callback) callback(data.status);
        emit("invoiceClosed", { url: `https://t.me/$${data.slug}`, status: data.status });
        break;
      }
      case "popup_closed": {
        const callback = popupCallbacks.shift();
        if (callback) callback(data.button_id);
        emit("popupClosed", { button_id: data.button_id });
        break;
      }
      case "prepared_message_sent": {
        const callback = shareCallbacks.shift();
        emit("shareMessageSent");
        if (callback) callback(true);
        break;
      }
      case "prepared_message_failed": {
        const callback = shareCallbacks.shift();
        emit("shareMessageFailed", { error: data.error });
        if (callback) callback(false);
        break;
      }
      case "theme_changed": applyTheme(); emit("themeChanged"); break;
      default: break;
    }
  });

  applyTheme();
  window.Telegram = window.Telegram || {};
  window.Telegram.WebApp = WebApp;
})();
