"""`cnntrain explain`: where the network looked to classify each input (Grad-CAM and friends).

    from cnntrain.tasks.explain import explain
    result = explain("runs/cnn/1", ["cat.png"], method="gradcam")
    np.load(result.explanations[0].heatmap)        # (H, W) float32 at the image's own resolution

Inputs are read exactly as `predict` reads them (data/files.py: channels, size, the checkpoint's
normalisation); 1D and 3D models take `.npy` arrays [C, *spatial] as `featuremaps` does. What
each filter looks for (`--filters`) lives in tasks/explain_filters.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cnntrain.atomic import atomic_write_text, atomic_writer
from cnntrain.data.array_inputs import is_array_data, load_array_inputs
from cnntrain.data.files import image_files, load_images, load_sample
from cnntrain.errors import CnntrainError, DataError, did_you_mean
from cnntrain.model.attribution import (
    LAYER_METHODS,
    METHODS,
    SIGNED_METHODS,
    attribution_map,
    default_target_layer,
    spatial_layers,
)
from cnntrain.model.capture import select_layers
from cnntrain.run.checkpoint import home_of
from cnntrain.run.load import Trained, load_trained
from cnntrain.run.outputs import display_values
from cnntrain.viz.heatmaps import save_explanation
from cnntrain.viz.page import write_page

TARGET_RULES = ("predicted", "true")
MANIFEST = "explain.json"  # what index.html shows, so that later runs into the same folder add to it


@dataclass
class Attribution:
    """One input's map, in memory: what the sanity tests compare."""

    path: Path
    pixels: np.ndarray  # (C, *spatial) as read, 0..255
    predicted: int
    probability: float  # softmax probability of the predicted class
    target: int
    heat: np.ndarray  # (*spatial) float32


@dataclass
class Explanation:
    """One input's written result; paths are where the files went."""

    path: str
    predicted: str
    probability: float
    target: str
    method: str
    layer: str | None  # the layer Grad-CAM looked at; None for the input-gradient methods
    heatmap: str  # the .npy
    picture: str  # the .png

    def as_dict(self) -> dict:
        """The `explain --json` form; its keys are an interface."""
        return {"path": self.path, "predicted": self.predicted, "probability": self.probability,
                "target": self.target, "method": self.method, "layer": self.layer, "heatmap": self.heatmap}


@dataclass
class ExplainResult:
    out_dir: Path
    html: Path
    explanations: list  # Explanation
    unreadable: dict = field(default_factory=dict)  # path -> why: inputs that could not be read, left out


def explain(checkpoint, inputs: list, *, method: str = "gradcam", layer: str | None = None,
            target: str = "predicted", out=None, overrides=()) -> ExplainResult:
    """A heat map of each input for `target` (a class name, `predicted` or `true`: the input's
    class folder), written as <stem>_<method>.png and .npy, with one index.html for all."""
    check_method(method, layer)
    trained = load_explainable(checkpoint, overrides)
    check_target(target, trained.classes)
    info = target_layer(trained, layer) if method in LAYER_METHODS else None
    unreadable: dict = {}
    samples = read_inputs(trained, inputs, unreadable)
    attributions = attribute(trained, samples, method=method, target=target, layer=info)
    out_dir = Path(out) if out is not None else home_of(trained.path) / "explain"
    result = _write(trained, attributions, out_dir, method, info.name if info else None)
    result.unreadable = {str(path): why for path, why in unreadable.items()}
    return result


def load_explainable(checkpoint, overrides=()) -> Trained:
    """The checkpoint's PyTorch model: every method needs gradients (or, for occlusion, the model itself)."""
    if Path(checkpoint).suffix.lower() == ".onnx":
        raise CnntrainError(f"{checkpoint}: explain needs the PyTorch model, for its gradients; pass the checkpoint "
                            "or run directory the .onnx was exported from")
    return load_trained(checkpoint, overrides)


def check_method(method: str, layer: str | None) -> None:
    if method not in METHODS:
        raise CnntrainError(f"--method {method!r} is not a method{did_you_mean(method, METHODS)}")
    if layer is not None and method not in LAYER_METHODS:
        raise CnntrainError(f"--layer applies to {' and '.join(LAYER_METHODS)} only; {method} attributes to "
                            "the input pixels")


def check_target(target: str, classes: list[str]) -> None:
    if target not in TARGET_RULES and target not in classes:
        raise CnntrainError(f"--target {target!r} is neither `predicted`, `true` nor a class of this model"
                            f"{did_you_mean(target, [*TARGET_RULES, *classes])}")


def target_layer(trained: Trained, ref: str | None):
    """The LayerInfo Grad-CAM looks at: `ref` (name or index) or the last layer with spatial output."""
    layers = trained.layers
    if ref is None:
        return default_target_layer(layers)
    (info,) = select_layers(layers, [str(ref)])
    if info not in spatial_layers(layers):
        choices = ", ".join(f"{i.index}:{i.name}" for i in spatial_layers(layers)) or "none"
        raise CnntrainError(f"--layer {ref}: {info.name} has no spatial output ({info.out_shape}) for Grad-CAM "
                            f"to look at; layers with a map: {choices}")
    return info


def read_inputs(trained: Trained, inputs: list, unreadable: dict | None = None) -> list[tuple[Path, np.ndarray]]:
    """(path, (C, *spatial) pixels) per input: image files as `predict` reads them, .npy arrays as
    `featuremaps` does. Folders are walked for images (2D models) or .npy arrays (1D and 3D). With
    `unreadable` (a dict), images that cannot be read are left out and mapped to why, unless none can."""
    if is_array_data(trained.config.data):  # float arrays: .npy, NIfTI, a table's rows
        arrays = load_array_inputs(inputs, trained.config.data, trained.normalizer.mean)
        return [(Path(name), x.numpy()) for name, x in zip(arrays.names, arrays.x)]
    two_d = len(trained.config.input_shape()) == 3
    files = image_files(inputs) if two_d else image_files(inputs, extensions=(".npy",))
    images = [f for f in files if f.suffix.lower() != ".npy"]
    failed: dict = {}
    arrays = load_images(images, trained.preprocessing(), failed if unreadable is not None else None) if images else []
    readable = [f for f in images if f not in failed]
    if failed and len(failed) == len(files):
        raise DataError(next(iter(failed.values())))
    if unreadable is not None:
        unreadable.update(failed)
    decoded = dict(zip(readable, arrays))
    return [(f, decoded[f] if f in decoded else load_sample(f, trained.config.data)) for f in files if f not in failed]


def attribute(trained: Trained, samples: list, *, method: str, target: str = "predicted",
              layer=None) -> list[Attribution]:
    """The map of every (path, pixels) sample for `target`; `layer` is Grad-CAM's LayerInfo."""
    model = trained.model
    module = dict(model.named_children())[layer.name] if layer is not None else None
    results = []
    for path, pixels in samples:
        x = torch.from_numpy(np.array(pixels))[None].to(trained.device)  # (1, C, *spatial); a writable copy
        normalize = trained.normalizer.to(trained.device, x.dim() - 2)
        inputs, black = normalize(x), normalize(torch.zeros_like(x))
        probs = _probabilities(model, inputs, path)
        predicted = int(probs.argmax())
        goal = _target_index(target, path, trained.classes, predicted)
        heat = attribution_map(model, inputs, target=goal, method=method, layer=module, baseline=black)
        results.append(Attribution(path, pixels, predicted, float(probs[predicted]), goal,
                                   heat.numpy().astype(np.float32)))
    return results


def _probabilities(model, x: torch.Tensor, path: Path) -> torch.Tensor:
    try:
        with torch.no_grad():
            return model(x).softmax(1)[0].float().cpu()
    except RuntimeError as err:
        raise DataError(f"{path}: the model cannot take this input of {' x '.join(map(str, x.shape[1:]))}: "
                        f"{str(err).splitlines()[0]}") from None


def _target_index(target: str, path: Path, classes: list[str], predicted: int) -> int:
    if target == "predicted":
        return predicted
    if target == "true":
        folder = path.parent.name
        if folder not in classes:
            raise DataError(f"{path}: --target true takes the class from the folder the input sits in, but "
                            f"{folder!r} is not a class of this model ({', '.join(classes)})")
        return classes.index(folder)
    return classes.index(target)


def _write(trained: Trained, attributions: list, out_dir: Path, method: str, layer: str | None) -> ExplainResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = trained.classes
    explanations = []
    for att, stem in zip(attributions, unique_stems([a.path for a in attributions])):
        npy, png = out_dir / f"{stem}_{method}.npy", out_dir / f"{stem}_{method}.png"
        with atomic_writer(npy, "wb") as f:
            np.save(f, att.heat)
        where = f" at {layer}" if layer else ""
        title = (f"{att.path.name}: predicted {classes[att.predicted]} ({att.probability:.1%}); "
                 f"{method} for {classes[att.target]}{where}")
        shown = display_values(att.pixels[None])[0]  # uint8 pixels as they are; float arrays stretched
        save_explanation(shown, att.heat, png, title=title, signed=method in SIGNED_METHODS,
                         stretched=np.asarray(att.pixels).dtype != np.uint8)
        explanations.append(Explanation(str(att.path), classes[att.predicted], att.probability,
                                        classes[att.target], method, layer, str(npy), str(png)))
    items = merge_manifest(out_dir, [{**e.as_dict(), "picture": Path(e.picture).name, "npy": Path(e.heatmap).name}
                                     for e in explanations])
    html = write_page(out_dir / "index.html", "explain.html", title=f"Where {trained.config.name} looked",
                      checkpoint=str(trained.path), items=items)
    return ExplainResult(out_dir, html, explanations)


def merge_manifest(out_dir: Path, items: list[dict]) -> list[dict]:
    """Every map in the folder, for one index.html over all of them: the earlier runs' entries that
    explain.json lists and whose files are still there, the ones rewritten now replaced."""
    manifest = out_dir / MANIFEST
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8"))
        earlier = [e for e in earlier if isinstance(e, dict) and {"picture", "npy"} <= set(e)]
    except (OSError, ValueError):
        earlier = []  # none yet, or not ours to trust: the page starts again from this run
    fresh = {item["picture"] for item in items}
    kept = [e for e in earlier if e["picture"] not in fresh and _in_folder(out_dir, e["picture"])
            and _in_folder(out_dir, e["npy"])]
    merged = kept + items
    atomic_write_text(manifest, json.dumps(merged, indent=1))
    return merged


def _in_folder(out_dir: Path, name) -> bool:
    """A plain file name (no folder part, so the page links nowhere else) of a file in out_dir."""
    return isinstance(name, str) and Path(name).name == name and name not in ("", ".", "..") \
        and (out_dir / name).is_file()


def unique_stems(paths: list[Path]) -> list[str]:
    """File-name stems, portable (letters, digits, _ and -) and distinct: a second cat.png is cat-2."""
    stems, seen = [], set()
    for path in paths:
        base = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem) or "input"
        stem, n = base, 1
        while stem in seen:
            n += 1
            stem = f"{base}-{n}"
        seen.add(stem)
        stems.append(stem)
    return stems
