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
    generator = torch.Generator().manual_seed(seed * 1009 + int(pixels))
    return shift_images(x, int(pixels), generator)


def protocol_text(models: list) -> str:
    """How the models were trained and tested, in one sentence for compare.json and compare.html."""
    shift = ("then every test image is shifted by each amount in a seeded random direction (the same for "
             "every model), the uncovered border filled with its background.")
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


def write_compare_page(out_dir: Path, document: dict) -> Path:
    """compare.html beside compare.json: its data, the plot, and links to each model's report.html.

    The page's data: models (compare.json's rows), shifts, protocol (a sentence), example {index, true,
    chosen, frames [{shift, image, predictions {model: {class, prob, right}}}]} or null, plot (compare.png)
    and reports {model: link to its report.html}; every link is relative to the page.
    """
    reports = {}
    for model in document["models"]:
        page = Path(model["run_dir"]) / "report.html"
        if page.is_file():
            reports[model["name"]] = Path(os.path.relpath(page, out_dir)).as_posix()
    return write_page(out_dir / "compare.html", "compare.html",
                      data={**document, "plot": "compare.png", "reports": reports})
