"""The package code a workflow script runs (aemap.code_digest): which modules
count, and which edits change the digest that reruns a rule's jobs."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aemap.code_digest import PackageCode, _facts_cached, package_code, script_code_digest
from aemap.lazy import lazy_exports

from .conftest import REPO

FILES = {
    "pkg/__init__.py": '"""A package."""\n',
    "pkg/a.py": "from pkg.b import g\n\n\ndef f():\n    return g() + 1\n",
    "pkg/b.py": 'import json\n\nTABLE = "table.yaml"\n\n\ndef g():\n    return 2\n',
    "pkg/c.py": "def unused():\n    return 3\n",
    "pkg/table.yaml": "a: 1\n",
    "pkg/notes.yaml": "read by nobody\n",
    "pkg/sub/__init__.py": "from pkg.sub import d\n",
    "pkg/sub/d.py": "X = 4\n",
    # Relative imports, and one inside a function (it still counts).
    "pkg/sub/e.py": "from .d import X\nfrom ..b import g\n\n\ndef h():\n    from pkg import c\n\n    return X + g()\n",
    "pkg/sub/lonely.py": "Y = 5\n",
    "script.py": "import os\n\nfrom pkg.a import f\nimport pkg.sub.e\n\nprint(f(), pkg.sub.e.h(), os.sep)\n",
}


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_files(tmp_path, FILES)


def digest(root: Path) -> str:
    return PackageCode(root / "pkg", "pkg").digest(root / "script.py")


def test_closure_follows_imports_parents_relative_and_lazy_ones(tree):
    code = PackageCode(tree / "pkg", "pkg")
    # pkg.sub.e: imported; pkg.sub: its parent, whose __init__ imports pkg.sub.d; pkg.b: from pkg.a
    # and, relatively, from pkg.sub.e; pkg.c: imported inside a function. Not pkg.sub.lonely, not json or os.
    assert code.closure(tree / "script.py") == ["pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.sub.d", "pkg.sub.e"]
    assert code.data_files(code.closure(tree / "script.py")) == [tree / "pkg/table.yaml"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("pkg/b.py", "def g():\n    return 20\n"),  # a module imported through another
        ("pkg/sub/d.py", "X = 40\n"),  # imported by a package's __init__
        ("pkg/c.py", "def unused():\n    return 30\n"),  # imported lazily
        ("pkg/table.yaml", "a: 2\n"),  # a data file a module names
        ("pkg/__init__.py", '"""A package."""\n\nVERSION = 1\n'),  # the top package runs on any import
        ("pkg/a.py", "from pkg.b import g\n\n\ndef f():\n    return g() + 1\n\nlog = 'a new message'\n"),
    ],
)
def test_a_change_in_the_code_a_script_runs_changes_the_digest(tree, path, text):
    before = digest(tree)
    (tree / path).write_text(text)
    assert digest(tree) != before


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("pkg/sub/lonely.py", "Y = 50\n"),  # a module nothing imports
        ("pkg/notes.yaml", "still read by nobody\n"),  # a data file no module names
        (
            "pkg/a.py",
            '"""Now documented."""\n# and commented\nfrom pkg.b import g\n\ndef f():\n    """f."""\n    return g()+1\n',
        ),
        ("script.py", "from pkg.a import f\nimport pkg.sub.e\nimport os\n\nprint(f(), pkg.sub.e.h(), os.sep)\n"),
    ],
)
def test_docs_comments_formatting_and_unused_files_leave_it_alone(tree, path, text):
    # The script's own text is Snakemake's `code` trigger's business: only what it imports counts here.
    before = digest(tree)
    (tree / path).write_text(text)
    assert digest(tree) == before


def test_the_digest_does_not_depend_on_where_the_package_lies(tree, tmp_path_factory):
    moved = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(tree, moved, dirs_exist_ok=True)
    assert digest(moved) == digest(tree)


def test_errors_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no __init__.py"):
        PackageCode(tmp_path, "pkg")
    with pytest.raises(FileNotFoundError, match="nope.py: no such workflow script"):
        script_code_digest(tmp_path / "nope.py")


def test_a_syntax_error_names_the_module(tree):
    (tree / "pkg/b.py").write_text("def g(:\n")
    with pytest.raises(SyntaxError) as err:
        digest(tree)
    assert err.value.filename.endswith("b.py")


LAZY = {
    "pkg/__init__.py": "",
    "pkg/lazy/__init__.py": (
        "from pkg.lazy_exports import exports\n\n"
        '_LAZY_EXPORTS = {"f": "a", "g": "b"}\n'
        "__getattr__ = exports(__name__, _LAZY_EXPORTS)\n"
    ),
    "pkg/lazy_exports.py": "def exports(name, table):\n    return None\n",
    "pkg/lazy/a.py": "def f():\n    return 1\n",
    "pkg/lazy/b.py": "def g():\n    return 2\n",
}


@pytest.fixture
def lazy_tree(tmp_path: Path) -> Path:
    return write_files(tmp_path, LAZY)


@pytest.mark.parametrize(
    ("script", "reached"),
    [
        # A name imported from a package with lazy exports: the submodule that defines it, no sibling.
        ("from pkg.lazy import f\n", ["pkg", "pkg.lazy", "pkg.lazy.a", "pkg.lazy_exports"]),
        ("from pkg.lazy import g as h, f\n", ["pkg", "pkg.lazy", "pkg.lazy.a", "pkg.lazy.b", "pkg.lazy_exports"]),
        # The package as a module object: any of its names may be used.
        ("import pkg.lazy\n", ["pkg", "pkg.lazy", "pkg.lazy.a", "pkg.lazy.b", "pkg.lazy_exports"]),
        ("from pkg import lazy\n", ["pkg", "pkg.lazy", "pkg.lazy.a", "pkg.lazy.b", "pkg.lazy_exports"]),
        ("from pkg.lazy import *\n", ["pkg", "pkg.lazy", "pkg.lazy.a", "pkg.lazy.b", "pkg.lazy_exports"]),
        # A submodule itself: its parent runs, and the parent imports no sibling.
        ("import pkg.lazy.b\n", ["pkg", "pkg.lazy", "pkg.lazy.b", "pkg.lazy_exports"]),
    ],
)
def test_lazy_exports_count_the_submodule_of_each_name_used(lazy_tree, script, reached):
    (lazy_tree / "script.py").write_text(script)
    assert PackageCode(lazy_tree / "pkg", "pkg").closure(lazy_tree / "script.py") == reached


def test_with_lazy_exports_a_sibling_edit_leaves_the_digest_alone(lazy_tree):
    (lazy_tree / "script.py").write_text("from pkg.lazy import f\n")
    before = digest(lazy_tree)
    (lazy_tree / "pkg/lazy/b.py").write_text("def g():\n    return 20\n")
    assert digest(lazy_tree) == before
    (lazy_tree / "pkg/lazy/a.py").write_text("def f():\n    return 10\n")
    assert digest(lazy_tree) != before
    # Pointing the name at another submodule is a change of the code the script runs.
    changed = digest(lazy_tree)
    init = lazy_tree / "pkg/lazy/__init__.py"
    init.write_text(init.read_text().replace('"f": "a"', '"f": "b"'))
    assert digest(lazy_tree) != changed


def test_a_lazy_export_table_must_be_literal(lazy_tree):
    (lazy_tree / "script.py").write_text("from pkg.lazy import f\n")
    (lazy_tree / "pkg/lazy/__init__.py").write_text("_LAZY_EXPORTS = dict(f='a')\n")
    with pytest.raises(ValueError, match=r"lazy/__init__.py:1: _LAZY_EXPORTS must be a literal dict"):
        digest(lazy_tree)


# The real package and workflow.

SCRIPTS = sorted((REPO / "workflow/scripts").glob("*.py"))


def test_data_flows_one_way_so_a_figure_or_an_analysis_change_never_retrains():
    code = package_code()
    lower = {"download_source", "make_spectrograms", "prepare_dataset", "train_model", "import_model"}
    higher = ("aemap.explain", "aemap.checks", "aemap.attribution", "aemap.plots", "aemap.replication")
    for script in SCRIPTS:
        modules = code.closure(script)
        assert "aemap" in modules and all(m.startswith("aemap") for m in modules), script.name
        if script.stem in lower:
            assert not [m for m in modules if m.startswith(higher)], script.name
        if not script.stem.startswith("plot_"):
            assert not [m for m in modules if m.startswith("aemap.plots")], script.name


def test_the_replication_table_counts_the_claims_it_checks():
    code = package_code()
    script = REPO / "workflow/scripts/build_replication_table.py"
    assert code.root / "claims.yaml" in code.data_files(code.closure(script))


def test_scripts_share_a_digest_exactly_when_they_run_the_same_code():
    code = package_code()
    digests = {s.stem: script_code_digest(s) for s in SCRIPTS}
    reached = {s.stem: (tuple(code.closure(s)), tuple(code.data_files(code.closure(s)))) for s in SCRIPTS}
    assert all(len(d) == 16 for d in digests.values())
    for one in digests:
        for other in digests:
            assert (digests[one] == digests[other]) == (reached[one] == reached[other]), (one, other)
    assert digests["train_model"] != digests["plot_training_curves"]


LAZY_PACKAGES = ["aemap.explain", "aemap.checks", "aemap.attribution", "aemap.plots"]


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_lazy_export_is_its_submodules_object(name):
    package = importlib.import_module(name)
    assert package.__all__ == sorted(package._LAZY_EXPORTS)
    for export, submodule in package._LAZY_EXPORTS.items():
        assert getattr(package, export) is getattr(importlib.import_module(f"{name}.{submodule}"), export)
    assert set(package._LAZY_EXPORTS) <= set(dir(package))
    with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'nope'"):
        package.nope  # noqa: B018 - the attribute access is the test


def test_importing_one_submodule_runs_no_sibling():
    """What the digest assumes of a lazy package, checked in a fresh interpreter."""
    code = "import sys, aemap.explain.saliency; print(*sorted(m for m in sys.modules if m.startswith('aemap.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in loaded if m.startswith("aemap.explain")] == ["aemap.explain", "aemap.explain.saliency"]


def test_a_lazy_export_may_not_be_named_like_its_submodule():
    # Importing the submodule would bind the name to the module and hide the export.
    with pytest.raises(
        ValueError, match=r"aemap.attribution: lazy exports named like their submodule: \['visualise'\]"
    ):
        lazy_exports("aemap.attribution", {"visualise": "visualise", "OptimiseSettings": "visualise"})


# --- the cache of what is read of each file -----------------------------------------------------


def fresh_digest(root: Path, cache_dir: Path | None) -> str:
    """The digest as a new Snakemake process computes it: nothing remembered in memory."""
    _facts_cached.cache_clear()
    return PackageCode(root / "pkg", "pkg", cache_dir).digest(root / "script.py")


def test_the_cache_gives_the_digest_of_the_files_as_they_are_now(tree, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache") / "code-facts"
    plain = fresh_digest(tree, None)
    assert fresh_digest(tree, cache) == plain  # filled
    assert len(list(cache.glob("*.json"))) == 8  # the script and its 7 modules
    assert fresh_digest(tree, cache) == plain  # read back
    # An edit is read afresh: entries are keyed by the file's bytes, never by its name or time.
    b = tree / "pkg/b.py"
    stat = b.stat()
    b.write_text(b.read_text().replace("return 2", "return 7"))
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time: only the bytes differ
    edited = fresh_digest(tree, None)
    assert edited != plain and fresh_digest(tree, cache) == edited


def test_the_second_reader_uses_what_the_first_stored(tree, tmp_path_factory):
    """What makes the cache pay: the files are not read again. Shown by tampering
    with the stored facts of unchanged files (which no user does)."""
    cache = tmp_path_factory.mktemp("cache") / "code-facts"
    plain = fresh_digest(tree, cache)
    for stored in cache.glob("*.json"):
        facts = json.loads(stored.read_text())
        stored.write_text(json.dumps({**facts, "fingerprint": "tampered"}))
    assert fresh_digest(tree, cache) != plain


def test_a_damaged_or_unwritable_cache_only_costs_time(tree, tmp_path_factory):
    plain = fresh_digest(tree, None)
    cache = tmp_path_factory.mktemp("cache") / "code-facts"
    fresh_digest(tree, cache)
    for stored in cache.glob("*.json"):
        stored.write_text('{"imports": [[0, ')  # cut short
    assert fresh_digest(tree, cache) == plain
    assert all(json.loads(stored.read_text()) for stored in cache.glob("*.json"))  # rewritten whole
    blocked = tmp_path_factory.mktemp("blocked") / "code-facts"
    blocked.write_text("a file where the folder would go")
    assert fresh_digest(tree, blocked) == plain
    assert not list(blocked.parent.glob(".*partial"))


def test_the_workflow_digests_are_the_same_from_its_cache(tmp_path):
    """Every script's digest, computed by fresh processes without and with the
    workflow's cache, the second of them reading it."""
    probe = (
        "import sys, json; from pathlib import Path; from aemap.code_digest import script_code_digest; "
        "cache = sys.argv[1] if len(sys.argv) > 1 else None; "
        f"print(json.dumps({{s.name: script_code_digest(s, cache_dir=cache) for s in "
        f"sorted(Path({str(REPO / 'workflow/scripts')!r}).glob('*.py'))}}))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True).stdout
        for args in ([], [str(tmp_path / "cache")], [str(tmp_path / "cache")])
    ]
    assert json.loads(runs[0]) == json.loads(runs[1]) == json.loads(runs[2])
    assert len(json.loads(runs[0])) == len(SCRIPTS) and list((tmp_path / "cache").glob("*.json"))
