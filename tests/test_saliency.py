"""Complex-step (CSDA) and autograd Jacobians of encoders (Arumugam & Kiran)."""

import numpy as np
import pytest
import torch
from torch import nn

from aemap.explain.reference import csda_jacobian_loop
from aemap.explain.saliency import (
    autograd_jacobian,
    csda_jacobian,
    saliency_from_jacobian,
    saliency_maps,
)
from aemap.models.train import train_experiment

from .test_models import _stripes


def test_eq8_single_relu_layer_gives_the_masked_weights():
    # y = relu(W x + b): dy_j/dx_i = W[j, i] where unit j is active, else 0 (their Eq. 8).
    lin = nn.Linear(3, 2)
    lin.weight.data = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    lin.bias.data = torch.tensor([0.1, -10.0])  # unit 2 is inactive for inputs in [0, 1]
    encoder = nn.Sequential(lin, nn.ReLU())
    x = np.array([[0.2, 0.4, 0.6]])
    expected = np.array([[[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]]])
    for jac in (csda_jacobian(encoder, x), csda_jacobian_loop(encoder, x), autograd_jacobian(encoder, x)):
        np.testing.assert_allclose(jac.numpy(), expected, rtol=0, atol=1e-15)


def test_csda_equals_autograd_on_a_trained_encoder():
    data = _stripes(128)
    exp = {
        "model": {"family": "dense_ae", "encoder": [16, 4]},
        "train": {"epochs": 5, "batch_size": 16, "loss": "bce", "seed": 1},
    }
    model, _ = train_experiment("tiny", exp, data, torch.device("cpu"), progress=False)
    x = data["x_test"][:10]
    auto = autograd_jacobian(model.encoder, x)
    csda = csda_jacobian(model.encoder, x, h=1e-16, images_per_pass=3)
    assert auto.shape == (10, 4, 64) and auto.abs().max() > 0
    assert ((csda - auto).abs().max() / auto.abs().max()).item() <= 1e-10
    loop = csda_jacobian_loop(model.encoder, x[:2])
    assert ((loop - csda[:2]).abs().max() / auto.abs().max()).item() <= 1e-12


def test_complex_step_needs_no_finite_difference_step_tuning():
    # h = 1e-16 would be useless for a real finite difference; the complex step is exact.
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid())
    x = np.random.default_rng(0).uniform(size=(4, 2, 3))
    for h in (1e-8, 1e-16, 1e-100):
        np.testing.assert_allclose(
            csda_jacobian(encoder, x, h=h), autograd_jacobian(encoder, x), rtol=1e-12, atol=1e-15
        )


def test_unsupported_layers_are_named():
    encoder = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    with pytest.raises(ValueError, match="unsupported layer Conv2d"):
        csda_jacobian(encoder, np.zeros((1, 1, 5, 5)))


def test_saliency_is_the_l2_norm_over_latents():
    jac = torch.tensor([[[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]]], dtype=torch.float64)
    np.testing.assert_allclose(saliency_from_jacobian(jac), [[5.0, 0.0, np.sqrt(2.0)]])


def test_a_convolutional_encoder_gets_autograd_maps_without_the_cross_check():
    """The complex step runs dense encoders only: a convolutional one is refused
    by it, naming autograd, and gets autograd's maps (each pixel's L2 norm of the
    code's gradient, checked here one latent variable at a time), with the
    cross-check recorded as NaN rather than failing."""
    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, 6)), nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(72, 3)
    ).double()
    x = np.random.default_rng(0).random((3, 6, 6))
    with pytest.raises(ValueError, match="unsupported layer Unflatten.*use method='autograd'"):
        saliency_maps(encoder, x, method="csda")
    result = saliency_maps(encoder, x, method="autograd")
    assert np.isnan(result["csda_vs_autograd_rel"])
    xt = torch.tensor(x, requires_grad=True)
    grads = [torch.autograd.grad(encoder(xt)[:, k].sum(), xt)[0] for k in range(3)]
    expected = torch.stack(grads).pow(2).sum(0).sqrt().numpy()
    np.testing.assert_allclose(result["maps"], expected, rtol=1e-6)


def test_saliency_maps_use_inference_mode_and_leave_the_encoder_as_it_was():
    """An encoder in training mode (dropout on) gets the maps of its
    inference mode, deterministic and equal to those of the same encoder in
    eval mode, and is handed back in training mode; bad images are named."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    x = np.random.default_rng(0).random((4, 4, 4))
    training = saliency_maps(encoder.train(), x, method="csda")
    assert encoder.training and all(m.training for m in encoder.modules())
    inference = saliency_maps(encoder.eval(), x, method="csda")
    np.testing.assert_array_equal(training["maps"], inference["maps"])
    assert training["csda_vs_autograd_rel"] < 1e-9
    with pytest.raises(ValueError, match=r"saliency: 1 values are NaN or infinite in images shaped \(4, 4, 4\)"):
        saliency_maps(encoder, np.where(x == x.max(), np.nan, x))
    with pytest.raises(ValueError, match="saliency: no images"):
        saliency_maps(encoder, x[:0])
    with pytest.raises(ValueError, match="Dropout in training mode is random"):
        csda_jacobian(encoder.train(), x)  # the function below saliency_maps does not switch modes
