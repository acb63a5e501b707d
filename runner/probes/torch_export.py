"""torch.export.export: each tensor's role comes from the graph signature."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

import torch
from torch import nn

from runner.schema import ExportConfig
from runner.probes.discover import TensorRef, resolve

ROLES = {"PARAMETER": "parameter", "BUFFER": "buffer", "CONSTANT_TENSOR": "constant_tensor"}


def export_and_locate(module: nn.Module, refs: List[TensorRef], names: Dict[str, List[str]],
                      args: tuple, kwargs: dict, cfg: ExportConfig, output_dir: Path) -> Dict[str, dict]:
    """Export with strict=cfg.strict (default False); role = parameter|buffer|constant_tensor|absent."""
    started = time.perf_counter()
    program = torch.export.export(module, args, kwargs=kwargs, strict=bool(cfg.strict))
    call_seconds = round(time.perf_counter() - started, 4)
    by_target, by_object = {}, {}
    for spec in program.graph_signature.input_specs:
        role = ROLES.get(spec.kind.name)
        if role and spec.target is not None:
            by_target[spec.target] = (role, spec.arg.name)
            lifted = program.constants.get(spec.target) if role == "constant_tensor" else None
            if isinstance(lifted, torch.Tensor):  # a tensor in a list or dict is lifted as `lifted_tensor_N`
                by_object[id(lifted)] = (role, spec.arg.name)
    out = {}
    for r in refs:
        hit = next((by_target[p] for p in names[r.path] if p in by_target), None)
        held = resolve(module, r)
        hit = hit or (by_object.get(id(held)) if held is not None else None)
        role, name = hit if hit else ("absent", "")
        out[r.path] = {"export_role": role, "export_name": name, "export_call_seconds": call_seconds}
    return out
