"""layers.py and the registry: every layer type's predicted shape matches PyTorch's, and the convolution
arithmetic (Dumoulin & Visin) holds for random convolutions and pools, impossible ones included."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnntrain.config.loader import config_from_dict
from cnntrain.errors import ConfigError, ShapeError, UnknownLayerError
from cnntrain.model.builder import build_model
from cnntrain.model.registry import get_layer_type, list_layers
from cnntrain.model.schema import config_schema
from cnntrain.model.summary import summarize, summary_dict
from conftest import forward_shapes

# Arguments a layer type cannot do without. A new type that needs some fails test_every_layer_type
# until it gets an entry here.
_MINIMAL = {
    "conv": {"out_channels": 6, "kernel_size": 3},
    "convtranspose": {"out_channels": 6, "kernel_size": 3, "stride": 2},
    "maxpool": {"kernel_size": 2},
    "avgpool": {"kernel_size": 2},
    "adaptivemaxpool": {"output_size": 2},
    "adaptiveavgpool": {"output_size": 2},
    "linear": {"out_features": 5},
    "groupnorm": {"num_groups": 2},
    "localresponsenorm": {"size": 2},
    "softmax": {"dim": 1},
    "logsoftmax": {"dim": 1},
    "upsample": {"scale_factor": 2},
    "repeat": {"times": 2, "body": ["relu", {"dropout": 0.1}]},
    "sequential": {"layers": ["relu", "identity"]},
}
_INPUTS = {1: [4, [12]], 2: [4, [10, 12]], 3: [4, [6, 7, 8]]}


def _minimal(name: str):
    if name == "residual":
        return {"body": [{"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}, "batchnorm2d"]}
    stem = name[:-2] if name[-2:] in ("1d", "2d", "3d") else name
    return _MINIMAL.get(stem)


def _dims(name: str) -> int:
    return int(name[-2]) if name[-2:] in ("1d", "2d", "3d") else 2


def config(layers, channels=4, size=(10, 12), num_classes=None):
    return config_from_dict({"data": {"channels": channels, "image_size": list(size), "num_classes": num_classes},
                             "model": {"layers": layers}})


def test_registry_lists_the_expected_families():
    names = list_layers()
    assert names == sorted(names) and len(names) == len(set(names))
    for expected in ("conv1d", "conv2d", "conv3d", "maxpool2d", "avgpool3d", "adaptiveavgpool2d", "batchnorm2d",
                     "linear", "flatten", "relu", "dropout", "residual", "repeat", "sequential"):
        assert expected in names


@pytest.mark.parametrize("name", list_layers())
def test_every_layer_type(name):
    """Built with minimal arguments, the predicted shapes and parameter counts are PyTorch's."""
    channels, size = _INPUTS[_dims(name)]
    entry = {name: _minimal(name)} if _minimal(name) is not None else name
    # linear takes features: flatten first (the summary then checks both layers)
    layers = ["flatten", entry] if name == "linear" else [entry]
    cfg = config(layers, channels, size)
    summary = summary_dict(summarize(cfg))  # on the meta device
    built = build_model(cfg)  # real weights
    shapes, out = forward_shapes(built.model, cfg.input_shape())
    assert [layer["output_shape"] for layer in summary["layers"]] == shapes
    assert summary["output_shape"] == out
    assert summary["total_params"] == sum(p.numel() for p in built.model.parameters())
    assert [layer["type"] for layer in summary["layers"]][-1] == name


@pytest.mark.parametrize("name", list_layers())
def test_every_layer_type_has_a_doc_and_first_argument_in_its_arguments(name):
    layer = get_layer_type(name)
    assert layer.name == name
    assert layer.first_arg is None or layer.first_arg in layer.arguments
    assert not set(layer.inferred) & set(layer.arguments)


def test_inferred_arguments_are_refused():
    for layer, arg in (("conv2d", "in_channels"), ("linear", "in_features"), ("batchnorm2d", "num_features")):
        entry = {layer: {arg: 3, **(_minimal(layer) or {})}}
        layers = ["flatten", entry] if layer == "linear" else [entry]
        with pytest.raises(UnknownLayerError, match=f"`{arg}` of {layer} is inferred from the input; remove it"):
            summarize(config(layers))


def test_scalar_means_the_first_argument():
    cfg = config([{"maxpool2d": 2}, {"dropout": 0.5}, "flatten", {"linear": 7}], size=(8, 8))
    assert summary_dict(summarize(cfg))["output_shape"] == [7]
    assert get_layer_type("linear").first_arg == "out_features"
    assert get_layer_type("dropout").first_arg == "p"


def test_no_arguments_for_argumentless_layer():
    with pytest.raises(ConfigError, match="relu takes no arguments, got 3"):
        summarize(config([{"relu": 3}]))


# --- convolution arithmetic ---------------------------------------------------------------------------


def expected_conv(i, k, s, p, d):
    """Relation 15 of Dumoulin & Visin: o = floor((i + 2p - k - (k-1)(d-1)) / s) + 1."""
    return math.floor((i + 2 * p - k - (k - 1) * (d - 1)) / s) + 1


def expected_pool(i, k, s, p, d, ceil_mode):
    """As a convolution; with ceil_mode the division rounds up, but the last window must start inside
    the (left-padded) input, as PyTorch's pooling_output_shape requires."""
    span = i + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    o = -(-span // s) + 1
    return o - 1 if (o - 1) * s >= i + p else o


def _real(module_config, dims, channels, sizes):
    cfg = config(module_config, channels, sizes)
    shapes, _ = forward_shapes(build_model(cfg).model, cfg.input_shape(), batch=1)
    return shapes[-1]


_SIZE = st.integers(1, 14)


@settings(max_examples=60, deadline=None)
@given(dims=st.sampled_from([1, 2, 2, 3]), data=st.data())
def test_conv_output_size(dims, data):
    sizes = data.draw(st.lists(_SIZE if dims < 3 else st.integers(1, 7), min_size=dims, max_size=dims))
    k = data.draw(st.lists(st.integers(1, 6), min_size=dims, max_size=dims))
    s = data.draw(st.integers(1, 4))
    p = data.draw(st.integers(0, 3))
    d = data.draw(st.integers(1, 3))
    layer = {f"conv{dims}d": {"out_channels": 3, "kernel_size": k, "stride": s, "padding": p, "dilation": d}}
    expected = [expected_conv(i, ki, s, p, d) for i, ki in zip(sizes, k)]
    if min(expected) < 1:
        with pytest.raises(ShapeError, match="kernel_size .* > input"):
            summarize(config([layer], 2, sizes))
        conv = getattr(nn, f"Conv{dims}d")(2, 3, k, stride=s, padding=p, dilation=d)
        with pytest.raises(RuntimeError):  # PyTorch agrees it cannot work
            conv(torch.zeros(1, 2, *sizes))
        return
    summary = summary_dict(summarize(config([layer], 2, sizes)))
    assert summary["output_shape"] == [3, *expected]
    assert _real([layer], dims, 2, sizes) == [3, *expected]
    # MACs: every output element sums in_channels/groups * prod(kernel) products
    assert summary["macs"] == 3 * math.prod(expected) * 2 * math.prod(k)


@settings(max_examples=60, deadline=None)
@given(dims=st.sampled_from([1, 2, 2, 3]), kind=st.sampled_from(["max", "avg"]), data=st.data())
def test_pool_output_size(dims, kind, data):
    sizes = data.draw(st.lists(_SIZE if dims < 3 else st.integers(1, 7), min_size=dims, max_size=dims))
    k = data.draw(st.integers(1, 5))
    s = data.draw(st.none() | st.integers(1, 4))
    p = data.draw(st.integers(0, 3))
    d = data.draw(st.integers(1, 3)) if kind == "max" else 1  # AvgPool has no dilation
    ceil_mode = data.draw(st.booleans())
    args = {"kernel_size": k, "padding": p, "ceil_mode": ceil_mode, **({"stride": s} if s else {})}
    if kind == "max":
        args["dilation"] = d
    layer = {f"{kind}pool{dims}d": args}
    expected = [expected_pool(i, k, s or k, p, d, ceil_mode) for i in sizes]
    # avg_pool3d compares the unpadded input with the kernel
    too_small = kind == "avg" and dims == 3 and min(sizes) < k
    if p > k // 2 or min(expected) < 1 or too_small:
        with pytest.raises(ShapeError):
            summarize(config([layer], 2, sizes))
        pool = getattr(nn, f"{kind.capitalize()}Pool{dims}d")(**args)
        with pytest.raises(RuntimeError):
            pool(torch.zeros(1, 2, *sizes))
        return
    assert summary_dict(summarize(config([layer], 2, sizes)))["output_shape"] == [2, *expected]
    assert _real([layer], dims, 2, sizes) == [2, *expected]


@settings(max_examples=40, deadline=None)
@given(i=st.integers(1, 10), k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2),
       op=st.integers(0, 2), d=st.integers(1, 2))
def test_transposed_conv_output_size(i, k, s, p, op, d):
    """Relation 14 of the guide, generalised: o = (i - 1)s - 2p + d(k - 1) + output_padding + 1."""
    layer = {"convtranspose2d": {"out_channels": 2, "kernel_size": k, "stride": s, "padding": p,
                                 "output_padding": op, "dilation": d}}
    expected = (i - 1) * s - 2 * p + d * (k - 1) + op + 1
    if op >= max(s, d):
        # PyTorch refuses output_padding that is not smaller than the stride or the dilation.
        with pytest.raises(ConfigError):
            summarize(config([layer], 1, (i, i)))
        return
    if expected < 1:
        with pytest.raises(ShapeError):
            summarize(config([layer], 1, (i, i)))
        return
    assert summary_dict(summarize(config([layer], 1, (i, i))))["output_shape"] == [2, expected, expected]
    assert _real([layer], 2, 1, (i, i)) == [2, expected, expected]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("padding, dilation, size", [("same", 1, 9), ("same", 2, 6), ("valid", 1, 9)])
def test_string_padding(padding, dilation, size):
    layer = {"conv2d": {"out_channels": 3, "kernel_size": 4, "padding": padding, "dilation": dilation}}
    expected = [size, size] if padding == "same" else [expected_conv(size, 4, 1, 0, dilation)] * 2
    assert summary_dict(summarize(config([layer], 2, (size, size))))["output_shape"] == [3, *expected]
    assert _real([layer], 2, 2, (size, size)) == [3, *expected]


@pytest.mark.parametrize("layer, message", [
    ({"conv2d": {"out_channels": 3, "kernel_size": 7}}, "kernel_size 7 > input 4x4; use padding or a smaller kernel"),
    ({"conv2d": {"out_channels": 3, "kernel_size": [3, 5]}}, "kernel_size 3x5 > input 4x4"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 3, "dilation": 2}},
     "kernel_size 3 with dilation 2 spans 5 > input 4x4"),
    ({"maxpool2d": 5}, "kernel_size 5 > input 4x4; pool less or remove a pooling layer"),
    ({"maxpool2d": {"kernel_size": 3, "padding": 2}}, "padding 2 is more than half the kernel 3"),
    ({"maxpool2d": {"kernel_size": 3, "padding": 2, "dilation": 2}}, "padding 2 is more than half the kernel 3"),
    ({"conv1d": {"out_channels": 3, "kernel_size": 3}}, "conv1d expects C x L, got input 1x4x4; the input is 2D"),
    ({"batchnorm3d": None}, "batchnorm3d expects C x D x H x W"),
    ({"linear": 3}, "linear gets a 3-D input 1x4x4; add `flatten` before it"),
    ({"groupnorm": 3}, "num_groups 3 does not divide the 1 input channels"),
    ({"layernorm": {"normalized_shape": 5}}, "normalized_shape 5 must be the last dimensions"),
    ({"flatten": {"start_dim": 5}}, "flatten start_dim and end_dim must be ints from -4 to 3"),
])
def test_shapes_that_cannot_work(layer, message):
    with pytest.raises(ShapeError) as info:
        summarize(config([layer], 1, (4, 4)))
    assert message in str(info.value)


@pytest.mark.parametrize("layer, message", [
    ({"conv2d": {"out_channels": 3, "kernel_size": "abc"}}, "kernel_size must be an int >= 1 or a list of 2"),
    ({"conv2d": {"out_channels": 3, "kernel_size": [3, 3, 3]}}, "kernel_size must be an int >= 1 or a list of 2"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 0}}, "kernel_size must be an int >= 1"),
    ({"conv2d": {"out_channels": 3, "kernel_size": True}}, "kernel_size must be an int >= 1"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 1, "stride": 0}}, "stride must be an int >= 1"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 1, "padding": -1}}, "padding must be an int >= 0"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 1, "padding": "full"}}, "padding must be an int >= 0"),
    ({"conv2d": {"out_channels": 0, "kernel_size": 1}}, "out_channels must be a positive int, got 0"),
    ({"conv2d": {"out_channels": -1, "kernel_size": 1}}, "out_channels must be a positive int, got -1"),
    ({"conv2d": {"out_channels": 2.5, "kernel_size": 1}}, "out_channels must be a positive int"),
    ({"conv2d": {"out_channels": 3}}, "conv2d needs out_channels and kernel_size (or weights)"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 1, "groups": 2}}, "in_channels must be divisible by groups"),
    ({"maxpool2d": {"kernel_size": 2, "stride": 0}}, "stride must be an int >= 1"),
    ({"maxpool2d": "abc"}, "kernel_size must be an int >= 1"),
    ({"adaptiveavgpool2d": 0}, "output_size must be a positive int"),
    ({"adaptiveavgpool2d": [1, 2, 3]}, "output_size must be a positive int or a list of 2"),
    ({"groupnorm": 0}, "num_groups must be a positive int"),
    ({"upsample": None}, "upsample needs exactly one of size and scale_factor"),
    ({"upsample": 0}, "scale_factor must be a positive number"),
    ({"dropout": 1.5}, "dropout probability has to be between 0 and 1"),
    ({"dropout": "abc"}, "dropout `p` must be a number, got 'abc'"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 1, "bias": "no"}}, "conv2d `bias` must be true or false"),
    ({"maxpool2d": {"kernel_size": 2, "ceil_mode": 1}}, "maxpool2d `ceil_mode` must be true or false"),
    ({"gelu": {"approximate": 3}}, "gelu `approximate` must be a string"),
    ({"maxpool2d": {"kernel_size": 2, "return_indices": True}}, "maxpool2d has no argument `return_indices`"),
])
def test_wrong_argument_values(layer, message):
    with pytest.raises(ConfigError) as info:
        summarize(config([layer], 1, (8, 8)))
    assert message in str(info.value)


# Arguments whose default is not null but whose annotation says null is allowed (batchnorm `momentum`:
# a cumulative average; residual `activation`: none after the add, MobileNetV2's linear bottleneck).
NULLABLE = [(name, arg) for name in list_layers() for arg, default in get_layer_type(name).arguments.items()
            if default is not None and default is not inspect.Parameter.empty and get_layer_type(name).nullable(arg)]


def test_the_documented_nullable_arguments_are_found():
    assert {("residual", "activation"), ("batchnorm2d", "momentum")} <= set(NULLABLE)
    assert ("dropout", "p") not in NULLABLE and ("conv2d", "bias") not in NULLABLE


@pytest.mark.parametrize("name, arg", NULLABLE, ids=lambda v: str(v))
def test_null_is_accepted_where_documented(name, arg):
    channels, size = _INPUTS[_dims(name)]
    built = build_model(config([{name: {**(_minimal(name) or {}), arg: None}}], channels, size))
    module = built.model[0]
    if name == "residual":
        x = torch.randn(2, channels, *size)
        assert torch.equal(module(x), module.body(x) + x)  # no activation after the add: negatives stay
    else:
        assert getattr(module, arg) is None
    schema_of_arg = config_schema()["$defs"][f"layer_{name}"]["anyOf"][1]["properties"][arg]
    assert "null" in schema_of_arg["type"]


@pytest.mark.parametrize("layer, message", [
    ({"dropout": {"p": None}}, "dropout `p` must be a number, got None"),
    ({"conv2d": {"out_channels": 3, "kernel_size": 1, "bias": None}}, "conv2d `bias` must be true or false"),
    ({"residual": {"body": ["relu"], "activation": 3}}, "residual `activation` must be a string or a mapping or null"),
])
def test_null_and_wrong_kinds_are_refused_where_not_documented(layer, message):
    with pytest.raises(ConfigError) as info:
        summarize(config([layer], 4, (8, 8)))
    assert message in str(info.value)


def test_residual_activation_may_be_a_layer_with_arguments():
    built = build_model(config([{"residual": {"body": ["identity"], "activation": {"leakyrelu": 0.5}}}], 1, (2, 2)))
    x = -torch.ones(1, 1, 2, 2)
    assert torch.allclose(built.model[0](x), -torch.ones(1, 1, 2, 2))  # leaky(-1 + -1) = -1 at slope 0.5


def test_linear_needs_positive_width_and_known_size():
    with pytest.raises(ConfigError, match="out_features must be a positive int"):
        summarize(config(["flatten", {"linear": 0}]))
    unknown = config_from_dict({"data": {"image_size": None}, "model": {"layers": ["flatten", {"linear": 3}]}})
    with pytest.raises(ShapeError, match="linear needs a known input size"):
        summarize(unknown)


def test_unknown_sizes_stay_unknown():
    cfg = config_from_dict({"data": {"channels": 1, "image_size": None},
                            "model": {"layers": [{"conv2d": {"out_channels": 2, "kernel_size": 3}}, {"maxpool2d": 2}]}})
    summary = summary_dict(summarize(cfg))
    assert summary["input_shape"] == [1, None, None]
    assert [layer["output_shape"] for layer in summary["layers"]] == [[2, None, None], [2, None, None]]


def test_upsample_and_flatten_ranges():
    cfg = config([{"upsample": 1.5}, {"flatten": {"start_dim": 2}}], 2, (5, 7))
    summary = summary_dict(summarize(cfg))
    assert [layer["output_shape"] for layer in summary["layers"]] == [[2, 7, 10], [2, 70]]
    shapes, _ = forward_shapes(build_model(cfg).model, cfg.input_shape())
    assert shapes == [[2, 7, 10], [2, 70]]


# --- hand-designed filters -----------------------------------------------------------------------------


def test_sobel_filters_are_fixed_and_detect_edges():
    cfg = config([{"conv2d": {"weights": ["sobel_x", "sobel_y"], "padding": 1, "bias": False, "trainable": False}}],
                 1, (6, 6))
    built = build_model(cfg)
    conv = built.model[0]
    assert tuple(conv.weight.shape) == (2, 1, 3, 3)
    assert conv.weight[0, 0].tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert not any(p.requires_grad for p in conv.parameters())
    summary = summary_dict(summarize(cfg))
    assert (summary["total_params"], summary["trainable_params"]) == (18, 0)
    # a vertical step edge: sobel_x responds, sobel_y does not (away from the border)
    image = torch.zeros(1, 1, 6, 6)
    image[..., 3:] = 1.0
    out = built.model(image)[0, :, 1:-1, 1:-1]
    assert out[0].abs().sum() > 0 and out[1].abs().sum() == 0


def test_named_filter_on_rgb_filters_the_channel_mean():
    built = build_model(config([{"conv2d": {"weights": "laplacian", "bias": False}}], 3, (5, 5)))
    weight = built.model[0].weight
    assert tuple(weight.shape) == (1, 3, 3, 3)
    assert torch.allclose(weight.sum(1)[0], torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]))


def test_explicit_nested_weights():
    built = build_model(config([{"conv2d": {"weights": [[1, 0], [0, -1]], "trainable": False}}], 1, (5, 5)))
    assert built.model[0].weight.reshape(-1).tolist() == [1, 0, 0, -1]
    assert summarize(config([{"conv2d": {"weights": [[1, 0], [0, -1]]}}], 1, (5, 5))).output_shape == (1, 4, 4)


@pytest.mark.parametrize("weights, extra, message", [
    ("sobelx", {}, "unknown kernel `sobelx`; did you mean `sobel_x`?"),
    ([[1, 0], [0]], {}, "weights must be a kernel name"),  # ragged, also on the meta device
    ("sobel_x", {"out_channels": 3}, "out_channels 3 disagrees with the weights given, which imply 1"),
    ("sobel_x", {"kernel_size": 5}, "kernel_size 5 disagrees with the weights given"),
    ("sobel_x", {"trainable": "no"}, "conv2d `trainable` must be true or false, got 'no'"),
])
def test_bad_weights(weights, extra, message):
    with pytest.raises(ConfigError) as info:
        summarize(config([{"conv2d": {"weights": weights, **extra}}], 1, (6, 6)))
    assert message in str(info.value)


def test_optional_float_arguments_take_null():
    """BatchNorm's momentum may be null (a cumulative average): the kind check allows it."""
    built = build_model(config([{"batchnorm2d": {"momentum": None, "eps": 1}}], 2, (4, 4)))
    assert built.model[0].momentum is None and built.model[0].eps == 1
