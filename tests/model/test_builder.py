"""builder.py and blocks.py: the walk over the layer list, names, blocks, residuals, and errors that say
which layer, on which line, with which input."""

from __future__ import annotations

import pytest
import torch

from cnntrain.errors import ConfigError, ShapeError, UnknownLayerError
from cnntrain.model.builder import build_model
from cnntrain.model.summary import summarize, summary_dict
from conftest import forward_shapes

HEAD = "data: {channels: 1, image_size: 4, num_classes: 3}\n"


def test_small_input_names_layer_line_input_and_advice(load):
    config = load(HEAD + "model:\n  layers:\n    - relu\n    - conv2d: {name: big, out_channels: 3, kernel_size: 7}\n")
    with pytest.raises(ShapeError) as info:
        build_model(config, device="meta")
    message = str(info.value)
    assert message.startswith(f"{config.source}: layer 1 'big' (conv2d, line 5): ")
    assert "kernel_size 7 > input 4x4" in message
    assert "use padding or a smaller kernel" in message
    assert message.endswith("its input is 1x4x4")


def test_unknown_layer_type_suggests_and_lists(load):
    with pytest.raises(UnknownLayerError) as info:
        summarize(load(HEAD + "model:\n  layers:\n    - relu\n    - conv2: {out_channels: 3, kernel_size: 3}\n"))
    message = str(info.value)
    assert "layer 1 'conv2_1' (conv2, line 5)" in message
    assert "unknown layer type `conv2`; did you mean `conv2d`?" in message
    assert "Valid: " in message and "maxpool2d" in message and "residual" in message


def test_unknown_argument_suggests(load):
    with pytest.raises(UnknownLayerError) as info:
        summarize(load(HEAD + "model:\n  layers:\n    - conv2d: {out_channel: 3, kernel_size: 3}\n"))
    message = str(info.value)
    assert "(conv2d, line 4)" in message
    assert "conv2d has no argument `out_channel`; did you mean `out_channels`?" in message


def test_wrong_value_type_in_a_layer(load):
    with pytest.raises(ConfigError, match=r"\(conv2d, line 4\): kernel_size must be an int >= 1 .* got 'abc'"):
        summarize(load(HEAD + "model:\n  layers:\n    - conv2d: {out_channels: 3, kernel_size: abc}\n"))


def test_linear_after_a_conv_needs_flatten(load):
    with pytest.raises(ShapeError) as info:
        summarize(load(HEAD + "model:\n  layers:\n    - conv2d: {out_channels: 3, kernel_size: 3}\n    - linear: 10\n"))
    assert "layer 1 'linear_1' (linear, line 5)" in str(info.value)
    assert "add `flatten` before it" in str(info.value)


def test_duplicate_layer_names(load):
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: layer name 'a' is used twice"):
        summarize(load(HEAD + "model:\n  layers: [{relu: {name: a}}, {tanh: {name: a}}]\n"))
    with pytest.raises(ConfigError, match="layer name 'a.b' must be a non-empty string without dots"):
        summarize(load(HEAD + "model:\n  layers: [{relu: {name: a.b}}]\n"))


def test_duplicate_names_inside_a_block_are_located_once(load):
    with pytest.raises(ConfigError) as info:
        summarize(load(HEAD + "model:\n  layers: [{sequential: [{relu: {name: a}}, {relu: {name: a}}]}]\n"))
    message = str(info.value)
    assert "layer 0 'sequential_1' (sequential, line 3): layer name 'a' is used twice" in message
    assert message.count("c.yaml") == 1


def test_generated_names_never_take_a_given_name(load):
    """A given name `relu_2` and two bare relus: no layer may be lost to a name clash."""
    config = load(HEAD + "model:\n  layers: [{relu: {name: relu_2}}, relu, relu,"
                  " {conv2d: {out_channels: 2, kernel_size: 1}}]\n")
    built = build_model(config)
    names = [layer.name for layer in built.layers]
    assert len(set(names)) == 4 and names[0] == "relu_2"
    assert len(built.model) == 4
    assert [name for name, _ in built.model.named_children()] == names


def test_keras_style_names_and_config_names(load):
    config = load(HEAD + "model:\n  layers: [{conv2d: {out_channels: 2, kernel_size: 1}}, relu, "
                  "{conv2d: {name: second, out_channels: 2, kernel_size: 1}}, relu, flatten]\n")
    built = build_model(config, device="meta")
    assert [layer.name for layer in built.layers] == ["conv2d_1", "relu_1", "second", "relu_2", "flatten_1"]
    assert dict(built.model.named_children()).keys() == {"conv2d_1", "relu_1", "second", "relu_2", "flatten_1"}


def test_meta_and_real_builds_agree(load):
    config = load(HEAD + "model:\n  layers: [{conv2d: {out_channels: 5, kernel_size: 3, padding: 1}},"
                  " batchnorm2d, relu,"
                  " flatten, {linear: num_classes}]\n")
    meta, real = build_model(config, device="meta"), build_model(config)
    assert [tuple(p.shape) for p in meta.model.parameters()] == [tuple(p.shape) for p in real.model.parameters()]
    assert all(p.is_meta for p in meta.model.parameters())
    assert not any(p.is_meta for p in real.model.parameters())
    assert real.output_shape == (3,) and real.num_classes == 3


def test_num_classes_stands_for_a_width(load):
    text = "data: {channels: 1, image_size: 4}\nmodel:\n  layers: [flatten, {linear: num_classes}]\n"
    assert build_model(load(text), num_classes=7, device="meta").output_shape == (7,)
    assert build_model(load(text, "data.num_classes=5"), device="meta").output_shape == (5,)
    with pytest.raises(ConfigError, match="uses num_classes, which is not known yet; set data.num_classes"):
        build_model(load(text), device="meta")


# --- blocks -----------------------------------------------------------------------------------------------


RESIDUAL = """
data: {channels: 4, image_size: 8, num_classes: 3}
model:
  layers:
    - residual:
        name: res
        body:
          - conv2d: {out_channels: OUT, kernel_size: 3, stride: STRIDE, padding: 1}
          - batchnorm2d
          - relu
          - conv2d: {out_channels: OUT, kernel_size: 3, padding: 1}
        shortcut: SHORTCUT
"""


def _residual(out=4, stride=1, shortcut="null"):
    return RESIDUAL.replace("OUT", str(out)).replace("STRIDE", str(stride)).replace("SHORTCUT", shortcut)


def test_identity_residual_adds_the_input(load):
    built = build_model(load(_residual()))
    block = built.model.res
    x = torch.randn(2, 4, 8, 8)
    block.eval()
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(block.body(x) + x))
    assert built.output_shape == (4, 8, 8)


def test_residual_with_mismatched_shapes(load):
    with pytest.raises(ShapeError) as info:
        build_model(load(_residual(out=8, stride=2)), device="meta")
    message = str(info.value)
    assert "layer 0 'res' (residual, line 4)" in message
    assert "the body gives 8x4x4 but the shortcut gives 4x8x8; set `shortcut: auto`" in message


def test_residual_auto_projection(load):
    config = load(_residual(out=8, stride=2, shortcut="auto"))
    built = build_model(config)
    shortcut = built.model.res.shortcut
    conv = shortcut[0]
    assert (conv.kernel_size, conv.stride, conv.in_channels, conv.out_channels) == ((1, 1), (2, 2), 4, 8)
    assert forward_shapes(built.model, config.input_shape())[1] == [8, 4, 4]
    # auto is identity where nothing changes
    assert len(build_model(load(_residual(shortcut="auto")), device="meta").model.res.shortcut) == 0


def test_residual_explicit_shortcut_must_match(load):
    text = _residual(out=8, stride=1, shortcut="[{conv2d: {out_channels: 6, kernel_size: 1}}]")
    with pytest.raises(ShapeError, match="the body gives 8x8x8 but the shortcut gives 6x8x8; make the shortcut match"):
        build_model(load(text), device="meta")


def test_repeat_gives_each_copy_its_own_weights(load):
    config = load("data: {channels: 3, image_size: 6}\nmodel:\n  layers:\n"
                  "    - repeat: {times: 3, body: [{conv2d: {out_channels: 3, kernel_size: 3, padding: 1}}, relu]}\n")
    built = build_model(config)
    convs = [m for m in built.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and len({id(c.weight) for c in convs}) == 3
    assert summary_dict(summarize(config))["total_params"] == 3 * (3 * 3 * 9 + 3)
    assert built.layers[0].receptive_field == (7, 7)


@pytest.mark.parametrize("args, message", [
    ("{times: 0, body: [relu]}", "repeat needs `times` as a positive int, got 0"),
    ("{times: 2, body: relu}", "repeat needs `body` as a list of layers, got 'relu'"),
    ("{times: 2}", "repeat needs body"),
])
def test_repeat_errors(load, args, message):
    with pytest.raises(ConfigError, match=message):
        build_model(load(HEAD + f"model:\n  layers:\n    - repeat: {args}\n"), device="meta")


BLOCKS = """
data: {channels: 3, image_size: 16, num_classes: 4}
model:
  blocks:
    Stage:
      - conv2d: {out_channels: $width, kernel_size: 3, padding: 1}
      - relu
      - maxpool2d: 2
    head:
      - flatten
      - linear: $classes
  layers:
    - stage: {name: first, width: 8}
    - Stage: {width: 16}
    - head: {classes: num_classes}
"""


def test_user_blocks_with_parameters(load):
    config = load(BLOCKS)
    built = build_model(config)
    assert [(layer.name, layer.type, layer.out_shape) for layer in built.layers] == [
        ("first", "stage", (8, 8, 8)), ("stage_1", "stage", (16, 4, 4)), ("head_1", "head", (4,))]
    shapes, out = forward_shapes(built.model, config.input_shape())
    assert shapes == [[8, 8, 8], [16, 4, 4], [4]] and out == [4]


@pytest.mark.parametrize("call, message", [
    ("stage: {}", "block `stage` needs width; its parameters: width"),
    ("stage: {width: 8, depth: 2}", "block `stage` has no parameter depth"),
    ("stage: 8", "block `stage` takes named arguments"),
])
def test_user_block_argument_errors(load, call, message):
    text = BLOCKS.replace("    - stage: {name: first, width: 8}", f"    - {call}")
    with pytest.raises(ConfigError) as info:
        build_model(load(text), device="meta")
    assert message in str(info.value)
    assert str(info.value).count("c.yaml") == 1


def test_a_block_that_contains_itself(load):
    text = HEAD + "model:\n  blocks:\n    a: [relu, b]\n    b: [a]\n  layers: [a]\n"
    with pytest.raises(ConfigError, match=r"block `a` contains itself \(a -> b -> a\)"):
        build_model(load(text), device="meta")


def test_nested_errors_name_the_inner_layer(load):
    text = HEAD + "model:\n  layers:\n    - sequential: [relu, {conv2d: {out_channels: 2, kernel_size: 9}}]\n"
    with pytest.raises(ShapeError) as info:
        build_model(load(text), device="meta")
    assert "layer 0.layers.1 '1' (conv2d" in str(info.value)
    assert "kernel_size 9 > input 4x4" in str(info.value)
