"use strict";
// The lessons under the close-up: a filter sliding over the input (the first conv layer), the
// playground (explore_playground.js), and why convolution needs so few weights.

function startLessons() {
  buildSlide();
  buildPlayground();
  buildWhy();
}

// --- a filter sliding over the input ------------------------------------------------------------

function buildSlide() {
  const body = $("slide-body");
  const first = DATA.why.length ? DATA.why[0].name : null; // the first conv layer to run
  const L = first === null ? -1 : indexOf(first);
  if (L < 0 || !layerAt(L).conv) {
    body.append(el("p", { class: "muted", text: first === null ? "This model has no conv layer." : `The first conv layer, ${first}, ` +
      `is not in this page (to keep it small); run cnntrain explore --layers ${first} to watch its filters slide.` }));
    return;
  }
  const e = layerAt(L), block = e.parent === undefined ? L : e.parent;
  const source = block === 0 ? INPUT : LAYERS[block - 1]; // inside a block: the block's input
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
