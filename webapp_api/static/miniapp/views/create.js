// Create: order a generation (GET /catalog, POST /generations with an Idempotency-Key), follow
// its progress (GET /generations/{id}), show and offer the result, and a gallery of the user's
// results (GET /generations). Results are fetched with the same authorization, as blobs.
GVL.register({
  id: "create",
  titleKey: "miniapp.create.tab",
  order: 50,
  async render(container) {
    const { el, units, t } = GVL;
    const models = await GVL.api("/catalog");
    const paramSelect = (name, schema) => {
      const prop = (schema.properties || {})[name];
      if (!prop || !prop.enum) return null;
      return el("label", {}, t(`miniapp.create.param_${name}`),
        el("select", { name: `param_${name}`, "data-testid": `create-param-${name}` },
          ...prop.enum.map((v) => el("option", { value: String(v), selected: v === prop.default ? true : null }, String(v)))));
    };
    const model = el("select", { name: "model", "data-testid": "create-model" },
      ...models.map((m) => el("option", { value: m.id }, `${m.title} · ${units.format(m.price, m.decimals)} ${m.asset}`)));
    const params = el("div", { "data-testid": "create-params" });
    const price = el("div", { class: "muted", "data-testid": "create-price" });
    const prompt = el("textarea", { name: "prompt", maxlength: "1000", rows: "3", placeholder: t("miniapp.create.prompt_placeholder"), "data-testid": "create-prompt" });
    const form = el("form", { class: "send", "data-testid": "create-form", novalidate: true },
      el("label", {}, t("miniapp.create.model"), model), el("label", {}, t("miniapp.create.prompt"), prompt), params, price);
    const bar = el("div", { class: "progress-bar", style: "height:6px;background:#8e6cf0;width:0%;transition:width .3s" });
    const status = el("div", { class: "muted", "data-testid": "create-status" });
    const result = el("div", { "data-testid": "create-result" });
    const job = el("section", { class: "card hidden", "data-testid": "create-job" }, el("div", { style: "background:#eee;border-radius:3px" }, bar), status, result);
    const gallery = el("div", { class: "gallery", "data-testid": "gallery", style: "display:flex;flex-wrap:wrap;gap:6px" });
    container.replaceChildren(
      el("section", { class: "card" }, el("h2", {}, t("miniapp.create.title")), form), job,
      el("section", { class: "card" }, el("h2", {}, t("miniapp.create.gallery")), gallery));

    const chosen = () => models.find((m) => m.id === model.value);
    function showModel() {
      const m = chosen();
      params.replaceChildren(...["aspect_ratio", "duration", "style"].map((n) => paramSelect(n, m.params)).filter(Boolean));
      price.textContent = t("miniapp.create.price", { amount: units.format(m.price, m.decimals), asset: m.asset });
    }
    model.addEventListener("change", showModel);
    showModel();

    async function media(output) {
      const response = await fetch(output.url, { headers: { Authorization: `tma ${GVL.tg.initData}` } });
      if (!response.ok) throw new Error(t("miniapp.error.generic"));
      return URL.createObjectURL(await response.blob());
    }
    function view(output, url) {
      if (output.mime.startsWith("audio/")) return el("audio", { controls: true, src: url, "data-testid": "create-output" });
      if (output.mime.startsWith("video/")) return el("video", { controls: true, src: url, "data-testid": "create-output", style: "max-width:100%" });
      return el("img", { src: url, alt: "", "data-testid": "create-output", style: "max-width:100%;border-radius:8px" });
    }
    async function showGallery() {
      const jobs = await GVL.api("/generations?limit=12");
      const items = [];
      for (const j of jobs.filter((x) => x.status === "succeeded" && x.outputs.length)) {
        const output = j.outputs[0];
        const url = await media(output);
        items.push(el("a", { href: url, download: `${j.id}`, title: j.prompt, "data-testid": "gallery-item", style: "width:96px" },
          output.mime.startsWith("image/") ? el("img", { src: url, alt: j.prompt, style: "width:96px;height:96px;object-fit:cover;border-radius:6px" }) : el("div", { class: "muted" }, j.model)));
      }
      gallery.replaceChildren(...(items.length ? items : [el("div", { class: "muted" }, t("miniapp.create.empty"))]));
    }
    showGallery().catch(() => {});

    let pending = null;
    let timer = null;
    const intent = () => [model.value, prompt.value.trim(), ...Array.from(params.querySelectorAll("select"), (s) => s.value)].join("\u0000");
    const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

    async function follow(id) {
      const current = await GVL.api(`/generations/${id}`);
      bar.style.width = `${current.progress}%`;
      status.textContent = t(`miniapp.create.status_${current.status}`, { progress: current.progress });
      if (current.status === "queued" || current.status === "running") {
        timer = setTimeout(() => follow(id).catch((e) => GVL.showError(e.message)), 700);
        return;
      }
      if (current.status === "succeeded") {
        const output = current.outputs[0];
        const url = await media(output);
        result.replaceChildren(view(output, url), el("a", { href: url, download: `${current.id}`, "data-testid": "create-download" }, t("miniapp.create.download")));
        showGallery().catch(() => {});
      } else if (current.error) {
        result.replaceChildren(el("div", {}, current.error.message));
      }
    }

    async function submit() {
      GVL.showError("");
      const text = prompt.value.trim();
      if (!text) return GVL.showError(t("error.invalid_prompt"));
      if (!pending || pending.intent !== intent()) pending = { intent: intent(), key: newKey() };
      const chosenParams = {};
      for (const select of params.querySelectorAll("select")) {
        const name = select.name.replace(/^param_/, "");
        chosenParams[name] = /^\d+$/.test(select.value) ? Number(select.value) : select.value;
      }
      GVL.mainButton.busy(true);
      try {
        const created = await GVL.api("/generations", {
          method: "POST",
          headers: { "Idempotency-Key": pending.key },
          body: { model: model.value, prompt: text, params: chosenParams },
        });
        pending = null;
        job.classList.remove("hidden");
        result.replaceChildren();
        clearTimeout(timer);
        await follow(created.id);
      } catch (error) {
        GVL.showError(error.message);
      } finally {
        GVL.mainButton.busy(false);
      }
    }
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
    GVL.mainButton.set(t("miniapp.create.button"), submit);
  },
});
