"""Imbalanced classes: train.class_weights and data.sampler: balanced, as pure functions, as config
mistakes, and on a generated 20:1 image folder where each must raise the minority class's recall."""

from __future__ import annotations

import textwrap
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from cnntrain.errors import ConfigError
from cnntrain.run.balance import balanced_order, build_class_weights
from cnntrain.run.distributed import World
from cnntrain.run.engine import _generator, epoch_shard

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = torch.tensor([0] * 20 + [1] * 4 + [2] * 1)  # 25 images, 20:4:1
CLASSES = ["common", "rare", "rarest"]


# --- class weights ------------------------------------------------------------------------------------


def test_balanced_weights_are_scikit_learns_inverse_frequency():
    weights = build_class_weights("balanced", LABELS, CLASSES, where="c.yaml")
    assert weights.tolist() == pytest.approx([25 / (3 * 20), 25 / (3 * 4), 25 / (3 * 1)])
    # what the definition is for: every class carries the same total weight, n / k
    assert (torch.bincount(LABELS) * weights).tolist() == pytest.approx([25 / 3] * 3)


def test_a_class_without_training_images_gets_a_finite_weight():
    weights = build_class_weights("balanced", torch.tensor([0, 0, 1]), CLASSES, where="c.yaml")
    assert torch.isfinite(weights).all() and weights[0] == pytest.approx(3 / (3 * 2))


def test_weights_as_a_list_or_by_class_name():
    assert build_class_weights([1, 2.5, 4], LABELS, CLASSES, where="c.yaml").tolist() == [1.0, 2.5, 4.0]
    assert build_class_weights({"rarest": 8}, LABELS, CLASSES, where="c.yaml").tolist() == [1.0, 1.0, 8.0]
    # YAML reads a class folder named 1 as the int 1
    assert build_class_weights({1: 3}, LABELS, ["0", "1", "2"], where="c.yaml").tolist() == [1.0, 3.0, 1.0]
    assert build_class_weights(None, LABELS, CLASSES, where="c.yaml") is None


def test_an_unknown_class_name_says_which_and_suggests_one():
    with pytest.raises(ConfigError, match=r"c.yaml:7: train.class_weights names the class `rarer`, which the data "
                                          r"does not have; did you mean `rare`\?"):
        build_class_weights({"rarer": 2}, LABELS, CLASSES, where="c.yaml:7")


def test_a_list_needs_one_weight_per_class():
    with pytest.raises(ConfigError, match="lists 2 weights but the data has 3 classes"):
        build_class_weights([1, 2], LABELS, CLASSES, where="c.yaml")


@pytest.mark.parametrize("value,message", [
    ("balnced", "did you mean `balanced`"),
    ("[1, -2]", "every weight must be a positive number, got -2"),
    ("{circle: zero}", "every weight must be a positive number, got 'zero'"),
    ("3", "expected str or list or dict or null"),
])
def test_malformed_class_weights_are_config_errors(value, message, load, tiny_yaml):
    with pytest.raises(ConfigError, match=message):
        load(tiny_yaml, f"train.class_weights={value}")


def test_the_cli_names_an_unknown_class_in_one_line(cli, tiny_config):
    code, _, err = cli("train", "--config", tiny_config, "--set", "train.class_weights={circel: 2}", "--quiet")
    assert code == 2 and "Traceback" not in err
    assert "names the class `circel`" in err and "did you mean `circle`?" in err and len(err.strip().splitlines()) == 1


# --- the balanced order --------------------------------------------------------------------------------


def test_a_balanced_epoch_draws_each_class_equally_often():
    order = balanced_order(LABELS, _generator(0, 1, 0))
    assert len(order) == 25
    per_class = Counter(LABELS[order].tolist())
    assert sorted(per_class.values()) == [8, 8, 9]  # 25 = 3 * 8 + 1: the extra one to a class at random
    # the single rarest image comes 8 or 9 times; the 4 rare ones each 2 or 3 times, in whole passes
    per_image = Counter(order.tolist())
    assert {per_image[i] for i in range(20, 24)} <= {2, 3} and per_image[24] in (8, 9)
    assert len([i for i in range(20) if per_image[i]]) == per_class[0]  # the majority: no repeats


def test_the_balanced_order_depends_only_on_seed_and_epoch():
    torch.manual_seed(7)  # the global RNG plays no part
    one = epoch_shard(25, 3, 2, World(), LABELS)
    assert torch.equal(one, epoch_shard(25, 3, 2, World(), LABELS))
    assert not torch.equal(one, epoch_shard(25, 3, 3, World(), LABELS))


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_share_out_one_balanced_epoch(world_size):
    whole = epoch_shard(25, 0, 1, World(), LABELS)
    shards = [epoch_shard(25, 0, 1, World(rank, world_size), LABELS) for rank in range(world_size)]
    assert sorted(torch.cat(shards).tolist()) == sorted(whole.tolist())
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


# --- a 20:1 image folder -------------------------------------------------------------------------------


def write_images(folder, count: int, brightness: float, rng) -> None:
    """Grey 16x16 PNGs: a brightness per image (spread 15) under pixel noise (spread 30)."""
    folder.mkdir(parents=True)
    for i in range(count):
        level = rng.normal(brightness, 15)
        pixels = np.clip(level + rng.normal(0, 30, (16, 16)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def imbalanced_config(tmp_path_factory):
    """400 `common` images and 20 `rare` ones, two brightness spreads apart: the minority is separable
    but rare enough that a plain model learns to call everything common. val and test are balanced."""
    root = tmp_path_factory.mktemp("imbalanced")
    rng = np.random.default_rng(0)
    for split, (common, rare) in {"train": (400, 20), "val": (40, 40), "test": (50, 50)}.items():
        write_images(root / "data" / split / "common", common, 100, rng)
        write_images(root / "data" / split / "rare", rare, 130, rng)
    config = root / "imbalanced.yaml"
    config.write_text(textwrap.dedent(f"""
        name: imbalanced
        data: {{dataset: imagefolder, root: {root / 'data'}, channels: 1, image_size: 16}}
        model:
          layers:
            - conv2d: {{out_channels: 4, kernel_size: 3, padding: 1}}
            - relu
            - adaptiveavgpool2d: 1
            - flatten
            - linear: num_classes
        train: {{epochs: 5, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0}}
    """))
    return config


def test_both_balanced_options_raise_the_minority_recall(imbalanced_config, tmp_path):
    from cnntrain.run.train import train
    from cnntrain.tasks.evaluate import evaluate

    def rare_recall(*sets: str) -> float:
        run = train(imbalanced_config, overrides=list(sets), out=tmp_path / "-".join(sets or ["plain"])).run_dir
        return evaluate(run / "checkpoints" / "last.pt").as_dict()["per_class"]["rare"]["recall"]

    plain = rare_recall()
    weighted = rare_recall("train.class_weights=balanced")
    sampled = rare_recall("data.sampler=balanced")
    print(f"rare-class test recall: plain {plain:.2f}, class_weights {weighted:.2f}, sampler {sampled:.2f}")
    assert plain < 0.5, "the plain model should under-recall the minority, or this set tests nothing"
    assert weighted > plain + 0.3 and sampled > plain + 0.3
