"use strict";
// The input panel's drawing pads (explore_live.js): a 2D image on a canvas at the model's input size, with
// a round brush (every channel alike), or a 1D signal as a curve; both also work from the keyboard.

function imagePad(C) {
  const [, H, W] = LiveNet.dhw3(LIVE.shape);
  const zoom = Math.max(1, Math.floor(256 / Math.max(H, W)));
  const pad = el("canvas", { id: "live-draw", width: W, height: H, tabindex: "0", role: "img",
    "aria-label": `Drawing canvas, ${W} by ${H} pixels, the model's input. Draw with the pointer; or move the brush ` +
      "with the arrow keys and paint with Space." });
  pad.style.width = `${W * zoom}px`;
  pad.style.height = `${H * zoom}px`;
  const brush = el("input", { type: "range", id: "live-brush", min: "1", max: String(Math.max(2, Math.round(Math.max(H, W) / 4))),
    value: String(Math.max(1, Math.round(Math.max(H, W) / 16))), "aria-label": "brush size in pixels" });
  const ink = el("select", { id: "live-ink", "aria-label": "ink" }, el("option", { value: "255", text: "white" }),
    el("option", { value: "0", text: "black" }));
  const clear = el("button", { id: "live-clear", text: "clear" });
  clear.addEventListener("click", (event) => { setInput(new Float32Array(LV.pixels.length), event.timeStamp, "cleared"); liveNote("cleared to black"); });
  let last = null;
  const at = (event) => {
    const rect = pad.getBoundingClientRect();
    return [((event.clientY - rect.top) / rect.height) * H, ((event.clientX - rect.left) / rect.width) * W];
  };
  pad.addEventListener("pointerdown", (event) => {
    pad.setPointerCapture(event.pointerId);
    last = at(event);
    paintLine(last, last, event.timeStamp);
  });
  pad.addEventListener("pointermove", (event) => {
    if (last === null) return;
    const now = at(event);
    paintLine(last, now, event.timeStamp);
    last = now;
  });
  const stop = () => { last = null; };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);
  pad.addEventListener("keydown", (event) => {
    const move = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[event.key];
    if (move) {
      LV.cursor = [Math.min(H - 1, Math.max(0, LV.cursor[0] + move[0])), Math.min(W - 1, Math.max(0, LV.cursor[1] + move[1]))];
      drawPad();
    } else if (event.key === " " || event.key === "Enter") {
      const p = [LV.cursor[0] + 0.5, LV.cursor[1] + 0.5];
      paintLine(p, p, event.timeStamp);
    } else return;
    event.preventDefault();
  });
  const wrap = el("div", { class: "live-pad", id: "live-drop" }, pad);
  wrap.addEventListener("dragover", (event) => event.preventDefault());
  wrap.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) loadImageFile(event.dataTransfer.files[0], event.timeStamp);
  });
  return el("div", {}, wrap, el("div", { class: "live-tools" }, el("label", {}, "brush ", brush), " ",
    el("label", {}, "ink ", ink), " ", clear, el("span", { class: "muted", text: " or drop an image on the canvas" })));
}

// a round brush dragged from a to b (row, column in model pixels), every channel alike
function paintLine(a, b, since) {
  const [, H, W] = LiveNet.dhw3(LIVE.shape), C = LIVE.shape[0];
  const r = Number($("live-brush").value) / 2, ink = Number($("live-ink").value);
  const pixels = LV.pixels.slice(), steps = Math.max(1, Math.ceil(2 * Math.hypot(b[0] - a[0], b[1] - a[1])));
  for (let n = 0; n <= steps; n++) {
    const cy = a[0] + ((b[0] - a[0]) * n) / steps, cx = a[1] + ((b[1] - a[1]) * n) / steps;
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(H - 1, Math.floor(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(W - 1, Math.floor(cx + r)); x++) {
        if ((y + 0.5 - cy) ** 2 + (x + 0.5 - cx) ** 2 > Math.max(r * r, 0.25)) continue;
        for (let c = 0; c < C; c++) pixels[(c * H + y) * W + x] = ink;
      }
    }
  }
  setInput(pixels, since);
}

function signalPad(C) {
  const L = LIVE.shape[LIVE.shape.length - 1];
  const pad = el("canvas", { id: "live-draw", width: "512", height: "160", tabindex: "0", role: "img",
    "aria-label": `Signal drawing area, ${L} samples from 0 to 255. Draw the curve with the pointer; or move along it ` +
      "with the left and right arrow keys and raise or lower the value with up and down." });
  let last = null;
  const at = (event) => {
    const rect = pad.getBoundingClientRect();
    const i = Math.min(L - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * L)));
    return [i, Math.min(255, Math.max(0, 255 * (1 - (event.clientY - rect.top) / rect.height)))];
  };
  const set = (from, to, since) => {
    const pixels = LV.pixels.slice();
    const [i0, v0] = from, [i1, v1] = to;
    for (let i = Math.min(i0, i1); i <= Math.max(i0, i1); i++) {
      const v = i0 === i1 ? v1 : v0 + ((v1 - v0) * (i - i0)) / (i1 - i0);
      for (let c = 0; c < C; c++) pixels[c * L + i] = v;
    }
    setInput(pixels, since);
  };
  pad.addEventListener("pointerdown", (event) => { pad.setPointerCapture(event.pointerId); last = at(event); set(last, last, event.timeStamp); });
  pad.addEventListener("pointermove", (event) => { if (last === null) return; const now = at(event); set(last, now, event.timeStamp); last = now; });
  pad.addEventListener("pointerup", () => { last = null; });
  pad.addEventListener("keydown", (event) => {
    const i = LV.cursor[1];
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      LV.cursor[1] = Math.min(L - 1, Math.max(0, i + (event.key === "ArrowLeft" ? -1 : 1)));
      drawPad();
    } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      const v = Math.min(255, Math.max(0, LV.pixels[i] + (event.key === "ArrowUp" ? 16 : -16)));
      set([i, v], [i, v], event.timeStamp);
    } else return;
    event.preventDefault();
  });
  const clear = el("button", { id: "live-clear", text: "flat line" });
  clear.addEventListener("click", (event) => setInput(new Float32Array(LV.pixels.length), event.timeStamp));
  return el("div", {}, el("div", { class: "live-pad" }, pad), el("div", { class: "live-tools" }, clear));
}

function drawPad() {
  const pad = $("live-draw");
  if (!pad || !LV.pixels) return;
  const ctx = pad.getContext("2d");
  if (LIVE.kind === "image") {
    const [, H, W] = LiveNet.dhw3(LIVE.shape), C = LIVE.shape[0], image = new ImageData(W, H);
    for (let i = 0; i < H * W; i++) {
      for (let c = 0; c < 3; c++) image.data[4 * i + c] = LV.pixels[(C === 3 ? c : 0) * H * W + i];
      image.data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    if (pad.matches(":focus-visible")) { // the keyboard's brush, not shown while drawing with a pointer
      ctx.strokeStyle = "#e4572e";
      ctx.lineWidth = 0.3;
      ctx.strokeRect(LV.cursor[1], LV.cursor[0], 1, 1);
    }
    return;
  }
  const L = LIVE.shape[LIVE.shape.length - 1], w = pad.width, h = pad.height;
  ctx.fillStyle = "#111"; ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#ffd166"; ctx.lineWidth = 2; ctx.beginPath();
  for (let i = 0; i < L; i++) ctx.lineTo(((i + 0.5) / L) * w, h * (1 - LV.pixels[i] / 255));
  ctx.stroke();
  if (pad.matches(":focus-visible")) {
    ctx.strokeStyle = "#e4572e";
    ctx.strokeRect((LV.cursor[1] / L) * w, 0, Math.max(2, w / L), h);
  }
}
