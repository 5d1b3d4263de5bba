// Invite: the user's referral links and the 8 levels (GET /referrals), with a share button.
GVL.register({
  id: "invite",
  titleKey: "miniapp.invite.tab",
  live: true,
  order: 45,
  async render(container) {
    const { el, units, t } = GVL;
    const data = await GVL.api("/referrals");
    const share = `https://t.me/share/url?url=${encodeURIComponent(data.link)}&text=${encodeURIComponent(t("miniapp.invite.share_text"))}`;
    const rows = data.levels.map((level) => el("tr", { "data-testid": `level-${level.level}` },
      el("td", {}, String(level.level)),
      el("td", { "data-testid": `level-${level.level}-referees` }, String(level.referees)),
      el("td", {}, units.format(level.pending, 6)),
      el("td", {}, units.format(level.available, 6))));
    container.replaceChildren(el("section", { class: "card", "data-testid": "invite" },
      el("h2", {}, t("miniapp.invite.title")),
      el("p", { class: "muted" }, t("miniapp.invite.hint")),
      el("div", { class: "muted" }, t("miniapp.invite.link")),
      el("div", { class: "invite-link", "data-testid": "invite-link" }, data.link),
      el("div", { class: "muted" }, t("miniapp.invite.app_link")),
      el("div", { class: "invite-link", "data-testid": "invite-app-link" }, data.app_link),
      el("a", { class: "more", href: share, target: "_blank", rel: "noopener", "data-testid": "invite-share" }, t("miniapp.invite.share")),
      el("table", { class: "levels", "data-testid": "invite-levels" },
        el("thead", {}, el("tr", {},
          el("th", {}, t("miniapp.invite.level")), el("th", {}, t("miniapp.invite.referees")),
          el("th", {}, t("miniapp.invite.pending")), el("th", {}, t("miniapp.invite.available")))),
        el("tbody", {}, ...rows)),
      el("div", { class: "invite-totals", "data-testid": "invite-totals" },
        el("b", {}, t("miniapp.invite.total"), " "),
        el("span", {}, t("miniapp.invite.totals", {
          pending: units.format(data.totals.pending, 6), available: units.format(data.totals.available, 6) })))));
  },
});
