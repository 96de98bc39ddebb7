"""migrator.runtime.keras_support gives Keras 3 PyTorch's numbers: every helper is run against torch.

Optimizers: the same 8-16-4 tanh MLP (Keras kernels = torch weights transposed), the same data,
each framework's own backward pass, 6 steps; the parameters must agree under the tolerance policy
of SEMANTICS.md section 9 (``max|diff| <= 1e-5*scale + 1e-6``), and the naive stock-Keras mapping
must miss by more than ``1e-4*scale`` under the same conditions (chosen to expose each gotcha:
tiny gradients for eps placement, an lr change for momentum, ...). Losses: values and input
gradients against torch for every reduction and option. Schedules: the lr of every optimizer step
against a torch scheduler stepped once per ``steps_per_epoch`` optimizer steps.
"""

from __future__ import annotations

import copy
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from torch import nn

from migrator.runtime import keras_support as ks

pytestmark = pytest.mark.frameworks

Arrays = list[np.ndarray[Any, Any]]
optim = torch.optim
LR = torch.optim.lr_scheduler


def _max_diff(actual: Any, expected: Any) -> tuple[float, float]:
    """(max |actual - expected|, max |expected|) over arrays or lists of arrays."""
    pairs = list(zip(actual, expected, strict=True)) if isinstance(expected, list) else [(actual, expected)]
    diff = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(e, np.float64)))) for a, e in pairs)
    scale = max(float(np.max(np.abs(np.asarray(e, np.float64)))) for _, e in pairs)
    return diff, scale


def assert_matches(actual: Any, expected: Any) -> None:
    diff, scale = _max_diff(actual, expected)
    assert diff <= 1e-5 * scale + 1e-6, f"max|diff| {diff:.3g} at scale {scale:.3g}"


def assert_same_lrs(actual: list[float], expected: list[float]) -> None:
    """Learning rates agree to float32 precision, however small they get."""
    assert actual == pytest.approx(expected, rel=1e-6, abs=0.0)


def assert_differs(actual: Any, expected: Any) -> None:
    diff, scale = _max_diff(actual, expected)
    assert diff > 1e-4 * scale, f"max|diff| only {diff:.3g} at scale {scale:.3g}"


# ---------------------------------------------------------------------------------------------
# Optimizers


def _mlps() -> tuple[nn.Sequential, keras.Sequential]:
    torch.manual_seed(0)
    tm = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    km = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(4)]
    )
    km.set_weights(_torch_params(tm))
    return tm, km


def _torch_params(tm: nn.Sequential) -> Arrays:
    """Torch parameters in Keras's ``get_weights()`` layout."""
    return [a for lin in (tm[0], tm[2]) for a in (lin.weight.detach().numpy().T, lin.bias.detach().numpy())]


def _data(n: int = 10) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 8)).astype("float32"), rng.standard_normal((n, 4)).astype("float32")


@dataclass(frozen=True)
class OptCase:
    id: str
    torch: Callable[[Any], torch.optim.Optimizer]
    ours: Callable[..., Any]
    naive: Callable[..., Any]
    loss_scale: float = 1.0  # 1e-6: gradients of the order of eps
    lr_change: tuple[int, float] | None = None  # (before step i, new lr)
    clip: float | None = None  # torch clip_grad_norm_ / keras global_clipnorm


def _train(case: OptCase, make_keras_opt: Callable[..., Any], steps: int = 6) -> tuple[Arrays, Arrays]:
    """Train both MLPs on MSE * loss_scale; returns (torch params, keras params)."""
    tm, km = _mlps()
    x, y = _data()
    t_opt = case.torch(tm.parameters())
    k_opt = make_keras_opt(global_clipnorm=case.clip)
    for step in range(steps):
        if case.lr_change and step == case.lr_change[0]:
            for group in t_opt.param_groups:
                group["lr"] = case.lr_change[1]
            k_opt.learning_rate.assign(case.lr_change[1])
        t_opt.zero_grad()
        loss = nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y)) * case.loss_scale
        loss.backward()
        if case.clip:
            nn.utils.clip_grad_norm_(tm.parameters(), case.clip)
        t_opt.step()
        with tf.GradientTape() as tape:
            k_loss = tf.reduce_mean(tf.square(km(x) - y)) * case.loss_scale
        grads = tape.gradient(k_loss, km.trainable_variables)
        k_opt.apply_gradients(zip(grads, km.trainable_variables, strict=True))
    return _torch_params(tm), km.get_weights()


KO = keras.optimizers
TINY = 1e-6
OPT_CASES = [
    OptCase(
        "sgd_momentum_lr_change",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
        lambda **kw: ks.TorchSGD(0.1, momentum=0.9, **kw),
        lambda **kw: KO.SGD(0.1, momentum=0.9, **kw),
        lr_change=(3, 0.01),
    ),
    OptCase(
        "sgd_nesterov_l2",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda **kw: ks.TorchSGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1, **kw),
        lambda **kw: KO.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1, **kw),
    ),
    OptCase(
        "sgd_dampening_clipped",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
        lambda **kw: ks.TorchSGD(0.1, momentum=0.9, dampening=0.5, **kw),
        lambda **kw: KO.SGD(0.1, momentum=0.9, **kw),
        clip=0.5,
    ),
    OptCase(
        "adam_small_grads",
        lambda p: optim.Adam(p, lr=1e-2),
        lambda **kw: ks.TorchAdam(1e-2, **kw),
        lambda **kw: KO.Adam(1e-2, epsilon=1e-8, **kw),
        loss_scale=TINY,
    ),
    OptCase(
        "adam_l2",
        lambda p: optim.Adam(p, lr=1e-2, weight_decay=0.1),
        lambda **kw: ks.TorchAdam(1e-2, weight_decay=0.1, **kw),
        lambda **kw: KO.Adam(1e-2, epsilon=1e-8, weight_decay=0.1, **kw),
    ),
    OptCase(
        "adam_amsgrad_small_grads",
        lambda p: optim.Adam(p, lr=1e-2, amsgrad=True),
        lambda **kw: ks.TorchAdam(1e-2, amsgrad=True, **kw),
        lambda **kw: KO.Adam(1e-2, epsilon=1e-8, amsgrad=True, **kw),
        loss_scale=TINY,
    ),
    OptCase(
        "adam_decoupled_small_grads",
        lambda p: optim.Adam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
        lambda **kw: ks.TorchAdam(0.05, weight_decay=0.1, decoupled_weight_decay=True, **kw),
        lambda **kw: KO.Adam(0.05, epsilon=1e-8, weight_decay=0.1, **kw),
        loss_scale=TINY,
    ),
    OptCase(
        "adamw",
        lambda p: optim.AdamW(p, lr=0.05),
        lambda **kw: ks.TorchAdamW(0.05, **kw),
        lambda **kw: KO.AdamW(0.05, **kw),
    ),
    OptCase(
        "rmsprop",
        lambda p: optim.RMSprop(p, lr=1e-2),
        lambda **kw: ks.TorchRMSprop(1e-2, **kw),
        lambda **kw: KO.RMSprop(1e-2, rho=0.99, epsilon=1e-8, **kw),
    ),
    OptCase(
        "rmsprop_centered_momentum_lr_change",
        lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.9, centered=True),
        lambda **kw: ks.TorchRMSprop(1e-2, momentum=0.9, centered=True, **kw),
        lambda **kw: KO.RMSprop(1e-2, rho=0.99, epsilon=1e-16, momentum=0.9, centered=True, **kw),
        lr_change=(3, 1e-3),
    ),
    OptCase(
        "rmsprop_l2",
        lambda p: optim.RMSprop(p, lr=1e-2, weight_decay=0.1),
        lambda **kw: ks.TorchRMSprop(1e-2, weight_decay=0.1, **kw),
        lambda **kw: KO.RMSprop(1e-2, rho=0.99, epsilon=1e-16, weight_decay=0.1, **kw),
    ),
    OptCase(
        "adagrad",
        lambda p: optim.Adagrad(p),
        lambda **kw: ks.TorchAdagrad(**kw),
        lambda **kw: KO.Adagrad(1e-2, **kw),
    ),
    OptCase(
        "adagrad_lr_decay_l2_init",
        lambda p: optim.Adagrad(p, lr=0.05, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2),
        lambda **kw: ks.TorchAdagrad(
            0.05, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2, **kw
        ),
        lambda **kw: KO.Adagrad(0.05, initial_accumulator_value=0.2, epsilon=1e-20, **kw),
    ),
    OptCase(
        "adadelta",
        lambda p: optim.Adadelta(p),
        lambda **kw: ks.TorchAdadelta(**kw),
        lambda **kw: KO.Adadelta(1.0, **kw),
    ),
    OptCase(
        "adadelta_l2",
        lambda p: optim.Adadelta(p, weight_decay=0.1),
        lambda **kw: ks.TorchAdadelta(weight_decay=0.1, **kw),
        lambda **kw: KO.Adadelta(1.0, rho=0.9, epsilon=1e-6, weight_decay=0.1, **kw),
    ),
    OptCase(
        "adamax",
        lambda p: optim.Adamax(p),
        lambda **kw: ks.TorchAdamax(**kw),
        lambda **kw: KO.Adamax(epsilon=1e-8, **kw),
    ),
    OptCase(
        "adamax_l2",
        lambda p: optim.Adamax(p, lr=0.05, weight_decay=0.1),
        lambda **kw: ks.TorchAdamax(0.05, weight_decay=0.1, **kw),
        lambda **kw: KO.Adamax(0.05, epsilon=1e-8, weight_decay=0.1, **kw),
    ),
    OptCase(
        "nadam",
        lambda p: optim.NAdam(p),
        lambda **kw: ks.TorchNAdam(**kw),
        lambda **kw: KO.Nadam(2e-3, epsilon=1e-8, **kw),
    ),
    OptCase(
        "nadam_l2",
        lambda p: optim.NAdam(p, lr=0.05, weight_decay=0.1),
        lambda **kw: ks.TorchNAdam(0.05, weight_decay=0.1, **kw),
        lambda **kw: KO.Nadam(0.05, epsilon=1e-8, weight_decay=0.1, **kw),
    ),
    OptCase(
        "nadam_decoupled",
        lambda p: optim.NAdam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
        lambda **kw: ks.TorchNAdam(0.05, weight_decay=0.1, decoupled_weight_decay=True, **kw),
        lambda **kw: KO.Nadam(0.05, epsilon=1e-8, weight_decay=0.1, **kw),
    ),
]
OPT_IDS = [c.id for c in OPT_CASES]


@pytest.mark.parametrize("case", OPT_CASES, ids=OPT_IDS)
def test_optimizer_matches_torch(case: OptCase) -> None:
    expected, actual = _train(case, case.ours)
    assert_matches(actual, expected)


@pytest.mark.parametrize("case", OPT_CASES, ids=OPT_IDS)
def test_naive_keras_optimizer_differs(case: OptCase) -> None:
    expected, actual = _train(case, case.naive)
    assert_differs(actual, expected)


def test_optimizer_defaults_are_torch_defaults() -> None:
    names = {"lr": "learning_rate", "eps": "epsilon"}  # every other torch default has our name
    pairs = [
        (optim.SGD, ks.TorchSGD),
        (optim.Adam, ks.TorchAdam),
        (optim.AdamW, ks.TorchAdamW),
        (optim.RMSprop, ks.TorchRMSprop),
        (optim.Adagrad, ks.TorchAdagrad),
        (optim.Adadelta, ks.TorchAdadelta),
        (optim.Adamax, ks.TorchAdamax),
        (optim.NAdam, ks.TorchNAdam),
    ]
    for torch_cls, ours_cls in pairs:
        config = ours_cls().get_config()
        for key, value in torch_cls([nn.Parameter(torch.zeros(1))]).defaults.items():
            if key == "betas":
                assert (config["beta_1"], config["beta_2"]) == value
            elif names.get(key, key) in config:
                assert config[names.get(key, key)] == pytest.approx(value), (torch_cls.__name__, key)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_variable_without_gradient_keeps_its_own_step_count() -> None:
    """Torch skips a parameter whose grad is None and does not advance its bias-correction step."""
    rng = np.random.default_rng(2)
    a0, b0 = rng.standard_normal(3).astype("float32"), rng.standard_normal(2).astype("float32")
    ta, tb = nn.Parameter(torch.from_numpy(a0.copy())), nn.Parameter(torch.from_numpy(b0.copy()))
    ka, kb = keras.Variable(a0.copy()), keras.Variable(b0.copy())
    t_opt, k_opt = optim.Adam([ta, tb], lr=0.1), ks.TorchAdam(0.1)
    k_opt.build([ka, kb])
    for step in range(4):
        ga, gb = rng.standard_normal(3).astype("float32"), rng.standard_normal(2).astype("float32")
        ta.grad, tb.grad = torch.from_numpy(ga), (torch.from_numpy(gb) if step >= 2 else None)
        t_opt.step()
        k_opt.apply_gradients([(tf.constant(ga), ka), (tf.constant(gb) if step >= 2 else None, kb)])
    assert_matches([ka.numpy(), kb.numpy()], [ta.detach().numpy(), tb.detach().numpy()])


def test_excluded_variables_get_no_weight_decay() -> None:
    """``exclude_from_weight_decay`` plays torch's param group with ``weight_decay=0``."""

    def torch_groups(params: Any) -> torch.optim.Optimizer:
        params = list(params)
        weights, biases = [q for q in params if q.dim() == 2], [q for q in params if q.dim() == 1]
        return optim.SGD(
            [{"params": weights}, {"params": biases, "weight_decay": 0.0}], lr=0.1, weight_decay=0.5
        )

    def ours(**kw: Any) -> Any:
        opt = ks.TorchSGD(0.1, weight_decay=0.5, **kw)
        opt.exclude_from_weight_decay(var_names=["bias"])
        return opt

    expected, actual = _train(OptCase("param_groups", torch_groups, ours, KO.SGD), ours)
    assert_matches(actual, expected)


def test_config_round_trip() -> None:
    schedule = ks.CosineAnnealingLR(0.1, T_max=3, eta_min=0.01, steps_per_epoch=2)
    optimizers = [
        ks.TorchSGD(0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, global_clipnorm=1.0),
        ks.TorchAdam(schedule, amsgrad=True, weight_decay=0.1),
        ks.TorchAdamW(),
        ks.TorchRMSprop(momentum=0.5, centered=True),
        ks.TorchAdagrad(lr_decay=0.1, initial_accumulator_value=0.3),
        ks.TorchAdadelta(rho=0.8),
        ks.TorchAdamax(weight_decay=0.2),
        ks.TorchNAdam(momentum_decay=0.01, decoupled_weight_decay=True),
    ]
    for opt in optimizers:
        config = keras.optimizers.serialize(opt)
        restored = keras.optimizers.deserialize(copy.deepcopy(config))  # from_config mutates it
        assert type(restored) is type(opt)
        assert keras.optimizers.serialize(restored) == config
    assert restored.torch_weight_decay == 0.0 and restored.decoupled_weight_decay
    losses = [
        ks.CrossEntropyLoss(weight=[1.0, 2.0], ignore_index=3, label_smoothing=0.1, reduction="sum"),
        ks.BCEWithLogitsLoss(pos_weight=[2.0], weight=np.ones(2)),
        ks.KLDivLoss(reduction="batchmean", log_target=True),
        ks.SmoothL1Loss(beta=0.5),
    ]
    for loss in losses:
        clone = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    for sched in (schedule, ks.OneCycleLR(0.1, 20, three_phase=True, anneal_strategy="linear")):
        assert type(sched).from_config(sched.get_config()).get_config() == sched.get_config()


def test_fit_matches_torch_loop_with_schedule() -> None:
    """``compile``/``fit`` (traced, graph mode): TorchAdam + CosineAnnealingLR + MSELoss."""
    tm, km = _mlps()
    x, y = _data()
    t_opt = optim.Adam(tm.parameters(), lr=0.05, weight_decay=0.01)
    t_sched = LR.CosineAnnealingLR(t_opt, T_max=1, eta_min=0.005)
    for _epoch in range(3):
        for i in range(0, 10, 5):
            t_opt.zero_grad()
            nn.functional.mse_loss(
                tm(torch.from_numpy(x[i : i + 5])), torch.from_numpy(y[i : i + 5])
            ).backward()
            t_opt.step()
        t_sched.step()
    schedule = ks.CosineAnnealingLR(0.05, T_max=1, eta_min=0.005, steps_per_epoch=2)
    km.compile(optimizer=ks.TorchAdam(schedule, weight_decay=0.01), loss=ks.MSELoss())
    km.fit(x, y, batch_size=5, epochs=3, shuffle=False, verbose=0)
    assert_matches(km.get_weights(), _torch_params(tm))


def test_fit_with_plateau_callback_and_cross_entropy() -> None:
    """``fit(callbacks=[ReduceLROnPlateau])`` with TorchSGD momentum and a weighted, smoothed CE."""
    tm, km = _mlps()
    x, _ = _data()
    labels = np.array([0, 1, 2, 3, 1, 2, 0, 3, 3, 1])
    weight = [0.5, 1.0, 2.0, 1.5]
    t_opt = optim.SGD(tm.parameters(), lr=0.5, momentum=0.9)
    t_sched = LR.ReduceLROnPlateau(t_opt, patience=0, threshold=0.3, factor=0.5)
    t_loss = nn.CrossEntropyLoss(weight=torch.tensor(weight), label_smoothing=0.1)
    t_lrs = []
    for _epoch in range(4):
        losses = []
        for i in range(0, 10, 5):
            t_opt.zero_grad()
            loss = t_loss(tm(torch.from_numpy(x[i : i + 5])), torch.from_numpy(labels[i : i + 5]))
            loss.backward()
            t_opt.step()
            losses.append(loss.item())
        t_sched.step(np.mean(losses))
        t_lrs.append(t_opt.param_groups[0]["lr"])
    k_opt = ks.TorchSGD(0.5, momentum=0.9)
    km.compile(optimizer=k_opt, loss=ks.CrossEntropyLoss(weight=weight, label_smoothing=0.1))
    plateau = ks.ReduceLROnPlateau(k_opt, patience=0, threshold=0.3, factor=0.5)
    history = km.fit(x, labels, batch_size=5, epochs=4, shuffle=False, verbose=0, callbacks=[plateau])
    assert_matches(km.get_weights(), _torch_params(tm))
    assert_same_lrs(history.history["learning_rate"], t_lrs)
    assert len(set(t_lrs)) > 1, "the test must see the lr reduced"


# ---------------------------------------------------------------------------------------------
# Losses

W5 = [0.2, 1.0, 0.5, 2.0, 1.5]


def _loss_inputs(kind: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Keras-side (y_true, y_pred), class axis last."""
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((2, 3, 4, 5) if kind == "ce4" else (6, 5)) * 3).astype("float32")
    log_probs = np.asarray(tf.nn.log_softmax(logits))
    if kind.startswith(("ce", "nll")):  # "_valid": no target equal to torch's default ignore_index
        target = rng.integers(0, 5, logits.shape[:-1])
        if not kind.endswith("_valid"):
            target.flat[[1, 4]] = -100
        return target, log_probs if kind.startswith("nll") else logits
    if kind == "prob":
        return np.exp(np.asarray(tf.nn.log_softmax(rng.standard_normal((6, 5)).astype("float32")))), logits
    if kind == "bce":
        probs = (1 / (1 + np.exp(-logits))).astype("float32")
        probs[0, :4] = [0.0, 1.0, 1.0, 0.0]  # saturated, right and wrong
        target = rng.uniform(size=(6, 5)).astype("float32")
        target[0, :4] = [0.0, 0.0, 1.0, 1.0]
        return target, probs
    if kind == "logits":
        return rng.uniform(size=(6, 5)).astype("float32"), logits
    if kind in ("kl", "kl_log"):
        target = np.exp(np.asarray(tf.nn.log_softmax(rng.standard_normal((6, 5)).astype("float32"))))
        target[0, 0] = 0.0
        return (np.log(target + 1e-3) if kind == "kl_log" else target).astype("float32"), log_probs
    return rng.standard_normal((6, 5)).astype("float32"), rng.standard_normal((6, 5)).astype("float32")


def _torch_loss(
    loss: nn.Module, y_true: Any, y_pred: Any
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Torch's (loss, d sum(loss) / d input), fed channels-first and returned channels-last."""
    channels_first = y_pred.ndim == 4
    inp = torch.tensor(y_pred.transpose(0, 3, 1, 2) if channels_first else y_pred, requires_grad=True)
    out = loss(inp, torch.from_numpy(y_true))
    out.sum().backward()
    assert inp.grad is not None
    grad = inp.grad.numpy()
    return out.detach().numpy(), grad.transpose(0, 2, 3, 1) if channels_first else grad


def _keras_loss(loss: Any, y_true: Any, y_pred: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(pred)
        out = loss(y_true, pred)
        total = tf.reduce_sum(out)
    return np.asarray(out), np.asarray(tape.gradient(total, pred))


W = torch.tensor(W5)
LOSS_CASES: list[tuple[str, str, Callable[[str], nn.Module], Callable[[str], Any]]] = [
    ("ce", "ce", lambda r: nn.CrossEntropyLoss(reduction=r), lambda r: ks.CrossEntropyLoss(reduction=r)),
    (
        "ce_weight",
        "ce",
        lambda r: nn.CrossEntropyLoss(W, reduction=r),
        lambda r: ks.CrossEntropyLoss(W5, reduction=r),
    ),
    (
        "ce_smoothing",
        "ce",
        lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
        lambda r: ks.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
    ),
    (
        "ce_weight_ignore_class_smoothing",
        "ce_valid",
        lambda r: nn.CrossEntropyLoss(W, ignore_index=1, reduction=r, label_smoothing=0.1),
        lambda r: ks.CrossEntropyLoss(np.array(W5), ignore_index=1, reduction=r, label_smoothing=0.1),
    ),
    (
        "ce_rank4_weight_smoothing",
        "ce4",
        lambda r: nn.CrossEntropyLoss(W, reduction=r, label_smoothing=0.1),
        lambda r: ks.CrossEntropyLoss(W, reduction=r, label_smoothing=0.1),
    ),
    (
        "ce_probs",
        "prob",
        lambda r: nn.CrossEntropyLoss(reduction=r),
        lambda r: ks.CrossEntropyLoss(reduction=r),
    ),
    (
        "ce_probs_weight_smoothing",
        "prob",
        lambda r: nn.CrossEntropyLoss(W, reduction=r, label_smoothing=0.1),
        lambda r: ks.CrossEntropyLoss(W5, reduction=r, label_smoothing=0.1),
    ),
    ("nll", "nll", lambda r: nn.NLLLoss(reduction=r), lambda r: ks.NLLLoss(reduction=r)),
    (
        "nll_weight_ignore_class",
        "nll_valid",
        lambda r: nn.NLLLoss(W, ignore_index=2, reduction=r),
        lambda r: ks.NLLLoss(W5, ignore_index=2, reduction=r),
    ),
    ("bce_saturated", "bce", lambda r: nn.BCELoss(reduction=r), lambda r: ks.BCELoss(reduction=r)),
    (
        "bce_weight",
        "bce",
        lambda r: nn.BCELoss(W, reduction=r),
        lambda r: ks.BCELoss(W5, reduction=r),
    ),
    (
        "bce_logits",
        "logits",
        lambda r: nn.BCEWithLogitsLoss(reduction=r),
        lambda r: ks.BCEWithLogitsLoss(reduction=r),
    ),
    (
        "bce_logits_weight_pos_weight",
        "logits",
        lambda r: nn.BCEWithLogitsLoss(W, reduction=r, pos_weight=W * 2),
        lambda r: ks.BCEWithLogitsLoss(W5, reduction=r, pos_weight=[w * 2 for w in W5]),
    ),
    ("mse", "reg", lambda r: nn.MSELoss(reduction=r), lambda r: ks.MSELoss(reduction=r)),
    ("l1", "reg", lambda r: nn.L1Loss(reduction=r), lambda r: ks.L1Loss(reduction=r)),
    *[
        (
            f"smooth_l1_beta_{beta}",
            "reg",
            lambda r, b=beta: nn.SmoothL1Loss(reduction=r, beta=b),
            lambda r, b=beta: ks.SmoothL1Loss(reduction=r, beta=b),
        )
        for beta in (0.0, 0.5, 1.0, 2.0)
    ],
    *[
        (
            f"huber_delta_{delta}",
            "reg",
            lambda r, d=delta: nn.HuberLoss(reduction=r, delta=d),
            lambda r, d=delta: ks.HuberLoss(reduction=r, delta=d),
        )
        for delta in (0.5, 2.0)
    ],
    ("kl", "kl", lambda r: nn.KLDivLoss(reduction=r), lambda r: ks.KLDivLoss(reduction=r)),
    (
        "kl_log_target",
        "kl_log",
        lambda r: nn.KLDivLoss(reduction=r, log_target=True),
        lambda r: ks.KLDivLoss(reduction=r, log_target=True),
    ),
]
LOSS_PARAMS = [
    pytest.param(kind, make_torch, make_ours, reduction, id=f"{name}-{reduction}")
    for name, kind, make_torch, make_ours in LOSS_CASES
    for reduction in ("mean", "sum", "none", *(("batchmean",) if kind.startswith("kl") else ()))
]


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides:UserWarning")  # torch, KLDivLoss
@pytest.mark.parametrize(("kind", "make_torch", "make_ours", "reduction"), LOSS_PARAMS)
def test_loss_matches_torch(kind: str, make_torch: Any, make_ours: Any, reduction: str) -> None:
    y_true, y_pred = _loss_inputs(kind)
    t_value, t_grad = _torch_loss(make_torch(reduction), y_true, y_pred)
    k_value, k_grad = _keras_loss(make_ours(reduction), y_true, y_pred)
    assert k_value.shape == t_value.shape
    assert_matches(k_value, t_value)
    assert_matches(k_grad, t_grad)


def _stock_weighted_ce(y_true: Any, y_pred: Any) -> Any:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return loss(
        np.maximum(y_true, 0), y_pred, sample_weight=np.take(W5, np.maximum(y_true, 0)) * (y_true >= 0)
    )


NAIVE_LOSSES: list[tuple[str, str, nn.Module, Callable[[Any, Any], Any]]] = [
    ("ce_weight_ignore_as_sample_weight", "ce", nn.CrossEntropyLoss(W), _stock_weighted_ce),
    (
        "nll_as_probabilities",
        "nll_valid",
        nn.NLLLoss(),
        keras.losses.SparseCategoricalCrossentropy(),
    ),
    ("bce_saturated_clipped", "bce", nn.BCELoss(), keras.losses.BinaryCrossentropy()),
    (
        "bce_logits_pos_weight_dropped",
        "logits",
        nn.BCEWithLogitsLoss(pos_weight=W),
        keras.losses.BinaryCrossentropy(True),
    ),
    (
        "mse_sum_last_axis_mean",
        "reg",
        nn.MSELoss(reduction="sum"),
        keras.losses.MeanSquaredError(reduction="sum"),
    ),
    ("smooth_l1_beta_as_delta", "reg", nn.SmoothL1Loss(beta=0.5), keras.losses.Huber(delta=0.5)),
    ("kl_mean_per_element", "kl", nn.KLDivLoss(), lambda t, p: keras.losses.KLDivergence()(t, tf.exp(p))),
]


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides:UserWarning")  # torch, KLDivLoss
@pytest.mark.parametrize(
    ("kind", "torch_loss", "stock"), [p[1:] for p in NAIVE_LOSSES], ids=[p[0] for p in NAIVE_LOSSES]
)
def test_naive_keras_loss_differs(kind: str, torch_loss: nn.Module, stock: Any) -> None:
    y_true, y_pred = _loss_inputs(kind)
    expected, _ = _torch_loss(torch_loss, y_true, y_pred)
    assert_differs(np.asarray(stock(y_true, y_pred)), expected)


def test_loss_refuses_sample_weight_and_unknown_reduction() -> None:
    with pytest.raises(ValueError, match="sample_weight"):
        ks.MSELoss()(np.zeros(2), np.ones(2), sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="reduction"):
        ks.MSELoss(reduction="batchmean")


def test_cross_entropy_accepts_keras_style_column_labels() -> None:
    y_true, y_pred = _loss_inputs("ce_valid")
    expected, _ = _torch_loss(nn.CrossEntropyLoss(), y_true, y_pred)
    assert_matches(np.asarray(ks.CrossEntropyLoss()(y_true[:, None], y_pred)), expected)


# ---------------------------------------------------------------------------------------------
# Schedules


def _torch_lrs(
    make: Callable[[torch.optim.Optimizer], Any], steps: int, steps_per_epoch: int, lr: float
) -> list[float]:
    """The lr of each optimizer step, ``scheduler.step()`` after every ``steps_per_epoch`` steps."""
    opt = optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    sched = make(opt)
    lrs = []
    for k in range(steps):
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if (k + 1) % steps_per_epoch == 0 and k + 1 < steps:
            sched.step()
    return lrs


def _keras_lrs(schedule: Any, steps: int) -> list[float]:
    return [float(schedule(k)) for k in range(steps)]


@pytest.mark.parametrize("steps_per_epoch", [1, 3])
def test_cosine_annealing_matches_torch_for_three_periods(steps_per_epoch: int) -> None:
    t_max, steps = 4, 3 * 4 * steps_per_epoch
    expected = _torch_lrs(lambda o: LR.CosineAnnealingLR(o, t_max, eta_min=0.01), steps, steps_per_epoch, 0.1)
    assert_same_lrs(_keras_lrs(ks.CosineAnnealingLR(0.1, t_max, 0.01, steps_per_epoch), steps), expected)
    stock = keras.optimizers.schedules.CosineDecay(0.1, t_max * steps_per_epoch, alpha=0.1)
    assert_differs(_keras_lrs(stock, steps), expected)


@pytest.mark.parametrize(
    "options",
    [{}, {"anneal_strategy": "linear"}, {"three_phase": True, "pct_start": 0.25}, {"div_factor": 5.0}],
    ids=["cos", "linear", "three_phase", "div_factor"],
)
def test_one_cycle_matches_torch(options: dict[str, Any]) -> None:
    total = 23
    expected = _torch_lrs(lambda o: LR.OneCycleLR(o, 0.5, total_steps=total, **options), total + 1, 1, 0.5)
    assert_same_lrs(_keras_lrs(ks.OneCycleLR(0.5, total, **options), total + 1), expected)


def test_stock_keras_schedules_match_step_multistep_exponential() -> None:
    spe, steps, lr = 3, 12, 0.1
    schedules = keras.optimizers.schedules
    pairs = [
        (lambda o: LR.StepLR(o, 2, 0.5), schedules.ExponentialDecay(lr, 2 * spe, 0.5, staircase=True)),
        (
            lambda o: LR.MultiStepLR(o, [1, 3], 0.1),
            schedules.PiecewiseConstantDecay([1 * spe - 1, 3 * spe - 1], [lr, lr * 0.1, lr * 0.01]),
        ),
        (lambda o: LR.ExponentialLR(o, 0.9), schedules.ExponentialDecay(lr, spe, 0.9, staircase=True)),
    ]
    for make_torch, stock in pairs:
        assert_same_lrs(_keras_lrs(stock, steps), _torch_lrs(make_torch, steps, spe, lr))


PLATEAU_CASES = [
    # loss ~1e-3 improving 1% per epoch: relative threshold 1e-4 never reduces, absolute does
    ("rel_slow_improvement", [1e-3 * 0.99**e for e in range(15)], {"patience": 2}),
    ("abs_slow_improvement", [1e-3 * 0.99**e for e in range(15)], {"patience": 2, "threshold_mode": "abs"}),
    (
        "plateaus_cooldown_min_lr",
        [1.0, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7],
        {"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": 0.02},
    ),
    (
        "max_abs",
        [0.1, 0.2, 0.25, 0.24, 0.26, 0.26, 0.3, 0.3, 0.3],
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 0},
    ),
    ("eps_skips_tiny_reduction", [1.0] * 12, {"patience": 0, "factor": 0.5, "eps": 0.02}),
]


@pytest.mark.parametrize(
    ("metrics", "options"), [c[1:] for c in PLATEAU_CASES], ids=[c[0] for c in PLATEAU_CASES]
)
def test_reduce_lr_on_plateau_matches_torch(metrics: list[float], options: dict[str, Any]) -> None:
    t_opt = optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    t_sched = LR.ReduceLROnPlateau(t_opt, **options)
    expected = []
    for m in metrics:
        t_sched.step(m)
        expected.append(t_opt.param_groups[0]["lr"])
    for via in ("step", "val_loss", "loss"):
        k_opt = KO.SGD(0.1)
        ours = ks.ReduceLROnPlateau(k_opt, **options)
        lrs = []
        for epoch, m in enumerate(metrics):
            if via == "step":
                ours.step(m)
            else:
                ours.on_epoch_end(epoch, {via: m})
            lrs.append(float(k_opt.learning_rate.numpy()))
        assert_same_lrs(lrs, expected)
        assert ours.get_last_lr() == pytest.approx([expected[-1]], rel=1e-7)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras's callback
def test_relative_threshold_matters_and_stock_keras_plateau_misses_it() -> None:
    metrics = [1e-3 * 0.99**e for e in range(15)]  # a loss of ~1e-3 improving by 1% per epoch
    relative = _plateau_lrs(lambda o: ks.ReduceLROnPlateau(o, patience=2), metrics)
    absolute = _plateau_lrs(lambda o: ks.ReduceLROnPlateau(o, patience=2, threshold_mode="abs"), metrics)
    assert relative == [pytest.approx(0.1)] * len(metrics)
    assert min(absolute) < 1e-4  # (both equal torch's: test_reduce_lr_on_plateau_matches_torch)
    k_opt = KO.SGD(0.1)
    stock = keras.callbacks.ReduceLROnPlateau(patience=3, min_delta=1e-4, verbose=0)  # patience p+1
    stock.set_model(type("Stub", (), {"optimizer": k_opt})())
    lrs = []
    for epoch, m in enumerate(metrics):
        stock.on_epoch_end(epoch, {"val_loss": m})
        lrs.append(float(k_opt.learning_rate.numpy()))
    assert_differs(lrs, relative)


def _plateau_lrs(make: Callable[[Any], Any], metrics: list[float]) -> list[float]:
    k_opt = KO.SGD(0.1)
    sched = make(k_opt)
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(float(k_opt.learning_rate.numpy()))
    return lrs


def test_reduce_lr_on_plateau_refuses_a_schedule() -> None:
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        ks.ReduceLROnPlateau(KO.SGD(ks.OneCycleLR(0.1, 10)))
