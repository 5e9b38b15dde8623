"""The attribution benchmark runs and prints its table (a few steps, one
item in the loop: what it measures is not checked here; speed targets live
in the benchmark's output, never in tests)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO


def _attribution_benchmark(*args: str) -> subprocess.CompletedProcess:
    """benchmarks/attribution.py with a few steps, one loop item, one repeat, on the CPU."""
    result = subprocess.run(
        [sys.executable, "benchmarks/attribution.py", "--steps", "2", "--loop", "1", "--repeat", "1"]
        + ["--devices", "cpu", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_attribution_benchmark_prints_every_column():
    result = _attribution_benchmark("--batch", "32", "--layers", "conv1", "--perturbations", "none")
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    header, row = lines[0], lines[2]
    assert "bound: the loop over the network alone" in header and row.startswith("| conv1 | none |")
    assert header.count("|") == row.count("|")  # a value under every column
    # The CPU's instructions head the table: AVX2 and AVX-512 numbers differ by far.
    assert "CPU (" in result.stdout and "bfloat16" in result.stdout.split("\n|", 1)[0], result.stdout[:500]


def test_attribution_benchmark_breaks_a_step_down():
    result = _attribution_benchmark("--breakdown", "--batch", "8", "--layers", "conv2")
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| conv2 |")]
    parts = {row[1]: row for row in rows}
    # Both convolutions up to conv2, each way, with their rate; the step they add up to.
    for conv in ("features.0 (Conv2d)", "features.3 (Conv2d)"):
        for way in ("forward", "backward"):
            assert float(parts[f"{conv} {way}"][4].rstrip(" |")) > 0, parts[f"{conv} {way}"]
    assert "**the step**" in parts and "the step without the hooks" in parts
    # The budget of a 10x speed-up: loop, allowed batched step, network, convolutions.
    budget = rows[-1]
    assert len(budget) == 5 and budget[2].endswith(" ms"), rows[-1]
