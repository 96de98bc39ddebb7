"""Code hooks named from rule files, for what data alone cannot say.

``HOOKS`` is an immutable table built here, once; rules refer to hooks by these names. A hook's
module is imported when a rule first uses it, so that a file needing no attention or recurrent
hooks (and ``fwmigrate check`` on one file) does not pay for importing them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Generic, TypeVar

from migrator.types import Direction

if TYPE_CHECKING:
    from migrator.engine.site import CallSite, HookResult, Tools
    from migrator.transforms.attention import ModuleCallHook

F = TypeVar("F")

Hook = Callable[["CallSite", "Tools"], "HookResult | str | None"]


class LazyHooks(Mapping[str, F], Generic[F]):
    """An immutable name -> function table whose functions are imported on first lookup.

    ``where`` maps each name to (module in ``migrator.transforms``, function name); Python's module
    cache makes every lookup after the first a dictionary hit."""

    __slots__ = ("_where",)

    def __init__(self, where: Mapping[str, tuple[str, str]]) -> None:
        self._where = MappingProxyType(dict(where))

    def __getitem__(self, name: str) -> F:
        module, function = self._where[name]
        found: F = getattr(importlib.import_module(f"{__name__}.{module}"), function)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


HOOKS: Mapping[str, Hook] = LazyHooks[Hook](
    {
        "conv": ("layers", "conv"),
        "conv_transpose": ("layers", "conv_transpose"),
        "pool": ("layers", "pool"),
        "adaptive_avg_pool": ("layers", "adaptive_avg_pool"),
        "batch_norm": ("layers", "batch_norm"),
        "layer_norm": ("layers", "layer_norm"),
        "softmax_layer": ("layers", "softmax_layer"),
        "flatten_layer": ("layers", "flatten_layer"),
        "group_norm": ("norm_resize", "group_norm"),
        "instance_norm": ("norm_resize", "instance_norm"),
        "rms_norm": ("norm_resize", "rms_norm"),
        "prelu": ("norm_resize", "prelu"),
        "upsample": ("norm_resize", "upsample"),
        "interpolate_fn": ("norm_resize", "interpolate_fn"),
        "adaptive_pool": ("norm_resize", "adaptive_pool"),
        "pad_layer": ("norm_resize", "pad_layer"),
        "embedding": ("norm_resize", "embedding"),
        "sequential": ("containers", "sequential"),
        "module_list": ("containers", "module_list"),
        "gru": ("recurrent", "gru"),
        "multihead_attention": ("attention", "multihead_attention"),
        "transformer_encoder_layer": ("attention", "transformer_encoder_layer"),
        "transformer_encoder": ("attention", "transformer_encoder"),
        "scaled_dot_product_attention": ("attention", "scaled_dot_product_attention"),
        "lstm": ("recurrent", "lstm"),
        "rnn": ("recurrent", "rnn"),
        "cat": ("tensor_ops", "concat"),
        "stack": ("tensor_ops", "stack"),
        "flatten": ("tensor_ops", "flatten"),
        "view": ("tensor_ops", "view"),
        "permute": ("tensor_ops", "permute"),
        "transpose": ("tensor_ops", "transpose"),
        "size": ("tensor_ops", "size"),
        "reduce": ("tensor_ops", "reduce"),
        "matmul": ("tensor_ops", "matmul"),
        "contiguous": ("tensor_ops", "contiguous"),
        "functional_pool": ("tensor_ops", "functional_pool"),
        "adaptive_avg_pool_fn": ("tensor_ops", "adaptive_avg_pool_fn"),
        "implicit_dim": ("tensor_ops", "implicit_dim"),
        "elementwise": ("tensor_ops", "elementwise"),
        "where": ("tensor_ops", "where"),
        "masked_fill": ("tensor_ops", "masked_fill"),
        "clamp": ("tensor_ops", "clamp"),
        "arg_reduce": ("tensor_ops", "arg_reduce"),
        "max_min": ("tensor_ops", "max_min"),
        "std_var": ("tensor_ops", "std_var"),
        "norm": ("tensor_ops", "norm"),
        "normalize": ("tensor_ops", "normalize"),
        "split": ("tensor_ops", "split"),
        "unbind": ("tensor_ops", "unbind"),
        "squeeze": ("tensor_ops", "squeeze"),
        "unsqueeze": ("tensor_ops", "unsqueeze"),
        "repeat": ("tensor_ops", "repeat"),
        "expand": ("tensor_ops", "expand"),
        "expand_as": ("tensor_ops", "expand_as"),
        "repeat_interleave": ("tensor_ops", "repeat_interleave"),
        "roll": ("tensor_ops", "roll"),
        "flip": ("tensor_ops", "flip"),
        "triangle": ("tensor_ops", "triangle"),
        "pad": ("tensor_ops", "pad"),
        "gather": ("tensor_ops", "gather"),
        "index_select": ("tensor_ops", "index_select"),
        "topk": ("tensor_ops", "topk"),
        "sort": ("tensor_ops", "sort"),
        "one_hot": ("tensor_ops", "one_hot"),
        "einsum": ("tensor_ops", "einsum"),
        "create": ("tensor_ops", "create"),
        "to": ("tensor_ops", "to"),
        "type_as": ("tensor_ops", "type_as"),
        "softplus": ("tensor_ops", "softplus"),
        "along_axis": ("tensor_ops", "along_axis"),
        "optimizer": ("training", "optimizer"),
        "loss": ("training", "loss"),
        "loss_fn": ("training", "loss_fn"),
        "schedule": ("training", "schedule"),
        "tensor_dataset": ("training", "tensor_dataset"),
        "data_loader": ("training", "data_loader"),
        "train_statement": ("training", "statement"),
        "save": ("training", "save"),
        "device": ("ecosystem", "device"),
        "gpu_available": ("ecosystem", "gpu_available"),
        "gpu_count": ("ecosystem", "gpu_count"),
        "placement": ("ecosystem", "placement"),
        "data_parallel": ("ecosystem", "data_parallel"),
        "drop_statement": ("ecosystem", "drop_statement"),
        "drop_statement_review": ("ecosystem", "drop_statement_review"),
        "rewritten": ("ecosystem", "rewritten"),
        "same_call": ("ecosystem", "same_call"),
        "summary_writer": ("ecosystem", "summary_writer"),
        "summary": ("ecosystem", "summary"),
        "compile_fn": ("ecosystem", "compile_fn"),
        "determinism": ("ecosystem", "determinism"),
        "autocast": ("ecosystem", "autocast"),
        "grad_scaler": ("ecosystem", "grad_scaler"),
        "onnx_export": ("ecosystem", "onnx_export"),
        "distributed_sampler": ("ecosystem", "distributed_sampler"),
    }
)


def hooks_for(direction: Direction) -> Mapping[str, object]:
    """The hook table rules of ``direction`` may name."""
    if direction is Direction.TORCH2TF:
        return HOOKS
    from migrator.transforms.keras_layers import KERAS_HOOKS

    return KERAS_HOOKS


MODULE_CALLS: Mapping[str, ModuleCallHook] = LazyHooks["ModuleCallHook"](
    {"multihead_attention": ("attention", "mha_call"), "transformer": ("attention", "transformer_call")}
)
"""Call-site rewriters by the name a constructor hook put in ``ModuleInfo.extra["call"]``."""

__all__ = ["HOOKS", "MODULE_CALLS", "Hook", "LazyHooks", "hooks_for"]
