"""The text summary of Inglis et al.'s permutation importance (summary.md):
NumPy and pandas only (no torch), so the job that writes it starts fast;
``aemap.explain.importance`` re-exports it."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summary_markdown(experiment: str, table: pd.DataFrame, pixel: dict[str, np.ndarray], top: int = 3) -> str:
    """Top dims per class, dims shared across classes, unused dims."""
    lines = [f"# {experiment}: permutation importance summary", ""]
    n_dims = int(table["dim"].max())
    lines += [
        f"Latent dimensions are numbered 1-{n_dims}. Importance metric: {pixel['metric']}; "
        f"direction rule: {pixel['direction_rule']}.",
        "",
        f"## Top {top} dimensions per class",
        "",
        "| class | " + " | ".join(f"#{k}" for k in range(1, top + 1)) + " |",
        "|---|" + "---|" * top,
    ]
    tops: dict[str, list[int]] = {}
    for name, group in table.groupby("class", sort=False):
        best = group.sort_values("rank").head(top)
        tops[str(name)] = best["dim"].tolist()
        cells = [f"{d} ({v:.3g})" for d, v in zip(best["dim"], best["importance"], strict=True)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    counts: dict[int, list[str]] = {}
    for name, dims in tops.items():
        for d in dims:
            counts.setdefault(d, []).append(name)
    shared = {d: names for d, names in counts.items() if len(names) > 1}
    lines += ["", f"## Dimensions in the top {top} of several classes", ""]
    lines += [f"- dim {d}: {', '.join(names)}" for d, names in sorted(shared.items(), key=lambda kv: -len(kv[1]))]
    if not shared:
        lines.append("- none")
    dead = np.nonzero(pixel["latent_std"] == 0)[0] + 1
    unused = sorted(set(table.groupby("dim")["importance"].max().loc[lambda s: s <= 0].index) | set(dead.tolist()))
    lines += ["", "## Unused dimensions", ""]
    lines.append(
        f"- {', '.join(map(str, unused))}: constant over the test set or of zero importance for every class"
        if unused
        else "- none: every dimension matters for some class"
    )
    pixel_total = pixel["importance"].sum(axis=1)
    never = int((pixel_total == 0).sum())
    lines += [
        "",
        "## Input features",
        "",
        f"- {never} of {len(pixel_total)} input features change no latent value when permuted "
        "(constant over the test set, e.g. image borders).",
    ]
    return "\n".join(lines) + "\n"
