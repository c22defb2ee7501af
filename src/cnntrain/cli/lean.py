"""Typer's rich help without the parts cnntrain's help never shows, and without a type for flags.

Typer 0.2x shows every option's type, flags too (`--json <bool>`), which reads as if `--json true`
were the way to give one (click refuses it): `untyped_flags` makes a flag show no type.

`typer.rich_utils`, which draws the help, imports `rich.markdown` (markdown_it, pygments) and
`rich.traceback` at its top, for `rich_markup_mode="markdown"` and pretty tracebacks: cnntrain uses
neither, and the two cost a third of `cnntrain --help`'s imports. So rich_utils is imported here
once with stand-ins for those two names; a stand-in imports the real class the first time anything
calls it or reads an attribute from it, so nothing is lost, only deferred.
"""

from __future__ import annotations

import importlib
import sys
import types

# module -> the names typer.rich_utils takes from it
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


class _Deferred(type):
    """A class standing in for `module.name`: calling it, reading from it or isinstance against it
    imports the real one."""

    def real(cls) -> type:
        return getattr(importlib.import_module(cls._module), cls.__name__)

    def __call__(cls, *args, **kwargs):
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str):
        return getattr(cls.real(), name)

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, cls.real())


def untyped_flags() -> None:
    """Flags (given means on: --json, --quiet, --help) show no `<bool>` in the help, and an argument with a
    metavar (`IMAGES...`) no `<list[Path]>` beside it: its name says it."""
    from typer.core import TyperArgument, TyperOption

    for cls in (TyperOption, TyperArgument):
        shown = getattr(cls, "display_type_rich", None)
        if shown is not None and not getattr(shown, "untyped", False):  # an older Typer shows no types
            cls.display_type_rich = _untyped(shown)


def _untyped(shown):
    def display_type_rich(self, ctx):
        flag = getattr(self, "is_flag", False) and not getattr(self, "count", False)
        named = self.param_type_name == "argument" and self.metavar is not None
        return None if flag or named else shown(self, ctx)

    display_type_rich.untyped = True
    return display_type_rich


def import_rich_help() -> None:
    """Import typer.rich_utils with stand-ins for DEFERRED; a no-op once anything has imported it."""
    untyped_flags()
    if "typer.rich_utils" in sys.modules:
        return
    stubs = {}
    for module, names in DEFERRED.items():
        if module in sys.modules:
            continue  # the real one is loaded already: nothing to save
        stub = types.ModuleType(module)
        for name in names:
            setattr(stub, name, _Deferred(name, (), {"_module": module}))
        stubs[module] = sys.modules[module] = stub
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for module, stub in stubs.items():
            if sys.modules.get(module) is stub:
                del sys.modules[module]  # a later `import rich.markdown` loads the real module
