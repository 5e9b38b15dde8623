"""docs/python-api.md runs as written: its code blocks, in order, in one
namespace (each block's asserts state what it returns)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def test_python_api_doc_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the doc's figure is written
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5, f"{DOC}: expected its python blocks, found {len(blocks)}"
    threads = torch.get_num_threads()
    namespace: dict[str, object] = {"__name__": "python_api_doc"}
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{DOC.name} block {i + 1}", "exec"), namespace)  # noqa: S102 - our own doc
    finally:
        torch.set_num_threads(threads)
    vis = namespace["vis"]
    # The bars are easy to tell apart: the visualisations keep the class.
    assert vis["top1"].mean() >= 0.75
    assert (tmp_path / "attribution.png").stat().st_size > 0
