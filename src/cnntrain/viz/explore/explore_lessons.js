"use strict";
// The three lessons under the close-up: a filter sliding over the input (the first conv layer),
// the kernel/stride/padding/dilation playground (Dumoulin & Visin's output size, rippled through
// the rest of the network), and why convolution needs so few weights.

function startLessons() {
  buildSlide();
  buildPlayground();
  buildWhy();
}

// --- a filter sliding over the input ------------------------------------------------------------

function buildSlide() {
  const body = $("slide-body");
  const L = LAYERS.findIndex((e) => e.conv && e.full);
  if (L < 0) {
    body.append(el("p", { class: "muted", text: "No conv layer is shown up close, so there is no filter to slide." }));
    return;
  }
  const e = LAYERS[L], source = L === 0 ? INPUT : LAYERS[L - 1];
  const [D, H, W] = dhw(e.out_shape), k = pad3(e.conv.k, 1), s = pad3(e.conv.s, 1), p = pad3(e.conv.p, 0), dil = pad3(e.conv.d, 1);
  const span = k.map((v, a) => dil[a] * (v - 1) + 1);
  const d = Math.floor(D / 2);
  const channel = el("select", { id: "slide-channel" });
  for (let c = 0; c < e.conv.out_channels; c++) channel.append(el("option", { value: c, text: `filter ${c}` }));
  const play = el("button", { id: "slide-play", text: "\u25b6 play" });
  const speed = el("input", { type: "range", id: "slide-speed", min: 2, max: 30, value: 8 });
  const inCanvas = el("canvas", { id: "slide-input" }), outCanvas = el("canvas", { id: "slide-output" });
  const text = el("p", { id: "slide-text", class: "num" });
  body.append(el("p", { class: "hint", text: `Layer ${e.name}: each filter (${k.slice(3 - dimsOf(e)).join("\u00d7")}, stride ` +
    `${e.conv.s.join("\u00d7")}, padding ${e.conv.p.join("\u00d7")}) visits every position of its input; the weighted sum at each stop ` +
    "becomes one pixel of the feature map. The hatched border is the zero padding." }),
  el("div", {}, channel, " ", play, " ", el("label", {}, " seconds for one pass ", speed)),
  el("div", { class: "pair" }, el("div", {}, el("h3", { text: "input" }), inCanvas), el("div", {}, el("h3", { text: "feature map" }), outCanvas)),
  text);

  const srcSprite = spriteOf(source), srcDhw = dhw(source.out_shape || source.shape);
  const srcScale = scaleFor(srcSprite.w, srcSprite.h, 300), outScale = scaleFor(W, H, 300);
  const factor = srcDhw[2] / srcSprite.w;
  const state = { n: 0, playing: false, c: 0 };
  const total = H * W;
  const revealed = el("canvas", { width: W, height: H });
  let colours = null;

  function reset() {
    state.n = 0;
    colours = tileImage(e.full, state.c, d, false);
    revealed.getContext("2d").clearRect(0, 0, W, H);
    draw();
  }
  function draw() {
    const at = Math.min(state.n, total - 1), y = Math.floor(at / W), x = at % W;
    // input with its padding around it
    const px = p[2] * srcScale.sx / factor, py = p[1] * srcScale.sy / factor;
    const tile = el("canvas");
    const scale = source === INPUT && INPUT.rgbImage ? paintRgb(tile, 300) : paint(tile, srcSprite, 0, Math.min(srcDhw[0] - 1, d), 300, source === INPUT);
    inCanvas.width = tile.width + 2 * px; inCanvas.height = tile.height + 2 * py;
    const ctx = inCanvas.getContext("2d");
    ctx.fillStyle = "#e6e8ef"; ctx.fillRect(0, 0, inCanvas.width, inCanvas.height);
    ctx.drawImage(tile, px, py);
    const wx = (x * s[2]) * scale.sx / factor, wy = (y * s[1]) * scale.sy / factor;
    ctx.fillStyle = "rgba(255, 176, 0, 0.35)"; ctx.strokeStyle = "#e4572e"; ctx.lineWidth = 2;
    ctx.fillRect(wx, wy, span[2] * scale.sx / factor, span[1] * scale.sy / factor);
    ctx.strokeRect(wx, wy, span[2] * scale.sx / factor, span[1] * scale.sy / factor);
    // the feature map so far
    const part = revealed.getContext("2d");
    const upto = Math.min(state.n + 1, total);
    const image = part.getImageData(0, 0, W, H);
    for (let i = 0; i < upto; i++) for (let b = 0; b < 4; b++) image.data[4 * i + b] = colours.data[4 * i + b];
    part.putImageData(image, 0, 0);
    outCanvas.width = Math.round(W * outScale.sx); outCanvas.height = Math.round(H * outScale.sy);
    const out = outCanvas.getContext("2d");
    out.fillStyle = "#f0f1f5"; out.fillRect(0, 0, outCanvas.width, outCanvas.height);
    out.imageSmoothingEnabled = false;
    out.drawImage(revealed, 0, 0, outCanvas.width, outCanvas.height);
    out.strokeStyle = "#e4572e"; out.lineWidth = 2;
    out.strokeRect(x * outScale.sx, y * outScale.sy, outScale.sx, outScale.sy);
    const value = floats(e.out_key)[flatIndex(e.out_shape, state.c, [d, y, x])];
    text.textContent = `stop ${at + 1} of ${total}: ${positionText(e, [d, y, x])} = ${num(value)}`;
  }
  function frame() {
    if (!state.playing) return;
    const perFrame = Math.max(1, Math.round(total / (Number(speed.value) * 60)));
    state.n = Math.min(total - 1, state.n + perFrame);
    draw();
    if (state.n >= total - 1) { state.playing = false; play.textContent = "\u21bb again"; return; }
    requestAnimationFrame(frame);
  }
  play.addEventListener("click", () => {
    if (!state.playing && state.n >= total - 1) reset();
    state.playing = !state.playing;
    play.textContent = state.playing ? "\u275a\u275a pause" : "\u25b6 play";
    if (state.playing) requestAnimationFrame(frame);
  });
  channel.addEventListener("change", () => { state.c = Number(channel.value); reset(); });
  reset();
}

// --- the playground -------------------------------------------------------------------------------

const SLIDERS = [["kernel", "kernel size k", 1], ["stride", "stride s", 1], ["padding", "padding p", 0], ["dilation", "dilation d", 1]];

function buildPlayground() {
  const body = $("pg-body");
  const choices = LAYERS.map((e, i) => i).filter((i) => ["conv", "pool"].includes(LAYERS[i].rule.op) &&
    LAYERS[i].in_shape.length >= 2 && LAYERS[i].in_shape.every((v) => v !== null));
  if (!choices.length) {
    body.append(el("p", { class: "muted", text: "This model has no conv or pooling layer to play with." }));
    return;
  }
  const select = el("select", { id: "pg-layer" });
  for (const i of choices) select.append(el("option", { value: i, text: `#${LAYERS[i].index} ${LAYERS[i].name} (${LAYERS[i].type})` }));
  const controls = el("div", { class: "pg-controls" });
  for (const [key, label, min] of SLIDERS) {
    controls.append(el("label", { for: `pg-${key}`, text: label }), el("input", { type: "range", id: `pg-${key}`, min, max: 10, value: min }),
      el("span", { class: "num", id: `pg-${key}-value` }));
  }
  body.append(el("p", { class: "hint", text: "Change one layer's settings and watch its output size (Dumoulin & Visin, " +
    "\u201cA guide to convolution arithmetic\u201d) and every later layer's shape and parameter count follow." }),
  el("div", {}, el("label", {}, "layer ", select)), controls,
  el("div", { class: "pg-wrap" },
    el("div", {}, el("p", {}, "output size: ", el("span", { id: "pg-out" })), el("p", { class: "formula", id: "pg-formula" }),
      el("p", { id: "pg-note", class: "muted" }), el("canvas", { id: "pg-grid" }), el("div", { id: "pg-grid-note", class: "muted" }),
      el("p", { class: "muted", text: "Grey hatched: padding. Orange: the kernel at its first position (its taps, with dilation). " +
        "Dots: where each window starts. Red: pixels no window reaches." })),
    el("div", {}, el("h3", { text: "The rest of the network" }), el("table", { class: "plain", id: "pg-ripple" }))));
  select.addEventListener("change", () => { resetSliders(); updatePlayground(); });
  for (const [key] of SLIDERS) $(`pg-${key}`).addEventListener("input", updatePlayground);
  resetSliders();
  updatePlayground();
}

function resetSliders() {
  const rule = LAYERS[Number($("pg-layer").value)].rule;
  const start = { kernel: rule.k[0], stride: rule.s[0], padding: rule.op === "conv" ? Math.floor(rule.pt[0] / 2) : rule.p[0], dilation: rule.d[0] };
  const top = { kernel: Math.max(11, 2 * start.kernel), stride: Math.max(5, 2 * start.stride), padding: Math.max(6, 2 * start.padding), dilation: Math.max(4, start.dilation) };
  for (const [key] of SLIDERS) { $(`pg-${key}`).max = top[key]; $(`pg-${key}`).value = start[key]; }
}

const pgValue = (key) => Number($(`pg-${key}`).value);

// Output size along one dimension, or null where no window fits (the formula's answer is below 1).
function convSize(i, k, s, pt, d) {
  const span = i + pt - d * (k - 1) - 1;
  return span < 0 ? null : Math.floor(span / s) + 1;
}
function poolSize(i, k, s, p, d, ceil) {
  const span = i + 2 * p - d * (k - 1) - 1;
  if (span < 0) return null;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= i + p) out -= 1;
  return out;
}

// A layer's output shape for an input shape; null where the page cannot tell, {invalid} where no size fits.
function applyRule(rule, shape) {
  if (shape === null) return null;
  const spatial = shape.slice(1);
  const check = (sizes) => (sizes.some((v) => v === null || v < 1) ? { invalid: true } : sizes);
  let sizes;
  switch (rule.op) {
    case "conv": sizes = check(spatial.map((n, a) => convSize(n, rule.k[a], rule.s[a], rule.pt[a], rule.d[a])));
      return sizes.invalid ? sizes : [rule.channels, ...sizes];
    case "pool": sizes = check(spatial.map((n, a) => poolSize(n, rule.k[a], rule.s[a], rule.p[a], rule.d[a], rule.ceil)));
      return sizes.invalid ? sizes : [shape[0], ...sizes];
    case "convt": sizes = check(spatial.map((n, a) => (n - 1) * rule.s[a] - 2 * rule.p[a] + rule.d[a] * (rule.k[a] - 1) + rule.op_pad[a] + 1));
      return sizes.invalid ? sizes : [rule.channels, ...sizes];
    case "adaptive": return [shape[0], ...rule.out.map((o, a) => (o === null ? spatial[a] : o))];
    case "flatten": return [shape.reduce((a, b) => a * b, 1)];
    case "linear": return [rule.out];
    case "chain": return rule.layers.reduce((now, r) => (now === null || now.invalid ? now : applyRule(r, now)), shape);
    case "same": return shape;
    default: return null;
  }
}

function editedRule(rule, dims) {
  const k = Array(dims).fill(pgValue("kernel")), s = Array(dims).fill(pgValue("stride"));
  const p = Array(dims).fill(pgValue("padding")), d = Array(dims).fill(pgValue("dilation"));
  return rule.op === "conv" ? { ...rule, k, s, d, pt: p.map((v) => 2 * v) } : { ...rule, k, s, p, d };
}

function newParams(e, rule, inShape, edited) {
  if (edited && rule.op === "conv") {
    const weights = rule.channels * (e.in_shape[0] / rule.groups) * rule.k.reduce((a, b) => a * b, 1);
    return weights + (rule.bias ? rule.channels : 0);
  }
  if (rule.op === "linear" && inShape && !inShape.invalid) return inShape[0] * rule.out + (rule.bias ? rule.out : 0);
  return e.params;
}

function updatePlayground() {
  const L = Number($("pg-layer").value), e = LAYERS[L], dims = e.in_shape.length - 1;
  for (const [key] of SLIDERS) $(`pg-${key}-value`).textContent = pgValue(key);
  const rule = editedRule(e.rule, dims);
  const k = pgValue("kernel"), s = pgValue("stride"), p = pgValue("padding"), d = pgValue("dilation");
  const sizes = e.in_shape.slice(1);
  const poolPadding = rule.op === "pool" && 2 * p > k;
  const shape = poolPadding ? { invalid: true } : applyRule(rule, e.in_shape);
  const out = $("pg-out");
  out.classList.toggle("invalid", Boolean(shape && shape.invalid));
  out.textContent = shape.invalid ? "invalid" : shapeText(shape.slice(1));
  out.dataset.out = shape.invalid ? "invalid" : shape.slice(1).join("x");
  const i = sizes[sizes.length - 1];
  $("pg-formula").textContent = `o = \u230a(i + 2p \u2212 d(k\u22121) \u2212 1) / s\u230b + 1 = \u230a(${i} + 2\u00b7${p} \u2212 ${d}\u00b7(${k}\u22121) \u2212 1) / ${s}\u230b + 1` +
    (shape.invalid ? " < 1" : ` = ${shape[shape.length - 1]}`);
  $("pg-note").textContent = playgroundNote(sizes, k, s, p, d, shape, poolPadding);
  drawGrid(sizes, k, s, p, d, shape);
  renderRipple(L, rule, shape);
}

function playgroundNote(sizes, k, s, p, d, shape, poolPadding) {
  if (poolPadding) return `invalid: a pooling layer's padding may be at most half its kernel (${Math.floor(k / 2)}); PyTorch refuses more.`;
  const reach = d * (k - 1) + 1;
  if (shape.invalid) return `invalid: the kernel spans ${reach} pixels but the padded input has only ${Math.min(...sizes) + 2 * p}; no window fits.`;
  const notes = [];
  if (d > 1) notes.push(`A dilated kernel spans d(k\u22121)+1 = ${reach} pixels, with gaps between its taps.`);
  sizes.forEach((n, a) => {
    const left = (n + 2 * p - reach) % s;
    if (left > 0) {
      notes.push(`Along ${["the length", "the height", "the width"][3 - sizes.length + a] || "a dimension"}, the last ${left} ` +
        `pixel(s) of the padded input are never covered: (i + 2p \u2212 d(k\u22121) \u2212 1) is not a multiple of s` +
        (left <= p ? " (only padding is lost)." : ", so image pixels go unused."));
    }
  });
  return notes.join(" ") || "Every pixel of the padded input is covered.";
}

function drawGrid(sizes, k, s, p, d, shape) {
  const canvas = $("pg-grid"), cap = 24; // a corner of a big input is enough to see the pattern
  const h = sizes.length > 1 ? sizes[sizes.length - 2] : 1, w = sizes[sizes.length - 1];
  const ph = sizes.length > 1 ? p : 0;
  const rows = Math.min(h + 2 * ph, cap), cols = Math.min(w + 2 * p, cap);
  const cell = Math.max(8, Math.min(22, Math.floor(380 / cols)));
  $("pg-grid-note").textContent = rows < h + 2 * ph || cols < w + 2 * p ? `(the top-left ${rows} \u00d7 ${cols} cells of ${h + 2 * ph} \u00d7 ${w + 2 * p})` : "";
  canvas.width = cols * cell + 1; canvas.height = rows * cell + 1;
  const ctx = canvas.getContext("2d");
  const outH = shape.invalid ? 0 : (sizes.length > 1 ? shape[shape.length - 2] : 1), outW = shape.invalid ? 0 : shape[shape.length - 1];
  const reach = d * (k - 1) + 1, kh = sizes.length > 1 ? k : 1, reachH = sizes.length > 1 ? reach : 1;
  const lastW = (outW - 1) * s + reach - 1, lastH = (outH - 1) * (sizes.length > 1 ? s : 1) + reachH - 1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const padded = r < ph || r >= h + ph || c < p || c >= w + p;
      const unused = !shape.invalid && (c > lastW || r > lastH);
      ctx.fillStyle = unused ? "#f6c9c4" : padded ? "#dfe2ea" : "#ffffff";
      ctx.fillRect(c * cell, r * cell, cell, cell);
      ctx.strokeStyle = "#c8ccd6"; ctx.strokeRect(c * cell + 0.5, r * cell + 0.5, cell, cell);
    }
  }
  if (shape.invalid) return;
  ctx.fillStyle = "rgba(255, 140, 0, 0.75)";
  for (let a = 0; a < kh; a++) for (let b = 0; b < k; b++) {
    const r = a * (sizes.length > 1 ? d : 1), c = b * d;
    if (r < rows && c < cols) ctx.fillRect(c * cell + 1, r * cell + 1, cell - 1, cell - 1);
  }
  ctx.strokeStyle = "#e4572e"; ctx.lineWidth = 2;
  ctx.strokeRect(1, 1, Math.min(reach, cols) * cell - 1, Math.min(reachH, rows) * cell - 1);
  ctx.lineWidth = 1;
  ctx.fillStyle = "#1f2430";
  for (let oy = 0; oy < outH; oy++) for (let ox = 0; ox < outW; ox++) {
    const r = oy * (sizes.length > 1 ? s : 1), c = ox * s;
    if (r < rows && c < cols) { ctx.beginPath(); ctx.arc(c * cell + cell / 2, r * cell + cell / 2, Math.max(1.5, cell / 7), 0, 7); ctx.fill(); }
  }
}

function renderRipple(L, rule, shape) {
  const table = $("pg-ripple");
  table.replaceChildren(el("tr", {}, ...["layer", "shape now", "with your settings", "params now", "then"].map((t) => el("th", { text: t }))));
  let now = shape, total = 0, totalNow = 0, broken = false;
  LAYERS.forEach((e, i) => {
    totalNow += e.params;
    if (i < L) { total += e.params; return; }
    let after = now, params = e.params;
    if (i === L) params = broken ? e.params : newParams(e, rule, e.in_shape, true);
    else if (!broken) {
      const inShape = now;
      after = now === null || now.invalid ? now : applyRule(e.rule, now);
      params = newParams(e, e.rule, inShape, false);
    }
    const invalid = Boolean(after && after.invalid);
    const text = broken ? "\u2013" : invalid ? "invalid: shrinks to nothing" : after === null ? "unknown" : shapeText(after);
    const row = el("tr", { "data-layer": i }, el("td", { text: `#${e.index} ${e.name}` }), el("td", { class: "num", text: shapeText(e.out_shape) }),
      el("td", { class: "num", text }), el("td", { class: "num", text: grouped(e.params) }), el("td", { class: "num", text: broken ? "\u2013" : grouped(params) }));
    if (invalid) row.className = "invalid";
    else if (!broken && (text !== shapeText(e.out_shape) || params !== e.params)) row.className = "changed";
    table.append(row);
    total += params;
    broken = broken || invalid;
    now = after;
  });
  table.append(el("tr", {}, el("th", { text: "total" }), el("td"), el("td"), el("td", { class: "num", text: grouped(totalNow) }),
    el("td", { class: "num", id: "pg-total", text: broken ? "\u2013" : grouped(total) })));
}

// --- why convolution ------------------------------------------------------------------------------

function buildWhy() {
  const body = $("why-body");
  const convs = DATA.why;
  body.append(el("p", { text: `A fully connected layer gives every output its own weight for every input: a 256\u00d7256 image into just ` +
    `100 units is a ${grouped(256 * 256)} \u00d7 100 = ${grouped(256 * 256 * 100)} weight matrix. A convolution reuses one small ` +
    "filter at every position, so its weight count does not grow with the image. This model's conv layers, each against a " +
    "fully connected layer from the same input to the same output size:" }));
  if (!convs.length) { body.append(el("p", { class: "muted", text: "This model has no conv layer." })); return; }
  const table = el("table", { class: "plain", id: "why-table" },
    el("tr", {}, ...["conv layer", "input \u2192 output", "conv weights", "fully connected weights (inputs \u00d7 outputs)", "times more"].map((t) => el("th", { text: t }))));
  for (const c of convs) {
    const at = indexOf(c.name);
    const look = at >= 0 && layerAt(at).up_close
      ? el("button", { class: "inner-button", text: "up close", onclick: () => { selectLayer(at); $("closeup").scrollIntoView(); } }) : "";
    table.append(el("tr", { "data-layer": c.name }, el("td", {}, c.name, " ", look),
      el("td", { class: "num", text: `${shapeText(c.in_shape)} \u2192 ${shapeText(c.out_shape)}` }),
      el("td", { class: "num big-number", text: c.conv }),
      el("td", { class: "num", text: `${c.inputs} \u00d7 ${c.outputs} = ${c.dense}` }),
      el("td", { class: "num", text: `${c.ratio}\u00d7` })));
  }
  body.append(convs.length > 8 ? el("details", { open: "" }, el("summary", { text: `all ${convs.length} conv layers, blocks' inner layers included` }), table) : table);
}

boot();
