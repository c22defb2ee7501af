"use strict";
// The explore page: data, drawing and the close-up of one layer. The data comes from
// cnntrain.tasks.explore as JSON in #explore-data; explore_strip.js draws the network strip,
// explore_detail.js explains a clicked pixel, explore_playground.js and explore_lessons.js add the
// playground, the sliding filter and "why convolution". Every spatial thing is handled as
// depth x height x width (a 1D signal is 1 x 1 x L, an image 1 x H x W), so one code path serves 1D,
// 2D and 3D models.

const DATA = JSON.parse(document.getElementById("explore-data").textContent);
const LAYERS = DATA.layers;
const INNER = DATA.inner; // conv layers inside blocks: index LAYERS.length + k in layerAt
const INPUT = DATA.input;
const CMAP = DATA.colormap;
const $ = (id) => document.getElementById(id);
const S = { layer: null, channel: 0, depthFrac: 0.5, pick: null, boxes: {}, winner: null };

// --- small helpers ------------------------------------------------------------------------------

// el, pct, grouped and fixed come from page.js, the script every page shares
const shapeText = (shape) => shape.map((v) => (v === null ? "?" : v)).join(" \u00d7 ");
function num(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.001 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(a >= 100 ? 1 : 3);
}
const pad3 = (list, fill) => [...Array(3 - list.length).fill(fill), ...list];
const dhw = (shape) => pad3(shape.slice(1), 1); // (C, *spatial) -> [D, H, W]
const isSpatial = (entry) => Boolean(entry.thumbs);
const layerAt = (i) => (i < 0 ? INPUT : i < LAYERS.length ? LAYERS[i] : INNER[i - LAYERS.length]);
const indexOf = (name) => [...LAYERS, ...INNER].findIndex((e) => e.name === name);
const dimsOf = (entry) => (entry.out_shape || entry.shape).length - 1;

function bytesOf(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
const floatCache = {};
function floats(key) {
  // decoded on first use: most arrays are only needed when their layer is clicked
  if (!floatCache[key]) floatCache[key] = new Float32Array(bytesOf(DATA.arrays[key]).buffer);
  return floatCache[key];
}

// --- sprites: every channel and depth slice of a layer as one grey PNG ---------------------------

async function decodeSprite(sprite) {
  const img = new Image();
  img.src = "data:image/png;base64," + sprite.png;
  await img.decode();
  const canvas = el("canvas", { width: img.naturalWidth, height: img.naturalHeight });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  sprite.pix = new Uint8Array(canvas.width * canvas.height);
  for (let i = 0; i < sprite.pix.length; i++) sprite.pix[i] = rgba[4 * i];
  sprite.sheetW = canvas.width;
  sprite.png = null;
}

// 0..255 -> one RGBA pixel as a little-endian 32-bit word: the colormap, and grey
const PALETTE = Uint32Array.from(CMAP, ([r, g, b]) => (255 << 24 | b << 16 | g << 8 | r) >>> 0);
const GREYS = Uint32Array.from({ length: 256 }, (_, v) => (255 << 24 | v << 16 | v << 8 | v) >>> 0);

function tileImage(sprite, c, d, grey) {
  const t = c * sprite.d + d;
  const x0 = (t % sprite.cols) * sprite.w, y0 = Math.floor(t / sprite.cols) * sprite.h;
  const image = new ImageData(sprite.w, sprite.h), words = new Uint32Array(image.data.buffer);
  const colours = grey ? GREYS : PALETTE;
  for (let y = 0; y < sprite.h; y++) {
    for (let x = 0; x < sprite.w; x++) words[y * sprite.w + x] = colours[sprite.pix[(y0 + y) * sprite.sheetW + x0 + x]];
  }
  return image;
}

function scaleFor(w, h, box) {
  if (h === 1) return { sx: Math.min((box * 1.8) / w, 8), sy: Math.max(16, box / 12) }; // a 1D strip
  const big = Math.max(w, h);
  const s = big <= box ? Math.floor(box / big) : box / big;
  return { sx: Math.min(s, 14), sy: Math.min(s, 14) };
}

const SCRATCH = document.createElement("canvas");
// Draw channel c, slice d of a sprite onto a canvas, scaled; returns the scale used.
function paint(canvas, sprite, c, d, box, grey = false) {
  const scale = scaleFor(sprite.w, sprite.h, box);
  const off = SCRATCH; // one canvas for every tile: live pages repaint every tile on each change
  off.width = sprite.w;
  off.height = sprite.h;
  off.getContext("2d").putImageData(tileImage(sprite, c, d, grey), 0, 0);
  canvas.width = Math.max(1, Math.round(sprite.w * scale.sx));
  canvas.height = Math.max(1, Math.round(sprite.h * scale.sy));
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  return scale;
}

function paintRgb(canvas, box) {
  const [, h, w] = dhw(INPUT.shape);
  const scale = scaleFor(w, h, box);
  canvas.width = Math.round(w * scale.sx);
  canvas.height = Math.round(h * scale.sy);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(INPUT.rgbImage, 0, 0, canvas.width, canvas.height);
  return scale;
}

// Outline a {lo, hi} box given in [D, H, W] of the true map; `factor` true pixels make one sprite pixel.
function strokeBox(canvas, box, scale, factor, colour, depth) {
  if (!box || depth < box.lo[0] || depth > box.hi[0]) return;
  const ctx = canvas.getContext("2d");
  const x = (box.lo[2] / factor) * scale.sx, y = (box.lo[1] / factor) * scale.sy;
  const w = ((box.hi[2] - box.lo[2] + 1) / factor) * scale.sx, h = ((box.hi[1] - box.lo[1] + 1) / factor) * scale.sy;
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#000";
  ctx.strokeRect(x - 1, y - 1, w + 2, h + 2);
  ctx.strokeStyle = colour;
  ctx.strokeRect(x, y, w, h);
}

const depthOf = (entry) => Math.min(dhw(entry.out_shape || entry.shape)[0] - 1,
  Math.floor(S.depthFrac * dhw(entry.out_shape || entry.shape)[0]));

// --- the close-up -------------------------------------------------------------------------------

function selectLayer(i) {
  S.layer = i;
  S.channel = 0;
  const entry = layerAt(i);
  const card = entry.parent === undefined ? i : entry.parent;
  document.querySelectorAll(".card").forEach((c) => c.classList.toggle("selected", Number(c.dataset.layer) === card));
  const depth = dhw(entry.out_shape || entry.shape)[0];
  $("depth-row").hidden = depth === 1;
  $("depth").max = depth - 1;
  $("depth").value = Math.min(depth - 1, Math.floor(S.depthFrac * depth));
  renderHead(i);
  renderChannels();
  renderMap();
}

function renderHead(i) {
  const head = $("closeup-head");
  head.replaceChildren();
  if (i < 0) {
    head.append(el("div", { class: "big", text: `Input: ${DATA.image}, ${shapeText(INPUT.shape)}` }),
      el("div", { class: "muted", text: `normalization: ${DATA.normalization}` }));
    return;
  }
  const e = layerAt(i);
  head.append(el("div", { class: "big", text: `#${e.index} ${e.name} (${e.type}): ${shapeText(e.in_shape)} \u2192 ${shapeText(e.out_shape)}` }));
  const facts = [`${grouped(e.params)} parameters`];
  if (e.conv) facts.push(`kernel ${e.conv.k.join("\u00d7")}, stride ${e.conv.s.join("\u00d7")}, padding ${e.conv.p.join("\u00d7")}, dilation ${e.conv.d.join("\u00d7")}`);
  if (e.pool && e.pool.k) facts.push(`${e.pool.kind} pool: window ${e.pool.k.join("\u00d7")}, stride ${e.pool.s.join("\u00d7")}, padding ${e.pool.p.join("\u00d7")}`);
  if (e.rf) facts.push(`each output pixel sees ${e.rf.join("\u00d7")} input pixels (receptive field), neighbours ${e.jump.join("\u00d7")} apart`);
  head.append(el("div", { class: "muted", text: facts.join(" \u00b7 ") }));
  const inside = INNER.map((c, k) => [c, LAYERS.length + k]).filter(([c]) => c.parent === i);
  if (inside.length) {
    head.append(el("div", { class: "inner" }, "conv layers inside this block: ", ...inside.map(([c, k]) =>
      el("button", { class: "inner-button", "data-layer": c.name, text: c.name.split(".").slice(1).join("."), onclick: () => selectLayer(k) }))));
  }
  if (e.parent !== undefined) {
    head.append(el("div", { class: "inner" }, "inside block ",
      el("button", { class: "inner-button", text: `#${LAYERS[e.parent].index} ${LAYERS[e.parent].name}`, onclick: () => selectLayer(e.parent) })));
  }
  if (!e.up_close) head.append(el("div", { class: "bad", text: `Only thumbnails of this layer are in the page (to keep it small); run cnntrain explore --layers ${e.name} to click its pixels.` }));
}

const spriteOf = (entry) => entry.full || entry.thumbs;

function renderChannels() {
  const entry = layerAt(S.layer), sprite = spriteOf(entry);
  const box = $("channels");
  box.replaceChildren();
  for (let c = 0; c < sprite.c; c++) {
    const canvas = el("canvas", { title: `channel ${c}`, "data-channel": c, onclick: () => { S.channel = c; renderChannels(); renderMap(); } });
    paint(canvas, sprite, c, Number($("depth").value), sprite.h === 1 ? 60 : 36, S.layer < 0);
    if (c === S.channel) canvas.classList.add("selected");
    box.append(canvas);
  }
}

function renderMap() {
  const entry = layerAt(S.layer), sprite = spriteOf(entry), d = Number($("depth").value);
  const canvas = $("fmap");
  const rgb = S.layer < 0 && INPUT.rgbImage;
  const scale = rgb ? paintRgb(canvas, 380) : paint(canvas, sprite, S.channel, d, 380, S.layer < 0);
  const factor = dhw(entry.out_shape || entry.shape)[2] / sprite.w;
  canvas.dataset.sx = scale.sx / factor;
  canvas.dataset.sy = scale.sy / factor;
  canvas.dataset.layer = S.layer;
  strokeBox(canvas, S.boxes[S.layer], scale, factor, "#ffb000", d);
  if (S.pick && S.pick.layer === S.layer && S.pick.c === S.channel) {
    const p = S.pick;
    strokeBox(canvas, { lo: [p.d, p.y, p.x], hi: [p.d, p.y, p.x] }, scale, factor, "#e4572e", d);
  }
  const lo = entry.min[S.channel], hi = entry.max[S.channel];
  $("fmap-title").textContent = S.layer < 0 ? "Input" : `Channel ${S.channel}`;
  $("depth-value").textContent = `${d} of ${dhw(entry.out_shape || entry.shape)[0] - 1}`;
  $("fmap-legend").textContent = S.layer < 0 ? "the pixels as the network gets them, 0 to 255, before standardisation"
    : `colour: ${num(lo)} (dark) to ${num(hi)} (yellow)`;
  renderInputView();
}

function onMapClick(event) {
  const canvas = $("fmap"), entry = layerAt(S.layer);
  if (!entry.full) return;
  const rect = canvas.getBoundingClientRect();
  const [D, H, W] = dhw(entry.out_shape || entry.shape);
  const x = Math.min(W - 1, Math.floor((event.clientX - rect.left) / Number(canvas.dataset.sx)));
  const y = Math.min(H - 1, Math.floor((event.clientY - rect.top) / Number(canvas.dataset.sy)));
  pick(S.layer, S.channel, Math.min(D - 1, Number($("depth").value)), y, x);
}

// The receptive field of output (d, y, x) of layer L, in the input (-1) and every earlier layer.
function receptiveBoxes(L, pos) {
  const top = layerAt(L), boxes = {};
  if (!top || !top.rf) return boxes;
  const dims = top.rf.length;
  const at = pos.slice(3 - dims);
  const span = (rf, jump, off) => {
    const lo = at.map((p, i) => (p * top.jump[i] - top.offset[i] + off[i]) / jump[i]);
    return { lo: pad3(lo, 0), hi: pad3(lo.map((v, i) => v + (top.rf[i] - rf[i]) / jump[i]), 0) };
  };
  boxes[-1] = span(Array(dims).fill(1), Array(dims).fill(1), Array(dims).fill(0));
  for (let m = 0; m < (top.parent === undefined ? L : top.parent); m++) {
    const e = LAYERS[m];
    if (e.rf && isSpatial(e)) boxes[m] = span(e.rf, e.jump, e.offset);
  }
  return boxes;
}

function pick(L, c, d, y, x) {
  S.pick = { layer: L, c, d, y, x };
  S.boxes = L >= 0 ? receptiveBoxes(L, [d, y, x]) : {};
  S.winner = null;
  explain(L, c, d, y, x);
  renderMap();
  LAYERS.forEach((e, i) => isSpatial(e) && drawThumbs(i));
  drawThumbs(-1);
}

function renderInputView() {
  const canvas = $("input-view"), box = S.boxes[-1];
  const [D, H, W] = dhw(INPUT.shape);
  const depth = box ? Math.max(0, Math.min(D - 1, Math.round((box.lo[0] + box.hi[0]) / 2))) : depthOf(INPUT);
  const scale = INPUT.rgbImage ? paintRgb(canvas, 300) : paint(canvas, INPUT.full, 0, depth, 300, true);
  const frame = $("rf-box"), text = $("rf-text");
  frame.hidden = !box;
  if (!box) {
    text.textContent = S.pick ? "This layer's outputs see the whole input (or a window this page cannot draw)." : "";
    return;
  }
  const lo = box.lo.map((v) => Math.max(0, v)), hi = box.hi.map((v, i) => Math.min([D, H, W][i] - 1, v));
  Object.assign(frame.style, { left: `${lo[2] * scale.sx - 2}px`, top: `${lo[1] * scale.sy - 2}px`,
    width: `${(hi[2] - lo[2] + 1) * scale.sx}px`, height: `${(hi[1] - lo[1] + 1) * scale.sy}px` });
  const dims = dimsOf(INPUT);
  frame.dataset.lo = box.lo.slice(3 - dims).join(",");
  frame.dataset.hi = box.hi.slice(3 - dims).join(",");
  const names = ["depth", "rows", "columns"].slice(3 - dims);
  const ranges = names.map((name, k) => `${dims === 1 ? "samples" : name} ${box.lo[3 - dims + k]}\u2013${box.hi[3 - dims + k]}`);
  const size = box.hi.slice(3 - dims).map((v, k) => v - box.lo[3 - dims + k] + 1);
  const outside = box.lo.some((v) => v < 0) || box.hi.some((v, i) => v > [D, H, W][i] - 1);
  text.textContent = `Receptive field ${size.join(" \u00d7 ")}: input ${ranges.join(", ")}` +
    (outside ? ". Part of it lies in the padding outside the image." : ".");
}

function start() {
  buildStrip();
  $("fmap").addEventListener("click", onMapClick);
  $("depth").addEventListener("input", () => {
    const entry = layerAt(S.layer);
    S.depthFrac = (Number($("depth").value) + 0.5) / dhw(entry.out_shape || entry.shape)[0];
    renderChannels();
    renderMap();
    LAYERS.forEach((e, i) => isSpatial(e) && drawThumbs(i));
    drawThumbs(-1);
  });
  $("about").textContent = `Model ${DATA.model} on ${DATA.image} (${shapeText(INPUT.shape)}). Input normalization: ${DATA.normalization}.`;
  // open on the first conv layer shown up close (in run order), else on the first layer with maps
  const convs = DATA.why.map((c) => indexOf(c.name)).filter((k) => k >= 0 && layerAt(k).conv);
  const first = convs.length ? convs[0] : LAYERS.findIndex((e) => e.full);
  selectLayer(first >= 0 ? first : -1);
  if (first >= 0) {
    const [D, H, W] = dhw(layerAt(first).out_shape);
    pick(first, 0, Math.floor(D / 2), Math.floor(H / 2), Math.floor(W / 2));
  }
  startLessons();
  startLive();
  document.body.dataset.ready = "true";
}

async function boot() {
  const sprites = [INPUT.full, INPUT.thumbs];
  for (const e of [...LAYERS, ...INNER]) for (const s of [e.thumbs, e.full]) if (s) sprites.push(s);
  await Promise.all(sprites.map(decodeSprite));
  if (INPUT.rgb) {
    INPUT.rgbImage = new Image();
    INPUT.rgbImage.src = "data:image/png;base64," + INPUT.rgb;
    await INPUT.rgbImage.decode();
  }
  start();
}
// boot() runs at the end of explore_lessons.js, the last of the page's scripts.
