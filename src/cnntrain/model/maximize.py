"""What a channel looks for: the input that maximises its mean activation (activation maximisation).

    patterns = maximize_channels(model[:1], model[1:2], [0, 5], input_shape=(1, 28, 28), to_input=normalize)

Gradient ascent on the input itself, from a grey image with a little noise (Erhan et al. 2009).
Unregularised, the ascent finds high-frequency noise that excites the channel as well as any
pattern; three regularisers from the feature-visualisation literature (Yosinski et al. 2015,
Olah et al. 2017) keep what it finds visible:
- jitter: every step sees the image shifted by a few random pixels, so only patterns that work
  wherever they sit survive;
- L2 decay towards grey, so pixels the channel does not care about stay grey;
- blur every few steps, which removes the frequencies no real image has.
A channel that a ReLU silences on grey has no gradient to climb; until it fires somewhere, its
input to the activation is raised instead (Lucid's "redirected ReLU" does the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

STEPS = 128
LR = 0.05
NOISE = 0.02  # std of the starting noise around grey, in pixels / 255
L2 = 1e-3
BLUR_EVERY = 4
BLUR_SIGMA = 0.5  # px


def maximize_channels(body: torch.nn.Module, head: torch.nn.Module, channels: list[int], *, input_shape: tuple,
                      to_input: Callable[[torch.Tensor], torch.Tensor], steps: int = STEPS,
                      seed: int = 0, device="cpu") -> torch.Tensor:
    """One input per channel, maximising the mean of channel `channels[k]` of head(body(x)): `body` is
    the network up to the layer of interest and its norms, `head` the activations after them (may be
    empty). `to_input` turns pixels 0..255 into what the model reads.
    Returns (K, *input_shape) float32 pixels in [0, 1] on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    count = len(channels)
    pixels = (0.5 + NOISE * torch.randn((count, *input_shape), generator=gen)).to(device).requires_grad_(True)
    pick = (torch.arange(count, device=device), torch.as_tensor(channels, device=device))
    spatial = tuple(range(2, 2 + len(input_shape) - 1))
    jitter = [max(1, round(s / 16)) for s in input_shape[1:]]  # a few pixels, more on larger inputs
    optimizer = torch.optim.Adam([pixels], lr=LR)
    for step in range(steps):
        shifts = [int(torch.randint(-j, j + 1, (), generator=gen)) for j in jitter]
        before = body(to_input(torch.roll(pixels, shifts=shifts, dims=spatial) * 255))  # (K, channels, *s')
        after = head(before)
        activation = after[pick].reshape(count, -1)  # (K, positions) of each image's own channel
        silent = (activation.amax(dim=1) <= 0).float()  # (K,): nothing to climb yet
        objective = activation.mean(dim=1) + silent * before[pick].reshape(count, -1).mean(dim=1)
        decay = (pixels - 0.5).pow(2).reshape(count, -1).sum(dim=1)
        loss = (L2 * decay - objective).sum()  # each image only affects its own channel's term
        # the gradient of the pixels alone: the weights stay as they are, and so do their .grad
        (pixels.grad,) = torch.autograd.grad(loss, [pixels])
        optimizer.step()
        with torch.no_grad():
            if (step + 1) % BLUR_EVERY == 0 and step + 1 < steps:
                pixels.copy_(_blur(pixels, BLUR_SIGMA))
            pixels.clamp_(0.0, 1.0)
    return pixels.detach().float().cpu()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of (K, C, *spatial) along each spatial dimension, edges replicated."""
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-taps.pow(2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    count, channels, *spatial = x.shape
    for dim in range(len(spatial)):
        # move this dimension last, blur it as a 1D signal per row, move it back
        moved = x.movedim(2 + dim, -1)
        rows = moved.reshape(-1, 1, moved.shape[-1])
        rows = F.conv1d(F.pad(rows, (radius, radius), mode="replicate"), kernel.view(1, 1, -1))
        x = rows.reshape(moved.shape).movedim(-1, 2 + dim)
    return x


# Layers that act on each channel alone: a filter is looked at together with the ones that follow it,
# as the network uses it. The mean of a bare conv's output is linear in the input, so a first layer
# alone would be maximised by a flat white or black image.
_NORMS = {"batchnorm1d", "batchnorm2d", "batchnorm3d", "instancenorm1d", "instancenorm2d", "instancenorm3d",
          "groupnorm"}
_ACTIVATIONS = {"celu", "elu", "gelu", "hardsigmoid", "hardswish", "hardtanh", "leakyrelu", "mish", "prelu",
                "relu", "relu6", "selu", "sigmoid", "silu", "softplus", "tanh", "dropout", "dropout1d",
                "dropout2d", "dropout3d", "alphadropout", "identity"}


def split_channelwise(layers: list, info) -> tuple[list, list]:
    """(body, head): `info` with the norms right after it, then the activations (and dropout) after those."""
    start = layers.index(info)
    end = start + 1
    while end < len(layers) and layers[end].type in _NORMS:
        end += 1
    split = end
    while end < len(layers) and layers[end].type in _ACTIVATIONS:
        end += 1
    return layers[start:split], layers[split:end]
