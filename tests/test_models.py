"""Model families from config, the deterministic trainer, checkpoints."""

import copy

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from aemap.compute import resolve_device
from aemap.models import (
    ConvClassifier,
    DenseAutoencoder,
    ModelConfigError,
    build_model,
    import_experiment,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from aemap.models.factory import n_parameters
from aemap.models.train import TrainConfig, corrupt, fit_autoencoder, fit_classifier, train_experiment

from .conftest import REPO

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def dense_params(widths):
    """Parameters of a chain of Linear layers: weights a*b plus biases b."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))


def linear_shapes(module: nn.Module):
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_arumugam_dae_architecture_from_config():
    model = build_model(CONFIG["experiments"]["arumugam_dae"]["model"], (28, 28), 10)
    assert isinstance(model, DenseAutoencoder)
    assert linear_shapes(model.encoder) == [(784, 128), (128, 32)]
    assert linear_shapes(model.decoder) == [(32, 128), (128, 784)]
    assert n_parameters(model) == dense_params([784, 128, 32, 128, 784]) == 209_968
    x = torch.rand(5, 28, 28)
    z = model.encoder(x)
    assert z.shape == (5, 32) and (z >= 0).all()  # ReLU code layer
    out = model.decoder(z)
    assert out.shape == (5, 28, 28) and (out > 0).all() and (out < 1).all()  # sigmoid output
    torch.testing.assert_close(torch.sigmoid(model.decoder_logits(z)).view(5, 28, 28), out)


@pytest.mark.parametrize(
    ("experiment", "shape", "widths"),
    [
        ("inglis_mnist01", (28, 28), [784, 12, 784]),
        ("inglis_emnist", (28, 28), [784, 32, 784]),
        ("inglis_fmnist", (28, 28), [784, 32, 784]),
        (
            "inglis_audiomnist",
            (32, 32),
            [1024, 512, 450, 384, 256, 192, 128, 96, 64, 32, 64, 96, 128, 192, 256, 384, 450, 512, 1024],
        ),
        (
            "inglis_fsdd",
            (32, 32),
            [1024, 512, 450, 384, 256, 192, 128, 96, 64, 32, 64, 96, 128, 192, 256, 384, 450, 512, 1024],
        ),
    ],
)
def test_inglis_architectures_from_config(experiment, shape, widths):
    model = build_model(CONFIG["experiments"][experiment]["model"], shape, 10)
    shapes = linear_shapes(model)
    assert [a for a, _ in shapes] + [shapes[-1][1]] == widths
    assert n_parameters(model) == dense_params(widths)


def test_arumugam_cnn_is_table_3():
    model = build_model(CONFIG["experiments"]["arumugam_cnn"]["model"], (28, 28), 10)
    assert isinstance(model, ConvClassifier)
    assert model.flat_features == 576  # 3 x 3 x 64 after three 2x2 pools: 28 -> 14 -> 7 -> 3
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 32, (3, 3)),
        (32, 64, (3, 3)),
        (64, 64, (3, 3)),
    ]
    assert linear_shapes(model.classifier) == [(576, 128), (128, 10)]
    # conv: 9*in*out + out each; dense 576-128-10.
    assert n_parameters(model) == (9 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 64 + 64) + dense_params([576, 128, 10])
    assert model(torch.rand(7, 28, 28)).shape == (7, 10)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"family": "dense_ae", "encoder": []}, r"model\.encoder: empty layer list"),
        ({"family": "dense_ae", "encoder": [1000]}, r"latent size 1000 is larger than the input \(784"),
        ({"family": "dense_ae", "encoder": [16], "activation": "swishy"}, r"unknown activation 'swishy'"),
        ({"family": "cnn", "channels": []}, r"model\.channels: empty layer list"),
        ({"family": "cnn", "channels": [8, 8, 8, 8, 8]}, r"shrink a \(28, 28\) input to nothing"),
        ({"family": "transformer"}, r"model\.family: unknown model family 'transformer'"),
    ],
)
def test_config_errors_are_clear(spec, message):
    with pytest.raises(ModelConfigError, match=message):
        build_model(spec, (28, 28), 10)


def test_train_config_rejects_unknown_keys():
    with pytest.raises(ModelConfigError, match=r"train: unknown key\(s\) \['epoch'\]"):
        TrainConfig.from_config({"epoch": 3, "batch_size": 2})
    with pytest.raises(ModelConfigError, match="only 'adam'"):
        TrainConfig.from_config({"epochs": 3, "batch_size": 2, "optimizer": {"name": "sgd"}})


def test_corrupt_is_clipped_seeded_and_identity_at_zero():
    x = torch.rand(50, 4, 4)
    assert corrupt(x, 0.0, torch.Generator().manual_seed(0)) is x
    a = corrupt(x, 0.5, torch.Generator().manual_seed(3))
    b = corrupt(x, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)
    # Away from the clip bounds the noise is kappa * N(0, 1).
    mid = torch.full((20000,), 0.5)
    d = corrupt(mid, 0.01, torch.Generator().manual_seed(1)) - mid
    assert abs(d.std().item() - 0.01) < 5e-4


def _stripes(n=256, seed=0):
    """Images that are one of four stripe patterns at random intensity: easy to compress."""
    rng = np.random.default_rng(seed)
    patterns = np.zeros((4, 8, 8), np.float32)
    for k in range(4):
        patterns[k, 2 * k : 2 * k + 2, :] = 1.0
    y = rng.integers(0, 4, n)
    x = patterns[y] * rng.uniform(0.5, 1.0, (n, 1, 1)).astype(np.float32)
    return {"x_train": x, "y_train": y, "x_test": x[:64], "y_test": y[:64], "classes": np.array(list("abcd"))}


EXPERIMENT = {
    "model": {"family": "dense_ae", "encoder": [16, 4]},
    "train": {"epochs": 12, "batch_size": 16, "loss": "bce", "noise": 0.1, "seed": 7},
}


def test_tiny_training_reduces_the_loss():
    _, result = train_experiment("tiny", EXPERIMENT, _stripes(), torch.device("cpu"), progress=False)
    losses = [row["test_loss"] for row in result.history]
    assert losses[-1] < 0.6 * losses[0]
    assert result.metrics["epochs"] == 12 and result.metrics["n_parameters"] == dense_params([64, 16, 4, 16, 64])
    assert result.metrics["test_loss"] == pytest.approx(losses[-1])
    assert "test_loss_clean_input" in result.metrics  # a denoising run also reports clean inputs


def test_training_is_byte_identical_on_cpu(tmp_path):
    paths = []
    for run in range(2):
        model, _ = train_experiment("tiny", EXPERIMENT, _stripes(), torch.device("cpu"), progress=False)
        paths.append(tmp_path / f"{run}.pt")
        save_checkpoint(paths[-1], model, model_spec=EXPERIMENT["model"], input_shape=[8, 8], n_classes=4)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = dict(EXPERIMENT, train={**EXPERIMENT["train"], "seed": 8})
    model, _ = train_experiment("tiny", other, _stripes(), torch.device("cpu"), progress=False)
    save_checkpoint(tmp_path / "other.pt", model, model_spec=EXPERIMENT["model"], input_shape=[8, 8], n_classes=4)
    assert (tmp_path / "other.pt").read_bytes() != paths[0].read_bytes()


def test_checkpoint_loads_back_to_the_same_outputs(tmp_path):
    model, _ = train_experiment("tiny", EXPERIMENT, _stripes(), torch.device("cpu"), progress=False)
    save_checkpoint(
        tmp_path / "m.pt", model, model_spec=EXPERIMENT["model"], input_shape=[8, 8], n_classes=4, experiment="tiny"
    )
    loaded, ckpt = load_checkpoint(tmp_path / "m.pt")
    x = torch.as_tensor(_stripes()["x_test"])
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x)) and torch.equal(loaded.encoder(x), model.encoder(x))
    assert ckpt["experiment"] == "tiny" and not loaded.training


def test_classifier_learns_a_separable_problem():
    exp = {
        "model": {"family": "cnn", "channels": [4], "hidden": [8]},
        "train": {"epochs": 15, "batch_size": 32, "loss": "cross_entropy", "seed": 0},
    }
    model, result = train_experiment("cls", exp, _stripes(), torch.device("cpu"), progress=False)
    assert result.metrics["test_accuracy"] == 1.0
    assert {"test_accuracy", "train_accuracy"} <= set(result.metrics) and "test_accuracy" in result.history[-1]


def test_wrong_loss_for_the_family():
    exp = {
        "model": {"family": "cnn", "channels": [4]},
        "train": {"epochs": 1, "batch_size": 8, "loss": "bce", "seed": 0},
    }
    with pytest.raises(ModelConfigError, match="cross_entropy"):
        train_experiment("cls", exp, _stripes(), torch.device("cpu"), progress=False)


def test_unshuffled_full_batch_step_matches_a_plain_loop():
    # One full-batch epoch without shuffling or noise equals one hand-written Adam step.
    data = _stripes(32)
    cfg = TrainConfig(epochs=1, batch_size=32, shuffle=False, seed=0)
    torch.manual_seed(0)
    model = build_model({"family": "dense_ae", "encoder": [4]}, (8, 8), 4)
    reference = build_model({"family": "dense_ae", "encoder": [4]}, (8, 8), 4)
    reference.load_state_dict(model.state_dict())
    fit_autoencoder(model, data["x_train"], data["x_test"], cfg, torch.device("cpu"), progress=False)
    opt = torch.optim.Adam(reference.parameters(), lr=1e-3)
    x = torch.as_tensor(data["x_train"])
    loss = nn.functional.binary_cross_entropy(reference(x), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour; this machine has CUDA")
def test_resolve_device_without_cuda():
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device("auto")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(RuntimeError, match="compute.device is 'cuda(:1)?' but no CUDA device"):
            resolve_device(name)  # noqa: B018
    with pytest.raises(RuntimeError, match="Expected one of"):  # torch's own message for a name it does not know
        resolve_device("gpu")


def test_imported_weights_give_the_same_model_and_are_checked(tmp_path):
    torch.manual_seed(0)
    spec = {"family": "dense_ae", "encoder": [6, 3]}
    trained = build_model(spec, (4, 4), 2)
    torch.save(trained.state_dict(), tmp_path / "state.pt")
    x = torch.rand(5, 4, 4)
    loaded = load_weights(build_model(spec, (4, 4), 2), tmp_path / "state.pt", key="experiments.mine.weights")
    torch.testing.assert_close(loaded(x), trained.eval()(x), rtol=0, atol=0)
    # A model of another shape: every parameter that does not fit is named.
    with pytest.raises(
        ModelConfigError,
        match=r"experiments\.mine\.weights: .*shape differs: .*encoder\.1\.weight \(6, 16\) \(model: \(7, 16\)\)",
    ):
        load_weights(
            build_model({"family": "dense_ae", "encoder": [7, 3]}, (4, 4), 2),
            tmp_path / "state.pt",
            key="experiments.mine.weights",
        )
    # Anything but tensors in plain containers is refused unread (weights_only=True).
    torch.save({"state_dict": trained.state_dict(), "hook": _NotATensor()}, tmp_path / "pickled.pt")
    with pytest.raises(ModelConfigError, match="cannot read .*pickled.pt as a state dict"):
        load_weights(build_model(spec, (4, 4), 2), tmp_path / "pickled.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelConfigError, match="cannot read"):
        load_weights(build_model(spec, (4, 4), 2), tmp_path / "junk.pt")


class _NotATensor:
    """Stands for arbitrary code a pickle could run."""


def test_import_experiment_scores_the_model_on_its_data(tmp_path):
    data, clean = _stripes(), dict(EXPERIMENT, train={**EXPERIMENT["train"], "noise": 0.0, "epochs": 2})
    model, result = train_experiment("tiny", clean, data, torch.device("cpu"), progress=False)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    _, metrics = import_experiment(
        "mine", {"model": clean["model"], "weights": str(tmp_path / "w.pt")}, data, torch.device("cpu")
    )
    # The same weights, scored on the same data: the trained run's final losses.
    assert metrics["test_loss"] == pytest.approx(result.metrics["test_loss"], rel=1e-6)
    assert metrics["train_loss"] == pytest.approx(result.metrics["train_loss"], rel=1e-6)
    assert metrics["loss"] == "bce" and metrics["weights"].endswith("w.pt")


SMALL_CNN = {"family": "cnn", "channels": [4, 8], "hidden": [8]}  # 8x8 -> 4x4 -> 2x2 -> 32 -> 8 -> 4


def _fit_small_cnn(memory_format: str, epochs: int = 3):
    data = _stripes()
    cfg = TrainConfig(epochs=epochs, batch_size=32, loss="cross_entropy", memory_format=memory_format)
    torch.manual_seed(0)
    model = build_model(SMALL_CNN, (8, 8), 4)
    initial = copy.deepcopy(model)
    args = (data["x_train"], data["y_train"], data["x_test"], data["y_test"], cfg, torch.device("cpu"))
    result = fit_classifier(model, *args, progress=False)
    return model, initial, result, data, cfg


def test_cnn_training_equals_a_plain_loop_bit_for_bit():
    """The trainer runs max-pool before ReLU; a plain loop (ReLU then pool, PyTorch's
    layout, the same shuffles) must reach the same weights exactly. The stripes' zero
    rows give the pools ties, the case where the two orders could part."""
    model, reference, result, data, cfg = _fit_small_cnn("contiguous")
    x, y = torch.as_tensor(data["x_train"]), torch.as_tensor(data["y_train"])
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)
    opt = torch.optim.Adam(reference.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=True)
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=shuffle)
        xs, ys = x[order], y[order]
        for start in range(0, len(x), cfg.batch_size):
            batch = slice(start, start + cfg.batch_size)
            loss = nn.functional.cross_entropy(reference(xs[batch]), ys[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not any("forward" in vars(m) for m in model.modules())  # its own forward again
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_cnn_training_channels_last_agrees_and_hands_back_plain_weights():
    plain, _, plain_result, _, _ = _fit_small_cnn("contiguous", epochs=1)
    fast, _, fast_result, _, _ = _fit_small_cnn("channels_last", epochs=1)
    auto, _, _, _, _ = _fit_small_cnn("auto", epochs=1)
    for a, b, c in zip(plain.parameters(), fast.parameters(), auto.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)  # float rounding apart
        assert torch.equal(c, b)  # auto is channels-last on the CPU
        assert b.is_contiguous() and b.stride() == a.stride()  # the checkpoint's layout as before
    assert fast_result.metrics["test_loss"] == pytest.approx(plain_result.metrics["test_loss"], rel=1e-4)
    with pytest.raises(ModelConfigError, match="cls.train.memory_format: 'nhwc'"):
        TrainConfig.from_config({"epochs": 1, "batch_size": 8, "memory_format": "nhwc"}, "cls.train")
