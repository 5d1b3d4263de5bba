// Balances: one row per asset (GET /assets + GET /balances); amounts are integer strings.
GVL.register({
  id: "balances",
  titleKey: "miniapp.balances.tab",
  live: true,
  order: 20,
  async render(container) {
    const { el, units, t } = GVL;
    const [assets, balances] = await Promise.all([GVL.assets(), GVL.api("/balances")]);
    const byAsset = new Map(balances.map((b) => [b.asset, b]));
    const colors = { VIBE: "#8e6cf0", TON: "#0098ea", USDT: "#26a17b", TAC: "#f5a623" };
    const rows = assets.map((asset) => {
      const balance = byAsset.get(asset.code) || { available: "0", pending: "0", posted: "0", decimals: asset.decimals };
      const pending = BigInt(balance.pending) !== 0n;
      return el("div", { class: "asset", "data-testid": `balance-${asset.code}` },
        el("div", { class: "asset-icon", style: `background:${colors[asset.code] || "#999"}` }, asset.code.slice(0, 4)),
        el("div", { class: "asset-main" },
          el("div", { class: "asset-code" }, asset.code),
          asset.name !== asset.code ? el("div", { class: "muted" }, asset.name) : null),
        el("div", {},
          el("div", { class: "asset-amount", "data-testid": `available-${asset.code}` }, units.format(balance.available, balance.decimals)),
          pending ? el("div", { class: "asset-sub" }, t("miniapp.balances.on_hold", { amount: units.format(balance.pending, balance.decimals) })) : null),
        el("a", { href: `#/history?asset=${asset.code}`, class: "muted", title: t("miniapp.balances.history"), style: "text-decoration:none" }, "›"));
    });
    container.replaceChildren(el("section", { class: "card", "data-testid": "balances" }, el("h2", {}, t("miniapp.balances.title")), ...rows));
    if (assets.some((a) => a.transferable)) GVL.mainButton.set(t("miniapp.balances.send"), () => GVL.navigate("send"));
  },
});
