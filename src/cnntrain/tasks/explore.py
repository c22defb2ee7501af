"""`cnntrain explore`: one image through the model, written as a page that explains convolution.

    from cnntrain.tasks.explore import explore
    result = explore(config="configs/cnn.yaml")                    # its first test image, untrained
    result = explore("cat.png", checkpoint="runs/cnn/1", layers=["conv1", "pool"])
    result.html, result.size                                       # explore.html and its bytes

The page (viz/explore_page.py) shows every top-level layer as a strip of channel thumbnails; the
layers shown "up close" also carry their full-resolution maps and, for conv and pool layers, the
float32 inputs, weights and outputs the browser redoes the layer's arithmetic with. Those numbers are
what makes a page big, so by default layers are taken up close in model order until UP_CLOSE_BYTES
is spent; `layers` picks them instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cnntrain.errors import CnntrainError
from cnntrain.model.capture import capture, select_layers
from cnntrain.tasks import explore_layers as described
from cnntrain.tasks.featuremaps import load_subject
from cnntrain.viz import explore_page as page

UP_CLOSE_BYTES = 16_000_000  # raw bytes of maps and float32 numbers taken up close by default
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


def explore(image: str | Path | None = None, *, checkpoint=None, config=None, layers: list[str] | None = None,
            out: str | Path | None = None, overrides=()) -> ExploreResult:
    """Run one image (default: the first test image of the config's data) through the model and write
    `out/explore.html`. With a checkpoint the model is the trained one; with a config, untrained."""
    subject, pixels = load_subject(checkpoint=checkpoint, config=config, image=image, overrides=overrides,
                                   sample=True)
    name = Path(image).name if image is not None else f"{subject.config.data['dataset']}-test-0.png"
    x, outputs, convs = _run(subject, pixels)
    modules = list(subject.model.children())
    up_close = _up_close(subject.layers, modules, [x, *outputs], layers)
    arrays = {"input": page.float_b64(x)}
    data = {
        "model": subject.config.name, "image": name, "normalization": subject.normalization,
        "colormap": page.colormap(), "input": _input_entry(pixels),
        "layers": _layer_entries(subject.layers, modules, outputs, up_close, arrays),
        "prediction": _prediction(outputs[-1], subject.classes), "arrays": arrays, "why": convs,
    }
    out_dir = Path(out) if out is not None else _default_out(subject, Path(name))
    html = page.write_explore_html(out_dir / "explore.html", title=f"Explore {subject.config.name}: {name}", data=data)
    left_out = [info.name for info, o in zip(subject.layers, outputs) if o.ndim >= 2 and info.name not in up_close]
    top = data["prediction"]["top"][0] if data["prediction"] else None
    return ExploreResult(html, html.stat().st_size, name, subject.normalization,
                         [info.name for info in subject.layers if info.name in up_close], left_out,
                         tuple(top) if top else None)


def _run(subject, pixels: np.ndarray) -> tuple[np.ndarray, list, list]:
    """(the standardised input (C, *spatial), every top-level layer's output for it (float32), and every
    conv layer's weights against a fully connected layer's, blocks' inner convs included, in run order)."""
    x = torch.from_numpy(np.array(pixels))[None]  # (1, C, *spatial); a copy: decoded arrays are read-only
    x = subject.normalizer.to("cpu", x.dim() - 2)(x).float()
    names = [info.name for info in subject.layers]
    convs, handles = [], []
    for name, module in subject.model.named_modules():
        if described.is_conv(module):
            def hook(module, inputs, output, name=name):
                convs.append({"name": name, "in_shape": list(inputs[0].shape[1:]), "out_shape": list(output.shape[1:]),
                              **described.dense_comparison(inputs[0].shape[1:], output.shape[1:],
                                                           module.weight.numel())})

            handles.append(module.register_forward_hook(hook))
    try:
        captured = capture(subject.model, x, names)
    except RuntimeError as err:
        raise CnntrainError(f"the model cannot take this input of {' x '.join(map(str, pixels.shape))}: "
                            f"{str(err).splitlines()[0]}") from None
    finally:
        for handle in handles:
            handle.remove()
    return x[0].numpy(), [captured[n][0].numpy().astype(np.float32) for n in names], convs


def _up_close(infos: list, modules: list, maps: list, refs) -> set:
    """Names of the layers shown up close: those asked for, or in model order while the budget lasts.
    `maps` holds the input, then every layer's output."""
    refs = [r.strip() for ref in refs or [] for r in str(ref).split(",") if r.strip()]
    if refs:
        return {info.name for info in select_layers(infos, refs)}
    chosen, spent = set(), 0
    for info, module, before, output in zip(infos, modules, maps, maps[1:]):
        if output.ndim < 2:
            continue
        # its 8-bit map, and the float32 input and output that the page computes with
        cost = output.size + (4 * (before.size + output.size) if _computes(module, output.ndim - 1) else 0)
        if spent + cost > UP_CLOSE_BYTES:
            break
        chosen.add(info.name)
        spent += cost
    return chosen


def _computes(module, dims: int) -> bool:
    """Whether the page redoes this layer's arithmetic (and so needs its float numbers)."""
    return described.conv_settings(module, dims) is not None or described.pool_settings(module, dims) is not None


def _input_entry(pixels: np.ndarray) -> dict:
    tiles = page.as_cdhw(pixels.astype(np.uint8) if pixels.dtype == np.uint8 else np.rint(pixels).clip(0, 255)
                    .astype(np.uint8))
    rgb = page.png_b64(np.moveaxis(tiles[:, 0], 0, -1)) if pixels.ndim == 3 and len(pixels) == 3 else None
    return {"shape": list(pixels.shape), "full": page.sprite(tiles), "thumbs": page.sprite(_thumb_tiles(tiles)),
            "rgb": rgb, "min": [0] * len(pixels), "max": [255] * len(pixels), "key": "input"}


def _thumb_tiles(tiles: np.ndarray) -> np.ndarray:
    factor = -(-max(tiles.shape[2:]) // THUMB_SIZE)
    return page.shrink(tiles[:THUMB_CHANNELS], factor)


def _layer_entries(infos: list, modules: list, outputs: list, up_close: set, arrays: dict) -> list:
    entries, so_far = [], None
    dims = len(infos[0].in_shape) - 1 if infos else 0
    so_far = described.identity(dims)
    for i, (info, module, output) in enumerate(zip(infos, modules, outputs)):
        own = described.geometry(module, dims)
        so_far = described.compose(so_far, own)
        if so_far is not None and (info.receptive_field is None or tuple(so_far[0]) != tuple(info.receptive_field)):
            so_far = None  # the builder's arithmetic and the modules disagree: show no box rather than a wrong one
        entry = {
            "index": info.index, "name": info.name, "type": info.type, "in_shape": list(info.in_shape),
            "out_shape": list(output.shape), "params": info.params,
            "rf": None if so_far is None else list(info.receptive_field),
            "jump": None if so_far is None else list(info.jump),
            "offset": None if so_far is None else list(so_far[2]),
            "own": None if own is None else [list(part) for part in own],
            "rule": described.shape_rule(module, dims), "up_close": info.name in up_close,
        }
        if output.ndim >= 2:
            entry.update(_maps(output, info.name in up_close))
        if info.name in up_close:
            entry.update(_arithmetic(i, module, output, outputs, arrays, dims))
        entries.append(entry)
    return entries


def _maps(output: np.ndarray, full: bool) -> dict:
    tiles, lo, hi = page.quantize(page.as_cdhw(output))
    maps = {"thumbs": page.sprite(_thumb_tiles(tiles)), "min": lo, "max": hi}
    if full:
        maps["full"] = page.sprite(tiles)
    return maps


def _arithmetic(i: int, module, output: np.ndarray, outputs: list, arrays: dict, dims: int) -> dict:
    """A conv or pool layer's settings and the keys of its float32 input, output and weights."""
    conv, pool = described.conv_settings(module, dims), described.pool_settings(module, dims)
    if conv is None and pool is None:
        return {}
    in_key, out_key = ("input" if i == 0 else f"out{i - 1}"), f"out{i}"
    if i:
        arrays.setdefault(in_key, page.float_b64(outputs[i - 1]))
    arrays.setdefault(out_key, page.float_b64(output))
    found = {"in_key": in_key, "out_key": out_key}
    if conv is not None:
        arrays[f"w{i}"] = page.float_b64(module.weight.detach().float().numpy())
        conv["weight_key"] = f"w{i}"
        if module.bias is not None:
            arrays[f"b{i}"] = page.float_b64(module.bias.detach().float().numpy())
            conv["bias_key"] = f"b{i}"
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
