"""Config ``attribution`` -> typed settings, with budget presets.

``attribution.preset`` names an entry of ``attribution.presets`` (steps and
initialisations): ``default`` keeps the whole stage within minutes on two
CPU cores; ``paper`` is the authors' budget (25 initialisations, 2,048
steps) for GPU or cluster runs. ``attribution.optimise.steps`` / ``inits``,
when given, win over the preset.
"""

from __future__ import annotations

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
    transforms = TransformSettings(
        jitter1_px=tr.get("jitter1_px", TransformSettings.jitter1_px),
        scale=tuple(tr.get("scale", TransformSettings.scale)),
        rotate_deg=tr.get("rotate_deg", TransformSettings.rotate_deg),
        shear_deg=tr.get("shear_deg", TransformSettings.shear_deg),
        jitter2_px=tr.get("jitter2_px", TransformSettings.jitter2_px),
        enabled=tr.get("enabled", True),
    )
    perturbation = PerturbationSettings(
        constant=pt.get("constant", 0.5),
        centre=pt.get("centre", 0.5),
        gaussian_sd=pt.get("gaussian_sd", 1.0),
        fractal_p=pt.get("fractal_p", 2.0),
        fractal_sd=pt.get("fractal_sd", 0.2),
        pyramid_levels=pt.get("pyramid_levels", 6),
        blur_sigma_max_px=pt.get("blur_sigma_max_px", 2.0),
        blur_kernel=pt.get("blur_kernel", 5),
        blur_levels=pt.get("blur_levels", 8),
    )
    optimise = OptimiseSettings(
        steps=opt.get("steps", 512),
        lr=opt.get("lr", 0.05),
        lr_decay=opt.get("lr_decay", 1.0),
        lambda_scale=opt.get("lambda_scale", 1.0),
        lambda_growth=opt.get("lambda_growth", 1.2),
        parametrisation=opt.get("parametrisation", "fft"),
        init_sd=opt.get("init_sd", 0.01),
        seed=opt.get("seed", 0),
        memory_budget_mb=opt.get("memory_budget_mb", 256),
        max_batch=opt.get("max_batch", 256),
        transforms=transforms,
        perturbation=perturbation,
    )
    fraction = beta.get("fraction", "paper")
    return AttributionSettings(
        ig=IGSettings(steps=ig.get("steps", 200), method=ig.get("method", "riemann_right"),
                      internal_batch_size=ig.get("internal_batch_size", 512)),
        baseline=BaselineSettings(kind=base.get("kind", "zero"), steps=base.get("steps", 100), lr=base.get("lr", 0.1),
                                  competitors=base.get("competitors", 4), keep_weight=base.get("keep_weight", 1.0)),
        clamp_negative=cfg.get("clamp_negative", True),
        channel_filter=cfg.get("channel_filter"),
        beta_bins=beta.get("bins", 200),
        beta_fraction={"paper": 1.0, "code": 0.5}[fraction] if isinstance(fraction, str) else float(fraction),
        beta_fallback=beta.get("fallback"),
        optimise=optimise,
        inits=opt.get("inits", 2),
        forward=(cfg.get("metrics") or {}).get("forward", "composite"),
        top_k=(cfg.get("metrics") or {}).get("top_k", 5),
        lambda_reference=opt.get("lambda_reference", "objective"),
    )
