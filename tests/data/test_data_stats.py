"""channel_stats against a direct float64 computation."""

import pytest
import torch

from cnntrain.data import channel_stats
from cnntrain.data import stats as stats_module
from cnntrain.errors import DataError


@pytest.mark.parametrize("shape", [(37, 3, 9, 11), (20, 1, 33), (5, 2, 4, 5, 6)])
def test_matches_direct_computation(shape, monkeypatch):
    monkeypatch.setattr(stats_module, "CHUNK_VALUES", 1000)  # force many chunks
    x = torch.randint(
        0, 256, shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    dims = [0, *range(2, x.dim())]
    direct = x.double() / 255
    mean, std = channel_stats(x)
    assert mean == pytest.approx(direct.mean(dims).tolist(), abs=1e-12)
    assert std == pytest.approx(direct.std(dims, unbiased=False).tolist(), abs=1e-12)
    fmean, fstd = channel_stats(x.float() / 255)  # floats are taken as [0, 1]
    assert fmean == pytest.approx(mean, abs=1e-6) and fstd == pytest.approx(
        std, abs=1e-6
    )


def test_constant_channel_and_types():
    x = torch.full((4, 2, 3, 3), 51, dtype=torch.uint8)
    mean, std = channel_stats(x)
    assert mean == pytest.approx([0.2, 0.2]) and std == [0.0, 0.0]
    assert all(isinstance(v, float) for v in mean + std)


def test_empty_set_is_an_error():
    with pytest.raises(DataError, match="empty"):
        channel_stats(torch.zeros(0, 3, 4, 4, dtype=torch.uint8))
