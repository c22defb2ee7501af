"""schema.py: `cnntrain schema` is valid JSON Schema, accepts every shipped config and catches mistakes
an editor should underline."""

from __future__ import annotations

import json

import pytest
import yaml

from cnntrain.model.registry import list_layers
from cnntrain.model.schema import config_schema
from conftest import CONFIGS

jsonschema = pytest.importorskip("jsonschema")  # a test helper, not a dependency of cnntrain


@pytest.fixture(scope="module")
def validator():
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, config) -> list:
    return [error.message for error in validator.iter_errors(config)]


def test_schema_is_json_and_covers_the_registry():
    schema = json.loads(json.dumps(config_schema()))
    assert schema["$schema"].startswith("https://json-schema.org/")
    for name in list_layers():
        assert f"layer_{name}" in schema["$defs"]
    assert set(schema["properties"]) == {"name", "data", "model", "train"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_validates(validator, path):
    assert errors(validator, yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("layer", [
    "relu",
    {"linear": 128},
    {"linear": "num_classes"},
    {"maxpool2d": 2},
    {"conv2d": {"out_channels": 3, "kernel_size": 3, "padding": "same", "name": "c"}},
    {"conv2d": {"weights": ["sobel_x", "sobel_y"], "trainable": False}},
    {"adaptiveavgpool2d": [None, 7]},
    {"residual": {"body": ["relu"], "shortcut": "auto"}},
    {"my_block": {"channels": 3}},
])
def test_valid_layers(validator, layer):
    assert errors(validator, {"model": {"layers": [layer]}}) == []


@pytest.mark.parametrize("config", [
    {"model": {"layers": [{"conv2d": {"out_channel": 3}}]}},  # unknown argument
    {"model": {"layers": [{"linear": {"out_features": 3, "in_features": 4}}]}},  # inferred argument
    {"model": {"layers": [{"conv2d": {"out_channels": 3, "kernel_size": "abc"}}]}},
    {"model": {"layers": [{"conv2d": {"out_channels": 3, "kernel_size": 3, "bias": "no"}}]}},
    {"model": {"layers": []}},
    {"model": {"layers": ["relu"]}, "train": {"epochs": "ten"}},
    {"model": {"layers": ["relu"]}, "train": {"epoch": 3}},
    {"model": {"layers": ["relu"]}, "train": {"optimizer": "adamm"}},
    {"model": {"layers": ["relu"]}, "modle": {}},
    {"model": {"layers": ["notalayer"]}},
])
def test_mistakes_are_rejected(validator, config):
    assert errors(validator, config)


def test_the_fine_tuning_keys_are_in_the_schema(validator):
    properties = config_schema()["properties"]
    assert {"init"} <= properties["model"]["properties"].keys()
    assert {"freeze"} <= properties["train"]["properties"].keys()
    assert {"mean", "std"} <= properties["data"]["properties"].keys()
    good = {"model": {"init": "torchvision:resnet18.IMAGENET1K_V1", "layers": ["relu"]},
            "train": {"freeze": {"all_but_last": 1}}, "data": {"mean": [0.5], "std": [0.25]}}
    assert errors(validator, good) == []
    assert errors(validator, {**good, "train": {"freeze": ["conv1", "layer1"]}}) == []
    assert errors(validator, {**good, "model": {"init": 3, "layers": ["relu"]}})
    assert errors(validator, {**good, "train": {"freeze": "conv1"}})


@pytest.mark.parametrize("layer, valid", [
    ({"conv2d": {"out_channels": 8, "kernel_size": 3, "groups": "in_channels"}}, True),
    ({"conv2d": {"out_channels": 8, "kernel_size": 3, "groups": "out_channels"}}, False),
    ({"residual": {"body": ["relu"], "activation": None}}, True),
    ({"residual": {"body": ["relu"], "activation": {"leakyrelu": 0.1}}}, True),
    ({"batchnorm2d": {"momentum": None}}, True),
    ({"dropout": {"p": None}}, False),
])
def test_depthwise_groups_and_nullable_arguments(validator, layer, valid):
    assert (errors(validator, {"model": {"layers": [layer]}}) == []) == valid
