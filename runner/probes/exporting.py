"""Stage 7: export a copy of the trained module and locate each tensor in the artifact."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import torch
from torch import nn

from ..schema import ExportConfig, Exporter
from .discover import TensorRef


def export_outcomes(module: nn.Module, refs: List[TensorRef], x: torch.Tensor,
                    cfg: ExportConfig, output_dir: Path) -> Dict[str, dict]:
    """Per path: export_role, export_name, export_error, mutated_by_export, ort_max_abs_diff."""
    if cfg.exporter is Exporter.none:
        return {}
    raise NotImplementedError(f"export={cfg.exporter.value}")
