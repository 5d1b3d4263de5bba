// The web chat: acts as a Telegram client for one local user at a time.
// It only reads what the sandbox's Bot API recorded and turns taps into updates.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774"];
const chat = { bot: null, users: [], userId: null, version: -1, noticeId: 0, poll: null, pendingStart: null, openSlug: null };

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch("/sandbox/api" + path, init);
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function color(id) { return COLORS[Number(BigInt(id) % 7n)]; }
function currentUser() { return chat.users.find((u) => u.id === chat.userId) || null; }

// --- users ---------------------------------------------------------------------------------

async function loadUsers() {
  chat.users = await api("/users");
  const list = $("users");
  list.replaceChildren(...chat.users.map((user) => el("li",
    { class: user.id === chat.userId ? "active" : "", "data-user-id": String(user.id), onclick: () => selectUser(user.id) },
    el("div", { class: "avatar", style: `background:${color(user.id)}` }, (user.first_name[0] || "?").toUpperCase()),
    el("div", {},
      el("div", { class: "name" }, `${user.first_name}${user.last_name ? " " + user.last_name : ""}${user.is_premium ? " ⭐" : ""}`),
      el("div", { class: "meta" }, `${user.username ? "@" + user.username + " · " : ""}${user.id} · ${user.language_code}`)))));
}

async function selectUser(id) {
  chat.userId = id;
  chat.version = -1;
  chat.noticeId = Infinity; // notices from before this page opened are history, not news
  const url = new URL(location.href);
  url.searchParams.set("user", String(id));
  history.replaceState(null, "", url);
  await loadUsers();
  const user = currentUser();
  $("acting").textContent = user ? `acting as ${user.first_name} (${user.id})` : "";
  $("text").disabled = $("send-button").disabled = !user;
  closeMiniApp();
  showDeepLink();
  restartPolling();
}

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const user = await api("/users", {
    first_name: form.get("first_name"), username: form.get("username"), id: form.get("id") || null,
    language_code: form.get("language_code"), is_premium: form.get("is_premium") === "on",
  });
  event.target.reset();
  $("new-user").open = false;
  await selectUser(user.id);
});

// --- deep links -----------------------------------------------------------------------------

function parseLink(link) {
  try {
    const url = new URL(link, location.href);
    const isBot = url.hostname === "t.me" || url.hostname === location.hostname;
    if (!isBot) return null;
    if (url.searchParams.has("start")) return { start: url.searchParams.get("start") };
    if (url.searchParams.has("startapp")) return { startapp: url.searchParams.get("startapp") };
    if (url.pathname.startsWith("/$")) return { invoice: url.pathname.slice(2) };
    return url.hostname === "t.me" ? { start: "" } : null;
  } catch (error) { return null; }
}

function openLink(link) {
  const parsed = parseLink(link);
  if (!parsed) { window.open(link, "_blank", "noopener"); return; }
  if (parsed.invoice) { payInvoice(parsed.invoice); return; }
  chat.pendingStart = parsed;
  showDeepLink();
}

function showDeepLink() {
  const pending = chat.pendingStart;
  if (!pending || !chat.userId) { $("deep-link").classList.add("hidden"); return; }
  const bot = chat.bot ? chat.bot.username : "bot";
  const what = pending.startapp !== undefined ? `startapp=${pending.startapp}` : pending.start ? `start=${pending.start}` : "";
  $("deep-link-text").textContent = `You opened t.me/${bot}${what ? "?" + what : ""}`;
  $("deep-link-start").textContent = pending.startapp !== undefined ? "OPEN APP" : "START";
  $("deep-link").classList.remove("hidden");
}

$("deep-link-start").addEventListener("click", async () => {
  const pending = chat.pendingStart;
  chat.pendingStart = null;
  showDeepLink();
  if (pending.startapp !== undefined) { await openMiniApp(defaultWebAppUrl(), pending.startapp, "App"); return; }
  await sendText(pending.start ? `/start ${pending.start}` : "/start");
});

$("link-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const link = new FormData(event.target).get("link").trim();
  if (!link) return;
  openLink(link.includes("://") ? link : `https://t.me/${chat.bot.username}?start=${link}`);
  event.target.reset();
});

function defaultWebAppUrl() {
  // The app the bot last offered with a web_app button; the platform's default otherwise.
  for (const message of [...(chat.lastMessages || [])].reverse()) {
    for (const row of message.reply_markup?.inline_keyboard || []) {
      for (const button of row) if (button.web_app) return button.web_app.url;
    }
  }
  return chat.bot.webapp_url;
}

// --- the conversation -----------------------------------------------------------------------

function restartPolling() {
  if (chat.poll) chat.poll.abort();
  if (!chat.userId) return;
  const controller = new AbortController();
  chat.poll = controller;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(`/sandbox/api/chats/${chat.userId}?version=${chat.version}`, { signal: controller.signal });
        if (!response.ok) throw new Error(await response.text());
        const data = await response.json();
        if (controller.signal.aborted) return;
        chat.version = data.version;
        render(data);
      } catch (error) {
        if (controller.signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();
}

async function sendText(text) {
  if (!chat.userId || !text.trim()) return;
  await api(`/chats/${chat.userId}/send`, { text });
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value;
  $("text").value = "";
  $("commands-menu").classList.add("hidden");
  inline.asked++;
  hideInline();
  await sendText(text);
});

$("menu-button").addEventListener("click", () => $("commands-menu").classList.toggle("hidden"));

// --- inline mode: "@bot query" in the input asks the bot, as Telegram's clients do ---------------

const inline = { timer: null, asked: 0 };

function inlineQueryOf(text) {
  const prefix = `@${chat.bot.username}`;
  if (!text.startsWith(prefix)) return null;
  const rest = text.slice(prefix.length);
  return rest === "" || rest.startsWith(" ") ? rest.trim() : null;
}

function hideInline() { $("inline-results").classList.add("hidden"); }

async function askInline(query) {
  const asked = ++inline.asked;
  let answer;
  try { answer = await api(`/chats/${chat.userId}/inline`, { query }); } catch (error) { if (asked === inline.asked) hideInline(); return; }
  if (asked !== inline.asked) return; // a newer query is on its way
  const box = $("inline-results");
  const items = [];
  if (answer.button) {
    items.push(el("div", { class: "switch", "data-testid": "inline-switch", onclick: () => switchFromInline(answer.button) }, answer.button.text));
  }
  for (const result of answer.results || []) {
    items.push(el("div", { class: "result", "data-testid": "inline-result", "data-result-id": String(result.id), onclick: () => chooseInline(result.id) },
      el("div", { class: "title" }, result.title || result.id), ...(result.description ? [el("div", { class: "desc" }, result.description)] : [])));
  }
  box.replaceChildren(...items);
  box.classList.toggle("hidden", items.length === 0);
}

async function chooseInline(resultId) {
  hideInline();
  $("text").value = "";
  await api(`/chats/${chat.userId}/inline/choose`, { result_id: resultId });
}

async function switchFromInline(button) {
  hideInline();
  if (button.web_app) await openMiniApp(button.web_app.url, null, button.text);
  else if (button.start_parameter !== undefined) await sendText(`/start ${button.start_parameter}`);
}

function typed() {
  clearTimeout(inline.timer);
  const query = chat.bot ? inlineQueryOf($("text").value) : null;
  if (query === null) { inline.asked++; hideInline(); return; }
  // Typing is not asking: the client waits for a pause, so each keystroke is not a query.
  inline.timer = setTimeout(() => askInline(query), 350);
}

$("text").addEventListener("input", typed);

function render(data) {
  chat.lastMessages = data.messages;
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const nodes = data.messages.flatMap(renderMessageOnce);
  if (!nodes.length) nodes.push(el("div", { class: "empty" }, "No messages here yet. Press START or send /start."));
  box.replaceChildren(...nodes);
  if (atBottom || chat.version <= 1 || box.dataset.user !== String(chat.userId)) box.scrollTop = box.scrollHeight;
  box.dataset.user = String(chat.userId);
  renderBlocked(data.blocked);
  renderAction(data.action);
  renderReplyKeyboard(data.blocked ? null : data.reply_keyboard);
  renderCommands(data.commands || []);
  renderNotices(data.notices || []);
}

// Unchanged messages keep their nodes, so a playing video or audio survives new messages.
const rendered = new Map();
function renderMessageOnce(message) {
  const id = `${chat.userId}:${message.message_id}`;
  const key = JSON.stringify(message);
  const hit = rendered.get(id);
  if (hit && hit.key === key) return hit.nodes;
  const nodes = renderMessage(message);
  rendered.set(id, { key, nodes });
  return nodes;
}

function renderMessage(message) {
  const out = message.from && message.from.id === chat.userId;
  const time = new Date(message.date * 1000).toTimeString().slice(0, 5);
  if (message.successful_payment) {
    const p = message.successful_payment;
    return [el("div", { class: "service", "data-testid": "payment-done" }, `You paid ${stars(p)} · ${p.invoice_payload}`)];
  }
  if (message.refunded_payment) {
    return [el("div", { class: "service" }, `${stars(message.refunded_payment)} refunded`)];
  }
  const bubble = el("div", { class: "msg" + (out ? " out" : "") + (message.invoice ? " invoice" : ""), "data-message-id": String(message.message_id), "data-testid": out ? "msg-out" : "msg-in" });
  if (message.photo) bubble.append(el("img", { src: fileUrl(message.photo[message.photo.length - 1]), alt: "photo" }));
  if (message.video || message.animation) bubble.append(el("video", { src: fileUrl(message.video || message.animation), controls: "" }));
  if (message.audio || message.voice) bubble.append(el("audio", { src: fileUrl(message.audio || message.voice), controls: "" }));
  if (message.document) {
    bubble.append(el("a", { class: "doc", href: fileUrl(message.document), download: message.document.file_name || "file" },
      el("div", { class: "icon" }, "⬇"), message.document.file_name || "document"));
  }
  if (message.invoice) {
    const inv = message.invoice;
    bubble.append(el("div", { class: "inv-title" }, inv.title), el("div", { class: "inv-desc" }, inv.description),
      el("div", { class: "inv-price" }, stars(inv)));
  }
  if (message.via_bot) bubble.append(el("div", { class: "via", "data-testid": "msg-via" }, `via @${message.via_bot.username}`));
  const text = message.text ?? message.caption;
  if (text) bubble.append(el("div", { class: "text", "data-testid": "msg-text" }, renderEntities(text, message.entities || message.caption_entities || [])));
  bubble.append(el("span", { class: "time" }, time + (message.edit_date ? " · edited" : "")));
  const nodes = [bubble];
  const rows = message.reply_markup?.inline_keyboard || (message.invoice ? [[{ text: `Pay ${stars(message.invoice)}`, pay: true }]] : null);
  if (rows) nodes.push(renderInlineKeyboard(message, rows));
  return nodes;
}

function stars(payment) {
  return payment.currency === "XTR" ? `⭐ ${payment.total_amount}` : `${payment.total_amount} ${payment.currency}`;
}

function fileUrl(file) { return `/sandbox/api/files/${encodeURIComponent(file.file_id)}`; }

function renderInlineKeyboard(message, rows) {
  return el("div", { class: "keyboard", "data-testid": "inline-keyboard" }, ...rows.map((row) => el("div", { class: "krow" },
    ...row.map((button) => {
      const kind = button.web_app ? "↗" : button.url ? "🔗" : "";
      const attrs = { type: "button", "data-testid": "inline-button", onclick: () => pressInline(message, button) };
      if (button.callback_data !== undefined) attrs["data-callback"] = button.callback_data;
      return el("button", attrs,
        button.text, ...(kind ? [el("span", { class: "kind" }, kind)] : []));
    }))));
}

async function pressInline(message, button) {
  if (button.callback_data !== undefined) {
    await api(`/chats/${chat.userId}/press`, { message_id: message.message_id, data: button.callback_data });
  } else if (button.web_app) {
    await openMiniApp(button.web_app.url, null, button.text);
  } else if (button.url) {
    openLink(button.url);
  } else if (message.invoice) {
    // Telegram's pay button (the default one, or the bot's own `pay: true` button).
    await payInvoice(message.sandbox_invoice_slug);
  }
}

// Entities use UTF-16 offsets, which is exactly how JavaScript strings index.
function renderEntities(text, entities) {
  const cuts = new Set([0, text.length]);
  for (const e of entities) { cuts.add(e.offset); cuts.add(e.offset + e.length); }
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  const fragment = document.createDocumentFragment();
  for (let i = 0; i < points.length - 1; i++) {
    const [start, end] = [points[i], points[i + 1]];
    const active = entities.filter((e) => e.offset <= start && e.offset + e.length >= end);
    let node = linkify(text.slice(start, end), active.some((e) => e.type === "text_link" || e.type === "code" || e.type === "pre"));
    for (const entity of active.reverse()) node = wrap(entity, node);
    fragment.append(node);
  }
  return fragment;
}

function wrap(entity, child) {
  const tags = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre", blockquote: "blockquote", expandable_blockquote: "blockquote" };
  if (entity.type === "text_link" || entity.type === "url") {
    const href = entity.url || child.textContent;
    return el("a", { href, onclick: (event) => { event.preventDefault(); openLink(href); } }, child);
  }
  if (entity.type === "spoiler") return el("span", { class: "spoiler", onclick: (event) => event.currentTarget.classList.add("shown") }, child);
  if (entity.type === "bot_command") return el("a", { href: "#", onclick: (event) => { event.preventDefault(); sendText(child.textContent); } }, child);
  return tags[entity.type] ? el(tags[entity.type], {}, child) : child;
}

function linkify(text, inLink) {
  const fragment = document.createDocumentFragment();
  if (inLink) { fragment.append(text); return fragment; }
  let last = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s<>"]+/g)) {
    fragment.append(text.slice(last, match.index));
    const href = match[0];
    fragment.append(el("a", { href, onclick: (event) => { event.preventDefault(); openLink(href); } }, href));
    last = match.index + href.length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

function renderAction(action) {
  const words = { typing: "typing…", upload_photo: "sending a photo…", upload_video: "sending a video…",
    record_video: "recording a video…", upload_voice: "sending a voice message…", upload_document: "sending a file…" };
  $("bot-status").textContent = action ? words[action] || `${action.replace(/_/g, " ")}…` : `@${chat.bot.username} · bot`;
  clearTimeout(renderAction.timer);
  // The server answers again only on a change; the label must still expire on its own.
  if (action) renderAction.timer = setTimeout(() => renderAction(null), 5000);
}

// A person who blocked the bot sees RESTART instead of the input field, as in Telegram.
function renderBlocked(blocked) {
  chat.blocked = blocked;
  $("block-toggle").classList.remove("hidden");
  $("block-toggle").textContent = blocked ? "Unblock bot" : "Block bot";
  $("composer").classList.toggle("hidden", blocked);
  $("restart-bar").classList.toggle("hidden", !blocked);
}

$("block-toggle").addEventListener("click", () => api(`/chats/${chat.userId}/block`, { blocked: !chat.blocked }));
$("restart").addEventListener("click", async () => {
  await api(`/chats/${chat.userId}/block`, { blocked: false });
  await sendText("/start");
});

function renderReplyKeyboard(markup) {
  const box = $("reply-keyboard");
  if (!markup || !markup.keyboard) { box.classList.add("hidden"); return; }
  box.replaceChildren(...markup.keyboard.map((row) => el("div", { class: "krow" },
    ...row.map((button) => el("button", { type: "button", onclick: () => sendText(typeof button === "string" ? button : button.text) },
      typeof button === "string" ? button : button.text)))));
  box.classList.remove("hidden");
}

function renderCommands(commands) {
  $("commands-menu").replaceChildren(...commands.map((c) => el("div", {
    onclick: () => { $("commands-menu").classList.add("hidden"); sendText("/" + c.command); },
  }, el("b", {}, "/" + c.command), c.description)));
}

function renderNotices(notices) {
  if (chat.noticeId === Infinity) { chat.noticeId = notices.length ? notices[notices.length - 1].id : 0; return; }
  for (const notice of notices.filter((n) => n.id > chat.noticeId)) {
    chat.noticeId = notice.id;
    if (notice.kind === "alert") showModal("", notice.text, [{ text: "OK" }]);
    else toast(notice.text);
  }
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.classList.remove("hidden");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.add("hidden"), 3000);
}

function showModal(title, body, actions) {
  return new Promise((resolve) => {
    $("modal-title").textContent = title;
    $("modal-body").textContent = body;
    $("modal-actions").replaceChildren(...actions.map((action) => el("button", {
      type: "button", class: action.primary ? "primary" : "", "data-testid": action.testid || "modal-button",
      onclick: () => { $("modal").classList.add("hidden"); resolve(action.value); },
    }, action.text)));
    $("modal").classList.remove("hidden");
  });
}

// --- Stars payments -------------------------------------------------------------------------

async function payInvoice(slug) {
  let invoice;
  try { invoice = await api(`/invoices/${encodeURIComponent(slug)}`); } catch (error) { toast("This invoice does not exist."); return "failed"; }
  const confirmed = await showModal(invoice.title, `${invoice.description}\n\nTotal: ${stars(invoice)}\n(simulated payment — no real Stars move)`,
    [{ text: "Cancel", value: false }, { text: `Pay ${stars(invoice)}`, value: true, primary: true, testid: "pay-confirm" }]);
  if (!confirmed) return "cancelled";
  const outcome = await api(`/chats/${chat.userId}/pay`, { slug });
  if (outcome.status === "paid") { toast(`Payment of ${stars(invoice)} succeeded`); return "paid"; }
  await showModal("Payment failed", outcome.error_message || "The payment did not go through.", [{ text: "OK" }]);
  return "failed";
}

// --- the Mini App ----------------------------------------------------------------------------

const miniapp = { origin: null, mainButton: null };

async function openMiniApp(url, startParam, title) {
  const launch = await api(`/chats/${chat.userId}/webapp`, { url, start_param: startParam });
  miniapp.origin = new URL(url).origin;
  $("miniapp-title").textContent = title || "Mini App";
  $("miniapp-sub").textContent = `${new URL(url).host} · initData for ${currentUser().first_name}`;
  $("main-button").classList.add("hidden");
  $("miniapp-back").classList.add("hidden");
  $("miniapp").classList.remove("hidden");
  // A fresh frame, as a client starts a new WebView: the same app opened again (another
  // startapp link) differs only in the fragment, which a reused frame would not reload.
  const frame = $("miniapp-frame").cloneNode(false);
  frame.src = launch.url;
  $("miniapp-frame").replaceWith(frame);
}

function closeMiniApp() {
  $("miniapp").classList.add("hidden");
  $("miniapp-frame").removeAttribute("src");
}

function toMiniApp(eventType, eventData) {
  const frame = $("miniapp-frame").contentWindow;
  if (frame && miniapp.origin) frame.postMessage(JSON.stringify({ eventType, eventData }), miniapp.origin);
}

$("miniapp-close").addEventListener("click", closeMiniApp);
$("miniapp-back").addEventListener("click", () => toMiniApp("back_button_pressed", {}));
$("main-button").addEventListener("click", () => toMiniApp("main_button_pressed", {}));

// The Mini App talks to its client the way Telegram's clients listen: JSON {eventType, eventData}.
window.addEventListener("message", async (event) => {
  if (event.origin !== miniapp.origin || event.source !== $("miniapp-frame").contentWindow) return;
  let message;
  try { message = typeof event.data === "string" ? JSON.parse(event.data) : event.data; } catch (error) { return; }
  const data = message.eventData || {};
  switch (message.eventType) {
    case "web_app_setup_main_button": {
      const button = $("main-button");
      button.textContent = data.text || "";
      button.style.background = data.color || "";
      button.style.color = data.text_color || "";
      button.disabled = data.is_active === false || data.is_progress_visible;
      if (data.is_progress_visible) button.textContent = "…";
      button.classList.toggle("hidden", !data.is_visible);
      break;
    }
    case "web_app_open_invoice": {
      const status = await payInvoice(data.slug);
      toMiniApp("invoice_closed", { slug: data.slug, status });
      break;
    }
    case "web_app_open_popup": {
      const buttons = (data.buttons || [{ id: "", type: "close" }]).map((b) => ({ text: b.text || (b.type === "cancel" ? "Cancel" : "OK"), value: b.id }));
      const id = await showModal(data.title || "", data.message || "", buttons);
      toMiniApp("popup_closed", { button_id: id });
      break;
    }
    case "web_app_setup_back_button":
      $("miniapp-back").classList.toggle("hidden", !data.is_visible);
      break;
    case "web_app_open_link": window.open(data.url, "_blank", "noopener"); break;
    case "web_app_open_tg_link": openLink("https://t.me" + data.path_full); break;
    case "web_app_close": closeMiniApp(); break;
    case "web_app_send_prepared_message": {
      // Telegram asks which chat to send the bot's prepared message to; this client has one.
      const send = await showModal("Share message", `Send the message @${chat.bot.username} prepared to this chat?`,
        [{ text: "Cancel", value: false }, { text: "Send", value: true, primary: true, testid: "share-confirm" }]);
      if (!send) { toMiniApp("prepared_message_failed", { error: "USER_DECLINED" }); break; }
      try {
        await api(`/chats/${chat.userId}/prepared`, { id: data.id });
        toMiniApp("prepared_message_sent", {});
      } catch (error) {
        toMiniApp("prepared_message_failed", { error: "MESSAGE_SEND_FAILED" });
      }
      break;
    }
    case "web_app_switch_inline_query":
      // Telegram closes the app and puts "@bot <query>" in the chat's input field.
      closeMiniApp();
      $("text").value = `@${chat.bot.username} ${data.query || ""}`;
      $("text").focus();
      typed();
      break;
    case "web_app_request_theme": toMiniApp("theme_changed", {}); break;
    default: break;
  }
});

// --- boot ------------------------------------------------------------------------------------

(async function boot() {
  chat.bot = await api("/bot");
  $("bot-name").textContent = chat.bot.first_name;
  $("bot-status").textContent = "@" + chat.bot.username + " · bot";
  document.title = `${chat.bot.first_name} · local Telegram`;
  $("language-select").replaceChildren(...chat.bot.languages.map((code) => el("option", { value: code }, code)));
  const params = new URLSearchParams(location.search);
  if (params.has("start")) chat.pendingStart = { start: params.get("start") };
  if (params.has("startapp")) chat.pendingStart = { startapp: params.get("startapp") };
  await loadUsers();
  const wanted = Number(params.get("user"));
  if (wanted && chat.users.some((u) => u.id === wanted)) await selectUser(wanted);
})();
