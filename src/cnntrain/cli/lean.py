"""Typer's rich help without the parts cnntrain's help never shows.

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


def import_rich_help() -> None:
    """Import typer.rich_utils with stand-ins for DEFERRED; a no-op once anything has imported it."""
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
