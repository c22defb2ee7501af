"""The README answers before an error has to: how to shrink the built-in data, how to lay out an image
folder, where its cache goes; and every `data.*` key it names is a real one."""

from __future__ import annotations

import re

from cnntrain.config.keys import DEFAULTS
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_data_key_the_readme_names_exists():
    named = set(re.findall(r"\bdata\.(\w+)", README))
    assert {"train_size", "val_size", "test_size", "cache_dir"} <= named
    assert named <= set(DEFAULTS["data"]), named - set(DEFAULTS["data"])


def test_the_readme_shows_how_to_shrink_the_data_and_lay_out_a_folder():
    assert "--set data.train_size=" in README
    assert "<class>/<image>.png" in README and "train/" in README and "val/" in README
    assert ".cnntrain-cache" in README and "data.cache_dir" in README
