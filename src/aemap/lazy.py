"""Lazy package exports (PEP 562).

A subpackage's ``__init__`` names what it exports and the submodule that
defines each name, in a literal dict ``_LAZY_EXPORTS``; a name's submodule is
imported on first use. So ``import aemap.explain.saliency`` runs that module
and no sibling, and ``aemap.code_digest`` (which reads the dict statically)
counts, for ``from aemap.explain import saliency_maps``, the one submodule
that defines it: a change in a sibling reruns no job that never runs it.

In the package's ``__init__.py``::

    from aemap.lazy import lazy_exports

    _LAZY_EXPORTS = {"saliency_maps": "saliency", ...}  # name -> submodule
    __all__ = sorted(_LAZY_EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``exports`` (name ->
    submodule of ``package`` that defines it). A resolved name is cached in the
    package's namespace, so each costs one import. A name may not be that of
    its submodule: importing the submodule binds its name in the package to the
    module, which would hide the export."""
    clashes = sorted(name for name, submodule in exports.items() if name == submodule)
    if clashes:
        raise ValueError(f"{package}: lazy exports named like their submodule: {clashes} (import them from it)")

    def __getattr__(name: str) -> Any:
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
