"""Stage 6: does each tensor survive a save and a load into a freshly built module?

`round_trip` is the state_dict one: torch.save -> torch.load(weights_only=True) -> load_state_dict.
runner.probes.checkpoint runs the same check through other checkpoint formats.
"""
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


def restored_by(trained: nn.Module, refs: List[TensorRef], build_fresh: Callable[[], nn.Module],
                transfer: Callable[[nn.Module, nn.Module], None], column: str, error_column: str) -> Dict[str, dict]:
    """Per path: `column` = value equals the trained one after transfer(trained, fresh) into a freshly
    (differently seeded) built module whose equal values were first made to differ. An exception in
    the transfer is recorded in `error_column` and leaves `column` unmeasured."""
    out = {r.path: {column: None, error_column: ""} for r in refs}
    try:
        saved = {r.path: snapshot(resolve(trained, r)) for r in refs}
        fresh = build_fresh()
        for r in refs:
            t = resolve(fresh, r)
            if t is not None and saved[r.path] is not None and t.shape == saved[r.path].shape \
                    and same_value(t, saved[r.path]):
                _differ_from(t, saved[r.path])
        transfer(trained, fresh)
    except Exception as exc:
        for row in out.values():
            row[error_column] = exception_text(exc)
        return out
    for r in refs:
        out[r.path][column] = same_value(saved[r.path], resolve(fresh, r))
    return out


def _state_dict_transfer(trained: nn.Module, fresh: nn.Module) -> None:
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True), strict=True)


def round_trip(trained: nn.Module, refs: List[TensorRef], build_fresh: Callable[[], nn.Module]) -> Dict[str, dict]:
    """Per path: restored (torch.save(state_dict) -> torch.load(weights_only=True) -> load_state_dict(strict=True))."""
    return restored_by(trained, refs, build_fresh, _state_dict_transfer, "restored", "restore_error")
