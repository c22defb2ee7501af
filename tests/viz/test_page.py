"""Tests for cnntrain.viz.page and the report page: escaped text, safe JSON, a YAML highlighter that
loses nothing, and hostile names shown literally in a real browser."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cnntrain.viz.page import highlight_yaml, render_page, script_json

HOSTILE = '</script><img src=x onerror="document.title=\'owned\'">&amp;'


def _plain(highlighted: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", highlighted))


@given(st.text())
def test_highlighting_keeps_every_character_and_adds_only_spans(text):
    out = highlight_yaml(text)
    assert _plain(out) == text
    assert set(re.findall(r"<(/?\w+)", out)) <= {"span", "/span"}


def test_highlighting_marks_keys_numbers_constants_and_comments():
    out = highlight_yaml("# head\ntrain:\n  lr: 0.001  # rate\n  compile: false\n  name: 'x'\n  - relu")
    assert '<span class="yc"># head</span>' in out
    assert '<span class="yk">lr</span>' in out and '<span class="yn">0.001</span>' in out
    assert '<span class="yc">  # rate</span>' in out and '<span class="yb">false</span>' in out
    assert '<span class="ys">&#x27;x&#x27;</span>' in out and '<span class="ys">relu</span>' in out


def _page_templates() -> list[str]:
    from importlib import resources

    folder = resources.files("cnntrain.viz") / "templates"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".html") and p.name != "base.html")


def test_every_page_is_a_template_on_the_one_base():
    """One folder, one layout: every page extends base.html, which inlines the one stylesheet and script."""
    from importlib import resources

    folder = resources.files("cnntrain.viz") / "templates"
    assert {"report.html", "compare.html", "explore.html", "featuremaps.html", "explain.html"} <= set(_page_templates())
    for name in _page_templates():
        assert folder.joinpath(name).read_text("utf-8").startswith('{% extends "base.html" %}'), name


def test_scripted_pages_share_one_set_of_helpers_and_cannot_be_broken_out_of():
    """The data of a scripted page (report, compare, explore) is JSON that no string can end; the helpers
    are defined once, from page.js, never again by a page (they drifted when each page had its own)."""
    for name in ("report.html", "compare.html", "explore.html"):
        page = render_page(name, title=HOSTILE, data={"classes": [HOSTILE]})
        assert "</script><img" not in page and "<img src=x" not in page, name
        assert page.count("</script>") == 2, name  # the data's and the script's own
        head, data = re.search(r'<script type="application/json" id="(\w+)-data">(.*?)</script>', page, re.S).groups()
        assert head == name.removesuffix(".html") and json.loads(data) == {"classes": [HOSTILE]}
        for helper in ("function el(", "const pct ", "const grouped ", "const fixed "):
            assert page.count(helper) == 1, (name, helper)


def test_pages_without_data_have_no_script_and_escape_their_text():
    page = render_page("explain.html", title=HOSTILE, checkpoint=HOSTILE, items=[])
    assert "<script" not in page and "<img" not in page and "&lt;/script&gt;&lt;img src=x" in page


def test_script_json_cannot_end_the_script_and_reads_back():
    data = {"name": HOSTILE, "nan": float("nan"), "line": "a\u2028b"}
    text = script_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": HOSTILE, "nan": None, "line": "a\u2028b"}


def test_hostile_names_stay_text_in_the_report(tmp_path, page):
    """A config, run folder and class names built to break out of the page are shown as written."""
    from cnntrain.run.report import TestOutcome, test_section, write_report
    from cnntrain.run.rundir import RunDir

    run = RunDir(tmp_path / "<b>run&amp; #1")
    run.path.mkdir()
    run.config.write_text(yaml.safe_dump({"name": HOSTILE, "data": {"dataset": "shapes", "image_size": 8},
                                          "model": {"layers": ["flatten", {"linear": {"out_features": 2}}]}}))
    classes = [HOSTILE, "a&b"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    outcome = TestOutcome("test", classes, np.array([1, 1, 0]), probs, np.zeros((3, 1, 8, 8), np.uint8), 1)
    write_report(run, test=test_section(run, outcome), finished=True)
    page.open(run.path / "report.html")
    driver = page.driver
    assert page.console_errors() == [] and page.network_urls() == [] and page.broken_images() == []
    assert driver.title.startswith(HOSTILE)  # set as text, so the onerror never ran
    assert driver.find_element("id", "title").text == HOSTILE
    assert driver.find_element("id", "where").text.startswith(str(run.path))
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    assert HOSTILE in driver.find_element("css selector", "pre.yaml").text
    headers = driver.execute_script("return [...document.getElementById('confusion').rows[0].cells]"
                                    ".map(c => c.textContent)")
    assert headers[1:] == classes
