"""The replication table: each quantitative claim of the papers (``claims.yaml``),
the paper's value, ours read from the result files, and a verdict.

Verdicts: ``reproduced`` (ours meets the claim's ``expected``), ``differs`` (it
does not; the reason says by how much, and why where we know), ``not run`` (the
experiment is not in ``run`` or does not list the analysis the check reads), and
``not comparable`` (the results cannot answer it, e.g. one perturbation only).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
VERDICTS = ("reproduced", "differs", "not comparable", "not run")
PAPERS = {
    "inglis": "Inglis et al.",
    "arumugam": "Arumugam & Kiran",
    "shi": "Shi, Li & Yamaguchi",
}
COLUMNS = ["paper", "where", "claim", "experiment", "paper_value", "ours", "verdict", "reason", "id"]


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    where: str
    claim: str
    experiment: str
    check: str
    paper_value: str
    expected: dict[str, Any]
    args: dict[str, Any] = field(default_factory=dict)
    known_cause: str = ""


@dataclass(frozen=True)
class Outcome:
    """What a check found: ``ours`` as shown, the value judged against the claim's
    ``expected`` (a bool for structural claims), and what the reader should see."""

    ours: str
    value: float | bool
    detail: str = ""


class NotComparable(Exception):
    """The results cannot answer the claim (the message says why)."""


@dataclass(frozen=True)
class Context:
    """What the checks read: the results folder and the run's config facts."""

    results: Path

    def path(self, experiment: str, relative: str) -> Path:
        return self.results / experiment / relative


# --- the checks ---------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read ({err})") from None


def _check_metric(ctx: Context, claim: Claim) -> Outcome:
    path = ctx.path(claim.experiment, "metrics.json")
    metrics = _read_json(path)
    key = claim.args["key"]
    if key not in metrics:
        raise ValueError(f"{path}: no {key!r}")
    value = float(metrics[key])
    return Outcome(f"{100 * value:.2f} %" if claim.args.get("percent") else f"{value:.4g}", value)


def _check_saliency_cross_check(ctx: Context, claim: Claim) -> Outcome:
    path = ctx.path(claim.experiment, "saliency/maps.npz")
    with np.load(path, allow_pickle=False) as arrays:
        value = float(arrays[claim.args["key"]])
    return Outcome(f"{value:.2g} (max relative difference)", value)


def _check_single_class(ctx: Context, claim: Claim) -> Outcome:
    table = pd.read_csv(ctx.path(claim.experiment, "sanity/single_class.csv"), dtype={"model_class": str})
    best = table.groupby("model_class")["own_class_best"].first().astype(bool)
    failed = sorted(best.index[~best])
    ours = f"{int(best.sum())} of {len(best)} models"
    return Outcome(ours, bool(best.all()), f"not for {', '.join(failed)}" if failed else "")


def _check_translation(ctx: Context, claim: Claim) -> Outcome:
    """The shift of the saliency's core (``args.key``: its top 10 % by default, what the
    paper's contours show) against the digits' shift; the whole map's shift as detail.
    With several trainings of the translated model the verdict is on their mean
    shift, and each training's gap is a detail."""
    result = _read_json(ctx.path(claim.experiment, "sanity/translation.json"))
    digit = np.asarray(result["digit_shift"], dtype=float)
    key = claim.args.get("key", "saliency_top10_shift_mean_map")
    saliency = np.asarray(result[key], dtype=float)
    gap = float(np.max(np.abs(saliency - digit)))
    same_direction = bool(np.all(np.sign(saliency) == np.sign(digit)))
    holds = same_direction and gap <= claim.args["tolerance_px"]
    ours = f"moved ({saliency[0]:+.1f}, {saliency[1]:+.1f}) px, digits ({digit[0]:+.1f}, {digit[1]:+.1f})"
    details = []
    if not same_direction:
        details.append("the saliency moved another way than the digits")
    elif not holds:
        details.append(f"{gap:.1f} px apart (tolerance {claim.args['tolerance_px']} px)")
    if "saliency_shift_mean_map" in result and key != "saliency_shift_mean_map":
        whole = result["saliency_shift_mean_map"]
        details.append(f"the whole map's centre of mass moved ({whole[0]:+.1f}, {whole[1]:+.1f}) px")
    trainings = result.get("trainings") or []
    if len(trainings) > 1:
        sd = result[f"{key}_sd"]
        gaps = [float(np.max(np.abs(np.asarray(t[key], dtype=float) - digit))) for t in trainings]
        ours = f"{ours} (mean of {len(trainings)} trainings, sd ({sd[0]:.1f}, {sd[1]:.1f}))"
        details.append(
            "per training "
            + ", ".join(f"seed {t['seed']}: {gap:.1f} px apart" for t, gap in zip(trainings, gaps, strict=True))
        )
    return Outcome(ours, holds, "; ".join(details))


def _corruption_rows(ctx: Context, claim: Claim) -> pd.DataFrame:
    path = ctx.path(claim.experiment, "sanity/corruption.csv")
    table = pd.read_csv(path)
    rows = table[(table["source"] == claim.args["source"]) & (table["which"] == claim.args["which"])]
    if rows.empty:
        raise NotComparable(f"{path} has no {claim.args['source']}/{claim.args['which']} rows")
    return rows.sort_values("fraction")


def _corruption_at(rows: pd.DataFrame, fraction: float) -> pd.Series:
    hit = rows[np.isclose(rows["fraction"], fraction)]
    if hit.empty and fraction == 0:
        raise NotComparable("no clean (0 %) row in sanity/corruption.csv")
    if hit.empty:
        raise NotComparable(f"no corruption of {fraction:.0%} was run (sanity.corruption.fractions)")
    return hit.iloc[0]


def _trainings(row: pd.Series) -> int:
    """How many trainings of the classifier the row averages."""
    return int(row["classifiers"])


def _accuracy_shown(row: pd.Series) -> str:
    """The row's accuracy in percent, with its sd over trainings when it averages several."""
    if _trainings(row) > 1:
        return f"{100 * row['accuracy']:.1f} ± {100 * row['accuracy_std']:.1f} %"
    return f"{100 * row['accuracy']:.1f} %"


def _over_trainings(row: pd.Series, what: str = "mean ± sd") -> str:
    n = _trainings(row)
    return f"{what} of {n} trainings of the classifier" if n > 1 else ""


def _check_corruption_point(ctx: Context, claim: Claim) -> Outcome:
    row = _corruption_at(_corruption_rows(ctx, claim), claim.args["fraction"])
    return Outcome(_accuracy_shown(row), float(row["accuracy"]), _over_trainings(row))


def _check_corruption_falls(ctx: Context, claim: Claim) -> Outcome:
    rows = _corruption_rows(ctx, claim)
    if len(rows) < 2:
        raise NotComparable("fewer than two corruption fractions were run")
    acc = rows["accuracy"].to_numpy()
    steps = ", ".join(f"{100 * f:.0f} %: {100 * a:.1f}" for f, a in zip(rows["fraction"], acc, strict=True))
    holds = bool(np.all(np.diff(acc) < 0))
    trainings = _over_trainings(rows.iloc[0], "means")
    detail = "; ".join(d for d in ("" if holds else "not falling at every step", trainings) if d)
    return Outcome(steps, holds, detail)


def _check_corruption_drop(ctx: Context, claim: Claim) -> Outcome:
    rows = _corruption_rows(ctx, claim)
    row = _corruption_at(rows, claim.args["fraction"])
    # The clean accuracy of the same classifiers on the same test images: the 0 % row.
    clean = float(_corruption_at(rows, 0.0)["accuracy"])
    drop = clean - float(row["accuracy"])
    shown = f"{_accuracy_shown(row)} (clean {100 * clean:.1f} %: {100 * drop:.1f} points lower)"
    return Outcome(shown, drop, _over_trainings(row))


def _top_dims(ctx: Context, claim: Claim) -> dict[str, list[int]]:
    """Each class's latent dims by rank (most important first)."""
    path = ctx.path(claim.experiment, "importance/latent_by_class.csv")
    table = pd.read_csv(path, dtype={"class": str})
    ranked = table.sort_values(["class", "rank"])
    tops = {c: group["dim"].astype(int).tolist() for c, group in ranked.groupby("class", sort=False)}
    wanted = list(claim.args.get("classes", [])) + [claim.args.get("target")] + list(claim.args.get("others", []))
    missing = [c for c in wanted if c is not None and c not in tops]
    if missing:
        raise NotComparable(f"{path} has no class {', '.join(map(repr, missing))}")
    return tops


def _check_shared_top_dim(ctx: Context, claim: Claim) -> Outcome:
    tops = _top_dims(ctx, claim)
    k, classes = claim.args["k"], claim.args["classes"]
    shared = set(tops[classes[0]][:k]).intersection(*(tops[c][:k] for c in classes[1:]))
    listing = "; ".join(f"{c}: {tops[c][:k]}" for c in classes)
    ours = f"yes (dim {', '.join(map(str, sorted(shared)))})" if shared else "no"
    return Outcome(ours, bool(shared), f"top {k}: {listing}")


def _check_same_top_dim(ctx: Context, claim: Claim) -> Outcome:
    tops = _top_dims(ctx, claim)
    firsts = {c: tops[c][0] for c in claim.args["classes"]}
    holds = len(set(firsts.values())) == 1
    ours = f"yes (dim {next(iter(firsts.values()))})" if holds else "no"
    return Outcome(ours, holds, "top dims: " + "; ".join(f"{c}: {d}" for c, d in firsts.items()))


def _check_unique_top_dim(ctx: Context, claim: Claim) -> Outcome:
    tops = _top_dims(ctx, claim)
    target = claim.args["target"]
    others = claim.args.get("others") or [c for c in tops if c != target]
    first = tops[target][0]
    sharing = [c for c in others if tops[c][0] == first]
    ours = f"yes (dim {first})" if not sharing else "no"
    detail = f"dim {first} is also the top of {', '.join(sharing)}" if sharing else ""
    return Outcome(ours, not sharing, detail)


def _attribution_means(ctx: Context, claim: Claim) -> pd.Series:
    """The metric's mean per perturbation: over images and inits per layer, then over layers."""
    path = ctx.path(claim.experiment, "attribution/metrics.csv")
    table = pd.read_csv(path)
    metric = claim.args["metric"]
    if metric not in table.columns:
        raise ValueError(f"{path}: no column {metric!r}")
    by_layer = table.groupby(["perturbation", "layer"])[metric].mean()
    return by_layer.groupby("perturbation").mean()


def _check_best_perturbation(ctx: Context, claim: Claim) -> Outcome:
    means = _attribution_means(ctx, claim)
    best = claim.args["best"]
    if best not in means.index or len(means) < 2:
        raise NotComparable(f"needs {best} and another perturbation; run: {', '.join(means.index)}")
    ranking = means.sort_values(ascending=False, kind="stable")  # ties: alphabetical
    top = float(ranking.iloc[0])
    # Ties at the top count for the claim: on ten classes top-1 often saturates at 1.
    leaders = [p for p, v in ranking.items() if math.isclose(float(v), top, rel_tol=0, abs_tol=1e-12)]
    holds = best in leaders
    ours = f"{' = '.join(leaders)} best" if len(leaders) > 1 else f"{leaders[0]} best"
    detail = ", ".join(f"{p} {v:.3f}" for p, v in ranking.items())
    return Outcome(ours, holds, detail)


def _check_perturbation_mean(ctx: Context, claim: Claim) -> Outcome:
    means = _attribution_means(ctx, claim)
    perturbation = claim.args["perturbation"]
    if perturbation not in means.index:
        raise NotComparable(f"{perturbation} was not run (attribution perturbations)")
    value = float(means[perturbation])
    return Outcome(f"{value:.3f}", value)


# check name -> (function, the analysis whose files it reads (None: the model's), files)
CHECKS: dict[str, tuple[Callable[[Context, Claim], Outcome], str | None, tuple[str, ...]]] = {
    "metric": (_check_metric, None, ("metrics.json",)),
    "saliency_cross_check": (_check_saliency_cross_check, "saliency", ("saliency/maps.npz",)),
    "single_class": (_check_single_class, "sanity", ("sanity/single_class.csv",)),
    "translation": (_check_translation, "sanity", ("sanity/translation.json",)),
    "corruption_point": (_check_corruption_point, "sanity", ("sanity/corruption.csv",)),
    "corruption_falls": (_check_corruption_falls, "sanity", ("sanity/corruption.csv",)),
    "corruption_drop": (_check_corruption_drop, "sanity", ("sanity/corruption.csv",)),
    "shared_top_dim": (_check_shared_top_dim, "importance", ("importance/latent_by_class.csv",)),
    "same_top_dim": (_check_same_top_dim, "importance", ("importance/latent_by_class.csv",)),
    "unique_top_dim": (_check_unique_top_dim, "importance", ("importance/latent_by_class.csv",)),
    "best_perturbation": (_check_best_perturbation, "attribution", ("attribution/metrics.csv",)),
    "perturbation_mean": (_check_perturbation_mean, "attribution", ("attribution/metrics.csv",)),
}
EXPECTED_KINDS = ("range", "value", "at_most", "holds")


def load_claims(path: str | Path = CLAIMS_FILE) -> list[Claim]:
    """The claims, checked: known paper and check, one kind of ``expected``, unique ids."""
    path = Path(path)
    entries = yaml.safe_load(path.read_text())
    claims, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: claim {i + 1} ({entry.get('id', '?')})"
        try:
            claim = Claim(**entry)
        except TypeError as err:
            raise ValueError(f"{where}: {err}") from None
        if claim.id in seen:
            raise ValueError(f"{where}: duplicate id")
        if claim.paper not in PAPERS:
            raise ValueError(f"{where}: paper must be one of {', '.join(PAPERS)}")
        if claim.check not in CHECKS:
            raise ValueError(f"{where}: unknown check {claim.check!r}; known: {', '.join(CHECKS)}")
        kinds = set(claim.expected) - {"tolerance"}
        if len(kinds) != 1 or not kinds <= set(EXPECTED_KINDS) or ("tolerance" in claim.expected) != ("value" in kinds):
            raise ValueError(
                f"{where}: expected must be one of {{range: [lo, hi]}}, {{value: v, tolerance: t}}, "
                "{at_most: v}, {holds: true}"
            )
        seen.add(claim.id)
        claims.append(claim)
    return claims


def required_analysis(claim: Claim) -> str | None:
    return CHECKS[claim.check][1]


def is_runnable(claim: Claim, run: list[str], analyses: Mapping[str, list[str]]) -> bool:
    """Whether the run builds what the claim's check reads."""
    analysis = required_analysis(claim)
    return claim.experiment in run and (analysis is None or analysis in analyses.get(claim.experiment, []))


def claim_files(claim: Claim, results: str = "results") -> list[str]:
    """The result files the claim's check reads."""
    return [f"{results}/{claim.experiment}/{rel}" for rel in CHECKS[claim.check][2]]


def judge(expected: dict[str, Any], value: float | bool, unit: str = "") -> tuple[bool, str]:
    """(whether ``value`` meets ``expected``, how far off it is when not, in ``unit``)."""
    kind = next(k for k in expected if k != "tolerance")
    target = expected[kind]
    if kind == "holds":
        return bool(value) == bool(target), ""
    value = float(value)
    if kind == "range":
        low, high = target
        if low <= value <= high:
            return True, ""
        side = f"{value - high:+.3g}{unit} above" if value > high else f"{low - value:.3g}{unit} below"
        return False, f"{side} the range"
    if kind == "at_most":
        return value <= target, "" if value <= target else f"above {target:g}"
    ok = abs(value - target) <= float(expected["tolerance"])
    return ok, "" if ok else f"{value - target:+.3g}{unit} from {target:g} (tolerance {expected['tolerance']:g})"


def evaluate(claim: Claim, ctx: Context) -> dict[str, str]:
    """One row of the table for a claim whose results exist."""
    row = {
        "paper": PAPERS[claim.paper],
        "where": claim.where,
        "claim": claim.claim,
        "experiment": claim.experiment,
        "paper_value": claim.paper_value,
        "id": claim.id,
    }
    try:
        outcome = CHECKS[claim.check][0](ctx, claim)
    except NotComparable as why:
        return {**row, "ours": "", "verdict": "not comparable", "reason": str(why)}
    value, expected = outcome.value, claim.expected
    if claim.args.get("percent"):  # judged and reported in percent (points), as the paper states it
        value = 100 * float(value)
        expected = {k: ([100 * x for x in v] if isinstance(v, list) else 100 * v) for k, v in expected.items()}
    ok, off = judge(expected, value, " points" if claim.args.get("percent") else "")
    # A reproduced row keeps the detail too (e.g. each class's top dims), for the reader.
    reasons = [outcome.detail] if ok else [off, outcome.detail, claim.known_cause]
    reason = "; ".join(r for r in reasons if r)
    return {**row, "ours": outcome.ours, "verdict": "reproduced" if ok else "differs", "reason": reason}


def replication_table(
    claims: list[Claim],
    run: list[str],
    analyses: Mapping[str, list[str]],
    results: str | Path = "results",
) -> pd.DataFrame:
    """Every claim's row, in the claims' order (papers grouped as in the file)."""
    ctx = Context(Path(results))
    rows = []
    for claim in claims:
        if is_runnable(claim, run, analyses):
            rows.append(evaluate(claim, ctx))
        else:
            analysis = required_analysis(claim)
            why = (
                f"{claim.experiment} is not in `run`"
                if claim.experiment not in run
                else f"experiments.{claim.experiment}.analyses does not list {analysis!r}"
            )
            rows.append(
                {
                    "paper": PAPERS[claim.paper],
                    "where": claim.where,
                    "claim": claim.claim,
                    "experiment": claim.experiment,
                    "paper_value": claim.paper_value,
                    "ours": "",
                    "verdict": "not run",
                    "reason": why,
                    "id": claim.id,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_counts(table: pd.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v in counts)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (pipes in cells escaped)."""
    shown = ["paper", "where", "claim", "experiment", "paper_value", "ours", "verdict", "reason"]
    header = ["Paper", "Where", "Claim", "Experiment", "Paper's value", "Ours", "Verdict", "Reason"]

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(row[c]) for c in shown) + " |" for _, row in table.iterrows()]
    return "\n".join(lines) + "\n"


VERDICT_COLOURS = {"reproduced": "#d9f2d9", "differs": "#fbe0d6", "not comparable": "#eeeeee", "not run": "#f6f6f6"}


def to_html(table: pd.DataFrame, title: str = "Replication: the papers' claims against ours") -> str:
    """A self-contained HTML page (inline style, no scripts) of the table."""
    shown = ["paper", "where", "claim", "experiment", "paper_value", "ours", "verdict", "reason"]
    header = ["Paper", "Where", "Claim", "Experiment", "Paper's value", "Ours", "Verdict", "Reason"]
    body = []
    for _, row in table.iterrows():
        colour = VERDICT_COLOURS.get(row["verdict"], "white")
        cells = "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in shown)
        body.append(f'<tr style="background:{colour}" id="{html.escape(row["id"])}">{cells}</tr>')
    head = "".join(f"<th>{h}</th>" for h in header)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;font-size:13px;margin:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top;text-align:left}"
        "th{background:#e8e8f0}</style></head><body>"
        f"<h2>{html.escape(title)}</h2><p>{html.escape(verdict_counts(table))}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n"
    )
