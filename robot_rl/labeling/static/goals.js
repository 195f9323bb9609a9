// Goals mode: scrub episodes, label frames as success / not success, import goal images.
"use strict";

const G = { ei: 0, frame: 0, labels: new Map() };  // labels: frame -> 0/1 for the shown episode

function episode() { return INFO.episodes[G.ei]; }

function renderCounts(c) {
  $("c-labelled").textContent = c.labelled;
  $("c-positives").textContent = c.positives;
  $("c-negatives").textContent = c.negatives;
  $("c-visited").textContent = c.episodes_visited;
  $("c-episodes").textContent = c.episodes_total;
  $("c-images").textContent = c.goal_images;
}

function applyState(st) {
  renderCounts(st.counts);
  const ep = episode().id;
  if (st.episode !== null && st.episode !== undefined && st.episode !== ep) return;  // stale
  G.labels = new Map(st.labels.filter((l) => l.episode === ep).map((l) => [l.frame, l.label]));
  renderStripLabels();
  renderFrame();
  renderGallery(st.images);
}

function renderGallery(images) {
  const gal = $("gallery");
  if (gal.childElementCount === images.length) return;
  gal.replaceChildren(...images.map((im) => {
    const img = document.createElement("img");
    img.src = "/" + im.file;
    img.title = im.file;
    return img;
  }));
}

function renderFrame() {
  const ep = episode();
  $("frame").src = frameUrl(ep.id, G.frame);
  $("frame").classList.toggle("pixelated", !sharp(ep.id));  // smooth only a sharp frame
  $("frame-no").textContent = G.frame;
  $("frame-last").textContent = ep.frames - 1;
  $("scrubber").value = G.frame;
  const lab = G.labels.get(G.frame);
  const badge = $("frame-label");
  badge.className = "badge " + (lab === 1 ? "pos" : lab === 0 ? "neg" : "none");
  badge.textContent = lab === 1 ? "success" : lab === 0 ? "not success" : "unlabelled";
  for (const img of $("strip").children) {
    img.classList.toggle("current", Number(img.dataset.frame) === G.frame);
  }
  const cur = $("strip").children[G.frame];
  if (cur) cur.scrollIntoView({ block: "nearest", inline: "nearest" });
}

function renderStripLabels() {
  for (const img of $("strip").children) {
    const lab = G.labels.get(Number(img.dataset.frame));
    img.classList.toggle("pos", lab === 1);
    img.classList.toggle("neg", lab === 0);
  }
}

function showEpisode(ei, frame) {
  G.ei = Math.max(0, Math.min(INFO.episodes.length - 1, ei));
  const ep = episode();
  G.frame = Math.max(0, Math.min(ep.frames - 1, frame));
  $("episode-select").value = String(ep.id);
  $("ep-pos").textContent = `(${G.ei + 1} of ${INFO.episodes.length})`;
  $("scrubber").max = ep.frames - 1;
  const strip = $("strip");
  strip.replaceChildren();
  for (let i = 0; i < ep.frames; i++) {
    const img = document.createElement("img");
    img.src = `/frames/${ep.id}/${i}.png`;
    img.dataset.frame = i;
    img.loading = "lazy";
    img.title = `frame ${i}`;
    img.addEventListener("click", () => { G.frame = i; renderFrame(); });
    strip.appendChild(img);
  }
  G.labels = new Map();
  renderFrame();
  enqueue(async () => {
    await api("/api/goals/visit", { episode: ep.id });
    applyState(await api(`/api/goals?episode=${ep.id}`));
  });
}

function step(d) {
  const f = G.frame + d;
  if (f >= episode().frames) {
    if (G.ei + 1 < INFO.episodes.length) showEpisode(G.ei + 1, 0);
  } else if (f < 0) {
    if (G.ei > 0) showEpisode(G.ei - 1, INFO.episodes[G.ei - 1].frames - 1);
  } else {
    G.frame = f;
    renderFrame();
  }
}

function label(value, toEnd) {
  const body = { tab: TAB, episode: episode().id, frame: G.frame, label: value, to_end: toEnd };
  G.labels.set(G.frame, value);  // optimistic; the server's answer replaces it
  if (toEnd) for (let f = G.frame; f < episode().frames; f++) G.labels.set(f, value);
  renderStripLabels();
  renderFrame();
  enqueue(async () => {
    applyState(await api("/api/goals/label", body));
  });
  if (!toEnd && G.frame + 1 < episode().frames) step(1);
}

function undo() {
  enqueue(async () => {
    const st = await api("/api/goals/undo", { tab: TAB });
    showMessage(st.message);
    if (st.episode !== undefined && st.episode !== episode().id) {
      const ei = INFO.episodes.findIndex((e) => e.id === st.episode);
      if (ei >= 0) showEpisode(ei, st.frame);
    } else if (st.frame !== undefined) {
      G.frame = st.frame;
    }
    if (st.episode === undefined || st.episode === episode().id) applyState(st);
  });
}

function importGoals(ev) {
  ev.preventDefault();
  const folder = $("import-folder").value;
  enqueue(async () => {
    const res = await api("/api/import_goals", { folder });
    const items = [
      ...res.messages.map((m) => ["note", m]),
      ...res.refused.map((m) => ["refused", "refused: " + m]),
    ];
    items.unshift(["note", `imported ${res.imported.length} image(s) as success`]);
    $("import-result").replaceChildren(...items.map(([cls, text]) => {
      const li = document.createElement("li");
      li.className = cls;
      li.textContent = text;
      return li;
    }));
    applyState(await api(`/api/goals?episode=${episode().id}`));
  });
}

function goalsKey(ev) {
  if (typingInField(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key;
  const actions = {
    s: () => label(1, false), f: () => label(0, false), e: () => label(1, true), u: undo,
    n: () => step(1), ArrowRight: () => step(1), p: () => step(-1), ArrowLeft: () => step(-1),
    ArrowDown: () => showEpisode(G.ei + 1, 0), "]": () => showEpisode(G.ei + 1, 0),
    ArrowUp: () => showEpisode(G.ei - 1, 0), "[": () => showEpisode(G.ei - 1, 0),
  };
  if (actions[k]) {
    ev.preventDefault();
    actions[k]();
  }
}

function startGoals() {
  $("goals").hidden = false;
  const sel = $("episode-select");
  for (const ep of INFO.episodes) {
    const o = document.createElement("option");
    o.value = ep.id;
    o.textContent = `${ep.id} (${ep.frames} frames)`;
    sel.appendChild(o);
  }
  if (INFO.episodes.length === 0) { showError("the dataset has no episodes"); return; }
  sel.addEventListener("change", () => {
    showEpisode(INFO.episodes.findIndex((e) => e.id === Number(sel.value)), 0);
    sel.blur();
  });
  $("scrubber").addEventListener("input", (ev) => { G.frame = Number(ev.target.value); renderFrame(); });
  $("prev-ep").onclick = () => showEpisode(G.ei - 1, 0);
  $("next-ep").onclick = () => showEpisode(G.ei + 1, 0);
  $("btn-success").onclick = () => label(1, false);
  $("btn-fail").onclick = () => label(0, false);
  $("btn-to-end").onclick = () => label(1, true);
  $("btn-undo").onclick = undo;
  $("import-form").addEventListener("submit", importGoals);
  if (INFO.goals_from) $("import-folder").value = INFO.goals_from;
  document.addEventListener("keydown", goalsKey);
  setupView(renderFrame);  // the strip keeps the small training frames
  showEpisode(0, 0);
}
