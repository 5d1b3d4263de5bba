// Profile: who the platform thinks you are (GET /me).
GVL.register({
  id: "profile",
  title: "Profile",
  order: 10,
  async render(container) {
    const { el } = GVL;
    const me = await GVL.api("/me");
    const name = [me.first_name, me.last_name].filter(Boolean).join(" ") || me.username || "You";
    const avatar = me.photo_url ? el("img", { src: me.photo_url, alt: "" }) : (name[0] || "?").toUpperCase();
    const row = (label, value, testid) => el("div", { class: "row" }, el("span", {}, label), el("span", { "data-testid": testid }, value));
    container.replaceChildren(
      el("section", { class: "card", "data-testid": "profile" },
        el("div", { class: "profile-head" },
          el("div", { class: "avatar" }, avatar),
          el("div", {},
            el("div", { class: "profile-name", "data-testid": "profile-name" }, name, me.is_premium ? el("span", { class: "badge" }, "Premium") : null),
            el("div", { class: "muted" }, me.username ? `@${me.username}` : `id ${me.telegram_id}`)))),
      el("section", { class: "card" },
        el("h2", {}, "Account"),
        el("div", { class: "rows" },
          row("Telegram id", String(me.telegram_id), "profile-telegram-id"),
          row("Language", me.language, "profile-language"),
          row("Referral code", me.referral_code, "profile-referral-code"),
          row("Role", me.role, "profile-role"),
          row("Member since", GVL.date(me.created_at), "profile-created"))));
  },
});
