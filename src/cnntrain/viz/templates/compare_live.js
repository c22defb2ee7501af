"use strict";
// compare.html's "Move it yourself": a slider (a real range input: arrow keys move it one pixel) slides the
// example test image along its last axis, the uncovered border filled with its background as the shift
// test fills it, and every model the page can run (LiveNet, live_net.js) answers each position.

(() => {
  const live = data.live, box = section("move");
  if (!live) { box.remove(); return; }
  const shape = live.shape, C = shape[0], W = shape[shape.length - 1], plane = shape.slice(1).reduce((a, b) => a * b, 1);
  const source = Uint8Array.from(atob(live.pixels), (ch) => ch.charCodeAt(0));
  const cache = {};
  const arrayOf = (key) => (cache[key] ||= new Float32Array(Uint8Array.from(atob(live.arrays[key]), (ch) => ch.charCodeAt(0)).buffer));
  const slider = el("input", {type: "range", id: "shift-slider", min: String(-live.max_shift), max: String(live.max_shift),
    step: "1", value: "0", "aria-label": "move the test image sideways, in pixels", "aria-valuetext": "0 pixels",
    style: "width: 20rem; vertical-align: middle"});
  const shown = el("output", {id: "shift-value", for: "shift-slider"}, "0 px");
  const canvas = el("canvas", {id: "shift-image", class: "pixels", role: "img", "aria-label": "the moved test image"});
  const table = el("table", {id: "live-table"});
  box.append(el("p", {class: "muted"}, `The same test image (a ${live.true}), moved sideways pixel by pixel; ` +
    "every model runs here in the page on each position. Drag the slider or use the arrow keys."),
  el("p", {}, el("label", {for: "shift-slider"}, "shift "), slider, " ", shown), canvas, table);
  table.append(el("tr", {}, el("th", {}, "model"), el("th", {}, "answer"), el("th", {class: "num"}, `p(${live.true})`)));
  const rows = live.models.map((m) => {
    const answer = el("td", {}), prob = el("td", {class: "num"});
    table.append(el("tr", {"data-model": m.name}, el("th", {}, m.name), answer, prob));
    if (!m.program) answer.textContent = `not computed in the page: ${m.why}`;
    return {m, answer, prob};
  });

  function moved(dx) {
    const out = new Float32Array(source.length);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < plane; i++) {
        const x = i % W, from = x - dx;
        out[c * plane + i] = from >= 0 && from < W ? source[c * plane + i - dx] : live.fill[c];
      }
    }
    return out;
  }

  function draw(pixels) {
    const rows2d = plane / W; // every row of every depth slice, stacked
    canvas.width = W; canvas.height = rows2d;
    const image = new ImageData(W, rows2d);
    for (let i = 0; i < W * rows2d; i++) {
      for (let k = 0; k < 3; k++) image.data[4 * i + k] = pixels[(C === 3 ? k : 0) * plane + i];
      image.data[4 * i + 3] = 255;
    }
    canvas.getContext("2d").putImageData(image, 0, 0);
    const zoom = Math.max(1, Math.floor(192 / Math.max(W, rows2d)));
    canvas.style.width = `${W * zoom}px`;
    canvas.style.height = `${Math.max(rows2d * zoom, 24)}px`; // a 1D signal shows as a band
    canvas.style.imageRendering = "pixelated";
  }

  function update() {
    const dx = Number(slider.value), pixels = moved(dx);
    shown.textContent = `${dx} px`;
    slider.setAttribute("aria-valuetext", `${dx} pixels`);
    draw(pixels);
    rows.forEach(({m, answer, prob}, i) => {
      if (!m.program) return;
      const result = LiveNet.run({layers: m.program}, (key) => arrayOf(`${i}/${key}`), pixels, shape, m.norm);
      const probs = LiveNet.softmax(result.outputs[result.outputs.length - 1].data);
      const best = probs.indexOf(Math.max(...probs)), truth = m.classes.indexOf(live.true);
      const right = m.classes[best] === live.true;
      answer.textContent = `${right ? "\u2713" : "\u2717"} ${m.classes[best]} (${pct(probs[best])})`;
      answer.className = right ? "right" : "wrong";
      answer.dataset.class = m.classes[best];
      answer.dataset.probs = JSON.stringify(probs);
      prob.textContent = truth >= 0 ? pct(probs[truth]) : "n/a";
    });
    box.dataset.shift = String(dx);
  }

  slider.addEventListener("input", update);
  update();
})();
