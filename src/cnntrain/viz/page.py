"""Every HTML page cnntrain writes (report, compare, explore, featuremaps, explain) comes from here:
one renderer, `write_page`, and one folder of Jinja2 templates, viz/templates/.

Each page is a template that extends `base.html`, which inlines the one shared stylesheet (`page.css`)
and, for pages built by a script, the page's data as JSON and the one shared script (`page.js`: `el`,
`pct`, `grouped`, `fixed`) before the page's own. Pages are single files that open from disk: nothing is
fetched (no CDN, no fonts, no network). Text from user files (class names, paths, layer names) is
escaped by Jinja2's autoescape or, in scripts, set with textContent; the JSON is escaped so that no
string in it can end its <script>. The one piece of HTML in the data, the highlighted config, is
escaped here.

To add a page: a template in viz/templates/ (`{% extends "base.html" %}`) and one `write_page` call.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from cnntrain.atomic import atomic_write_text
from cnntrain.text import SPACED, shape_text

# JSON inside <script> ends at the first "</script>": < > & become \u escapes, which JSON.parse reads back.
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(data) -> str:
    """`data` as JSON safe inside <script type="application/json">; NaN and infinities become null."""
    text = json.dumps(_finite(data), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_ESCAPES[m.group()], text)


def relative_url(file_name: str) -> str:
    """A file name relative to the page as a percent-encoded URL (no HTML special characters left).

    Absolute paths, URLs and `..` would break the page once its folder moves, so they are
    refused rather than written.
    """
    path = PurePosixPath(str(file_name).replace("\\", "/"))
    if path.is_absolute() or ":" in str(file_name) or ".." in path.parts:
        raise ValueError(f"expected a file name relative to the page, got {file_name!r}")
    return quote(path.as_posix())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        # package data, so a wheel install finds the templates too
        loader=jinja2.PackageLoader("cnntrain.viz", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters.update(script_json=lambda data: Markup(script_json(data)), url=relative_url,
                       shape=lambda shape: shape_text(shape, SPACED))
    # Our own CSS and JavaScript, inlined as written: read as text, not parsed as templates.
    env.globals["asset"] = lambda name: Markup(env.loader.get_source(env, name)[0])
    return env


_ENV = _environment()


def render_page(template: str, **context) -> str:
    """The page `template` (a file of viz/templates) filled with `context`; `data=` is embedded as JSON
    for the page's script."""
    return _ENV.get_template(template).render(page=template.removesuffix(".html"), **context)


def write_page(path: Path, template: str, **context) -> Path:
    """Render the page and write it to `path`, atomically; nothing is written if rendering fails."""
    page = render_page(template, **context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --- YAML, highlighted -------------------------------------------------------------------------

# One line of block YAML: indent, an optional list dash, an optional `key:`, the value, a comment.
_LINE = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?:(?P<key>[^\s#'\"{\[][^:#]*?|'[^']*'|\"[^\"]*\"):(?=\s|$))?"
                   r"(?P<rest>.*)$")
_SCALAR = re.compile(r"^(?P<value>.*?)(?P<comment>\s+#.*)?$")
_NUMBER = re.compile(r"^[-+]?(\d[\d_]*\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|\.inf|\.nan)$")
_CONSTANT = re.compile(r"^(true|false|null|~|True|False|Null|NULL|TRUE|FALSE)$")


def highlight_yaml(text: str) -> str:
    """YAML text as HTML: keys, numbers, constants, strings and comments in spans, everything escaped.
    Stripping the tags and unescaping gives `text` back exactly (tests hold it to that)."""
    return "\n".join(_highlight_line(line) for line in text.split("\n"))


def _highlight_line(line: str) -> str:
    if line.lstrip().startswith("#"):
        return _span("c", line)
    m = _LINE.match(line)
    out = [html.escape(m["indent"])]
    if m["dash"]:
        out.append(_span("p", m["dash"]))
    if m["key"] is not None:
        out += [_span("k", m["key"]), _span("p", ":")]
    scalar = _SCALAR.match(m["rest"])
    value, comment = scalar["value"], scalar["comment"] or ""
    core = value.strip()
    lead = value[: len(value) - len(value.lstrip())]
    trail = value[len(lead) + len(core):]
    kind = "n" if _NUMBER.match(core) else "b" if _CONSTANT.match(core) else "p" if core in "{}[]" else "s"
    out += [html.escape(lead), _span(kind, core) if core else "", html.escape(trail)]
    if comment:
        out.append(_span("c", comment))
    return "".join(out)


def _span(kind: str, text: str) -> str:
    return f'<span class="y{kind}">{html.escape(text)}</span>'
