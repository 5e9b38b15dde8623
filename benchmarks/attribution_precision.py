"""Does the network's precision change the attribution visualisations' scores?

Reruns the visualisations a reproduction made (``results/{experiment}/
attribution/{layer}/{perturbation}.npz``) twice from its own attributions,
with the same seeds and settings (config.yaml's ``attribution`` block):

* in float32, as the workflow ran them: a check that this script computes what
  the workflow did (the largest difference from the stored correlations; far
  from 0, the run used other settings than ``--config`` holds);
* with the network in bfloat16 (``attribution.optimise.precision``).

Each visualisation is drawn from the same random numbers in both, so the
differences are paired. Prints, per layer and perturbation, the mean
correlation r in float32 and bfloat16, the paired mean difference with its
standard error, top-1 in both, and the seconds each took.

    .venv/bin/python benchmarks/attribution_precision.py [--results results] [--experiments arumugam_cnn]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from snakemake.utils import validate

from aemap.attribution.settings import resolve
from aemap.attribution.stage import visualise_and_score
from aemap.io import load_npz
from aemap.models import load_checkpoint
from aemap.schema import load_config_file

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE_THE_JOB = ("experiments", "presets", "perturbations", "autoencoder_perturbations")


def attribution_block(config_path: Path) -> dict:
    """The ``attribution`` block as a job sees it (schema defaults filled in)."""
    cfg = load_config_file(config_path)
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    block = cfg["attribution"]
    params = {k: v for k, v in block.items() if k not in OUTSIDE_THE_JOB}
    params["presets"] = block.get("presets") or {}
    return params


def score(model, layer: str, perturbation: str, attr: dict, settings, device: torch.device) -> tuple[dict, float]:
    code_stats = (attr["code_mean"], attr["code_sd"]) if "code_mean" in attr else None
    t0 = time.perf_counter()
    vis = visualise_and_score(
        model,
        layer,
        attr["attributions"],
        attr["activations"],
        attr["beta"],
        attr["targets"],
        perturbation,
        settings,
        device,
        code_stats,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return vis, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--experiments", nargs="+", default=["arumugam_cnn", "shi_fmnist_cnn"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu or cuda; the stored results' own device gives them back exactly (a GPU draws other noise)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    settings = resolve(attribution_block(args.config))
    in_bf16 = dataclasses.replace(settings, optimise=dataclasses.replace(settings.optimise, precision="bfloat16"))
    print(
        f"{device}, {args.threads} CPU thread(s), torch {torch.__version__}; {settings.inits} inits x "
        f"{settings.optimise.steps} steps; r = visualisation correlation (mean over items)"
    )
    print(
        "| experiment | layer | perturbation | n | r, float32 | r, bfloat16 | paired difference (SE) "
        "| top-1 float32 / bfloat16 | seconds float32 / bfloat16 | largest difference from the stored r |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    differences = []
    for experiment in args.experiments:
        folder = args.results / experiment / "attribution"
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no attribution results (run the workflow first, or pass --results)")
        model, _ = load_checkpoint(args.results / experiment / "model.pt", device)
        model.eval()
        for layer_dir in sorted(p for p in folder.iterdir() if (p / "attributions.npz").is_file()):
            attr = load_npz(layer_dir / "attributions.npz")
            for stored_path in sorted(layer_dir.glob("*.npz")):
                if stored_path.name == "attributions.npz":
                    continue
                perturbation = stored_path.stem
                stored = load_npz(stored_path)
                vis32, t32 = score(model, layer_dir.name, perturbation, attr, settings, device)
                vis16, t16 = score(model, layer_dir.name, perturbation, attr, in_bf16, device)
                diff = vis16["correlation"] - vis32["correlation"]
                differences.append(diff)
                check = np.nanmax(np.abs(vis32["correlation"] - stored["correlation"]))
                se = np.nanstd(diff, ddof=1) / np.sqrt(np.sum(~np.isnan(diff)))
                print(
                    f"| {experiment} | {layer_dir.name} | {perturbation} | {len(diff)} "
                    f"| {np.nanmean(vis32['correlation']):.3f} | {np.nanmean(vis16['correlation']):.3f} "
                    f"| {np.nanmean(diff):+.4f} ({se:.4f}) | {vis32['top1'].mean():.2f} / {vis16['top1'].mean():.2f} "
                    f"| {t32:.1f} / {t16:.1f} | {check:.1e} |",
                    flush=True,
                )
    every = np.concatenate(differences)
    every = every[~np.isnan(every)]
    print(
        f"\nAll {len(every)} visualisations: bfloat16 - float32 r = {every.mean():+.4f} "
        f"(SE {every.std(ddof=1) / np.sqrt(len(every)):.4f}; |difference| median {np.median(np.abs(every)):.3f}, "
        f"largest {np.abs(every).max():.3f})"
    )


if __name__ == "__main__":
    main()
