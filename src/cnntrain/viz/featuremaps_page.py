"""A self-contained HTML page for one `cnntrain featuremaps` run.

The page must open straight from disk (file://) and keep working when its folder is moved or
zipped, so it uses relative links only, inline CSS, no JavaScript and no external assets.
Every piece of text comes from the user's config (layer names, titles) and is escaped.
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.atomic import atomic_write_text
from cnntrain.text import SPACED, shape_text
from cnntrain.viz.page import escape, relative_url

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fafafa; }
h1 { margin-top: 0; }
nav { line-height: 1.8; }
nav a { margin-right: 0.8rem; white-space: nowrap; }
section { border-top: 1px solid #ccc; padding-top: 0.5rem; margin-top: 1.5rem; }
h2 .type { color: #666; font-weight: normal; }
.meta { font-family: ui-monospace, monospace; font-size: 0.9rem; }
.meta .shape { font-weight: bold; margin-right: 1rem; }
figure { display: inline-block; margin: 0 1.5rem 1rem 0; vertical-align: top; }
figcaption { color: #666; font-size: 0.85rem; }
/* pixelated: feature maps are blocky on purpose, smoothing would invent detail */
img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #ddd; }
"""


def write_featuremaps_html(
    out_dir: Path, *, title: str, input_image: str, layers: list[dict]
) -> Path:
    """Write `out_dir/index.html` showing the input image and, per layer, its feature-map
    grid, filters (if any), shape, statistics and a link to the raw `.npy` activations.

    File names in `input_image` and the layer dicts are relative to `out_dir`.
    """
    out_dir = Path(out_dir)
    body = [
        f"<h1>{escape(title)}</h1>",
        _nav(layers),
        '<section class="input"><h2>Input</h2>',
        _figure(input_image, "input image", "the image fed to the network"),
        "</section>",
        *(_layer_section(layer) for layer in layers),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    return path


def _layer_section(layer: dict) -> str:
    """One layer: heading, shape and stats, grid and filter pictures, link to the .npy."""
    index = int(layer["index"])
    name = layer["name"]
    parts = [
        f'<section class="layer" id="layer-{index}">',
        f'<h2>#{index} {escape(name)} <span class="type">({escape(layer["type"])})</span></h2>',
        f'<p class="meta"><span class="shape">{escape(shape_text(layer["shape"], SPACED))}</span>'
        f"{escape(_stats(layer['stats']))}</p>",
        _figure(layer["grid"], f"feature maps of {name}", "feature maps, one tile per channel"),
    ]
    if layer.get("filters"):
        parts.append(_figure(layer["filters"], f"filters of {name}", "filters (weights)"))
    npy = layer["npy"]
    parts.append(f'<p><a href="{relative_url(npy)}">raw activations: {escape(npy)}</a> (numpy .npy)</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _nav(layers: list[dict]) -> str:
    """Jump links to every layer: long networks make a long page."""
    links = (
        f'<a href="#layer-{int(layer["index"])}">#{int(layer["index"])} {escape(layer["name"])}</a>'
        for layer in layers
    )
    return "<nav>" + " ".join(links) + "</nav>"


def _figure(file_name: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{relative_url(file_name)}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _stats(stats: dict) -> str:
    """Compact numbers: 3 significant digits, sparsity as a percentage of zeros."""
    numbers = " · ".join(f"{key} {float(stats[key]):.3g}" for key in ("min", "max", "mean", "std"))
    return f"{numbers} · sparsity {100 * float(stats['sparsity']):.1f}% zeros"
