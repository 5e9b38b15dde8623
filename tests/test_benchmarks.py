"""The attribution benchmark runs and prints its table (a few steps, one
item in the loop: what it measures is not checked here; speed targets live
in the benchmark's output, never in tests)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO


def test_attribution_benchmark_prints_every_column():
    result = subprocess.run(
        [sys.executable, "benchmarks/attribution.py", "--steps", "2", "--loop", "1", "--repeat", "1", "--batch", "32"]
        + ["--layers", "conv1", "--perturbations", "none", "--devices", "cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    header, row = lines[0], lines[2]
    assert "bound: the loop over the network alone" in header and row.startswith("| conv1 | none |")
    assert header.count("|") == row.count("|")  # a value under every column
    # The CPU's instructions head the table: AVX2 and AVX-512 numbers differ by far.
    assert "CPU (" in result.stdout and "bfloat16" in result.stdout.split("\n|", 1)[0], result.stdout[:500]
