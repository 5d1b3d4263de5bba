// Live events over GET /api/v1/ws (protocol in the README, "Realtime"). Signs in with the
// same initData as the API calls, keeps the last event id, and after a drop reconnects and
// resumes from it, so a transfer received while offline still arrives, once. A transfer
// redraws the open view (balances, history): the state itself always comes from REST.
"use strict";

(function () {
  const { tg } = GVL;
  // Close codes after which reconnecting cannot help: bad initData, too many sockets.
  const FINAL = new Set([4003, 4029]);
  let socket = null;
  let lastId = null;
  let retryMs = 500;
  let held = false;
  const seen = new Set();
  const received = [];

  function setState(state) {
    document.documentElement.dataset.live = state;
  }

  function connect() {
    if (!tg || !tg.initData || held) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    socket = ws;
    setState("connecting");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", initData: tg.initData }));
    ws.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "ready") {
        retryMs = 500;
        setState("live");
        if (lastId === null) lastId = data.last_event_id;
        else ws.send(JSON.stringify({ type: "resume", after: lastId }));
      } else if (data.type === "resync") {
        window.dispatchEvent(new CustomEvent("gvl:resync"));
        GVL.refresh();
      } else if (typeof data.id === "number") {
        handle(data);
      }
    };
    ws.onclose = (event) => {
      if (socket === ws) socket = null;
      setState(FINAL.has(event.code) ? "refused" : "offline");
      if (FINAL.has(event.code) || held) return;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }

  function handle(event) {
    if (seen.has(event.id)) return;
    seen.add(event.id);
    received.push(event.id);
    lastId = Math.max(lastId || 0, event.id);
    window.dispatchEvent(new CustomEvent("gvl:event", { detail: event }));
    if (event.type === "transfer") GVL.refresh();
    if (event.channel === "announcements" && event.type === "announcement") announce(event.data);
  }

  // Telegram HTML, kept to the tags Telegram itself formats with; anything else is its text.
  const TAGS = new Set(["B", "STRONG", "I", "EM", "U", "INS", "S", "STRIKE", "DEL", "CODE",
    "PRE", "A", "BLOCKQUOTE", "TG-SPOILER", "SPAN"]);

  function clean(node, into) {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        into.append(child.textContent);
      } else if (child.nodeType === Node.ELEMENT_NODE && TAGS.has(child.tagName)) {
        const copy = document.createElement(child.tagName === "A" ? "a" : "span");
        if (child.tagName === "A") {
          const href = child.getAttribute("href") || "";
          if (/^https:\/\//.test(href)) { copy.href = href; copy.target = "_blank"; }
        } else {
          copy.className = `tg-${child.tagName.toLowerCase()}`;
        }
        clean(child, copy);
        into.append(copy);
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        clean(child, into);
      }
    }
  }

  // An announcement is shown as a banner above the view, until closed (the server sends a
  // language-targeted one only to the users reading that language).
  function announce(data) {
    const old = document.querySelector("[data-testid=announcement]");
    if (old) old.remove();
    const banner = document.createElement("div");
    banner.className = "announcement";
    banner.dataset.testid = "announcement";
    banner.setAttribute("role", "status");
    const body = document.createElement("div");
    const parsed = new DOMParser().parseFromString(`<body>${data.html}</body>`, "text/html");
    clean(parsed.body, body);
    banner.append(body);
    if (data.button && /^https:\/\//.test(data.button.url)) {
      const link = document.createElement("a");
      link.className = "announcement-button";
      link.href = data.button.url;
      link.target = "_blank";
      link.textContent = data.button.text;
      banner.append(link);
    }
    const close = document.createElement("button");
    close.className = "announcement-close";
    close.dataset.testid = "announcement-close";
    close.textContent = "×";
    close.setAttribute("aria-label", "close");
    close.onclick = () => banner.remove();
    banner.append(close);
    document.body.prepend(banner);
  }

  GVL.live = {
    start: connect,
    // What the tests read, and how they cut the network: drop() closes the socket and holds
    // reconnecting until reconnect().
    received,
    drop() { held = true; if (socket) socket.close(); },
    reconnect() { held = false; connect(); },
  };
})();
