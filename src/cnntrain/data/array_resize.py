"""Bringing one array sample [C, *spatial] to the network's input size: `data.resize`.

- `interpolate`: resample every axis (linear, bilinear or trilinear): the default for images and volumes,
  whose content scales;
- `pad`: keep the start of each axis, NaN-pad or cut at its end: the default for series, whose time
  steps keep their meaning;
- `crop`: keep the centre of each axis, NaN-pad or cut both ends equally;
- `none`: every sample must already have the size.

NaN marks padding here; the loader fills it with the training split's channel mean, which
standardisation maps to 0.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnntrain.config import DataSettings
from cnntrain.errors import DataError

MODES = ("interpolate", "pad", "crop", "none")
_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resize_mode(data: DataSettings, dims: int) -> str:
    """data.resize, with null meaning pad for series and interpolate for images and volumes."""
    mode = data.resize
    if mode is None:
        return "pad" if dims == 1 else "interpolate"
    if mode not in MODES:
        raise DataError(f"data.resize must be one of {', '.join(MODES)} (or null), not {mode!r}")
    return mode


def fit(sample: np.ndarray, size: tuple[int, ...], mode: str, where: str) -> np.ndarray:
    """sample (C, *spatial) float32 -> (C, *size) float32."""
    spatial = sample.shape[1:]
    if spatial == tuple(size):
        return sample
    if mode == "none":
        raise DataError(f"{where} has size {list(spatial)} but data.image_size is {list(size)}; set data.resize "
                        "to interpolate, pad or crop to bring every sample to that size")
    if mode == "interpolate":
        x = torch.from_numpy(np.ascontiguousarray(sample))[None]  # (1, C, *spatial)
        out = F.interpolate(x, size=tuple(size), mode=_INTERPOLATION[len(size)], align_corners=False)
        return out[0].numpy()
    out = np.full((sample.shape[0], *size), np.nan, dtype=np.float32)
    src, dst = [slice(None)], [slice(None)]
    for n, want in zip(spatial, size):
        keep = min(n, want)
        start_src = 0 if mode == "pad" else (n - keep) // 2
        start_dst = 0 if mode == "pad" else (want - keep) // 2
        src.append(slice(start_src, start_src + keep))
        dst.append(slice(start_dst, start_dst + keep))
    out[tuple(dst)] = sample[tuple(src)]
    return out
