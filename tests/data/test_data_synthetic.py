"""shapes, volumes, signals: determinism, sizes, balance, dtypes, distinct classes."""

from dataclasses import asdict

import pytest
import torch

from cnntrain.config import DataSettings
from cnntrain.data import DATASETS, load_data
from cnntrain.data.augment import border_median
from cnntrain.errors import DataError


def config(**overrides) -> DataSettings:
    """The config's data section as load_data receives it: every default, then these values."""
    return DataSettings(**{"image_size": 16, "train_size": 60, "val_size": 24, "test_size": 12, **overrides})


CASES = [
    ("shapes", 16, (16, 16)),
    ("shapes", [12, 20], (12, 20)),
    ("volumes", [8, 10, 12], (8, 10, 12)),
    ("volumes", 8, (8, 8, 8)),
    ("signals", [64], (64,)),
    ("signals", 32, (32,)),
]


def test_config_choices_are_the_registry():
    """data.dataset's choices are what registered: the schema's enum is the registry, and the key table
    (config never imports the data package) keeps no list of its own."""
    from cnntrain.config.keys import KEYS
    from cnntrain.model.schema import config_schema

    assert config_schema()["properties"]["data"]["properties"]["dataset"]["enum"] == sorted(DATASETS)
    assert KEYS["data"]["dataset"].choices == ()
    built_in = {"shapes", "volumes", "signals", "imagefolder", "arrays", "mnist", "fashion_mnist", "cifar10"}
    assert built_in <= set(DATASETS)


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(DataError, match="unknown data.dataset 'nope'.*cifar10.*shapes"):
        load_data(config(dataset="nope"), 0)
    with pytest.raises(DataError, match=r"^c.yaml:2: unknown data.dataset 'shapez'; did you mean `shapes`\?"):
        load_data(config(dataset="shapez"), 0, "c.yaml:2")


@pytest.mark.parametrize("name,size,spatial", CASES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_dtypes_and_split_sizes(name, size, spatial, channels):
    s = load_data(config(dataset=name, image_size=size, channels=channels), seed=3)
    for split, n in ((s.train, 60), (s.val, 24), (s.test, 12)):
        assert split.x.shape == (n, channels, *spatial)
        assert split.x.dtype == torch.uint8 and split.y.dtype == torch.int64
        assert split.paths is None
    assert s.input_shape == (channels, *spatial) and s.num_classes == 6 == len(
        s.classes
    )
    assert s.warnings == [] and len(s.fingerprint) == 16


@pytest.mark.parametrize("name,size,spatial", CASES[::2])
def test_same_seed_same_bytes_other_seed_other_bytes(name, size, spatial):
    a = load_data(config(dataset=name, image_size=size), seed=1)
    b = load_data(config(dataset=name, image_size=size), seed=1)
    c = load_data(config(dataset=name, image_size=size), seed=2)
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(a, part).x, getattr(b, part).x)
        assert torch.equal(getattr(a, part).y, getattr(b, part).y)
        assert not torch.equal(getattr(a, part).x, getattr(c, part).x)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    # splits come from different streams
    assert not torch.equal(a.train.x[:12], a.test.x)


def test_generation_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load_data(config(), seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", ["shapes", "volumes", "signals"])
def test_classes_are_balanced(name):
    size = {"shapes": 16, "volumes": 8, "signals": 32}[name]
    s = load_data(
        config(dataset=name, image_size=size, train_size=61, val_size=12, test_size=0),
        seed=0,
    )
    counts = torch.bincount(s.train.y, minlength=6)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 61
    assert torch.equal(torch.bincount(s.val.y, minlength=6), torch.full((6,), 2))
    assert s.test.x.shape == (0, 1, *s.input_shape[1:])


def test_num_classes_takes_the_first_k():
    s = load_data(config(num_classes=3), seed=0)
    assert s.classes == ["circle", "square", "triangle"]
    assert set(s.train.y.tolist()) == {0, 1, 2}


@pytest.mark.parametrize("k", [1, 7])
def test_num_classes_out_of_range(k):
    with pytest.raises(DataError, match="num_classes must be between 2 and 6"):
        load_data(config(num_classes=k), seed=0)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(image_size=[16, 16, 16]), r"\[H, W\]"),
        (dict(image_size=4), ">= 8"),
        (dict(image_size=None), "must be set"),
        (dict(dataset="signals", image_size=[8, 8]), r"\[L\]"),
        (dict(dataset="volumes", image_size=[8, 8]), r"\[D, H, W\]"),
        (dict(train_size=0), "train_size"),
        (dict(channels=0), "channels"),
    ],
)
def test_bad_options_are_data_errors(overrides, message):
    with pytest.raises(DataError, match=message):
        load_data(config(**overrides), seed=0)


def test_other_channel_counts_work_for_synthetic_data():
    s = load_data(config(dataset="volumes", image_size=8, channels=2), seed=0)
    assert s.train.x.shape[1] == 2


def test_shapes_stay_inside_and_backgrounds_are_plain():
    """The border is background: only noise around the median, never part of a shape."""
    s = load_data(config(image_size=32, train_size=120), seed=0)
    x = s.train.x.float()
    bg = border_median(x)[:, 0]  # (N,)
    # the four edges, (N, 4 * 32)
    edge = torch.cat([x[:, 0, 0], x[:, 0, -1], x[:, 0, :, 0], x[:, 0, :, -1]], 1)
    assert ((edge - bg[:, None]).abs() > 0.3 * 255).float().mean() < 0.01


def _foreground(x):
    """Boolean masks of the objects: smoothed image clearly above the background."""
    x = x.float()
    bg = border_median(x)[:, 0, None, None]
    smooth = torch.nn.functional.avg_pool2d(
        x, 3, stride=1, padding=1, count_include_pad=False
    )[:, 0]
    return smooth > bg + 0.17 * 255  # half of the smallest contrast (0.35)


def test_shape_classes_are_visually_distinct():
    """Translation-, rotation- and scale-free statistics of the masks separate every
    class."""
    s = load_data(config(image_size=48, train_size=600), seed=0)
    mask = _foreground(s.train.x).float()  # (N, H, W)
    h, w = mask.shape[1:]
    yy, xx = torch.meshgrid(
        torch.arange(h).float(), torch.arange(w).float(), indexing="ij"
    )
    area = mask.sum((1, 2))
    cy, cx = (mask * yy).sum((1, 2)) / area, (mask * xx).sum((1, 2)) / area
    d2 = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2
    spread = (mask * d2).sum(
        (1, 2)
    ) / area**2  # 1/(2 pi) for a disc, more for rings and stars
    reach = (mask * d2).amax(
        (1, 2)
    ) / area  # extent relative to area: large for stars, crosses
    feats = torch.stack([spread.log(), reach.log()], 1)
    means = torch.stack([feats[s.train.y == k].mean(0) for k in range(6)])
    # The class means are far apart relative to the within-class spread ...
    within = torch.stack([feats[s.train.y == k].std(0) for k in range(6)]).mean(0)
    gaps = torch.cdist(means / within, means / within)
    # closest pair: triangle-star, ~1.2
    assert gaps[~torch.eye(6, dtype=torch.bool)].min() > 0.75
    # ... and the mean image of each class differs from every other one.
    per_class = torch.stack(
        [s.train.x[s.train.y == k].float().mean(0) for k in range(6)]
    )
    diffs = (per_class[:, None] - per_class[None]).abs().mean((2, 3, 4))
    assert diffs[~torch.eye(6, dtype=torch.bool)].min() > 0.5


def test_shapes_move_around():
    """Objects are placed at random, not centred: mask centroids spread widely."""
    s = load_data(config(image_size=32, train_size=120), seed=0)
    mask = _foreground(s.train.x).float()
    xx = torch.arange(32).float()
    cx = (mask.sum(1) * xx).sum(1) / mask.sum((1, 2))
    assert cx.std() > 2.5 and cx.min() < 12 and cx.max() > 19


def test_centred_shapes_sit_in_the_middle_and_differ_only_in_place():
    random = load_data(config(image_size=32, train_size=120), seed=0)
    centred = load_data(config(image_size=32, train_size=120, placement="centered"), seed=0)
    mask = _foreground(centred.train.x).float()
    yy, xx = torch.meshgrid(torch.arange(32).float(), torch.arange(32).float(), indexing="ij")
    area = mask.sum((1, 2))
    cx, cy = (mask * xx).sum((1, 2)) / area, (mask * yy).sum((1, 2)) / area
    assert (cx - 15.5).abs().max() < 1.5 and (cy - 15.5).abs().max() < 1.5  # triangles sit a little off
    assert torch.equal(centred.train.y, random.train.y)  # same labels, sizes, rotations, colours
    assert (area - _foreground(random.train.x).float().sum((1, 2))).abs().median() < 3
    assert centred.fingerprint != random.fingerprint


def test_centred_volumes_sit_in_the_middle():
    s = load_data(config(dataset="volumes", image_size=12, placement="centered"), seed=0)
    x = s.train.x.float()[:, 0]  # (N, D, H, W)
    bright = x > x.flatten(1).median(1).values[:, None, None, None] + 0.17 * 255
    for axis in (1, 2, 3):
        profile = bright.float().sum(tuple(a for a in (1, 2, 3) if a != axis))  # (N, side)
        centre = (profile * torch.arange(12).float()).sum(1) / profile.sum(1)
        assert (centre - 5.5).abs().max() < 1.5


def test_placement_random_is_the_default_and_bad_values_are_refused():
    without = DataSettings(**{k: v for k, v in asdict(config()).items() if k != "placement"})  # before the key
    assert load_data(config(placement="random"), seed=0).fingerprint == load_data(without, seed=0).fingerprint
    with pytest.raises(DataError, match="data.placement"):
        load_data(config(placement="middle"), seed=0)


def test_rgb_shapes_have_colour():
    s = load_data(config(channels=3, train_size=30), seed=0)
    per_channel = s.train.x.float().mean((2, 3))  # (N, 3)
    assert (per_channel.std(1) > 10).float().mean() > 0.5
