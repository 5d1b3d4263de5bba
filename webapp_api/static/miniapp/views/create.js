// Create: order a generation (GET /catalog, POST /generations with an Idempotency-Key), follow
// its progress, show and offer the result, and a gallery of the user's results
// (GET /generations). Results are fetched with the same authorization, as blobs.
//
// Following a job: the server sends a `generation` event ({id, status, progress, error}) on the
// live socket with every change, committed with the change itself. While the socket is live
// the view draws those and reads the job over REST only at its start and its end (the outputs);
// while it is not (connecting, offline after a drop, refused), it polls GET /generations/{id}.
// A resumed socket delivers what it missed; a `resync` (events lost) reads the job again.
let stopFollowing = () => {};

GVL.register({
  id: "create",
  titleKey: "miniapp.create.tab",
  order: 50,
  leave() { stopFollowing(); },
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
    const intent = () => [model.value, prompt.value.trim(), ...Array.from(params.querySelectorAll("select"), (s) => s.value)].join("\u0000");
    const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());

    // The job followed, and how its state arrived (read by the browser test).
    let following = null;
    let timer = null;
    let shown = { status: null, progress: 0 };
    const counts = { events: 0, polls: 0 };
    const finished = (s) => s !== "queued" && s !== "running";
    const live = () => document.documentElement.dataset.live === "live";

    function show(state) {
      // Events and reads may cross: progress never goes back while the job runs.
      const progress = state.status === shown.status ? Math.max(shown.progress, state.progress) : state.progress;
      shown = { status: state.status, progress };
      bar.style.width = `${progress}%`;
      status.textContent = t(`miniapp.create.status_${state.status}`, { progress });
      job.dataset.events = String(counts.events);
      job.dataset.polls = String(counts.polls);
    }

    async function read(id) {
      const current = await GVL.api(`/generations/${id}`);
      if (following !== id) return;
      show(current);
      if (finished(current.status)) await done(current);
    }

    async function done(current) {
      stopFollowing();
      if (current.status === "succeeded") {
        const output = current.outputs[0];
        const url = await media(output);
        result.replaceChildren(view(output, url), el("a", { href: url, download: `${current.id}`, "data-testid": "create-download" }, t("miniapp.create.download")));
        showGallery().catch(() => {});
      } else if (current.error) {
        result.replaceChildren(el("div", {}, current.error.message));
      }
    }

    function onEvent(event) {
      const e = event.detail;
      if (e.type !== "generation" || !following || !e.data || e.data.id !== following) return;
      counts.events += 1;
      if (finished(e.data.status)) read(following).catch((err) => GVL.showError(err.message));
      else show(e.data);
    }
    function onResync() {
      if (following) read(following).catch((err) => GVL.showError(err.message));
    }
    function poll(id) {
      timer = setTimeout(async () => {
        if (following !== id) return;
        if (!live()) {
          counts.polls += 1;
          try { await read(id); } catch (err) { GVL.showError(err.message); }
        }
        if (following === id) poll(id);
      }, 700);
    }

    stopFollowing = () => {
      following = null;
      clearTimeout(timer);
      window.removeEventListener("gvl:event", onEvent);
      window.removeEventListener("gvl:resync", onResync);
    };

    async function follow(id) {
      stopFollowing();
      following = id;
      shown = { status: null, progress: 0 };
      counts.events = 0;
      counts.polls = 0;
      window.addEventListener("gvl:event", onEvent);
      window.addEventListener("gvl:resync", onResync);
      poll(id);
      await read(id);
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
