"""Batch-level augmentation and the translation used to test robustness to shifts.

Everything is vectorized over the batch: each sample gets its own random parameters
(drawn from the caller's torch.Generator, on the CPU, then moved to the batch's device),
and one gather or one grid_sample applies them all at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cnntrain.errors import DataError


def augment_batch(
    x: torch.Tensor, augment: dict, generator: torch.Generator
) -> torch.Tensor:
    """Random flips, rotations, shifts and pad-and-crop of a float batch (B, C, *S).

    augment holds the config's data.augment keys (missing ones count as off):
      flip      mirror the last axis (W; time for signals) of a random half of
                the samples
      rotation  rotate by a uniform angle in [-rotation, rotation] degrees,
                bilinear, edges extended (2D only: ignored for signals, volumes)
      shift     move by a whole number of pixels in [-shift, shift] per axis,
                edges extended, so a uniform background stays uniform
      crop      pad by `crop` zeros and take a random crop of the original size,
                the classic CIFAR augmentation: a shift in [-crop, crop] with
                zeros coming in
      flip_axes mirror each listed spatial axis (0 = the first: time, depth) of a
                random half of the samples, each axis drawn on its own
      scale     multiply by a uniform factor in [1 - scale, 1 + scale] (amplitude)
      noise     add Gaussian noise of this std (in standardised units)
    shift (an int, or a list of one per axis) and crop work on every axis, so they
    also apply to 1D signals and 3D volumes. With everything off, x itself is
    returned; a key that is off draws nothing, so older runs keep their draws.
    """
    crop = int(augment.get("crop") or 0)
    flip, rotation = bool(augment.get("flip")), float(augment.get("rotation") or 0.0)
    b, nd = x.shape[0], x.dim() - 2
    shift = _per_axis(augment.get("shift"), nd)

    def offsets(limit) -> torch.Tensor:  # (B, nd) whole pixels in [-limit, limit] (per axis)
        if isinstance(limit, int):
            return torch.randint(-limit, limit + 1, (b, nd), generator=generator)
        unit = torch.rand(b, nd, generator=generator)
        span = torch.tensor(limit, dtype=torch.float32)
        return (unit * (2 * span + 1)).floor().long() - torch.tensor(limit)

    if flip:
        mask = torch.rand(b, generator=generator) < 0.5
        x = torch.where(mask.to(x.device).view(b, *[1] * (nd + 1)), x.flip(-1), x)
    if rotation and nd == 2:
        degrees = (torch.rand(b, generator=generator) * 2 - 1) * rotation
        x = rotate(x, degrees.to(x.device))
    if shift:
        x = translate(x, offsets(shift).to(x.device))
    if crop:
        zeros = torch.zeros(b, x.shape[1], dtype=x.dtype, device=x.device)
        x = translate(x, offsets(crop).to(x.device), fill=zeros)
    return _amplitude(_flip_axes(x, augment.get("flip_axes") or [], generator), augment, generator)


def _per_axis(shift, nd: int) -> int | list[int]:
    """data.augment.shift: one int for every axis, or a list with one per spatial axis."""
    if not isinstance(shift, list):
        return int(shift or 0)
    if len(shift) != nd:
        raise DataError(f"data.augment.shift {shift} has {len(shift)} values but the samples have {nd} "
                        "spatial axes; give one per axis, or a single int")
    return [int(v) for v in shift] if any(shift) else 0


def _flip_axes(x: torch.Tensor, axes: list[int], generator: torch.Generator) -> torch.Tensor:
    b, nd = x.shape[0], x.dim() - 2
    for axis in axes:
        if not 0 <= axis < nd:
            raise DataError(f"data.augment.flip_axes names axis {axis}, but the samples have {nd} spatial "
                            f"axes (0 to {nd - 1})")
        mask = torch.rand(b, generator=generator) < 0.5
        x = torch.where(mask.to(x.device).view(b, *[1] * (nd + 1)), x.flip(2 + axis), x)
    return x


def _amplitude(x: torch.Tensor, augment: dict, generator: torch.Generator) -> torch.Tensor:
    """Amplitude scaling, then additive Gaussian noise, on the standardised batch."""
    scale, noise = float(augment.get("scale") or 0.0), float(augment.get("noise") or 0.0)
    shape = (x.shape[0], *[1] * (x.dim() - 1))
    if scale:
        factor = 1 + (torch.rand(shape, generator=generator) * 2 - 1) * scale
        x = x * factor.to(x.device, x.dtype)
    if noise:
        x = x + torch.randn(x.shape, generator=generator).to(x.device, x.dtype) * noise
    return x


def shift_images(
    x: torch.Tensor, pixels: int, generator: torch.Generator, fill: float | None = None
) -> torch.Tensor:
    """Translate every sample of x (B, C, *spatial) by `pixels` in a random direction.

    2D: a uniform angle, with (dy, dx) rounded so the move is ~pixels long; 1D: left or
    right; 3D: a uniform direction on the sphere. The uncovered border is filled with
    `fill`, or by default with each image's background, estimated per channel as the
    median of its border pixels. Works for uint8 and float; returns the same dtype.
    """
    b, nd = x.shape[0], x.dim() - 2
    if nd == 1:
        offsets = (torch.randint(2, (b, 1), generator=generator) * 2 - 1) * pixels
    elif nd == 2:
        angle = torch.rand(b, generator=generator) * 2 * math.pi
        direction = torch.stack([torch.sin(angle), torch.cos(angle)], 1)  # (dy, dx)
        offsets = (direction * pixels).round().long()
    else:
        direction = torch.randn(b, nd, generator=generator)
        direction = direction / direction.norm(dim=1, keepdim=True)
        offsets = (direction * pixels).round().long()
    if fill is None:
        values = border_median(x)  # (B, C)
    else:
        values = torch.full(x.shape[:2], fill, dtype=x.dtype, device=x.device)
    return translate(x, offsets.to(x.device), fill=values)


def translate(
    x: torch.Tensor, offsets: torch.Tensor, fill: torch.Tensor | None = None
) -> torch.Tensor:
    """Move each sample by whole pixels: out[..., i] = x[..., i - offset] per axis.

    offsets (B, nd) int. Positions with no source take fill (B, C), or the nearest edge
    value when fill is None. Implemented as one gather per axis with clamped indices.
    """
    b, c, nd = x.shape[0], x.shape[1], x.dim() - 2
    out, valid = x, None
    for d in range(nd):
        n, axis = x.shape[2 + d], 2 + d
        src = torch.arange(n, device=x.device)[None, :] - offsets[:, d : d + 1]
        view = [b] + [1] * (nd + 1)
        view[axis] = n
        out = torch.gather(out, axis, src.clamp(0, n - 1).view(view).expand(out.shape))
        if fill is not None:
            inside = ((src >= 0) & (src < n)).view(view)
            valid = inside if valid is None else valid & inside
    if fill is None:
        return out
    fill = fill.to(dtype=x.dtype, device=x.device).view(b, c, *[1] * nd)
    return torch.where(valid, out, fill)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image of x (B, C, H, W) about its centre; edges extend outward."""
    b, _, h, w = x.shape
    rad = degrees.to(torch.float32) * (math.pi / 180)
    cos, sin = torch.cos(rad), torch.sin(rad)
    zero = torch.zeros_like(cos)
    # affine_grid works in [-1, 1] coordinates per axis; the h/w factors keep the
    # rotation rigid in pixel space for non-square images.
    theta = torch.stack(
        [
            torch.stack([cos, -sin * h / w, zero], 1),
            torch.stack([sin * w / h, cos, zero], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    src = x if x.is_floating_point() else x.float()
    out = F.grid_sample(
        src,
        grid.to(src.dtype),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )
    return out if x.is_floating_point() else out.round_().clamp_(0, 255).to(x.dtype)


def border_median(x: torch.Tensor) -> torch.Tensor:
    """Median of the border pixels of x (B, C, *spatial), per sample and channel."""
    spatial = x.shape[2:]
    edge = torch.zeros(spatial, dtype=torch.bool, device=x.device)
    for d, n in enumerate(spatial):
        index = [slice(None)] * len(spatial)
        for i in (0, n - 1):
            index[d] = i
            edge[tuple(index)] = True
    border = x[..., edge]  # (B, C, n_border)
    # torch's median is the lower middle value, one of the pixels: exact for uint8
    values = border.float().median(dim=-1).values  # (B, C)
    return values.to(x.dtype)
