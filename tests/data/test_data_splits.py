"""stratified_split and translate, checked on many random inputs with hypothesis."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnntrain.data.augment import translate
from cnntrain.data.splits import stratified_split


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    val=st.floats(0, 0.9),
    test=st.floats(0, 0.9),
    seed=st.integers(0, 2**31),
)
def test_stratified_split_partitions_every_class(counts, val, test, seed):
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)])
    labels = labels[
        torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    ]
    gen = torch.Generator().manual_seed(seed)
    train, val_idx, test_idx = stratified_split(labels, val, test, gen)
    every = torch.cat([train, val_idx, test_idx])
    assert torch.equal(every.sort().values, torch.arange(len(labels)))
    for part in (train, val_idx, test_idx):
        assert torch.equal(part, part.sort().values)
    for k, n in enumerate(counts):
        n_train = int((labels[train] == k).sum())
        n_val, n_test = (
            int((labels[val_idx] == k).sum()),
            int((labels[test_idx] == k).sum()),
        )
        assert n_train >= 1  # a class never disappears from training
        assert abs(n_test - n * test) <= 0.5 + 1e-9 or n_train == 1
        assert n_val <= round(n * val) + 1


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    data=st.data(),
)
def test_translate_matches_a_direct_loop(shape, data):
    b, nd = 2, len(shape)
    x = torch.arange(b * 2 * torch.Size(shape).numel()).float().view(b, 2, *shape)
    limit = max(shape) + 1
    offsets = torch.tensor(
        data.draw(
            st.lists(
                st.lists(st.integers(-limit, limit), min_size=nd, max_size=nd),
                min_size=b,
                max_size=b,
            )
        )
    )
    fill = torch.full((b, 2), -1.0)
    out = translate(x, offsets, fill=fill)
    for i in range(b):
        for index in torch.cartesian_prod(*[torch.arange(n) for n in shape]).view(
            -1, nd
        ):
            src = index - offsets[i]
            inside = bool(((src >= 0) & (src < torch.tensor(shape))).all())
            want = x[(i, slice(None), *src.tolist())] if inside else fill[i]
            assert torch.equal(out[(i, slice(None), *index.tolist())], want)
