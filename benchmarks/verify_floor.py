"""The floor for `fwmigrate verify`: import both frameworks, build both models, run each once.

python benchmarks/verify_floor.py ORIGINAL MIGRATED MODEL SHAPE PERM
"""

from __future__ import annotations

import importlib.util
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import torch


def load(path: str, name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


original, migrated, model, shape, perm = sys.argv[1:6]
dims = tuple(int(d) for d in shape.split(","))
order = tuple(int(p) for p in perm.split(","))
x = np.random.default_rng(0).standard_normal(dims).astype("float32")
tmodel = getattr(load(original, "floor_original"), model)().eval()
kmodel = getattr(load(migrated, "floor_migrated"), model)()
with torch.no_grad():
    tmodel(torch.from_numpy(x))
kmodel(np.transpose(x, order), training=False)
