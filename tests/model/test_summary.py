"""summary.py: the `summary --json` object, multiply-adds and the receptive field."""

from __future__ import annotations

import json

import pytest

from cnntrain.config.loader import load_config
from cnntrain.model.summary import summarize, summary_dict
from conftest import ROOT

SMALL = """
data: {channels: 1, image_size: 28, num_classes: 10}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 32, kernel_size: 3}
    - conv2d: {name: conv2, out_channels: 8, kernel_size: 3, groups: 2, bias: false}
    - maxpool2d: 2
    - flatten
    - linear: {name: fc, out_features: num_classes}
"""


def test_json_keys_and_layer_entries(summary_of):
    summary = summary_of(SMALL)
    assert {"input_shape", "output_shape", "total_params", "trainable_params", "macs", "layers"} <= summary.keys()
    json.dumps(summary)  # plain JSON types throughout
    assert summary["input_shape"] == [1, 28, 28]
    assert summary["output_shape"] == [10]
    layers = summary["layers"]
    assert [layer["index"] for layer in layers] == [0, 1, 2, 3, 4]
    assert [layer["name"] for layer in layers] == ["conv1", "conv2", "maxpool2d_1", "flatten_1", "fc"]
    assert [layer["type"] for layer in layers] == ["conv2d", "conv2d", "maxpool2d", "flatten", "linear"]
    assert [layer["output_shape"] for layer in layers] == [[32, 26, 26], [8, 24, 24], [8, 12, 12], [1152], [10]]
    for layer in layers:
        assert {"index", "name", "type", "output_shape", "params", "macs", "receptive_field"} <= layer.keys()


def test_params_and_macs(summary_of):
    layers = summary_of(SMALL)["layers"]
    assert [layer["params"] for layer in layers] == [32 * 9 + 32, 8 * 16 * 9, 0, 0, 1152 * 10 + 10]
    # conv: output elements * (in_channels / groups) * prod(kernel); linear: in * out
    assert layers[0]["macs"] == 32 * 26 * 26 * 1 * 9
    assert layers[1]["macs"] == 8 * 24 * 24 * (32 // 2) * 9
    assert layers[4]["macs"] == 1152 * 10
    assert [layer["macs"] for layer in layers[2:4]] == [0, 0]
    summary = summary_of(SMALL)
    assert summary["macs"] == sum(layer["macs"] for layer in layers)
    assert summary["total_params"] == sum(layer["params"] for layer in layers)


def test_frozen_filters_count_as_untrainable(summary_of):
    summary = summary_of("data: {channels: 1, image_size: 8}\nmodel:\n  layers:\n"
                         "    - conv2d: {weights: [sobel_x, sobel_y], trainable: false}\n"
                         "    - conv2d: {out_channels: 3, kernel_size: 3}\n")
    assert summary["total_params"] == 2 * 9 + 2 + 3 * 2 * 9 + 3
    assert summary["trainable_params"] == 3 * 2 * 9 + 3
    assert summary["layers"][0]["trainable_params"] == 0


def test_receptive_field_of_two_convs_and_a_pool(summary_of):
    summary = summary_of("data: {channels: 1, image_size: 16}\nmodel:\n  layers:\n"
                         "    - conv2d: {out_channels: 2, kernel_size: 3}\n"
                         "    - relu\n"
                         "    - conv2d: {out_channels: 2, kernel_size: 3}\n"
                         "    - maxpool2d: 2\n"
                         "    - conv2d: {out_channels: 2, kernel_size: 3, dilation: 2}\n"
                         "    - flatten\n")
    rf = [(layer["receptive_field"], layer["jump"]) for layer in summary["layers"]]
    # r += (k_eff - 1) * j, j *= s: 3 -> 3 -> 5 -> 6 (j 2) -> 6 + (5 - 1) * 2 = 14
    assert rf == [(3, 1), (3, 1), (5, 1), (6, 2), (14, 2), (None, None)]


def test_receptive_field_per_dimension(summary_of):
    layer = summary_of("data: {channels: 1, image_size: [12, 20]}\nmodel:\n  layers:\n"
                       "    - conv2d: {out_channels: 2, kernel_size: [3, 5], stride: [1, 2]}\n"
                       "    - maxpool2d: {kernel_size: 2}\n")["layers"][-1]
    assert layer["receptive_field"] == [4, 7]  # [3 + 1*1, 5 + 1*2]
    assert layer["jump"] == [2, 4]


def test_resnet18_receptive_field(summary_of):
    """conv 7/2 -> 7 (j 2); maxpool 3/2 -> 11 (j 4); layer1: four 3x3 -> 11 + 8*4 = 43;
    layer2: 3x3/2 then three 3x3 at j 8 -> 43 + 2*4 + 6*8 = 99; layer3 -> 99 + 2*8 + 6*16 = 211;
    layer4 -> 211 + 2*16 + 6*32 = 435 (j 32)."""
    summary = summary_dict(summarize(load_config(ROOT / "configs" / "resnet18.yaml")))
    by_name = {layer["name"]: layer for layer in summary["layers"]}
    assert [by_name[n]["receptive_field"] for n in ("conv1", "maxpool2d_1", "layer1", "layer2", "layer3", "layer4")] \
        == [7, 11, 43, 99, 211, 435]
    assert by_name["layer4"]["jump"] == 32
    assert by_name["fc"]["receptive_field"] is None


def test_resnet18_macs_match_the_usual_figure(summary_of):
    summary = summary_dict(summarize(load_config(ROOT / "configs" / "resnet18.yaml")))
    assert summary["macs"] == pytest.approx(1.814e9, rel=0.01)  # torchvision quotes 1.81 GFLOPS (MACs)


def test_summary_does_not_allocate_weights(summary_of):
    """VGG-16's 138M parameters on the meta device: the summary is free."""
    summary = summary_dict(summarize(load_config(ROOT / "configs" / "vgg16.yaml")))
    assert summary["total_params"] == 138_357_544


def test_built_in_datasets_size_num_classes(summary_of):
    """The synthetic datasets have fixed classes, so `linear: num_classes` needs no data.num_classes."""
    pytest.importorskip("cnntrain.data.shapes")
    from cnntrain.data import shapes, signals, volumes

    text = "data: {dataset: DATASET, image_size: SIZE}\nmodel: {layers: [flatten, {linear: num_classes}]}\n"
    for dataset, size, module in (("shapes", "8", shapes), ("signals", "[16]", signals),
                                  ("volumes", "[4, 4, 4]", volumes)):
        summary = summary_of(text.replace("DATASET", dataset).replace("SIZE", size))
        assert summary["output_shape"] == [len(module.CLASSES)]
    three = summary_of(text.replace("DATASET", "shapes").replace("SIZE", "8"), "data.num_classes=3")
    assert three["output_shape"] == [3]


def test_unknown_num_classes_for_image_folders(load):
    from cnntrain.errors import ConfigError

    config = load("data: {dataset: imagefolder, image_size: 8}\nmodel: {layers: [flatten, {linear: num_classes}]}\n")
    with pytest.raises(ConfigError, match="set data.num_classes"):
        summarize(config)
    assert summarize(config, num_classes=5).output_shape == (5,)
