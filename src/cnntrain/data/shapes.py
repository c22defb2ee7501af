"""`shapes`: filled 2D shapes, randomly placed (or centred), sized and rotated, on noise.

Every shape is drawn from a signed distance function (SDF) on a per-sample rotated
coordinate grid: negative inside, positive outside, in units of the shape's radius.
Turning the distance in pixels into alpha = clamp(0.5 - d, 0, 1) gives one pixel of
anti-aliasing for free. Each sample's bounding circle (radius r) lies inside the image,
so the whole shape is always visible, but its centre is uniform over the positions where
it fits: objects are rarely centred. With `data.placement: centered` every shape sits in the
middle (size, rotation and colours still vary), the training set of the translation lesson.
"""

from __future__ import annotations

import math
from functools import partial

import torch

from cnntrain.config import DataSettings
from cnntrain.data import options
from cnntrain.data.datasets import register
from cnntrain.data.synthetic import synthetic_splits, uniform

CLASSES = ["circle", "square", "triangle", "cross", "ring", "star"]

# Bounding-circle radius as a fraction of the shorter image side: the shape spans
# ~1/3 to ~3/4 of the image.
RADIUS = (0.18, 0.38)


@register("shapes", CLASSES)
def load_shapes(data: DataSettings, seed: int):
    render = partial(render_shapes, centered=options.centered(data))
    return synthetic_splits("shapes", data, seed, CLASSES, render, dims=2, minimum=8)


def render_shapes(
    labels: torch.Tensor, size: tuple[int, ...], gen: torch.Generator, centered: bool = False
) -> torch.Tensor:
    """labels (B,) -> alpha (B, H, W) float32: 1 inside the shape, 0 outside."""
    h, w = size
    b = labels.shape[0]
    # Drawn for every sample in a fixed order, whatever its class and placement: a centred set
    # differs from the random one only in where the shapes sit.
    r = min(h, w) * uniform(b, *RADIUS, gen)  # (B,) pixels
    cx = _centre(w, r, torch.rand(b, generator=gen), centered)
    cy = _centre(h, r, torch.rand(b, generator=gen), centered)
    theta = uniform(b, 0.0, 2 * math.pi, gen)
    aux = torch.rand(b, generator=gen)  # shape variation: thickness, inner radius
    alpha = torch.empty(b, h, w)
    for k in labels.unique().tolist():
        idx = (labels == k).nonzero().squeeze(1)
        grid = Grid(cx[idx], cy[idx], r[idx], theta[idx], h, w)
        sdf = _SDF[CLASSES[k]](grid, aux[idx].view(-1, 1, 1))  # (b, H, W) radius units
        alpha[idx] = sdf.mul_(-r[idx].view(-1, 1, 1)).add_(0.5).clamp_(0.0, 1.0)
    return alpha


def _centre(side: int, r: torch.Tensor, t: torch.Tensor, centered: bool) -> torch.Tensor:
    """A centre coordinate (pixel units) where a radius-r disc plus 1 px edge fits."""
    lo, hi = r + 0.5, side - 1.5 - r
    # Tiny images have no room to move the shape: keep it in the middle.
    mid = torch.full_like(r, (side - 1) / 2)
    if centered:
        return mid
    return torch.where(hi >= lo, lo + t * (hi - lo), mid)


class Grid:
    """Pixel coordinates of a batch relative to each sample's centre, per radius.

    `along(a)` is the coordinate along direction a (radians, per sample) in that frame.
    It is built as an outer sum of a (b, 1, W) and a (b, H, 1) term, so each projection
    costs a single full-size operation; the rotated axes u, v are two such projections.
    """

    def __init__(self, cx, cy, r, theta, h: int, w: int):
        r = r[:, None]
        self.x = (torch.arange(w, dtype=torch.float32) - cx[:, None]) / r  # (b, W)
        self.y = (torch.arange(h, dtype=torch.float32) - cy[:, None]) / r  # (b, H)
        self.theta = theta

    def along(self, offset: float) -> torch.Tensor:
        a = (self.theta + offset)[:, None]
        along_x = (torch.cos(a) * self.x)[:, None, :]  # (b, 1, W)
        along_y = (torch.sin(a) * self.y)[:, :, None]  # (b, H, 1)
        return along_x + along_y  # (b, H, W)

    def uv(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.along(0.0), self.along(math.pi / 2)  # (b, H, W) each


def box(u: torch.Tensor, v: torch.Tensor, bu, bv) -> torch.Tensor:
    """Exact SDF of the axis-aligned box |u| <= bu, |v| <= bv."""
    qu, qv = u.abs().sub_(bu), v.abs().sub_(bv)
    inside = torch.maximum(qu, qv).clamp_(max=0.0)
    return torch.hypot(qu.clamp_(min=0.0), qv.clamp_(min=0.0)).add_(inside)


def circle(g: Grid, aux) -> torch.Tensor:
    u, v = g.uv()
    return torch.hypot(u, v).sub_(1.0)


def square(g: Grid, aux) -> torch.Tensor:
    u, v = g.uv()
    return box(u, v, 0.7, 0.7)  # corners at 0.99: just inside the bounding circle


def triangle(g: Grid, aux) -> torch.Tensor:
    """Equilateral, circumradius 1: the three edges lie 0.5 from the centre."""
    d = torch.maximum(g.along(0.0), g.along(2 * math.pi / 3))
    return torch.maximum(d, g.along(4 * math.pi / 3)).sub_(0.5)


def cross(g: Grid, aux) -> torch.Tensor:
    """A plus sign: union (min) of two bars, half-width 0.22..0.34."""
    u, v = g.uv()
    half = 0.22 + 0.12 * aux
    return torch.minimum(box(u, v, 0.94, half), box(u, v, half, 0.94))


def ring(g: Grid, aux) -> torch.Tensor:
    """Annulus from inner radius 0.45..0.65 to 1."""
    u, v = g.uv()
    inner = 0.45 + 0.2 * aux
    mid, half = (1 + inner) / 2, (1 - inner) / 2
    return torch.hypot(u, v).sub_(mid).abs_().sub_(half)


def star(g: Grid, aux) -> torch.Tensor:
    """Five points at radius 1, inner corners at 0.38..0.5.

    By symmetry every point can be folded into the wedge between a tip A = (1, 0) and
    the next inner corner B; the distance to the line AB is then the distance to the
    star's boundary (exactly near edges, a slight underestimate near corners, enough for
    anti-aliasing).
    """
    u, v = g.uv()
    rho = torch.hypot(u, v)
    wedge = 2 * math.pi / 5
    # Angle from the nearest tip, folded into [0, wedge / 2] (0 at a tip).
    a = (
        torch.atan2(v, u)
        .remainder_(wedge)
        .sub_(wedge / 2)
        .abs_()
        .neg_()
        .add_(wedge / 2)
    )
    inner = 0.38 + 0.12 * aux  # (b, 1, 1)
    bx, by = inner * math.cos(wedge / 2), inner * math.sin(wedge / 2)
    nx, ny = by, 1.0 - bx  # normal of AB pointing away from the centre
    norm = torch.hypot(nx, ny)
    nx, ny = nx / norm, ny / norm
    return (torch.cos(a).mul_(nx).add_(torch.sin(a).mul_(ny))).mul_(rho).sub_(nx)


_SDF = {
    "circle": circle,
    "square": square,
    "triangle": triangle,
    "cross": cross,
    "ring": ring,
    "star": star,
}
assert list(_SDF) == CLASSES
