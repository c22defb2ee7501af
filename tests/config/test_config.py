"""config.py: safe YAML loading, `--set` overrides, defaults and value checks; never imports torch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cnntrain.config.keys import DEFAULTS
from cnntrain.config.loader import apply_override, config_from_dict, load_config, spatial_size
from cnntrain.errors import ConfigError, UnknownLayerError

BASE = """
name: t
data: {channels: 1, image_size: 8, num_classes: 3}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3}
    - relu
    - flatten
    - linear: 128
    - linear: {name: head, out_features: num_classes}
train:
  epochs: 2
"""


def test_defaults_are_filled_and_values_kept(load):
    config = load(BASE)
    assert config.name == "t"
    assert config.train.epochs == 2
    assert config.train.batch_size == DEFAULTS["train"]["batch_size"]
    assert config.data.dataset == DEFAULTS["data"]["dataset"]
    assert config.input_shape() == (1, 8, 8)


def test_name_defaults_to_the_file_stem(write_config):
    path = write_config("model: {layers: [relu]}\n", name="my_net.yaml")
    assert load_config(path).name == "my_net"


@pytest.mark.parametrize("image_size, shape", [
    (8, (8, 8)), ([16], (16,)), ([4, 6], (4, 6)), ([2, 3, 4], (2, 3, 4)), (None, (None, None)),
])
def test_image_size_gives_the_input_rank(load, image_size, shape):
    size = "null" if image_size is None else image_size
    config = load(f"data: {{channels: 2, image_size: {size}}}\nmodel: {{layers: [relu]}}\n")
    assert spatial_size(image_size) == shape
    assert config.input_shape() == (2, *shape)


@pytest.mark.parametrize("size", ["0", "[]", "[1, 2, 3, 4]", "[4, 0]", "[4, true]", "-3"])
def test_bad_image_size(load, size):
    with pytest.raises(ConfigError, match="image_size"):
        load(f"data: {{image_size: {size}}}\nmodel: {{layers: [relu]}}\n")


def test_int_is_accepted_where_a_float_is_expected(load):
    config = load(BASE, "train.lr=1")
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)


# --- wrong values and keys ------------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("train.epochs=ten", "train.epochs: expected int, got 'ten'"),
    ("train.epochs='10'", "train.epochs: expected int, got '10'"),
    ("train.epochs=0", "train.epochs: must be at least 1"),
    ("train.lr=true", "train.lr: expected float, got True"),
    ("data.channels=2.5", "data.channels: expected int"),
    ("train.optimizer=adamm", "did you mean `adam`"),
])
def test_a_bad_value_in_the_file_names_key_and_line(load, override, message):
    key, value = override.split("=")
    section, field = key.split(".")
    text = f"model: {{layers: [relu]}}\n{section}:\n  {field}: {value}\n"
    with pytest.raises(ConfigError) as info:
        load(text)
    assert message in str(info.value)
    assert "c.yaml:3:" in str(info.value)  # the line of the key in the file


@pytest.mark.parametrize("override, message", [
    ("train.epochs=ten", "--set train.epochs: expected int, got 'ten'"),
    ("train.epoch=3", "--set train.epoch: unknown key `epoch` in `train`; did you mean `epochs`?"),
    ("trian.epochs=3", "--set trian.epochs: unknown top-level key `trian`; did you mean `train`?"),
    ("model.layer=[relu]", "did you mean `layers`?"),
    ("train.epochs", "expected dotted.key=value"),
    ("=3", "expected dotted.key=value"),
    ("train.epochs=[1,", "--set train.epochs:1:4: YAML syntax error"),
])
def test_a_bad_override_names_the_override(load, override, message):
    with pytest.raises(ConfigError) as info:
        load(BASE, override)
    assert message in str(info.value)
    assert "c.yaml" not in str(info.value)  # the file holds nothing wrong


def test_unknown_keys_suggest_the_closest(load):
    with pytest.raises(ConfigError, match=r"unknown key `modle` in the top level; did you mean `model`\?"):
        load("modle: {layers: [relu]}\n")
    with pytest.raises(ConfigError, match=r"unknown key `batchsize` in `train`; did you mean `batch_size`\?"):
        load("model: {layers: [relu]}\ntrain: {batchsize: 3}\n")


@pytest.mark.parametrize("text, message", [
    ("- relu\n", "a config is a mapping"),
    ("model: {layers: []}\n", "model.layers must be a non-empty list"),
    ("model: [relu]\n", "`model` must be a mapping"),
    ("name: a/b\nmodel: {layers: [relu]}\n", "`name` must be a plain non-empty string"),
])
def test_structure_errors(load, text, message):
    with pytest.raises(ConfigError, match=message):
        load(text)


# --- YAML safety and syntax -----------------------------------------------------------------------


def test_yaml_syntax_error_has_file_line_and_column(write_config):
    path = write_config("data:\n  channels: 1\nmodel: {layers: [relu}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+):(\d+): YAML syntax error: .+", str(info.value))
    assert match, str(info.value)
    assert (int(match[1]), int(match[2])) == (3, 22)  # the `}` that closes a list


def test_tab_indentation_is_a_syntax_error(write_config):
    with pytest.raises(ConfigError, match=r"c\.yaml:2:1: YAML syntax error"):
        load_config(write_config("data:\n\tchannels: 1\n"))


@pytest.mark.parametrize("where", ["top", "layer"])
def test_python_tags_are_refused_and_never_executed(write_config, tmp_path, where):
    marker = tmp_path / "executed"
    payload = f"!!python/object/apply:os.system ['touch {marker}']"
    text = payload if where == "top" else f"model:\n  layers:\n    - {payload}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    assert "python/object/apply:os.system is not allowed" in str(info.value)
    assert "c.yaml:" in str(info.value)
    assert not marker.exists()


def test_python_tag_in_an_override_is_refused(load, tmp_path):
    marker = tmp_path / "executed"
    with pytest.raises(ConfigError, match="not allowed"):
        load(BASE, f"name=!!python/object/apply:os.system ['touch {marker}']")
    assert not marker.exists()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="it is a directory"):
        load_config(tmp_path)


# --- --set ------------------------------------------------------------------------------------------


def test_overrides_are_yaml_typed_and_the_last_wins(load):
    config = load(BASE, "train.epochs=3", "train.lr=0.5", "data.image_size=[10, 12]", "train.epochs=4",
                  "train.grad_clip=null", "name=other")
    assert config.train.epochs == 4
    assert config.train.lr == 0.5
    assert config.data.image_size == [10, 12]
    assert config.train.grad_clip is None
    assert config.name == "other"


def test_override_layer_by_index_and_by_name(load):
    config = load(BASE, "model.layers.0.out_channels=64", "model.layers.conv1.kernel_size=5",
                  "model.layers.head.bias=false")
    layers = config.model.layers
    assert layers[0] == {"conv2d": {"name": "conv1", "out_channels": 64, "kernel_size": 5}}
    assert layers[4]["linear"]["bias"] is False


def test_override_normalises_a_scalar_layer(load):
    config = load(BASE, "model.layers.3.out_features=64")
    assert config.model.layers[3] == {"linear": {"out_features": 64}}
    config = load(BASE, "model.layers.-2.bias=false")
    assert config.model.layers[3] == {"linear": {"out_features": 128, "bias": False}}


def test_override_on_a_bare_layer_gives_it_arguments(load):
    config = load(BASE, "model.layers.1.inplace=true")  # not an argument cnntrain accepts...
    assert config.model.layers[1] == {"relu": {"inplace": True}}  # ...so the builder rejects it later
    with pytest.raises(UnknownLayerError, match="relu has no argument `inplace`"):
        from cnntrain.model.builder import build_model

        build_model(config, device="meta")


@pytest.mark.parametrize("override, message", [
    ("model.layers.conv9.out_channels=3", "no layer is named `conv9`; did you mean `conv1`?"),
    ("model.layers.7.out_channels=3", "there is no layer 7; model.layers has 5 entries"),
    ("model.layers.conv1=3", "name an argument of the layer"),
    ("train.epochs.x=3", "not a mapping"),
])
def test_override_errors(load, override, message):
    with pytest.raises(ConfigError) as info:
        load(BASE, override)
    assert message in str(info.value)
    assert str(info.value).startswith(f"--set {override.split('=')[0]}")


def test_override_into_an_empty_section(load):
    config = load("model: {layers: [relu]}\ntrain:\n", "train.epochs=3")
    assert config.train.epochs == 3


def test_override_a_whole_section_is_checked(load):
    with pytest.raises(ConfigError, match="`data` must be a mapping"):
        load(BASE, "data=3")
    assert load(BASE, "train={epochs: 7}").train.epochs == 7


def test_config_from_dict_round_trips_and_does_not_alias(load):
    config = load(BASE)
    raw = config.to_dict()
    again = config_from_dict(raw, overrides=["model.layers.conv1.out_channels=9"])
    assert again.model.layers[0]["conv2d"]["out_channels"] == 9
    assert config.model.layers[0]["conv2d"]["out_channels"] == 4  # the original is untouched
    assert config_from_dict(raw).to_dict() == config.to_dict()


def test_apply_override_changes_only_its_key():
    raw = {"train": {"epochs": 3}}
    apply_override(raw, "train.batch_size=8")
    assert raw == {"train": {"epochs": 3, "batch_size": 8}}


def test_config_module_does_not_import_torch(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {layers: [relu]}\n")
    code = ("import sys; from cnntrain.config.loader import load_config; "
            f"load_config({str(path)!r}, ['train.epochs=2']); "
            "assert 'torch' not in sys.modules, 'config imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_exponent_floats_without_a_dot_are_floats(tmp_path):
    """YAML 1.1 reads `1e-3` as a string; learning rates are written that way, so cnntrain reads floats."""
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  layers: [flatten]\ntrain:\n  lr: 1e-3\n", encoding="utf-8")
    from cnntrain.config.loader import load_config

    config = load_config(path, ["train.weight_decay=5e-4"])
    assert config.train.lr == 0.001
    assert config.train.weight_decay == 0.0005


@pytest.mark.parametrize("override, message", [
    ("data.val_fraction=1.5", "data.val_fraction: must be at most 0.9, got 1.5"),
    ("train.label_smoothing=2", "train.label_smoothing: must be at most 1.0"),
    ("train.lr=.nan", "train.lr: must be a finite number"),
    ("train.grad_clip=.inf", "train.grad_clip: must be a finite number"),
])
def test_values_out_of_range_are_config_errors(tmp_path, override, message):
    from cnntrain.config.loader import load_config

    path = tmp_path / "c.yaml"
    path.write_text("model:\n  layers: [flatten]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, [override])
    assert message in str(info.value)
