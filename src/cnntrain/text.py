"""How shapes read in messages, tables and pages: one formatter for the whole tool."""

from __future__ import annotations

SPACED = " x "  # tables and pages: "32 x 4 x 4"; messages keep "32x4x4"


def shape_text(shape, sep: str = "x") -> str:
    """(32, 4, 4) -> '32x4x4' (messages); sep=' x ' for tables and pages. An unknown size is '?'."""
    return sep.join("?" if s is None else str(int(s)) for s in shape)


def compact_text(values, sep: str = "x") -> str:
    """(7, 7) -> '7', (3, 5) -> '3x5': one number when every dimension agrees; None is '-'."""
    if values is None:
        return "-"
    values = tuple(values)
    return str(values[0]) if len(set(values)) == 1 else shape_text(values, sep)
