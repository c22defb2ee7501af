"use strict";
// One clicked output pixel, explained: a conv layer's weighted sum redone here from the layer's own
// float32 input and weights (next to the value the model computed), a pooling layer's window and
// winner, or for any other layer its value and receptive field.

const MAX_CHANNEL_TABLES = 3; // input channels shown as full patch x weights = products tables
const MAX_WINDOW_CELLS = 400; // pooling windows larger than this are summarised, not tabulated

function explain(L, c, d, y, x) {
  const box = $("explain");
  box.replaceChildren();
  if (L < 0) return;
  const e = layerAt(L);
  const where = positionText(e, [d, y, x]);
  if (e.conv) convDetail(box, e, c, [d, y, x], where);
  else if (e.pool) poolDetail(box, L, e, c, [d, y, x], where);
  else {
    const value = e.out_key ? floats(e.out_key)[flatIndex(e.out_shape, c, [d, y, x])] : null;
    box.append(el("p", { text: `${e.name} (${e.type}), channel ${c}, ${where}` +
      (value === null ? "." : `: ${num(value)}.`) + " The box in the input and in the earlier layers is what this pixel can see." }));
  }
}

function positionText(entry, pos) {
  const dims = dimsOf(entry);
  const names = dims === 1 ? ["position"] : ["depth", "row", "column"].slice(3 - dims);
  return names.map((name, k) => `${name} ${pos[3 - dims + k]}`).join(", ");
}

function flatIndex(shape, c, [d, y, x]) {
  const [D, H, W] = dhw(shape);
  return ((c * D + d) * H + y) * W + x;
}

// Input indices a window covers along one dimension: start = o*s - p, then every d-th of k.
function windowIndices(o, k, s, p, dil) {
  return Array.from({ length: k }, (_, i) => o * s - p + i * dil);
}

function convDetail(box, e, c, pos, where) {
  const cv = e.conv, X = floats(e.in_key), Wt = floats(cv.weight_key);
  const [ID, IH, IW] = dhw(e.in_shape);
  const k = pad3(cv.k, 1), s = pad3(cv.s, 1), p = pad3(cv.p, 0), dil = pad3(cv.d, 1);
  const perGroup = cv.in_channels / cv.groups, group = Math.floor(c / (cv.out_channels / cv.groups));
  const idx = [0, 1, 2].map((a) => windowIndices(pos[a], k[a], s[a], p[a], dil[a]));
  const inside = (a, v) => v >= 0 && v < [ID, IH, IW][a];
  const sums = [];
  const tables = el("div", { class: "steps" });
  for (let j = 0; j < perGroup; j++) {
    const ci = group * perGroup + j;
    let sum = 0;
    const patch = [], weights = [], products = [];
    for (let kd = 0; kd < k[0]; kd++) {
      for (let kh = 0; kh < k[1]; kh++) {
        for (let kw = 0; kw < k[2]; kw++) {
          const [zd, zh, zw] = [idx[0][kd], idx[1][kh], idx[2][kw]];
          const padded = !(inside(0, zd) && inside(1, zh) && inside(2, zw));
          const v = padded ? 0 : X[((ci * ID + zd) * IH + zh) * IW + zw];
          const w = Wt[(((c * perGroup + j) * k[0] + kd) * k[1] + kh) * k[2] + kw];
          sum += v * w;
          patch.push({ v, padded }); weights.push({ v: w }); products.push({ v: v * w, padded });
        }
      }
    }
    sums.push(sum);
    if (j < MAX_CHANNEL_TABLES) {
      const label = perGroup > 1 ? `input channel ${ci}: ` : "";
      tables.append(gridBox(`${label}input patch`, patch, k, "value"), el("span", { class: "op", text: "\u00d7" }),
        gridBox("kernel weights", weights, k, "signed"), el("span", { class: "op", text: "=" }),
        gridBox(`products, \u03a3 = ${num(sum)}`, products, k, "signed"));
    }
  }
  const bias = cv.bias_key ? floats(cv.bias_key)[c] : 0;
  const total = sums.reduce((a, b) => a + b, 0) + bias;
  const model = floats(e.out_key)[flatIndex(e.out_shape, c, pos)];
  const agree = Math.abs(total - model) <= 1e-4 * (1 + Math.abs(model));
  box.append(el("h3", { text: `Output channel ${c}, ${where}: the filter times the patch it covers` }),
    el("p", { class: "hint", text: `Each of the ${perGroup} input channel(s) has its own ${k.slice(3 - dimsOf(e)).join("\u00d7")} kernel slice; ` +
      "multiply element by element, add everything up, add the bias. Hatched cells are zero padding." }), tables);
  if (perGroup > MAX_CHANNEL_TABLES) box.append(channelSums(sums, group * perGroup));
  box.append(el("p", { class: "result" },
    `\u03a3 over ${perGroup} channel(s) = ${num(total - bias)}` + (cv.bias_key ? `, + bias ${num(bias)} = ` : " (this layer has no bias) = "),
    el("span", { class: "num", id: "conv-sum", "data-value": String(total), text: num(total) }),
    el("br"), "the model computed ",
    el("span", { class: "num", id: "model-value", "data-value": String(model), text: num(model) }),
    el("span", { class: agree ? "ok" : "bad", text: agree ? "  \u2714 the same (up to float rounding)" : "  \u2716 differs" })));
}

function channelSums(sums, first) {
  const table = el("table", { class: "plain" }, el("tr", {}, el("th", { text: "input channel" }), el("th", { text: "\u03a3 of products" })));
  sums.forEach((v, j) => table.append(el("tr", {}, el("td", { text: String(first + j) }), el("td", { class: "num", text: num(v) }))));
  return el("details", {}, el("summary", { text: `all ${sums.length} input channels' sums` }), table);
}

// A table of cells (one kernel-sized block per depth slice): value shading, or blue/red by sign.
function gridBox(caption, cells, k, mode, mark = -1) {
  const boxNode = el("div", { class: "grid-box" }, el("div", { class: "cap", text: caption }));
  const big = Math.max(...cells.filter((c) => !c.padded).map((c) => Math.abs(c.v)), 1e-12);
  for (let kd = 0; kd < k[0]; kd++) {
    const table = el("table", { class: "grid" });
    for (let kh = 0; kh < k[1]; kh++) {
      const row = el("tr");
      for (let kw = 0; kw < k[2]; kw++) {
        const n = (kd * k[1] + kh) * k[2] + kw, cell = cells[n];
        const td = el("td", { text: cell.padded ? "pad" : num(cell.v) });
        if (cell.padded) td.className = "pad";
        else td.style.background = shade(cell.v / big, mode);
        if (n === mark) td.classList.add("win");
        row.append(td);
      }
      table.append(row);
    }
    if (k[0] > 1) boxNode.append(el("div", { class: "cap", text: `depth ${kd}` }));
    boxNode.append(table);
  }
  return boxNode;
}

function shade(t, mode) {
  const a = Math.min(1, Math.abs(t)) * 0.55;
  if (mode === "signed") return t >= 0 ? `rgba(220, 70, 50, ${a})` : `rgba(40, 100, 220, ${a})`;
  return `rgba(60, 150, 90, ${a})`;
}

// Pooling: the window of output pos in the layer's input, with PyTorch's rules for padding and ceil mode.
function poolWindow(e, pos) {
  const pl = e.pool, sizes = dhw(e.in_shape), outs = dhw(e.out_shape);
  if (pl.kind.startsWith("adaptive")) {
    return [0, 1, 2].map((a) => {
      const lo = Math.floor((pos[a] * sizes[a]) / outs[a]), hi = Math.ceil(((pos[a] + 1) * sizes[a]) / outs[a]);
      return { idx: Array.from({ length: hi - lo }, (_, i) => lo + i), span: hi - lo };
    });
  }
  const k = pad3(pl.k, 1), s = pad3(pl.s, 1), p = pad3(pl.p, 0), dil = pad3(pl.d, 1);
  return [0, 1, 2].map((a) => {
    const idx = windowIndices(pos[a], k[a], s[a], p[a], dil[a]);
    // avg pool divides by the window clipped to the padded input (PyTorch's pool_size)
    const start = pos[a] * s[a] - p[a], end = Math.min(start + k[a], sizes[a] + p[a]);
    return { idx, span: end - start };
  });
}

function poolDetail(box, L, e, c, pos, where) {
  const X = floats(e.in_key), sizes = dhw(e.in_shape), win = poolWindow(e, pos);
  const isMax = e.pool.kind.endsWith("max");
  const cells = [];
  let best = -1, bestValue = -Infinity, sum = 0, count = 0;
  for (const zd of win[0].idx) for (const zh of win[1].idx) for (const zw of win[2].idx) {
    const padded = zd < 0 || zh < 0 || zw < 0 || zd >= sizes[0] || zh >= sizes[1] || zw >= sizes[2];
    const v = padded ? 0 : X[((c * sizes[0] + zd) * sizes[1] + zh) * sizes[2] + zw];
    if (!padded) {
      // the first largest value wins, as in PyTorch's kernel
      if (v > bestValue || Number.isNaN(v)) { bestValue = v; best = cells.length; }
      sum += v; count += 1;
    }
    cells.push({ v, padded, at: [zd, zh, zw] });
  }
  const model = floats(e.out_key)[flatIndex(e.out_shape, c, pos)];
  const k = win.map((w) => w.idx.length);
  const dims = dimsOf(e);
  box.append(el("h3", { text: `Output channel ${c}, ${where}: ${isMax ? "the largest value in the window wins" : "the window's average"}` }));
  if (cells.length <= MAX_WINDOW_CELLS) box.append(gridBox(`window in ${e.name}'s input (channel ${c})`, cells, k, "value", isMax ? best : -1));
  const result = el("p", { class: "result" });
  if (isMax) {
    const at = cells[best].at;
    const shown = at.slice(3 - dims);
    result.append("winner: input ", el("span", { class: "num", id: "pool-winner", "data-index": shown.join(","),
      "data-value": String(bestValue), text: `${positionText(e, at)} = ${num(bestValue)}` }));
    S.winner = { layer: L - 1, c, box: { lo: at, hi: at } };
  } else {
    const divisor = averageDivisor(e, win, count);
    result.append(`sum ${num(sum)} / ${divisor} cells = `, el("span", { class: "num", id: "pool-average",
      "data-value": String(sum / divisor), text: num(sum / divisor) }));
    if (divisor !== count) result.append(el("span", { class: "muted", text: ` (padding counts as zeros in the divisor)` }));
  }
  result.append(el("br"), "the model computed ", el("span", { class: "num", id: "model-value", "data-value": String(model), text: num(model) }));
  box.append(result);
}

function averageDivisor(e, win, count) {
  const pl = e.pool;
  if (pl.kind.startsWith("adaptive")) return count;
  if (pl.divisor) return pl.divisor;
  return pl.count_include_pad ? win.reduce((a, w) => a * w.span, 1) : count;
}
