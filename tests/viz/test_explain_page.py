"""Tests for the explain page (templates/explain.html): it opens from disk, loads its pictures, fetches
nothing and shows the user's file and class names as text."""

from __future__ import annotations

import pytest

from cnntrain.viz.page import write_page

HOSTILE = 'x <b>bold "q" & #1?'  # no slash: it is a file name


def test_user_text_is_escaped_and_links_encoded(tmp_path):
    item = {"path": f"in/{HOSTILE}.png", "predicted": "<script>alert(1)</script>", "probability": 0.5,
            "target": "a&b", "method": "gradcam", "layer": "<conv>", "picture": f"{HOSTILE}_gradcam.png",
            "npy": f"{HOSTILE}_gradcam.npy"}
    html = write_page(tmp_path / "index.html", "explain.html", title="<i>t</i>", checkpoint="<ckpt>",
                      items=[item]).read_text("utf-8")
    assert "<script>" not in html and "<b>bold" not in html and "<i>t" not in html and "<ckpt>" not in html
    assert "&lt;script&gt;" in html and "a&amp;b" in html and "at &lt;conv&gt;" in html
    assert 'src="x%20%3Cb%3Ebold%20%22q%22%20%26%20%231%3F_gradcam.png"' in html
    for bad in ("/etc/passwd", "../up.png", "http://example.com/x.png"):
        with pytest.raises(ValueError, match="relative to the page"):
            write_page(tmp_path / "index.html", "explain.html", title="t", checkpoint="c",
                       items=[{**item, "picture": bad}])


def test_the_page_in_a_browser(trained_run, tmp_path, page):
    """Real maps of an image whose name is hostile HTML: every picture loads, nothing is fetched, no errors,
    and the name reads as written."""
    import numpy as np
    from PIL import Image

    from cnntrain.tasks.explain import explain

    image = tmp_path / "in" / f"{HOSTILE}.png"
    image.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8)).save(image)
    (tmp_path / "in" / "plain.png").write_bytes(image.read_bytes())
    result = explain(trained_run.run_dir, [tmp_path / "in"], method="occlusion", out=tmp_path / "out")
    page.open(result.html)
    images = page.driver.execute_script("return [...document.images].map(i => i.naturalWidth)")
    assert len(images) == 2 and all(width > 100 for width in images)
    assert page.broken_images() == [] and page.console_errors() == [] and page.network_urls() == []
    headings = page.driver.execute_script("return [...document.querySelectorAll('h2')].map(h => h.textContent)")
    assert headings == [str(tmp_path / "in" / "plain.png"), str(image)]
