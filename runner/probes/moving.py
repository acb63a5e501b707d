"""Stage 5: does each tensor follow module.to(dtype) and module.to(device)?"""
from __future__ import annotations

import copy
from typing import Dict, List

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve


def move_target(move_to: str) -> torch.device:
    """`auto`: the accelerator this machine has (cuda, then mps), else meta; any other name as given."""
    if move_to != "auto":
        return torch.device(move_to)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    return torch.device("mps") if mps is not None and mps.is_available() else torch.device("meta")


def follows(module: nn.Module, refs: List[TensorRef], move_to: str) -> Dict[str, dict]:
    """Per path: follows_dtype (float64 after .to(torch.float64)), follows_device (device type is the
    target's after .to(target)), move_device (the target: move_to, `auto` resolved).

    Each move is made on its own deep copy, so neither depends on the other or on training. A move that
    raises (a device this machine lacks, a name torch does not know) is recorded in move_error and
    leaves its column unmeasured; it never stops the job.
    """
    out: Dict[str, dict] = {r.path: {"follows_dtype": None, "follows_device": None, "move_error": "",
                                     "move_device": ""} for r in refs}
    errors = []
    for column in ("follows_dtype", "follows_device"):
        try:
            target = torch.float64 if column == "follows_dtype" else move_target(move_to)
            moved = copy.deepcopy(module).to(target)
        except Exception as exc:
            errors.append(f"{column}: {exception_text(exc)}")
            continue
        for r in refs:
            t = resolve(moved, r)
            if t is None:
                continue
            if column == "follows_dtype":
                out[r.path][column] = t.dtype == torch.float64
            else:
                out[r.path].update(follows_device=t.device.type == target.type, move_device=str(target))
    for row in out.values():
        row["move_error"] = "; ".join(errors)
    return out
