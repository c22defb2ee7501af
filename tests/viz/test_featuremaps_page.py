"""Tests for the featuremaps page (templates/featuremaps.html): it opens from disk, with safe text and links."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from cnntrain.viz.page import write_page

STATS = {"min": -1.25, "max": 3.5, "mean": 0.123456, "std": 0.5, "sparsity": 0.4321}


class _Collector(HTMLParser):
    """Collects tags, link targets, element ids and text of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.links, self.ids, self.text = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href"):
                self.links.append(value)
            if key == "id":
                self.ids.add(value)

    def handle_data(self, data):
        self.text.append(data)


def _png(path: Path) -> str:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    return path.name


def _write_page(out_dir: Path) -> tuple[Path, str]:
    out_dir.mkdir()
    np.save(out_dir / "layer0.npy", np.zeros((2, 3, 3), np.float32))
    np.save(out_dir / "layer 1.npy", np.zeros((4,), np.float32))
    layers = [
        {
            "index": 0, "name": "conv1", "type": "Conv2d", "shape": [16, 28, 28],
            "stats": STATS, "grid": _png(out_dir / "layer0 grid.png"),
            "filters": _png(out_dir / "layer0_filters.png"), "npy": "layer0.npy",
        },
        {
            "index": 1, "name": "<script>alert(1)</script>", "type": "A&B", "shape": [4],
            "stats": STATS, "grid": _png(out_dir / "layer1.png"), "filters": None,
            "npy": "layer 1.npy",
        },
    ]
    path = write_page(
        out_dir / "index.html", "featuremaps.html", title='Feature maps of "net" <v2>',
        input_image=_png(out_dir / "input.png"), layers=layers,
    )
    return path, path.read_text(encoding="utf-8")


def test_every_link_is_relative_and_resolves_inside_out_dir(tmp_path):
    out_dir = tmp_path / "maps"
    path, page = _write_page(out_dir)
    assert path == out_dir / "index.html"
    parser = _Collector()
    parser.feed(page)
    files = [link for link in parser.links if not link.startswith("#")]
    assert len(files) == 6  # input, 2 grids, 1 filters, 2 .npy
    for link in files:
        url = urlparse(link)
        assert not url.scheme and not url.netloc and not link.startswith("/"), link
        target = (out_dir / unquote(url.path)).resolve()
        assert target.is_file(), link
        assert target.is_relative_to(out_dir.resolve()), link
    for link in parser.links:
        if link.startswith("#"):
            assert link[1:] in parser.ids


def test_page_is_self_contained(tmp_path):
    _, page = _write_page(tmp_path / "maps")
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert parser.tags.count("img") == 4
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [
        "index.html", "input.png", "layer 1.npy", "layer0 grid.png", "layer0.npy",
        "layer0_filters.png", "layer1.png",
    ]  # no temporary file left behind


def test_text_is_escaped(tmp_path):
    _, page = _write_page(tmp_path / "maps")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A&amp;B" in page and "&lt;v2&gt;" in page
    parser = _Collector()
    parser.feed(page)
    text = "".join(parser.text)
    assert "#1 <script>alert(1)</script> (A&B)" in text  # the heading, read back as text
    assert "#0 conv1 (Conv2d)" in text


def test_shape_and_stats_are_shown(tmp_path):
    _, page = _write_page(tmp_path / "maps")
    assert "16 x 28 x 28" in page
    assert "min -1.25" in page and "mean 0.123" in page and "43.2%" in page


@pytest.mark.parametrize("bad", ["/etc/passwd", "http://example.com/x.png", "../x.png"])
def test_non_relative_file_names_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        write_page(tmp_path / "index.html", "featuremaps.html", title="t", input_image=bad, layers=[])
    assert not (tmp_path / "index.html").exists()


def test_captions_say_tiles_for_maps_and_bars_for_one_value_each(tmp_path):
    _, page = _write_page(tmp_path / "maps")
    assert page.count("one tile per channel") == 1  # conv1's 16 x 28 x 28 maps
    assert page.count("one bar per feature") == 1  # the [4] vector
    pooled = write_page(tmp_path / "pooled.html", "featuremaps.html", title="t", input_image=None, layers=[
        {"index": 0, "name": "pool", "type": "AdaptiveMaxPool2d", "shape": [32, 1, 1], "stats": STATS,
         "grid": "pool.png", "filters": None, "npy": "pool.npy"}]).read_text(encoding="utf-8")
    assert "one bar per channel" in pooled and "one tile per channel" not in pooled
