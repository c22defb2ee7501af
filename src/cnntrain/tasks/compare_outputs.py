"""What `cnntrain compare` shows besides its numbers: the protocol in words, one test image shifted by each
amount with every model's prediction (shifted/shift_NN.png), and compare.html.

The lesson is seen, not only counted: on the same moved image the MLP's answer changes while the CNN's holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cnntrain.data import shift_images
from cnntrain.viz.mosaic import sample_tile
from cnntrain.viz.page import write_page
from cnntrain.viz.png import save_png

PLACED = ("shapes", "volumes")  # the datasets data.placement applies to


def shifted(x: torch.Tensor, pixels: int, seed: int) -> torch.Tensor:
    """Every image moved `pixels` in a direction seeded by (seed, pixels): the same for every model."""
    if not pixels:
        return x
    moved = shift_images(x, int(pixels), torch.Generator().manual_seed(seed * 1009 + int(pixels)))
    # The same directions again, on ones, mark what the move uncovered: that strip takes pixels drawn at
    # random from the image's own outermost ring, so a noisy background stays noisy (a flat fill would be a
    # cue that moves with the object) and no piece of the object is copied in (as reflecting would).
    covered = shift_images(torch.ones_like(x[:, :1], dtype=torch.float32), int(pixels),
                           torch.Generator().manual_seed(seed * 1009 + int(pixels)), fill=0.0).bool()
    edge = torch.zeros(x.shape[2:], dtype=torch.bool)
    for axis in range(edge.dim()):
        edge.index_fill_(axis, torch.tensor([0, edge.shape[axis] - 1]), True)
    ring = x[..., edge]  # (B, C, R)
    draw = torch.randint(ring.shape[-1], (*x.shape[:2], edge.numel()),
                         generator=torch.Generator().manual_seed(seed * 1013 + int(pixels)))
    background = torch.gather(ring, 2, draw.to(x.device)).view(x.shape)
    return torch.where(covered, moved, background)


def protocol_text(models: list) -> str:
    """How the models were trained and tested, for compare.json and compare.html: the data, the epochs,
    the images per split and the chance level."""
    return _placement_text(models) + " " + _amounts_text(models)


def _amounts_text(models: list) -> str:
    if not models or not models[0].epochs:
        return ""
    epochs = sorted({m.epochs for m in models})
    trained = f"{epochs[0]} epochs each" if len(epochs) == 1 else "epochs: " + ", ".join(
        f"{m.name} {m.epochs}" for m in models)
    sizes = models[0].images
    split = ", ".join(f"{sizes[s]:,} {name}" for s, name in (("train", "training"), ("val", "validation"),
                                                               ("test", "test")) if s in sizes)
    return (f"{trained}; {split} images; chance level (guessing among {round(1 / models[0].chance)} classes) "
            f"{models[0].chance:.1%}: a model near it has not learnt yet, whatever its other numbers.")


def _placement_text(models: list) -> str:
    shift = ("then every test image is shifted by each amount in a seeded random direction (the same for "
             "every model), the uncovered border filled with pixels drawn from the image's own edge, noise and all.")
    if not models or any(m.dataset not in PLACED for m in models):
        return "Trained and tested on the images as the dataset has them; " + shift
    if all(m.placement == "centered" for m in models):
        return ("Trained and tested on centred objects (data.placement=centered, compare's default); " + shift
                + " With --set data.placement=random the objects sit anywhere, in training too.")
    if all(m.placement == "random" for m in models):
        return "Trained and tested with objects anywhere in the image (data.placement=random); " + shift
    return "The models were trained with different data.placement values (see each run's config); " + shift


def shift_example(out_dir: Path, trained: list, names: list[str], x: torch.Tensor, y: torch.Tensor,
                  shifts: list[int], seed: int) -> dict | None:
    """The first test image every model gets right unshifted, at each shift, with each model's prediction."""
    if len(y) == 0:
        return None
    right = torch.ones(len(y), dtype=torch.bool)
    for model in trained:
        right &= model.logits(x).argmax(1) == y
    index = int(right.nonzero()[0, 0]) if right.any() else 0
    classes = trained[0].classes
    frames = []
    for pixels in shifts:
        image = shifted(x, pixels, seed)[index: index + 1]  # (1, C, *spatial): as the shift curve saw it
        link = f"shifted/shift_{int(pixels):02d}.png"
        save_png(sample_tile(image[0].numpy()), out_dir / link)
        predictions = {}
        for name, model in zip(names, trained):
            probs = model.logits(image).softmax(1)[0]
            guess = int(probs.argmax())
            predictions[name] = {"class": classes[guess], "prob": float(probs[guess]), "right": guess == int(y[index])}
        frames.append({"shift": int(pixels), "image": link, "predictions": predictions})
    chosen = ("the first test image every model classifies right unshifted" if right.any()
              else "the first test image (no image is right for every model unshifted)")
    return {"index": index, "true": classes[int(y[index])], "chosen": chosen, "frames": frames}


def write_compare_page(out_dir: Path, document: dict, live: dict | None = None) -> Path:
    """compare.html beside compare.json: its data, the plot, and links to each model's report.html.

    The page's data: models (compare.json's rows), shifts, protocol (a sentence), example {index, true,
    chosen, frames [{shift, image, predictions {model: {class, prob, right}}}]} or null, plot (compare.png),
    reports {model: link to its report.html}, every link relative to the page; and live
    (compare_live.live_shift) or null: the models as programs that live_net.js runs while the page's
    slider moves the example.
    """
    reports = {}
    for model in document["models"]:
        page = Path(model["run_dir"]) / "report.html"
        if page.is_file():
            reports[model["name"]] = Path(os.path.relpath(page, out_dir)).as_posix()
    return write_page(out_dir / "compare.html", "compare.html",
                      data={**document, "plot": "compare.png", "reports": reports, "live": live})
