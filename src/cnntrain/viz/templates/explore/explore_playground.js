"use strict";
// The kernel/stride/padding/dilation playground: one conv or pool layer (a block's inner ones too)
// gets new settings; its output size follows Dumoulin & Visin's formula, and the change ripples through
// every later layer's shape rule (the JSON `rule` of each layer, a tree for blocks) and parameter count.

const SLIDERS = [["kernel", "kernel size k", 1], ["stride", "stride s", 1], ["padding", "padding p", 0], ["dilation", "dilation d", 1]];

// Layers the sliders can change: {name, label, parent (top-level index), path (into the parent's rule), rule, in_shape}
function playgroundTargets() {
  const top = LAYERS.map((e, i) => ({ name: e.name, label: `#${e.index} ${e.name} (${e.type})`, parent: i, path: [], rule: e.rule, in_shape: e.in_shape }));
  const inner = DATA.targets.map((t) => ({ ...t, label: `#${LAYERS[t.parent].index} ${t.name} (in ${LAYERS[t.parent].name})` }));
  return [...top, ...inner].filter((t) => ["conv", "pool"].includes(t.rule.op) && t.in_shape.length >= 2 && t.in_shape.every((v) => v !== null))
    .sort((a, b) => a.parent - b.parent);
}
let TARGETS = [];
const target = () => TARGETS.find((t) => t.name === $("pg-layer").value);

function buildPlayground() {
  const body = $("pg-body");
  TARGETS = playgroundTargets();
  if (!TARGETS.length) {
    body.append(el("p", { class: "muted", text: "This model has no conv or pooling layer to play with." }));
    return;
  }
  const select = el("select", { id: "pg-layer" });
  for (const t of TARGETS) select.append(el("option", { value: t.name, text: t.label }));
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
  const rule = target().rule;
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

function convParams(rule, inChannels) {
  return rule.channels * (inChannels / rule.groups) * rule.k.reduce((a, b) => a * b, 1) + (rule.bias ? rule.channels : 0);
}

// A rule tree with the node at `path` replaced.
function withEdit(rule, path, edited) {
  if (!path.length) return edited;
  return { ...rule, layers: rule.layers.map((r, k) => (k === path[0] ? withEdit(r, path.slice(1), edited) : r)) };
}

function updatePlayground() {
  const t = target(), dims = t.in_shape.length - 1;
  for (const [key] of SLIDERS) $(`pg-${key}-value`).textContent = pgValue(key);
  const rule = editedRule(t.rule, dims);
  const k = pgValue("kernel"), s = pgValue("stride"), p = pgValue("padding"), d = pgValue("dilation");
  const sizes = t.in_shape.slice(1);
  const poolPadding = rule.op === "pool" && 2 * p > k;
  const shape = poolPadding ? { invalid: true } : applyRule(rule, t.in_shape);
  const out = $("pg-out");
  out.classList.toggle("invalid", Boolean(shape && shape.invalid));
  out.textContent = shape.invalid ? "invalid" : shapeText(shape.slice(1));
  out.dataset.out = shape.invalid ? "invalid" : shape.slice(1).join("x");
  const i = sizes[sizes.length - 1];
  $("pg-formula").textContent = `o = \u230a(i + 2p \u2212 d(k\u22121) \u2212 1) / s\u230b + 1 = \u230a(${i} + 2\u00b7${p} \u2212 ${d}\u00b7(${k}\u22121) \u2212 1) / ${s}\u230b + 1` +
    (shape.invalid ? " < 1" : ` = ${shape[shape.length - 1]}`);
  $("pg-note").textContent = playgroundNote(sizes, k, s, p, d, shape, poolPadding);
  drawGrid(sizes, k, s, p, d, shape);
  // the changed layer's own parameters, and its block's shape with the change inside
  const paramsChange = rule.op === "conv" ? convParams(rule, t.in_shape[0]) - convParams(t.rule, t.in_shape[0]) : 0;
  const parentShape = shape.invalid || !t.path.length ? shape : applyRule(withEdit(LAYERS[t.parent].rule, t.path, rule), LAYERS[t.parent].in_shape);
  renderRipple(t.parent, parentShape, paramsChange);
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

function renderRipple(L, shape, paramsChange) {
  const table = $("pg-ripple");
  table.replaceChildren(el("tr", {}, ...["layer", "shape now", "with your settings", "params now", "then"].map((t) => el("th", { text: t }))));
  let now = shape, total = 0, totalNow = 0, broken = false;
  LAYERS.forEach((e, i) => {
    totalNow += e.params;
    if (i < L) { total += e.params; return; }
    let after = now, params = e.params;
    if (i === L) params = e.params + paramsChange;
    else if (!broken) {
      after = now === null || now.invalid ? now : applyRule(e.rule, now);
      if (e.rule.op === "linear" && now && !now.invalid) params = now[0] * e.rule.out + (e.rule.bias ? e.rule.out : 0);
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
