"""Checkpoint formats beyond torch.save (`checkpoint=true`): what safetensors keeps of each tensor.

safetensors is imported only by jobs that run this stage.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Dict, List

from torch import nn

from runner.probes.discover import TensorRef
from runner.probes.restore import restored_by


def _save_file_transfer(trained: nn.Module, fresh: nn.Module) -> None:
    """safetensors.torch.save_file(state_dict) -> load_file -> load_state_dict(strict=True). save_file
    refuses tensors that share memory (tied weights): that error is the outcome."""
    from safetensors.torch import load_file, save_file
    with tempfile.TemporaryDirectory(prefix="tensorprobe-") as tmp:
        path = str(Path(tmp) / "state.safetensors")
        save_file(trained.state_dict(), path)
        fresh.load_state_dict(load_file(path), strict=True)


def _save_model_transfer(trained: nn.Module, fresh: nn.Module) -> None:
    """safetensors.torch.save_model -> load_model(strict=True): the variant that de-duplicates tied weights."""
    from safetensors.torch import load_model, save_model
    with tempfile.TemporaryDirectory(prefix="tensorprobe-") as tmp:
        path = str(Path(tmp) / "model.safetensors")
        save_model(trained, path)
        device = next((t.device for t in fresh.state_dict().values()), None)
        load_model(fresh, path, strict=True, device=str(device) if device is not None else "cpu")


def checkpoint_round_trips(trained: nn.Module, refs: List[TensorRef],
                           build_fresh: Callable[[], nn.Module]) -> Dict[str, dict]:
    """Per path: restored_safetensors / safetensors_error (save_file) and restored_save_model /
    save_model_error (save_model + load_model), each into its own freshly built module."""
    out: Dict[str, dict] = {r.path: {} for r in refs}
    for transfer, column, error_column in ((_save_file_transfer, "restored_safetensors", "safetensors_error"),
                                           (_save_model_transfer, "restored_save_model", "save_model_error")):
        for path, cols in restored_by(trained, refs, build_fresh, transfer, column, error_column).items():
            out[path].update(cols)
    return out
