"""Stage 5: does each tensor follow module.to(dtype) and module.to(device)?"""
from __future__ import annotations

import copy
from typing import Dict, List

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve


def follows(module: nn.Module, refs: List[TensorRef], move_to: str) -> Dict[str, dict]:
    """Per path: follows_dtype (float64 after .to(torch.float64)), follows_device (type == move_to after .to(move_to)).

    Each move is made on its own deep copy, so neither depends on the other or on training.
    """
    out: Dict[str, dict] = {r.path: {"follows_dtype": None, "follows_device": None, "move_error": ""} for r in refs}
    target = torch.device(move_to)
    errors = []
    for column, arg, check in (
        ("follows_dtype", torch.float64, lambda t: t.dtype == torch.float64),
        ("follows_device", target, lambda t: t.device.type == target.type),
    ):
        try:
            moved = copy.deepcopy(module).to(arg)
        except Exception as exc:
            errors.append(f"{column}: {exception_text(exc)}")
            continue
        for r in refs:
            t = resolve(moved, r)
            out[r.path][column] = None if t is None else check(t)
    for row in out.values():
        row["move_error"] = "; ".join(errors)
    return out
