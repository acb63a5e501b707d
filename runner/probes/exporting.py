"""Stage 7: export a copy of the trained module, locate each tensor in the artifact, note side effects."""
from __future__ import annotations

import copy
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

from torch import nn

from runner.errors import exception_text
from runner.schema import ExportConfig, Exporter
from runner.probes.discover import TensorRef, resolve, same_value, snapshot
from runner.probes.quiet import quiet


_PLAIN = (type(None), bool, int, float, str)


def _output_hint(module: nn.Module, args: tuple, kwargs: dict) -> str:
    """After a failed export: when forward's output holds something that is not a tensor (transformers'
    DynamicCache with use_cache=True), say so, since every exporter needs tensor outputs. Runs forward
    on a copy; nothing when that fails or the output is tensors."""
    import torch
    from torch.utils._pytree import tree_flatten
    try:
        with torch.no_grad(), quiet():
            out = copy.deepcopy(module).eval()(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        odd = sorted({type(leaf).__name__ for leaf in tree_flatten(out)[0]
                      if not isinstance(leaf, (torch.Tensor, *_PLAIN))})
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    if not odd:
        return ""
    return (f" (hint: forward returns a {', '.join(odd)}, not tensors: exporters need tensor outputs; a "
            "transformers model takes variant.kwargs={use_cache: false})")


def aliases(module: nn.Module, refs: List[TensorRef]) -> Dict[str, List[str]]:
    """Path -> every path of the same tensor object (itself first), so a tied weight finds its exported name."""
    by_id = defaultdict(list)
    for r in refs:
        by_id[id(resolve(module, r))].append(r.path)
    return {p: [p] + [q for q in group if q != p] for group in by_id.values() for p in group}


def export_outcomes(module: nn.Module, refs: List[TensorRef], args: tuple, kwargs: dict,
                    cfg: ExportConfig, output_dir: Path) -> Dict[str, dict]:
    """Per path: export_role, export_name, export_error, mutated_by_export, ort_max_abs_diff,
    ort_outputs_compared, export_file, export_seconds, export_call_seconds.

    mutated_by_export compares each tensor before and after the export call alone: export_and_locate
    touches the exported copy only through the exporter; locating and verifying run on copies of their own.
    """
    if cfg.exporter is Exporter.none:
        return {}
    rows = {r.path: {"export_role": None, "export_name": "", "export_error": "", "mutated_by_export": None}
            for r in refs}
    try:
        exported = copy.deepcopy(module).eval()
    except Exception as exc:  # e.g. a non-leaf tensor attribute cannot be deep-copied
        for row in rows.values():
            row.update(export_role="error", export_error=exception_text(exc))
        return rows
    before = {r.path: snapshot(resolve(exported, r)) for r in refs}
    names = aliases(exported, refs)
    started = time.perf_counter()
    try:
        with quiet():
            if cfg.exporter is Exporter.torch_export:
                from runner.probes.torch_export import export_and_locate
            else:
                from runner.probes.onnx_export import export_and_locate
            located = export_and_locate(exported, refs, names, args, kwargs, cfg, output_dir)
    except Exception as exc:
        error = exception_text(exc) + _output_hint(module, args, kwargs)
        located = {p: {"export_role": "error", "export_error": error} for p in rows}
    seconds = round(time.perf_counter() - started, 4)
    for r in refs:
        rows[r.path].update(located.get(r.path, {}))
        rows[r.path]["mutated_by_export"] = not same_value(before[r.path], resolve(exported, r))
        rows[r.path]["export_seconds"] = seconds
    return rows
