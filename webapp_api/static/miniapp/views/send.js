// Send: a P2P transfer (POST /transfers) confirmed with Telegram's MainButton and a popup.
GVL.register({
  id: "send",
  title: "Send",
  order: 40,
  async render(container, params) {
    const { el, units } = GVL;
    const assets = (await GVL.assets()).filter((a) => a.transferable);
    const form = el("form", { class: "send", "data-testid": "send-form", novalidate: true },
      el("label", {}, "Recipient", el("input", { name: "recipient", placeholder: "@username or Telegram id", autocomplete: "off", required: true, "data-testid": "send-recipient", value: params.get("to") || "" })),
      el("label", {}, "Asset", el("select", { name: "asset", "data-testid": "send-asset" },
        ...assets.map((a) => el("option", { value: a.code }, a.name !== a.code ? `${a.code} · ${a.name}` : a.code)))),
      el("label", {}, "Amount", el("input", { name: "amount", inputmode: "decimal", placeholder: "0", autocomplete: "off", required: true, "data-testid": "send-amount" })),
      el("label", {}, "Message (optional)", el("input", { name: "memo", maxlength: "140", autocomplete: "off", "data-testid": "send-memo" })));
    const result = el("section", { class: "card result hidden", "data-testid": "send-result" });
    container.replaceChildren(el("section", { class: "card" }, el("h2", {}, "Send tokens"), form), result);

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
      if (!recipient) return GVL.showError("Enter who gets the tokens.");
      if (!amount || BigInt(amount) <= 0n) return GVL.showError(`Enter an amount of ${asset ? asset.code : "tokens"} (up to ${asset ? asset.decimals : 0} decimals).`);
      const shown = `${units.format(amount, asset.decimals)} ${asset.code}`;
      if (!(await GVL.confirm(`Send ${shown} to ${recipient}?`))) return;
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
        const to = transfer.recipient.first_name || (transfer.recipient.username ? `@${transfer.recipient.username}` : recipient);
        const fee = BigInt(transfer.fee || "0") > 0n ? ` · fee ${units.format(transfer.fee, transfer.decimals)} ${transfer.asset}` : "";
        result.replaceChildren(
          el("h2", {}, "Sent"),
          el("div", { "data-testid": "send-result-text" }, `${units.format(transfer.amount, transfer.decimals)} ${transfer.asset} to ${to}${fee}`),
          el("div", { class: "muted" }, `Status: ${transfer.status}`));
        result.classList.remove("hidden");
      } catch (error) {
        GVL.showError(error.message);
      } finally {
        GVL.mainButton.busy(false);
      }
    }

    form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
    GVL.mainButton.set("Send", submit);
  },
});
