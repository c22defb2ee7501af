"""A self-contained HTML page for one `cnntrain explain` run: every input's heat map, on one page.

Like the feature-maps page it opens straight from disk and survives being moved or zipped: relative
links only, inline CSS, no JavaScript, nothing fetched. Every piece of text (file and class names,
the checkpoint's path) comes from the user and is escaped.
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.atomic import atomic_write_text
from cnntrain.viz.page import escape, relative_url

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fafafa; }
h1 { margin-top: 0; }
.note { color: #555; max-width: 60rem; }
section { border-top: 1px solid #ccc; padding-top: 0.5rem; margin-top: 1.2rem; }
h2 { font-size: 1.05rem; font-family: ui-monospace, monospace; word-break: break-all; }
.meta { font-size: 0.95rem; }
.meta b { margin-right: 0.2rem; }
.meta span { margin-right: 1.2rem; white-space: nowrap; }
.wrong { color: #b00020; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; background: white; }
"""

_NOTE = ("Bright (or red) is what pushed the model towards the class the map is for; each picture shows "
         "the input as the network read it, the heat map and the two overlaid. Raw maps: the .npy links "
         "(float32, at the input's resolution).")


def write_explain_html(out_dir: Path, *, title: str, checkpoint: str, items: list[dict]) -> Path:
    """Write `out_dir/index.html`. Each item has `path`, `predicted`, `probability`, `target`, `method`,
    `layer` (or None), `picture` and `npy` (file names relative to out_dir)."""
    out_dir = Path(out_dir)
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="note">checkpoint {escape(checkpoint)}. {escape(_NOTE)}</p>',
            *(_section(i, item) for i, item in enumerate(items))]
    page = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    return path


def _section(i: int, item: dict) -> str:
    differs = item["target"] != item["predicted"]
    target_class = ' class="wrong"' if differs else ""
    return "\n".join([
        f'<section id="input-{i}">',
        f"<h2>{escape(item['path'])}</h2>",
        f'<p class="meta"><span><b>predicted</b>{escape(item["predicted"])} ({100 * float(item["probability"]):.1f}%)'
        f'</span><span{target_class}><b>map for</b>{escape(item["target"])}</span>'
        f'<span><b>method</b>{escape(item["method"])}{_at(item.get("layer"))}</span>'
        f'<span><a href="{relative_url(item["npy"])}">{escape(item["npy"])}</a></span></p>',
        f'<img src="{relative_url(item["picture"])}" alt="heat map of {escape(item["path"])}">',
        "</section>",
    ])


def _at(layer) -> str:
    return f" at {escape(layer)}" if layer else ""
