"""Output sizes of convolution and pooling: Dumoulin & Visin, "A guide to convolution arithmetic".

Pure integer functions on one spatial dimension, so the builder can name the layer that would shrink
an image to nothing before PyTorch fails somewhere deep in a forward pass. A size of None means
"decided by the data" and stays None.
"""

from __future__ import annotations

import math


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """A dilated kernel spans d*(k-1)+1 input pixels."""
    return dilation * (kernel - 1) + 1


def conv_out(size: int | None, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1):
    """o = floor((i + 2p - d(k-1) - 1) / s) + 1  (relation 15 of the guide)."""
    if size is None:
        return None
    return (size + 2 * padding - effective_kernel(kernel, dilation)) // stride + 1


def pool_out(size, kernel, stride, padding=0, dilation=1, ceil_mode=False):
    """As conv_out; with ceil_mode the last window may hang over the edge but must start inside it."""
    if size is None:
        return None
    span = size + 2 * padding - effective_kernel(kernel, dilation)
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def adaptive_window(size: int | None, out: int) -> tuple[int | None, int | None]:
    """Largest window and smallest step an adaptive pool uses, for the receptive field."""
    if size is None:
        return None, None
    return math.ceil(size / out), max(size // out, 1)
