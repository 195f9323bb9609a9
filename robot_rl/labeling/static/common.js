// Shared helpers: API calls in order, one id per browser tab, errors shown in the page.
"use strict";

const $ = (id) => document.getElementById(id);
let INFO = null;

// One id per tab (kept across reloads of that tab): undo reverts only this tab's actions.
const TAB = (() => {
  let t = sessionStorage.getItem("robot_rl_tab");
  if (!t) {
    t = "tab-" + Math.random().toString(36).slice(2, 12);
    sessionStorage.setItem("robot_rl_tab", t);
  }
  return t;
})();

function showError(msg) {
  const el = $("error");
  el.textContent = msg;
  el.hidden = !msg;
}

function showMessage(msg) {
  const el = $("message");
  el.textContent = msg || "";
  el.hidden = !msg;
}

let pending = 0;
function setPending(d) {
  pending += d;
  document.body.dataset.pending = String(pending);
}

// Every request runs after the previous one: labels reach the server in the order given.
let chain = Promise.resolve();
function enqueue(fn) {
  setPending(1);
  chain = chain
    .then(fn)
    .catch((e) => showError(e.message))
    .finally(() => setPending(-1));
  return chain;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    throw new Error("the labeling server is not reachable (stopped?): " + e.message);
  }
  let doc;
  try {
    doc = await resp.json();
  } catch (e) {
    throw new Error(`${path}: HTTP ${resp.status} with a non-JSON answer`);
  }
  if (!resp.ok) throw new Error(doc.error || `${path}: HTTP ${resp.status}`);
  showError("");
  return doc;
}

// Sharp view: an episode collected with display_size= has the same frames at that size as JPEG
// (/frames/<id>/<f>.jpg); the others, or with the view off, show the training frames scaled up.
const VIEW = { sharp: true, display: new Set() };

function sharp(episodeId) { return VIEW.sharp && VIEW.display.has(episodeId); }

function frameUrl(episodeId, f) {
  return `/frames/${episodeId}/${f}.${sharp(episodeId) ? "jpg" : "png"}`;
}

function setupView(onChange) {
  VIEW.display = new Set(INFO.episodes.filter((e) => e.display).map((e) => e.id));
  const box = $("sharp");
  $("view").hidden = VIEW.display.size === 0;
  box.checked = VIEW.sharp;
  const toggle = (on) => { VIEW.sharp = on; box.checked = on; onChange(); };
  box.addEventListener("change", () => { box.blur(); toggle(box.checked); });
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "v" || typingInField(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (VIEW.display.size === 0) return;
    ev.preventDefault();
    toggle(!VIEW.sharp);
  });
}

function typingInField(ev) {
  const t = ev.target;
  return t && (t.tagName === "INPUT" && t.type === "text" || t.tagName === "TEXTAREA");
}

async function start() {
  try {
    INFO = await api("/api/info");
  } catch (e) {
    showError(e.message);
    return;
  }
  $("dataset").textContent = `${INFO.dataset} (${INFO.task}, ${INFO.episodes.length} episodes)`;
  $("labeller").textContent = INFO.labeller;
  $("mode-name").textContent = INFO.mode === "goals" ? "· goal frames" : "· preferences";
  document.title = `robot_rl labeling · ${INFO.mode}`;
  if (INFO.mode === "goals") startGoals();
  else startPrefs();
}

// A clicked button keeps focus, and space/enter would press it again: give focus back.
document.addEventListener("click", (ev) => {
  const b = ev.target.closest && ev.target.closest("button");
  if (b) b.blur();
});
