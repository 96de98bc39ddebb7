"""The training-code engine, statically: how loops, compile/fit and the training record come out
(the fixtures cover whole scripts; these pin the decisions one at a time). No framework needed."""

from __future__ import annotations

from typing import Any

from migrator.api import load_rules, migrate_source
from migrator.types import Direction, MigrationResult, Severity
from tests.conftest import PREAMBLE, body_after_imports

KERAS_PREAMBLE = "import keras\nfrom keras import layers\n\n"
LOADER = (
    "from torch.utils.data import DataLoader, TensorDataset\n"
    "loader = DataLoader(TensorDataset(x, y), batch_size=8)\n"
)


def torch2tf(body: str) -> MigrationResult:
    return migrate_source(PREAMBLE + body, Direction.TORCH2TF, load_rules(Direction.TORCH2TF), "t.py")


def tf2torch(body: str) -> MigrationResult:
    return migrate_source(KERAS_PREAMBLE + body, Direction.TF2TORCH, load_rules(Direction.TF2TORCH), "k.py")


def unsupported(result: MigrationResult) -> list[str]:
    return [f.message for f in result.findings if f.severity is Severity.UNSUPPORTED]


def training(result: MigrationResult) -> dict[str, Any]:
    record = result.record.training
    assert record is not None
    return dict(record)


LOOP = """optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
"""


def test_a_loop_with_extra_statements_becomes_a_tape_step() -> None:
    code = body_after_imports(
        torch2tf(
            LOADER + LOOP.replace("optimizer.step()\n", "optimizer.step()\n        print(float(loss))\n")
        ).code
    )
    assert "with tf.GradientTape() as tape:" in code
    assert "loss = keras.losses.MeanSquaredError()(yb, model(xb, training=True))" in code
    assert "grads = tape.gradient(loss, model.trainable_variables)" in code
    assert "optimizer.apply_gradients(zip(grads, model.trainable_variables))" in code
    assert "zero_grad" not in code and ".backward()" not in code and "compile" not in code


def test_the_canonical_loop_over_a_loader_becomes_compile_and_fit() -> None:
    result = torch2tf(LOADER + LOOP)
    code = body_after_imports(result.code)
    assert "model.compile(optimizer=optimizer, loss=keras.losses.MeanSquaredError())" in code
    assert "model.fit(loader, epochs=3, shuffle=False, verbose=0)" in code
    assert "for epoch" not in code and "GradientTape" not in code


def test_a_loop_over_an_unknown_iterable_keeps_the_tape_form() -> None:
    code = torch2tf(LOOP).code  # `loader` is not a DataLoader built in this file
    assert "GradientTape" in code and "model.fit" not in code


def test_gradient_accumulation_is_left_with_a_marker() -> None:
    result = torch2tf(
        "for i, (xb, yb) in enumerate(loader):\n"
        "    loss = F.mse_loss(model(xb), yb) / 4\n"
        "    loss.backward()\n"
        "    if (i + 1) % 4 == 0:\n"
        "        optimizer.step()\n"
        "        optimizer.zero_grad()\n"
    )
    assert any("does not recognise" in m for m in unsupported(result))
    assert "loss.backward()" in result.code and "# fwmigrate: unsupported: loss.backward" in result.code
    assert not result.complete


def test_a_per_epoch_scheduler_is_counted_in_optimizer_steps() -> None:
    code = torch2tf(
        LOADER
        + LOOP.replace(
            "for epoch", "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)\nfor epoch"
        ).replace(
            "        optimizer.step()\n",
            "        optimizer.step()\n        print(epoch)\n    scheduler.step()\n",
        )
    ).code
    assert "steps_per_epoch = len(loader)" in code
    assert "decay_steps=2 * steps_per_epoch" in code and "staircase=True" in code
    assert "optimizer.learning_rate = scheduler" in code
    assert "scheduler.step()" not in code


def test_a_per_batch_scheduler_counts_single_steps() -> None:
    code = torch2tf(
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)\n"
        "for xb, yb in loader:\n"
        "    optimizer.zero_grad()\n"
        "    loss = F.mse_loss(model(xb), yb)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        "    scheduler.step()\n"
    ).code
    assert "decay_steps=1," in code and "steps_per_epoch" not in code


def test_momentum_under_a_scheduler_needs_the_torch_update() -> None:
    plain = torch2tf("optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n").code
    scheduled = torch2tf(
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)\n"
    ).code
    assert "keras.optimizers.SGD(" in plain
    assert "keras_support.TorchSGD(" in scheduled


def test_loss_object_calls_swap_outside_the_loop_too() -> None:
    code = torch2tf(
        "criterion = nn.CrossEntropyLoss()\n"
        "def evaluate(model, x, y, criterion):\n"
        "    return criterion(model(x), y)\n"
    ).code
    assert "return criterion(y, model(x))" in code


def test_the_training_record_names_its_local_literals() -> None:
    result = torch2tf(
        LOADER
        + "def train(model, lr=0.05, epochs=3):\n"
        + "".join(
            "    " + line + "\n"
            for line in LOOP.replace("lr=0.1", "lr=lr").replace("range(3)", "range(epochs)").splitlines()
        ).replace("optimizer.step()\n", "optimizer.step()\n            print(loss)\n")
    )
    record = training(result)
    assert record["source"]["setup"][0] == ["lr", "0.05"]
    assert record["target"]["setup"][0] == ["lr", "0.05"]
    assert record["targets"] == "real" and record["compare_params"] is True
    assert record["source"]["loss"] == "F.mse_loss(_fwm_pred, _fwm_target)"
    assert record["target"]["loss"] == "keras.losses.MeanSquaredError()(_fwm_target, _fwm_pred)"


def test_a_checkpoint_parameter_default_is_renamed() -> None:
    code = torch2tf('def save(model, path="model.pt"):\n    torch.save(model.state_dict(), path)\n').code
    assert 'def save(model, path="model.weights.h5"):' in code
    assert "model.save_weights(path)" in code


def test_keras_fit_becomes_the_loop_keras_runs() -> None:
    result = tf2torch(
        "model = build_model()\n"
        'model.compile(optimizer="adam", loss="mse")\n'
        "history = model.fit(x, y, epochs=2)\n"
        'print(history.history["loss"])\n'
    )
    code = result.code
    assert "optimizer = torch_support.KerasAdam(model.parameters(), lr=1e-3)" in code
    assert "loss_fn = nn.MSELoss()" in code
    assert "train_loader = DataLoader(train_data, batch_size=32, shuffle=True)" in code  # Keras defaults
    assert "total += loss.item() * len(xb)" in code  # the epoch loss is a per-sample mean
    assert 'print(history["loss"])' in code
    assert result.complete


def test_keras_fit_arguments_without_a_counterpart_stay_with_a_marker() -> None:
    result = tf2torch(
        "model = build_model()\n"
        'model.compile(optimizer="sgd", loss="mse")\n'
        "model.fit(x, y, validation_split=0.2)\n"
    )
    assert any("validation_split" in m for m in unsupported(result))
    assert "model.fit(x, y, validation_split=0.2)" in result.code


def test_keras_clipping_moves_into_the_loop() -> None:
    code = tf2torch(
        "model = build_model()\n"
        "model.compile(optimizer=keras.optimizers.SGD(0.1, clipnorm=1.0), loss='mse')\n"
        "model.fit(x, y)\n"
    ).code
    assert "for p in model.parameters():" in code  # clipnorm clips each tensor on its own
    assert "nn.utils.clip_grad_norm_(p, 1.0)" in code


def test_keras_plateau_callback_counts_like_keras() -> None:
    result = tf2torch(
        "model = build_model()\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "plateau = keras.callbacks.ReduceLROnPlateau(monitor='loss', patience=3, cooldown=2, mode='min')\n"
        "model.fit(x, y, callbacks=[plateau])\n"
    )
    code = result.code
    assert "patience=2" in code and "cooldown=1" in code and 'threshold_mode="abs"' in code
    assert 'plateau.step(history["loss"][-1])' in code
    record = training(result)
    assert record["source"]["schedule"]["step"] == "callback"
    assert record["target"]["schedule"]["step"] == "plateau"


def test_argument_limits_of_training_rules_hold() -> None:
    result = torch2tf("optimizer = torch.optim.SGD(model.parameters(), lr=0.1, maximize=True)\n")
    assert any("maximize" in m for m in unsupported(result))
    assert "torch.optim.SGD(" in result.code


def test_parameter_groups_are_not_dropped_silently() -> None:
    result = torch2tf(
        'groups = [{"params": a.parameters()}, {"params": b.parameters(), "lr": 1e-3}]\n'
        "optimizer = torch.optim.SGD([*groups], lr=0.1)\n"
    )
    assert any("parameter groups" in m for m in unsupported(result))


def test_a_per_step_schedule_stepped_per_epoch_is_unsupported() -> None:
    result = torch2tf(
        LOADER
        + "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        + "scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)\n"
        + LOOP.split("\n", 1)[1].replace(
            "        optimizer.step()\n", "        optimizer.step()\n    scheduler.step()\n"
        )
    )
    assert any("stepped once per epoch" in m for m in unsupported(result))


def test_a_loader_over_a_custom_dataset_is_unsupported() -> None:
    result = torch2tf(
        "from torch.utils.data import DataLoader\nloader = DataLoader(Pairs(10), batch_size=4)\n"
    )
    assert any("custom Dataset" in m for m in unsupported(result))


def test_a_loss_object_passed_as_a_parameter_is_swapped_there() -> None:
    code = torch2tf(
        "criterion = nn.CrossEntropyLoss()\n"
        "def validate(model, x, y, loss_fn):\n"
        "    return loss_fn(model(x), y)\n"
        "def other(a, b):\n"
        "    return combine(a, b)\n"
        "v = validate(model, x, y, criterion)\n"
    ).code
    assert "return loss_fn(y, model(x))" in code
    assert "return combine(a, b)" in code


def test_keras_adagrad_from_zero_needs_the_keras_update() -> None:
    code = tf2torch("opt = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0)\n").code
    assert "torch_support.KerasAdagrad" in code
    assert "torch.optim.Adagrad" in tf2torch("opt = keras.optimizers.Adagrad(0.1)\n").code


def test_keras_momentum_under_an_lr_callback_needs_the_keras_update() -> None:
    body = (
        "model = build_model()\n"
        "model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss='mse')\n"
        "model.fit(x, y{})\n"
    )
    plain = tf2torch(body.format("")).code
    with_callback = tf2torch(
        body.format(", callbacks=[keras.callbacks.ReduceLROnPlateau(monitor='loss', mode='min')]")
    ).code
    assert "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)" in plain
    assert "torch_support.KerasSGD(model.parameters(), lr=0.1, momentum=0.9)" in with_callback


def test_a_plateau_on_a_metric_fit_does_not_compute_is_left_out() -> None:
    result = tf2torch(
        "model = build_model()\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(mode='min')])\n"
    )
    assert any("val_loss" in f.message for f in result.findings if f.severity is Severity.REVIEW)
    assert "plateau" not in result.code


def test_keras_inputs_keep_integer_ids() -> None:
    code = tf2torch(
        "model = build_model()\nmodel.compile(optimizer='sgd', loss='mse')\nmodel.fit(x, y)\n"
    ).code
    assert "TensorDataset(torch_support.as_input(x), torch.as_tensor(y, dtype=torch.float32))" in code


def test_keras_per_tensor_clipping_is_recorded_for_the_check() -> None:
    result = tf2torch(
        "model = build_model()\n"
        "model.compile(optimizer=keras.optimizers.SGD(0.1, clipnorm=0.5), loss='mse')\n"
        "model.fit(x, y)\n"
    )
    assert training(result)["target"]["clip"] == {"kind": "tensor_norm", "value": 0.5}


def test_dropout_modules_are_not_warned_about_in_eval_mode() -> None:
    from migrator.verify.static import forward_warnings

    source = (
        "import torch.nn.functional as F\n"
        "class Net:\n"
        "    def forward(self, x):\n"
        "        x = self.dropout(x)\n"
        "        return F.dropout(x, 0.5)\n"
    )
    warnings = forward_warnings(source)
    assert len(warnings) == 1 and "line 5" in warnings[0]


def test_tensor_methods_on_a_trained_models_output_migrate_or_are_marked() -> None:
    result = torch2tf(
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "def evaluate(model, x):\n"
        "    logits = model(x)\n"
        "    return logits.sum(), logits.argmax(dim=1), logits.unfold(1, 2, 1)\n"
    )
    assert "ops.sum(logits)" in result.code
    assert "ops.argmax(logits, axis=1)" in result.code
    assert any(f.api == "Tensor.unfold" for f in result.findings if f.severity is Severity.UNSUPPORTED)


def test_keras_image_arrays_are_permuted_for_a_channels_first_model() -> None:
    code = tf2torch(
        "def build_model():\n"
        "    return keras.Sequential([keras.Input(shape=(8, 10, 3)), layers.Conv2D(4, 3)])\n"
        "model = build_model()\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.fit(x, y)\n"
        "p = model.predict(x)\n"
    ).code
    assert "TensorDataset(torch_support.as_input(x).permute(0, 3, 1, 2)," in code
    assert "p = model(torch_support.as_input(x).permute(0, 3, 1, 2)).numpy()" in code


def test_keras_fit_inside_an_expression_is_marked() -> None:
    result = tf2torch(
        "model = build_model()\nmodel.compile(optimizer='sgd', loss='mse')\nprint(model.evaluate(x, y))\n"
    )
    assert any("inside an expression" in m for m in unsupported(result))


def test_image_data_for_a_channels_last_model_gets_a_review() -> None:
    result = torch2tf(
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 3)\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n"
        "dataset = torch.utils.data.TensorDataset(images, labels)\n"
    )
    reviews = [f.message for f in result.findings if f.severity is Severity.REVIEW]
    assert any("Net take channels-last input" in m for m in reviews)
