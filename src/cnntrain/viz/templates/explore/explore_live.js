"use strict";
// "Your input": the learner draws (explore_draw.js: a 2D image, or a 1D signal as a curve), drops or picks
// an image file (explore_file.js: converted as `cnntrain predict` converts it), or picks a test sample
// carried in the page, and the page runs the model on it (LiveNet, live_net.js) and redraws every map of
// the strip, the close-up, the prediction and the up-close arithmetic.

const LIVE = DATA.live;
const LV = { pixels: null, since: null, frame: 0, cursor: [0, 0], updates: 0, ms: [] };
const THUMB_BOX = 40, THUMB_MAX = 8; // as tasks/explore.py's THUMB_SIZE and THUMB_CHANNELS

function livePixels(entry) {
  const bytes = bytesOf(entry.b64);
  return entry.dtype === "u8" ? Float32Array.from(bytes) : new Float32Array(bytes.buffer);
}

function startLive() {
  const body = $("live-body");
  if (!LIVE || !LIVE.program) {
    body.append(el("p", { class: "muted", id: "live-off", text: "This page shows the one input it was written for: " +
      (LIVE ? LIVE.why : "it was written without live input") + ". Run cnntrain explore --image FILE for another input." }));
    return;
  }
  LV.pixels = livePixels(LIVE.pixels);
  const [C] = LIVE.shape;
  const controls = el("div", { class: "live-controls" });
  const note = el("p", { id: "live-note", class: "muted", role: "status", "aria-live": "polite" });
  body.append(el("p", { class: "hint", text: "Change the input and every map below, the prediction and the arithmetic " +
    "up close are recomputed here in the page from the model's own weights." }), controls, note,
  el("p", { id: "live-time", class: "muted" }));
  if (LIVE.kind === "image") controls.append(imagePad(C));
  if (LIVE.kind === "signal") controls.append(signalPad(C));
  controls.append(sidePanel());
  if (LIVE.kind === "volume") liveNote("Drawing a volume is not offered: pick a test sample.");
  else if (C === 3 && LIVE.kind === "image") liveNote("This model reads colour (RGB): what you draw is grey, the same on all three channels.");
  else if (C > 1) liveNote(`This model reads ${C} channels: what you draw is the same on every channel.`);
  drawPad();
  if (DATA.prediction) showTopThree(DATA.prediction);
}

function liveNote(text, bad = false) {
  const note = $("live-note");
  note.textContent = text;
  note.className = bad ? "bad" : "muted";
}

function sidePanel() {
  const side = el("div", { class: "live-side" });
  const select = el("select", { id: "live-sample", "aria-label": "input to show" },
    el("option", { value: "-1", text: `${DATA.image} (the page's input)` }));
  LIVE.samples.forEach((s, k) => select.append(el("option", { value: String(k), text: s.label })));
  select.addEventListener("change", (event) => {
    const k = Number(select.value);
    setInput(livePixels(k < 0 ? LIVE.pixels : LIVE.samples[k]), event.timeStamp, k < 0 ? DATA.image : LIVE.samples[k].label);
    liveNote(k < 0 ? `the page's input, ${DATA.image}` : `${LIVE.samples[k].label}, as the model's test split holds it`);
  });
  if (DATA.prediction) side.append(el("div", { id: "live-prediction", "aria-live": "polite" }));
  side.append(el("label", {}, "Test samples ", select));
  if (LIVE.kind === "image") {
    const file = el("input", { type: "file", id: "live-file", accept: ".png,.jpg,.jpeg,.bmp,image/png,image/jpeg,image/bmp" });
    file.addEventListener("change", () => file.files.length && loadImageFile(file.files[0], performance.now()));
    side.append(el("label", {}, "Image file ", file));
  }
  return side;
}

// --- the model, run on the current pixels, and everything on the page redrawn ---------------------

function setInput(pixels, since, source = "your drawing") {
  LV.pixels = pixels;
  document.querySelector("#card--1 .type").textContent = source;
  if (LV.since === null) LV.since = since; // the first change the next update answers
  drawPad();
  if (!LV.frame) LV.frame = requestAnimationFrame(updateLive);
}

function updateLive() {
  LV.frame = 0;
  const result = LiveNet.run({ layers: LIVE.program }, floats, LV.pixels, LIVE.shape, LIVE.norm);
  showResult(result);
  const ms = performance.now() - LV.since;
  LV.since = null;
  LV.ms.push(ms);
  LV.updates += 1;
  $("live-time").textContent = `recomputed and redrawn in ${ms.toFixed(0)} ms`;
  document.body.dataset.liveUpdates = String(LV.updates);
}

function showResult(result) {
  fillInput(LV.pixels);
  floatCache.input = result.input.data;
  LAYERS.forEach((e, i) => {
    floatCache[`out${i}`] = result.outputs[i].data;
    if (isSpatial(e)) refreshMaps(e, result.outputs[i]);
  });
  INNER.forEach((e) => {
    const seen = result.convs[e.name];
    floatCache[`in:${e.name}`] = seen.input.data;
    floatCache[`out:${e.name}`] = seen.output.data;
    refreshMaps(e, seen.output);
  });
  LV.result = result;
  if (DATA.prediction) refreshPrediction(result.outputs[result.outputs.length - 1].data);
  renderChannels();
  if (S.pick) { // explains the picked pixel again, and redraws the map and the strip
    pick(S.pick.layer, S.pick.c, S.pick.d, S.pick.y, S.pick.x);
    return;
  }
  renderMap();
  LAYERS.forEach((e, i) => isSpatial(e) && drawThumbs(i));
  drawThumbs(-1);
}

// A layer's maps as the Python page makes them: each channel over its own min..max to 0..255.
function refreshMaps(entry, out) {
  const [C] = out.shape, [D, H, W] = LiveNet.dhw3(out.shape), plane = D * H * W;
  const tiles = new Uint8ClampedArray(out.data.length);
  for (let c = 0; c < C; c++) {
    const values = out.data.subarray(c * plane, (c + 1) * plane);
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const gain = 255 / (hi > lo ? hi - lo : 1);
    // a Uint8ClampedArray clamps and rounds halves to even, as numpy's rint
    for (let i = 0; i < plane; i++) tiles[c * plane + i] = (values[i] - lo) * gain;
    entry.min[c] = lo;
    entry.max[c] = hi;
  }
  if (entry.full) fillSprite(entry.full, tiles, [D, H, W], 1);
  fillSprite(entry.thumbs, tiles, [D, H, W], Math.ceil(Math.max(H, W) / THUMB_BOX));
}

function fillInput(pixels) {
  const [D, H, W] = LiveNet.dhw3(LIVE.shape);
  const tiles = Uint8ClampedArray.from(pixels);
  fillSprite(INPUT.full, tiles, [D, H, W], 1);
  fillSprite(INPUT.thumbs, tiles, [D, H, W], Math.ceil(Math.max(H, W) / THUMB_BOX));
  if (INPUT.rgb) INPUT.rgbImage = rgbCanvas(tiles, H, W);
}

function rgbCanvas(tiles, H, W) {
  const canvas = el("canvas", { width: W, height: H }), image = new ImageData(W, H);
  for (let i = 0; i < H * W; i++) {
    for (let c = 0; c < 3; c++) image.data[4 * i + c] = tiles[c * H * W + i];
    image.data[4 * i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas;
}

// Write (C, D, H, W) uint8 tiles into a sprite's sheet, shrunk by `factor` (block means, edges repeated)
function fillSprite(sprite, tiles, [D, H, W], factor) {
  const count = Math.min(sprite.c, factor > 1 ? THUMB_MAX : sprite.c) * D;
  for (let t = 0; t < count; t++) {
    const x0 = (t % sprite.cols) * sprite.w, y0 = Math.floor(t / sprite.cols) * sprite.h, base = t * H * W;
    if (factor === 1) {
      for (let y = 0; y < H; y++) sprite.pix.set(tiles.subarray(base + y * W, base + (y + 1) * W), (y0 + y) * sprite.sheetW + x0);
      continue;
    }
    for (let y = 0; y < sprite.h; y++) for (let x = 0; x < sprite.w; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) {
        sum += tiles[base + Math.min(H - 1, y * factor + dy) * W + Math.min(W - 1, x * factor + dx)];
      }
      sprite.pix[(y0 + y) * sprite.sheetW + x0 + x] = Math.round(sum / (factor * factor));
    }
  }
}

function refreshPrediction(logits) {
  const probs = LiveNet.softmax(logits), prediction = DATA.prediction;
  const names = prediction.named ? LIVE.classes : probs.map((_, k) => `class ${k}`);
  const order = probs.map((p, k) => k).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, prediction.top.length);
  prediction.top = order.map((k) => [names[k], probs[k]]);
  prediction.probs = probs;
  $("prediction").replaceWith(predictionCard(prediction));
  showTopThree(prediction);
}

// the top three beside the drawing, so the answer is in view while drawing
function showTopThree(prediction) {
  $("live-prediction").replaceChildren(el("div", { class: "muted", text: "the model says" }),
    ...prediction.top.slice(0, 3).map(([name, p]) => el("div", { class: "bar", "data-class": name, "data-value": String(p) },
      el("span", { class: "label", text: name }), el("span", { class: "fill", style: `width:${Math.max(1, 120 * p)}px` }),
      el("span", { class: "num", text: `${(100 * p).toFixed(1)}%` }))));
}
