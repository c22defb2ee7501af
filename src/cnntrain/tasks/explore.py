"""`cnntrain explore`: one image through the model, written as a page that explains convolution.

    from cnntrain.tasks.explore import explore
    result = explore(config="configs/cnn.yaml")                    # its first test image, untrained
    result = explore("cat.png", checkpoint="runs/cnn/1", layers=["conv1", "pool"])
    result.html, result.size                                       # explore.html and its bytes

The page (templates/explore.html) shows every top-level layer as a strip of channel thumbnails; the
layers shown "up close" also carry their full-resolution maps and, for conv and pool layers, the
float32 inputs, weights and outputs the browser redoes the layer's arithmetic with. Those numbers are
what makes a page big, so by default layers are taken up close in model order until UP_CLOSE_BYTES
is spent (a layer too big is passed over for smaller ones after it); `layers` picks them instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cnntrain.atomic import check_writable
from cnntrain.errors import CnntrainError
from cnntrain.model.capture import capture, select_layers
from cnntrain.run.outputs import display_values
from cnntrain.tasks import explore_layers as described
from cnntrain.tasks.explore_live import live_data
from cnntrain.tasks.featuremaps import load_subject
from cnntrain.viz import explore_page as page
from cnntrain.viz.page import write_page

UP_CLOSE_BYTES = 12_000_000  # raw bytes of maps and float32 numbers taken up close by default
THUMB_SIZE = 40  # pixels a side, at most, of a channel in the strip
THUMB_CHANNELS = 8  # channels per layer in the strip
TOP_CLASSES = 10


@dataclass
class ExploreResult:
    html: Path
    size: int  # bytes of the page
    image: str
    normalization: str
    up_close: list = field(default_factory=list)  # layer names shown up close
    left_out: list = field(default_factory=list)  # layers with maps that are not, for the size
    prediction: tuple | None = None  # (class, probability) of the top class
    not_live: str = ""  # why the page cannot rerun the model on a new input; empty when it can


@dataclass
class Conv:
    """A conv layer anywhere in the model (blocks' inner layers too) and what it saw and made, (C, *spatial)."""

    name: str  # qualified: conv1, or layer1.0.0.body.0 inside blocks
    module: torch.nn.Module
    input: np.ndarray
    output: np.ndarray


def explore(image: str | Path | None = None, *, checkpoint=None, config=None, layers: list[str] | None = None,
            out: str | Path | None = None, overrides=()) -> ExploreResult:
    """Run one image (default: the first test image of the config's data) through the model and write
    `out/explore.html`. With a checkpoint the model is the trained one; with a config, untrained."""
    if out is not None:
        check_writable(out)
    subject, pixels = load_subject(checkpoint=checkpoint, config=config, image=image, overrides=overrides,
                                   sample=True)
    name = Path(image).name if image is not None else f"{subject.config.data.dataset}-test-0.png"
    x, outputs, convs, pool_shapes = _run(subject, pixels)
    modules = list(subject.model.children())
    inner = [conv for conv in convs if "." in conv.name]  # top-level names never hold a dot
    up_close = _up_close(subject.layers, modules, [x, *outputs], inner, layers)
    arrays = {"input": page.float_b64(x)}
    prefixes = _prefixes(subject.layers, modules, pixels.ndim - 1)
    data = {
        "model": subject.config.name, "image": name, "normalization": subject.normalization,
        "colormap": page.colormap(), "input": _input_entry(pixels, subject.normalizer.unit != 255),
        "layers": _layer_entries(subject.layers, modules, outputs, prefixes, up_close, arrays),
        "inner": [_inner_entry(conv, subject, prefixes, conv.name in up_close, arrays) for conv in inner],
        "targets": _targets(subject.model, subject.layers, inner, pool_shapes),
        "prediction": _prediction(outputs[-1], subject.classes), "arrays": arrays,
        "why": [{"name": c.name, "in_shape": list(c.input.shape), "out_shape": list(c.output.shape),
                 **described.dense_comparison(c.input.shape, c.output.shape, c.module.weight.numel())} for c in convs],
    }
    data["live"] = live_data(subject, pixels, arrays, page.float_b64)
    out_dir = Path(out) if out is not None else _default_out(subject, Path(name))
    title = f"Explore {subject.config.name}: {name}"
    html = write_page(out_dir / "explore.html", "explore.html", title=title, data=data)
    shown = [(info.name, o) for info, o in zip(subject.layers, outputs)] + [(c.name, c.output) for c in inner]
    top = data["prediction"]["top"][0] if data["prediction"] else None
    return ExploreResult(html, html.stat().st_size, name, subject.normalization,
                         [n for n, _ in shown if n in up_close],
                         [n for n, o in shown if o.ndim >= 2 and n not in up_close], tuple(top) if top else None,
                         data["live"]["why"])


def _run(subject, pixels: np.ndarray) -> tuple[np.ndarray, list, list, dict]:
    """(the standardised input (C, *spatial), every top-level layer's output for it, every conv layer in run
    order, blocks' inner ones included, all float32; and the input shape of each pooling layer inside a block)."""
    x = torch.from_numpy(np.array(pixels))[None]  # (1, C, *spatial); a copy: decoded arrays are read-only
    x = subject.normalizer.to("cpu", x.dim() - 2)(x).float()
    names = [info.name for info in subject.layers]
    convs, pool_shapes, handles = [], {}, []
    for name, module in subject.model.named_modules():
        if described.is_conv(module):
            def hook(module, inputs, output, name=name):
                convs.append(Conv(name, module, _array(inputs[0]), _array(output)))

            handles.append(module.register_forward_hook(hook))
        elif "." in name and described.shape_rule(module, 1)["op"] == "pool":
            def shape_hook(module, inputs, output, name=name):
                pool_shapes[name] = list(inputs[0].shape[1:])

            handles.append(module.register_forward_hook(shape_hook))
    try:
        captured = capture(subject.model, x, names)
    except RuntimeError as err:
        raise CnntrainError(f"the model cannot take this input of {' x '.join(map(str, pixels.shape))}: "
                            f"{str(err).splitlines()[0]}") from None
    finally:
        for handle in handles:
            handle.remove()
    return x[0].numpy(), [_array(captured[n]) for n in names], convs, pool_shapes


def _targets(model, infos: list, inner: list, pool_shapes: dict) -> list:
    """The conv and pool layers inside blocks that the playground can change, with where each sits in its
    block's shape rule; a residual block's shortcut is left out (its body decides the shape)."""
    shapes = {conv.name: list(conv.input.shape) for conv in inner} | pool_shapes
    index = {info.name: i for i, info in enumerate(infos)}
    targets = []
    for name, in_shape in shapes.items():
        top, *path = name.split(".")
        where = described.rule_path(model.get_submodule(top), path)
        if where is not None:
            module = model.get_submodule(name)
            targets.append({"name": name, "parent": index[top], "path": where, "in_shape": in_shape,
                            "rule": described.shape_rule(module, len(in_shape) - 1)})
    return targets


def _array(batch: torch.Tensor) -> np.ndarray:
    return batch[0].detach().float().cpu().numpy().copy()  # a copy: a later layer may work in place


def _up_close(infos: list, modules: list, maps: list, inner: list, refs) -> set:
    """Names of the layers shown up close: those asked for, or in model order (blocks' inner conv layers
    last), each that still fits the budget. `maps` holds the input, then every top-level layer's output."""
    refs = [r.strip() for ref in refs or [] for r in str(ref).split(",") if r.strip()]
    inner_names = {conv.name for conv in inner}
    if refs:
        unknown = [ref for ref in refs if "." in ref and ref not in inner_names]
        if unknown:
            raise CnntrainError(f"no conv layer {', '.join(map(repr, unknown))} inside a block; the conv layers "
                                f"inside blocks: {', '.join(sorted(inner_names)) or '(none)'}")
        top = [ref for ref in refs if ref not in inner_names]
        chosen = {info.name for info in select_layers(infos, top)} if top else set()
        return chosen | (set(refs) & inner_names)
    candidates = [(info.name, module, before, output)
                  for info, module, before, output in zip(infos, modules, maps, maps[1:])]
    candidates += [(conv.name, conv.module, conv.input, conv.output) for conv in inner]
    chosen, spent = set(), 0
    for name, module, before, output in candidates:
        if output.ndim < 2:
            continue
        # its 8-bit map, and the float32 input, output and weights that the page computes with
        numbers = before.size + output.size + sum(p.numel() for p in module.parameters(recurse=False))
        cost = output.size + (4 * numbers if _computes(module, output.ndim - 1) else 0)
        if spent + cost > UP_CLOSE_BYTES:
            continue  # a later, smaller layer may still fit
        chosen.add(name)
        spent += cost
    return chosen


def _computes(module, dims: int) -> bool:
    """Whether the page redoes this layer's arithmetic (and so needs its float numbers)."""
    return described.conv_settings(module, dims) is not None or described.pool_settings(module, dims) is not None


def _input_entry(pixels: np.ndarray, floats: bool = False) -> dict:
    """The input strip; `floats`: an array in its own units, stretched to its range for display."""
    tiles = page.as_cdhw(display_values(pixels[None])[0] if floats else pixels.astype(np.uint8)
                         if pixels.dtype == np.uint8 else np.rint(pixels).clip(0, 255).astype(np.uint8))
    rgb = page.png_b64(np.moveaxis(tiles[:, 0], 0, -1)) if pixels.ndim == 3 and len(pixels) == 3 else None
    return {"shape": list(pixels.shape), "full": page.sprite(tiles), "thumbs": page.sprite(_thumb_tiles(tiles)),
            "rgb": rgb, "min": [0] * len(pixels), "max": [255] * len(pixels), "key": "input"}


def _thumb_tiles(tiles: np.ndarray) -> np.ndarray:
    factor = -(-max(tiles.shape[2:]) // THUMB_SIZE)
    return page.shrink(tiles[:THUMB_CHANNELS], factor)


def _prefixes(infos: list, modules: list, dims: int) -> list:
    """The window (kernel, stride, offset) of each top-level layer's output in the input; None where unknown."""
    prefixes, so_far = [], described.identity(dims)
    for info, module in zip(infos, modules):
        so_far = described.compose(so_far, described.geometry(module, dims))
        if so_far is not None and (info.receptive_field is None or tuple(so_far[0]) != tuple(info.receptive_field)):
            so_far = None  # the builder's arithmetic and the modules disagree: show no box rather than a wrong one
        prefixes.append(so_far)
    return prefixes


def _field(geometry) -> dict:
    """Receptive field, jump and offset of a layer's outputs in the input, as the page reads them."""
    if geometry is None:
        return {"rf": None, "jump": None, "offset": None}
    return {"rf": list(geometry[0]), "jump": list(geometry[1]), "offset": list(geometry[2])}


def _layer_entries(infos: list, modules: list, outputs: list, prefixes: list, up_close: set, arrays: dict) -> list:
    entries = []
    dims = len(infos[0].in_shape) - 1 if infos else 0
    for i, (info, module, output) in enumerate(zip(infos, modules, outputs)):
        entry = {"index": info.index, "name": info.name, "type": info.type, "in_shape": list(info.in_shape),
                 "out_shape": list(output.shape), "params": info.params, **_field(prefixes[i]),
                 "rule": described.shape_rule(module, dims), "up_close": info.name in up_close}
        if output.ndim >= 2:
            entry.update(_maps(output, info.name in up_close))
        if info.name in up_close:
            before = ("input", None) if i == 0 else (f"out{i - 1}", outputs[i - 1])
            entry.update(_arithmetic(module, info.name, before, (f"out{i}", output), arrays, dims))
        entries.append(entry)
    return entries


def _inner_entry(conv: Conv, subject, prefixes: list, up_close: bool, arrays: dict) -> dict:
    """A conv layer inside a block: its window composed through the layers before its block and, inside
    the block, the layers before it."""
    top, *path = conv.name.split(".")
    i = next(k for k, info in enumerate(subject.layers) if info.name == top)
    dims = conv.output.ndim - 1
    start = described.identity(dims) if i == 0 else prefixes[i - 1]
    inside = described.geometry_before(subject.model.get_submodule(top), path, dims)
    geometry = described.compose(described.compose(start, inside), described.geometry(conv.module, dims))
    entry = {"index": f"{subject.layers[i].index}/{'.'.join(path)}", "name": conv.name, "type": f"conv{dims}d",
             "parent": i, "in_shape": list(conv.input.shape), "out_shape": list(conv.output.shape),
             "params": sum(p.numel() for p in conv.module.parameters()), **_field(geometry), "up_close": up_close,
             **_maps(conv.output, up_close)}
    if up_close:
        entry.update(_arithmetic(conv.module, conv.name, (f"in:{conv.name}", conv.input),
                                 (f"out:{conv.name}", conv.output), arrays, dims))
    return entry


def _maps(output: np.ndarray, full: bool) -> dict:
    tiles, lo, hi = page.quantize(page.as_cdhw(output))
    maps = {"thumbs": page.sprite(_thumb_tiles(tiles)), "min": lo, "max": hi}
    if full:
        maps["full"] = page.sprite(tiles)
    return maps


def _arithmetic(module, name: str, before: tuple, after: tuple, arrays: dict, dims: int) -> dict:
    """A conv or pool layer's settings and the keys of its float32 input, output and weights; `before` and
    `after` are (key, array) of its input and output (an array of None: already stored under its key)."""
    conv, pool = described.conv_settings(module, dims), described.pool_settings(module, dims)
    if conv is None and pool is None:
        return {}
    for key, array in (before, after):
        if array is not None:
            arrays.setdefault(key, page.float_b64(array))
    found = {"in_key": before[0], "out_key": after[0]}
    if conv is not None:
        conv["weight_key"] = f"w:{name}"
        arrays[conv["weight_key"]] = page.float_b64(module.weight.detach().float().numpy())
        if module.bias is not None:
            conv["bias_key"] = f"b:{name}"
            arrays[conv["bias_key"]] = page.float_b64(module.bias.detach().float().numpy())
        found["conv"] = conv
    else:
        found["pool"] = pool
    return found


def _prediction(logits: np.ndarray, classes: list | None) -> dict | None:
    """The top classes with softmax probabilities, when the model ends in one score per class."""
    if logits.ndim != 1 or (classes and len(classes) != len(logits)) or len(logits) < 2:
        return None
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    probs = shifted / shifted.sum()
    names = classes or [f"class {i}" for i in range(len(logits))]
    order = np.argsort(-probs, kind="stable")[:TOP_CLASSES]
    return {"top": [[str(names[k]), float(probs[k])] for k in order], "classes": len(logits),
            "named": bool(classes)}


def _default_out(subject, image: Path) -> Path:
    if subject.run_dir is not None:
        return subject.run_dir / "explore" / image.stem
    return Path("explore") / f"{subject.config.name}-{image.stem}"
