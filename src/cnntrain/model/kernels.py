"""Hand-designed filters: what learned convolution filters replaced.

A conv layer may take `weights: sobel_x`, a list of names (one per output channel), or explicit
numbers. With several input channels a named kernel is spread evenly over them, so on an RGB image
it filters the channel mean, as an edge detector on the grey image would.
"""

from __future__ import annotations

import torch

from cnntrain.errors import ConfigError, did_you_mean

_KERNELS = {
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "prewitt_x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt_y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "gaussian": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "box": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}


def list_kernels() -> list[str]:
    return sorted(_KERNELS)


def kernel_tensor(weights, *, in_channels: int, groups: int, dims: int) -> torch.Tensor:
    """Turn a `weights:` value into a conv weight of shape (out, in/groups, *kernel)."""
    per_group = in_channels // groups
    if isinstance(weights, str):
        weights = [weights]
    if isinstance(weights, list) and weights and all(isinstance(w, str) for w in weights):
        if dims != 2:
            raise ConfigError(f"named kernels ({', '.join(weights)}) are 2D; give explicit numbers for conv{dims}d")
        kernels = torch.stack([torch.tensor(_named(w), dtype=torch.float32, device="cpu") for w in weights])
        return _spread(kernels, per_group)
    try:
        # On the CPU even in a meta-device build: only a real tensor checks that the lists are not ragged.
        tensor = torch.tensor(weights, dtype=torch.float32, device="cpu")
    except (TypeError, ValueError):
        raise ConfigError(
            f"weights must be a kernel name ({', '.join(list_kernels())}), a list of names, or nested "
            "lists of numbers"
        ) from None
    if tensor.dim() == dims:  # one kernel for every output channel
        return _spread(tensor.unsqueeze(0), per_group)
    if tensor.dim() == dims + 1:  # one kernel per output channel
        return _spread(tensor, per_group)
    if tensor.dim() == dims + 2:
        if tensor.shape[1] != per_group:
            raise ConfigError(f"weights give {tensor.shape[1]} input channels per filter, the input has {per_group}")
        return tensor
    raise ConfigError(
        f"explicit weights for conv{dims}d need {dims} to {dims + 2} levels of nesting, got {tensor.dim()}"
    )


def _named(name: str):
    if name not in _KERNELS:

        raise ConfigError(f"unknown kernel `{name}`{did_you_mean(name, list_kernels())}")
    return _KERNELS[name]


def _spread(kernels: torch.Tensor, in_channels: int) -> torch.Tensor:
    """(out, *k) -> (out, in, *k), each input channel weighted 1/in: the filter sees the channel mean."""
    return kernels.unsqueeze(1).repeat(1, in_channels, *([1] * (kernels.dim() - 1))) / in_channels

