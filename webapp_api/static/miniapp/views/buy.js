// Buy: VIBE packs for Telegram Stars (GET /purchases/packs). A pack's button asks the API for
// an invoice link (POST /purchases/stars) and opens it with Telegram.WebApp.openInvoice; the
// balance shown comes from GET /balances and is drawn again when the credit arrives (live).
// The last payment's outcome survives the redraw its credit causes (a live `transfer` event).
let lastBuyStatus = "";
GVL.register({
  id: "buy",
  titleKey: "miniapp.buy.tab",
  live: true,
  order: 35,
  async render(container) {
    const { el, units, t } = GVL;
    const [packs, balances] = await Promise.all([GVL.api("/purchases/packs"), GVL.api("/balances")]);
    const vibe = balances.find((b) => b.asset === "VIBE") || { available: "0", decimals: 6 };
    const status = el("div", { class: "muted", "data-testid": "buy-status" }, lastBuyStatus);
    const buttons = packs.map((pack) =>
      el("button", {
        type: "button",
        class: "pack",
        "data-testid": `buy-${pack.id}`,
        onclick: async (event) => {
          const button = event.currentTarget;
          button.disabled = true;
          GVL.showError("");
          try {
            // One key per tap: a retried request returns the same link, not a second invoice.
            const key = `buy-${pack.id}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
            const { invoice_link: link } = await GVL.api("/purchases/stars", {
              method: "POST", body: { pack_id: pack.id }, headers: { "Idempotency-Key": key } });
            const outcome = await GVL.pay(link);
            lastBuyStatus = t(`miniapp.buy.status_${outcome}`);
            status.textContent = lastBuyStatus;
            if (outcome === "paid") {
              const fresh = (await GVL.api("/balances")).find((b) => b.asset === "VIBE");
              if (fresh) balance.textContent = units.format(fresh.available, fresh.decimals);
            }
          } catch (error) {
            GVL.showError(error.message);
          } finally {
            button.disabled = false;
          }
        },
      }, t("miniapp.buy.pack", { vibe: units.format(pack.vibe, 6), stars: pack.stars })));
    const balance = el("span", { "data-testid": "buy-balance" }, units.format(vibe.available, vibe.decimals));
    container.replaceChildren(el("section", { class: "card", "data-testid": "buy" },
      el("h2", {}, t("miniapp.buy.title")),
      el("div", { class: "rows" },
        el("div", { class: "row" }, el("span", {}, t("miniapp.buy.balance")), el("span", {}, balance, " VIBE"))),
      el("p", { class: "muted" }, t("miniapp.buy.hint")),
      ...buttons,
      status));
  },
});
