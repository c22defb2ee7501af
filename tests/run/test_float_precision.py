"""Why arrays stay float: classes that differ by less than 1/256 of the data's range. Quantised to 256
levels (what an 8-bit image path does), the two classes become the same array; kept as float32 and
standardised in their own units, a small CNN tells them apart."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")


def signals(n: int = 400, length: int = 64):
    """Sine against square wave, 0.2..1.8 V, beside a 1000 V calibration spike that sets the range."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    phase = 2 * np.pi * (rng.uniform(2, 5, (n, 1)) * np.arange(length) / length + rng.uniform(0, 1, (n, 1)))
    x = 1 + 0.8 * np.where(y[:, None] == 0, np.sin(phase), np.sign(np.sin(phase)))
    x[:, 0] = 1000.0
    return x.astype(np.float32), np.array(["sine", "square"])[y]


def volumes(n: int = 300, side: int = 8):
    """Soft tissue at 40 HU with +1.5 HU stripes across depth or across width, and one voxel of bone
    (3000 HU) that sets the range."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, n)
    stripes = ((np.arange(side) + rng.integers(0, 2, (n, 1))) % 2) * 1.5  # (n, side)
    x = np.full((n, side, side, side), 40.0)
    x += np.where(y[:, None, None, None] == 0, stripes[:, :, None, None], stripes[:, None, None, :])
    x[:, 0, 0, 0] = 3000.0
    return x.astype(np.float32), np.array(["depth", "width"])[y]


def quantised(x: np.ndarray) -> np.ndarray:
    return np.round((x - x.min()) / (x.max() - x.min()) * 255)


CASES = {  # data, size, dims, channels of the two conv layers, epochs
    "signals in volts": (signals, [64], 1, (32, 64), 10),
    "volumes in Hounsfield units": (volumes, [8, 8, 8], 3, (8, 8), 8),
}


@pytest.mark.parametrize("case", list(CASES))
def test_differences_below_one_level_in_256_train(case, tmp_path):
    from cnntrain.run.train import train

    make, size, dims, widths, epochs = CASES[case]
    lr = 0.003 if dims == 1 else 0.01
    x, y = make()
    spread = np.ptp(x[:, ..., 1:].reshape(len(x), -1), axis=1).max()
    assert spread < np.ptp(x) / 256  # the classes differ below one 8-bit level of the range
    levels = quantised(x).reshape(len(x), -1)
    assert (levels == levels[0]).all()  # 8 bits would make every sample the same array
    np.savez(tmp_path / "d.npz", x=x, y=y)
    config = tmp_path / "c.yaml"
    config.write_text(textwrap.dedent(f"""
        name: precision
        data: {{dataset: arrays, root: "{tmp_path / 'd.npz'}", channels: 1, image_size: {size}}}
        model:
          layers:
            - conv{dims}d: {{out_channels: {widths[0]}, kernel_size: 5, padding: 2}}
            - batchnorm{dims}d
            - relu
            - conv{dims}d: {{out_channels: {widths[1]}, kernel_size: 3, padding: 1}}
            - batchnorm{dims}d
            - relu
            - adaptiveavgpool{dims}d: 1
            - flatten
            - linear: num_classes
        train: {{epochs: {epochs}, batch_size: 16, lr: {lr}, device: cpu, featuremap_every: 0}}
        """))
    result = train(config, out=tmp_path / "run")
    assert result.summary["test"]["acc"] >= 0.95
