"""What compare.html needs to move the test object itself: every model as a program for the page's
JavaScript (model/program.py), its normalisation, and the example test image with its background.

A slider moves the object across the image one pixel at a time (along the last axis: width, or a 1D
signal's length), the uncovered border filled with the image's background as compare's shift test fills
it, and the page reruns every model on each position: the MLP's answer falls apart while the CNN's holds.
"""

from __future__ import annotations

import base64

import torch

from cnntrain.data.augment import border_median
from cnntrain.model.program import page_program
from cnntrain.tasks.explore_live import LIVE_PARAMS


def live_shift(trained: list, names: list[str], x: torch.Tensor, index: int, true: str, encode) -> dict:
    """The page's `live` entry for test image `index` of x (N, C, *spatial) uint8; `encode` turns a float32
    array into base64. A model too big or with a layer the browser cannot run is listed with why not."""
    image = x[index: index + 1]  # (1, C, *spatial)
    dims = image.dim() - 2
    arrays, models = {}, []
    for i, (name, model) in enumerate(zip(names, trained)):
        entry = {"name": name, "program": None, "why": "", "classes": model.classes}
        params = sum(p.numel() for p in model.model.parameters())
        program = page_program(model.model, dims) if params <= LIVE_PARAMS else None
        if program is None:
            entry["why"] = f"{params:,} parameters are more than a page computes live ({LIVE_PARAMS:,})"
        elif program.layers is None:
            entry["why"] = program.why
        else:
            normalize = model.normalizer.to("cpu", dims)
            entry["program"] = program.layers
            entry["norm"] = {"scale": normalize.scale.flatten().tolist(), "shift": normalize.shift.flatten().tolist()}
            arrays.update({f"{i}/{key}": encode(array) for key, array in program.arrays.items()})
        models.append(entry)
    side = image.shape[-1]
    return {"models": models, "arrays": arrays, "shape": list(image.shape[1:]), "true": true,
            "pixels": base64.b64encode(image[0].numpy().tobytes()).decode("ascii"),
            "fill": border_median(image)[0].tolist(), "max_shift": max(1, side // 4)}
