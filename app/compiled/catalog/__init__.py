"""The types and root fields declared for compiled reads, one module per domain.

A domain's module adds its :class:`~app.compiled.spec.TypeSpec`\\ s to :data:`CATALOG`,
its root fields to ``app.compiled.roots.ROOTS`` and its ``node`` types to
``app.compiled.roots.NODES``. A new domain opts in by adding a module here and its name to
:data:`MODULES` (see ``README.md``, "Compiled reads").
"""

from __future__ import annotations

import importlib

from app.compiled.spec import Catalog

CATALOG = Catalog()

MODULES = (
    "app.compiled.catalog.common",
    "app.compiled.catalog.customers",
    "app.compiled.catalog.cases",
    "app.compiled.catalog.credits",
    "app.compiled.catalog.investors",
)

_loaded = False


def load() -> Catalog:
    """Import every declaration module once (lazily: they import the domains)."""
    global _loaded
    if not _loaded:
        for name in MODULES:
            importlib.import_module(name)
        _loaded = True
    return CATALOG
