"""Permutation importance and direction: closed forms on hand-made models,
fast == the paper's loop, chunking invariance, conv encoders."""

import numpy as np
import pytest
import torch
from torch import nn

from aemap.explain.direction import regression_direction
from aemap.explain.importance import ImportanceConfig, compute_importance, latent_table, summary_markdown
from aemap.explain.permutation import (
    PIXEL_STREAM,
    feature_permutation,
    latent_importance_by_class,
    latent_stream,
    pixel_latent_importance,
    split_first_linear,
)
from aemap.explain.reference import latent_importance_reference, pixel_latent_importance_reference
from aemap.models import build_model


def linear_encoder(weight: np.ndarray) -> nn.Sequential:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    lin.weight.data = torch.as_tensor(weight, dtype=torch.float32)
    return nn.Sequential(nn.Flatten(), lin)


def test_linear_encoder_closed_form():
    # z = x W^T: permuting column j changes z_l by W[l, j] (x_j[pi] - x_j), so the
    # MSE of latent l is W[l, j]^2 * mean((x_j[pi] - x_j)^2) for the permutation used.
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 3, 2)).astype(np.float32)
    x[:, 2, 1] = 0.25  # a constant feature
    weight = rng.normal(size=(4, 6)).astype(np.float32)
    weight[:, 3] = 0.0  # a feature no latent uses
    result = pixel_latent_importance(linear_encoder(weight), x, n_permutations=3, seed=5, progress=False)
    flat = x.reshape(200, 6).astype(np.float64)
    for r in range(3):
        for j in range(6):
            pi = feature_permutation(5, PIXEL_STREAM, r, j, 200).numpy()
            change = np.mean((flat[pi, j] - flat[:, j]) ** 2)
            np.testing.assert_allclose(
                result.per_permutation[r, j], weight[:, j].astype(np.float64) ** 2 * change, rtol=1e-5, atol=1e-12
            )
    assert np.all(result.importance[3] == 0) and np.all(result.importance[5] == 0)
    direction = regression_direction(x, x.reshape(200, 6) @ weight.T)
    assert np.all(direction.sign[5] == 0) and np.all(direction.slope[5] == 0)  # constant: neutral
    rmse = pixel_latent_importance(linear_encoder(weight), x, 3, metric="rmse", seed=5, progress=False)
    np.testing.assert_allclose(rmse.per_permutation, np.sqrt(result.per_permutation), rtol=1e-6)


def test_direction_signs_and_slopes_on_an_orthogonal_design():
    # Columns of +-1 patterns that are exactly uncorrelated: each simple regression slope equals W[l, j].
    n = 64
    rows = np.arange(n)
    x = np.stack([((rows >> k) & 1) * 2.0 - 1 for k in range(4)], axis=1)
    weight = np.array([[2.0, -1.0, 0.0, 0.5], [-3.0, 0.0, 1.0, 0.0]])
    d = regression_direction(x, x @ weight.T)
    np.testing.assert_allclose(d.slope, weight.T, atol=1e-12)
    assert d.sign.tolist() == np.sign(weight.T).astype(int).tolist()


def test_direction_rules():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 2))
    z = np.stack([3 * x[:, 0] + rng.normal(size=500), rng.normal(size=500)], axis=1)  # latent 1 is noise
    aim = regression_direction(x, z, "aim")
    assert np.all(aim.sign != 0)  # aim: only constant features are neutral
    sig = regression_direction(x, z, "significance", alpha=0.001)
    assert sig.sign[0, 0] == 1 and sig.sign[1, 1] == 0 and sig.sign[0, 1] == 0
    eff = regression_direction(x, z, "effect", min_abs_r=0.3)
    assert eff.sign[0, 0] == 1 and eff.sign[1, 1] == 0
    with pytest.raises(ValueError, match="direction rule"):
        regression_direction(x, z, "vote")


def small_ae(seed=0):
    torch.manual_seed(seed)
    return build_model({"family": "dense_ae", "encoder": [16, 5]}, (6, 6), 3)


def sparse_images(n=120, seed=0):
    """Images with exact zeros (like MNIST backgrounds), so many rows do not change."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 6, 6)).astype(np.float32)
    x[rng.uniform(size=x.shape) < 0.6] = 0.0
    x[:, 0, :] = 0.0  # a border that is always empty
    return x, rng.integers(0, 3, n)


@pytest.mark.parametrize("fast", [True, False])
def test_fast_equals_the_papers_loop(fast):
    model = small_ae()
    x, _ = sparse_images()
    assert split_first_linear(model.encoder) is not None
    ref = pixel_latent_importance_reference(model.encoder, x, n_permutations=3, seed=2)
    got = pixel_latent_importance(model.encoder, x, n_permutations=3, seed=2, fast=fast, progress=False)
    np.testing.assert_allclose(got.per_permutation, ref, rtol=2e-4, atol=1e-9)
    assert np.all(got.importance[:6] == 0)  # the empty border row of pixels


def test_chunking_does_not_change_results():
    model = small_ae(1)
    x, _ = sparse_images(300)
    big = pixel_latent_importance(model.encoder, x, 2, seed=3, budget_mb=512, progress=False)
    # A few features per chunk, every (feature, permutation) run in one block: identical.
    few = pixel_latent_importance(model.encoder, x, 2, seed=3, budget_mb=0.3, progress=False)
    np.testing.assert_array_equal(few.per_permutation, big.per_permutation)
    # Runs split over 256-row blocks: float32 partial sums, rounding only.
    tiny = pixel_latent_importance(model.encoder, x, 2, seed=3, budget_mb=0.001, progress=False)
    np.testing.assert_allclose(tiny.per_permutation, big.per_permutation, rtol=1e-6, atol=1e-15)


def test_conv_encoder_takes_the_generic_path():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    wrapped = nn.Sequential(nn.Unflatten(1, (1, 6)), encoder)  # (N, 6, 6) -> (N, 1, 6, 6)
    assert split_first_linear(wrapped) is None
    x, _ = sparse_images(50)
    got = pixel_latent_importance(wrapped, x, 2, seed=0, progress=False)
    assert got.importance.shape == (36, 3) and got.std.shape == (36, 3)
    ref = pixel_latent_importance_reference(wrapped, x, 2, seed=0)
    np.testing.assert_allclose(got.per_permutation, ref, rtol=2e-4, atol=1e-9)


@pytest.mark.parametrize("against", ["reconstruction", "input"])
def test_latent_importance_equals_the_papers_loop(against):
    model = small_ae(2)
    x, y = sparse_images(150, 1)
    ref = latent_importance_reference(model.encoder, model.decoder, x, y, 3, 2, against, seed=4)
    got = latent_importance_by_class(model.encoder, model.decoder, x, y, 3, 2, against, seed=4, progress=False)
    np.testing.assert_allclose(got.per_permutation, ref, rtol=2e-4, atol=1e-10)


def test_latent_dim_the_decoder_ignores_has_zero_importance_and_linear_closed_form():
    # Linear decoder r = z V^T: permuting dim d within a class changes every output
    # by V[:, d] (z_d[pi] - z_d); mean over rows and pixels = mean(V[:, d]^2) * mean(delta^2).
    z = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    encoder = nn.Sequential(nn.Identity())
    v = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, -1.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)  # dim 2 unused
    lin = nn.Linear(3, 4, bias=False)
    lin.weight.data = torch.as_tensor(v)
    decoder = nn.Sequential(lin)
    y = np.zeros(40, int)
    got = latent_importance_by_class(encoder, decoder, z, y, 1, 2, seed=9, progress=False)
    assert np.all(got.importance[0, 1] == 0)
    for r in range(2):
        for d in range(3):
            pi = feature_permutation(9, latent_stream(0), r, d, 40).numpy()
            expected = np.mean(v[:, d].astype(np.float64) ** 2) * np.mean((z[pi, d] - z[:, d]) ** 2)
            assert got.per_permutation[r, 0, d] == pytest.approx(expected, rel=1e-5)


def test_importance_tables_and_summary():
    model = small_ae(3)
    x, y = sparse_images(90, 2)
    arrays = {"x_test": x, "y_test": y, "classes": np.array(["a", "b", "c"]), "image_origin": np.array("upper")}
    pixel, table = compute_importance(model, arrays, ImportanceConfig(n_permutations=2), progress=False)
    assert pixel["signed"].shape == (36, 5) and pixel["image_shape"].tolist() == [6, 6]
    np.testing.assert_array_equal(pixel["signed"], pixel["sign"] * pixel["importance"])
    assert list(table.columns) == ["class", "dim", "importance", "std", "rank"]
    assert len(table) == 15 and table["dim"].min() == 1
    for _, group in table.groupby("class"):
        assert sorted(group["rank"]) == [1, 2, 3, 4, 5]
        assert group.sort_values("rank")["importance"].is_monotonic_decreasing
    text = summary_markdown("toy", table, pixel)
    assert "## Top 3 dimensions per class" in text and "| a |" in text and "6 of 36 input features" in text


def test_latent_table_ranks():
    t = latent_table(np.array([[0.1, 0.3, 0.2]]), np.zeros((1, 3)), ["x"])
    assert t["rank"].tolist() == [3, 1, 2] and t["dim"].tolist() == [1, 2, 3]


def test_inputs_that_cannot_be_permuted_are_named(caplog):
    """One image, NaNs, a shape the encoder rejects and labels outside the
    classes each stop with what is wrong; a class of one image warns (its
    importances are 0: nothing to permute among) and the rest is computed."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (20, 3, 2)).astype(np.float32)
    encoder = linear_encoder(rng.normal(size=(2, 6)).astype(np.float32))
    decoder = nn.Sequential(nn.Linear(2, 6))
    with pytest.raises(ValueError, match=r"needs at least 2; got shape \(1, 3, 2\)"):
        pixel_latent_importance(encoder, x[:1], progress=False)
    with pytest.raises(ValueError, match="images: 1 values are NaN or infinite"):
        pixel_latent_importance(encoder, np.where(x == x.max(), np.inf, x), progress=False)
    with pytest.raises(ValueError, match=r"encoder: the model cannot run on inputs shaped \(2, 2\)"):
        pixel_latent_importance(encoder, x[:, :2, :], progress=False)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"labels \[2, 3\] are not classes 0..1 \(n_classes=2\)"):
        latent_importance_by_class(encoder, decoder, x, y + 2 * (np.arange(20) > 15), 2, progress=False)
    with pytest.raises(ValueError, match=r"labels \[0.5\]"):
        latent_importance_by_class(encoder, decoder, x, np.where(y == 0, 0.5, 1.0), 2, progress=False)
    with pytest.raises(ValueError, match=r"20 images need 20 labels, got shape \(19,\)"):
        latent_importance_by_class(encoder, decoder, x, y[:19], 2, progress=False)
    lonely = np.where(np.arange(20) == 0, 2, y)  # class 2: one image
    result = latent_importance_by_class(encoder, decoder, x, lonely, 3, progress=False)
    assert "class 2 has 1 image(s), nothing to permute among" in caplog.text
    assert (result.importance[2] == 0).all() and (result.importance[:2] > 0).all()


def test_an_encoder_in_training_mode_is_permuted_at_inference_and_handed_back_unchanged():
    """Batch norm in training mode would normalise every permuted batch by its
    own statistics and update the running ones: the importances equal those
    in eval mode, the statistics are untouched and the mode is restored."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    decoder = nn.Sequential(nn.Linear(2, 6), nn.Dropout(0.5))
    with torch.no_grad():
        encoder[2].running_mean.uniform_(-0.5, 0.5)
    stats = encoder[2].running_mean.clone()
    x = np.random.default_rng(0).uniform(0, 1, (30, 3, 2)).astype(np.float32)
    y = np.arange(30) % 2
    pixels = pixel_latent_importance(encoder.train(), x, n_permutations=2, progress=False)
    latent = latent_importance_by_class(encoder, decoder.train(), x, y, 2, n_permutations=2, progress=False)
    assert encoder.training and encoder[2].training and decoder.training and decoder[1].training
    assert torch.equal(encoder[2].running_mean, stats) and int(encoder[2].num_batches_tracked) == 0
    encoder.eval(), decoder.eval()
    np.testing.assert_array_equal(pixels.importance, pixel_latent_importance(encoder, x, 2, progress=False).importance)
    again = latent_importance_by_class(encoder, decoder, x, y, 2, n_permutations=2, progress=False)
    np.testing.assert_array_equal(latent.importance, again.importance)
