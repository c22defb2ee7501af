"use strict";
// The model, run in the page: the program cnntrain.model.program writes (one node per layer, weights
// as float32 arrays) applied to one input, so explore.html and compare.html answer a drawn or moved
// input with the model's own numbers. Plain loops over Float32Arrays, sums in doubles (PyTorch sums
// in float32 with another order: they agree to ~1e-6), every layer's output rounded to float32 as
// PyTorch stores it. A tensor is {data: Float32Array, shape: [C, ...spatial]} (a flat one: [N]).

const LiveNet = (() => {
  const dhw3 = (shape) => [...Array(4 - shape.length).fill(1), ...shape.slice(1)]; // (C, *spatial) -> [D, H, W]
  const pad3 = (list, fill) => [...Array(3 - list.length).fill(fill), ...list];

  // (C, D, H, W) with zeros around it: the conv's inner loops then need no bounds checks
  function padded(x, [ID, IH, IW], p, pr) {
    if (p.every((v, a) => v === 0 && pr[a] === 0)) return x.data;
    const C = x.shape[0], PD = ID + p[0] + pr[0], PH = IH + p[1] + pr[1], PW = IW + p[2] + pr[2];
    const out = new Float32Array(C * PD * PH * PW);
    for (let c = 0; c < C; c++) for (let z = 0; z < ID; z++) for (let y = 0; y < IH; y++) {
      const from = ((c * ID + z) * IH + y) * IW;
      out.set(x.data.subarray(from, from + IW), ((c * PD + z + p[0]) * PH + y + p[1]) * PW + p[2]);
    }
    return out;
  }

  // the common 3x3 kernel at stride 1: nine weights in registers, one update of acc per nine products
  function rowAdd3x3(acc, o, X, row, down, W, w0, n, dil) {
    const a0 = W[w0], a1 = W[w0 + 1], a2 = W[w0 + 2], b0 = W[w0 + 3], b1 = W[w0 + 4], b2 = W[w0 + 5];
    const c0 = W[w0 + 6], c1 = W[w0 + 7], c2 = W[w0 + 8], r1 = row + down, r2 = row + 2 * down, e = 2 * dil;
    for (let i = 0; i < n; i++) {
      acc[o + i] += a0 * X[row + i] + a1 * X[row + i + dil] + a2 * X[row + i + e] + b0 * X[r1 + i] + b1 * X[r1 + i + dil] +
        b2 * X[r1 + i + e] + c0 * X[r2 + i] + c1 * X[r2 + i + dil] + c2 * X[r2 + i + e];
    }
  }

  // rowAdd3x3 for four filters (weights `next` apart) into four planes of acc (`plane` apart)
  function rowAdd3x3x4(acc, o, plane, X, row, down, W, w0, next, n, dil) {
    const r1 = row + down, r2 = row + 2 * down, e = 2 * dil;
    const w = (q, t) => W[w0 + q * next + t];
    const a0 = w(0, 0), a1 = w(0, 1), a2 = w(0, 2), a3 = w(0, 3), a4 = w(0, 4), a5 = w(0, 5), a6 = w(0, 6), a7 = w(0, 7), a8 = w(0, 8);
    const b0 = w(1, 0), b1 = w(1, 1), b2 = w(1, 2), b3 = w(1, 3), b4 = w(1, 4), b5 = w(1, 5), b6 = w(1, 6), b7 = w(1, 7), b8 = w(1, 8);
    const c0 = w(2, 0), c1 = w(2, 1), c2 = w(2, 2), c3 = w(2, 3), c4 = w(2, 4), c5 = w(2, 5), c6 = w(2, 6), c7 = w(2, 7), c8 = w(2, 8);
    const d0 = w(3, 0), d1 = w(3, 1), d2 = w(3, 2), d3 = w(3, 3), d4 = w(3, 4), d5 = w(3, 5), d6 = w(3, 6), d7 = w(3, 7), d8 = w(3, 8);
    const p1 = o + plane, p2 = o + 2 * plane, p3 = o + 3 * plane;
    for (let i = 0; i < n; i++) {
      const x0 = X[row + i], x1 = X[row + i + dil], x2 = X[row + i + e], x3 = X[r1 + i], x4 = X[r1 + i + dil];
      const x5 = X[r1 + i + e], x6 = X[r2 + i], x7 = X[r2 + i + dil], x8 = X[r2 + i + e];
      acc[o + i] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3 + a4 * x4 + a5 * x5 + a6 * x6 + a7 * x7 + a8 * x8;
      acc[p1 + i] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3 + b4 * x4 + b5 * x5 + b6 * x6 + b7 * x7 + b8 * x8;
      acc[p2 + i] += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3 + c4 * x4 + c5 * x5 + c6 * x6 + c7 * x7 + c8 * x8;
      acc[p3 + i] += d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3 + d4 * x4 + d5 * x5 + d6 * x6 + d7 * x7 + d8 * x8;
    }
  }

  // acc[o + i] += sum over kw of w[kw] * X[row + i * step + kw * dil], i < n: one output row, one kernel row
  function rowAdd(acc, o, X, row, W, w0, k, n, step, dil) {
    if (k === 3 && step === 1) {
      const a = W[w0], b = W[w0 + 1], c = W[w0 + 2], d2 = 2 * dil;
      for (let i = 0; i < n; i++) acc[o + i] += a * X[row + i] + b * X[row + i + dil] + c * X[row + i + d2];
      return;
    }
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let kw = 0; kw < k; kw++) sum += W[w0 + kw] * X[row + i * step + kw * dil];
      acc[o + i] += sum;
    }
  }

  function conv(node, x, get) {
    const [ID, IH, IW] = dhw3(x.shape), dims = x.shape.length - 1;
    const k = pad3(node.k, 1), s = pad3(node.s, 1), p = pad3(node.p, 0), pr = pad3(node.pr, 0), d = pad3(node.d, 1);
    const outSize = (n, a) => Math.floor((n + p[a] + pr[a] - d[a] * (k[a] - 1) - 1) / s[a]) + 1;
    const [OD, OH, OW] = [outSize(ID, 0), outSize(IH, 1), outSize(IW, 2)];
    const PD = ID + p[0] + pr[0], PH = IH + p[1] + pr[1], PW = IW + p[2] + pr[2];
    const W = get(node.weight), B = node.bias ? get(node.bias) : null, X = padded(x, [ID, IH, IW], p, pr);
    const perGroup = node.in / node.groups, outPerGroup = node.out / node.groups, plane = OD * OH * OW;
    const out = new Float32Array(node.out * plane), acc = new Float64Array(4 * plane), taps = k[0] * k[1] * k[2];
    const fast = k[1] === 3 && k[2] === 3 && s[2] === 1;
    // four output channels at a time (of one group): each input value loaded once serves four filters
    for (let oc = 0, n = 0; oc < node.out; oc += n) {
      const g = Math.floor(oc / outPerGroup);
      n = Math.min(4, (g + 1) * outPerGroup - oc);
      for (let q = 0; q < n; q++) acc.fill(B ? B[oc + q] : 0, q * plane, (q + 1) * plane);
      for (let j = 0; j < perGroup; j++) {
        const ic = g * perGroup + j;
        for (let kd = 0; kd < k[0]; kd++) {
          const w0 = ((oc * perGroup + j) * k[0] + kd) * k[1] * k[2], next = perGroup * taps;
          for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) {
            const row = ((ic * PD + od * s[0] + kd * d[0]) * PH + oh * s[1]) * PW, o = (od * OH + oh) * OW;
            if (fast && n === 4) rowAdd3x3x4(acc, o, plane, X, row, d[1] * PW, W, w0, next, OW, d[2]);
            else for (let q = 0; q < n; q++) {
              const to = o + q * plane, wq = w0 + q * next;
              if (fast) rowAdd3x3(acc, to, X, row, d[1] * PW, W, wq, OW, d[2]);
              else for (let kh = 0; kh < k[1]; kh++) rowAdd(acc, to, X, row + kh * d[1] * PW, W, wq + kh * k[2], k[2], OW, s[2], d[2]);
            }
          }
        }
      }
      for (let q = 0; q < n; q++) out.set(acc.subarray(q * plane, (q + 1) * plane), (oc + q) * plane);
    }
    return { data: out, shape: [node.out, ...[OD, OH, OW].slice(3 - dims)] };
  }

  // PyTorch's pooling output size, ceil mode included (a last window must start inside the input or left padding)
  function poolSize(n, k, s, p, d, ceil) {
    const span = n + 2 * p - d * (k - 1) - 1;
    let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    if (ceil && (out - 1) * s >= n + p) out -= 1;
    return out;
  }

  function pool(node, x) {
    const [ID, IH, IW] = dhw3(x.shape), C = x.shape[0], dims = x.shape.length - 1;
    const k = pad3(node.k, 1), s = pad3(node.s, 1), p = pad3(node.p, 0), d = pad3(node.d, 1);
    const sizes = [ID, IH, IW], outs = sizes.map((n, a) => poolSize(n, k[a], s[a], p[a], d[a], node.ceil));
    const out = new Float32Array(C * outs[0] * outs[1] * outs[2]);
    const isMax = node.kind === "max";
    let o = 0;
    for (let c = 0; c < C; c++) for (let od = 0; od < outs[0]; od++) for (let oh = 0; oh < outs[1]; oh++) for (let ow = 0; ow < outs[2]; ow++) {
      const d0 = od * s[0] - p[0], h0 = oh * s[1] - p[1], w0 = ow * s[2] - p[2];
      let best = -Infinity, sum = 0, count = 0;
      for (let kd = 0; kd < k[0]; kd++) {
        const zd = d0 + kd * d[0];
        if (zd < 0 || zd >= ID) continue;
        for (let kh = 0; kh < k[1]; kh++) {
          const zh = h0 + kh * d[1];
          if (zh < 0 || zh >= IH) continue;
          for (let kw = 0; kw < k[2]; kw++) {
            const zw = w0 + kw * d[2];
            if (zw < 0 || zw >= IW) continue;
            const v = x.data[((c * ID + zd) * IH + zh) * IW + zw];
            if (v > best || Number.isNaN(v)) best = v;
            sum += v; count += 1;
          }
        }
      }
      if (isMax) out[o++] = best;
      else {
        // PyTorch divides by the window clipped to the padded input, or by the valid cells only
        const span = (v, a) => Math.min(v + k[a], sizes[a] + p[a]) - v;
        const window = span(d0, 0) * span(h0, 1) * span(w0, 2);
        out[o++] = sum / (node.divisor || (node.count_include_pad ? window : count));
      }
    }
    return { data: out, shape: [C, ...outs.slice(3 - dims)] };
  }

  function adaptive(node, x) {
    const [ID, IH, IW] = dhw3(x.shape), C = x.shape[0], dims = x.shape.length - 1;
    const sizes = [ID, IH, IW], outs = pad3(node.out, 1);
    const range = (o, a) => [Math.floor((o * sizes[a]) / outs[a]), Math.ceil(((o + 1) * sizes[a]) / outs[a])];
    const out = new Float32Array(C * outs[0] * outs[1] * outs[2]);
    let o = 0;
    for (let c = 0; c < C; c++) for (let od = 0; od < outs[0]; od++) for (let oh = 0; oh < outs[1]; oh++) for (let ow = 0; ow < outs[2]; ow++) {
      const [d0, d1] = range(od, 0), [h0, h1] = range(oh, 1), [w0, w1] = range(ow, 2);
      let best = -Infinity, sum = 0;
      for (let zd = d0; zd < d1; zd++) for (let zh = h0; zh < h1; zh++) for (let zw = w0; zw < w1; zw++) {
        const v = x.data[((c * ID + zd) * IH + zh) * IW + zw];
        if (v > best || Number.isNaN(v)) best = v;
        sum += v;
      }
      out[o++] = node.kind === "max" ? best : sum / ((d1 - d0) * (h1 - h0) * (w1 - w0));
    }
    return { data: out, shape: [C, ...outs.slice(3 - dims)] };
  }

  function linear(node, x, get) {
    const W = get(node.weight), B = node.bias ? get(node.bias) : null, out = new Float32Array(node.out);
    for (let j = 0; j < node.out; j++) {
      let sum = B ? B[j] : 0;
      const row = j * node.in;
      for (let i = 0; i < node.in; i++) sum += W[row + i] * x.data[i];
      out[j] = sum;
    }
    return { data: out, shape: [node.out] };
  }

  // erf to ~1e-7 (Numerical Recipes' erfc, Chebyshev fit): GELU's exact form needs it
  function erf(x) {
    const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
    const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? 1 - r : r - 1;
  }

  const ACTIVATIONS = {
    relu: () => (v) => (v > 0 ? v : 0),
    leakyrelu: (n) => (v) => (v >= 0 ? v : v * n.negative_slope),
    elu: (n) => (v) => (v > 0 ? v : n.alpha * (Math.exp(v) - 1)),
    celu: (n) => (v) => Math.max(0, v) + Math.min(0, n.alpha * (Math.exp(v / n.alpha) - 1)),
    selu: () => (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * (Math.exp(v) - 1)),
    silu: () => (v) => v / (1 + Math.exp(-v)),
    mish: () => (v) => v * Math.tanh(v > 20 ? v : Math.log1p(Math.exp(v))),
    hardswish: () => (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6,
    hardsigmoid: () => (v) => Math.min(Math.max(v / 6 + 0.5, 0), 1),
    hardtanh: (n) => (v) => Math.min(Math.max(v, n.min_val), n.max_val),
    sigmoid: () => (v) => 1 / (1 + Math.exp(-v)),
    tanh: () => Math.tanh,
    softplus: (n) => (v) => (v * n.beta > n.threshold ? v : Math.log1p(Math.exp(v * n.beta)) / n.beta),
    gelu: (n) => (n.approximate === "tanh"
      ? (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))
      : (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))),
  };

  function pointwise(x, fn) {
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = fn(x.data[i]);
    return { data: out, shape: x.shape };
  }

  // per-channel y = x * a[c] + b[c] (batch norm with its running statistics; PReLU's slope is a[c] below 0)
  function perChannel(x, fn) {
    const C = x.shape[0], plane = x.data.length / C, out = new Float32Array(x.data.length);
    for (let c = 0; c < C; c++) for (let i = c * plane; i < (c + 1) * plane; i++) out[i] = fn(x.data[i], c);
    return { data: out, shape: x.shape };
  }

  function apply(node, x, get, seen) {
    switch (node.op) {
      case "conv": {
        const y = conv(node, x, get);
        seen[node.name] = { input: x, output: y };
        return y;
      }
      case "pool": return pool(node, x);
      case "adaptive": return adaptive(node, x);
      case "linear": return linear(node, x, get);
      case "flatten": return { data: x.data, shape: [x.data.length] };
      case "identity": return x;
      case "act": return pointwise(x, ACTIVATIONS[node.fn](node));
      case "affine": {
        const a = get(node.scale), b = get(node.shift);
        return perChannel(x, (v, c) => v * a[c] + b[c]);
      }
      case "prelu": {
        const a = get(node.weight);
        return perChannel(x, (v, c) => (v >= 0 ? v : v * a[a.length === 1 ? 0 : c]));
      }
      case "chain": return node.layers.reduce((y, n) => apply(n, y, get, seen), x);
      case "residual": {
        const body = apply(node.body, x, get, seen), skip = apply(node.shortcut, x, get, seen);
        const sum = new Float32Array(body.data.length);
        for (let i = 0; i < sum.length; i++) sum[i] = body.data[i] + skip.data[i];
        return apply(node.activation, { data: sum, shape: body.shape }, get, seen);
      }
      default: throw new Error(`live_net: unknown op ${node.op}`);
    }
  }

  // pixels 0..255 (C, *spatial) -> the standardised input, as the run's DeviceNormalizer makes it in float32
  function normalize(pixels, shape, norm) {
    const C = shape[0], plane = pixels.length / C, out = new Float32Array(pixels.length);
    for (let c = 0; c < C; c++) for (let i = c * plane; i < (c + 1) * plane; i++) {
      out[i] = Math.fround(pixels[i] * norm.scale[c]) - norm.shift[c];
    }
    return { data: out, shape };
  }

  // Run the program on pixels: the standardised input, each top-level layer's output, and every conv
  // layer's input and output by qualified name (the explore page's up-close arithmetic).
  function run(program, get, pixels, shape, norm) {
    const x = normalize(pixels, shape, norm), outputs = [], convs = {};
    let y = x;
    for (const node of program.layers) {
      y = apply(node, y, get, convs);
      outputs.push(y);
    }
    return { input: x, outputs, convs };
  }

  // softmax in doubles, as the explore page's Python prediction does
  function softmax(logits) {
    const top = Math.max(...logits), e = Array.from(logits, (v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  return { run, softmax, dhw3 };
})();
