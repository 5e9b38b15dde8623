"""The visualisation note's analyses against known answers: the stratified sample,
PCA against the SVD, the STD view, t-SNE on separated clusters, the decoded grid's
span, per-image reconstruction errors of a hand-made model, the ROC and its AUC
against hand-worked cases and scikit-learn, unseen classes, first-layer weights,
and what the figures draw."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import aemap.plots.note as plots_note
from aemap.explain.embedding import (
    cache_numba_compilations,
    latent_grid,
    latent_view,
    pca_view,
    std_view,
    stratified_sample,
    tsne_view,
)
from aemap.explain.reconstruction import (
    anomaly_summary,
    errors_by_class,
    examples_per_class,
    reconstruction_errors,
    roc_auc,
    roc_curve,
    unseen_rows,
)
from aemap.explain.weights import first_layer_weights, top_units
from aemap.models.networks import DenseAutoencoder

torch.set_num_threads(1)


# --- the sample -----------------------------------------------------------------------------


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    rows = stratified_sample(y, 100, seed=3)
    assert len(rows) == 100 and len(set(rows)) == 100
    assert np.all(np.diff(rows) > 0)
    assert np.bincount(y[rows]).tolist() == [60, 30, 10]
    assert np.array_equal(rows, stratified_sample(y, 100, seed=3))
    assert not np.array_equal(rows, stratified_sample(y, 100, seed=4))
    assert np.array_equal(stratified_sample(y, None, 0), np.arange(1000))
    assert np.array_equal(stratified_sample(y, 5000, 0), np.arange(1000))


def test_stratified_sample_keeps_a_rare_class():
    y = np.r_[np.zeros(997, int), np.ones(3, int)]
    rows = stratified_sample(y, 10, seed=0)
    assert len(rows) == 10
    assert (y[rows] == 1).sum() >= 1  # 10 * 0.003 would floor to nothing


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    cap=st.integers(1, 200),
    seed=st.integers(0, 5),
)
def test_stratified_sample_size_and_shares(counts, cap, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    rows = stratified_sample(y, cap, seed)
    assert len(rows) == min(cap, len(y))
    assert len(np.unique(rows)) == len(rows)
    if cap < len(y):
        got = np.bincount(y[rows], minlength=len(counts))
        assert np.all(got <= counts)
        # Each class within one row (plus the one-per-class floor) of its exact share.
        exact = cap * np.asarray(counts) / len(y)
        assert np.all(np.abs(got - exact) <= 1 + (cap >= len(counts)))


# --- the views ------------------------------------------------------------------------------


def test_pca_view_is_the_svd_projection():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    view = pca_view(z)
    centred = z - z.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    for k in range(2):  # equal up to the sign of each component
        assert np.allclose(np.abs(view.embedding[:, k]), np.abs(expected[:, k]), atol=1e-4)
    share = s[0] ** 2 / np.sum(s**2)
    assert f"{100 * share:.1f} %" in view.x_label


def test_pca_view_of_points_on_a_line_explains_everything():
    t = np.linspace(-1, 1, 50)
    z = np.stack([t, 2 * t, -t], axis=1)
    view = pca_view(z)
    assert "100.0 %" in view.x_label
    assert np.allclose(view.embedding[:, 1], 0, atol=1e-5)
    assert np.allclose(np.abs(view.embedding[:, 0]), np.abs(t) * np.sqrt(6), atol=1e-5)


def test_std_view_takes_the_two_dims_of_largest_spread():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 6)) * np.array([0.1, 4.0, 0.2, 0.3, 2.0, 0.0])
    view = std_view(z)
    assert np.array_equal(view.embedding, z[:, [1, 4]].astype(np.float32))
    assert view.x_label.startswith("dim 2 ") and view.y_label.startswith("dim 5 ")
    with pytest.raises(ValueError, match="at least 2 latent"):
        std_view(z[:, :1])


def test_tsne_keeps_separated_clusters_apart_and_is_deterministic():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 10)) * 20
    y = np.repeat([0, 1, 2], 40)
    z = centres[y] + rng.normal(size=(120, 10))
    params = {"seed": 0, "tsne": {"perplexity": 15}}
    a = latent_view("tsne", z, params).embedding
    assert np.array_equal(a, tsne_view(z, 15, 0).embedding)
    # Every point's nearest neighbour in the map is of its own cluster.
    d = np.linalg.norm(a[:, None] - a[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert np.all(y[np.argmin(d, axis=1)] == y)
    with pytest.raises(ValueError, match="unknown latent view"):
        latent_view("mds", z, params)


def test_umap_is_seeded():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(60, 5))
    params = {"seed": 3, "umap": {"n_neighbors": 5, "min_dist": 0.1}}
    first = latent_view("umap", z, params).embedding
    assert first.shape == (60, 2) and np.array_equal(first, latent_view("umap", z, params).embedding)
    import umap.umap_

    # umap-learn's own jitted functions now keep their machine code on disk.
    assert type(umap.umap_.smooth_knn_dist._cache).__name__ != "NullCache"


def test_numba_compilations_are_cached_on_disk(tmp_path, monkeypatch):
    import importlib
    import sys

    package = tmp_path / "jitted_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "kernels.py").write_text(
        "import numba\n\n@numba.njit\ndef twice(x):\n    return 2 * x\n\n"
        "@numba.njit(cache=True)\ndef thrice(x):\n    return 3 * x\n\nnot_jitted = len\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    kernels = importlib.import_module("jitted_pkg.kernels")
    try:
        assert cache_numba_compilations("jitted_pkg") == 1  # `twice`; `thrice` caches already
        assert kernels.twice(21) == 42
        index = list((package / "__pycache__").glob("kernels.twice-*.nbi"))
        assert index, "no numba cache index written beside the module"
        assert cache_numba_compilations("jitted_pkg") == 0  # enabled once
    finally:
        for name in ("jitted_pkg.kernels", "jitted_pkg"):
            sys.modules.pop(name, None)


def test_latent_grid_spans_the_quantile_range():
    rng = np.random.default_rng(3)
    codes = np.c_[rng.uniform(0, 10, 1000), rng.uniform(-5, -1, 1000)]
    a1, a2 = latent_grid(codes, 5, 0.1)
    assert len(a1) == len(a2) == 5
    assert a1[0] == pytest.approx(np.quantile(codes[:, 0], 0.1))
    assert a2[-1] == pytest.approx(np.quantile(codes[:, 1], 0.9))
    flat = np.c_[codes[:, 0], np.zeros(1000)]
    assert latent_grid(flat, 3, 0.0)[1].tolist() == [0.0, 0.5, 1.0]  # a collapsed dim spans a unit
    with pytest.raises(ValueError, match="2-D codes"):
        latent_grid(np.zeros((5, 3)), 3, 0.1)


# --- reconstruction error and anomaly scores --------------------------------------------------


class Constant(nn.Module):
    """Reconstructs every image as the same constant image."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full_like(x, self.value)


def test_reconstruction_errors_of_a_constant_model():
    x = np.array([[[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]]], dtype=np.float32)
    mse, recon = reconstruction_errors(Constant(0.5), x, "mse")
    assert np.allclose(recon, 0.5)
    assert np.allclose(mse, [0.25, 0.0])
    mae, _ = reconstruction_errors(Constant(0.5), x, "mae")
    assert np.allclose(mae, [0.5, 0.0])
    bce, _ = reconstruction_errors(Constant(0.5), x, "bce")
    assert np.allclose(bce, [np.log(2), np.log(2)])
    with pytest.raises(ValueError, match="unknown reconstruction error"):
        reconstruction_errors(Constant(0.5), x, "ssim")


def test_auc_of_hand_worked_cases():
    assert roc_auc([1, 2, 3], [4, 5]) == 1.0
    assert roc_auc([4, 5], [1, 2, 3]) == 0.0
    assert roc_auc([1, 1], [1, 1, 1]) == 0.5
    # Pairs (anomalous vs normal): 2 beats 1, ties 2, loses to 3; 4 beats all: (1 + 0.5 + 3) / 6.
    assert roc_auc([1, 2, 3], [2, 4]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="both groups"):
        roc_auc([], [1.0])


def test_auc_equals_scikit_learn_and_the_area_under_our_curve():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    normal = np.round(rng.normal(0, 1, 300), 1)  # rounded: many ties
    anomalous = np.round(rng.normal(0.8, 1, 200), 1)
    labels = np.r_[np.zeros(300), np.ones(200)]
    expected = roc_auc_score(labels, np.r_[normal, anomalous])
    assert roc_auc(normal, anomalous) == pytest.approx(expected, abs=1e-12)
    fpr, tpr, thresholds = roc_curve(normal, anomalous)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.isinf(thresholds[0]) and np.all(np.diff(thresholds[1:]) < 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(expected, abs=1e-12)


def test_unseen_rows_and_per_class_auc():
    classes = ["0", "1", "2", "3"]
    y = np.array([0, 1, 2, 3, 2, 0])
    rows, names = unseen_rows(["0", "1"], classes, y)
    assert rows.tolist() == [2, 3, 4] and names == ["2", "3"]
    summary = anomaly_summary(np.array([0.1, 0.2]), np.array([0.5, 0.05, 0.6]), np.array(["2", "3", "2"]))
    assert summary["per_class_auc"] == {"2": 1.0, "3": 0.0}
    assert summary["auc"] == pytest.approx(4 / 6)
    in_label_order = anomaly_summary(
        np.array([0.1]), np.array([0.5, 0.05]), np.array(["Trouser", "Bag"]), ["Trouser", "Bag"]
    )
    assert list(in_label_order["per_class_auc"]) == ["Trouser", "Bag"]
    assert examples_per_class(np.array([1, 0, 1, 0, 1]), 2).tolist() == [1, 3, 0, 2]
    table = errors_by_class(np.array([1.0, 3.0, 5.0]), np.array([0, 0, 2]), ["a", "b", "c"])
    assert (
        table["class"].tolist() == ["a", "c"] and table["mean"].tolist() == [2.0, 5.0] and table["n"].tolist() == [2, 1]
    )


def test_an_autoencoder_of_two_classes_scores_an_unseen_class_higher():
    """A linear AE on two classes' subspace reconstructs a third class poorly."""
    rng = np.random.default_rng(5)
    basis = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    seen = rng.normal(size=(200, 2)) @ basis[:2]  # in the span of the first two directions
    unseen = rng.normal(size=(100, 2)) @ basis[2:4]  # orthogonal to it
    model = nn.Sequential(nn.Linear(16, 2, bias=False), nn.Linear(2, 16, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(basis[:2], dtype=torch.float32))
        model[1].weight.copy_(torch.tensor(basis[:2].T, dtype=torch.float32))
    normal_err, _ = reconstruction_errors(model, seen.astype(np.float32))
    unseen_err, _ = reconstruction_errors(model, unseen.astype(np.float32))
    assert normal_err.max() < 1e-10
    assert roc_auc(normal_err, unseen_err) == 1.0


# --- weights ------------------------------------------------------------------------------------


def test_first_layer_weights_are_input_shaped_and_ranked_by_norm():
    model = DenseAutoencoder((2, 3), [4, 2])
    with torch.no_grad():
        w = torch.zeros(4, 6)
        w[0, 0], w[1, :] = 1.0, 0.5
        w[2, 5] = -3.0
        w[3, 1] = 2.0
        model.encoder[1].weight.copy_(w)
    weights = first_layer_weights(model)
    assert weights.shape == (4, 2, 3)
    assert weights[2, 1, 2] == -3.0
    assert top_units(weights, 2).tolist() == [2, 3]
    assert top_units(weights, 10).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="dense autoencoder"):
        first_layer_weights(nn.Conv2d(1, 1, 3))


# --- figures ------------------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch):
    figures = []
    original = plots_note.save_figure

    def keep(fig, path, dpi=150):
        figures.append(fig)
        original(fig, path, dpi)

    monkeypatch.setattr(plots_note, "save_figure", keep)
    return figures


def test_encoder_weights_are_drawn_on_a_symmetric_scale(tmp_path, drawn):
    weights = np.zeros((5, 2, 3))
    weights[0, 0, 0], weights[3, 1, 1] = 0.2, -0.7
    plots_note.plot_encoder_weights(weights, np.array([3, 0]), "upper", tmp_path / "w.png", dpi=50)
    images = [im for ax in drawn[0].axes for im in ax.images]
    assert len(images) == 2
    for im in images:
        assert im.norm.vmin == pytest.approx(-0.7) and im.norm.vmax == pytest.approx(0.7)
    assert np.array_equal(images[0].get_array(), weights[3])
    assert (tmp_path / "w.png").stat().st_size > 0


def test_latent_views_draw_one_panel_per_view_with_its_points(tmp_path, drawn):
    y = np.array([0, 1, 1, 0])
    views = [
        {"embedding": np.eye(4)[:, :2] * k, "y": y, "title": t, "x_label": "a", "y_label": "b"}
        for k, t in [(1, "PCA"), (2, "t-SNE"), (3, "STD view (aim)")]
    ]
    plots_note.plot_latent_views(views, ["zero", "one"], tmp_path / "v.png", dpi=50)
    axes = [ax for ax in drawn[0].axes if ax.collections]
    assert [ax.get_title() for ax in axes] == ["PCA", "t-SNE", "STD view (aim)"]
    assert np.array_equal(axes[2].collections[0].get_offsets(), views[2]["embedding"])


def test_error_examples_share_one_difference_scale(tmp_path, drawn):
    originals = np.zeros((2, 3, 3))
    recon = originals.copy()
    recon[0, 1, 1], recon[1, 0, 0] = 0.4, 0.1
    plots_note.plot_reconstruction_error_examples(
        originals, recon, np.array([0.02, 0.001]), ["a", "b"], "upper", tmp_path / "e.png", dpi=50
    )
    diffs = [ax.images[0] for ax in drawn[0].axes if ax.images and ax.images[0].get_cmap().name == "inferno"]
    assert len(diffs) == 2
    assert all(im.norm.vmax == pytest.approx(0.4) for im in diffs)
