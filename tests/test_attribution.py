"""Shi, Li & Yamaguchi's attribution visualisation: known answers."""

from __future__ import annotations

import ast
import dataclasses
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aemap.allocator import KEPT_ENVIRONMENT, keep_freed_memory_in_jobs
from aemap.attribution.layers import LayerError, head, named_layers, resolve_layer, trunk
from aemap.attribution.metrics import in_top_k, pearson_rows, standardised_codes, target_rank
from aemap.attribution.neurons import (
    BaselineSettings,
    IGSettings,
    channel_filter,
    neuron_attributions,
)
from aemap.attribution.noise import FractalNoise, expected_sd, pyramid_parameters, spectral_slope
from aemap.attribution.otsu import FlatMapError, otsu_beta
from aemap.attribution.perturb import PERTURBATIONS, Perturbation, PerturbationSettings, select_level
from aemap.attribution.settings import resolve
from aemap.attribution.stage import (
    attribute,
    attribute_and_visualise,
    choose_items,
    live_dims,
    model_input_shape,
    select_autoencoder_items,
    select_classifier_items,
    shown_visualisation,
    visualise_and_score,
)
from aemap.attribution.streams import ItemStreams, random_tensor, seeded_generator
from aemap.attribution.transforms import TransformSettings, affine_grid, apply_transforms, random_affine
from aemap.attribution.visualise import OptimiseSettings, at_image_size, bytes_per_item, chunk_size, visualise
from aemap.data.idx import read_idx
from aemap.models.networks import ConvClassifier, DenseAutoencoder


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _sharp_cnn(seed: int = 0) -> ConvClassifier:
    """The Table 3 CNN with weights scaled up so that logits differ by whole units."""
    torch.manual_seed(seed)
    model = ConvClassifier((28, 28), 10).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.5)
    return model


# --- layers --------------------------------------------------------------------------------------


def test_layer_names_and_split_of_the_cnn_and_the_autoencoder():
    cnn = _sharp_cnn()
    assert list(named_layers(cnn)) == ["conv1", "conv2", "conv3", "dense1"]
    assert resolve_layer(cnn, "conv2") is cnn.features[4]
    assert resolve_layer(cnn, "features.4") is cnn.features[4]  # a dotted path works too
    x = torch.rand(3, 28, 28)
    a = trunk(cnn, resolve_layer(cnn, "conv2"), x)
    np.testing.assert_allclose(a.detach(), cnn.features[:5](x[:, None]).detach())
    np.testing.assert_allclose(head(cnn, resolve_layer(cnn, "conv2"), (28, 28))(a).detach(), cnn(x).detach(), atol=1e-5)
    dae = DenseAutoencoder((28, 28), [128, 32])
    assert list(named_layers(dae)) == ["hidden1", "latent"]
    assert list(named_layers(DenseAutoencoder((28, 28), [12]))) == ["latent"]
    with pytest.raises(LayerError, match="no layer 'conv9'; known: conv1, conv2, conv3, dense1"):
        resolve_layer(cnn, "conv9")


# --- neuron attributions --------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv3", "dense1"])
def test_ig_completeness_on_the_cnn_with_the_zero_baseline(layer):
    # Sum of layer attributions = logit(x) - logit(0). Captum's layer IG integrates along the
    # input-space path, so only the Riemann error and the activations' bend remain: <= 1 %.
    model = _sharp_cnn()
    x = torch.rand(6, 28, 28)
    t = torch.arange(6)
    r = neuron_attributions(model, resolve_layer(model, layer), x, t, IGSettings(steps=200), clamp_negative=False)
    diff = r.output - r.baseline_output
    assert np.abs(diff).min() > 0.2  # a real difference to explain
    np.testing.assert_array_less(r.completeness_gap, 0.01 * np.abs(diff) + 1e-4)
    np.testing.assert_allclose(r.attributions.reshape(6, -1).sum(1), diff, rtol=0.01, atol=1e-4)


def test_optimised_baseline_suppresses_the_target_and_ig_is_complete():
    model = _sharp_cnn(1)
    x = torch.rand(4, 28, 28)
    with torch.no_grad():
        t = model(x).argmax(1)
    r = neuron_attributions(
        model,
        resolve_layer(model, "conv3"),
        x,
        t,
        IGSettings(steps=200),
        BaselineSettings(kind="optimised", steps=150, lr=0.1),
        clamp_negative=False,
    )
    assert (r.baseline_output < r.output - 1.0).all()  # the target logit is suppressed
    np.testing.assert_array_less(r.completeness_gap, 0.01 * np.abs(r.output - r.baseline_output) + 1e-4)


def test_latent_layer_attributions_are_the_target_code_alone():
    torch.manual_seed(0)
    ae = DenseAutoencoder((28, 28), [12]).eval()
    x = torch.rand(3, 28, 28)
    t = torch.tensor([0, 5, 11])
    r = neuron_attributions(ae.encoder, resolve_layer(ae, "latent"), x, t, classifier=False, clamp_negative=False)
    z = ae.encoder(x).detach().numpy()
    z0 = ae.encoder(torch.zeros(1, 28, 28)).detach().numpy()[0]
    expected = np.zeros((3, 12))
    expected[np.arange(3), t] = z[np.arange(3), t] - z0[t]
    np.testing.assert_allclose(r.attributions, expected, atol=1e-5)
    assert r.heatmap.shape == (3, 28, 28)  # a dense layer's map comes from the pixels


def test_channel_filter_keeps_the_channels_holding_the_share():
    attr = torch.zeros(1, 4, 2, 2)
    attr[0, 0, 0, 0], attr[0, 1, 1, 1], attr[0, 2, 0, 1], attr[0, 3, 1, 0] = 6.0, 3.0, 0.6, 0.4
    kept = channel_filter(attr, 0.9)  # 6 (60 %), 3 (90 %): the first two hold 90 %
    assert [bool(kept[0, c].any()) for c in range(4)] == [True, True, False, False]
    assert torch.equal(channel_filter(attr, 1.0), attr)


# --- beta --------------------------------------------------------------------------------------------


def test_otsu_beta_of_a_two_level_map_is_its_foreground_share():
    heat = np.full((28, 28), 0.2)
    heat[3:10, 5:14] = 0.9
    beta = otsu_beta(heat, bins=200)
    assert beta.value == pytest.approx(63 / 784) and beta.source == "otsu"
    assert 0.2 <= beta.threshold < 0.9
    assert otsu_beta(heat, fraction=0.5).value == pytest.approx(63 / 784 / 2)  # the authors' code halves it


def test_a_constant_map_never_gives_beta_zero_silently():
    with pytest.raises(FlatMapError, match="constant"):
        otsu_beta(np.zeros((28, 28)))
    beta = otsu_beta(np.zeros((28, 28)), fallback=0.3)
    assert (beta.value, beta.source) == (0.3, "fallback")


# --- noise ---------------------------------------------------------------------------------------------


def test_pyramid_levels_have_their_slope_and_sd():
    params = pyramid_parameters(6)
    assert len(params) == 6
    np.testing.assert_allclose([p for p, _ in params], [3.0, 2.8, 2.6, 2.4, 2.2, 2.0])
    np.testing.assert_allclose([s for _, s in params], [0.2, 0.19, 0.18, 0.17, 0.16, 0.15])
    noise = FractalNoise.pyramid((28, 28))
    assert noise.scales.shape[0] == 6
    g = torch.Generator().manual_seed(0)
    draws = noise.draw(400, g)  # (400, 6, 28, 28)
    for d, (p, sd) in enumerate(params):
        assert abs(-spectral_slope(draws[:, d]) - p) < 0.2, f"level {d}"
        assert draws[:, d].std(dim=(1, 2)).mean().item() == pytest.approx(sd, rel=0.05)
        assert expected_sd(noise.scales[d]) == pytest.approx(sd, rel=1e-5)


@pytest.mark.parametrize("kind", ["pyramid", "fractal", "gaussian", "blur", "constant", "none"])
def test_every_perturbation_keeps_the_image_where_the_mask_is_one(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 28, 28)
    pert = Perturbation(kind, (28, 28))
    out = pert.composite(x, torch.ones_like(x), g)
    np.testing.assert_allclose(out, x, atol=1e-6)
    if kind != "none":
        out0 = pert.composite(x, torch.zeros_like(x), g)
        assert not torch.allclose(out0, x) and out0.min() >= 0 and out0.max() <= 1
    if kind == "pyramid":
        assert pert.noise.scales.shape[0] == 6  # one level count everywhere


def test_select_level_picks_and_interpolates():
    levels = torch.arange(6.0)[None, :, None, None].expand(1, 6, 2, 2)
    m = torch.tensor([[[0.0, 1.0], [0.5, 0.1]]])
    np.testing.assert_allclose(select_level(levels, m)[0], [[0.0, 5.0], [2.5, 0.5]], atol=1e-6)


def test_perturbations_are_named_as_the_paper():
    assert PERTURBATIONS == ("none", "blur", "constant", "gaussian", "fractal", "pyramid")


def _blur_spread(settings: PerturbationSettings, size: int = 128) -> tuple[float, float]:
    """The (x, y) variance of the fully blurred (M = 0) image of a unit impulse."""
    x = torch.zeros(1, 1, size, size)
    x[0, 0, size // 2, size // 2] = 1.0
    out = Perturbation("blur", (size, size), settings).composite(x, torch.zeros_like(x), None)[0, 0].double()
    r = torch.arange(size, dtype=torch.float64) - size // 2
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-6)
    return float((out.sum(0) * r**2).sum()), float((out.sum(1) * r**2).sum())


def test_blur_sigma_and_kernel_scale_with_the_pixels_per_axis():
    """An impulse blurred at sigma_max spreads with variance sigma^2 (a kernel
    wide enough not to truncate it); scaled 2x along x only, sigma doubles
    there: variance x4 along x, unchanged along y, and the kernel's columns
    grow from 41 to 81 while its rows stay 41."""
    base = PerturbationSettings(blur_sigma_max_px=2.0, blur_kernel=41)
    assert _blur_spread(base) == pytest.approx((4.0, 4.0), rel=1e-6)
    wide = dataclasses.replace(base, px_scale=(2.0, 1.0))
    assert wide.blur_kernel_size() == (41, 81)
    assert _blur_spread(wide) == pytest.approx((16.0, 4.0), rel=1e-6)
    # The config's 5-px kernel: radius 2 -> 4 at twice the pixels, 1 at half.
    assert dataclasses.replace(PerturbationSettings(), px_scale=(2.0, 2.0)).blur_kernel_size() == (9, 9)
    assert dataclasses.replace(PerturbationSettings(), px_scale=(0.5, 0.5)).blur_kernel_size() == (3, 3)
    with pytest.raises(ValueError, match=r"blur_kernel: 4 is even.*size is odd"):
        PerturbationSettings(blur_kernel=4)


# --- transforms -----------------------------------------------------------------------------------------


def test_transforms_identity_and_disabled():
    x = torch.rand(2, 1, 28, 28)
    ident = TransformSettings(jitter1_px=0, scale=(1, 1), rotate_deg=0, shear_deg=0, jitter2_px=0)
    np.testing.assert_allclose(apply_transforms(x, ident, torch.Generator().manual_seed(0)), x, atol=1e-5)
    disabled = TransformSettings(enabled=False)
    assert apply_transforms(x, disabled, None) is x
    out = apply_transforms(x, TransformSettings(), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_transforms_closed_form_matches_the_composed_matrices():
    """The closed-form inverse against the map built as products of the
    scale, rotation and shear matrices and inverted numerically; the
    broadcast grid against PyTorch's affine_grid."""
    s = TransformSettings(jitter1_px=3.0, scale=(0.7, 1.4), rotate_deg=40.0, shear_deg=15.0, jitter2_px=2.0)
    n, h, w = 50, 28, 20
    theta = random_affine(n, (h, w), s, torch.Generator().manual_seed(1))
    # The same uniform draws: jitter1 (x, y), jitter2 (x, y), scale, angle, shear angle.
    lo = torch.tensor([-3.0, -3.0, -2.0, -2.0, 0.7, -40.0, -15.0], dtype=torch.float64)[:, None]
    hi = torch.tensor([3.0, 3.0, 2.0, 2.0, 1.4, 40.0, 15.0], dtype=torch.float64)[:, None]
    u = lo + (hi - lo) * torch.rand((7, n), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t1 = torch.stack([u[0] * 2 / w, u[1] * 2 / h], 1)
    t2 = torch.stack([u[2] * 2 / w, u[3] * 2 / h], 1)
    a, sh = u[5] * math.pi / 180, torch.tan(u[6] * math.pi / 180)
    z, o = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    scale = torch.diag_embed(torch.stack([u[4], u[4]], 1))
    rot = torch.stack([torch.stack([a.cos(), -a.sin()], 1), torch.stack([a.sin(), a.cos()], 1)], 1)
    shear = torch.stack([torch.stack([o, sh], 1), torch.stack([z, o], 1)], 1)
    forward = shear @ rot @ scale
    # theta maps an output point p' to its input point p, with p' = L (p + t1) + t2.
    p = torch.rand((n, 2, 1), dtype=torch.float64) * 2 - 1
    p_out = forward @ (p + t1[:, :, None]) + t2[:, :, None]
    back = theta[:, :, :2] @ p_out + theta[:, :, 2:]
    torch.testing.assert_close(back, p, rtol=0, atol=1e-12)
    grid = affine_grid(theta.float(), (h, w))
    torch.testing.assert_close(grid, F.affine_grid(theta.float(), [n, 1, h, w], align_corners=False), rtol=0, atol=1e-6)


def test_pixel_amounts_scale_to_the_image_so_the_normalised_maps_agree():
    """The jitters are given in pixels of 28-px images: at 56 px (or 56 wide
    and 28 high) at_image_size scales them per axis, and the affine maps in
    normalised coordinates are then identical to the 28-px ones, draw for
    draw; at 28 px, or with pixel_reference None, nothing changes."""
    s = OptimiseSettings()
    assert at_image_size(s, (28, 28)) == s
    assert at_image_size(dataclasses.replace(s, pixel_reference=None), (56, 56)).transforms.px_scale == (1.0, 1.0)
    theta_28 = random_affine(40, (28, 28), s.transforms, torch.Generator().manual_seed(3))
    for size in ((56, 56), (28, 56), (14, 21)):
        scaled = at_image_size(s, size)
        assert scaled.perturbation.px_scale == scaled.transforms.px_scale == (size[1] / 28, size[0] / 28)
        theta = random_affine(40, size, scaled.transforms, torch.Generator().manual_seed(3))
        torch.testing.assert_close(theta, theta_28, rtol=0, atol=1e-15)
    # Unscaled, a 56-px image would be jittered half as far in normalised units.
    theta_raw = random_affine(40, (56, 56), s.transforms, torch.Generator().manual_seed(3))
    assert not torch.allclose(theta_raw, theta_28)


# --- the optimisation -------------------------------------------------------------------------------------


class SquareNet(nn.Module):
    """Two channels: channel 0 sees the image inside a known square, channel 1
    outside it. Only channel 0 feeds the output, so only it contributes."""

    def __init__(self, square: tuple[slice, slice]):
        super().__init__()
        window = torch.zeros(28, 28)
        window[square] = 1
        self.register_buffer("window", window)
        self.act = nn.ReLU()
        self.input_shape = (28, 28)

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        a = self.act(torch.cat([x * self.window, x * (1 - self.window)], 1))
        return torch.stack([a[:, 0].flatten(1).sum(1), torch.zeros(len(x))], 1)


@pytest.mark.parametrize("kind", ["pyramid", "constant"])
def test_the_mask_concentrates_on_the_only_contributing_square(kind):
    square = (slice(6, 18), slice(10, 22))  # 144 px, beta = 144 / 784
    net = SquareNet(square)
    x = torch.ones(1, 28, 28)
    r = neuron_attributions(net, net.act, x, torch.tensor([0]))
    assert r.attributions[0, 1].max() == 0  # channel 1 does not contribute
    beta = otsu_beta(r.heatmap[0])
    assert beta.value == pytest.approx(144 / 784)
    truth = np.zeros((28, 28), bool)
    truth[square] = True
    betas = torch.tensor([0.12, beta.value, 0.3])
    attr = torch.as_tensor(r.attributions).repeat(3, 1, 1, 1)
    # lambda as the paper (x1 the attribution sum) and as the authors' code (x20). The paper's
    # softer penalty cannot shrink the mask below the contributing area (beta 0.12 < 0.18).
    for lambda_scale, tolerance, checked in ((1.0, 0.06, [1, 2]), (20.0, 0.02, [0, 1, 2])):
        s = OptimiseSettings(steps=300, lr=0.05, seed=0, lambda_scale=lambda_scale)
        vis = visualise(net, net.act, (28, 28), attr, betas, kind, s)
        mask = vis.mask[1] > 0.5
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou >= 0.5, iou
        assert (vis.mask[2] > 0.5)[truth].mean() > 0.9  # a larger beta still covers the square first
        means = vis.mask.reshape(3, -1).mean(1)
        np.testing.assert_allclose(means[checked], betas.numpy()[checked], atol=tolerance)  # the area tracks beta
        assert means[0] < means[1] < means[2]
        assert (vis.objective[:, -1] > vis.objective[:, 0]).all()  # the attribution term grew


def test_attribute_and_visualise_is_the_two_jobs_in_one_call():
    model = _sharp_cnn().eval()
    x = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(0)).numpy()
    targets = np.array([0, 3, 7])
    settings = resolve({"optimise": {"steps": 6, "inits": 2}, "ig": {"steps": 16}, "beta": {"fallback": 0.3}})
    attr, vis = attribute_and_visualise(model, "conv2", x, targets, "constant", settings, torch.device("cpu"))
    alone = attribute(model, "conv2", x, targets, settings, torch.device("cpu"))
    args = (alone["attributions"], alone["activations"], alone["beta"], targets)
    two_steps = visualise_and_score(model, "conv2", *args, "constant", settings, torch.device("cpu"))
    assert attr.keys() == alone.keys() and vis.keys() == two_steps.keys()
    for key in attr:
        np.testing.assert_array_equal(attr[key], alone[key])
    for key in vis:
        np.testing.assert_array_equal(vis[key], two_steps[key])
    np.testing.assert_array_equal(vis["target"], np.repeat(targets, 2))  # items image-major, inits inner


def test_a_users_model_gets_clear_errors_not_torch_internals():
    """A user's own model: a shared activation module, targets that are no
    output, inputs the model rejects and a layer the forward pass never
    reaches each name what is wrong before any attribution runs."""
    settings = resolve({"optimise": {"steps": 2, "inits": 1}, "ig": {"steps": 4}})
    cpu = torch.device("cpu")
    x = torch.rand(2, 1, 14, 14, generator=torch.Generator().manual_seed(0)).numpy()
    relu = nn.ReLU()  # one module at two places: the trunk would stop at its first use
    shared = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), relu, nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), relu, nn.Flatten()
    )
    shared.append(nn.Linear(4 * 7 * 7, 3))
    with pytest.raises(LayerError, match=r"'1' \(ReLU\) runs 2 times in one forward pass .*own module"):
        attribute_and_visualise(shared.eval(), "1", x, np.array([0, 1]), "none", settings, cpu)
    model = nn.Sequential(nn.Flatten(), nn.Linear(196, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    with pytest.raises(ValueError, match=r"targets \[4, 9\] are not outputs of the model: it has 4 \(indices 0..3\)"):
        attribute(model, "2", x, np.array([9, 4]), settings, cpu)
    with pytest.raises(ValueError, match=r"targets \[-1\]"):
        visualise_and_score(model, "2", np.ones((1, 8)), np.ones((1, 8)), np.array([0.3]), np.array([-1]),
                            "none", settings, cpu, input_shape=(14, 14))  # fmt: skip
    with pytest.raises(ValueError, match=r"images: the model cannot run on inputs shaped \(1, 12, 12\)"):
        attribute(model, "2", x[:, :, :12, :12], np.array([0, 1]), settings, cpu)
    with pytest.raises(ValueError, match="2 images and 1 targets"):
        attribute(model, "2", x, np.array([0]), settings, cpu)
    with pytest.raises(ValueError, match=r"targets: output indices must be whole numbers; got \[0.5, 1.0\]"):
        attribute(model, "2", x, np.array([0.5, 1.0]), settings, cpu)
    with pytest.raises(ValueError, match=r"targets: one index per image, \(N,\); got shape \(2, 1\)"):
        attribute(model, "2", x, np.array([[0], [1]]), settings, cpu)
    # Labels often come as floats: whole ones are indices.
    as_floats = attribute(model, "2", x, np.array([0.0, 3.0]), settings, cpu)
    np.testing.assert_array_equal(
        as_floats["attributions"], attribute(model, "2", x, [0, 3], settings, cpu)["attributions"]
    )

    class SkipsALayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.unused = nn.Sequential(nn.Flatten(), nn.Linear(196, 3)), nn.ReLU()

        def forward(self, v):
            return self.body(v)

    with pytest.raises(LayerError, match=r"'unused' \(ReLU\) is not reached"):
        attribute(SkipsALayer().eval(), "unused", x, np.array([0, 1]), settings, cpu)


def test_images_off_the_visualisations_scale_are_warned_about(caplog):
    """X* lies in [0, 1] (a sigmoid): a model fed 0-255 or standardised
    images would be probed off its inputs' scale, and the log says so."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    settings = resolve({"ig": {"steps": 4}, "beta": {"fallback": 0.3}})
    x = np.linspace(0, 1, 32, dtype=np.float32).reshape(2, 1, 4, 4)
    with caplog.at_level(logging.WARNING):
        attribute(model, "2", x, np.array([0, 1]), settings, torch.device("cpu"))
        assert "visualisations are images in [0, 1]" not in caplog.text
        attribute(model, "2", (x * 255).astype(np.uint8), np.array([0, 1]), settings, torch.device("cpu"))
    assert "images range over [0, 255], but the visualisations are images in [0, 1]" in caplog.text


def test_an_item_with_nothing_to_attribute_is_reported_and_counted(caplog):
    """Target 0 of this network only loses from its hidden units (weights
    -1): every attribution is negative, so R_l is zero after clamping. Its
    visualisations have no correlation: the jobs say so, and the ablation
    table counts them apart from the mean (target 1, weights 1, 2, 3, is fine)."""
    import pandas as pd

    from aemap.attribution.stage import ablation_table, metrics_rows

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.05], [0.1], [0.2]]).expand(3, 16))  # three unequal hidden units
        model[1].bias.zero_()
        model[3].weight.copy_(torch.tensor([[-1.0, -1.0, -1.0], [1.0, 2.0, 3.0]]))
        model[3].bias.zero_()
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)).numpy() + 0.1
    settings = resolve({"optimise": {"steps": 4, "inits": 2}, "ig": {"steps": 8}, "beta": {"fallback": 0.3}})
    with caplog.at_level(logging.WARNING):
        attr, vis = attribute_and_visualise(
            model.eval(), "2", x, np.array([0, 1]), "none", settings, torch.device("cpu")
        )
    assert not attr["attributions"][0].any() and attr["attributions"][1].all()
    assert "item 0 (class index 0, layer 2): every neuron's attribution is <= 0" in caplog.text
    assert "2 of 4 visualisations have no correlation (NaN)" in caplog.text
    assert np.isnan(vis["correlation"][:2]).all() and np.isfinite(vis["correlation"][2:]).all()
    table = ablation_table(metrics_rows("e", "2", "none", vis, np.array([5, 6]), attr["beta"])).iloc[0]
    assert table["n"] == 4 and table["correlation_undefined"] == 2
    assert table["correlation"] == pytest.approx(np.mean(vis["correlation"][2:]))
    assert pd.notna(table["correlation"])


def test_explaining_a_model_in_training_mode_neither_changes_it_nor_depends_on_the_mode():
    """Batch norm in training mode would normalise by each batch and update
    its running statistics, dropout would draw: a model handed over in
    training mode is explained as at inference, its statistics are
    untouched, and every submodule's mode is restored (one left in eval mode
    on purpose stays so)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5)
    )
    model.append(nn.Linear(4 * 7 * 7, 3))
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.1, 0.1)
        model[1].running_var.uniform_(0.5, 1.5)
    model.train()
    model[5].eval()  # a submodule the user keeps in eval mode
    stats = [t.clone() for t in (model[1].running_mean, model[1].running_var)]
    x = torch.rand(2, 1, 14, 14, generator=torch.Generator().manual_seed(1)).numpy()
    settings = resolve({"optimise": {"steps": 3, "inits": 1}, "ig": {"steps": 8}, "beta": {"fallback": 0.3}})
    args = ("2", x, np.array([0, 2]), "pyramid", settings, torch.device("cpu"))
    attr, vis = attribute_and_visualise(model, *args)
    assert model.training and model[1].training and not model[5].training
    torch.testing.assert_close(model[1].running_mean, stats[0], rtol=0, atol=0)
    torch.testing.assert_close(model[1].running_var, stats[1], rtol=0, atol=0)
    assert int(model[1].num_batches_tracked) == 0
    attr_eval, vis_eval = attribute_and_visualise(model.eval(), *args)
    np.testing.assert_array_equal(attr["attributions"], attr_eval["attributions"])
    np.testing.assert_array_equal(vis["x"], vis_eval["x"])


def test_same_seed_gives_identical_bytes_and_another_seed_does_not():
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv2")
    r = torch.rand(3, 64, 14, 14)
    beta = torch.tensor([0.2, 0.3, 0.4])
    s = OptimiseSettings(steps=12, seed=7)
    a = visualise(model, layer, (28, 28), r, beta, "pyramid", s)
    b = visualise(model, layer, (28, 28), r, beta, "pyramid", s)
    for field in ("x", "mask", "composite", "objective"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    c = visualise(model, layer, (28, 28), r, beta, "pyramid", OptimiseSettings(steps=12, seed=8))
    assert not np.array_equal(a.x, c.x)
    assert all(p.requires_grad for p in model.parameters())  # weights are frozen only during the run


def test_channels_last_gives_the_plain_layouts_values_and_leaves_the_weights_as_they_were():
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv2")
    before = [(p.data_ptr(), p.stride()) for p in model.parameters()]
    # Nine items: enough for the first convolution's fast image gradient (fastconv.MIN_BATCH).
    r = torch.rand(9, 64, 14, 14)
    beta = torch.linspace(0.2, 0.4, 9)
    runs = {
        fmt: visualise(model, layer, (28, 28), r, beta, "pyramid", OptimiseSettings(steps=4, memory_format=fmt))
        for fmt in ("contiguous", "channels_last", "auto")
    }
    # Same noise and transformations; only the float summation order differs.
    for field in ("x", "mask", "composite", "objective"):
        np.testing.assert_allclose(
            getattr(runs["channels_last"], field), getattr(runs["contiguous"], field), rtol=1e-4, atol=1e-5
        )
        assert getattr(runs["auto"], field).tobytes() == getattr(runs["channels_last"], field).tobytes()  # CPU
    assert [(p.data_ptr(), p.stride()) for p in model.parameters()] == before
    assert not any("forward" in vars(m) for m in model.modules())  # the convolutions' own forward again
    with pytest.raises(ValueError, match="memory_format"):
        visualise(model, layer, (28, 28), r, beta, "none", OptimiseSettings(steps=1, memory_format="nhwc"))


def test_bfloat16_runs_the_network_only_and_tracks_float32():
    """The network under bfloat16 autocast: a different but close optimisation
    (same noise and transformations), reproducible bits, float32 outputs."""
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv2")
    r = torch.rand(9, 64, 14, 14, generator=torch.Generator().manual_seed(3))
    beta = torch.linspace(0.2, 0.4, 9)

    def run(precision):
        return visualise(model, layer, (28, 28), r, beta, "pyramid", OptimiseSettings(steps=20, precision=precision))

    runs = {p: [run(p), run(p)] for p in ("float32", "bfloat16")}
    low, full = runs["bfloat16"][0], runs["float32"][0]
    for field in ("x", "mask", "composite", "objective"):
        assert getattr(low, field).dtype == getattr(full, field).dtype
        assert getattr(low, field).tobytes() == getattr(runs["bfloat16"][1], field).tobytes()  # same seed, same bits
    assert not np.array_equal(low.x, full.x)  # autocast did run the network in bfloat16
    # Step 0 sees the same image: only the network's rounding differs (bfloat16 keeps 8 bits).
    np.testing.assert_allclose(low.objective[:, 0], full.objective[:, 0], rtol=0.02)
    # 20 steps later the two are the same optimisation: the images moved far more (from the
    # grey start) than they differ (Adam's first steps are +-lr wherever a tiny gradient's
    # sign flips), and the objective agrees to 2 %.
    assert np.abs(low.x - full.x).mean() < 0.3 * np.abs(full.x - 0.5).mean()
    np.testing.assert_allclose(low.objective[:, -1], full.objective[:, -1], rtol=0.02)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(ValueError, match=r"attribution.optimise.precision: unknown 'float16'"):
        visualise(model, layer, (28, 28), r, beta, "none", OptimiseSettings(steps=1, precision="float16"))


def test_bfloat16_on_a_cpu_without_native_kernels_is_named_in_the_log(monkeypatch, caplog):
    """Emulated bfloat16 was 11-14x slower than float32 on an AVX2 CPU: a run
    asking for it there says so; with native kernels, or in float32, it does not."""
    import aemap.attribution.visualise as vis_module

    model = _sharp_cnn()
    layer = resolve_layer(model, "conv2")
    r, beta = torch.rand(2, 64, 14, 14), torch.full((2,), 0.3)
    for precision, native, warned in (("bfloat16", False, True), ("bfloat16", True, False), ("float32", False, False)):
        monkeypatch.setattr(vis_module, "cpu_has_fast_bfloat16", lambda native=native: native)
        caplog.clear()
        with caplog.at_level("INFO", logger="aemap.attribution.visualise"):
            visualise(model, layer, (28, 28), r, beta, "none", OptimiseSettings(steps=1, precision=precision))
        assert ("no native bfloat16 kernels" in caplog.text) == warned, (precision, native, caplog.text)


def test_native_bfloat16_is_told_from_the_cpu_flags():
    """aemap.compute.cpu_has_fast_bfloat16 against /proc/cpuinfo: oneDNN's native
    bfloat16 needs AVX-512 (BW, VL, DQ) or AVX2-VNNI-2 (with AVX-NE-CONVERT)."""
    from aemap.compute import cpu_has_fast_bfloat16

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file() or "flags" not in cpuinfo.read_text():
        pytest.skip("no /proc/cpuinfo flags on this machine to check the answer against")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    if {"avx512bw", "avx512vl", "avx512dq"} <= flags:
        assert cpu_has_fast_bfloat16() is True
    elif "avx_ne_convert" not in flags:
        assert cpu_has_fast_bfloat16() is False
    else:
        assert cpu_has_fast_bfloat16() in (True, False)


def test_the_mask_finds_the_contributing_square_with_the_network_in_bfloat16():
    """A convolutional version of SquareNet (a 1x1 convolution reads the window):
    the optimisation under bfloat16 still concentrates the mask on the square."""
    square = (slice(6, 18), slice(10, 22))
    window = torch.zeros(1, 1, 28, 28)
    window[0, 0][square] = 1.0
    conv = nn.Conv2d(1, 2, 1, bias=False)
    conv.weight.data[:] = torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1)
    act = nn.ReLU()

    def forward(x):
        return act(conv(x.reshape(-1, 1, 28, 28)) * torch.cat([window, 1 - window], 1))

    truth = window[0, 0].bool().numpy()
    attr = torch.zeros(2, 2, 28, 28)
    attr[:, 0] = window[0, 0] * 0.01  # only channel 0 inside the square contributes
    betas = torch.full((2,), 144 / 784)
    s = OptimiseSettings(steps=300, lr=0.05, seed=0, lambda_scale=20.0, precision="bfloat16")
    vis = visualise(forward, act, (28, 28), attr, betas, "pyramid", s)
    for mask in vis.mask > 0.5:
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou >= 0.5, iou
    np.testing.assert_allclose(vis.mask.reshape(2, -1).mean(1), betas.numpy(), atol=0.03)


class ViewNet(nn.Module):
    """Flattens a feature map with .view() before the attributed layer, as much user code does."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.dense = nn.Linear(4 * 28 * 28, 8)
        self.act = nn.ReLU()

    def forward(self, x):
        a = self.conv(x.reshape(-1, 1, 28, 28))
        return self.act(self.dense(a.view(len(a), -1)))


def test_a_network_that_views_a_feature_map_is_told_the_setting_that_avoids_it():
    net = ViewNet().eval()
    r, beta = torch.rand(2, 8), torch.full((2,), 0.3)
    with pytest.raises(RuntimeError, match="memory_format: contiguous"):
        visualise(net, net.act, (28, 28), r, beta, "constant", OptimiseSettings(steps=1))
    vis = visualise(net, net.act, (28, 28), r, beta, "constant", OptimiseSettings(steps=2, memory_format="contiguous"))
    assert vis.x.shape == (2, 28, 28)


def test_chunks_of_the_memory_budget_give_the_same_shapes_and_valid_images(caplog):
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv1")
    r = torch.rand(5, 32, 28, 28)
    tiny = OptimiseSettings(steps=3, memory_budget_mb=0.5, random_block=1)  # forces chunks of one item
    with caplog.at_level("INFO", logger="aemap.attribution.visualise"):
        vis = visualise(model, layer, (28, 28), r, torch.full((5,), 0.3), "blur", tiny)
    assert "5 visualisations in 5 chunks of up to 1" in caplog.text
    assert "WARNING" not in caplog.text  # one item over the budget cannot be helped: no warning
    assert vis.x.shape == vis.mask.shape == vis.composite.shape == (5, 28, 28)
    assert vis.x.min() >= 0 and vis.x.max() <= 1 and vis.objective.shape == (5, 11)


def test_memory_per_item_counts_the_trunk_in_its_precision():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
    net.append(nn.Conv2d(8, 16, 3, padding=1))  # after the layer read: never run, never counted
    layer = net[3]
    trunk_values = (4 + 4 + 8 + 8) * 28 * 28  # what the trunk creates up to the layer
    images = 40 * 28 * 28 * 4  # images, noise, parameters: float32 whatever the precision
    # x4: forward values, their gradients, autograd's buffers
    assert bytes_per_item(net, layer, (1, 28, 28), "cpu") == 4 * 4 * trunk_values + images
    assert bytes_per_item(net, layer, (1, 28, 28), "cpu", "bfloat16") == 4 * 2 * trunk_values + images
    with pytest.raises(ValueError, match="precision"):
        bytes_per_item(net, layer, (1, 28, 28), "cpu", "int8")


def test_chunks_are_whole_random_blocks():
    per_item = 2**20  # 1 MB
    assert chunk_size(per_item, OptimiseSettings(memory_budget_mb=100, random_block=32)) == 96
    assert chunk_size(per_item, OptimiseSettings(memory_budget_mb=100, max_batch=40, random_block=8)) == 40
    assert chunk_size(per_item, OptimiseSettings(memory_budget_mb=100, random_block=1)) == 100
    assert chunk_size(per_item, OptimiseSettings(memory_budget_mb=5, random_block=32)) == 32  # at least a block
    with pytest.raises(ValueError, match=r"max_batch \(16\) must be at least random_block \(32"):
        chunk_size(per_item, OptimiseSettings(max_batch=16))


def test_a_block_over_the_budget_runs_whole_and_says_so(caplog):
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv1")
    s = OptimiseSettings(steps=1, memory_budget_mb=0.5, random_block=4)
    with caplog.at_level("INFO", logger="aemap.attribution.visualise"):
        vis = visualise(model, layer, (28, 28), torch.rand(5, 32, 28, 28), torch.full((5,), 0.3), "constant", s)
    assert "5 visualisations in 2 chunks of up to 4" in caplog.text
    assert "a chunk of 4 visualisations (one random block) needs" in caplog.text
    assert "over memory_budget_mb 0.5" in caplog.text and "random_block" in caplog.text
    assert vis.x.shape == (5, 28, 28)


def test_item_streams_draw_the_same_numbers_whatever_the_split():
    whole = ItemStreams(7, 0, 70, 8, "cpu")
    assert whole.counts == [8] * 8 + [6]
    parts = [ItemStreams(7, start, stop - start, 8, "cpu") for start, stop in ((0, 16), (16, 64), (64, 70))]
    a = whole.draw(torch.randn, (70, 2, 5))
    b = torch.cat([p.draw(torch.randn, (len(p), 2, 5)) for p in parts])
    assert torch.equal(a, b)
    # Items along another axis (the transformations' (7, n) draw), in float64.
    a = random_tensor(whole, torch.rand, (7, 70), 1, dtype=torch.float64)
    b = torch.cat([random_tensor(p, torch.rand, (7, len(p)), 1, dtype=torch.float64) for p in parts], 1)
    assert a.shape == (7, 70) and torch.equal(a, b)
    # Blocks draw independent numbers, and a one-block job draws what one generator seeded alike does.
    assert not torch.equal(a[:, :8], a[:, 8:16])
    one = ItemStreams(7, 0, 5, 8, "cpu")
    assert torch.equal(one.draw(torch.randn, (5, 3)), torch.randn((5, 3), generator=seeded_generator(7, 0, "cpu")))
    with pytest.raises(ValueError, match="multiple of the block size"):
        ItemStreams(7, 4, 10, 8, "cpu")
    with pytest.raises(ValueError, match="a draw for 3 items from the streams of 5"):
        one.draw(torch.randn, (3, 2))


def test_a_visualisation_does_not_depend_on_how_its_job_is_chunked():
    """Chunks of two against one chunk of six, with noise and transformations
    drawn every step: each item's random numbers are its block's, so only
    float rounding of differently sized batches could differ."""
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv2")
    torch.manual_seed(1)
    r, beta = torch.rand(6, 64, 14, 14), torch.full((6,), 0.3)
    runs = [
        visualise(model, layer, (28, 28), r, beta, "pyramid", OptimiseSettings(steps=6, max_batch=b, random_block=2))
        for b in (2, 6)
    ]
    for field in ("x", "mask", "composite", "objective", "mask_mean"):
        np.testing.assert_allclose(getattr(runs[0], field), getattr(runs[1], field), rtol=1e-5, atol=1e-6)
    # Another block size is another stream: the comparison above can fail.
    other = visualise(model, layer, (28, 28), r, beta, "pyramid", OptimiseSettings(steps=6, random_block=3))
    assert np.abs(other.composite - runs[1].composite).max() > 0.05


def test_a_non_square_image_of_another_size_is_visualised_with_scaled_pixel_amounts(caplog):
    """A CNN on 36x44 images, blurred and transformed: the blur kernel grows
    to 7x7 (radius 2 x 36/28 and 44/28, rounded), the composite keeps the
    image's shape, and the log says what was scaled."""
    torch.manual_seed(0)
    model = ConvClassifier((36, 44), 4, channels=(4, 8), hidden=(8,)).eval()
    layer = resolve_layer(model, "conv2")
    r, beta = torch.rand(2, 8, 18, 22), torch.full((2,), 0.3)
    with caplog.at_level(logging.INFO, logger="aemap.attribution.visualise"):
        vis = visualise(model, layer, (36, 44), r, beta, "blur", OptimiseSettings(steps=3, random_block=2))
    assert vis.x.shape == vis.mask.shape == vis.composite.shape == (2, 36, 44)
    assert "images of 36x44 px: the transforms' jitters and the blur scaled by 1.57 x 1.29" in caplog.text
    scaled = at_image_size(OptimiseSettings(), (36, 44)).perturbation
    assert scaled.blur_kernel_size() == (7, 7)
    assert Perturbation("blur", (36, 44), scaled).kernels.shape == (8, 1, 7, 7)


# --- metrics ---------------------------------------------------------------------------------------------


def test_pearson_rows_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 30)), rng.normal(size=(4, 30))
    np.testing.assert_allclose(pearson_rows(a, b), [np.corrcoef(a[i], b[i])[0, 1] for i in range(4)])
    assert np.isnan(pearson_rows(np.ones((1, 5)), np.arange(5.0)[None]))[0]


def test_top_k_counts_ties_against_the_target():
    scores = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0]])
    assert target_rank(scores, np.array([2, 0])).tolist() == [2, 2]
    assert in_top_k(scores, np.array([0, 1]), 1).tolist() == [True, False]


def test_classification_consistency_of_clean_images_is_the_top_k_accuracy(shared_data):
    images = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[:500].astype(np.float32) / 255
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")[:500].astype(np.int64)
    model = _sharp_cnn(3)
    with torch.no_grad():
        logits = model(torch.as_tensor(images))
    for k in (1, 5):
        accuracy = (logits.topk(k, dim=1).indices == torch.as_tensor(labels)[:, None]).any(1).float().mean().item()
        assert in_top_k(logits.numpy(), labels, k).mean() == pytest.approx(accuracy)


def test_standardised_codes_leave_dead_dims_out():
    z = standardised_codes(np.array([[1.0, 5.0, 2.0]]), np.array([0.0, 5.0, 1.0]), np.array([1.0, 0.0, 0.5]))
    assert z.tolist() == [[1.0, -np.inf, 2.0]]


# --- items ------------------------------------------------------------------------------------------------


def test_items_per_class_and_per_latent_dim():
    labels = np.array([1, 0, 1, 2, 0, 2, 1])
    assert select_classifier_items(labels, 2).tolist() == [1, 4, 0, 2, 3, 5]
    codes = np.array([[0.0, 3.0], [5.0, 1.0], [2.0, 4.0]])
    rows, targets = select_autoencoder_items(codes, np.array([1, 0]), 2)
    assert rows.tolist() == [2, 0, 1, 2] and targets.tolist() == [1, 1, 0, 0]


def test_classes_with_fewer_test_images_than_asked_are_named(caplog):
    """Class 'two' has one test image and 'three' none, for 2 asked per class:
    the items are what there is, and the log names both shortfalls."""
    from aemap.attribution.stage import warn_short_classes

    labels = np.array([1, 0, 1, 2, 0, 1])
    names = ["zero", "one", "two", "three"]
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4)).eval()
    data = {"x_test": np.zeros((6, 2, 2), np.float32), "y_test": labels, "classes": np.asarray(names)}
    with caplog.at_level("WARNING"):
        items = choose_items(model, data, {"images_per_class": 2}, torch.device("cpu"))
    assert items["rows"].tolist() == [1, 4, 0, 2, 3]
    assert "attribution.images_per_class 2: 2 of 4 classes have fewer test images ('two': 1, 'three': 0)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        warn_short_classes(labels, 1, names[:3], logging.getLogger("aemap.test"))
    assert caplog.text == ""  # enough of each (the three named classes)


def test_live_dims_keep_the_ranking_and_drop_dims_that_never_move():
    importance = np.array([[0.5, 0.0, 0.2, 0.1], [0.5, 0.0, 0.2, 0.0]])  # pixels x dims
    codes = np.array([[1.0, 0.0, 3.0, 2.0], [2.0, 0.0, 3.0, 1.0]])  # dim 2 constant, dim 1 both
    assert live_dims(np.array([0, 2, 3, 1]), importance, codes).tolist() == [0, 3]
    with pytest.raises(ValueError, match="no latent dim of this autoencoder varies"):
        live_dims(np.arange(4), importance, np.ones((2, 4)))


def test_an_autoencoder_with_dead_dims_explains_only_its_live_ones(caplog):
    """A 4-dim code whose dims 1 and 3 never fire (ReLU of a negative constant):
    asking for all four dims gives the two live ones, by importance, and says so."""
    torch.manual_seed(0)
    model = DenseAutoencoder((6, 6), [4]).eval()
    with torch.no_grad():
        model.encoder[1].weight[[1, 3]] = 0.0
        model.encoder[1].bias[[1, 3]] = -1.0
        model.encoder[1].weight[[0, 2]] = model.encoder[1].weight[[0, 2]].abs()  # fire on any bright image
    x = torch.rand(20, 6, 6).numpy()
    importance = np.zeros((36, 4))
    importance[:, 0], importance[:, 2] = 1.0, 2.0  # dim 2 ranks first
    cfg = {"latent_dims": 4, "images_per_dim": 3}
    with caplog.at_level("WARNING"):
        log = logging.getLogger("aemap.test")
        items = choose_items(model, {"x_test": x}, cfg, torch.device("cpu"), {"importance": importance}, log)
    assert items["targets"].tolist() == [2, 2, 2, 0, 0, 0]
    assert "attribution.latent_dims 4: the code has 4 dims, 2 of them vary" in caplog.text
    # Asked for directly, a dead dim has a flat map: the error names the item as the figures do.
    settings = resolve({"ig": {"steps": 8}})
    with pytest.raises(FlatMapError, match=r"item 1 \(latent dim 2, layer latent\): .*attribution.beta.fallback"):
        attribute(model, "latent", x[:2], np.array([0, 1]), settings, torch.device("cpu"))


# --- the stage's tables -----------------------------------------------------------------------------


def test_layer_names_from_the_config_match_the_built_models():
    from aemap.attribution.layer_names import default_layer_names_of_spec, layer_names_of_spec
    from aemap.models import build_model

    for spec in (
        {"family": "cnn", "channels": [32, 64, 64], "hidden": [128]},
        {"family": "cnn", "channels": [8, 8], "hidden": [16, 16]},
        {"family": "dense_ae", "encoder": [128, 32]},
        {"family": "dense_ae", "encoder": [12]},
    ):
        model = build_model(spec, (28, 28), 10)
        assert layer_names_of_spec(spec) == list(named_layers(model))
    assert default_layer_names_of_spec({"family": "dense_ae", "encoder": [512, 128, 32]}) == ["hidden2"]
    assert default_layer_names_of_spec({"family": "dense_ae", "encoder": [12]}) == ["latent"]
    assert default_layer_names_of_spec({"family": "cnn", "channels": [8, 8]}) == ["conv1", "conv2"]


def test_module_paths_from_the_config_match_the_built_models_whatever_the_data():
    """The dry run checks a dotted layer path against the modules of a model
    built on a nominal input: the paths must be those of the model built on
    the real data (another size, another class count), and a spec that does
    not build gives None rather than an error of its own."""
    from aemap.attribution.layer_names import module_paths_of_spec
    from aemap.models import build_model

    for spec, shape in (
        ({"family": "cnn", "channels": [8, 16], "kernel_size": 5, "hidden": [32]}, (32, 48)),
        ({"family": "cnn", "channels": [4, 4, 4, 4, 4, 4], "pool": 2, "hidden": []}, (64, 64)),
        ({"family": "dense_ae", "encoder": [1000, 900]}, (40, 40)),
        ({"family": "dense_ae", "encoder": [12]}, (28, 28)),
    ):
        model = build_model(spec, shape, 7)
        assert module_paths_of_spec(spec) == [n for n, _ in model.named_modules() if n]
    assert "features.3" in module_paths_of_spec({"family": "cnn", "channels": [8, 16]})
    assert module_paths_of_spec({"family": "cnn", "channels": []}) is None
    assert module_paths_of_spec({"family": "transformer"}) is None


def test_lambda_reference_is_the_attribution_sum_or_the_objective_at_the_image():
    from aemap.attribution.stage import lambda_reference

    attr = np.array([[1.0, 2.0, 0.0], [0.5, 0.0, 0.5]])
    acts = np.array([[10.0, 1.0, 7.0], [2.0, 3.0, 4.0]])
    assert lambda_reference("attributions", attr, acts).tolist() == [3.0, 1.0]
    assert lambda_reference("objective", attr, acts).tolist() == [12.0, 3.0]
    with pytest.raises(ValueError, match="lambda_reference"):
        lambda_reference("loss", attr, acts)


def test_ablation_table_and_the_inglis_comparison():
    import pandas as pd

    from aemap.attribution.stage import ablation_table, compare_with_importance, metrics_rows

    vis = {
        "image": np.array([0, 0, 1, 1]),
        "init": np.array([0, 1, 0, 1]),
        "target": np.array([2, 2, 0, 0]),
        "correlation": np.array([0.2, 0.4, 0.6, 0.8]),
        "top1": np.array([True, False, True, True]),
        "topk": np.array([True, True, True, True]),
        "n_ranked": np.array([10, 10, 10, 10]),
        "mask_mean": np.full((4, 11), 0.3),
        "target_output": np.ones(4),
        "x": np.ones((4, 2, 2)),
        "mask": np.ones((4, 2, 2)),
    }
    vis["mask"][:, 0, 0] = 0  # M* X* is 0 at the top-left pixel, 1 elsewhere
    rows = metrics_rows("e", "conv1", "pyramid", vis, np.array([7, 9]), np.array([0.1, 0.2]))
    assert rows["image"].tolist() == [7, 7, 9, 9] and rows["beta"].tolist() == [0.1, 0.1, 0.2, 0.2]
    table = ablation_table(pd.concat([rows, rows.assign(perturbation="none", correlation=0.0)]))
    pyramid = table[table.perturbation == "pyramid"].iloc[0]
    assert pyramid["n"] == 4 and pyramid["correlation"] == pytest.approx(0.5) and pyramid["top1"] == 0.75
    assert pyramid["n_ranked"] == 10
    signed = np.zeros((4, 3))
    signed[:, 2] = [-1.0, 1.0, 1.0, 1.0]  # dim 3 (index 2): matches M* X*
    signed[:, 0] = [1.0, -1.0, -1.0, -1.0]  # dim 1: its opposite
    importance = {"signed": signed, "image_shape": np.array([2, 2])}
    attributions = {"conv1": {"rows": np.array([7, 9]), "heatmap": np.ones((2, 2, 2)) - vis["mask"][[0, 2]]}}
    comp = compare_with_importance(importance, attributions, [("conv1", "pyramid", vis)])
    assert comp["dim"].tolist() == [3, 3, 1, 1]
    np.testing.assert_allclose(comp["r_visualisation"], [1, 1, -1, -1])
    np.testing.assert_allclose(comp["r_heatmap"], [-1, -1, 1, 1])


# --- the first convolution's image gradient ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kernel", "padding", "size", "channels_last"),
    [(3, 1, (28, 28), True), (3, 0, (28, 28), False), (5, 2, (17, 30), True), ((3, 5), (2, 1), (9, 12), True)],
)
def test_single_channel_conv_gradient_equals_autograd(kernel, padding, size, channels_last):
    from aemap.attribution.fastconv import image_gradient

    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(1, 7, kernel, padding=padding)
    x = torch.rand((4, 1, *size), generator=g, requires_grad=True)
    y = conv(x)
    grad = torch.rand(y.shape, generator=g)
    if channels_last:
        grad = grad.to(memory_format=torch.channels_last)
    (expected,) = torch.autograd.grad(y, x, grad)
    got = image_gradient(grad, conv.weight.detach(), conv.padding, size)
    assert got.shape == x.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_single_channel_conv_gradient_under_autocast_is_the_images_dtype_and_close_to_autograd():
    from aemap.attribution.fastconv import MIN_BATCH, single_channel_convs

    g = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(1, 8, 3, padding=1).requires_grad_(False)
    x = torch.rand((MIN_BATCH, 1, 12, 12), generator=g, requires_grad=True)
    grad = torch.rand((MIN_BATCH, 8, 12, 12), generator=g)
    gradients = []
    for fast in (False, True):
        with single_channel_convs(conv, fast) as swapped, torch.autocast("cpu", dtype=torch.bfloat16):
            assert swapped == int(fast)
            y = conv(x)
        assert y.dtype == torch.bfloat16
        (gx,) = torch.autograd.grad(y, x, grad.to(y.dtype))
        assert gx.dtype == torch.float32
        gradients.append(gx)
    # PyTorch's own bfloat16 kernel against the float32 product of bfloat16 gradients.
    torch.testing.assert_close(gradients[1], gradients[0], rtol=2e-2, atol=2e-2)


def test_single_channel_convs_are_swapped_only_where_exact_and_only_inside():
    from aemap.attribution.fastconv import MIN_BATCH, servable, single_channel_convs

    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # served
        nn.Conv2d(4, 4, 3, padding=1),  # several input channels
        nn.Conv2d(1, 4, 3, stride=2),  # stride
        nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(1, 4, 3, padding="same"),
    )
    assert not any(servable(m) for m in net)  # trainable weights: left alone
    net.requires_grad_(False)
    assert [servable(m) for m in net] == [True, False, False, False, False]
    x = torch.rand(MIN_BATCH, 1, 10, 10, requires_grad=True)
    with single_channel_convs(net, enabled=True) as swapped:
        assert swapped == 1 and "forward" in vars(net[0])
        y = net[0](x)
        assert y.grad_fn.name().endswith("SingleChannelConv2dBackward")
        (fast,) = torch.autograd.grad((y * y).sum(), x)
        # An unbatched image, or a batch below MIN_BATCH, takes PyTorch's own path.
        assert net[0](x[:1]).grad_fn.name() == "ConvolutionBackward0"
        torch.testing.assert_close(net[0](x[0]), y[0])
    assert "forward" not in vars(net[0])
    (plain,) = torch.autograd.grad((net[0](x) ** 2).sum(), x)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    with single_channel_convs(net, enabled=False) as swapped:
        assert swapped == 0


# --- max-pool before ReLU --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pool",
    [nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(3, 1)],
)
def test_pool_before_relu_gives_equal_values_and_gradients(pool):
    from aemap.models.layout import pool_before_relu

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), pool, nn.Conv2d(3, 2, 1), nn.ReLU(), pool)
    x = torch.randn(5, 1, 11, 11)
    x[0] = -1.0  # windows with no positive value, and
    x[1, :, :4] = 0.0  # exact zeros: ReLU's derivative is 0 there in both orders
    x.requires_grad_(True)
    grad_out = torch.randn(net(x).shape)
    expected = net(x)
    (expected_grad,) = torch.autograd.grad(expected, x, grad_out)
    with pool_before_relu(net, keep=None) as pairs:
        assert pairs == 2
        got = net(x)
        (got_grad,) = torch.autograd.grad(got, x, grad_out)
    assert torch.equal(got, expected) and torch.equal(got_grad, expected_grad)  # exact, not close
    assert "forward" not in vars(net)


def test_pool_before_relu_leaves_read_hooked_and_other_layers_alone():
    from aemap.models.layout import pool_before_relu

    model = _sharp_cnn()
    f = model.features  # conv, relu, pool x 3
    x = torch.rand(2, 1, 28, 28)
    for name, pairs in (("conv1", 2), ("conv2", 2), ("conv3", 2), ("dense1", 3)):
        layer = resolve_layer(model, name)
        expected = trunk(model, layer, x)
        with pool_before_relu(model, keep=layer) as fused:
            assert fused == pairs
            assert torch.equal(trunk(model, layer, x), expected)  # the read ReLU's own output, before its pool
    handle = f[4].register_forward_hook(lambda *_: None)  # someone reads relu2
    with pool_before_relu(model, keep=None) as fused:
        assert fused == 2
    handle.remove()
    tanh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.MaxPool2d(2))  # only ReLU is fused

    class Chain(nn.Sequential):  # a subclass may run its modules otherwise
        pass

    for other in (tanh, Chain(nn.ReLU(), nn.MaxPool2d(2))):
        with pool_before_relu(other, keep=None) as fused:
            assert fused == 0
    with pool_before_relu(model, keep=None, enabled=False) as fused:
        assert fused == 0


def test_a_visualisation_is_byte_identical_with_the_pool_before_relu(caplog):
    model = _sharp_cnn()
    layer = resolve_layer(model, "conv3")
    torch.manual_seed(2)
    r, beta = torch.rand(9, 64, 7, 7), torch.full((9,), 0.3)
    runs = []
    for flag in (False, True):
        caplog.clear()
        with caplog.at_level("INFO", logger="aemap.attribution.visualise"):
            runs.append(
                visualise(model, layer, (28, 28), r, beta, "pyramid", OptimiseSettings(steps=5, pool_before_relu=flag))
            )
        # The setting reaches the model: no pair as written, both pairs below conv3 rewritten.
        assert f"{2 if flag else 0} ReLU -> max-pool pair(s) set to run pool first" in caplog.text
    for field in ("x", "mask", "composite", "objective", "mask_mean"):
        assert getattr(runs[0], field).tobytes() == getattr(runs[1], field).tobytes()


def test_input_shape_of_a_model_of_ones_own(caplog):
    """aemap's networks carry their input shape; another module needs it given,
    as (H, W) or (C, H, W), channels first; a last axis of 3 looks like a
    channels-last colour image and is named."""
    assert model_input_shape(DenseAutoencoder((6, 5), [4, 2])) == (6, 5)
    plain = nn.Sequential(nn.Flatten(), nn.Linear(30, 2))
    with pytest.raises(ValueError, match=r"input_shape: a Sequential has no `input_shape` attribute; pass"):
        model_input_shape(plain)
    assert model_input_shape(plain, (1, 6, 5)) == (1, 6, 5)
    assert model_input_shape(plain, (3, 6, 5)) == (3, 6, 5)
    with pytest.raises(ValueError, match=r"input_shape \(2, 3, 6, 5\): attribution visualises images, so one input"):
        model_input_shape(plain, (2, 3, 6, 5))
    assert caplog.text == ""
    with caplog.at_level("WARNING"):
        assert model_input_shape(plain, (32, 32, 3)) == (32, 32, 3)
    assert "the last axis looks like colour channels; the visualisations take (C, H, W)" in caplog.text


class RedSquareNet(SquareNet):
    """RGB inputs. Channel 0 of the layer sees the red channel inside a known
    square, channel 1 the green and blue everywhere; only channel 0 feeds
    the output, so only red inside the square contributes."""

    def __init__(self, square: tuple[slice, slice]):
        super().__init__(square)
        self.input_shape = (3, 28, 28)

    def forward(self, x):
        a = self.act(torch.stack([x[:, 0] * self.window, x[:, 1:].sum(1)], 1))
        return torch.stack([a[:, 0].flatten(1).sum(1), torch.zeros(len(x))], 1)


def test_a_colour_model_gets_colour_visualisations_with_one_mask_on_its_square():
    """Beyond the paper's grey images (its ImageNet models are RGB): X* has
    the input's three channels, M* one. The mask settles on the contributing
    square, X* turns red there (only red contributes; green and blue get no
    gradient and stay at their start, sigmoid(~0) = 0.5), and the per-item
    random streams hold: chunked or whole, the same bytes."""
    square = (slice(6, 18), slice(10, 22))
    net = RedSquareNet(square).eval()
    images = np.ones((1, 3, 28, 28), np.float32)
    settings = resolve({"optimise": {"steps": 300, "inits": 2, "lambda_scale": 20.0}})
    attr, vis = attribute_and_visualise(net, "act", images, np.array([0]), "pyramid", settings, torch.device("cpu"))
    assert attr["heatmap"].shape == (1, 28, 28) and attr["beta"][0] == pytest.approx(144 / 784)
    assert vis["x"].shape == vis["composite"].shape == (2, 3, 28, 28) and vis["mask"].shape == (2, 28, 28)
    truth = np.zeros((28, 28), bool)
    truth[square] = True
    for item in range(2):
        mask = vis["mask"][item] > 0.5
        assert (mask & truth).sum() / (mask | truth).sum() >= 0.5
        red, green, blue = vis["x"][item][:, truth].mean(1)
        assert red > 0.9 and abs(green - 0.5) < 0.05 and abs(blue - 0.5) < 0.05, (red, green, blue)
    assert (vis["top1"] == 1).all()
    shown = shown_visualisation(vis)
    np.testing.assert_array_equal(shown[:, 2], vis["mask"] * vis["x"][:, 2])  # one mask over every channel
    # Chunked into blocks of 1 item (the random block too): each item's draws are its own either way.
    s = OptimiseSettings(steps=3, random_block=1)
    r, beta = torch.as_tensor(attr["attributions"]).repeat(3, 1, 1, 1), torch.full((3,), 0.2)
    whole = visualise(net, net.act, (3, 28, 28), r, beta, "fractal", s)
    chunked = visualise(net, net.act, (3, 28, 28), r, beta, "fractal", dataclasses.replace(s, max_batch=1))
    assert whole.x.tobytes() == chunked.x.tobytes() and whole.composite.tobytes() == chunked.composite.tobytes()


def test_a_dense_layer_of_a_colour_model_maps_its_pixels_summed_over_channels():
    """A dense layer has no map of its own: its map is the input pixels'
    integrated gradients, summed over an RGB image's channels, so (IG's
    completeness, unclamped) the map sums to the target's change from the
    black baseline."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6), nn.ReLU(), nn.Linear(6, 2)).eval()
    images = torch.rand(3, 3, 8, 8).numpy()
    settings = resolve({"clamp_negative": False, "ig": {"steps": 2000}, "beta": {"fallback": 0.3}})
    result = attribute(model, "2", images, np.array([0, 1, 0]), settings, torch.device("cpu"))
    assert result["heatmap"].shape == (3, 8, 8)
    change = result["output"] - result["baseline_output"]
    # A right Riemann sum: its error is O(1/steps) (1.7e-3 at 64 steps).
    np.testing.assert_allclose(result["heatmap"].reshape(3, -1).sum(1), change, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", ["blur", "constant", "gaussian", "fractal", "pyramid"])
def test_colour_composites_blur_each_channel_and_draw_each_its_own_noise(kind):
    """C(X, M, P) of a 3-channel image: one mask for all channels; blur and
    the constant act on each channel as on a grey image; noise is drawn per
    channel (uncorrelated colour noise) with a grey channel's statistics,
    and a one-channel image draws exactly what it always did (the first
    draws of the same generator)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 28, 28, generator=g)
    m = torch.rand(64, 1, 28, 28, generator=g)
    pert = Perturbation(kind, (28, 28))
    colour = pert.composite(x, m, torch.Generator().manual_seed(1))
    if kind in ("blur", "constant"):
        for c in range(3):
            grey = pert.composite(x[:, c : c + 1], m, torch.Generator().manual_seed(1))
            torch.testing.assert_close(colour[:, c : c + 1], grey, rtol=0, atol=1e-6)
        return
    noise = pert.composite(x, torch.zeros_like(m), torch.Generator().manual_seed(1))  # M = 0: noise only
    flat = noise.transpose(0, 1).reshape(3, -1).double()
    corr = torch.corrcoef(flat)
    assert corr[~torch.eye(3, dtype=bool)].abs().max() < 0.05, corr  # channels independent
    grey_noise = pert.composite(x[:, :1], torch.zeros_like(m), torch.Generator().manual_seed(1))
    torch.testing.assert_close(flat.std(1), grey_noise.double().std().repeat(3), rtol=0.1, atol=0)
    one = Perturbation(kind, (28, 28)).noise_images(4, torch.Generator().manual_seed(5), "cpu")
    three = Perturbation(kind, (28, 28)).noise_images(4, torch.Generator().manual_seed(5), "cpu", channels=3)
    assert one.shape[0] == 4 and three.shape[0] == 12
    if kind == "gaussian":  # one draw of (n, C, H, W): image 0's first channel comes first either way
        torch.testing.assert_close(three[0], one[0], rtol=0, atol=0)


_FREED_MEMORY_PROBE = """
import ctypes, hashlib, os, resource
import torch
from aemap.attribution.visualise import OptimiseSettings, visualise
from aemap.allocator import keep_freed_memory
from aemap.models import build_model

torch.set_num_threads(1)
torch.manual_seed(0)
model = build_model({"family": "cnn", "channels": [32], "hidden": [8]}, (28, 28), 10).eval()
r, beta = torch.rand(64, 32, 28, 28), torch.full((64,), 0.2)

def run():
    # Page faults per step of 64 visualisations (a conv1 feature map is 6.4 MB), and the bytes made.
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    vis = visualise(model, model.features[1], (28, 28), r, beta, "pyramid", OptimiseSettings(steps=8))
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / 8
    return hashlib.sha256(vis.x.tobytes() + vis.mask.tobytes()).hexdigest(), faults

# glibc's default mmap threshold (128 KiB) held fixed: left alone, glibc raises it after each
# freed block, so how many faults "before" sees depends on what ran earlier in the process
# (200-3,000 a step seen, and once 0.25 on a CI machine). Fixed, every step's large tensors
# are mapped and unmapped again, as in a fresh process's first steps.
# Not where the environment sets glibc's variables: they are what that run measures.
if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    assert mallopt(-3, 128 * 1024) == 1  # M_MMAP_THRESHOLD
run()  # the first run touches everything once
before = max(run(), run(), key=lambda result: result[1])  # the busier of two
message = keep_freed_memory()
# The heap grows to the step's size over the next runs: now and then a run still
# extends it (~200 faults a step once, on a busy CI machine twice in a row), so the
# steady state is the quietest of five.
run()
after = min((run() for _ in range(5)), key=lambda result: result[1])
print(repr((before, message, after)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_kept_freed_memory_stops_page_faults_and_changes_no_value():
    """compute.keep_freed_memory: in the job's own process glibc stops
    unmapping the step's large tensors, so making them again costs no page
    faults (~17,000 a step of 64 visualisations under glibc's starting threshold, ~0 after), and a visualisation's bytes
    are the same. The workflow sets it for every job through the environment the
    job's process inherits; glibc's own variables, where set, are left to win."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _FREED_MEMORY_PROBE], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    (hash_before, faults_before), message, (hash_after, faults_after) = ast.literal_eval(out.stdout.strip())
    assert message.startswith("freed memory: kept in the process"), message
    assert hash_after == hash_before
    # With the threshold held at 128 KiB, ~17,000 faults a step were measured; if
    # keep_freed_memory did nothing, "after" would keep that threshold and as many faults.
    assert faults_before > 1000 and faults_after < 5, (faults_before, faults_after)
    # The workflow's way (keep_freed_memory_in_jobs): a job's process inherits glibc's variables
    # and keeps freed memory from its start; keep_freed_memory then leaves them as they are.
    kept_env = dict(env)
    assert keep_freed_memory_in_jobs(kept_env) and kept_env == {**env, **KEPT_ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", _FREED_MEMORY_PROBE], capture_output=True, text=True, env=kept_env)
    assert out.returncode == 0, out.stderr
    (hash_inherited, _), message, (_, faults_inherited) = ast.literal_eval(out.stdout.strip())
    assert message == (
        "freed memory: as the environment's MALLOC_MMAP_THRESHOLD_=33554432, MALLOC_TRIM_THRESHOLD_=1073741824 set it"
    )
    assert hash_inherited == hash_before and faults_inherited < 5, faults_inherited
    probe = "from aemap.allocator import keep_freed_memory; print(keep_freed_memory())"
    env["MALLOC_TRIM_THRESHOLD_"] = "1048576"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "freed memory: as the environment's MALLOC_TRIM_THRESHOLD_=1048576 set it", out.stderr
    # The user's variable wins over the workflow's: nothing is added beside it.
    assert not keep_freed_memory_in_jobs(env) and "MALLOC_MMAP_THRESHOLD_" not in env
