"""Arumugam & Kiran's sanity checks: derived experiments, canvas placement,
pixel ranking and corruption with known answers, centres of mass, map-image
correlations."""

import numpy as np
import pytest
import torch

from aemap.checks.corruption import (
    corrupt_pixels,
    corruption_runs,
    importance_sources,
    label_predictor,
    pixel_mask,
    rank_pixels,
    summarise_corruption,
)
from aemap.checks.derived import (
    SanityConfigError,
    add_derived_entries,
    check_classifiers,
    derived_entries,
    translated_models,
)
from aemap.checks.single_class import correlation_table, map_image_correlations
from aemap.checks.translation import centre_of_mass, combine_trainings, from_centre, translation_shift
from aemap.data.prepare import CanvasSpec, PrepareError, PrepareSpec, place_on_canvas, prepare
from aemap.data.readers import LabelledArrays
from aemap.models import build_model


def config(**sanity):
    return {
        "experiments": {
            "dae": {
                "paper": "arumugam",
                "data": "mnist",
                "model": {"family": "dense_ae", "encoder": [8, 2]},
                "train": {"epochs": 3},
                "reported": {"train_loss": 0.1},
                "analyses": ["saliency", "sanity"],
            },
            "cnn": {"paper": "arumugam", "data": "mnist", "model": {"family": "cnn", "channels": [4]}, "train": {}},
        },
        "prepared": {"mnist": {"dataset": "mnist", "split": {"kind": "upstream"}, "max_train_per_class": 5}},
        "sanity": {
            "classifier": "cnn",
            "single_class": {"classes": ["0", "7"]},
            "translation": {"canvas": [42, 42], "offset": [0, 0]},
            **sanity,
        },
    }


def test_derived_entries_copy_the_checked_experiment():
    prepared, experiments = derived_entries(config())
    assert sorted(experiments) == ["dae_class0", "dae_class7", "dae_translated"]
    assert prepared["mnist_class7"] == {
        "dataset": "mnist",
        "split": {"kind": "upstream"},
        "max_train_per_class": 5,
        "classes": ["7"],
    }
    assert prepared["mnist_canvas42x42"]["canvas"] == {"size": [42, 42], "offset": [0, 0]}
    exp = experiments["dae_class7"]
    assert exp["data"] == "mnist_class7" and exp["model"] == config()["experiments"]["dae"]["model"]
    assert "reported" not in exp  # the paper reports no losses for the check models
    assert exp["analyses"] == ["saliency"]  # the check models need their maps, and no checks of their own
    assert experiments["dae_translated"]["data"] == "mnist_canvas42x42"


def test_explicit_entries_win_and_errors_name_the_key():
    cfg = config()
    cfg["experiments"]["dae_class0"] = {"data": "mnist", "mine": True}
    assert add_derived_entries(cfg) == ["dae_class0", "dae_class7", "dae_translated"]
    assert cfg["experiments"]["dae_class0"]["mine"] and "mnist_class0" in cfg["prepared"]
    unchecked = config()
    unchecked["experiments"]["dae"]["analyses"] = ["saliency"]
    assert derived_entries(unchecked) == ({}, {})
    with pytest.raises(SanityConfigError, match="sanity.classifier: 'nope'"):
        derived_entries(config(classifier="nope"))
    with pytest.raises(SanityConfigError, match="sanity.classifier: 'dae' is a dense_ae model"):
        derived_entries(config(classifier="dae"))


def test_classifier_seeds_train_copies_of_the_classifier():
    cfg = config(classifier_seeds=[3, 0, 5])
    cfg["experiments"]["cnn"].update(train={"epochs": 2, "seed": 0}, reported={"test_accuracy": 0.9}, analyses=["x"])
    _, experiments = derived_entries(cfg)
    assert sorted(experiments) == ["cnn_seed3", "cnn_seed5", "dae_class0", "dae_class7", "dae_translated"]
    copy = experiments["cnn_seed5"]
    assert copy["train"] == {"epochs": 2, "seed": 5} and cfg["experiments"]["cnn"]["train"]["seed"] == 0
    assert copy["model"] == cfg["experiments"]["cnn"]["model"] and copy["data"] == "mnist"
    assert copy["analyses"] == [] and "reported" not in copy  # it only scores check 3
    # In the order given; the classifier itself stands for its own seed.
    assert check_classifiers(cfg) == ["cnn_seed3", "cnn", "cnn_seed5"]
    assert check_classifiers(config()) == ["cnn"] and check_classifiers(config(classifier=None)) == []
    only_others = config(classifier_seeds=[1])
    only_others["experiments"]["cnn"]["train"] = {"seed": 0}
    assert check_classifiers(only_others) == ["cnn_seed1"]
    assert "cnn_seed1" in derived_entries(only_others)[1]


def test_classifier_seed_errors_name_the_key():
    def with_seed(seeds, **cnn):
        cfg = config(classifier_seeds=seeds)
        cfg["experiments"]["cnn"].update(train={"seed": 0}, **cnn)
        return cfg

    with pytest.raises(SanityConfigError, match=r"sanity.classifier_seeds: \[1, 1\] must be distinct"):
        derived_entries(with_seed([1, 1]))
    # Own weights come without a `train` block (the schema allows one or the other): nothing to seed.
    own_weights = config(classifier_seeds=[0, 1])
    own_weights["experiments"]["cnn"]["weights"] = "mine.pt"
    del own_weights["experiments"]["cnn"]["train"]
    with pytest.raises(SanityConfigError, match=r"loads fixed weights \(experiments.cnn.weights\)"):
        derived_entries(own_weights)
    own_weights["sanity"]["classifier_seeds"] = None
    assert check_classifiers(own_weights) == ["cnn"]
    assert derived_entries(own_weights)[1].keys() == {"dae_class0", "dae_class7", "dae_translated"}
    with pytest.raises(SanityConfigError, match="without a sanity.classifier"):
        derived_entries(config(classifier=None, classifier_seeds=[0]))


def test_translation_seeds_train_copies_of_the_translated_model():
    cfg = config()
    cfg["sanity"]["translation"]["seeds"] = [2, 0, 7]
    cfg["experiments"]["dae"]["train"] = {"epochs": 3, "seed": 0}
    prepared, experiments = derived_entries(cfg)
    assert sorted(n for n in experiments if "translated" in n) == [
        "dae_translated",
        "dae_translated_seed2",
        "dae_translated_seed7",
    ]
    assert list(prepared).count("mnist_canvas42x42") == 1  # one data view for every training
    for name, seed in (("dae_translated", 0), ("dae_translated_seed2", 2), ("dae_translated_seed7", 7)):
        entry = experiments[name]
        assert entry["train"] == {"epochs": 3, "seed": seed} and entry["data"] == "mnist_canvas42x42"
        assert entry["analyses"] == ["saliency"] and "reported" not in entry
    assert cfg["experiments"]["dae"]["train"]["seed"] == 0  # the checked experiment is left alone
    # In the order given; the checked experiment's own seed keeps the plain name.
    assert translated_models(cfg, "dae") == [
        (2, "dae_translated_seed2"),
        (0, "dae_translated"),
        (7, "dae_translated_seed7"),
    ]
    cfg["sanity"]["translation"]["seeds"] = None
    assert translated_models(cfg, "dae") == [(0, "dae_translated")]
    assert derived_entries(cfg)[1]["dae_translated"]["train"] == {"epochs": 3, "seed": 0}


def test_translation_seed_errors_name_the_key():
    cfg = config()
    cfg["sanity"]["translation"]["seeds"] = [1, 1]
    with pytest.raises(SanityConfigError, match=r"sanity.translation.seeds: \[1, 1\] must be distinct"):
        derived_entries(cfg)
    cfg["sanity"]["translation"]["seeds"] = [0, 1]
    del cfg["experiments"]["dae"]["train"]
    with pytest.raises(SanityConfigError, match=r"sanity.translation.seeds: experiments.dae has no `train` block"):
        derived_entries(cfg)


def test_place_on_canvas_puts_the_digit_top_left():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1, (3, 28, 28)).astype(np.float32)
    out = place_on_canvas(x, CanvasSpec((42, 42), (0, 0)))
    assert out.shape == (3, 42, 42) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :28, :28], x)
    assert not out[:, 28:, :].any() and not out[:, :, 28:].any()  # rows and columns added bottom and right
    moved = place_on_canvas(x, CanvasSpec((42, 42), (14, 7)))
    np.testing.assert_array_equal(moved[:, 14:, 7:35], x)
    with pytest.raises(PrepareError, match="does not fit a 42x42 canvas"):
        place_on_canvas(x, CanvasSpec((42, 42), (15, 0)))


def test_prepare_with_a_canvas():
    rng = np.random.default_rng(1)
    data = LabelledArrays(
        rng.integers(0, 256, (20, 28, 28)).astype(np.uint8), np.arange(20) % 2, ("a", "b"), is_test=np.arange(20) >= 15
    )
    spec = PrepareSpec.from_config(
        "moved", {"dataset": "x", "canvas": {"size": [42, 42]}, "split": {"kind": "upstream"}}
    )
    out = prepare(data, spec)
    assert out["x_train"].shape == (15, 42, 42) and out["x_test"].shape == (5, 42, 42)
    np.testing.assert_allclose(out["x_test"][:, :28, :28], data.x[15:] / 255.0, rtol=1e-6)


def test_rank_pixels_orders_by_score_and_breaks_ties_at_random():
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert rank_pixels(scores).tolist() == [1, 3, 2, 0]
    per_image = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    assert rank_pixels(per_image).tolist() == [[1, 3, 2, 0], [0, 1, 2, 3]]
    flat = np.zeros(784)
    ties = rank_pixels(flat, tie_seed=3)
    assert sorted(ties.tolist()) == list(range(784)) and ties[:10].tolist() != list(range(10))
    np.testing.assert_array_equal(ties, rank_pixels(flat, tie_seed=3))  # seeded: the same every time


def test_pixel_mask_takes_the_right_number_from_each_end():
    order = rank_pixels(np.arange(784.0))  # pixel 783 most important
    most, least = pixel_mask(order, 0.1, "most"), pixel_mask(order, 0.1, "least")
    assert most.sum() == least.sum() == 78
    assert most[783] and not most[0] and least[0] and not least[783]
    assert not (most & least).any()
    assert not pixel_mask(order, 0.0, "most").any()


def test_corrupt_pixels_follows_the_papers_rule():
    grey = np.array([0, 50, 100, 101, 200, 255], dtype=np.float32)
    x = (grey / 255.0).reshape(1, 2, 3)
    out = corrupt_pixels(x, np.ones(6, dtype=bool), threshold=100)
    assert (out.reshape(-1) * 255).round().tolist() == [255, 255, 255, 0, 0, 0]  # > 100 -> 0, else -> 255
    keep = corrupt_pixels(x, np.array([True, False, False, True, False, False]))
    assert (keep.reshape(-1) * 255).round().tolist() == [255, 50, 100, 0, 200, 255]
    np.testing.assert_array_equal(corrupt_pixels(x, np.zeros(6, dtype=bool)), x)


def _one_pixel_classifier(x):
    """Predicts 1 exactly when pixel (0, 0) is inked: only that pixel matters."""
    return (x.reshape(len(x), -1)[:, 0] > 0.5).astype(np.int64)


def test_corruption_of_the_only_important_pixel_destroys_accuracy():
    rng = np.random.default_rng(2)
    x = (rng.uniform(size=(50, 4, 4)) > 0.5).astype(np.float32)
    y = _one_pixel_classifier(x)  # a perfect classifier on clean images
    scores = {"right": np.eye(16)[0], "wrong": 1.0 - np.eye(16)[0]}
    runs = corruption_runs({"pixel": _one_pixel_classifier}, x, y, scores, (1 / 16, 0.5), random_seeds=(0, 1, 2))
    table = summarise_corruption(runs)
    acc = {(r.source, r.which, round(r.fraction, 4)): r.accuracy for r in table.itertuples()}
    assert acc[("right", "most", 0.0)] == acc[("right", "least", 0.0)] == 1.0  # 0 %: the clean accuracy
    assert acc[("right", "most", 0.0625)] == 0.0  # the one pixel that matters, flipped in every image
    assert acc[("right", "least", 0.0625)] == acc[("right", "least", 0.5)] == 1.0
    assert acc[("wrong", "most", 0.5)] == 1.0 and acc[("wrong", "least", 0.0625)] == 0.0
    random = table[(table.source == "random") & (table.fraction > 0)]
    assert (random.runs == 3).all() and set(table.columns) >= {"source", "which", "fraction", "accuracy"}
    # One random ranking per seed, shared by all images: a seed either corrupts pixel 0 (accuracy 0)
    # or not (accuracy 1), so the mean over 3 seeds is a multiple of 1/3, never a mix within a seed.
    thirds = random.accuracy.to_numpy() * 3
    np.testing.assert_allclose(thirds, thirds.round(), atol=1e-9)


def test_corruption_over_several_classifiers_mean_and_spread():
    """Two classifiers: the one-pixel one and one that always says 1. Flipping
    the one pixel that matters costs the first everything and the second
    nothing, so each cell's mean and sd are known by hand."""
    rng = np.random.default_rng(2)
    x = (rng.uniform(size=(40, 4, 4)) > 0.5).astype(np.float32)
    y = _one_pixel_classifier(x)
    always_one = lambda images: np.ones(len(images), dtype=np.int64)  # noqa: E731
    share = float(np.mean(y == 1))
    scores = {"right": np.eye(16)[0]}
    classifiers = {"pixel": _one_pixel_classifier, "ones": always_one}
    runs = corruption_runs(classifiers, x, y, scores, fractions=(1 / 16,), random_seeds=(0, 1))
    assert list(runs.columns) == ["classifier", "source", "which", "fraction", "random_seed", "accuracy"]
    # 2 classifiers x (right: 1 ranking + random: 2 seeds) x 2 ends x 2 fractions (0 and 1/16)
    assert len(runs) == 2 * 3 * 2 * 2
    assert set(runs[runs.source == "right"].random_seed) == {-1} and set(runs[runs.source == "random"].random_seed) == {
        0,
        1,
    }
    table = summarise_corruption(runs)
    cell = table[(table.source == "right") & (table.which == "most") & (table.fraction > 0)].iloc[0]
    assert cell.runs == 2 and cell.classifiers == 2
    assert cell.accuracy == pytest.approx(share / 2)  # 0 (pixel) and `share` (ones)
    assert cell.accuracy_std == pytest.approx(np.std([0.0, share], ddof=1))
    clean = table[(table.source == "right") & (table.fraction == 0)].accuracy
    assert clean.tolist() == pytest.approx([(1 + share) / 2] * 2)
    random = table[(table.source == "random") & (table.fraction == 0)]
    assert (random.runs == 4).all() and (random.classifiers == 2).all()
    # One classifier: its own accuracies, no spread for a ranking it runs once.
    alone = corruption_runs({"pixel": _one_pixel_classifier}, x, y, scores, fractions=(1 / 16,), random_seeds=(0, 1))
    single = summarise_corruption(alone)
    right = single[single.source == "right"]
    assert right.accuracy.tolist() == [1.0, 0.0, 1.0, 1.0]  # most: clean, 1/16; least: clean, 1/16
    assert (right.accuracy_std == 0).all() and (right.runs == 1).all() and (single.classifiers == 1).all()


def test_label_predictor_fast_layout_gives_the_same_labels_and_leaves_the_model_alone():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model(
        {"family": "cnn", "channels": [8, 16], "kernel_size": 3, "pool": 2, "hidden": [16]}, (28, 28), 10
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).uniform(size=(300, 28, 28)).astype(np.float32)
    with torch.inference_mode():
        plain = model(torch.as_tensor(x)).argmax(1).numpy()  # PyTorch's layout, ReLU before pool, one batch
    fast = label_predictor(model, batch=64)(x)  # channels-last, pool first, in batches (a last one of 44)
    np.testing.assert_array_equal(fast, plain)
    np.testing.assert_array_equal(label_predictor(model, memory_format="contiguous")(x), plain)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].is_contiguous() for k in before)
    assert label_predictor(model)(x[:0]).shape == (0,)


def test_per_image_scores_corrupt_each_image_by_its_own_map():
    x = np.zeros((2, 2, 2), dtype=np.float32)
    scores = np.array([[1.0, 0, 0, 0], [0, 0, 0, 1.0]])  # image 0: pixel 0; image 1: pixel 3
    mask = pixel_mask(rank_pixels(scores), 0.25, "most")
    out = corrupt_pixels(x, mask)
    assert out.reshape(2, -1).tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]


def test_importance_sources_shapes_and_gradient_times_input():
    rng = np.random.default_rng(3)
    maps, images = rng.uniform(size=(5, 3, 3)), rng.uniform(size=(5, 3, 3))
    src = importance_sources(maps, images, maps[2], maps.mean(0), None, rng.uniform(size=(7, 3, 3)))
    assert set(src) == {"csda_local", "csda_mean", "csda_per_image", "grad_x_input", "variance"}
    assert src["csda_per_image"].shape == (5, 9) and src["variance"].shape == (9,)
    np.testing.assert_allclose(src["grad_x_input"], (maps * images).reshape(5, 9))


def test_centre_of_mass_and_the_shift_of_moved_digits():
    delta = np.zeros((28, 28))
    delta[3, 20] = 2.0
    assert centre_of_mass(delta).tolist() == [3.0, 20.0]
    assert from_centre(np.array([13.5, 13.5]), (28, 28)).tolist() == [0.0, 0.0]
    rng = np.random.default_rng(4)
    images = rng.uniform(size=(6, 28, 28))
    moved = place_on_canvas(images, CanvasSpec((42, 42), (0, 0)))
    # Maps that follow their digits exactly shift by what the digits shift: 7 px up and left.
    result = translation_shift(images, moved, images, moved)
    np.testing.assert_allclose(result["digit_shift"], [-7.0, -7.0])
    np.testing.assert_allclose(result["saliency_shift_mean_map"], [-7.0, -7.0])
    np.testing.assert_allclose(result["saliency_shift_per_image_mean"], [-7.0, -7.0])
    # A map that stays centred on the canvas does not move.
    centred = place_on_canvas(images, CanvasSpec((42, 42), (7, 7)))
    np.testing.assert_allclose(
        translation_shift(images, centred, images, moved)["saliency_shift_mean_map"], [0, 0], atol=1e-12
    )


def test_check_2_over_trainings_averages_the_shifts_and_keeps_each():
    """Three trainings whose maps sit at known points: the mean and sd over
    trainings are those of the known shifts, each training's result is kept."""
    base_images = np.zeros((2, 28, 28))
    base_images[:, 10:18, 10:18] = 1.0
    moved_images = place_on_canvas(base_images, CanvasSpec((42, 42), (0, 0)))
    base_maps = np.zeros((2, 28, 28))
    base_maps[:, 13:15, 13:15] = 1.0  # centred: (13.5, 13.5)
    results = []
    for row, col in ((10, 12), (12, 10), (8, 8)):
        moved = np.zeros((2, 42, 42))
        moved[:, row : row + 2, col : col + 2] = 1.0  # centre of mass (row + 0.5, col + 0.5); canvas centre 20.5
        results.append(translation_shift(base_maps, moved, base_images, moved_images))
    combined = combine_trainings(results, [0, 1, 2], ["m", "m_seed1", "m_seed2"])
    shifts = np.array([[-10.0, -8.0], [-8.0, -10.0], [-12.0, -12.0]])
    np.testing.assert_allclose([r["saliency_shift_mean_map"] for r in results], shifts)
    np.testing.assert_allclose(combined["saliency_shift_mean_map"], shifts.mean(axis=0))
    np.testing.assert_allclose(combined["saliency_shift_mean_map_sd"], shifts.std(axis=0, ddof=1))
    np.testing.assert_allclose(combined["saliency_top10_shift_mean_map"], shifts.mean(axis=0))
    assert combined["digit_shift"] == results[0]["digit_shift"] and combined["images"] == 2
    assert [t["seed"] for t in combined["trainings"]] == [0, 1, 2]
    assert combined["trainings"][2]["experiment"] == "m_seed2"
    assert combined["trainings"][1]["saliency_shift_mean_map"] == results[1]["saliency_shift_mean_map"]
    # One training: its own values, sd 0.
    one = combine_trainings(results[:1], [0], ["m"])
    assert one["saliency_shift_mean_map"] == results[0]["saliency_shift_mean_map"]
    assert one["saliency_shift_mean_map_sd"] == [0.0, 0.0]
    # Trainings measured on other test images cannot be averaged.
    other = translation_shift(base_maps[:1], np.ones((1, 42, 42)), base_images[:1], moved_images[:1])
    with pytest.raises(ValueError, match="m_seed1: other test images than m"):
        combine_trainings([results[0], other], [0, 1], ["m", "m_seed1"])
    with pytest.raises(ValueError, match="one result, seed and experiment per training"):
        combine_trainings(results, [0], ["m"])


def test_map_image_correlations():
    rng = np.random.default_rng(5)
    means = rng.uniform(size=(3, 5, 5))
    r = map_image_correlations(2 * means + 1, means)  # a scaled, offset copy of each class
    np.testing.assert_allclose(np.diag(r), 1.0)
    table = correlation_table(r, ["a", "b", "c"], ["a", "b", "c"])
    assert table.own_class_best.all() and len(table) == 9
