"""Stage 6: does each tensor survive torch.save(state_dict) -> torch.load -> load_state_dict?"""
from __future__ import annotations

import io
from typing import Callable, Dict, List

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve, same_value, snapshot


def _differ_from(t: torch.Tensor, saved: torch.Tensor) -> None:
    """Make t's value differ from saved, so 'restored' can only be true if loading wrote it."""
    with torch.no_grad():
        if t.dtype == torch.bool:
            t.copy_(~saved.to(t.device))
        else:
            t.copy_(saved.to(t.device) + 1)


def round_trip(trained: nn.Module, refs: List[TensorRef], build_fresh: Callable[[], nn.Module]) -> Dict[str, dict]:
    """Per path: restored (value equals the trained one after loading into a differently seeded module)."""
    out = {r.path: {"restored": None, "restore_error": ""} for r in refs}
    try:
        buffer = io.BytesIO()
        torch.save(trained.state_dict(), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
        fresh = build_fresh()
        saved = {r.path: snapshot(resolve(trained, r)) for r in refs}
        for r in refs:
            t = resolve(fresh, r)
            if t is not None and saved[r.path] is not None and t.shape == saved[r.path].shape \
                    and same_value(t, saved[r.path]):
                _differ_from(t, saved[r.path])
        fresh.load_state_dict(state, strict=True)
    except Exception as exc:
        for row in out.values():
            row["restore_error"] = exception_text(exc)
        return out
    for r in refs:
        out[r.path]["restored"] = same_value(saved[r.path], resolve(fresh, r))
    return out
