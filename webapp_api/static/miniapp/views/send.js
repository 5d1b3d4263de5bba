// Send: a P2P transfer (POST /transfers) confirmed with Telegram's MainButton and a popup.
GVL.register({
  id: "send",
  titleKey: "miniapp.send.tab",
  order: 40,
  async render(container, params) {
    const { el, units, t } = GVL;
    const assets = (await GVL.assets()).filter((a) => a.transferable);
    const form = el("form", { class: "send", "data-testid": "send-form", novalidate: true },
      el("label", {}, t("miniapp.send.recipient"), el("input", { name: "recipient", placeholder: t("miniapp.send.recipient_placeholder"), autocomplete: "off", required: true, "data-testid": "send-recipient", value: params.get("to") || "" })),
      el("label", {}, t("miniapp.send.asset"), el("select", { name: "asset", "data-testid": "send-asset" },
        ...assets.map((a) => el("option", { value: a.code }, a.name !== a.code ? `${a.code} · ${a.name}` : a.code)))),
      el("label", {}, t("miniapp.send.amount"), el("input", { name: "amount", inputmode: "decimal", placeholder: "0", autocomplete: "off", required: true, "data-testid": "send-amount" })),
      el("label", {}, t("miniapp.send.memo"), el("input", { name: "memo", maxlength: "200", autocomplete: "off", "data-testid": "send-memo" })));
    const result = el("section", { class: "card result hidden", "data-testid": "send-result" });
    // What the daily limit still allows for the chosen asset (GET /limits, the ledger's counter).
    const left = el("div", { class: "muted", "data-testid": "send-left" });
    container.replaceChildren(el("section", { class: "card" }, el("h2", {}, t("miniapp.send.title")), form, left), result);
    async function showLeft() {
      const code = new FormData(form).get("asset");
      try {
        const row = (await GVL.api("/limits")).find((r) => r.asset === code);
        left.textContent = !row ? "" : row.left === null
          ? t("miniapp.send.no_limit", { asset: row.asset })
          : t("miniapp.send.left_today", { amount: units.format(row.left, row.decimals), asset: row.asset });
      } catch (error) {
        left.textContent = "";
      }
    }
    form.elements.asset.addEventListener("change", showLeft);
    showLeft();

    // One key per intended transfer: a retry after a lost answer cannot send twice.
    let pending = null;
    const intent = () => {
      const data = new FormData(form);
      return ["recipient", "asset", "amount", "memo"].map((k) => String(data.get(k) || "").trim()).join("\u0000");
    };
    const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));

    async function submit() {
      GVL.showError("");
      const data = new FormData(form);
      const asset = assets.find((a) => a.code === data.get("asset"));
      const recipient = String(data.get("recipient") || "").trim();
      const amount = asset ? units.parse(data.get("amount"), asset.decimals) : null;
      if (!recipient) return GVL.showError(t("miniapp.send.need_recipient"));
      if (!asset) return GVL.showError(t("miniapp.send.need_asset"));
      if (!amount || BigInt(amount) <= 0n) return GVL.showError(t("miniapp.send.need_amount", { asset: asset.code, decimals: asset.decimals }));
      const question = t("miniapp.send.confirm", { amount: units.format(amount, asset.decimals), asset: asset.code, recipient });
      if (!(await GVL.confirm(question))) return;
      if (!pending || pending.intent !== intent()) pending = { intent: intent(), key: newKey() };
      const memo = String(data.get("memo") || "").trim();
      GVL.mainButton.busy(true);
      try {
        const transfer = await GVL.api("/transfers", {
          method: "POST",
          headers: { "Idempotency-Key": pending.key },
          body: { recipient, asset: asset.code, amount, ...(memo ? { memo } : {}) },
        });
        pending = null;
        form.reset();
        showLeft();
        const to = transfer.recipient.first_name || (transfer.recipient.username ? `@${transfer.recipient.username}` : recipient);
        const sent = t("miniapp.send.sent_to", { amount: units.format(transfer.amount, transfer.decimals), asset: transfer.asset, name: to });
        const fee = BigInt(transfer.fee || "0") > 0n ? t("miniapp.send.fee", { amount: units.format(transfer.fee, transfer.decimals), asset: transfer.asset }) : null;
        const status = GVL.textOr(`miniapp.status.${transfer.status}`, transfer.status);
        result.replaceChildren(
          el("h2", {}, t("miniapp.send.sent")),
          el("div", { "data-testid": "send-result-text" }, [sent, fee].filter(Boolean).join(" · ")),
          el("div", { class: "muted" }, t("miniapp.send.status", { status })));
        result.classList.remove("hidden");
      } catch (error) {
        GVL.showError(error.message);
      } finally {
        GVL.mainButton.busy(false);
      }
    }

    form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
    GVL.mainButton.set(t("miniapp.send.button"), submit);
  },
});
