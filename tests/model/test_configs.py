"""Every shipped config loads, summarises, and predicts the shapes a real forward pass produces; the
classic networks are parameter-for-parameter the published ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnntrain.config.loader import load_config
from cnntrain.model.builder import build_model
from cnntrain.model.freeze import freeze_layers
from cnntrain.model.summary import summarize, summary_dict
from conftest import CONFIGS, ROOT, forward_shapes

# Small inputs for the real forward pass: AlexNet and VGG-16 at 224 would cost seconds and gigabytes.
_FORWARD_OVERRIDES = {
    "alexnet": ["data.image_size=64"],
    "vgg16": ["data.image_size=32"],  # the one real VGG-16 build: its 4096 x 25088 layer is there at any size
    "resnet18": ["data.image_size=64"],  # at 224 once, below
    "resnet34": ["data.image_size=32"],
    "resnet50": ["data.image_size=32"],
    "mobilenet_v2": ["data.image_size=32"],
    "finetune": ["data.image_size=32"],
    "edges": ["data.image_size=[20, 24]"],
}
# A user's arrays name their classes only when they load: the summary needs a count.
_USER_DATA = {name: ["data.num_classes=2"] for name in ("cnn1d", "mlp1d", "cnn3d")}


def config_path(name: str):
    return ROOT / "configs" / f"{name}.yaml"


def summary(name: str, *overrides: str) -> dict:
    return summary_dict(summarize(load_config(config_path(name), [*_USER_DATA.get(name, []), *overrides])))


def test_the_expected_configs_ship():
    names = {path.stem for path in CONFIGS}
    assert {"lenet5", "mnist_cnn", "alexnet", "vgg16", "resnet18", "mlp", "cnn", "edges", "signals1d",
            "volumes3d", "resnet34", "resnet50", "mobilenet_v2", "finetune"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_summary_shapes_match_a_real_forward_pass(path):
    overrides = _FORWARD_OVERRIDES.get(path.stem, []) + _USER_DATA.get(path.stem, [])
    config = load_config(path, overrides)
    predicted = summary_dict(summarize(config))
    # summarize() may take num_classes from the dataset; build with the same number
    built = build_model(config, num_classes=predicted["output_shape"][0] if path.stem != "edges" else None)
    freeze_layers(built, config.train.freeze)  # what training trains, as the summary counts it
    shapes, out = forward_shapes(built.model, config.input_shape())
    assert [layer["output_shape"] for layer in predicted["layers"]] == shapes
    assert predicted["output_shape"] == out
    assert len(predicted["layers"]) == len(config.model.layers)
    assert predicted["total_params"] == sum(p.numel() for p in built.model.parameters())
    assert predicted["trainable_params"] == sum(p.numel() for p in built.model.parameters() if p.requires_grad)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_summary_at_the_configured_size(path):
    """At the config's own size (224 for the ImageNet networks) on the meta device."""
    result = summary(path.stem)
    assert result["total_params"] > 0
    assert result["layers"][-1]["output_shape"] == result["output_shape"]
    assert result["name"] == load_config(path).name


def test_resnet18_real_forward_at_224():
    config = load_config(config_path("resnet18"))
    predicted = summary_dict(summarize(config))
    shapes, out = forward_shapes(build_model(config).model, config.input_shape(), batch=1)
    assert [layer["output_shape"] for layer in predicted["layers"]] == shapes
    assert shapes[3] == [64, 56, 56] and shapes[7] == [512, 7, 7] and out == [1000]


@pytest.mark.parametrize("name, expected", [("lenet5", 61_706), ("mnist_cnn", 1_199_882)])
def test_published_parameter_counts(name, expected):
    assert summary(name)["total_params"] == expected


TORCHVISION_EQUAL = ["alexnet", "vgg16", "resnet18", "resnet34", "resnet50", "mobilenet_v2"]


@pytest.mark.parametrize("name", TORCHVISION_EQUAL)
def test_equal_to_torchvision(name):
    import torchvision

    with torch.device("meta"):
        reference = getattr(torchvision.models, name)()
    ours = build_model(load_config(config_path(name)), device="meta").model
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    assert sorted(tuple(p.shape) for p in ours.parameters()) == sorted(tuple(p.shape) for p in reference.parameters())
    assert sorted(tuple(b.shape) for b in ours.buffers()) == sorted(tuple(b.shape) for b in reference.buffers())
    # In the same order, too: what lets model.init pair torchvision's tensors with ours by position.
    assert [tuple(t.shape) for t in ours.state_dict().values()] == \
        [tuple(t.shape) for t in reference.state_dict().values()]


def test_mobilenet_v2_convolutions_are_depthwise_where_torchvision_s_are():
    import torchvision

    with torch.device("meta"):
        reference = torchvision.models.mobilenet_v2()
    ours = build_model(load_config(config_path("mobilenet_v2")), device="meta").model
    groups = [m.groups for m in ours.modules() if isinstance(m, nn.Conv2d)]
    assert groups == [m.groups for m in reference.modules() if isinstance(m, nn.Conv2d)]
    assert sum(g > 1 for g in groups) == 17


def test_torchvision_published_totals():
    assert summary("alexnet")["total_params"] == 61_100_840
    assert summary("vgg16")["total_params"] == 138_357_544
    assert summary("resnet18")["total_params"] == 11_689_512
    assert summary("resnet34")["total_params"] == 21_797_672
    assert summary("resnet50")["total_params"] == 25_557_032
    assert summary("mobilenet_v2")["total_params"] == 3_504_872


def test_finetune_trains_only_a_new_head_on_resnet18_weights():
    config = load_config(config_path("finetune"))
    assert config.model.init == "torchvision:resnet18.IMAGENET1K_V1" and config.data.dataset == "imagefolder"
    result = summary("finetune")
    assert result["trainable_params"] == 512 * 5 + 5  # the fc head alone
    assert result["total_params"] == 11_689_512 - 1000 * 513 + 5 * 513


class _ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py, as published."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)


def test_mnist_cnn_is_the_pytorch_example():
    config = load_config(config_path("mnist_cnn"))
    ours = build_model(config, device="meta").model
    with torch.device("meta"):
        reference = _ExamplesNet()
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in reference.parameters()]
    dropouts = [m.p for m in ours.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.25, 0.5]
    train = config.train
    assert (train.optimizer, train.lr, train.scheduler, train.step_size, train.gamma) == \
        ("adadelta", 1.0, "step", 1, 0.7)
    assert (train.batch_size, train.eval_batch_size, train.epochs, train.seed) == (64, 1000, 14, 1)
    assert (config.data.dataset, config.data.image_size, config.data.num_classes) == ("mnist", 28, 10)


def test_cnn_needs_far_fewer_parameters_than_mlp():
    mlp, cnn = summary("mlp"), summary("cnn")
    assert mlp["input_shape"] == cnn["input_shape"]
    assert mlp["output_shape"] == cnn["output_shape"]
    assert cnn["total_params"] * 10 < mlp["total_params"]
    assert mlp["layers"][1]["params"] == 64 * 64 * 100 + 100


def test_edges_is_one_fixed_sobel_conv_of_any_size():
    config = load_config(config_path("edges"))
    assert config.data.image_size is None
    result = summary("edges")
    assert len(result["layers"]) == 1 and result["layers"][0]["type"] == "conv2d"
    assert result["output_shape"] == [2, None, None]
    assert (result["total_params"], result["trainable_params"]) == (18, 0)
    conv = build_model(config).model[0]
    assert conv.weight[0, 0].tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert conv.weight[1, 0].tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]


@pytest.mark.parametrize("name, conv, rank", [("signals1d", "conv1d", 1), ("volumes3d", "conv3d", 3)])
def test_other_ranks(name, conv, rank):
    result = summary(name)
    assert len(result["input_shape"]) == rank + 1
    assert conv in [layer["type"] for layer in result["layers"]]
    assert all(len(layer["output_shape"]) in (1, rank + 1) for layer in result["layers"])
