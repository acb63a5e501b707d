"""Resolve the device option to a torch.device, or say why the job must be skipped."""
from __future__ import annotations

from typing import Optional, Tuple

import torch


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(kind: str) -> Tuple[Optional[torch.device], str]:
    """(device, "") when usable; (None, reason) when this machine has no such device."""
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda"), ""
        return (torch.device("mps"), "") if _mps_available() else (torch.device("cpu"), "")
    if kind == "cuda" and not torch.cuda.is_available():
        return None, "device=cuda: torch.cuda.is_available() is False on this machine"
    if kind == "mps" and not _mps_available():
        return None, "device=mps: torch.backends.mps.is_available() is False on this machine"
    return torch.device(kind), ""
