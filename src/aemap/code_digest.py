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

Snakemake reads the workflow for every call (each dry run, and on a cluster
each job), and reading the ~100 files' syntax trees takes about a second.
With a ``cache_dir`` (the workflow's: ``.snakemake/aemap/code-facts`` in
its working directory) what is read of a file is kept there under the
sha256 of its bytes, the Python version and this module's format: a file
whose bytes changed is read again, never served from the cache. Without
one, or where it cannot be written, files are read as before.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LAZY_EXPORTS = "_LAZY_EXPORTS"  # the name of a package's lazy export table (aemap.lazy)
# Part of every cache key: a file's facts as this Python and this module's version read them.
# Raise FACTS_FORMAT whenever _Facts or the way it is read from a syntax tree changes.
FACTS_FORMAT = 1
_CACHE_SALT = f"aemap.code_digest facts {FACTS_FORMAT} {sys.implementation.cache_tag} {sys.version}\n".encode()


@dataclass(frozen=True)
class _Facts:
    """What the digest needs of one source file, read once per version of it."""

    imports: tuple[tuple[int, str | None, tuple[str, ...]], ...]  # (level, module, names); `import a.b`: (0, a.b, ())
    strings: frozenset[str]  # every string constant
    fingerprint: str  # sha256 of the syntax tree without docstrings
    lazy_exports: tuple[tuple[str, str], ...]  # a package's (name, submodule) of aemap.lazy; () for none

    def to_json(self) -> str:
        return json.dumps(
            {
                "imports": [[level, module, list(names)] for level, module, names in self.imports],
                "strings": sorted(self.strings),
                "fingerprint": self.fingerprint,
                "lazy_exports": [list(pair) for pair in self.lazy_exports],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> _Facts:
        data = json.loads(text)
        return cls(
            tuple((int(level), module, tuple(names)) for level, module, names in data["imports"]),
            frozenset(data["strings"]),
            str(data["fingerprint"]),
            tuple((name, submodule) for name, submodule in data["lazy_exports"]),
        )


@functools.cache
def _facts_cached(path: Path, mtime_ns: int, size: int, cache_dir: Path | None) -> _Facts:
    source = path.read_bytes()
    if cache_dir is None:
        return _read_facts(source, path)
    stored = cache_dir / f"{hashlib.sha256(_CACHE_SALT + source).hexdigest()}.json"
    try:
        return _Facts.from_json(stored.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not there yet (or unreadable): read the file
    facts = _read_facts(source, path)
    # Atomically: another Snakemake (a cluster's jobs) may read it meanwhile.
    partial = stored.with_name(f".{stored.name}.{os.getpid()}.partial")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial.write_text(facts.to_json())
        os.replace(partial, stored)
    except OSError:  # a cache that cannot be written only costs time
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return facts


def _read_facts(source: bytes, path: Path) -> _Facts:
    tree = ast.parse(source, filename=str(path))
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


class PackageCode:
    """The modules of one package under ``root`` (the folder holding its
    ``__init__.py``), named from ``name`` (e.g. ``aemap``). Each module's file
    and what is read of it are looked up once per instance (the workflow's
    ~50 scripts share most modules): a process that edits the package
    afterwards needs a new instance."""

    def __init__(self, root: str | os.PathLike[str], name: str, cache_dir: str | os.PathLike[str] | None = None):
        self.root, self.name = Path(root), name
        self.cache_dir = Path(cache_dir).absolute() if cache_dir is not None else None
        if not (self.root / "__init__.py").is_file():
            raise FileNotFoundError(f"{self.root}: no __init__.py, not the package {name!r}")
        self._files: dict[str, Path | None] = {}
        self._read: dict[Path, _Facts] = {}

    def file_of(self, module: str) -> Path | None:
        """The source file of ``module`` if it is one of the package's, else None."""
        if module not in self._files:
            self._files[module] = self._find_file(module)
        return self._files[module]

    def _find_file(self, module: str) -> Path | None:
        parts = module.split(".")
        if parts[0] != self.name:
            return None
        base = self.root.joinpath(*parts[1:])
        for path in (base / "__init__.py", base.with_suffix(".py")):
            if path.is_file():
                return path
        return None

    def _facts(self, path: Path) -> _Facts:
        if path not in self._read:
            stat = path.stat()
            self._read[path] = _facts_cached(path.resolve(), stat.st_mtime_ns, stat.st_size, self.cache_dir)
        return self._read[path]

    def _is_package(self, module: str) -> bool:
        path = self.file_of(module)
        return path is not None and path.name == "__init__.py"

    def imports_of(self, path: Path, module: str | None) -> set[str]:
        """The package's modules the file ``path`` imports; ``module`` is its
        own name (None for a script outside the package), for relative imports."""
        found: set[str] = set()
        for level, name, names in self._facts(path).imports:
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
        return self._facts(self.file_of(module)).lazy_exports if self._is_package(module) else ()

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
            strings = self._facts(path).strings
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
            h.update(f"module {module} {self._facts(self.file_of(module)).fingerprint}\n".encode())
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
def package_code(name: str = "aemap", cache_dir: str | os.PathLike[str] | None = None) -> PackageCode:
    """The installed package ``name`` (where ``import name`` finds it); ``cache_dir``:
    where to keep what is read of each file (module docstring)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"no package {name!r} on this Python's path")
    return PackageCode(next(iter(spec.submodule_search_locations)), name, cache_dir)


def script_code_digest(
    script: str | os.PathLike[str], package: str = "aemap", cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """The digest of ``package``'s code that the workflow script ``script`` runs
    (the same with or without ``cache_dir``: module docstring)."""
    path = Path(script)
    if not path.is_file():
        raise FileNotFoundError(f"{script}: no such workflow script")
    return package_code(package, cache_dir).digest(path)
