"""keys.py: the fine-tuning keys (model.init, train.freeze, data.mean/std) are checked like every key."""

from __future__ import annotations

import pytest

from cnntrain.config.loader import config_from_dict
from cnntrain.errors import ConfigError

LAYERS = {"layers": ["flatten", {"linear": 2}]}


def test_defaults_change_nothing():
    config = config_from_dict({"model": LAYERS})
    assert (config.model.init, config.train.freeze, config.data.mean, config.data.std) == \
        (None, [], None, None)


@pytest.mark.parametrize("section, values", [
    ("train", {"freeze": ["conv1", "layer4.0"]}),
    ("train", {"freeze": {"all_but_last": 0}}),
    ("data", {"channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}),
    ("model", {"init": "runs/tiny/1", **LAYERS}),
])
def test_accepted(section, values):
    config_from_dict({"model": LAYERS, section: values})


@pytest.mark.parametrize("section, values, message", [
    ("train", {"freeze": {"all_but_last": -1}}, "train.freeze: as a mapping it is {all_but_last: N} with N >= 0"),
    ("train", {"freeze": {"all_but_first": 1}}, "train.freeze: as a mapping it is {all_but_last: N} with N >= 0"),
    ("train", {"freeze": [1, 2]}, "train.freeze: must list layer names"),
    ("train", {"freeze": "conv1"}, "train.freeze: expected list or dict"),
    ("data", {"mean": [0.5]}, "data.mean: data.mean and data.std go together"),
    ("data", {"channels": 3, "mean": [0.5], "std": [0.2]}, "data.mean: must be a list of 3 numbers"),
    ("data", {"mean": [0.5], "std": [0.0]}, "data.std: must be a list of 1 positive numbers"),
    ("data", {"mean": ["a"], "std": [0.2]}, "data.mean: must be a list of 1 numbers"),
    ("model", {"init": 3, **LAYERS}, "model.init: expected str or null"),
])
def test_refused_with_the_key_named(section, values, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        config_from_dict({"model": LAYERS, section: values})


def test_a_mistake_names_the_line(write_config):
    from cnntrain.config.loader import load_config

    path = write_config("model:\n  layers: [relu]\ntrain:\n  freeze: {all_but_last: -2}\n")
    with pytest.raises(ConfigError, match=r"c.yaml:4: train.freeze: as a mapping"):
        load_config(path)
