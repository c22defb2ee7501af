"use strict";
// The network as a strip of cards: the input, every top-level layer (output shape, a few channels,
// parameters; the receptive field of the clicked pixel outlined) and the prediction.

function buildStrip() {
  const strip = $("strip");
  strip.append(card(-1, "input", DATA.image, INPUT.shape, null));
  LAYERS.forEach((entry, i) => strip.append(card(i, `#${entry.index} ${entry.name}`, entry.type, entry.out_shape,
    entry.params)));
  if (DATA.prediction) strip.append(predictionCard(DATA.prediction));
}

function card(i, title, type, shape, params) {
  const entry = layerAt(i);
  const node = el("div", { class: "card" + (isSpatial(entry) ? "" : " flat"), "data-layer": i, id: `card-${i}`,
    onclick: () => isSpatial(entry) && selectLayer(i) },
  el("div", { class: "title", title, text: title }), el("div", { class: "type", text: type }),
  el("div", { class: "shape", text: shapeText(shape) }));
  if (isSpatial(entry)) {
    const thumbs = el("div", { class: "thumbs" });
    entry.thumbCanvases = [];
    for (let c = 0; c < (i < 0 && INPUT.rgb ? 1 : entry.thumbs.c); c++) {
      const canvas = el("canvas", { title: `channel ${c}` });
      entry.thumbCanvases.push(canvas);
      thumbs.append(canvas);
    }
    node.append(thumbs);
    const channels = i < 0 && INPUT.rgb ? 1 : shape[0];
    if (channels > entry.thumbs.c) node.append(el("div", { class: "more", text: `+ ${channels - entry.thumbs.c} more channels` }));
    drawThumbs(i);
  }
  if (params !== null) node.append(el("div", { class: "params", text: params ? `${grouped(params)} params` : "no params" }));
  if (i >= 0 && isSpatial(entry) && !entry.up_close) {
    node.append(el("div", { class: "more", text: "thumbnails only (--layers " + entry.name + " for more)" }));
  }
  return node;
}

function drawThumbs(i) {
  const entry = layerAt(i);
  const factor = dhw(entry.out_shape || entry.shape)[2] / entry.thumbs.w;
  const d = depthOf(entry);
  entry.thumbCanvases.forEach((canvas, c) => {
    // a colour image shows as itself; its boxes are then in true pixels
    const rgb = i < 0 && INPUT.rgbImage;
    const scale = rgb ? paintRgb(canvas, 48) : paint(canvas, entry.thumbs, c, d, 40, i < 0);
    if (rgb) { strokeBox(canvas, S.boxes[i], scale, 1, "#ffb000", d); return; }
    strokeBox(canvas, S.boxes[i], scale, factor, "#ffb000", d);
    if (S.winner && S.winner.layer === i && S.winner.c === c) strokeBox(canvas, S.winner.box, scale, factor, "#e4572e", d);
  });
}

function predictionCard(prediction) {
  const node = el("div", { class: "card bars", id: "prediction" },
    el("div", { class: "title", text: "prediction" }),
    el("div", { class: "type", text: prediction.named ? "softmax of the output" : "softmax (classes unnamed)" }));
  for (const [name, p] of prediction.top) {
    node.append(el("div", { class: "bar", title: `${name}: ${pct(p)}`, "data-class": name, "data-value": String(p) },
      el("span", { class: "label", text: name }),
      el("span", { class: "fill", style: `width:${Math.max(1, 60 * p)}px` }),
      el("span", { class: "num", text: pct(p, 1) })));
  }
  return node;
}
