// Preferences mode: two clips side by side, looping in sync; answer with ← → = space, undo u.
"use strict";

const P = { pair: null, left: [], right: [], t: 0, timer: null, busy: false };

function loadClip(seg) {
  // Frames start .. start+length: the states the segment's steps act in, plus the last outcome.
  const imgs = [];
  for (let f = seg.start; f <= seg.start + seg.length; f++) {
    const img = new Image();
    img.src = frameUrl(seg.episode, f);
    imgs.push(img);
  }
  return imgs;
}

function drawClip(canvas, imgs, t) {
  const img = imgs[t % imgs.length];
  if (!img || !img.complete || img.naturalWidth === 0) return;
  if (canvas.width !== img.naturalWidth) {  // a display frame draws at its own size
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.classList.toggle("pixelated", img.naturalWidth === INFO.frame_shape[1]);
  }
  canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
}

function tick() {
  if (!P.pair) return;
  const n = Math.max(P.left.length, P.right.length);
  P.t = (P.t + 1) % n;
  drawClip($("clip-left"), P.left, P.t);
  drawClip($("clip-right"), P.right, P.t);
  $("p-step").textContent = P.t;
}

function describe(seg) {
  return `episode ${seg.episode}, frames ${seg.start}–${seg.start + seg.length}`;
}

function applyNext(doc) {
  $("p-answered").textContent = doc.answered;
  $("p-total").textContent = doc.total;
  $("p-skipped").textContent = doc.skipped;
  $("p-source").textContent = "queue: " + doc.source;
  if (doc.message) showMessage(doc.message);
  P.pair = doc.pair;
  $("p-done").hidden = !!doc.pair;
  $("clips").style.visibility = doc.pair ? "visible" : "hidden";
  document.body.dataset.pair = doc.pair ? String(doc.pair.index) : "";
  if (!doc.pair) return;
  P.left = loadClip(doc.pair.left);
  P.right = loadClip(doc.pair.right);
  P.t = 0;
  $("left-info").textContent = describe(doc.pair.left);
  $("right-info").textContent = describe(doc.pair.right);
  $("p-len").textContent = Math.max(P.left.length, P.right.length) - 1;
  // Show the first frames as soon as they arrive, then loop in sync on one timer.
  P.left[0].onload = () => drawClip($("clip-left"), P.left, P.t);
  P.right[0].onload = () => drawClip($("clip-right"), P.right, P.t);
}

function answer(choice) {
  if (!P.pair || P.busy) return;  // one answer per shown pair, even with fast key repeats
  P.busy = true;
  const index = P.pair.index;
  enqueue(async () => {
    try {
      showMessage("");
      applyNext(await api("/api/prefs/answer", { tab: TAB, index, choice }));
    } finally {
      P.busy = false;
    }
  });
}

function undoPref() {
  if (P.busy) return;
  P.busy = true;
  enqueue(async () => {
    try {
      applyNext(await api("/api/prefs/undo", { tab: TAB }));
    } finally {
      P.busy = false;
    }
  });
}

function prefsKey(ev) {
  if (typingInField(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const actions = {
    ArrowLeft: () => answer("left"), ArrowRight: () => answer("right"),
    "=": () => answer("equal"), " ": () => answer("skip"), u: undoPref,
  };
  if (actions[ev.key]) {
    ev.preventDefault();
    actions[ev.key]();
  }
}

function startPrefs() {
  $("prefs").hidden = false;
  const [h, w] = INFO.frame_shape;
  for (const id of ["clip-left", "clip-right"]) {
    $(id).width = w;
    $(id).height = h;
  }
  $("btn-left").onclick = () => answer("left");
  $("btn-right").onclick = () => answer("right");
  $("btn-equal").onclick = () => answer("equal");
  $("btn-skip").onclick = () => answer("skip");
  $("btn-p-undo").onclick = undoPref;
  document.addEventListener("keydown", prefsKey);
  const fps = Math.max(2, Math.min(10, INFO.fps || 10));
  P.timer = setInterval(tick, 1000 / fps);
  // Toggling reloads the shown pair's clips from the other frames.
  setupView(() => { if (P.pair) { P.left = loadClip(P.pair.left); P.right = loadClip(P.pair.right); } });
  enqueue(async () => applyNext(await api(`/api/prefs/next?tab=${TAB}`)));
}
