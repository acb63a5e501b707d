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

    Each move is made on its own deep copy, so neither depends on the other or on training. A move that
    raises (a device this machine lacks, a name torch does not know) is recorded in move_error and
    leaves its column unmeasured; it never stops the job.
    """
    out: Dict[str, dict] = {r.path: {"follows_dtype": None, "follows_device": None, "move_error": ""} for r in refs}
    errors = []
    for column, make_arg in (("follows_dtype", lambda: torch.float64), ("follows_device", lambda: torch.device(move_to))):
        try:
            arg = make_arg()
            moved = copy.deepcopy(module).to(arg)
        except Exception as exc:
            errors.append(f"{column}: {exception_text(exc)}")
            continue
        for r in refs:
            t = resolve(moved, r)
            if t is not None:
                out[r.path][column] = t.dtype == torch.float64 if column == "follows_dtype" else t.device.type == arg.type
    for row in out.values():
        row["move_error"] = "; ".join(errors)
    return out
