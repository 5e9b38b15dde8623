"""Which package code a workflow script runs, as one digest.

Snakemake reruns a job when its rule's script changes (its ``code``
trigger), but a script is a few lines calling ``aemap``: a fix in the
package itself would leave every result it touches stale. The workflow
therefore gives each rule a parameter, the digest of the package modules its
script imports, so that Snakemake's ``params`` trigger reruns exactly the
jobs whose code changed, and their downstream jobs.

What counts as the code a script runs, found statically (nothing is
imported):

* every ``aemap`` module the script imports, and every module those import,
  transitively (imports inside functions and ``TYPE_CHECKING`` blocks too:
  better a needless rerun than a stale result);
* the packages above each such module (importing ``aemap.a.b`` runs
  ``aemap/__init__.py`` and ``aemap/a/__init__.py``, and what they import:
  a subpackage whose ``__init__`` imports its modules makes them all count);
* for a package with lazy exports (``aemap.lazy``: a literal dict
  ``_LAZY_EXPORTS`` of name -> submodule in its ``__init__``), the submodule
  of each name imported from it (``from aemap.explain import saliency_maps``
  counts ``aemap.explain.saliency`` alone), and all of them where the
  package itself is imported as a module object (``import aemap.explain``,
  ``from aemap import explain``: any of its names may then be used);
* data files beside a module whose file name the module spells out as a
  string (``claims.yaml`` in ``aemap.replication``).

Each module counts by its syntax tree without docstrings, so comments,
docstrings and formatting change nothing; any other change (a log message
included) does. The tree's form depends on the Python version: a new Python
reruns everything once.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LAZY_EXPORTS = "_LAZY_EXPORTS"  # the name of a package's lazy export table (aemap.lazy)


@dataclass(frozen=True)
class _Facts:
    """What the digest needs of one source file, read once per version of it."""

    imports: tuple[tuple[int, str | None, tuple[str, ...]], ...]  # (level, module, names); `import a.b`: (0, a.b, ())
    strings: frozenset[str]  # every string constant
    fingerprint: str  # sha256 of the syntax tree without docstrings
    lazy_exports: tuple[tuple[str, str], ...]  # a package's (name, submodule) of aemap.lazy; () for none


@functools.cache
def _facts_cached(path: Path, mtime_ns: int, size: int) -> _Facts:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    imports: list[tuple[int, str | None, tuple[str, ...]]] = []
    strings: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend((0, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.append((node.level, node.module, tuple(a.name for a in node.names if a.name != "*")))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    fingerprint = hashlib.sha256(ast.dump(_without_docstrings(tree)).encode()).hexdigest()
    return _Facts(tuple(imports), frozenset(strings), fingerprint, _lazy_exports(tree, path))


def _lazy_exports(tree: ast.Module, path: Path) -> tuple[tuple[str, str], ...]:
    """The module-level ``_LAZY_EXPORTS = {...}`` of ``tree`` as (name, submodule) pairs."""
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == LAZY_EXPORTS for t in targets):
            try:
                table = ast.literal_eval(node.value)
            except ValueError:
                table = None
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in table.items()
            ):
                raise ValueError(
                    f"{path}:{node.lineno}: {LAZY_EXPORTS} must be a literal dict of names to submodule names "
                    "(aemap.code_digest reads it without running the module)"
                )
            return tuple(sorted(table.items()))
    return ()


def _facts(path: Path) -> _Facts:
    stat = path.stat()
    return _facts_cached(path.resolve(), stat.st_mtime_ns, stat.st_size)


class PackageCode:
    """The modules of one package under ``root`` (the folder holding its
    ``__init__.py``), named from ``name`` (e.g. ``aemap``)."""

    def __init__(self, root: str | os.PathLike[str], name: str):
        self.root, self.name = Path(root), name
        if not (self.root / "__init__.py").is_file():
            raise FileNotFoundError(f"{self.root}: no __init__.py, not the package {name!r}")

    def file_of(self, module: str) -> Path | None:
        """The source file of ``module`` if it is one of the package's, else None."""
        parts = module.split(".")
        if parts[0] != self.name:
            return None
        base = self.root.joinpath(*parts[1:])
        for path in (base / "__init__.py", base.with_suffix(".py")):
            if path.is_file():
                return path
        return None

    def _is_package(self, module: str) -> bool:
        path = self.file_of(module)
        return path is not None and path.name == "__init__.py"

    def imports_of(self, path: Path, module: str | None) -> set[str]:
        """The package's modules the file ``path`` imports; ``module`` is its
        own name (None for a script outside the package), for relative imports."""
        found: set[str] = set()
        for level, name, names in _facts(path).imports:
            base = self._absolute(level, name, module)
            if base is None or self.file_of(base) is None:
                continue
            found.add(base)
            if not names:  # `import pkg` (or `from pkg import *`): the module object, any of its names
                found.update(self._lazy_modules(base))
                continue
            lazy = dict(self._lazy_table(base))
            for n in names:
                sub = f"{base}.{n}"
                if self.file_of(sub) is not None:  # `from pkg import submodule`: that module object
                    found.add(sub)
                    found.update(self._lazy_modules(sub))
                elif n in lazy:  # `from pkg import name` of a lazy export: the submodule defining it
                    found.add(f"{base}.{lazy[n]}")
        return {m for m in found if self.file_of(m) is not None}

    def _lazy_table(self, module: str) -> tuple[tuple[str, str], ...]:
        return _facts(self.file_of(module)).lazy_exports if self._is_package(module) else ()

    def _lazy_modules(self, package: str) -> set[str]:
        """Every submodule behind ``package``'s lazy exports."""
        return {f"{package}.{submodule}" for _, submodule in self._lazy_table(package)}

    def _absolute(self, level: int, name: str | None, module: str | None) -> str | None:
        if level == 0:
            return name
        if module is None:
            return None
        package = module if self._is_package(module) else module.rpartition(".")[0]
        parts = package.split(".")
        if level - 1 >= len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
        return ".".join(parts + ([name] if name else []))

    def closure(self, script: str | os.PathLike[str]) -> list[str]:
        """Every module of the package that running ``script`` imports, sorted."""
        todo = sorted(self.imports_of(Path(script), None))
        seen: set[str] = set()
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            parts = module.split(".")
            parents = {".".join(parts[:i]) for i in range(1, len(parts))}
            todo.extend(sorted((parents | self.imports_of(self.file_of(module), module)) - seen))
        return sorted(seen)

    def data_files(self, modules: Iterable[str]) -> list[Path]:
        """Files beside the modules (not Python, not caches) whose names they spell out."""
        found: set[Path] = set()
        for module in modules:
            path = self.file_of(module)
            strings = _facts(path).strings
            for candidate in path.parent.iterdir():
                if candidate.is_file() and candidate.suffix not in {".py", ".pyc"} and candidate.name in strings:
                    found.add(candidate)
        return sorted(found)

    def digest(self, script: str | os.PathLike[str]) -> str:
        """sha256 (first 16 hex digits) of the code ``script`` runs, independent of
        where the package lies and of docstrings, comments and formatting."""
        modules = self.closure(script)
        h = hashlib.sha256()
        for module in modules:
            h.update(f"module {module} {_facts(self.file_of(module)).fingerprint}\n".encode())
        for path in self.data_files(modules):
            h.update(f"\nfile {path.relative_to(self.root).as_posix()}\n".encode())
            h.update(path.read_bytes())
        return h.hexdigest()[:16]


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0].value if node.body and isinstance(node.body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


@functools.cache
def package_code(name: str = "aemap") -> PackageCode:
    """The installed package ``name`` (where ``import name`` finds it)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"no package {name!r} on this Python's path")
    return PackageCode(next(iter(spec.submodule_search_locations)), name)


def script_code_digest(script: str | os.PathLike[str], package: str = "aemap") -> str:
    """The digest of ``package``'s code that the workflow script ``script`` runs."""
    path = Path(script)
    if not path.is_file():
        raise FileNotFoundError(f"{script}: no such workflow script")
    return package_code(package).digest(path)
