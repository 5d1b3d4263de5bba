// History: your transactions, newest first, paged by cursor (GET /transactions).
GVL.register({
  id: "history",
  title: "History",
  order: 30,
  async render(container, params) {
    const { el, units } = GVL;
    const asset = params.get("asset") || "";
    const list = el("div", { "data-testid": "history" });
    const more = el("button", { class: "more hidden", type: "button", "data-testid": "history-more" }, "Show more");
    const card = el("section", { class: "card" }, el("h2", {}, asset ? `${asset} history` : "History"), list, more);
    let cursor = null;

    const title = (tx) => {
      const who = tx.counterparty ? tx.counterparty.first_name || (tx.counterparty.username ? `@${tx.counterparty.username}` : "a user") : null;
      if (who) return tx.direction === "in" ? `From ${who}` : `To ${who}`;
      return tx.code.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
    };

    async function load() {
      const query = new URLSearchParams({ limit: "20" });
      if (asset) query.set("asset", asset);
      if (cursor) query.set("cursor", cursor);
      const { data, pagination } = await GVL.request(`/transactions?${query}`);
      for (const tx of data) {
        const sign = tx.direction === "in" ? "+" : "−";
        list.append(el("div", { class: "tx", "data-testid": "tx" },
          el("div", { class: `tx-icon ${tx.direction}` }, tx.direction === "in" ? "↓" : "↑"),
          el("div", { class: "tx-main" },
            el("div", { class: "tx-title" }, title(tx)),
            el("div", { class: "muted" }, [GVL.date(tx.created_at), tx.status !== "posted" ? tx.status : null, tx.memo].filter(Boolean).join(" · "))),
          el("div", { class: `tx-amount ${tx.direction}` }, `${sign}${units.format(tx.amount, tx.decimals)} ${tx.asset}`)));
      }
      if (!list.children.length) list.append(el("div", { class: "muted" }, "No transactions yet."));
      cursor = pagination && pagination.has_more ? pagination.next_cursor : null;
      more.classList.toggle("hidden", !cursor);
    }

    more.addEventListener("click", async () => {
      more.disabled = true;
      try { await load(); } catch (error) { GVL.showError(error.message); } finally { more.disabled = false; }
    });
    await load();
    container.replaceChildren(card);
  },
});
