"""The batch-norm helpers: torch's running-variance update on Keras (keras_support) and Keras's
on torch (torch_support), against the other framework's own layer, and the stock layer failing."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.frameworks

C = 3


def _batches(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # channels-first (N, C, H, W) with H != W, non-zero means, small batch (the n/(n-1) factor shows)
    return [(rng.normal(size=(2, C, 3, 5)) * 2 + 1).astype("float32") for _ in range(4)]


def _torch_stats(layer_cls: type, xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    import torch

    bn = layer_cls(C, eps=1e-3, momentum=0.1)
    bn.train()
    outs = [bn(torch.from_numpy(x)).detach().numpy() for x in xs]
    return bn.running_mean.numpy(), bn.running_var.numpy(), outs


def _keras_stats(layer_cls: type, xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    bn = layer_cls(epsilon=1e-3, momentum=0.9)
    outs = [np.asarray(bn(np.transpose(x, (0, 2, 3, 1)), training=True)).transpose(0, 3, 1, 2) for x in xs]
    return np.asarray(bn.moving_mean), np.asarray(bn.moving_variance), outs


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.max(np.abs(a - b))) <= 1e-6 + 1e-5 * float(np.max(np.abs(a)))


def test_keras_helper_follows_torch() -> None:
    import keras
    import torch

    from migrator.runtime.keras_support import BatchNormalization

    xs = _batches()
    t_mean, t_var, t_out = _torch_stats(torch.nn.BatchNorm2d, xs)
    k_mean, k_var, k_out = _keras_stats(BatchNormalization, xs)
    assert _close(t_mean, k_mean) and _close(t_var, k_var)
    assert all(_close(a, b) for a, b in zip(t_out, k_out, strict=True))
    _, stock_var, _ = _keras_stats(keras.layers.BatchNormalization, xs)
    assert not _close(t_var, stock_var)  # the biased update drifts


def test_torch_helper_follows_keras() -> None:
    import keras
    import torch

    from migrator.runtime.torch_support import KerasBatchNorm2d

    xs = _batches(1)
    k_mean, k_var, k_out = _keras_stats(keras.layers.BatchNormalization, xs)
    t_mean, t_var, t_out = _torch_stats(KerasBatchNorm2d, xs)
    assert _close(k_mean, t_mean) and _close(k_var, t_var)
    assert all(_close(a, b) for a, b in zip(k_out, t_out, strict=True))
    _, stock_var, _ = _torch_stats(torch.nn.BatchNorm2d, xs)
    assert not _close(k_var, stock_var)


def test_torch_helper_gradients_and_eval_match_torch() -> None:
    import torch

    from migrator.runtime.torch_support import KerasBatchNorm1d

    torch.manual_seed(0)
    x = torch.randn(6, C, requires_grad=True)
    ours, theirs = KerasBatchNorm1d(C), torch.nn.BatchNorm1d(C)
    theirs.load_state_dict(ours.state_dict())
    (ours(x) ** 2).sum().backward()
    g1 = x.grad.clone()
    x.grad = None
    (theirs(x) ** 2).sum().backward()
    assert torch.allclose(g1, x.grad, atol=1e-5)
    ours.eval()
    theirs.eval()
    theirs.running_var.copy_(ours.running_var)
    assert torch.allclose(ours(x), theirs(x))
