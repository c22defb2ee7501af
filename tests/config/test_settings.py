"""settings.py: the typed, frozen sections match keys.py's table (keys, order, types, defaults), a misspelt
or assigned key fails where it is written, and `Config.to_dict` is the plain data config.yaml and
checkpoints held before the sections were objects."""

from __future__ import annotations

import dataclasses
import pickle
import types
import typing
from pathlib import Path

import pytest
import yaml

from cnntrain.config import Config, DataSettings, ModelSettings, TrainSettings, load_config
from cnntrain.config.keys import KEYS, SECTIONS, validate_section
from cnntrain.config.loader import config_from_dict, parse_yaml
from cnntrain.config.settings import SETTINGS

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_every_section_has_its_class():
    assert list(SETTINGS) == list(SECTIONS)
    assert (SETTINGS["data"], SETTINGS["model"], SETTINGS["train"]) == (DataSettings, ModelSettings, TrainSettings)


@pytest.mark.parametrize("section", SECTIONS)
def test_fields_are_the_table_keys_in_its_order(section):
    assert [f.name for f in dataclasses.fields(SETTINGS[section])] == list(KEYS[section])


def runtime_types(annotation) -> set:
    """`int | list[int] | None` -> {int, list, NoneType}: what a value of that annotation may be."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return set().union(*(runtime_types(a) for a in typing.get_args(annotation)))
    return {typing.get_origin(annotation) or annotation}


@pytest.mark.parametrize("section", SECTIONS)
def test_annotations_name_the_table_types(section):
    hints = typing.get_type_hints(SETTINGS[section])
    for key, spec in KEYS[section].items():
        assert runtime_types(hints[key]) == set(spec.types), key


@pytest.mark.parametrize("section", SECTIONS)
def test_defaults_are_the_table_defaults(section):
    made, again = SETTINGS[section](), SETTINGS[section]()
    for key, spec in KEYS[section].items():
        assert getattr(made, key) == spec.default, key
        if isinstance(spec.default, (list, dict)):  # each object its own copy, never the table's
            assert getattr(made, key) is not spec.default and getattr(made, key) is not getattr(again, key)


def test_the_loaded_config_holds_settings_objects():
    config = load_config(CONFIGS[0])
    assert (type(config.data), type(config.model), type(config.train)) == (DataSettings, ModelSettings, TrainSettings)


def test_a_misspelt_key_is_an_attribute_error():
    config = load_config(CONFIGS[0])
    with pytest.raises(AttributeError, match="lrr"):
        config.train.lrr  # noqa: B018
    with pytest.raises(TypeError, match="lrr"):
        TrainSettings(lrr=0.1)
    with pytest.raises(TypeError):
        config.train["lr"]  # noqa: B018 - the old way of reading fails at once, too


def test_sections_and_the_config_are_frozen():
    config = load_config(CONFIGS[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lr = 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.data = DataSettings()
    with pytest.raises((AttributeError, TypeError)):  # slots: no new attribute either
        config.train.lrr = 0.1


def plain(value) -> bool:
    """Only what yaml.safe_dump and a weights_only torch.load take: no tuple, no dataclass."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_to_dict_is_the_plain_data_it_always_was(path):
    """The dicts validate_section gives are what config.yaml and checkpoints held before sections were
    objects: to_dict gives the same, in the same order, and it reads back to the same bytes."""
    config = load_config(path)
    raw = parse_yaml(path.read_text(), str(path))
    before = {"name": config.name, **{s: validate_section(s, raw.get(s) or {}, str(path), {}) for s in SECTIONS}}
    written = config.to_dict()
    assert plain(written)
    assert pickle.dumps(written) == pickle.dumps(before)  # types and key order too: what torch.save writes
    for sort_keys in (True, False):
        text = yaml.safe_dump(written, sort_keys=sort_keys)
        assert text == yaml.safe_dump(before, sort_keys=sort_keys)
        assert yaml.safe_dump(config_from_dict(yaml.safe_load(text)).to_dict(), sort_keys=sort_keys) == text


def test_to_dict_is_a_copy():
    config = load_config(CONFIGS[0])
    written = config.to_dict()
    written["model"]["layers"].clear()
    written["train"]["lr"] = 99.0
    assert config.model.layers and config.train.lr != 99.0


def test_replace_leaves_the_original_untouched():
    config = load_config(CONFIGS[0])
    before = yaml.safe_dump(config.to_dict())
    changed = config.replace(train={"epochs": 1, "lr": 0.5}, data={"augment": {"flip": True}})
    assert isinstance(changed, Config) and changed is not config
    assert (changed.train.epochs, changed.train.lr, changed.data.augment) == (1, 0.5, {"flip": True})
    assert changed.train.batch_size == config.train.batch_size and changed.source == config.source
    changed.model.layers.append("relu")  # frozen is shallow: lists stay lists, but not shared ones
    assert yaml.safe_dump(config.to_dict()) == before
    with pytest.raises(TypeError, match="lrr"):
        config.replace(train={"lrr": 0.1})
