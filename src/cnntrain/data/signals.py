"""`signals`: 1D waveforms of length L, with random frequency, phase and noise.

Each class is a waveform family written as a function of the phase p = f*t + phase (in
cycles) over t in [0, 1). The waveform in [0, 1] plays the role the shape mask plays for
images: the shared synthetic code maps it between a background level and a foreground
level and adds noise, so the classes differ in waveform shape, never in a fixed level or
frequency.
"""

from __future__ import annotations

import math

import torch

from cnntrain.config import DataSettings
from cnntrain.data.datasets import register
from cnntrain.data.synthetic import synthetic_splits, uniform

CLASSES = ["sine", "square", "sawtooth", "pulses", "chirp", "damped"]


@register("signals", CLASSES)
def load_signals(data: DataSettings, seed: int):
    return synthetic_splits(
        "signals", data, seed, CLASSES, render_signals, dims=1, minimum=16
    )


def render_signals(
    labels: torch.Tensor, size: tuple[int, ...], gen: torch.Generator
) -> torch.Tensor:
    """labels (B,) -> waveform (B, L) float32 in [0, 1]."""
    (length,) = size
    b = labels.shape[0]
    # About one cycle per 8 samples at most (a chirp ends ~2x faster), so every waveform
    # keeps its shape after sampling.
    fmax = max(2.0, min(8.0, length / 8))
    freq = uniform(b, 1.5, fmax, gen)[:, None]  # (B, 1) cycles over the signal
    phase = torch.rand(b, 1, generator=gen)
    aux = torch.rand(b, 1, generator=gen)  # pulse width, chirp span, decay time
    # Half the samples run backwards: chirps go down, sawtooths fall, decays grow.
    backwards = torch.randint(2, (b, 1), generator=gen).bool()
    t = torch.arange(length, dtype=torch.float32) / length  # (L,)
    wave = torch.empty(b, length)
    for k in labels.unique().tolist():
        idx = (labels == k).nonzero().squeeze(1)
        tk = torch.where(backwards[idx], 1.0 - t, t)  # (b, L)
        wave[idx] = _WAVES[CLASSES[k]](tk, freq[idx], phase[idx], aux[idx], fmax)
    return wave


def sine(t, f, phase, aux, fmax):
    return 0.5 + 0.5 * torch.sin(2 * math.pi * (f * t + phase))


def square(t, f, phase, aux, fmax):
    return (torch.frac(f * t + phase) < 0.5).float()


def sawtooth(t, f, phase, aux, fmax):
    return torch.frac(f * t + phase)


def pulses(t, f, phase, aux, fmax):
    """A train of Gaussian bumps, width 6..12% of a period."""
    d = torch.frac(f * t + phase) - 0.5
    width = 0.06 + 0.06 * aux
    return torch.exp(-0.5 * (d / width) ** 2)


def chirp(t, f, phase, aux, fmax):
    """Frequency sweeping linearly from about 1 cycle per signal up to 1.5..2x fmax."""
    f0 = torch.ones_like(f)
    f1 = fmax * (1.5 + 0.5 * aux)
    return 0.5 + 0.5 * torch.sin(
        2 * math.pi * (f0 * t + 0.5 * (f1 - f0) * t * t + phase)
    )


def damped(t, f, phase, aux, fmax):
    """A sine that decays with time constant 0.2..0.4 of the signal."""
    tau = 0.2 + 0.2 * aux
    return 0.5 + 0.5 * torch.sin(2 * math.pi * (f * t + phase)) * torch.exp(-t / tau)


_WAVES = {
    "sine": sine,
    "square": square,
    "sawtooth": sawtooth,
    "pulses": pulses,
    "chirp": chirp,
    "damped": damped,
}
assert list(_WAVES) == CLASSES
