// Gifts: create a claim link or a red packet (POST /gifts), share it, cancel what is unclaimed.
GVL.register({
  id: "gifts",
  titleKey: "miniapp.gift.tab",
  order: 45,
  async render(container) {
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
        result.replaceChildren(
          el("h2", {}, t("miniapp.gift.created", { amount: units.format(gift.amount, gift.decimals), asset: gift.asset })),
          link ? el("input", { readonly: true, value: link, style: "width:100%", "data-testid": "gift-link", onclick: (e) => e.target.select() }) : null,
          link && GVL.tg && GVL.tg.openTelegramLink
            ? el("button", { type: "button", class: "more", "data-testid": "gift-share", onclick: () => GVL.tg.openTelegramLink(`https://t.me/share/url?url=${encodeURIComponent(link)}`) }, t("miniapp.gift.share"))
            : null,
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
