"""Fuzzing the config: generated configs (valid and broken), `--set` strings and YAML texts each give
a model (built on the meta device: shapes and counts, no weights allocated) or a clear ConfigError,
never any other exception.

Layers are drawn from the registry (`list_layers()`), with their own argument names and values of
every kind: plausible small numbers, wrong types, absurd sizes, nested lists and mappings.
"""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnntrain.config.loader import config_from_dict, load_config
from cnntrain.errors import ConfigError
from cnntrain.model.builder import build_model
from cnntrain.model.registry import REQUIRED, get_layer_type, list_layers

LAYERS = list_layers()
BLOCK_ARGS = ("body", "layers", "shortcut", "activation")
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def model_or_config_error(raw=None, overrides=(), path=None):
    """The property: a model, or a ConfigError with a message. Anything else escapes to hypothesis."""
    try:
        config = load_config(path, overrides) if path is not None else config_from_dict(raw, overrides=overrides)
        return build_model(config, device="meta")
    except ConfigError as error:
        assert str(error).strip(), "a ConfigError must say what is wrong"
        return None


# --- values ---------------------------------------------------------------------------------------

small = st.integers(min_value=-2, max_value=9)
absurd = st.sampled_from([0, -1, 10**6, 10**9, 2**31, 2**63, 10**30])
words = st.sampled_from(["same", "valid", "num_classes", "auto", "relu", "sobel_x", "zeros", "circular",
                         "tanh", "$c", "", "none", "max", "yes"])
scalars = st.one_of(small, small, small, absurd, st.none(), st.booleans(),
                    st.floats(allow_nan=True, allow_infinity=True, width=32), words,
                    st.text(string.printable, max_size=6))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=4) | words, inner,
                                                                       max_size=3)),
                      max_leaves=10)
plausible = st.one_of(small, small, st.lists(st.integers(1, 4), min_size=1, max_size=3), values)
names = st.one_of(st.sampled_from(["conv1", "out", "a.b", "", "forward", "training", "cuda", "0", "relu_1"]),
                  st.integers(), st.text(max_size=5))


def mostly(good, broken):
    """Four times in five a good value: a config has many keys, and one bad one ends the build."""
    return st.integers(0, 4).flatmap(lambda k: broken if k == 4 else good)  # hypothesis favours 0


# Layers that fit most inputs, so that generated lists often build and the model side is exercised too.
GOOD = [{"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}, "relu", "batchnorm2d", "gelu",
        {"maxpool2d": {"kernel_size": 2, "ceil_mode": True}}, {"dropout": 0.1}, "identity",
        {"residual": {"body": [{"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1, "stride": 2}}],
                      "shortcut": "auto"}},
        {"repeat": {"times": 2, "body": [{"conv2d": {"out_channels": 4, "kernel_size": 1}}, "relu"]}},
        {"adaptiveavgpool2d": 2}, {"groupnorm": 2}]


def layer(depth: int = 0, blocks=()):
    return mostly(st.sampled_from(GOOD), any_layer(depth, blocks))


@st.composite
def any_layer(draw, depth: int = 0, blocks=()):
    kind = draw(st.sampled_from(LAYERS + list(blocks)))
    if kind in blocks:
        return {kind: draw(st.one_of(st.none(), values, st.fixed_dictionaries({"c": plausible})))}
    form = draw(st.sampled_from(["bare", "bare", "scalar", "args", "args", "args"]))
    if form == "bare":
        return kind
    if form == "scalar":
        return {kind: draw(plausible)}
    arguments = get_layer_type(kind).arguments
    required = [k for k, default in arguments.items() if default is REQUIRED]
    chosen = draw(st.lists(st.sampled_from([*arguments, "name", "bogus"]), unique=True, max_size=4))
    args = {}
    for key in dict.fromkeys(required + chosen if draw(st.booleans()) else chosen):
        if key in BLOCK_ARGS and depth < 2 and draw(st.integers(0, 3)):
            args[key] = draw(st.lists(layer(depth + 1, blocks), max_size=3))
        elif key == "name":
            args[key] = draw(names)
        elif key == "weights":
            args[key] = draw(st.one_of(words, st.lists(words, max_size=3), values))
        else:
            args[key] = draw(plausible)
    return {kind: args}


@st.composite
def configs(draw):
    blocks = draw(st.sampled_from([{}, {"blk": {"conv2d": {"out_channels": "$c", "kernel_size": 3, "padding": 1}}},
                                   {"blk": [{"linear": "$c"}, "relu"]}, {"blk": "$c"}]))
    raw = {
        "data": {
            "channels": draw(mostly(st.integers(1, 4), scalars)),
            "image_size": draw(mostly(st.integers(4, 40), st.one_of(
                st.lists(st.integers(1, 40), min_size=1, max_size=3), st.lists(absurd, min_size=1, max_size=3),
                scalars))),
            "num_classes": draw(mostly(st.integers(2, 10), scalars)),
        },
        "model": {"layers": draw(mostly(st.lists(layer(0, tuple(blocks)), min_size=1, max_size=6).map(
            lambda layers: layers + ["flatten", {"linear": "num_classes"}]), values)),
                  "blocks": blocks},
    }
    for section, keys in (("data", ["dataset", "bogus", "augment"]), ("train", ["epochs", "lr", "device", "x"])):
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=2)) if draw(st.integers(0, 3)) == 3 else ()
        for key in chosen:
            raw.setdefault(section, {})[key] = draw(values)
    for dropped in draw(st.lists(st.sampled_from(["data", "model", "layers", "channels"]), unique=True, max_size=1)
                        if draw(st.integers(0, 3)) == 3 else st.just([])):
        (raw if dropped in raw else raw["model"] if dropped == "layers" else raw["data"]).pop(dropped, None)
    if draw(st.integers(0, 9)) == 9:
        raw[draw(st.sampled_from(["name", "trian", "model"]))] = draw(values)
    return raw


@FUZZ
@given(configs())
def test_generated_configs_give_a_model_or_a_config_error(raw):
    model_or_config_error(raw)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")  # `softmax` with no dim: allowed, as in PyTorch
@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(layer(), min_size=1, max_size=5), st.sampled_from([(3, 12, 12), (1, 9, 9), (2, 5, 6)]))
def test_a_model_that_builds_runs_and_has_the_shape_it_reports(layers, shape):
    """A model is one that runs: a forward pass on the meta device (shapes only) gives the output shape
    the builder computed, so `summary` tells the truth and training cannot fail on its first batch."""
    import torch

    built = model_or_config_error({"data": {"channels": shape[0], "image_size": list(shape[1:]), "num_classes": 4},
                                   "model": {"layers": layers}})
    if built is not None:
        with torch.no_grad():
            out = built.model(torch.empty((2, *shape), device="meta"))
        assert tuple(out.shape[1:]) == tuple(built.output_shape)


# --- --set --------------------------------------------------------------------------------------------

BASE = """\
name: base
data: {channels: 1, image_size: 16, num_classes: 3}
model:
  blocks:
    blk: {conv2d: {out_channels: $c, kernel_size: 3, padding: 1}}
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - blk: {c: 4}
    - maxpool2d: 2
    - flatten
    - linear: num_classes
train: {epochs: 2}
"""
segments = st.one_of(st.sampled_from(["model", "layers", "blocks", "data", "train", "name", "0", "1", "-1", "5",
                                      "--1", "\u00b2", "\u0663", "conv1", "blk", "out_channels", "kernel_size",
                                      "epochs", "image_size", "augment", "flip", "x", "", "c"]),
                     st.text(max_size=4))
keys = st.one_of(st.lists(segments, min_size=1, max_size=5).map(".".join),
                 st.sampled_from(["model.layers.conv1.out_channels", "model.layers.0.kernel_size",
                                  "model.layers.-1.out_features", "model.layers.2.c", "data.image_size",
                                  "model.layers.1.inplace", "model.blocks.blk", "model", "train.epochs.x"]))
yaml_values = st.one_of(st.sampled_from(["3", "-1", "0", "1e9", "[1, 2]", "[3, 3, 3]", "null", "~", "true", "abc",
                                         "same", "num_classes", "{a: 1}", "{relu: null}", "[relu, flatten]",
                                         "!!python/object/apply:os.system ['true']", "[1, 2", "'", ": :",
                                         "10000000000000000000000", ".inf", ".nan", "- a\n- b", "\t", "{? [1]: 2}",
                                         "&a [*a]", "!!binary aGk=", "2001-01-01", "2001-13-45", "!!int 0x",
                                         "[conv2d: 3]"]),
                        st.text(max_size=10))
overrides = st.lists(st.one_of(st.builds("{}={}".format, keys, yaml_values), st.text(max_size=16)),
                     min_size=1, max_size=4)


@pytest.fixture(scope="module")
def base_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "base.yaml"
    path.write_text(BASE)
    assert model_or_config_error(path=path) is not None
    return path


@FUZZ
@given(sets=overrides)
def test_set_strings_give_a_model_or_a_config_error(base_config, sets):
    model_or_config_error(path=base_config, overrides=sets)


# --- YAML text ----------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=configs(), cut=st.integers(0, 400), junk=st.sampled_from(["", "? [a, b]\n: 1\n", "\t", ": x", "{", "&a",
                                                                    "*b", "!!set {a}", "%YAML 9.9\n---\n", "\x00",
                                                                    "? {a: 1}\n: 2\n", "!!int 0x", "[" * 600]))
def test_yaml_texts_give_a_model_or_a_config_error(tmp_path_factory, raw, cut, junk):
    text = yaml.safe_dump(raw, sort_keys=False)
    path = tmp_path_factory.getbasetemp() / "fuzzed.yaml"
    path.write_text(text[:cut] + junk + text[cut:], encoding="utf-8")
    model_or_config_error(path=path)


# --- what the fuzzer found: each crashed cnntrain with another exception before it was fixed -----------

D = {"channels": 3, "image_size": 12, "num_classes": 4}
FOUND = {
    "prelu with -1 parameters (torch RuntimeError)": [{"prelu": {"num_parameters": -1}}],
    "hardtanh min_val > max_val (torch AssertionError)": [{"hardtanh": 5}],
    "block called with a non-string argument name": [{"blk": {"c": 2, 1: 2}}],
    "hand-designed weights with groups 0 (ZeroDivisionError)": [{"conv2d": {"weights": "sobel_x", "groups": 0}}],
    "upsample by infinity (OverflowError)": [{"upsample": float("inf")}],
    "upsample to an empty image (built, then failed in forward)": [{"upsample": 0.001}],
    "a layer named after an nn.Module attribute (KeyError)": [{"relu": {"name": "forward"}}],
    "the same inside a block": [{"sequential": [{"relu": {"name": "training"}}]}],
    "a list as a layer name (unhashable)": [{"relu": {"name": [1]}}],
    "repeat a billion times (never finished)": [{"repeat": {"times": 10**9, "body": []}}],
    # built, then failed on the first batch:
    "softmax over a dimension the input lacks": [{"softmax": {"dim": 9}}],
    "dropout1d on an image": ["dropout1d"],
    "celu with alpha 0": [{"celu": {"alpha": 0}}],
    "prelu with more parameters than channels": [{"prelu": 5}],
}


@pytest.mark.parametrize("layers", FOUND.values(), ids=FOUND.keys())
def test_found_configs_are_config_errors(layers):
    blocks = {"blk": {"conv2d": {"out_channels": "$c", "kernel_size": 3}}}
    assert model_or_config_error({"data": D, "model": {"layers": layers, "blocks": blocks}}) is None


@pytest.mark.parametrize("sets", [["model=3", "model.layers.0.out_channels=2"], ["model.layers.--1.x=1"],
                                  ["model.layers.\u00b2.x=1"], ["name=&a [*a]"], ["model.blocks.blk=&a [*a]"],
                                  ["name=2001-13-45"], ["name=!!int 0x"], ["name=" + "[" * 600 + "]" * 600]])
def test_found_set_strings_are_config_errors(base_config, sets):
    assert model_or_config_error(path=base_config, overrides=sets) is None


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "model: {layers: &l [*l]}\n", "[" * 600 + "]" * 600,
                                  "? [a, b]\n: 1\n", "name: 2024-13-45\n",
                                  "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                                  + "".join(f"{x}: &{x} [{', '.join(['*' + y] * 10)}]\n"
                                            for y, x in zip("abcdef", "bcdefg"))])
def test_found_yaml_texts_are_config_errors(tmp_path, text):
    """Aliases that contain themselves or expand a billion-fold, nesting past PyYAML's recursion, list keys."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert model_or_config_error(path=path) is None


# --- values that pass the config check: they train, or end in one line that names a key -----------------

TRAINABLE = """\
name: fuzz
data: {dataset: shapes, channels: 1, image_size: 8, train_size: 12, val_size: 4, test_size: 4}
model:
  layers:
    - conv2d: {out_channels: 2, kernel_size: 3, padding: 1}
    - relu
    - flatten
    - linear: num_classes
train: {epochs: 1, batch_size: 4, device: cpu, featuremap_every: 0}
"""
huge_floats = st.sampled_from([1e-300, 1e-8, 0.5, 0.999, 1.0, 1.5, 10.0, 1e6, 1e30, 3.5e38, 1e300, 1.7e308])
passing = {  # key -> values the config check accepts
    "train.lr": st.one_of(huge_floats, st.floats(0, 1e308)),
    "train.momentum": st.one_of(huge_floats, st.floats(0, 2)),
    "train.weight_decay": st.one_of(huge_floats, st.just(0.0)),
    "train.gamma": st.one_of(huge_floats, st.floats(0, 2)),
    "train.label_smoothing": st.floats(0, 1),
    "train.grad_clip": st.one_of(st.none(), huge_floats, st.just(0.0)),
    "train.optimizer": st.sampled_from(["sgd", "adam", "adamw", "adadelta", "rmsprop"]),
    "train.scheduler": st.sampled_from(["none", "step", "cosine", "onecycle", "plateau"]),
    "train.nesterov": st.booleans(),
    "train.epochs": st.integers(1, 3),
    "train.batch_size": st.sampled_from([1, 2, 5, 12, 10**9]),
    "train.eval_batch_size": st.sampled_from([1, 3, 10**12]),
    "train.warmup_epochs": st.sampled_from([0, 1, 5, 10**18]),
    "train.step_size": st.sampled_from([1, 2, 10**18]),
    "train.seed": st.sampled_from([0, 1, 2**32 - 1]),
    "train.early_stopping": st.sampled_from([None, 1, 10**9]),
    "train.monitor": st.sampled_from(["val_acc", "val_loss"]),
    "train.precision": st.sampled_from(["fp32", "bf16"]),
    "train.channels_last": st.sampled_from([None, True, False]),
    "train.featuremap_every": st.sampled_from([0, 1, 10**18]),
    "train.overfit_batches": st.sampled_from([0, 1, 10**9]),
    "train.accumulate": st.sampled_from([1, 2, 10**9]),
    "train.ema": st.sampled_from([None, 0.0, 0.5, 0.999, 1.0]),
    "train.class_weights": st.sampled_from([None, "balanced", [1e-300, 1e300, 1.0, 1.0, 1.0, 1.0]]),
    "train.plateau_patience": st.sampled_from([0, 1, 10**9]),
    "data.sampler": st.sampled_from(["shuffle", "balanced"]),
    "data.mean": st.sampled_from([None, [0.0], [1e300]]),
    "data.std": st.sampled_from([None, [1e-300], [1.0], [1e300]]),
    "train.histograms": st.booleans(),
    "data.augment.shift": st.sampled_from([0, 1, 3, 10**12]),
    "data.augment.crop": st.sampled_from([0, 2, 10**9]),
    "data.augment.flip": st.booleans(),
    "data.augment.rotation": st.sampled_from([0.0, 10.0, 180.0]),
}


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(chosen=st.lists(st.sampled_from(sorted(passing)), unique=True, min_size=1, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: passing[k] for k in keys})))
def test_values_that_pass_the_check_train_or_end_in_one_line_naming_a_key(tmp_path_factory, chosen):
    """What a fuzzer of --set strings cannot find: values that load, build and then fail in the first
    steps (train.lr=1e300 ended in a RuntimeError from inside the optimizer)."""
    from cnntrain.errors import CnntrainError, TrainingDiverged
    from cnntrain.run.train import train

    folder = tmp_path_factory.mktemp("trainable")
    (folder / "c.yaml").write_text(TRAINABLE)
    sets = [f"{key}={yaml.safe_dump(value, default_flow_style=True).splitlines()[0]}" for key, value in chosen.items()]
    try:
        train(folder / "c.yaml", overrides=sets, out=folder / "run")
    except CnntrainError as error:
        message = str(error)
        assert message.strip() and "\n" not in message, message
        if isinstance(error, TrainingDiverged):
            assert "train." in message, message  # which key to change


@pytest.mark.parametrize(("sets", "key"), [
    (["train.lr=1e300"], "train.lr=0.001"),  # a RuntimeError from inside Adam before it was fixed
    (["train.lr=1e300", "train.optimizer=sgd"], "train.lr=0.001"),
    (["train.weight_decay=1e300"], "train.weight_decay=0.0001"),
    (["train.scheduler=step", "train.gamma=1e300", "train.epochs=2"], "train.gamma=0.7"),
    (["train.optimizer=sgd", "train.momentum=1e30"], "train.momentum=0.9"),  # a NaN loss, blamed on train.lr
    (["train.optimizer=sgd", "train.nesterov=true", "train.momentum=0"], "train.momentum=0.9"),  # torch ValueError
    (["data.augment={shift: -3}"], "data.augment.shift"),  # a RuntimeError in the first augmented batch
    (["data.augment={shift: abc}"], "data.augment.shift"),  # a ValueError there
    (["data.augment={shfit: 2}"], "did you mean `shift`"),  # silently ignored
    (["train.seed=18446744073709551616"], "train.seed"),  # a ValueError from torch.manual_seed
])
def test_found_training_values_end_in_one_line_naming_the_key(tmp_path, cli, sets, key):
    (tmp_path / "c.yaml").write_text(TRAINABLE)
    args = [arg for s in sets for arg in ("--set", s)]
    code, _, err = cli("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "run", "--quiet", *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and key in err, err
