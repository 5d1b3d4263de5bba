// History: your transactions, newest first, paged by cursor (GET /transactions).
GVL.register({
  id: "history",
  titleKey: "miniapp.history.tab",
  live: true,
  order: 30,
  async render(container, params) {
    const { el, units, t } = GVL;
    const asset = params.get("asset") || "";
    const list = el("div", { "data-testid": "history" });
    const more = el("button", { class: "more hidden", type: "button", "data-testid": "history-more" }, t("miniapp.history.more"));
    const heading = asset ? t("miniapp.history.title_asset", { asset }) : t("miniapp.history.title");
    const card = el("section", { class: "card" }, el("h2", {}, heading), list, more);
    let cursor = null;

    const title = (tx) => {
      const incoming = tx.direction === "in";
      if (tx.counterparty) {
        const who = tx.counterparty.first_name || (tx.counterparty.username ? `@${tx.counterparty.username}` : null);
        if (who) return t(incoming ? "miniapp.history.from" : "miniapp.history.to", { name: who });
        return t(incoming ? "miniapp.history.from_someone" : "miniapp.history.to_someone");
      }
      // A code newer than this app's texts still reads as a word in the user's language.
      return GVL.textOr(`miniapp.tx.${tx.code}`, t("miniapp.tx.other"));
    };
    const status = (tx) => (tx.status !== "posted" ? GVL.textOr(`miniapp.status.${tx.status}`, tx.status) : null);

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
            el("div", { class: "muted" }, [GVL.date(tx.created_at), status(tx), tx.memo].filter(Boolean).join(" · "))),
          el("div", { class: `tx-amount ${tx.direction}` }, `${sign}${units.format(tx.amount, tx.decimals)} ${tx.asset}`)));
      }
      if (!list.children.length) list.append(el("div", { class: "muted" }, t("miniapp.history.empty")));
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
