"""Perturbed values for the tensors of a module, and how to recognise them in an exported file.

Each floating tensor gets values no other tensor gets (consecutive representable numbers, ascending from
1.1, clear of simple constants for small tensors): a stored value made only of such values, where the real
file holds the real values of the same elements, is a copy or rearrangement of those tensors. Integer and
bool tensors get a small change (indices stay valid) and are recognised only by exporting them alone.
"""
from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import numpy as np
import torch
from onnx import TensorProto
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve
from runner.probes.onnx_graph import Stored

_BITS = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32,
         torch.float64: torch.int64}
_ELEM = {torch.float32: TensorProto.FLOAT, torch.float16: TensorProto.FLOAT16, torch.float64: TensorProto.DOUBLE,
         torch.bfloat16: TensorProto.BFLOAT16, torch.int64: TensorProto.INT64, torch.int32: TensorProto.INT32,
         torch.int16: TensorProto.INT16, torch.int8: TensorProto.INT8, torch.uint8: TensorProto.UINT8,
         torch.bool: TensorProto.BOOL, torch.complex64: TensorProto.COMPLEX64,
         torch.complex128: TensorProto.COMPLEX128}
# Exporter rewrites match small constants near simple values (onnxscript drops x * s for |s - 1| <= 1e-5 s):
# perturbed values of small tensors keep away from them, or the perturbation itself would change the graph.
_SPECIAL = sorted({k / d for d in range(1, 13) for k in range(d, 4 * d + 1)}
                  | {math.sqrt(2), math.sqrt(3), math.pi, math.e, 1 / math.sqrt(2), math.sqrt(2 / math.pi)})
_NEAR = 1e-3
_INF_BITS = {d: int(torch.tensor(float("inf"), dtype=d).view(i)) for d, i in _BITS.items()}


@dataclass
class Unit:
    """One tensor object: the refs and paths it is reachable by, its value when the module was exported."""
    refs: List[TensorRef]
    paths: List[str]
    real: torch.Tensor                        # CPU copy
    perturbed: Optional[torch.Tensor] = None  # CPU; None: nothing to perturb (no elements) or cannot be
    unique: bool = False                      # perturbed values shared with no other tensor (traceable)
    why: str = ""                             # why it cannot be perturbed


def _numpy(t: torch.Tensor) -> np.ndarray:
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _ascending(like: torch.Tensor, above: float) -> Optional[torch.Tensor]:
    """like.numel() distinct values of like's dtype, ascending, all > above; None past the dtype's range.
    Consecutive representable numbers: their bit patterns count up."""
    itype = _BITS[like.dtype]
    start = int(torch.tensor(above, dtype=torch.float64).to(like.dtype).view(itype)) + 1
    if start + like.numel() > _INF_BITS[like.dtype]:
        return None
    codes = torch.arange(start, start + like.numel(), dtype=torch.int64)
    return codes.to(itype).view(like.dtype).reshape(like.shape)


def _near_special(p: torch.Tensor) -> bool:
    lo, hi = float(p.min()) / (1 + _NEAR), float(p.max()) / (1 - _NEAR)
    k = bisect.bisect_left(_SPECIAL, lo)
    return k < len(_SPECIAL) and _SPECIAL[k] <= hi


def _storage(t: torch.Tensor) -> object:
    try:
        return t.untyped_storage().data_ptr(), t.device
    except (RuntimeError, NotImplementedError):  # sparse and other layouts without one storage
        return id(t)


def units_of(module: nn.Module, refs: List[TensorRef], names: Dict[str, List[str]]) -> List[Unit]:
    """Group refs by tensor object and choose each one's perturbed value (the same in every export)."""
    by_id: Dict[int, Unit] = {}
    memory: Dict[object, Set[int]] = defaultdict(set)  # storage -> tensor objects viewing it
    for r in refs:
        t = resolve(module, r)
        if t is not None:
            if id(t) not in by_id:
                by_id[id(t)] = Unit([], names[r.path], t.detach())
                memory[_storage(t)].add(id(t))
            by_id[id(t)].refs.append(r)
    shared = {i for ids in memory.values() if len(ids) > 1 for i in ids}
    floor = 1.1  # away from 1: rewrites test whole tensors for ones within a tolerance
    for key, u in by_id.items():
        try:
            u.real = u.real.cpu().clone()
            u.perturbed, u.unique, floor = _perturbed(u.real, floor)
        except Exception as exc:  # a dtype or layout without these operations
            u.perturbed, u.why = None, exception_text(exc)
        u.unique = u.unique and key not in shared  # a view of another's memory changes with it
    return list(by_id.values())


def _perturbed(t: torch.Tensor, floor: float) -> Tuple[Optional[torch.Tensor], bool, float]:
    """(other values for t or None when it has none, whether they are unique, the next floor)."""
    if t.numel() == 0:
        return None, False, floor
    if t.dtype in _BITS:
        p = _ascending(t, floor)
        while p is not None and (torch.equal(p, t) or (t.numel() <= 16 and _near_special(p))):
            p = _ascending(t, float(p.max()) * (1 + _NEAR))
        if p is not None:
            return p, True, float(p.max())
    if t.dtype == torch.bool:
        return ~t, False, floor
    if t.is_complex():
        return t + 1, False, floor
    if t.is_floating_point():  # float8 and other types without arithmetic of their own
        return (t.double() + 1).to(t.dtype), False, floor
    return torch.where(t > 0, t - 1, t + 1), False, floor  # small ints stay valid indices


class Tracer:
    """Looks changed values up among the unique perturbed values (floating tensors)."""

    def __init__(self, units: List[Unit]):
        vals, unit, real = [], [], []
        self.start = np.zeros(len(units), dtype=np.int64)  # unit -> its first position
        size = 0
        for i, u in enumerate(units):
            if u.unique:
                n = u.real.numel()
                vals.append(_numpy(u.perturbed).astype(np.float64).ravel())
                real.append(_numpy(u.real).astype(np.float64).ravel())
                unit.append(np.full(n, i, dtype=np.int32))
                self.start[i] = size
                size += n
        vals = np.concatenate(vals) if vals else np.zeros(0)
        # units_of hands out ascending values, unit after unit: sorted already, unless a dtype rounds them
        self.order = None if vals.size < 2 or bool(np.all(vals[1:] > vals[:-1])) else np.argsort(vals, kind="stable")
        self.vals = vals if self.order is None else vals[self.order]
        self.unit = np.concatenate(unit) if unit else np.zeros(0, dtype=np.int32)  # by position
        self.real = np.concatenate(real) if real else np.zeros(0)
        self.units = units

    def trace(self, a: Stored, b: Stored) -> Optional[List[Tuple[int, str]]]:
        """[(unit, same|folded)] when b is element for element perturbed values of those units and a holds
        their real values at the same elements; None when it does not trace."""
        x, y = a.array(), b.array()
        if y.dtype.kind != "f" or y.size == 0 or x.shape != y.shape or x.dtype != y.dtype or not self.vals.size:
            return None
        y64 = y.astype(np.float64).ravel()
        pos = np.searchsorted(self.vals, y64).clip(0, self.vals.size - 1)
        if not np.array_equal(self.vals[pos], y64):
            return None
        at = pos if self.order is None else self.order[pos]  # positions in unit order
        unit = self.unit[at]
        index = at - self.start[unit]
        expected = self.real[at]
        x64 = x.astype(np.float64).ravel()
        if not np.all((x64 == expected) | (np.isnan(x64) & np.isnan(expected))):
            return None
        found = sorted(set(unit.tolist()))
        u = self.units[found[0]]
        if len(found) == 1 and index.size == u.real.numel() and np.array_equal(index, np.arange(index.size)) \
                and tuple(y.shape) == tuple(u.real.shape) and b.elem_type == _ELEM.get(u.real.dtype):
            return [(found[0], "same")]
        return [(i, "folded") for i in found]


def holds(s: Stored, t: torch.Tensor) -> bool:
    """s stores exactly t: element type, shape and values."""
    x = s.array()
    if s.elem_type != _ELEM.get(t.dtype) or tuple(x.shape) != tuple(t.shape):
        return False
    y = _numpy(t)
    if y.dtype.kind in "fc":
        x, y = x.astype(y.dtype), y
        return bool(np.all((x == y) | (np.isnan(x) & np.isnan(y))))
    return bool(np.array_equal(x.astype(y.dtype), y))
