// Profile: who the platform thinks you are (GET /me), and the language the app and bot speak.
GVL.register({
  id: "profile",
  titleKey: "miniapp.profile.tab",
  order: 10,
  async render(container) {
    const { el, t } = GVL;
    const me = await GVL.me();
    const name = [me.first_name, me.last_name].filter(Boolean).join(" ") || me.username || t("miniapp.profile.you");
    const avatar = me.photo_url ? el("img", { src: me.photo_url, alt: "" }) : (name[0] || "?").toUpperCase();
    const row = (label, value, testid) => el("div", { class: "row" }, el("span", {}, label), el("span", { "data-testid": testid }, value));
    const role = GVL.textOr(`miniapp.role.${me.role}`, me.role);

    // Each language is named in itself, so a user who landed in the wrong one can find theirs.
    const switcher = el("span", { class: "switch", "data-testid": "profile-language", "data-language": me.language },
      ...GVL.languages().map((code) => el("button", {
        type: "button",
        class: code === me.language ? "active" : null,
        "aria-pressed": String(code === me.language),
        "data-testid": `language-${code}`,
        onclick: async (event) => {
          if (code === me.language) return;
          const button = event.currentTarget;
          button.disabled = true;
          try { await GVL.setLanguage(code); } catch (error) { GVL.showError(error.message); button.disabled = false; }
        },
      }, t(`miniapp.language.${code}`))));

    container.replaceChildren(
      el("section", { class: "card", "data-testid": "profile" },
        el("div", { class: "profile-head" },
          el("div", { class: "avatar" }, avatar),
          el("div", {},
            el("div", { class: "profile-name", "data-testid": "profile-name" }, name, me.is_premium ? el("span", { class: "badge" }, t("miniapp.profile.premium")) : null),
            el("div", { class: "muted" }, me.username ? `@${me.username}` : t("miniapp.profile.id", { id: String(me.telegram_id) }))))),
      el("section", { class: "card" },
        el("h2", {}, t("miniapp.profile.account")),
        el("div", { class: "rows" },
          row(t("miniapp.profile.telegram_id"), String(me.telegram_id), "profile-telegram-id"),
          el("div", { class: "row row-switch" }, el("span", {}, t("miniapp.profile.language")), switcher),
          row(t("miniapp.profile.referral_code"), me.referral_code, "profile-referral-code"),
          row(t("miniapp.profile.role"), role, "profile-role"),
          row(t("miniapp.profile.member_since"), GVL.date(me.created_at), "profile-created"))));
  },
});
