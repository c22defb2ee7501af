"""What the HTML pages (report.html, compare.html) share: one template per page with its data embedded
as JSON, the shared stylesheet, and a small YAML highlighter.

A page is data + template: `render_page` puts the stylesheet and the JSON into the template, and the
template's script builds the page from the JSON with textContent, so text from user files (class names,
paths, config values) is never parsed as HTML. The one piece inserted as HTML, the highlighted config,
is escaped here. Nothing is fetched: no CDN, no fonts, no network.
"""

from __future__ import annotations

import html
import json
import math
import re
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from cnntrain.atomic import atomic_write_text

# JSON inside <script> ends at the first "</script>": < > & become \u escapes, which JSON.parse reads back.
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def template_text(name: str) -> str:
    """A file of viz/templates (package data: present in a wheel install too)."""
    return resources.files("cnntrain.viz").joinpath("templates", name).read_text(encoding="utf-8")


def script_json(data) -> str:
    """`data` as JSON safe inside <script type="application/json">; NaN and infinities become null."""
    text = json.dumps(_finite(data), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_ESCAPES[m.group()], text)


def escape(text: object) -> str:
    """Text from a user's files (class names, paths, layer names) as HTML that shows it as written."""
    return html.escape(str(text), quote=True)


def relative_url(file_name: str) -> str:
    """A file name relative to the page as a percent-encoded, attribute-safe URL.

    Absolute paths, URLs and `..` would break the page once its folder moves, so they are
    refused rather than written.
    """
    path = PurePosixPath(str(file_name).replace("\\", "/"))
    if path.is_absolute() or ":" in str(file_name) or ".." in path.parts:
        raise ValueError(f"expected a file name relative to the page, got {file_name!r}")
    return escape(quote(path.as_posix()))


def render_page(template: str, data: dict) -> str:
    page = template_text(template)
    return page.replace("/*PAGE_CSS*/", template_text("page.css")).replace("__PAGE_DATA__", script_json(data))


def write_page(path: Path, template: str, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_page(template, data))
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
