// Gifts: create a claim link or a red packet (POST /gifts), share it, cancel what is unclaimed;
// opened by a t.me/<bot>?startapp=gift_<secret> link, show that gift and claim it.
(function () {
  const PREFIX = "gift_";
  const startParam = () => (GVL.tg && GVL.tg.initDataUnsafe && GVL.tg.initDataUnsafe.start_param) || "";

  // The claim view: what the link holds (POST /gifts/preview keeps the secret out of URLs),
  // then one Claim. A refusal (claimed, expired, someone else's) is the API's error, in words.
  async function renderClaim(container) {
    const { el, units, t } = GVL;
    const secret = startParam().slice(PREFIX.length);
    const problem = el("div", { class: "error hidden", role: "alert", "data-testid": "gift-claim-error" });
    const card = el("section", { class: "card", "data-testid": "gift-claim" }, el("h2", {}, t("miniapp.gift.claim_title")));
    container.replaceChildren(card, problem);
    const fail = (error) => { problem.textContent = error.message; problem.classList.remove("hidden"); };
    let gift;
    try {
      gift = await GVL.api("/gifts/preview", { method: "POST", body: { secret } });
    } catch (error) {
      return fail(error);
    }
    const amount = units.format(gift.amount, gift.decimals);
    const button = el("button", { type: "button", class: "fallback-button", "data-testid": "gift-claim-button" }, t("miniapp.gift.claim_button"));
    card.append(
      el("div", { class: "muted", "data-testid": "gift-claim-sender" }, t("miniapp.gift.claim_from", { sender: gift.sender })),
      el("div", { class: "profile-name", "data-testid": "gift-claim-amount" }, gift.kind === "packet"
        ? t("miniapp.gift.claim_packet", { amount, asset: gift.asset, left: gift.shares_left, shares: gift.shares })
        : `${amount} ${gift.asset}`),
      gift.message ? el("div", { "data-testid": "gift-claim-message" }, `“${gift.message}”`) : null,
      button);
    button.addEventListener("click", async () => {
      button.disabled = true;
      problem.classList.add("hidden");
      try {
        const claim = await GVL.api("/gifts/claim", { method: "POST", body: { secret } });
        button.replaceWith(el("div", { class: "profile-name", "data-testid": "gift-claimed" },
          t("miniapp.gift.claimed", { amount: units.format(claim.amount, claim.decimals), asset: claim.asset })));
      } catch (error) {
        button.disabled = false;
        fail(error);
      }
    });
  }

  // Sharing a new link as a ready message with a Claim button: shareMessage (Bot API 8.0, a
  // message the bot prepares), else Telegram's inline mode (the bot's inline results hold the
  // link), else the link is copied.
  async function share(gift, link, status) {
    const { t } = GVL;
    const tg = GVL.tg;
    if (tg && tg.shareMessage && tg.isVersionAtLeast && tg.isVersionAtLeast("8.0")) {
      try {
        const prepared = await GVL.api(`/gifts/${gift.id}/share`, { method: "POST" });
        tg.shareMessage(prepared.prepared_message_id, (sent) => { if (sent) status.textContent = t("miniapp.gift.shared"); });
        return;
      } catch (error) {
        console.warn("shareMessage unavailable, trying inline mode:", error);
      }
    }
    if (tg && tg.switchInlineQuery) {
      // The amount as the bot reads it: digits and a point, no grouping, whatever the language.
      const base = 10n ** BigInt(gift.decimals);
      const fraction = (BigInt(gift.amount) % base).toString().padStart(gift.decimals, "0").replace(/0+$/, "");
      const amount = (BigInt(gift.amount) / base).toString() + (fraction ? "." + fraction : "");
      try {
        tg.switchInlineQuery(`gift ${amount} ${gift.asset}`, ["users", "groups", "channels"]);
        return;
      } catch (error) {
        console.warn("inline mode unavailable, copying the link:", error);
      }
    }
    const copied = () => { status.textContent = t("miniapp.gift.copied"); };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(link).then(copied, () => {});
  }

GVL.register({
  id: "gifts",
  titleKey: "miniapp.gift.tab",
  order: 45,
  // Opened by a gift link (startapp=gift_…): the claim view. Opened from the bot's inline
  // results button (?gift=<amount>&asset=…): the form, filled in.
  opens({ startParam: param, search }) {
    if (param.startsWith(PREFIX)) return "claim=1";
    return search.has("gift") ? "" : null;
  },
  async render(container, params) {
    if (params && params.get("claim") === "1" && startParam().startsWith(PREFIX)) return renderClaim(container);
    const { el, units, t } = GVL;
    const assets = (await GVL.assets()).filter((a) => a.transferable);
    const form = el("form", { class: "send", "data-testid": "gift-form", novalidate: true },
      el("label", {}, t("miniapp.gift.kind"), el("select", { name: "kind", "data-testid": "gift-kind" },
        el("option", { value: "link" }, t("miniapp.gift.kind_link")),
        el("option", { value: "packet" }, t("miniapp.gift.kind_packet")))),
      el("label", {}, t("miniapp.send.asset"), el("select", { name: "asset", "data-testid": "gift-asset" },
        ...assets.map((a) => el("option", { value: a.code }, a.code)))),
      el("label", {}, t("miniapp.gift.amount"), el("input", { name: "amount", inputmode: "decimal", placeholder: "0", autocomplete: "off", "data-testid": "gift-amount" })),
      el("label", { class: "packet-only hidden" }, t("miniapp.gift.shares"), el("input", { name: "shares", inputmode: "numeric", value: "5", "data-testid": "gift-shares" })),
      el("label", { class: "packet-only hidden" }, t("miniapp.gift.split"), el("select", { name: "split", "data-testid": "gift-split" },
        el("option", { value: "equal" }, t("miniapp.gift.split_equal")),
        el("option", { value: "random" }, t("miniapp.gift.split_random")))),
      el("label", {}, t("miniapp.send.memo"), el("input", { name: "message", maxlength: "200", autocomplete: "off", "data-testid": "gift-message" })));
    const result = el("section", { class: "card result hidden", "data-testid": "gift-result" });
    const list = el("section", { class: "card", "data-testid": "gift-list" });
    container.replaceChildren(el("section", { class: "card" }, el("h2", {}, t("miniapp.gift.title")), form), result, list);
    const asked = new URLSearchParams(location.search);
    if (asked.has("gift")) {
      if (asked.get("gift") !== "new") form.elements.amount.value = asked.get("gift");
      if (assets.some((a) => a.code === asked.get("asset"))) form.elements.asset.value = asked.get("asset");
      if (asked.get("message")) form.elements.message.value = asked.get("message");
    }
    form.elements.kind.addEventListener("change", () => {
      for (const node of form.querySelectorAll(".packet-only")) node.classList.toggle("hidden", form.elements.kind.value !== "packet");
    });

    async function showList() {
      const gifts = await GVL.api("/gifts");
      const rows = gifts.map((g) => el("div", { class: "tx", "data-testid": "gift-row" },
        el("div", {}, `${units.format(g.amount, g.decimals)} ${g.asset}`,
          el("div", { class: "muted" }, GVL.textOr(`miniapp.gift.status_${g.status}`, g.status),
            g.kind === "packet" ? ` · ${g.claimed_shares}/${g.shares}` : "")),
        g.role === "sent" && g.status === "open"
          ? el("button", { type: "button", class: "more", "data-testid": "gift-cancel", onclick: () => cancel(g.id) }, t("miniapp.gift.cancel"))
          : null));
      list.replaceChildren(el("h2", {}, t("miniapp.gift.yours")), ...(rows.length ? rows : [el("div", { class: "muted" }, t("miniapp.gift.none"))]));
    }

    async function cancel(id) {
      GVL.showError("");
      try {
        await GVL.api(`/gifts/${id}/cancel`, { method: "POST" });
      } catch (error) {
        GVL.showError(error.message);
      }
      showList();
    }

    // One key per intended gift: a retry after a lost answer cannot escrow twice.
    let pending = null;
    const intent = () => Array.from(new FormData(form).values()).join("\u0000");
    const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));

    async function submit() {
      GVL.showError("");
      const data = new FormData(form);
      const asset = assets.find((a) => a.code === data.get("asset"));
      const amount = asset ? units.parse(data.get("amount"), asset.decimals) : null;
      if (!asset) return GVL.showError(t("miniapp.send.need_asset"));
      if (!amount || BigInt(amount) <= 0n) return GVL.showError(t("miniapp.send.need_amount", { asset: asset.code, decimals: asset.decimals }));
      const kind = String(data.get("kind"));
      const body = { kind, asset: asset.code, amount };
      const message = String(data.get("message") || "").trim();
      if (message) body.message = message;
      if (kind === "packet") {
        body.shares = Number.parseInt(String(data.get("shares")), 10) || 0;
        body.split = String(data.get("split"));
      }
      if (!pending || pending.intent !== intent()) pending = { intent: intent(), key: newKey() };
      GVL.mainButton.busy(true);
      try {
        const gift = await GVL.api("/gifts", { method: "POST", headers: { "Idempotency-Key": pending.key }, body });
        pending = null;
        form.reset();
        const link = gift.link;
        const shared = el("div", { class: "muted", "data-testid": "gift-copied" });
        result.replaceChildren(
          el("h2", {}, t("miniapp.gift.created", { amount: units.format(gift.amount, gift.decimals), asset: gift.asset })),
          link ? el("input", { readonly: true, value: link, style: "width:100%", "data-testid": "gift-link", onclick: (e) => e.target.select() }) : null,
          gift.app_link ? el("input", { readonly: true, value: gift.app_link, style: "width:100%", "data-testid": "gift-app-link", onclick: (e) => e.target.select() }) : null,
          link ? el("button", { type: "button", class: "more", "data-testid": "gift-share", onclick: () => share(gift, link, shared) }, t("miniapp.gift.share")) : null,
          shared,
          el("div", { class: "muted" }, t("miniapp.gift.link_once")));
        result.classList.remove("hidden");
        showList();
      } catch (error) {
        GVL.showError(error.message);
      } finally {
        GVL.mainButton.busy(false);
      }
    }

    form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
    GVL.mainButton.set(t("miniapp.gift.button"), submit);
    showList().catch((error) => GVL.showError(error.message));
  },
});
})();
