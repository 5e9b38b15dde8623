"""What the figures draw, not only that a PNG exists: the image origin of
spectrograms, colour scales symmetric about 0 for signed maps, one panel per
shown item, and the drawn values themselves."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

import aemap.plots.attribution as plots_attribution
import aemap.plots.data as plots_data
import aemap.plots.importance as plots_importance
import aemap.plots.note as plots_note
import aemap.plots.saliency as plots_saliency
import aemap.plots.sanity as plots_sanity
import aemap.plots.training as plots_training
from aemap.plots import plot_class_importance, plot_dataset_samples, plot_reconstructions
from aemap.plots.style import IMAGE_CMAP, SPECTROGRAM_CMAP, image_cmap


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, kept open for inspection (still written)."""
    figures = []
    for module in (
        plots_attribution,
        plots_data,
        plots_importance,
        plots_note,
        plots_saliency,
        plots_sanity,
        plots_training,
    ):
        original = module.save_figure

        def keep(fig, path, dpi=150, original=original):
            figures.append(fig)  # closed by save_figure; its artists stay readable
            original(fig, path, dpi)

        monkeypatch.setattr(module, "save_figure", keep)
    return figures


def _images(fig):
    return [im for ax in fig.axes for im in ax.images]


def _pixel_importance(origin):
    rng = np.random.default_rng(0)
    signed = rng.normal(size=(6, 4))  # 2x3 pixels x 4 latent dims
    signed[:, 3] = 0.0  # dim 4 is unused
    signed[0, 1] = -9.0  # the largest magnitude is negative
    pixel = {"signed": signed, "image_shape": np.array([2, 3]), "image_origin": np.array(origin)}
    table = pd.DataFrame(
        {
            "class": ["a"] * 4,
            "dim": [1, 2, 3, 4],
            "importance": [0.3, 0.5, 0.1, 0.0],
            "std": [0.01] * 4,
            "rank": [2, 1, 3, 4],
        }
    )
    return pixel, table


@pytest.mark.parametrize("origin", ["upper", "lower"])
def test_importance_heatmaps_are_signed_on_a_symmetric_scale(tmp_path, drawn, origin):
    pixel, table = _pixel_importance(origin)
    plot_class_importance(pixel, table, "a", tmp_path / "a.png", top_k=10, filter_unused=True)
    images = _images(drawn[-1])
    assert len(images) == 3  # the unused dim 4 is filtered out
    for image in images:
        assert image.norm.vmin == -image.norm.vmax == -9.0  # symmetric about 0, set by the largest |value|
        assert image.origin == origin
    # In rank order: dim 2 first, drawn as its pixels in image shape.
    np.testing.assert_array_equal(images[0].get_array(), pixel["signed"][:, 1].reshape(2, 3))
    assert [ax.get_title() for ax in drawn[-1].axes if ax.images] == ["dim 2", "dim 1", "dim 3"]
    plot_class_importance(pixel, table, "a", tmp_path / "b.png", top_k=2, filter_unused=False)
    assert len(_images(drawn[-1])) == 2  # top_k heatmaps


def test_spectrograms_are_drawn_with_low_frequencies_at_the_bottom(tmp_path, drawn):
    rng = np.random.default_rng(1)
    arrays = {
        "x_train": rng.uniform(size=(6, 4, 5)).astype(np.float32),
        "y_train": np.array([0, 0, 0, 1, 1, 1]),
        "y_test": np.array([0, 1]),
        "classes": np.array(["zero", "one"]),
        "image_origin": np.array("lower"),
    }
    plot_dataset_samples(arrays, tmp_path / "s.png", per_class=3)
    images = _images(drawn[-1])
    assert len(images) == 6 and all(im.origin == "lower" for im in images)
    assert all(im.norm.vmin == 0 and im.norm.vmax == 1 for im in images)  # one fixed scale, not per image
    shown = {im.get_array().tobytes() for im in images}
    assert shown == {x.tobytes() for x in arrays["x_train"]}  # every image drawn once, unaltered


def test_colour_attribution_figures_draw_the_images_in_colour(tmp_path, drawn):
    """A colour model's (C, H, W) inputs and visualisations are drawn as RGB
    pictures, channels last and clipped to [0, 1]; the maps keep their colour
    map; a (1, H, W) image is a grey one; other channel counts are refused."""
    rng = np.random.default_rng(4)
    images, heat = rng.uniform(size=(2, 3, 4, 5)), rng.uniform(size=(2, 4, 5))
    vis = {"pyramid": rng.uniform(-0.2, 1.2, size=(2, 3, 4, 5))}
    plots_attribution.plot_perturbation_grid(
        images, heat, vis, {"pyramid": np.zeros(2)}, ["a", "b"], tmp_path / "rgb.png"
    )
    shown = _images(drawn[-1])
    np.testing.assert_array_equal(shown[0].get_array(), np.moveaxis(images[0], 0, -1))
    np.testing.assert_array_equal(shown[2].get_array(), np.clip(np.moveaxis(vis["pyramid"][0], 0, -1), 0, 1))
    assert shown[1].get_cmap().name == plots_attribution.HEAT_CMAP and shown[1].get_array().ndim == 2
    grey = plots_attribution.as_picture(images[:1, 0])
    assert grey.shape == (4, 5)
    with pytest.raises(ValueError, match=r"image of shape \(2, 4, 5\): a figure draws \(H, W\) or \(C, H, W\)"):
        plots_attribution.as_picture(images[0, :2])


@pytest.mark.parametrize(("origin", "cmap"), [("upper", IMAGE_CMAP), ("lower", SPECTROGRAM_CMAP)])
def test_attribution_and_saliency_figures_keep_the_images_orientation(tmp_path, drawn, origin, cmap):
    """Spectrograms (origin lower) keep low frequencies at the bottom in every
    panel of the attribution and saliency figures, as in the data figures;
    the inputs and visualisations in the dataset's colour map, maps in their own."""
    rng = np.random.default_rng(3)
    images, heat = rng.uniform(size=(2, 4, 5)), rng.uniform(size=(2, 4, 5))
    vis = {"blur": rng.uniform(size=(2, 4, 5)), "pyramid": rng.uniform(size=(2, 4, 5))}
    corr = {k: np.array([0.1, 0.2]) for k in vis}
    labels = ["class a", "class b"]
    plots_attribution.plot_perturbation_grid(images, heat, vis, corr, labels, tmp_path / "p.png", origin=origin)
    plots_attribution.plot_layer_grid(
        images, {"c1": heat}, {"c1": vis["blur"]}, labels, tmp_path / "l.png", origin=origin
    )
    plots_attribution.plot_latent_dims(
        images, heat - 0.5, heat, {"h1": vis["blur"]}, {"h1": np.zeros(2)}, labels, tmp_path / "d.png", origin=origin
    )
    for fig, panels in zip(drawn[-3:], (8, 6, 8), strict=True):
        shown = _images(fig)
        assert len(shown) == panels and all(im.origin == origin for im in shown)
        assert shown[0].get_cmap().name == cmap  # the input
    grid = _images(drawn[-3])
    assert [im.get_cmap().name for im in grid[:4]] == [cmap, plots_attribution.HEAT_CMAP, cmap, cmap]
    drawn.clear()
    plots_saliency.plot_saliency_contours(images, heat, ["a", "b"], heat[0], tmp_path / "s.png", origin=origin)
    maps = [ax for ax in drawn[-1].axes if ax.collections]  # the contour panels
    bottom, top = maps[0].get_ylim()
    assert (bottom < top) == (origin == "lower")  # row 0 (low frequency) at the bottom for spectrograms
    insets = [im for ax in maps for box in ax.child_axes for im in box.images]  # each input, inset
    assert len(insets) == 2 and all(im.origin == origin and im.get_cmap().name == cmap for im in insets)


@pytest.mark.parametrize(
    ("origin", "display", "cmap"),
    [("upper", "ink", "gray_r"), ("upper", "natural", "gray"), ("lower", "natural", SPECTROGRAM_CMAP)],
)
def test_every_figure_of_the_datasets_images_draws_them_as_its_display_says(tmp_path, drawn, origin, display, cmap):
    """A dataset's images, wherever a figure shows them (inputs, reconstructions,
    decoded grids, saliency insets, moved and corrupted digits, visualisations),
    in the colour map of its ``display`` and in its orientation: photographs
    as stored, MNIST as ink, spectrograms in their own map whatever ``display``."""
    rng = np.random.default_rng(5)
    images = rng.uniform(size=(2, 4, 5))
    heat = rng.uniform(size=(2, 4, 5))
    labels = ["a", "b"]
    common = {"origin": origin, "display": display}
    examples = {
        "clean": images,
        "input": images[::-1],
        "reconstruction": 1 - images,
        "y": np.array([0, 1]),
        "classes": np.array(labels),
        "image_origin": np.array(origin),
        "noise": np.float64(0.3),
    }
    arrays = {
        "x_train": images,
        "y_train": np.array([0, 1]),
        "y_test": np.array([0]),
        "classes": np.array(labels),
        "image_origin": np.array(origin),
    }
    plot_dataset_samples(arrays, tmp_path / "samples.png", per_class=1, display=display)
    plot_reconstructions(examples, tmp_path / "rec.png", display=display)
    plots_training.plot_noisy_inputs(examples, tmp_path / "noisy.png", display=display)
    plots_note.plot_reconstruction_error_examples(
        images, 1 - images, np.array([0.1, 0.2]), labels, origin, tmp_path / "err.png", display=display
    )
    plots_saliency.plot_saliency_contours(images, heat, labels, heat[0], tmp_path / "sal.png", **common)
    plots_sanity.plot_translation(
        images[0], [("seed 0", heat[0], (1.0, 2.0))], heat[1], (2.0, 2.0), tmp_path / "t.png", **common
    )
    plots_sanity.plot_corrupted_examples(images, images[None], images[None], [0.1], tmp_path / "c.png", **common)
    vis = {"blur": images}
    plots_attribution.plot_perturbation_grid(
        images, heat, vis, {"blur": np.zeros(2)}, labels, tmp_path / "p.png", **common
    )
    plots_attribution.plot_layer_grid(images, {"blur": heat}, vis, labels, tmp_path / "l.png", **common)
    plots_attribution.plot_latent_dims(
        images, heat - 0.5, heat, vis, {"blur": np.zeros(2)}, labels, tmp_path / "d.png", **common
    )
    # Maps keep their own colour maps; every panel of the data's images has the display's.
    own_maps = {plots_attribution.HEAT_CMAP, plots_attribution.SIGNED_CMAP, "inferno"}
    for fig in drawn:
        shown = [im for ax in fig.axes for im in ax.images] + [
            im for ax in fig.axes for box in ax.child_axes for im in box.images
        ]
        data = [im for im in shown if im.get_cmap().name not in own_maps]
        assert data, fig
        assert all(im.get_cmap().name == cmap and im.origin == origin for im in data), [
            (im.get_cmap().name, im.origin) for im in data
        ]
    assert len(drawn) == 10
    # The decoded grid tiles the decoder's images itself (spectrograms turned upright).
    drawn.clear()
    decoded = rng.uniform(size=(2, 2, 4, 5))
    axis = np.array([-1.0, 1.0])
    plots_note.plot_latent_grid(
        rng.normal(size=(2, 2)),
        np.array([0, 1]),
        labels,
        axis,
        axis,
        decoded,
        origin,
        tmp_path / "g.png",
        display=display,
    )
    assert [im.get_cmap().name for ax in drawn[-1].axes for im in ax.images] == [cmap]
    with pytest.raises(ValueError, match="display: unknown 'sepia'; known: ink, natural"):
        image_cmap("upper", "sepia")


def test_reconstructions_put_each_original_above_its_reconstruction(tmp_path, drawn):
    rng = np.random.default_rng(2)
    clean = rng.uniform(size=(3, 4, 4)).astype(np.float32)
    examples = {
        "clean": clean,
        "reconstruction": 1 - clean,
        "y": np.array([0, 1, 2]),
        "classes": np.array(["a", "b", "c"]),
        "image_origin": np.array("upper"),
        "noise": np.float64(0.0),
    }
    plot_reconstructions(examples, tmp_path / "r.png")
    axes = [ax for ax in drawn[-1].axes if ax.images]  # created row by row
    originals, reconstructions = axes[:3], axes[3:]
    assert originals[0].get_ylabel() == "original" and len(reconstructions) == 3
    for k in range(3):
        assert originals[k].get_title() == "abc"[k]
        np.testing.assert_array_equal(originals[k].images[0].get_array(), clean[k])
        np.testing.assert_array_equal(reconstructions[k].images[0].get_array(), 1 - clean[k])


def test_translation_figure_has_one_panel_per_training_and_marks_each_centre(tmp_path, drawn):
    moved_image = np.zeros((42, 42))
    base_map = np.random.default_rng(0).uniform(size=(28, 28))
    trainings = [(f"seed {s}", np.random.default_rng(s).uniform(size=(42, 42)), (10.0 + s, 12.0)) for s in range(3)]
    plots_sanity.plot_translation(moved_image, trainings, base_map, (13.5, 13.0), tmp_path / "t.png", title="t")
    axes = drawn[-1].axes
    assert [ax.get_title() for ax in axes] == [
        "(a) input on a 42x42 canvas",
        "(b) moved digits, seed 0",
        "(b) moved digits, seed 1",
        "(b) moved digits, seed 2",
        "(c) trained on centred digits",
    ]
    # Each map's + sits at its own centre of mass, given as (row, column): drawn at (x=column, y=row).
    plus = [line for ax in axes[1:] for line in ax.lines if line.get_marker() == "+"]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in plus] == [
        (12.0, 10.0),
        (12.0, 11.0),
        (12.0, 12.0),
        (13.0, 13.5),
    ]
    plots_sanity.plot_translation(moved_image, trainings[:1], base_map, (13.5, 13.0), tmp_path / "one.png")
    assert drawn[-1].axes[1].get_title() == "(b) trained on moved digits"
    with pytest.raises(ValueError, match="no map of a model trained on moved digits"):
        plots_sanity.plot_translation(moved_image, [], base_map, (13.5, 13.0), tmp_path / "none.png")


def test_translation_title_gives_the_spread_over_trainings_only_when_there_is_one():
    result = {
        "digit_shift": [-7.0, -7.0],
        "saliency_top10_shift_mean_map": [-8.1, -5.07],
        "saliency_top10_shift_mean_map_sd": [0.2, 0.72],
        "saliency_shift_mean_map": [-3.4, -3.2],
        "saliency_shift_mean_map_sd": [0.1, 0.1],
        "trainings": [{}, {}, {}],
    }
    title = plots_sanity.translation_title("dae", result)
    assert title.startswith(
        "dae: digits moved by (-7.0, -7.0) px; saliency core (top 10 %) by (-8.1, -5.1) ± (0.2, 0.7) px, "
        "whole map by (-3.4, -3.2) ± (0.1, 0.1) px (mean ± sd of 3 trainings)"
    )
    one = plots_sanity.translation_title("dae", {**result, "trainings": [{}]})
    assert "±" not in one and "trainings" not in one


def _ablation(n_ranked):
    rows = []
    for layer in ("conv1", "conv2"):
        for j, pert in enumerate(("none", "pyramid")):
            rows.append(
                {
                    "layer": layer,
                    "perturbation": pert,
                    "n": 8,
                    "correlation": 0.1 * (j + 1),
                    "correlation_sd": 0.05,
                    "top1": 0.25 * (j + 1),
                    "topk": 0.5 + 0.25 * j,
                    "n_ranked": n_ranked,
                }
            )
    return pd.DataFrame(rows)


def _bar_heights(ax):
    return sorted(round(float(bar.get_height()), 6) for c in ax.containers if isinstance(c, BarContainer) for bar in c)


@pytest.mark.parametrize("n_ranked", [10, 4])
def test_ablation_bars_are_the_table_and_a_vacuous_top_k_is_not_drawn(tmp_path, drawn, n_ranked):
    """Top-5 among 10 classes is drawn; among 4 classes every target is in it,
    so the panel says so in place of bars that would all be 1."""
    plots_attribution.plot_ablation(_ablation(n_ranked), 5, tmp_path / "ablation.png")
    correlation, top1, topk = drawn[-1].axes[:3]
    assert _bar_heights(correlation) == [0.1, 0.1, 0.2, 0.2]
    assert _bar_heights(top1) == [0.25, 0.25, 0.5, 0.5]
    notes = " ".join(t.get_text() for t in topk.texts)
    if n_ranked > 5:
        assert _bar_heights(topk) == [0.5, 0.5, 0.75, 0.75] and not notes
    else:
        assert _bar_heights(topk) == [] and "ranked\namong at most 4 outputs" in notes


@pytest.mark.parametrize("undefined", [0, 3])
def test_the_ablation_title_counts_visualisations_without_a_correlation(tmp_path, drawn, undefined):
    table = _ablation(10).assign(correlation_undefined=[0, undefined, 0, 0])
    plots_attribution.plot_ablation(table, 5, tmp_path / "ablation.png", title="e")
    title = drawn[-1]._suptitle.get_text()
    if undefined:
        assert title == "e (8 visualisations per bar; 3 without a correlation, left out)"
    else:
        assert title == "e (8 visualisations per bar)"
