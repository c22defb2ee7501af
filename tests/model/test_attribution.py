"""Are explain's maps honest? The sanity checks of Adebayo et al. 2018 ("Sanity Checks for Saliency Maps")
on a small trained model: a map must depend on the model's weights and on the class it explains, and
Grad-CAM must find the object where the object is known.

The model learns three small shapes (square, plus, frame; 8-10 px in 32 x 32) drawn anywhere on a dark,
noisy background; the maps are made of new images with one shape at a known place on a blank one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = 32
KINDS = ("square", "plus", "frame")
METHODS = ("gradcam", "gradcam++", "saliency", "integrated-gradients", "occlusion")

CONFIG = """
name: objects
data: {{dataset: imagefolder, root: {root}, channels: 1, image_size: 32, val_fraction: 0.2, test_fraction: 0.1}}
model:
  layers:
    - conv2d: {{name: conv1, out_channels: 8, kernel_size: 3, padding: 1}}
    - relu
    - maxpool2d: 2
    - conv2d: {{name: conv2, out_channels: 16, kernel_size: 3, padding: 1}}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {{name: output, out_features: num_classes}}
train: {{epochs: 6, batch_size: 16, lr: 0.01, device: cpu, featuremap_every: 0, seed: 0}}
"""

# Saliency (the absolute input gradient) fails both dependence checks on this kind of model, as the
# literature warns: after a max-pool, the pixels with any gradient at all are the ones the forward pass
# routed through the pools' maxima, the same for every class and mostly on the object for any weights,
# so the maps' ranks (ties at zero included) stay alike. Kept here, strict, so a change is noticed.
SALIENCY_SHARES_ITS_SUPPORT = pytest.mark.xfail(strict=True, reason="saliency's support is set by the max-pool "
                                                "routing, not by the class or the trained weights")


def draw_object(kind: str, rng: np.random.Generator, noise: int) -> tuple[np.ndarray, tuple]:
    """One shape (8-10 px) at a random place: (32 x 32 uint8 image, its box (top, left, bottom, right))."""
    side = int(rng.integers(8, 11))
    top, left = (int(v) for v in rng.integers(0, SIZE - side + 1, size=2))
    image = rng.integers(0, noise + 1, size=(SIZE, SIZE)).astype(np.uint8)
    shape = np.zeros((side, side), bool)
    bar, middle = max(2, side // 3), (side - max(2, side // 3)) // 2
    if kind == "square":
        shape[:] = True
    elif kind == "plus":
        shape[middle:middle + bar, :] = shape[:, middle:middle + bar] = True
    else:
        shape[:] = True
        shape[2:-2, 2:-2] = False
    image[top:top + side, left:left + side][shape] = 255
    return image, (top, left, top + side, left + side)


def write_objects(root: Path, per_class: int, seed: int, noise: int) -> dict:
    """root/<kind>/<n>.png; returns path -> box."""
    rng = np.random.default_rng(seed)
    boxes = {}
    for kind in KINDS:
        (root / kind).mkdir(parents=True)
        for n in range(per_class):
            image, box = draw_object(kind, rng, noise)
            path = root / kind / f"{n:03d}.png"
            Image.fromarray(image).save(path)
            boxes[path] = box
    return boxes


@pytest.fixture(scope="module")
def objects(tmp_path_factory, one_thread):
    """(trained model, three re-initialised twins, the probe samples, their boxes), trained once per module."""
    import torch

    from cnntrain.run.load import load_trained
    from cnntrain.run.train import train
    from cnntrain.tasks.explain import read_inputs

    folder = tmp_path_factory.mktemp("objects")
    write_objects(folder / "train", per_class=100, seed=0, noise=80)
    boxes = write_objects(folder / "probe", per_class=10, seed=1, noise=0)
    config = folder / "objects.yaml"
    config.write_text(CONFIG.format(root=folder / "train"), encoding="utf-8")
    run = train(config, out=folder / "run")
    trained = load_trained(run.run_dir, device="cpu")
    shuffled = [load_trained(run.run_dir, device="cpu") for _ in range(3)]
    for seed, twin in enumerate(shuffled):  # the full model randomisation test, three draws
        torch.manual_seed(seed)
        for module in twin.model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return trained, shuffled, read_inputs(trained, [folder / "probe"]), boxes


@pytest.fixture(scope="module")
def trained_maps(objects):
    """trained_maps(method) -> the trained model's maps of the probe images for their predicted class,
    made once per method and module."""
    made = {}

    def of(method: str) -> list:
        if method not in made:
            made[method] = maps(objects[0], objects[2], method)
        return made[method]

    return of


def maps(trained, samples, method: str, target="predicted") -> list:
    from cnntrain.tasks.explain import attribute, target_layer

    layer = target_layer(trained, None) if method in ("gradcam", "gradcam++") else None
    return attribute(trained, samples, method=method, target=target, layer=layer)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation, ties sharing their mean rank; a constant map correlates with nothing."""
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(a: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(a.ravel(), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2)[inverse.ravel()]


def test_the_model_learned_the_shapes(objects, trained_maps):
    """The checks below need a model that works: nearly every probe image classified right."""
    trained, _, samples, _ = objects
    found = trained_maps("gradcam")
    right = [trained.classes[a.predicted] == a.path.parent.name for a in found]
    assert np.mean(right) >= 0.9


@pytest.mark.parametrize("method", [m if m != "saliency" else pytest.param(m, marks=SALIENCY_SHARES_ITS_SUPPORT)
                                    for m in METHODS])
def test_maps_depend_on_the_trained_weights(objects, trained_maps, method):
    """Model randomisation: the same images through the same architecture with fresh random weights (three
    draws). Each map must be reproducible (rank correlation ~1 with itself) and unlike the randomised
    models' maps: mean rank correlation below 0.5."""
    trained, shuffled, samples, _ = objects
    found = trained_maps(method)
    again = maps(trained, samples, method)
    itself = np.mean([spearman(a.heat, b.heat) for a, b in zip(found, again)])
    versus_random = []
    for twin in shuffled:
        # explain the class the trained model saw, so only the weights differ
        random = [maps(twin, [s], method, target=trained.classes[a.predicted])[0] for s, a in zip(samples, found)]
        versus_random += [spearman(a.heat, r.heat) for a, r in zip(found, random)]
    assert itself > 0.99
    assert np.mean(versus_random) < 0.5, f"{method}: rank correlation {np.mean(versus_random):.2f} with random models"


@pytest.mark.parametrize("method", [m if m != "saliency" else pytest.param(m, marks=SALIENCY_SHARES_ITS_SUPPORT)
                                    for m in METHODS])
def test_maps_depend_on_the_target_class(objects, trained_maps, method):
    """The map for the predicted class and for the class the model finds least likely must differ: mean rank
    correlation below 0.5; below 0.8 for Grad-CAM++, whose weights keep only the positive gradients, so on
    an image holding one object any class's map leans towards that object (measured: about 0.6)."""
    import torch

    trained, _, samples, _ = objects
    found = trained_maps(method)
    with torch.no_grad():
        x = torch.stack([torch.from_numpy(np.array(p)) for _, p in samples])
        least = trained.logits(x).argmin(1).tolist()
    other = [maps(trained, [s], method, target=trained.classes[k])[0] for s, k in zip(samples, least)]
    assert all(a.target != o.target for a, o in zip(found, other))
    rho = np.mean([spearman(a.heat, o.heat) for a, o in zip(found, other)])
    bound = 0.8 if method == "gradcam++" else 0.5
    assert rho < bound, f"{method}: rank correlation {rho:.2f} between the maps of two classes"


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "integrated-gradients", "occlusion"])
def test_the_peak_falls_on_the_object(objects, trained_maps, method):
    """Each probe image holds one shape (about 8% of the image) at a known place on a blank background:
    the map's peak lies inside its box for nearly every correctly classified image."""
    trained, _, samples, boxes = objects
    inside = []
    for att in trained_maps(method):
        if trained.classes[att.predicted] != att.path.parent.name:
            continue
        top, left, bottom, right = boxes[att.path]
        y, x = np.unravel_index(np.argmax(att.heat), att.heat.shape)
        inside.append(top <= y < bottom and left <= x < right)
    assert len(inside) >= 0.9 * len(samples)
    assert np.mean(inside) >= 0.9, f"{method}: {sum(inside)} of {len(inside)} peaks on the object"
