"""The domains kasoku serves (listening, racing).

A domain may contribute settings sections: a ``settings`` module in its package with
``SECTIONS`` (section name -> pydantic model). ``kasoku.config`` adds every section it finds to
the settings model, so adding a domain never edits a central list of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from pydantic import BaseModel


def settings_sections() -> dict[str, type[BaseModel]]:
    """Every domain's settings sections, by section name (a name used twice is an error)."""
    found: dict[str, type[BaseModel]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module_name = f"{__name__}.{info.name}.settings"
        if not info.ispkg or importlib.util.find_spec(module_name) is None:
            continue
        for name, model in importlib.import_module(module_name).SECTIONS.items():
            if name in found:
                raise RuntimeError(f"settings section {name!r} is contributed twice ({module_name})")
            found[name] = model
    return found
