"""Code hooks named from rule files, for what data alone cannot say.

``HOOKS`` is an immutable table built here, once; rules refer to hooks by these names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from migrator.transforms import containers, layers, recurrent, tensor_ops, training
from migrator.types import Direction

if TYPE_CHECKING:
    from migrator.engine.site import CallSite, HookResult, Tools

Hook = Callable[["CallSite", "Tools"], "HookResult | str | None"]

HOOKS: Mapping[str, Hook] = MappingProxyType(
    {
        "conv": layers.conv,
        "conv_transpose": layers.conv_transpose,
        "pool": layers.pool,
        "adaptive_avg_pool": layers.adaptive_avg_pool,
        "batch_norm": layers.batch_norm,
        "layer_norm": layers.layer_norm,
        "softmax_layer": layers.softmax_layer,
        "flatten_layer": layers.flatten_layer,
        "sequential": containers.sequential,
        "module_list": containers.module_list,
        "gru": recurrent.gru,
        "cat": tensor_ops.concat,
        "stack": tensor_ops.stack,
        "flatten": tensor_ops.flatten,
        "view": tensor_ops.view,
        "permute": tensor_ops.permute,
        "transpose": tensor_ops.transpose,
        "size": tensor_ops.size,
        "reduce": tensor_ops.reduce,
        "matmul": tensor_ops.matmul,
        "contiguous": tensor_ops.contiguous,
        "functional_pool": tensor_ops.functional_pool,
        "adaptive_avg_pool_fn": tensor_ops.adaptive_avg_pool_fn,
        "implicit_dim": tensor_ops.implicit_dim,
        "optimizer": training.optimizer,
        "loss": training.loss,
        "loss_fn": training.loss_fn,
        "schedule": training.schedule,
        "tensor_dataset": training.tensor_dataset,
        "data_loader": training.data_loader,
        "train_statement": training.statement,
        "save": training.save,
    }
)


def hooks_for(direction: Direction) -> Mapping[str, object]:
    """The hook table rules of ``direction`` may name."""
    if direction is Direction.TORCH2TF:
        return HOOKS
    from migrator.transforms.keras_layers import KERAS_HOOKS

    return KERAS_HOOKS


__all__ = ["HOOKS", "Hook", "hooks_for"]
