"""`volumes`: the 3D counterpart of `shapes`, solid objects in a (D, H, W) grid.

Same recipe: a random rotation (uniform over 3D rotations, from a random unit
quaternion), centre and size per sample, a signed distance function per class on the
rotated grid, one voxel of anti-aliasing, colours and noise from the shared synthetic
code. The object's bounding sphere always lies inside the volume; `data.placement: centered` puts
its centre in the middle of the volume.
"""

from __future__ import annotations

from functools import partial

import torch

from cnntrain.config import DataSettings
from cnntrain.data import options
from cnntrain.data.datasets import register
from cnntrain.data.synthetic import synthetic_splits, uniform

CLASSES = ["sphere", "cube", "cross", "shell", "cylinder", "torus"]

RADIUS = (0.22, 0.4)  # bounding-sphere radius as a fraction of the shortest side


@register("volumes", CLASSES)
def load_volumes(data: DataSettings, seed: int):
    render = partial(render_volumes, centered=options.centered(data))
    return synthetic_splits("volumes", data, seed, CLASSES, render, dims=3, minimum=8)


def render_volumes(
    labels: torch.Tensor, size: tuple[int, ...], gen: torch.Generator, centered: bool = False
) -> torch.Tensor:
    """labels (B,) -> alpha (B, D, H, W) float32."""
    b = labels.shape[0]
    sides = torch.tensor(size, dtype=torch.float32)  # (3,) D, H, W
    r = sides.min() * uniform(b, *RADIUS, gen)  # (B,)
    lo, hi = r[:, None] + 0.5, sides - 1.5 - r[:, None]  # (B, 3)
    t = torch.rand(b, 3, generator=gen)  # drawn even when centred: the later draws stay the same
    # (B, 3) z, y, x; in the middle when centred, or along any side too short to move in
    movable = (hi >= lo) & (not centered)
    centre = torch.where(movable, lo + t * (hi - lo), (sides - 1) / 2)
    rot = random_rotations(b, gen)  # (B, 3, 3)
    aux = torch.rand(b, generator=gen)
    alpha = torch.empty(b, *size)
    for k in labels.unique().tolist():
        idx = (labels == k).nonzero().squeeze(1)
        u = _rotated_grid(size, centre[idx], r[idx], rot[idx])  # 3 x (b, D, H, W)
        sdf = _SDF[CLASSES[k]](*u, aux[idx].view(-1, 1, 1, 1))
        alpha[idx] = sdf.mul_(-r[idx].view(-1, 1, 1, 1)).add_(0.5).clamp_(0.0, 1.0)
    return alpha


def random_rotations(b: int, gen: torch.Generator) -> torch.Tensor:
    """(B, 3, 3) rotations, uniform over SO(3): normalized Gaussian quaternions."""
    q = torch.randn(b, 4, generator=gen)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    return torch.stack(
        [
            torch.stack(
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], 1
            ),
            torch.stack(
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], 1
            ),
            torch.stack(
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1
            ),
        ],
        1,
    )


def _rotated_grid(size, centre, r, rot):
    """The three rotated, radius-scaled coordinates of every voxel, each (b, D, H, W).

    Each is a sum of three per-axis terms broadcast together, so no (b, D, H, W, 3)
    tensor and no batched matmul over voxels is needed.
    """
    axes = [
        (torch.arange(n, dtype=torch.float32) - centre[:, i, None]) / r[:, None]
        for i, n in enumerate(size)
    ]
    views = [(-1, size[0], 1, 1), (-1, 1, size[1], 1), (-1, 1, 1, size[2])]
    out = []
    for row in range(3):
        terms = [rot[:, row, i, None] * axes[i] for i in range(3)]  # (b, n_i) each
        out.append(
            terms[0].view(views[0]) + terms[1].view(views[1]) + terms[2].view(views[2])
        )
    return out


def _box(u, v, w, bu, bv, bw):
    qu, qv, qw = u.abs().sub_(bu), v.abs().sub_(bv), w.abs().sub_(bw)
    inside = torch.maximum(torch.maximum(qu, qv), qw).clamp_(max=0.0)
    outside = (
        qu.clamp_(min=0.0).square_()
        + qv.clamp_(min=0.0).square_()
        + qw.clamp_(min=0.0).square_()
    ).sqrt_()
    return outside.add_(inside)


def _length(u, v, w=None):
    s = u * u + v * v
    return (s if w is None else s.add_(w * w)).sqrt_()


def sphere(u, v, w, aux):
    return _length(u, v, w).sub_(1.0)


def cube(u, v, w, aux):
    return _box(u, v, w, 0.56, 0.56, 0.56)  # corners at 0.97


def cross(u, v, w, aux):
    """Three orthogonal bars through the centre, half-width 0.18..0.28."""
    t = 0.18 + 0.1 * aux
    return torch.minimum(
        torch.minimum(_box(u, v, w, 0.94, t, t), _box(u, v, w, t, 0.94, t)),
        _box(u, v, w, t, t, 0.94),
    )


def shell(u, v, w, aux):
    """A hollow sphere, inner radius 0.5..0.7 (on a slice: a ring)."""
    inner = 0.5 + 0.2 * aux
    return _length(u, v, w).sub_((1 + inner) / 2).abs_().sub_((1 - inner) / 2)


def cylinder(u, v, w, aux):
    """Radius 0.6, half-height 0.75 along w (edges at 0.96)."""
    qr, qh = _length(u, v).sub_(0.6), w.abs().sub_(0.75)
    inside = torch.maximum(qr, qh).clamp_(max=0.0)
    return torch.hypot(qr.clamp_(min=0.0), qh.clamp_(min=0.0)).add_(inside)


def torus(u, v, w, aux):
    """Tube radius 0.22..0.32 around a circle of radius 0.65 in the (u, v) plane."""
    tube = 0.22 + 0.1 * aux
    return _length(_length(u, v).sub_(0.65), w).sub_(tube)


_SDF = {
    "sphere": sphere,
    "cube": cube,
    "cross": cross,
    "shell": shell,
    "cylinder": cylinder,
    "torus": torus,
}
assert list(_SDF) == CLASSES
