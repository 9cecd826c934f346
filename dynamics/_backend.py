"""Element-wise maths that accepts numpy arrays, torch tensors, Python floats and sympy
expressions alike, so each closed-form equation is written once and reused by the numeric
solvers (CPU or GPU) and by the symbolic derivations."""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_torch(x: Any) -> bool:
    mod = type(x).__module__
    return mod.startswith("torch")


def _is_sympy(x: Any) -> bool:
    return type(x).__module__.startswith("sympy")


def sqrt(x: Any) -> Any:
    if _is_torch(x):
        import torch

        return torch.sqrt(x)
    if _is_sympy(x):
        import sympy

        return sympy.sqrt(x)
    return np.sqrt(x)


def exp(x: Any) -> Any:
    if _is_torch(x):
        import torch

        return torch.exp(x)
    if _is_sympy(x):
        import sympy

        return sympy.exp(x)
    return np.exp(x)


def where(cond: Any, a: Any, b: Any) -> Any:
    if _is_torch(cond) or _is_torch(a) or _is_torch(b):
        import torch

        return torch.where(torch.as_tensor(cond), torch.as_tensor(a), torch.as_tensor(b))
    return np.where(cond, a, b)
