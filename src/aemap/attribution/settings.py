"""Config ``attribution`` -> typed settings, with budget presets.

``attribution.preset`` names an entry of ``attribution.presets`` (steps and
initialisations): ``default`` keeps the whole stage within minutes on two
CPU cores; ``paper`` is the authors' budget (25 initialisations, 2,048
steps) for GPU or cluster runs. ``attribution.optimise.steps`` / ``inits``,
when given, win over the preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aemap.attribution.neurons import BaselineSettings, IGSettings
from aemap.attribution.perturb import PerturbationSettings
from aemap.attribution.transforms import TransformSettings
from aemap.attribution.visualise import OptimiseSettings

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"steps": 512, "inits": 2},
    "paper": {"steps": 2048, "inits": 25},
}


@dataclass(frozen=True)
class AttributionSettings:
    ig: IGSettings
    baseline: BaselineSettings
    clamp_negative: bool
    channel_filter: float | None
    beta_bins: int
    beta_fraction: float
    beta_fallback: float | None
    optimise: OptimiseSettings
    inits: int
    forward: str  # composite | x_star
    top_k: int
    lambda_reference: str  # attributions (paper) | objective


def _build(cls: type, values: dict[str, Any], **fixed: Any) -> Any:
    """``cls`` from the config keys it has a field for; its own defaults fill the rest."""
    names = {f.name for f in dataclasses.fields(cls)} - set(fixed)
    return cls(**{k: v for k, v in values.items() if k in names}, **fixed)


def resolve(cfg: dict[str, Any]) -> AttributionSettings:
    """Typed settings from the (schema-checked) ``attribution`` block."""
    presets = {**PRESETS, **(cfg.get("presets") or {})}
    preset = cfg.get("preset", "default")
    if preset not in presets:
        raise ValueError(f"attribution.preset: unknown preset {preset!r}; known: {', '.join(presets)}")
    opt = {**presets[preset], **(cfg.get("optimise") or {})}
    ig = cfg.get("ig") or {}
    base = cfg.get("baseline") or {}
    beta = cfg.get("beta") or {}
    tr = cfg.get("transforms") or {}
    pt = cfg.get("perturbation") or {}
    transforms = _build(TransformSettings, tr)
    if "scale" in tr:
        transforms = dataclasses.replace(transforms, scale=tuple(tr["scale"]))
    optimise = _build(OptimiseSettings, opt, transforms=transforms, perturbation=_build(PerturbationSettings, pt))
    fraction = beta.get("fraction", "paper")
    return AttributionSettings(
        ig=_build(IGSettings, ig),
        baseline=_build(BaselineSettings, base),
        clamp_negative=cfg.get("clamp_negative", True),
        channel_filter=cfg.get("channel_filter"),
        beta_bins=beta.get("bins", 200),
        beta_fraction={"paper": 1.0, "code": 0.5}[fraction] if isinstance(fraction, str) else float(fraction),
        beta_fallback=beta.get("fallback"),
        optimise=optimise,
        inits=opt["inits"],  # every preset has one
        forward=(cfg.get("metrics") or {}).get("forward", "composite"),
        top_k=(cfg.get("metrics") or {}).get("top_k", 5),
        lambda_reference=opt.get("lambda_reference", "objective"),
    )
