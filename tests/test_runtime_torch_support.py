"""migrator.runtime.torch_support: each Keras-semantics helper for PyTorch against Keras itself.

Optimizers train the same 8->16->4 tanh MLP in both frameworks (Keras kernel = torch weight.T,
identical data, each framework's own backward) and compare parameters with the SEMANTICS.md §9
policy (``max|diff| <= 1e-5 * scale + 1e-6``, scale = max|param|). Every helper also has a case
showing that the naive stock torch mapping misses Keras by more than ``1e-4 * scale`` under
conditions that expose the difference (tiny gradients for eps placement, an lr change for SGD
momentum, weight decay for the coupled/decoupled split); stock torch optimizers and losses that
*are* exact are pinned down too. Losses are compared with ``keras.losses`` for every reduction
(values and, for the default reduction, gradients), schedules with
``keras.optimizers.schedules`` step by step, and the plateau scheduler with the Keras callback
driven epoch by epoch.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import pytest
import tensorflow as tf
import torch

from migrator.runtime import torch_support as ts

pytestmark = pytest.mark.frameworks

Array = npt.NDArray[Any]
KO = keras.optimizers
KL = keras.losses
KS = keras.optimizers.schedules
TO = torch.optim


def policy_tol(scale: float) -> float:
    return 1e-5 * scale + 1e-6


# ----------------------------------------------------------------------------------------- optimizers

_RNG = np.random.default_rng(0)
_INIT = [  # torch order and layout: W1 (16, 8), b1, W2 (4, 16), b2
    (_RNG.standard_normal((16, 8)) * 0.4).astype("float32"),
    (_RNG.standard_normal(16) * 0.1).astype("float32"),
    (_RNG.standard_normal((4, 16)) * 0.4).astype("float32"),
    (_RNG.standard_normal(4) * 0.1).astype("float32"),
]
_X = _RNG.standard_normal((32, 8)).astype("float32")
_Y = _RNG.standard_normal((32, 4)).astype("float32")

TorchOpt = Callable[[Any], torch.optim.Optimizer]


def train_pair(
    keras_opt: Any,
    torch_opt: TorchOpt,
    *,
    steps: int = 6,
    grad_scale: float = 1.0,
    lr_change: tuple[int, float] | None = None,
    schedule: Callable[[int], float] | None = None,
) -> tuple[float, float]:
    """Train the MLP ``steps`` times in both frameworks; (max |param diff|, max |keras param|).

    ``grad_scale`` multiplies the loss (1e-6 gives the tiny gradients that expose eps placement);
    ``lr_change=(step, lr)`` sets a new lr before that step on both sides; ``schedule`` drives the
    torch optimizer through ``ScheduleLR`` (the Keras optimizer gets the matching Keras schedule).
    """
    km = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(4)]
    )
    km.set_weights([_INIT[0].T, _INIT[1], _INIT[2].T, _INIT[3]])
    tm = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    with torch.no_grad():
        for p, w in zip(tm.parameters(), _INIT, strict=True):
            p.copy_(torch.from_numpy(w))
    opt = torch_opt(tm.parameters())
    sched = ts.ScheduleLR(opt, schedule) if schedule is not None else None
    x, y = torch.from_numpy(_X), torch.from_numpy(_Y)
    for step in range(steps):
        if lr_change is not None and step == lr_change[0]:
            keras_opt.learning_rate.assign(lr_change[1])
            for group in opt.param_groups:
                group["lr"] = lr_change[1]
        with tf.GradientTape() as tape:
            k_loss = tf.reduce_mean(tf.square(km(_X) - _Y)) * grad_scale
        grads = tape.gradient(k_loss, km.trainable_variables)
        keras_opt.apply_gradients(zip(grads, km.trainable_variables, strict=True))
        opt.zero_grad()
        (((tm(x) - y) ** 2).mean() * grad_scale).backward()
        opt.step()
        if sched is not None:
            sched.step()
    kw = km.get_weights()
    keras_params = [kw[0].T, kw[1], kw[2].T, kw[3]]
    torch_params = [p.detach().numpy() for p in tm.parameters()]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(keras_params, torch_params, strict=True))
    return diff, max(float(np.abs(a).max()) for a in keras_params)


# (id, keras optimizer factory, torch optimizer factory, train_pair options)
OptCase = tuple[str, Callable[[], Any], TorchOpt, dict[str, Any]]
TINY = {"grad_scale": 1e-6}
LR_DROP = {"lr_change": (3, 0.01)}


def keras_opt(cls: str, **kw: Any) -> Callable[[], Any]:
    """A factory for ``keras.optimizers.<cls>`` taking torch's spelling (lr, eps, betas)."""
    renamed = {"lr": "learning_rate", "eps": "epsilon"}
    args = {renamed.get(k, k): v for k, v in kw.items() if k != "betas"}
    if "betas" in kw:
        args["beta_1"], args["beta_2"] = kw["betas"]
    return lambda: getattr(KO, cls)(**args)


def helper(name: str, cls: str, opts: dict[str, Any] | None = None, **kw: Any) -> OptCase:
    """keras.optimizers.<cls>(**kw) against torch_support.Keras<cls>(params, **kw)."""
    return name, keras_opt(cls, **kw), lambda p: getattr(ts, f"Keras{cls}")(p, **kw), opts or {}


HELPER_CASES: list[OptCase] = [
    helper("sgd", "SGD", lr=0.1),
    helper("sgd-wd", "SGD", lr=0.1, weight_decay=0.1),
    helper("sgd-momentum-lr-change", "SGD", LR_DROP, lr=0.1, momentum=0.9),
    helper(
        "sgd-nesterov-wd-lr-change", "SGD", LR_DROP, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1
    ),
    helper("adam", "Adam", lr=0.01),
    helper("adam-tiny-grads", "Adam", TINY, lr=0.01),
    helper("adam-amsgrad-wd-tiny-grads", "Adam", TINY, lr=0.01, amsgrad=True, weight_decay=0.5),
    helper("adam-betas-eps", "Adam", lr=0.01, betas=(0.8, 0.99), eps=1e-3),
    helper("adamw", "AdamW", lr=0.01),
    helper("adamw-tiny-grads", "AdamW", TINY, lr=0.01),
    helper("rmsprop-tiny-grads", "RMSprop", TINY, lr=0.01),
    helper("rmsprop-momentum-centered-lr-change", "RMSprop", LR_DROP, lr=0.01, momentum=0.9, centered=True),
    helper("rmsprop-rho-wd", "RMSprop", lr=0.01, rho=0.8, weight_decay=0.1),
    helper("adagrad", "Adagrad", lr=0.1),
    helper("adagrad-acc0-tiny-grads", "Adagrad", TINY, lr=0.1, initial_accumulator_value=0.0),
    helper("adagrad-wd", "Adagrad", lr=0.1, weight_decay=0.1),
    helper("adamax-tiny-grads", "Adamax", {"grad_scale": 1e-7}, lr=0.01),
    helper("adamax-wd", "Adamax", lr=0.01, weight_decay=0.1),
    helper("adadelta-wd", "Adadelta", lr=1.0, weight_decay=0.1),
    helper("nadam-wd", "Nadam", lr=0.01, weight_decay=0.1),
    helper("nadam-tiny-grads", "Nadam", TINY, lr=0.01),
]

# The obvious stock torch translation of the Keras optimizer, under conditions that expose it.
NAIVE_CASES: list[OptCase] = [
    (
        "sgd-momentum-lr-change",
        keras_opt("SGD", lr=0.1, momentum=0.9),
        lambda p: TO.SGD(p, 0.1, momentum=0.9),
        LR_DROP,
    ),
    (
        "sgd-momentum-wd-coupled",
        keras_opt("SGD", lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda p: TO.SGD(p, 0.1, momentum=0.9, weight_decay=0.1),
        {},
    ),
    ("adam-eps", keras_opt("Adam", lr=0.01), lambda p: TO.Adam(p, 0.01, eps=1e-7), TINY),
    ("adamw-torch-default-wd", keras_opt("AdamW", lr=0.01), lambda p: TO.AdamW(p, 0.01, eps=1e-7), {}),
    (
        "adamw-wd-copied-eps",
        keras_opt("AdamW", lr=0.01),
        lambda p: TO.AdamW(p, 0.01, eps=1e-7, weight_decay=0.004),
        TINY,
    ),
    ("rmsprop-eps", keras_opt("RMSprop", lr=0.01), lambda p: TO.RMSprop(p, 0.01, alpha=0.9, eps=1e-7), TINY),
    (
        "rmsprop-momentum-lr-change",
        keras_opt("RMSprop", lr=0.01, momentum=0.9),
        lambda p: TO.RMSprop(p, 0.01, alpha=0.9, eps=1e-7, momentum=0.9),
        LR_DROP,
    ),
    ("adagrad-lr-only", keras_opt("Adagrad", lr=0.1), lambda p: TO.Adagrad(p, 0.1), {}),
    (
        "adagrad-acc0-eps",
        keras_opt("Adagrad", lr=0.1, initial_accumulator_value=0.0),
        lambda p: TO.Adagrad(p, 0.1, eps=1e-7),
        TINY,
    ),
    (
        "adamax-wd-coupled",
        keras_opt("Adamax", lr=0.01, weight_decay=0.1),
        lambda p: TO.Adamax(p, 0.01, eps=1e-7, weight_decay=0.1),
        {},
    ),
    (
        "adadelta-wd-coupled",
        keras_opt("Adadelta", lr=1.0, weight_decay=0.1),
        lambda p: TO.Adadelta(p, 1.0, rho=0.95, eps=1e-7, weight_decay=0.1),
        {},
    ),
    ("nadam-torch-momentum-decay", keras_opt("Nadam", lr=0.01), lambda p: TO.NAdam(p, 0.01, eps=1e-7), {}),
    (
        "nadam-wd-coupled",
        keras_opt("Nadam", lr=0.01, weight_decay=0.1),
        lambda p: TO.NAdam(p, 0.01, eps=1e-7, momentum_decay=1.0, weight_decay=0.1),
        {},
    ),
]


def _adadelta(lr: float) -> TorchOpt:
    return lambda p: TO.Adadelta(p, lr, rho=0.95, eps=1e-7)


def _nadam(**kw: Any) -> TorchOpt:
    return lambda p: TO.NAdam(p, 0.01, eps=1e-7, momentum_decay=1.0, **kw)


# Stock torch optimizers that are exact for the Keras one (the code generator emits these).
STOCK_EXACT_CASES: list[OptCase] = [
    (
        "sgd-momentum-constant-lr",
        keras_opt("SGD", lr=0.1, momentum=0.9),
        lambda p: TO.SGD(p, 0.1, momentum=0.9),
        {},
    ),
    (
        "sgd-nesterov-constant-lr",
        keras_opt("SGD", lr=0.1, momentum=0.9, nesterov=True),
        lambda p: TO.SGD(p, 0.1, momentum=0.9, nesterov=True),
        {},
    ),
    # without momentum, L2 and decoupled decay are the same update: p - lr * (g + wd * p)
    (
        "sgd-wd-no-momentum",
        keras_opt("SGD", lr=0.1, weight_decay=0.1),
        lambda p: TO.SGD(p, 0.1, weight_decay=0.1),
        {},
    ),
    ("adadelta", keras_opt("Adadelta", lr=1.0), _adadelta(1.0), {}),
    ("adadelta-keras-default-lr", keras_opt("Adadelta"), _adadelta(1e-3), {}),
    ("adadelta-tiny-grads", keras_opt("Adadelta", lr=1.0), _adadelta(1.0), TINY),
    ("adamax", keras_opt("Adamax", lr=0.01), lambda p: TO.Adamax(p, 0.01, eps=1e-7), {}),
    ("nadam", keras_opt("Nadam", lr=0.01), _nadam(), {}),
    ("nadam-tiny-grads", keras_opt("Nadam", lr=0.01), _nadam(), TINY),
    (
        "nadam-decoupled-wd",
        keras_opt("Nadam", lr=0.01, weight_decay=0.1),
        _nadam(weight_decay=0.1, decoupled_weight_decay=True),
        {},
    ),
    (
        "adagrad-keras-args",
        keras_opt("Adagrad", lr=0.1),
        lambda p: TO.Adagrad(p, 0.1, initial_accumulator_value=0.1, eps=1e-7),
        {},
    ),
]


def _ids(cases: list[OptCase]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize(("name", "make_keras", "make_torch", "opts"), HELPER_CASES, ids=_ids(HELPER_CASES))
def test_helper_optimizer_matches_keras(
    name: str, make_keras: Callable[[], Any], make_torch: TorchOpt, opts: dict[str, Any]
) -> None:
    diff, scale = train_pair(make_keras(), make_torch, **opts)
    assert diff <= policy_tol(scale), f"{name}: {diff:.3g} (scale {scale:.3g})"


@pytest.mark.parametrize(("name", "make_keras", "make_torch", "opts"), NAIVE_CASES, ids=_ids(NAIVE_CASES))
def test_naive_stock_optimizer_differs(
    name: str, make_keras: Callable[[], Any], make_torch: TorchOpt, opts: dict[str, Any]
) -> None:
    diff, scale = train_pair(make_keras(), make_torch, **opts)
    assert diff > 1e-4 * scale, f"{name}: naive mapping only {diff:.3g} off (scale {scale:.3g})"


@pytest.mark.parametrize(
    ("name", "make_keras", "make_torch", "opts"), STOCK_EXACT_CASES, ids=_ids(STOCK_EXACT_CASES)
)
def test_stock_optimizer_exact(
    name: str, make_keras: Callable[[], Any], make_torch: TorchOpt, opts: dict[str, Any]
) -> None:
    diff, scale = train_pair(make_keras(), make_torch, **opts)
    assert diff <= policy_tol(scale), f"{name}: {diff:.3g} (scale {scale:.3g})"


def test_stock_adamax_misses_keras_on_gradients_near_eps() -> None:
    """torch adds eps inside the max (``max(b2 u, |g| + eps)``): out of policy once |g| ~ eps."""
    diff, scale = train_pair(KO.Adamax(0.01), lambda p: TO.Adamax(p, 0.01, eps=1e-7), grad_scale=1e-7)
    assert diff > policy_tol(scale)


_KERAS_OPTIMIZERS: list[tuple[type, Any]] = [
    (ts.KerasSGD, KO.SGD),
    (ts.KerasAdam, KO.Adam),
    (ts.KerasAdamW, KO.AdamW),
    (ts.KerasRMSprop, KO.RMSprop),
    (ts.KerasAdagrad, KO.Adagrad),
    (ts.KerasAdamax, KO.Adamax),
    (ts.KerasAdadelta, KO.Adadelta),
    (ts.KerasNadam, KO.Nadam),
]


@pytest.mark.parametrize(
    ("ours", "theirs"), _KERAS_OPTIMIZERS, ids=[k.__name__ for k, _ in _KERAS_OPTIMIZERS]
)
def test_optimizer_defaults_are_keras_defaults(ours: type, theirs: Any) -> None:
    keras_defaults = {n: p.default for n, p in inspect.signature(theirs).parameters.items()}
    renamed = {"lr": "learning_rate", "eps": "epsilon"}
    for name, param in inspect.signature(ours).parameters.items():
        if name == "params":
            continue
        if name == "betas":
            expected: Any = (keras_defaults["beta_1"], keras_defaults["beta_2"])
        else:
            expected = keras_defaults[renamed.get(name, name)]
        if name == "weight_decay" and expected is None:
            expected = 0.0
        assert param.default == expected, f"{ours.__name__}.{name}"


@pytest.mark.parametrize("make", [ts.KerasAdam, ts.KerasNadam, ts.KerasAdagrad])
def test_optimizer_state_dict_round_trip_keeps_the_step_count(
    make: Callable[..., torch.optim.Optimizer],
) -> None:
    def run(resume: bool) -> torch.Tensor:
        w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
        opt = make([w], lr=0.05)
        for step in range(6):
            if resume and step == 3:
                saved = opt.state_dict()
                opt = make([w], lr=0.05)
                opt.load_state_dict(saved)
            opt.zero_grad()
            (w**3).sum().backward()
            opt.step()
        return w.detach().clone()

    assert torch.equal(run(False), run(True))


# ----------------------------------------------------------------------------------------- schedules

# (id, class name in both torch_support and keras.optimizers.schedules, args, kwargs)
SCHEDULE_CASES: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
    ("exponential", "ExponentialDecay", (0.1, 7, 0.5), {}),
    ("exponential-staircase", "ExponentialDecay", (0.1, 5, 0.3), {"staircase": True}),
    ("piecewise", "PiecewiseConstantDecay", ([5, 10, 20], [0.1, 0.05, 0.01, 0.001]), {}),
    ("inverse-time", "InverseTimeDecay", (0.1, 4, 0.5), {}),
    ("inverse-time-staircase", "InverseTimeDecay", (0.1, 4, 0.5), {"staircase": True}),
    ("polynomial", "PolynomialDecay", (0.1, 20), {}),
    ("polynomial-power-cycle", "PolynomialDecay", (0.1, 7, 0.01), {"power": 2.0, "cycle": True}),
    ("cosine", "CosineDecay", (0.1, 20), {}),
    ("cosine-warmup-alpha", "CosineDecay", (0.01, 15, 0.1), {"warmup_target": 0.1, "warmup_steps": 6}),
    ("cosine-restarts", "CosineDecayRestarts", (0.1, 3), {}),
    (
        "cosine-restarts-mul-alpha",
        "CosineDecayRestarts",
        (0.1, 2),
        {"t_mul": 3.0, "m_mul": 0.5, "alpha": 0.1},
    ),
    ("cosine-restarts-t-mul-1", "CosineDecayRestarts", (0.1, 4), {"t_mul": 1.0, "m_mul": 0.9}),
]


@pytest.mark.parametrize(
    ("name", "cls", "args", "kwargs"), SCHEDULE_CASES, ids=[c[0] for c in SCHEDULE_CASES]
)
def test_schedule_matches_keras(name: str, cls: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    ours, theirs = getattr(ts, cls)(*args, **kwargs), getattr(KS, cls)(*args, **kwargs)
    got = np.array([ours(step) for step in range(32)])
    want = np.array([float(theirs(step)) for step in range(32)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=name)


def test_schedule_lr_sets_schedule_k_for_the_update_after_k_steps() -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    opt = ts.KerasSGD([w, torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
    schedule = ts.PiecewiseConstantDecay([0, 2], [0.5, 0.25, 0.125])
    sched = ts.ScheduleLR(opt, schedule)
    seen = []
    for _ in range(4):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert seen == [[schedule(k)] * 2 for k in range(4)]
    assert "schedule" not in sched.state_dict()


# (id, keras optimizer given a schedule, torch_support optimizer, schedule class name, args, kwargs)
SCHEDULED_TRAINING = [
    ("sgd-momentum-exponential", lambda s: KO.SGD(s, momentum=0.9), lambda p: ts.KerasSGD(p, momentum=0.9),
     "ExponentialDecay", (0.2, 2, 0.5), {"staircase": True}),
    ("adam-cosine-warmup", KO.Adam, ts.KerasAdam,
     "CosineDecay", (0.001, 5), {"warmup_target": 0.05, "warmup_steps": 3}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "keras_opt", "torch_opt", "cls", "args", "kwargs"),
    SCHEDULED_TRAINING,
    ids=[c[0] for c in SCHEDULED_TRAINING],
)
def test_optimizer_driven_by_schedule_lr_matches_keras_schedule(
    name: str,
    keras_opt: Callable[[Any], Any],
    torch_opt: TorchOpt,
    cls: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    ours, theirs = getattr(ts, cls)(*args, **kwargs), getattr(KS, cls)(*args, **kwargs)
    diff, scale = train_pair(keras_opt(theirs), torch_opt, steps=8, schedule=ours)
    assert diff <= policy_tol(scale), f"{name}: {diff:.3g}"
    # Off by one step (the schedule read after the increment) is visible:
    late, _ = train_pair(keras_opt(theirs), torch_opt, steps=8, schedule=lambda k: ours(k + 1))
    assert late > 1e-4 * scale


# ----------------------------------------------------------------------------------------- plateau

_BUMPY = [1.0, 0.9, 0.95, 0.92, 0.91, 0.89, 0.9, 0.9, 0.88, 0.95, 0.97, 0.99, 0.87, 0.86, *[0.9] * 4]
_SEQUENCES: dict[str, list[float]] = {
    "plateau": [1.0, 0.8, 0.7, *[0.7] * 12, 0.6, 0.6, 0.6, 0.6, 0.6],
    "bumpy": _BUMPY,
    "slow-small-loss": [1e-3 * 0.99**i for i in range(25)],  # improves by less than min_delta=1e-4
    "random-walk": list(np.cumsum(np.random.default_rng(3).normal(0.0, 0.05, 30)) + 2.0),
}
# (patience, cooldown, min_delta, min_lr, mode); factor 0.5 from lr 0.1
_PLATEAU_CONFIGS: list[tuple[int, int, float, float, str]] = [
    (2, 0, 1e-4, 0.0, "min"),
    (3, 2, 1e-4, 0.0, "min"),
    (1, 1, 0.0, 0.0, "min"),
    (2, 3, 0.02, 0.0, "min"),
    (1, 0, 1e-4, 0.02, "min"),
    (0, 0, 1e-4, 0.0, "min"),
    (2, 1, 1e-3, 0.0, "max"),
]
_PLATEAU_COMBOS = [(s, c) for s in _SEQUENCES for c in _PLATEAU_CONFIGS]


@pytest.fixture(scope="module")
def keras_model() -> Any:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=KO.SGD(0.1), loss="mse")
    return model


def keras_plateau_lrs(
    model: Any, values: list[float], cfg: tuple[int, int, float, float, str]
) -> list[float]:
    patience, cooldown, min_delta, min_lr, mode = cfg
    model.optimizer.learning_rate = 0.1
    cb = keras.callbacks.ReduceLROnPlateau(
        monitor="loss",
        factor=0.5,
        patience=patience,
        mode=mode,
        min_delta=min_delta,
        cooldown=cooldown,
        min_lr=min_lr,
    )
    cb.set_model(model)
    cb.on_train_begin()
    lrs = []
    with warnings.catch_warnings():
        # Keras's own np.array(variable) in the callback (numpy 2 copy-keyword deprecation)
        warnings.simplefilter("ignore", DeprecationWarning)
        for epoch, value in enumerate(values):
            cb.on_epoch_end(epoch, {"loss": value})
            lrs.append(float(model.optimizer.learning_rate))
    return lrs


def torch_plateau_lrs(values: list[float], make: Callable[[torch.optim.Optimizer], Any]) -> list[float]:
    opt = TO.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = make(opt)
    lrs = []
    for value in values:
        sched.step(value)
        lrs.append(float(opt.param_groups[0]["lr"]))
    return lrs


def _signed(values: list[float], mode: str) -> list[float]:
    return [-v for v in values] if mode == "max" else values


def _same_lrs(a: list[float], b: list[float]) -> bool:
    return bool(np.allclose(a, b, rtol=1e-6, atol=0.0))


def test_keras_reduce_lr_on_plateau_matches_keras_callback(keras_model: Any) -> None:
    for seq, cfg in _PLATEAU_COMBOS:
        patience, cooldown, min_delta, min_lr, mode = cfg
        values = _signed(_SEQUENCES[seq], mode)
        want = keras_plateau_lrs(keras_model, values, cfg)
        got = torch_plateau_lrs(
            values,
            lambda opt, p=patience, c=cooldown, d=min_delta, m=min_lr, md=mode: ts.KerasReduceLROnPlateau(
                opt, monitor="loss", factor=0.5, patience=p, mode=md, min_delta=d, cooldown=c, min_lr=m
            ),
        )
        assert _same_lrs(got, want), (seq, cfg, got, want)


def _stock_plateau(
    cfg: tuple[int, int, float, float, str], corrected: bool, eps: float = 0.0
) -> Callable[[Any], Any]:
    patience, cooldown, min_delta, min_lr, mode = cfg
    if corrected:  # Keras's wait >= p is torch's bad > p - 1; Keras's cooldown ends one epoch earlier
        patience, cooldown = max(patience - 1, 0), max(cooldown - 1, 0)
    else:  # the mapping as first proposed: patience - 1, cooldown unchanged
        patience -= 1
    return lambda opt: TO.lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=0.5, patience=patience, threshold=min_delta, threshold_mode="abs",
        cooldown=cooldown, min_lr=min_lr, eps=eps,
    )  # fmt: skip


def test_stock_reduce_lr_on_plateau_with_corrected_mapping_matches_keras(keras_model: Any) -> None:
    for seq, cfg in _PLATEAU_COMBOS:
        values = _signed(_SEQUENCES[seq], cfg[4])
        want = keras_plateau_lrs(keras_model, values, cfg)
        assert _same_lrs(torch_plateau_lrs(values, _stock_plateau(cfg, corrected=True)), want), (seq, cfg)


def test_stock_reduce_lr_on_plateau_naive_mapping_fails_with_cooldown_or_zero_patience(
    keras_model: Any,
) -> None:
    """patience=p-1 with cooldown copied is exact without cooldown (p >= 1), wrong otherwise."""
    mismatched = set()
    for seq, cfg in _PLATEAU_COMBOS:
        values = _signed(_SEQUENCES[seq], cfg[4])
        want = keras_plateau_lrs(keras_model, values, cfg)
        if not _same_lrs(torch_plateau_lrs(values, _stock_plateau(cfg, corrected=False)), want):
            mismatched.add(cfg)
    assert mismatched == {cfg for cfg in _PLATEAU_CONFIGS if cfg[1] > 0 or cfg[0] == 0}


def test_stock_reduce_lr_on_plateau_needs_eps_0_for_tiny_lrs(keras_model: Any) -> None:
    """torch skips reductions smaller than ``eps`` (default 1e-8); Keras reduces while lr > min_lr."""
    values, cfg = [1.0] * 60, (2, 0, 1e-4, 0.0, "min")
    want = keras_plateau_lrs(keras_model, values, cfg)
    assert want[-1] < 1e-9
    assert _same_lrs(torch_plateau_lrs(values, _stock_plateau(cfg, corrected=True)), want)
    assert not _same_lrs(torch_plateau_lrs(values, _stock_plateau(cfg, corrected=True, eps=1e-8)), want)
    got = torch_plateau_lrs(values, lambda opt: ts.KerasReduceLROnPlateau(opt, "loss", 0.5, 2, "min", 1e-4))
    assert _same_lrs(got, want)


def test_reduce_lr_on_plateau_auto_mode() -> None:
    opt = TO.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    assert ts.KerasReduceLROnPlateau(opt, monitor="val_loss").mode == "min"
    assert ts.KerasReduceLROnPlateau(opt, monitor="val_accuracy").mode == "max"
    with pytest.raises(ValueError, match="mode='min' or 'max'"):
        ts.KerasReduceLROnPlateau(opt, monitor="val_custom")


# ----------------------------------------------------------------------------------------- losses


def nchw(a: Array) -> Array:
    """Keras layout (N, ..., C) -> the migrated model's (N, C, ...)."""
    return np.moveaxis(a, -1, 1)


def _probs(shape: tuple[int, ...], rng: np.random.Generator, saturate: bool = False) -> Array:
    """Softmax over the last axis, rescaled so rows do not sum to 1; optionally some exact 0/1."""
    z = rng.standard_normal(shape)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True) * rng.uniform(0.7, 1.3, (*shape[:-1], 1))
    if saturate:
        p.reshape(-1)[::7] = 0.0
        p.reshape(-1)[3::11] = 1.0
    return np.clip(p, 0.0, 1.0).astype("float32")


def _onehot(labels: Array, classes: int) -> Array:
    return np.eye(classes, dtype="float32")[labels]


def loss_data(kind: str, seed: int = 1) -> tuple[Array, Array, Array, Array]:
    """(keras y_pred, keras y_true, torch input, torch target) for one data shape/kind."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    if kind == "reg-2d":
        kp, kt = (rng.standard_normal((6, 5)) * 1.5).astype(f32), rng.standard_normal((6, 5)).astype(f32)
        return kp, kt, kp, kt
    if kind == "reg-4d":
        kp, kt = (
            (rng.standard_normal((2, 4, 5, 3)) * 1.5).astype(f32),
            rng.standard_normal((2, 4, 5, 3)).astype(f32),
        )
        return kp, kt, nchw(kp), nchw(kt)
    if kind == "reg-n1-vs-n":  # pred (N, 1), target (N,): Keras expands the target
        kp, kt = rng.standard_normal((6, 1)).astype(f32), rng.standard_normal(6).astype(f32)
        return kp, kt, kp, kt
    if kind == "prob-2d":
        kp, kt = _probs((6, 5), rng, saturate=True), _probs((6, 5), rng, saturate=True)
        return kp, kt, kp, kt
    if kind == "prob-4d":
        kp, kt = _probs((2, 4, 5, 3), rng, saturate=True), _probs((2, 4, 5, 3), rng)
        return kp, kt, nchw(kp), nchw(kt)
    if kind == "binary-prob-2d":
        kp = np.clip(rng.uniform(0.0, 1.0, (6, 5)), 0, 1).astype(f32)
        kp.reshape(-1)[::6] = 0.0
        kp.reshape(-1)[2::9] = 1.0
        kt = (rng.uniform(size=(6, 5)) > 0.5).astype(f32)
        return kp, kt, kp, kt
    if kind == "binary-prob-4d":
        kp = rng.uniform(0.0, 1.0, (2, 4, 5, 3)).astype(f32)
        kt = (rng.uniform(size=(2, 4, 5, 3)) > 0.5).astype(f32)
        return kp, kt, nchw(kp), nchw(kt)
    if kind == "binary-prob-mask":  # (N, 1, H, W) prediction, (N, H, W) target
        kp = rng.uniform(0.0, 1.0, (2, 4, 5, 1)).astype(f32)
        kt = (rng.uniform(size=(2, 4, 5)) > 0.5).astype(f32)
        return kp, kt, nchw(kp), kt
    if kind == "logits-2d":
        kp, kt = (rng.standard_normal((6, 5)) * 3).astype(f32), (rng.uniform(size=(6, 5)) > 0.5).astype(f32)
        return kp, kt, kp, kt
    if kind == "logits-4d":
        kp = (rng.standard_normal((2, 4, 5, 3)) * 3).astype(f32)
        kt = (rng.uniform(size=(2, 4, 5, 3)) > 0.5).astype(f32)
        return kp, kt, nchw(kp), nchw(kt)
    if kind == "onehot-logits-2d":
        kp, kt = (rng.standard_normal((6, 5)) * 3).astype(f32), _onehot(rng.integers(0, 5, 6), 5)
        return kp, kt, kp, kt
    if kind == "onehot-prob-2d":
        kp, kt = _probs((6, 5), rng, saturate=True), _onehot(rng.integers(0, 5, 6), 5)
        return kp, kt, kp, kt
    if kind == "onehot-soft-2d":  # nothing saturated: finite logs everywhere
        kp, kt = _probs((6, 5), rng), _onehot(rng.integers(0, 5, 6), 5)
        return kp, kt, kp, kt
    if kind == "soft-2d":
        kp, kt = _probs((6, 5), rng), _probs((6, 5), rng)
        return kp, kt, kp, kt
    if kind == "onehot-prob-4d":
        kp, kt = _probs((2, 4, 5, 3), rng, saturate=True), _onehot(rng.integers(0, 3, (2, 4, 5)), 3)
        return kp, kt, nchw(kp), nchw(kt)
    if kind == "sparse-prob-2d":
        kp, kt = _probs((6, 5), rng, saturate=True), rng.integers(0, 5, 6)
        return kp, kt, kp, kt
    if kind == "sparse-prob-n1":  # (N, 1) integer targets
        kp, kt = _probs((6, 5), rng), rng.integers(0, 5, (6, 1))
        return kp, kt, kp, kt
    if kind == "sparse-logits-2d":
        kp, kt = (rng.standard_normal((6, 5)) * 3).astype(f32), rng.integers(0, 5, 6)
        return kp, kt, kp, kt
    if kind == "sparse-logits-4d":
        kp, kt = (rng.standard_normal((2, 4, 5, 3)) * 3).astype(f32), rng.integers(-1, 3, (2, 4, 5))
        return kp, kt, nchw(kp), kt
    if kind == "sparse-prob-4d-n1hw":  # (N, 1, H, W) integer targets
        kp, kt = _probs((2, 4, 5, 3), rng, saturate=True), rng.integers(0, 3, (2, 4, 5, 1))
        return kp, kt, nchw(kp), nchw(kt)
    raise AssertionError(kind)


# (id, class name in both torch_support and keras.losses, constructor kwargs, data kind)
LOSS_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("mse-2d", "MeanSquaredError", {}, "reg-2d"),
    ("mse-4d", "MeanSquaredError", {}, "reg-4d"),
    ("mse-n1-vs-n", "MeanSquaredError", {}, "reg-n1-vs-n"),
    ("mae-2d", "MeanAbsoluteError", {}, "reg-2d"),
    ("mae-4d", "MeanAbsoluteError", {}, "reg-4d"),
    ("huber-2d", "Huber", {}, "reg-2d"),
    ("huber-0.5-4d", "Huber", {"delta": 0.5}, "reg-4d"),
    ("kld-2d", "KLDivergence", {}, "prob-2d"),
    ("kld-4d", "KLDivergence", {}, "prob-4d"),
    ("bce-prob-2d", "BinaryCrossentropy", {}, "binary-prob-2d"),
    ("bce-prob-smooth-4d", "BinaryCrossentropy", {"label_smoothing": 0.1}, "binary-prob-4d"),
    ("bce-prob-n1hw-vs-nhw", "BinaryCrossentropy", {}, "binary-prob-mask"),
    (
        "bce-logits-smooth-2d",
        "BinaryCrossentropy",
        {"from_logits": True, "label_smoothing": 0.2},
        "logits-2d",
    ),
    ("bce-logits-4d", "BinaryCrossentropy", {"from_logits": True}, "logits-4d"),
    ("cce-prob-2d", "CategoricalCrossentropy", {}, "onehot-prob-2d"),
    ("cce-prob-smooth-4d", "CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot-prob-4d"),
    ("cce-soft-targets-2d", "CategoricalCrossentropy", {}, "prob-2d"),
    (
        "cce-logits-smooth-2d",
        "CategoricalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.1},
        "onehot-logits-2d",
    ),
    ("scce-prob-2d", "SparseCategoricalCrossentropy", {}, "sparse-prob-2d"),
    ("scce-prob-n1-targets", "SparseCategoricalCrossentropy", {}, "sparse-prob-n1"),
    ("scce-prob-ignore-2", "SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse-prob-2d"),
    ("scce-logits-2d", "SparseCategoricalCrossentropy", {"from_logits": True}, "sparse-logits-2d"),
    (
        "scce-logits-4d-ignore-minus-1",
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": -1},
        "sparse-logits-4d",
    ),
    ("scce-prob-4d-n1hw-targets", "SparseCategoricalCrossentropy", {}, "sparse-prob-4d-n1hw"),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "none", None]


def keras_loss(loss: Any, kp: Array, kt: Array) -> tuple[Array, Array]:
    """(value, d value / d y_pred) of a Keras loss."""
    pred = tf.Variable(kp)
    with tf.GradientTape() as tape:
        value = loss(tf.constant(kt), pred)
        total = tf.reduce_sum(value)
    return np.asarray(value), np.asarray(tape.gradient(total, pred))


def torch_loss(loss: Callable[..., torch.Tensor], tp: Array, tt: Array) -> tuple[Array, Array]:
    pred = torch.tensor(np.ascontiguousarray(tp), requires_grad=True)
    value = loss(pred, torch.from_numpy(np.ascontiguousarray(tt)))
    value.sum().backward()
    assert pred.grad is not None
    return value.detach().numpy(), pred.grad.numpy()


def assert_close(got: Array, want: Array, what: str) -> None:
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = float(np.abs(want).max()) if want.size else 0.0
    diff = float(np.abs(got - want).max()) if want.size else 0.0
    assert diff <= policy_tol(scale), f"{what}: {diff:.3g} (scale {scale:.3g})"


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=[str(r) for r in REDUCTIONS])
@pytest.mark.parametrize(("name", "cls", "kwargs", "kind"), LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_keras(name: str, cls: str, kwargs: dict[str, Any], kind: str, reduction: Any) -> None:
    kp, kt, tp, tt = loss_data(kind)
    k_value, k_grad = keras_loss(getattr(KL, cls)(**kwargs, reduction=reduction), kp, kt)
    t_value, t_grad = torch_loss(getattr(ts, cls)(**kwargs, reduction=reduction), tp, tt)
    assert_close(t_value, k_value, f"{name} value")
    # The gradient reaches the prediction in the migrated (channels-first) layout.
    assert_close(t_grad, nchw(k_grad) if tp.shape != kp.shape else k_grad, f"{name} gradient")


def test_loss_rejects_unknown_reduction() -> None:
    with pytest.raises(ValueError, match="reduction"):
        ts.MeanSquaredError(reduction="batchmean")  # type: ignore[arg-type]


def test_loss_channels_first_false_keeps_the_last_axis() -> None:
    kp, kt, _, _ = loss_data("reg-4d")
    k_value, _ = keras_loss(KL.MeanSquaredError(reduction="none"), kp, kt)
    t_value, _ = torch_loss(ts.MeanSquaredError(reduction="none", channels_first=False), kp, kt)
    assert_close(t_value, k_value, "mse (N, H, W, C) with channels_first=False")


# Stock torch losses that are exact for the Keras loss at the default reduction.
STOCK_LOSS_CASES: list[tuple[str, Callable[..., torch.Tensor], Any, str]] = [
    (
        "ce-logits-2d",
        torch.nn.CrossEntropyLoss(),
        KL.SparseCategoricalCrossentropy(from_logits=True),
        "sparse-logits-2d",
    ),
    (
        "ce-logits-4d-ignore-index",
        torch.nn.CrossEntropyLoss(ignore_index=-1),
        KL.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
        "sparse-logits-4d",
    ),
    (
        "ce-label-smoothing-onehot",
        torch.nn.CrossEntropyLoss(label_smoothing=0.1),
        KL.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        "onehot-logits-2d",
    ),
    (
        "bce-with-logits-2d",
        torch.nn.BCEWithLogitsLoss(),
        KL.BinaryCrossentropy(from_logits=True),
        "logits-2d",
    ),
    (
        "bce-with-logits-4d",
        torch.nn.BCEWithLogitsLoss(),
        KL.BinaryCrossentropy(from_logits=True),
        "logits-4d",
    ),
    ("mse-4d", torch.nn.MSELoss(), KL.MeanSquaredError(), "reg-4d"),
    ("l1-2d", torch.nn.L1Loss(), KL.MeanAbsoluteError(), "reg-2d"),
    ("huber-0.5-4d", torch.nn.HuberLoss(delta=0.5), KL.Huber(0.5), "reg-4d"),
]


@pytest.mark.parametrize(
    ("name", "stock", "theirs", "kind"), STOCK_LOSS_CASES, ids=[c[0] for c in STOCK_LOSS_CASES]
)
def test_stock_loss_exact_at_default_reduction(
    name: str, stock: Callable[..., torch.Tensor], theirs: Any, kind: str
) -> None:
    kp, kt, tp, tt = loss_data(kind)
    k_value, _ = keras_loss(theirs, kp, kt)
    t_value, _ = torch_loss(stock, tp, tt)
    assert_close(t_value, k_value, name)


def _ce_on_probs(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.nll_loss(torch.log(p), y)


def _cce_on_probs(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return -(t * torch.log(p)).sum(1).mean()


def _kldiv_mean(log_p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: 'mean' will become 'batchmean'
        return torch.nn.KLDivLoss()(log_p, t)


# The obvious stock translation, on data that exposes what it misses.
NAIVE_LOSS_CASES: list[tuple[str, Callable[..., torch.Tensor], Any, str]] = [
    ("scce-probs-nll-of-log", _ce_on_probs, KL.SparseCategoricalCrossentropy(), "sparse-prob-n1"),
    ("cce-probs-unnormalised", _cce_on_probs, KL.CategoricalCrossentropy(), "onehot-soft-2d"),
    ("bce-saturated", torch.nn.BCELoss(), KL.BinaryCrossentropy(), "binary-prob-2d"),
    (
        "bce-label-smoothing-dropped",
        torch.nn.BCELoss(),
        KL.BinaryCrossentropy(label_smoothing=0.2),
        "binary-prob-4d",
    ),
    ("mse-sum", torch.nn.MSELoss(reduction="sum"), KL.MeanSquaredError(reduction="sum"), "reg-2d"),
    ("mae-sum", torch.nn.L1Loss(reduction="sum"), KL.MeanAbsoluteError(reduction="sum"), "reg-4d"),
    ("huber-sum", torch.nn.HuberLoss(reduction="sum"), KL.Huber(reduction="sum"), "reg-2d"),
    (
        "bce-with-logits-sum",
        torch.nn.BCEWithLogitsLoss(reduction="sum"),
        KL.BinaryCrossentropy(True, reduction="sum"),
        "logits-2d",
    ),
    ("kldiv-default-mean-of-log", lambda p, t: _kldiv_mean(torch.log(p), t), KL.KLDivergence(), "soft-2d"),
]


@pytest.mark.parametrize(
    ("name", "naive", "theirs", "kind"), NAIVE_LOSS_CASES, ids=[c[0] for c in NAIVE_LOSS_CASES]
)
def test_naive_stock_loss_differs(
    name: str, naive: Callable[..., torch.Tensor], theirs: Any, kind: str
) -> None:
    kp, kt, tp, tt = loss_data(kind)
    if kind.startswith("sparse"):
        tt = tt.reshape(-1)  # nll_loss wants (N,)
    k_value, _ = keras_loss(theirs, kp, kt)
    with torch.no_grad():
        t_value = naive(
            torch.from_numpy(np.ascontiguousarray(tp)), torch.from_numpy(np.ascontiguousarray(tt))
        )
    diff = float(np.abs(t_value.numpy() - k_value).max())
    assert diff > 1e-4 * float(np.abs(k_value).max()), f"{name}: naive mapping only {diff:.3g} off"
