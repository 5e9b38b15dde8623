"""Every result table of a run as one self-contained HTML page (for the report):
per experiment, its metrics and the tables its analyses wrote, each under the
name of its file. Long tables are shown in a readable form (latent importance:
the top dims of each class; the single-class check: its correlation matrix) and
the file keeps everything."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

MAX_ROWS = 60
SKIPPED_KEYS = ("versions",)  # package versions: provenance, not results


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) pairs of a JSON object; short lists inline."""
    if isinstance(obj, Mapping):
        out = []
        for key in sorted(obj):
            if key in SKIPPED_KEYS:
                continue
            out += _flatten(obj[key], f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(obj, list):
        shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in obj)
        return [(prefix, f"[{shown}]")]
    if isinstance(obj, float):
        return [(prefix, f"{obj:.6g}")]
    return [(prefix, str(obj))]


def _latent_top_dims(table: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """One row per class: its top-k latent dims with their importance."""
    rows = []
    for name, group in table.groupby("class", sort=False):
        top = group.sort_values(["rank", "dim"]).head(k)
        rows.append(
            {
                "class": name,
                **{
                    f"#{i + 1}": f"dim {d} ({v:.3g})"
                    for i, (d, v) in enumerate(zip(top["dim"], top["importance"], strict=True))
                },
            }
        )
    return pd.DataFrame(rows)


def _single_class_matrix(table: pd.DataFrame) -> pd.DataFrame:
    matrix = table.pivot(index="model_class", columns="image_class", values="r")
    matrix.index = [f"model {c}" for c in matrix.index]
    return matrix.round(3)


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """(the table to show, a note on how it was shortened)."""
    if path.suffix == ".json":
        pairs = _flatten(json.loads(path.read_text()))
        return pd.DataFrame(pairs, columns=["key", "value"]), ""
    table = pd.read_csv(path, keep_default_na=False)
    if path.name == "latent_by_class.csv":
        return _latent_top_dims(table.astype({"class": str})), "the top 5 dims of each class (importance in brackets)"
    if path.name == "single_class.csv":
        return _single_class_matrix(table.astype({"model_class": str, "image_class": str})), (
            "Pearson r of each single-class model's mean map with each class's mean image"
        )
    if path.name == "inglis_comparison.csv" and {"layer", "perturbation", "r_visualisation"} <= set(table.columns):
        summary = table.groupby(["layer", "perturbation"])[["r_visualisation", "r_heatmap"]].mean().reset_index()
        return summary.round(4), "means over images and initialisations"
    if len(table) > MAX_ROWS:
        return table.head(MAX_ROWS), f"the first {MAX_ROWS} of {len(table)} rows"
    return table, ""


def tables_html(files: Mapping[str, list[str]], title: str = "Result tables") -> str:
    """The page: one section per experiment, one table per file (paths as given)."""
    sections = []
    for experiment, paths in files.items():
        parts = [f'<h3 id="{html.escape(experiment)}">{html.escape(experiment)}</h3>']
        for path in paths:
            table, note = read_table(Path(path))
            caption = html.escape(path) + (f" <small>({html.escape(note)})</small>" if note else "")
            numbers = table.map(lambda v: f"{v:.6g}" if isinstance(v, float) else v)
            rendered = numbers.to_html(index=path.endswith("single_class.csv"), border=0, escape=True)
            parts.append(f'<div class="table" data-file="{html.escape(path)}"><p>{caption}</p>{rendered}</div>')
        sections.append("".join(parts))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;font-size:13px;margin:1em}"
        "table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
        "th{background:#e8e8f0}h3{margin-top:1.5em}p{margin:0.6em 0 0.2em}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>"
        f"<p>Experiments: {', '.join(f'<a href=#{html.escape(e)}>{html.escape(e)}</a>' for e in files)}</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
