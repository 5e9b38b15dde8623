"""The GPU path: every method on ``cuda`` gives the numbers it gives on the CPU.

Run by ``make gpu-check`` on a machine with a CUDA GPU; elsewhere these tests
skip, saying so. ``AEMAP_TEST_DEVICE=cpu`` runs the same checks on the CPU
(to check the checks themselves)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from aemap.attribution.settings import resolve
from aemap.attribution.stage import attribute_and_visualise
from aemap.explain.permutation import pixel_latent_importance
from aemap.explain.reference import pixel_latent_importance_reference
from aemap.explain.saliency import autograd_jacobian, csda_jacobian
from aemap.models import build_model
from aemap.models.train import TrainConfig, fit_autoencoder

DEVICE = torch.device(os.environ.get("AEMAP_TEST_DEVICE", "cuda"))
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEVICE.type == "cuda" and not torch.cuda.is_available(),
        reason="no CUDA device here: the GPU tests run with `make gpu-check` on a GPU machine",
    ),
]


def _digits(n: int = 200, shape=(12, 12), seed: int = 0) -> np.ndarray:
    """Sparse stroke-like images: many constant pixels, as in MNIST."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, *shape), dtype=np.float32)
    x[:, 3:9, 3:9] = rng.uniform(size=(n, 6, 6)) > 0.5
    return x


def _encoder(seed: int = 0, shape=(12, 12)) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model({"family": "dense_ae", "encoder": [16, 4]}, shape, 2).encoder.eval()


def test_fast_permutation_importance_on_the_device_equals_the_reference_loop():
    x = _digits(60)
    encoder = _encoder()
    reference = pixel_latent_importance_reference(encoder, x, n_permutations=2, seed=3)
    fast = pixel_latent_importance(encoder.to(DEVICE), x, n_permutations=2, seed=3, progress=False)
    np.testing.assert_allclose(fast.per_permutation, reference, rtol=2e-4, atol=1e-7)


def test_complex_step_equals_autograd_on_the_device():
    encoder = _encoder().to(DEVICE)
    x = _digits(8)
    csda = csda_jacobian(encoder, x, h=1e-16, images_per_pass=4)
    auto = autograd_jacobian(encoder, x, images_per_pass=4)
    np.testing.assert_allclose(np.asarray(csda), np.asarray(auto), rtol=1e-10, atol=1e-13)


def test_training_on_the_device_is_deterministic_and_matches_the_cpu():
    x = _digits(256)
    # No input noise: it is drawn on the device, from a generator the CPU does not share.
    cfg = TrainConfig(epochs=2, batch_size=32, loss="bce", noise=0.0, seed=5)
    weights = []
    for device in (DEVICE, DEVICE, torch.device("cpu")):
        torch.manual_seed(0)
        model = build_model({"family": "dense_ae", "encoder": [16, 4]}, (12, 12), 2)
        fit_autoencoder(model, x[:200], x[200:], cfg, device, progress=False)
        weights.append(torch.cat([p.detach().cpu().reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)  # same seed, same device: same bits
    # Another device shuffles alike (a CPU generator) but sums in another order.
    torch.testing.assert_close(weights[0], weights[2], rtol=1e-3, atol=1e-4)


def test_attribution_on_the_device_matches_the_cpu():
    torch.manual_seed(0)
    model = build_model({"family": "cnn", "channels": [4, 8], "hidden": [16]}, (12, 12), 3).eval()
    x = _digits(3)
    targets = np.array([0, 1, 2])
    cfg = {"optimise": {"steps": 6, "inits": 2}, "ig": {"steps": 16}, "beta": {"fallback": 0.3}}
    settings = resolve(cfg)
    results = {}
    for device in (DEVICE, torch.device("cpu")):
        model.to(device)
        results[device.type] = attribute_and_visualise(model, "conv2", x, targets, "pyramid", settings, device)
    (a_dev, v_dev), (a_cpu, v_cpu) = results[DEVICE.type], results["cpu"]
    np.testing.assert_allclose(a_dev["attributions"], a_cpu["attributions"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(a_dev["beta"], a_cpu["beta"], atol=1e-6)
    assert v_dev["x"].shape == v_cpu["x"].shape and np.isfinite(v_dev["x"]).all()
    assert v_dev["mask"].min() >= 0 and v_dev["mask"].max() <= 1


def test_bfloat16_attribution_on_the_device_tracks_float32():
    """attribution.optimise.precision: bfloat16 on the device: the same draws as
    float32 there, the network rounded to bfloat16, so a close optimisation."""
    torch.manual_seed(0)
    model = build_model({"family": "cnn", "channels": [4, 8], "hidden": [16]}, (12, 12), 3).eval().to(DEVICE)
    x = _digits(9)
    targets = np.arange(9) % 3
    runs = {}
    for precision in ("float32", "bfloat16"):
        cfg = {"optimise": {"steps": 20, "inits": 1, "precision": precision}, "ig": {"steps": 16}}
        settings = resolve({**cfg, "beta": {"fallback": 0.3}})
        runs[precision] = attribute_and_visualise(model, "conv2", x, targets, "pyramid", settings, DEVICE)[1]
    low, full = runs["bfloat16"], runs["float32"]
    assert low["x"].dtype == np.float32 and np.isfinite(low["x"]).all()
    np.testing.assert_allclose(low["objective"][:, 0], full["objective"][:, 0], rtol=0.02)
    np.testing.assert_allclose(low["objective"][:, -1], full["objective"][:, -1], rtol=0.05)
    assert np.abs(low["x"] - full["x"]).mean() < 0.3 * np.abs(full["x"] - 0.5).mean()
