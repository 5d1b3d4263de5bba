// Market: the order book of a pair (both sides, best first), taking an offer, making one,
// and the user's open offers with Cancel. Amounts stay BigInt strings end to end.
GVL.register({
  id: "market",
  titleKey: "miniapp.market.tab",
  order: 50,
  async render(container, params) {
    const { el, units, t } = GVL;
    const assets = (await GVL.assets()).filter((a) => a.transferable);
    const byCode = Object.fromEntries(assets.map((a) => [a.code, a]));
    const base = byCode[params.get("base")] ? params.get("base") : assets[0].code;
    const quote = byCode[params.get("quote")] && params.get("quote") !== base
      ? params.get("quote") : (assets.find((a) => a.code === "USDT" && a.code !== base) || assets.find((a) => a.code !== base)).code;
    const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));
    const options = (selected) => assets.map((a) => el("option", { value: a.code, selected: a.code === selected }, a.code));
    const result = el("section", { class: "card result hidden", "data-testid": "market-result" });
    const say = (title, text) => {
      result.replaceChildren(el("h2", {}, title), el("div", { "data-testid": "market-result-text" }, text));
      result.classList.remove("hidden");
    };

    // The pair: changing it redraws the view for that book.
    const pair = el("form", { class: "send" },
      el("label", {}, t("miniapp.market.base"), el("select", { name: "base", "data-testid": "market-base" }, ...options(base))),
      el("label", {}, t("miniapp.market.quote"), el("select", { name: "quote", "data-testid": "market-quote" }, ...options(quote))));
    pair.addEventListener("change", () => {
      const data = new FormData(pair);
      GVL.navigate("market", `base=${data.get("base")}&quote=${data.get("quote")}`);
    });

    // Quote per one base, six decimals, rounded down: for reading only.
    function price(offer, ask) {
      const [q, b, qd, bd] = ask
        ? [offer.buy_amount, offer.sell_amount, offer.buy_decimals, offer.sell_decimals]
        : [offer.sell_amount, offer.buy_amount, offer.sell_decimals, offer.buy_decimals];
      const scaled = (BigInt(q) * 10n ** BigInt(bd) * 10n ** 6n) / (BigInt(b) * 10n ** BigInt(qd));
      return units.format(scaled.toString(), 6);
    }
    const pays = (offer, amount) => ((BigInt(amount) * BigInt(offer.buy_amount) + BigInt(offer.sell_amount) - 1n) / BigInt(offer.sell_amount)).toString();

    // One key per intended fill: a retry after a lost answer cannot fill twice.
    let pending = null;
    async function take(offer, input) {
      GVL.showError("");
      const amount = units.parse(input.value, offer.sell_decimals);
      if (!amount || BigInt(amount) <= 0n) return GVL.showError(t("miniapp.market.need_amount", { asset: offer.sell_asset, decimals: offer.sell_decimals }));
      const paid = pays(offer, amount);
      const question = t("miniapp.market.fill_confirm", {
        amount: units.format(amount, offer.sell_decimals), asset: offer.sell_asset,
        paid: units.format(paid, offer.buy_decimals), pay_asset: offer.buy_asset,
      });
      if (!(await GVL.confirm(question))) return;
      const intent = `${offer.id}:${amount}`;
      if (!pending || pending.intent !== intent) pending = { intent, key: newKey() };
      try {
        const fill = await GVL.api(`/market/offers/${offer.id}/fill`, { method: "POST", headers: { "Idempotency-Key": pending.key }, body: { amount } });
        pending = null;
        say(t("miniapp.market.filled_title"), t("miniapp.market.filled", {
          received: units.format(fill.received, fill.sell_decimals), asset: fill.sell_asset,
          paid: units.format(fill.paid, fill.buy_decimals), pay_asset: fill.buy_asset,
          fee: units.format(fill.fee, fill.sell_decimals),
        }));
        await drawBook();
      } catch (error) {
        GVL.showError(error.message);
      }
    }

    function row(offer, ask) {
      const left = t("miniapp.market.row", { price: price(offer, ask), quote, amount: units.format(offer.remaining, offer.sell_decimals), asset: offer.sell_asset });
      if (offer.mine) return el("li", { class: "tx", "data-testid": "offer-row" }, left, " · ", t("miniapp.market.mine"));
      const input = el("input", { inputmode: "decimal", placeholder: offer.sell_asset, autocomplete: "off", "data-testid": "fill-amount", size: "8" });
      return el("li", { class: "tx", "data-testid": "offer-row" }, left, " ", input,
        el("button", { type: "button", "data-testid": "fill-button", onclick: () => take(offer, input) }, t("miniapp.market.fill")));
    }

    const asks = el("ul", { class: "list", "data-testid": "book-asks" });
    const bids = el("ul", { class: "list", "data-testid": "book-bids" });
    const mine = el("ul", { class: "list", "data-testid": "my-offers" });
    async function drawBook() {
      const [sells, buys, own] = await Promise.all([
        GVL.api(`/market/${base}/${quote}?limit=20`),
        GVL.api(`/market/${quote}/${base}?limit=20`),
        GVL.api("/market/my?status=open&limit=20"),
      ]);
      const empty = () => el("li", { class: "muted" }, t("miniapp.market.empty"));
      asks.replaceChildren(...(sells.length ? sells.map((o) => row(o, true)) : [empty()]));
      bids.replaceChildren(...(buys.length ? buys.map((o) => row(o, false)) : [empty()]));
      mine.replaceChildren(...(own.length ? own.map(myRow) : [empty()]));
    }

    function myRow(offer) {
      const text = t("miniapp.market.my_row", {
        remaining: units.format(offer.remaining, offer.sell_decimals), sell_asset: offer.sell_asset,
        buy_amount: units.format(offer.buy_amount, offer.buy_decimals), buy_asset: offer.buy_asset,
      });
      return el("li", { class: "tx", "data-testid": "my-offer" }, text, " ",
        el("button", { type: "button", "data-testid": "cancel-button", onclick: () => cancel(offer) }, t("miniapp.market.cancel")));
    }

    async function cancel(offer) {
      GVL.showError("");
      try {
        const done = await GVL.api(`/market/offers/${offer.id}`, { method: "DELETE" });
        say(t("miniapp.market.cancelled_title"), t("miniapp.market.cancelled", { amount: units.format(done.remaining, done.sell_decimals), asset: done.sell_asset }));
        await drawBook();
      } catch (error) {
        GVL.showError(error.message);
      }
    }

    // Making an offer: what to sell, and what to get for all of it.
    const form = el("form", { class: "send", "data-testid": "offer-form", novalidate: true },
      el("label", {}, t("miniapp.market.sell"), el("select", { name: "sell_asset", "data-testid": "offer-sell-asset" }, ...options(base))),
      el("label", {}, t("miniapp.market.sell_amount"), el("input", { name: "sell_amount", inputmode: "decimal", placeholder: "0", autocomplete: "off", "data-testid": "offer-sell-amount" })),
      el("label", {}, t("miniapp.market.buy"), el("select", { name: "buy_asset", "data-testid": "offer-buy-asset" }, ...options(quote))),
      el("label", {}, t("miniapp.market.buy_amount"), el("input", { name: "buy_amount", inputmode: "decimal", placeholder: "0", autocomplete: "off", "data-testid": "offer-buy-amount" })),
      el("button", { type: "submit", "data-testid": "offer-submit" }, t("miniapp.market.offer_button")));
    let pendingOffer = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      GVL.showError("");
      const data = new FormData(form);
      const sell = byCode[data.get("sell_asset")], buy = byCode[data.get("buy_asset")];
      const sellAmount = units.parse(data.get("sell_amount"), sell.decimals);
      const buyAmount = units.parse(data.get("buy_amount"), buy.decimals);
      if (!sellAmount || BigInt(sellAmount) <= 0n) return GVL.showError(t("miniapp.market.need_amount", { asset: sell.code, decimals: sell.decimals }));
      if (!buyAmount || BigInt(buyAmount) <= 0n) return GVL.showError(t("miniapp.market.need_amount", { asset: buy.code, decimals: buy.decimals }));
      const shown = { sell_amount: units.format(sellAmount, sell.decimals), sell_asset: sell.code, buy_amount: units.format(buyAmount, buy.decimals), buy_asset: buy.code };
      if (!(await GVL.confirm(t("miniapp.market.offer_confirm", shown)))) return;
      const intent = [sell.code, sellAmount, buy.code, buyAmount].join(":");
      if (!pendingOffer || pendingOffer.intent !== intent) pendingOffer = { intent, key: newKey() };
      try {
        await GVL.api("/market/offers", {
          method: "POST",
          headers: { "Idempotency-Key": pendingOffer.key },
          body: { sell_asset: sell.code, sell_amount: sellAmount, buy_asset: buy.code, buy_amount: buyAmount },
        });
        pendingOffer = null;
        form.reset();
        say(t("miniapp.market.offer_open_title"), t("miniapp.market.offer_open", shown));
        await drawBook();
      } catch (error) {
        GVL.showError(error.message);
      }
    });

    container.replaceChildren(
      el("section", { class: "card" }, el("h2", {}, t("miniapp.market.title")), pair,
        el("h3", {}, t("miniapp.market.asks", { base })), asks,
        el("h3", {}, t("miniapp.market.bids", { base })), bids),
      result,
      el("section", { class: "card" }, el("h2", {}, t("miniapp.market.offer_title")), form),
      el("section", { class: "card" }, el("h2", {}, t("miniapp.market.my_title")), mine));
    await drawBook();
  },
});
