"use strict";
// An image file for the input panel (explore_live.js), converted as `cnntrain predict` converts it
// (data/decode.py): transparency composited over black, grey by ITU-R 601 luma, resized by Pillow's
// bilinear filter, each step in Pillow's own fixed-point arithmetic so the page gets predict's pixels.

async function loadImageFile(file, since) {
  const name = file.name || "the file";
  if (!/\.(png|jpe?g|bmp)$/i.test(name) && !/^image\/(png|jpeg|bmp|x-ms-bmp)$/.test(file.type)) {
    liveNote(`${name} is not an image file (${file.type || "unknown type"}): use a PNG, JPEG or BMP file, as cnntrain predict does. The input is unchanged.`, true);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", premultiplyAlpha: "none", colorSpaceConversion: "none" });
  } catch (err) {
    liveNote(`${name} cannot be decoded as an image (${err.message || err.name}); the input is unchanged.`, true);
    return;
  }
  const canvas = el("canvas", { width: bitmap.width, height: bitmap.height });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const { pixels, steps } = convertImage(rgba, bitmap.width, bitmap.height);
  setInput(pixels, since, name);
  liveNote(`${name}: ${steps.join(", ")}.`);
}

function convertImage(rgba, w, h) {
  const [, H, W] = LiveNet.dhw3(LIVE.shape), C = LIVE.shape[0], n = w * h, steps = [`${w} \u00d7 ${h}`];
  let alpha = false, colour = false;
  for (let i = 0; i < n; i++) {
    alpha ||= rgba[4 * i + 3] < 255;
    colour ||= rgba[4 * i] !== rgba[4 * i + 1] || rgba[4 * i] !== rgba[4 * i + 2];
  }
  const planes = [0, 1, 2].map((c) => {
    const plane = new Uint8Array(n);
    for (let i = 0; i < n; i++) plane[i] = alpha ? overBlack(rgba[4 * i + c], rgba[4 * i + 3]) : rgba[4 * i + c];
    return plane;
  });
  // a canvas stores see-through colours premultiplied by alpha, so they come back rounded
  if (alpha) steps.push("transparency composited over black (see-through pixels may differ by one level from predict's)");
  let channels = planes;
  if (C === 1) {
    const grey = new Uint8Array(n);
    for (let i = 0; i < n; i++) grey[i] = (planes[0][i] * 19595 + planes[1][i] * 38470 + planes[2][i] * 7471 + 0x8000) >> 16;
    channels = [grey];
    if (colour) steps.push("converted from colour to grey");
  } else if (!colour) steps.push("grey, copied to all three channels");
  if (w !== W || h !== H) {
    channels = channels.map((plane) => resizeBilinear(plane, w, h, W, H));
    steps.push(`resized to ${W} \u00d7 ${H} (bilinear)`);
  } else steps.push("already the model's size");
  steps.push("as cnntrain predict converts it");
  const pixels = new Float32Array(C * H * W);
  channels.forEach((plane, c) => pixels.set(plane, c * H * W));
  return { pixels, steps };
}

// Pillow's Image.alpha_composite over opaque black, in its fixed-point arithmetic
function overBlack(v, a) {
  const t = v * a * 128 + (0x80 << 7);
  return (((t >> 8) + t) >> 8) >> 7;
}

// Pillow's two-pass bilinear resample (Resample.c, 8 bits per channel): horizontal, then vertical
const PRECISION_BITS = 22;
function resampleCoeffs(inSize, outSize) {
  const scale = inSize / outSize, filterscale = Math.max(1, scale), support = filterscale;
  const bounds = [], weights = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5)), xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = [];
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = Math.max(0, 1 - Math.abs((x + xmin - center + 0.5) * (1 / filterscale)));
      k.push(w);
      sum += w;
    }
    weights.push(k.map((w) => Math.trunc(0.5 + (sum !== 0 ? w / sum : w) * (1 << PRECISION_BITS))));
    bounds.push(xmin);
  }
  return { bounds, weights };
}

function clip8(v) {
  if (v >= 255 * 2 ** PRECISION_BITS) return 255;
  return v <= 0 ? 0 : Math.floor(v / 2 ** PRECISION_BITS);
}

function resizeBilinear(plane, w, h, W, H) {
  const horiz = resampleCoeffs(w, W), vert = resampleCoeffs(h, H);
  // rows the vertical pass reads: Pillow resamples only those horizontally
  const first = vert.bounds[0], last = vert.bounds[H - 1] + vert.weights[H - 1].length;
  let rows = plane, rowsW = w, offset = 0;
  if (w !== W) {
    rows = new Uint8Array((last - first) * W);
    for (let y = first; y < last; y++) for (let xx = 0; xx < W; xx++) {
      let ss = 1 << (PRECISION_BITS - 1);
      const k = horiz.weights[xx], x0 = horiz.bounds[xx];
      for (let x = 0; x < k.length; x++) ss += plane[y * w + x0 + x] * k[x];
      rows[(y - first) * W + xx] = clip8(ss);
    }
    rowsW = W;
    offset = first;
  }
  if (h === H) return rows;
  const out = new Uint8Array(H * W);
  for (let yy = 0; yy < H; yy++) {
    const k = vert.weights[yy], y0 = vert.bounds[yy] - offset;
    for (let xx = 0; xx < W; xx++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < k.length; y++) ss += rows[(y0 + y) * rowsW + xx] * k[y];
      out[yy * W + xx] = clip8(ss);
    }
  }
  return out;
}
