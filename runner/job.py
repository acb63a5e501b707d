"""One job: build, probe every stage, return one row per tensor. Never raises for a probe failure."""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

from .build import build_module, make_input, seed_all
from .devices import resolve_device
from .environment import environment
from .errors import exception_text
from .jobkey import JobIdentity
from .probes.discover import discover
from .probes.exporting import export_outcomes
from .probes.moving import follows
from .probes.registration import registration
from .probes.restore import round_trip
from .probes.training import train
from .schema import Config


def _base_row(cfg: Config, ident: JobIdentity) -> dict:
    row = {"job": ident.key, **ident.choices, "seed": cfg.seed, "config_hash": ident.config_hash}
    row.update(environment())
    return row


def reset_torch_state(seed: int) -> None:
    """What a reused worker process (joblib) could carry from the previous job into this one."""
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    seed_all(seed)
    if "torch._dynamo" in sys.modules:  # torch.export / the dynamo ONNX exporter cache compiled frames
        sys.modules["torch._dynamo"].reset()


def run_job(cfg: Config, ident: JobIdentity, output_dir: Path,
            make_optimizer: Callable[[list], object]) -> List[dict]:
    """All stages of DESIGN.md's 'What one job does'; each stage's exception lands in its columns."""
    started = time.perf_counter()
    base = _base_row(cfg, ident)

    def finish(rows: List[dict]) -> List[dict]:
        seconds = round(time.perf_counter() - started, 4)
        return [{**base, **r, "job_seconds": seconds} for r in rows]

    reset_torch_state(cfg.seed)
    device, reason = resolve_device(cfg.device.type.value)
    if device is None:
        return finish([{"status": "skipped", "reason": reason}])
    base["resolved_device"] = str(device)
    try:
        module = build_module(cfg.variant, cfg.seed).to(device)
        refs = discover(module)
        if not refs:
            raise ValueError("the module holds no tensors: nothing to probe")
    except Exception as exc:
        return finish([{"status": "failed", "reason": exception_text(exc)}])

    pristine = copy.deepcopy(module)
    rows: Dict[str, dict] = {r.path: {"status": "ok", "tensor": r.path} for r in refs}
    for path, cols in registration(module, refs).items():
        rows[path].update(cols)

    x = make_input(cfg.variant.input_shape, cfg.seed, device)
    outcome = train(module, refs, x, cfg.update.style.value, cfg.steps, cfg.lr, make_optimizer)
    for path, row in rows.items():
        row.update(grad=outcome.grad.get(path), updated=outcome.updated.get(path),
                   grad_after_zero_grad=outcome.after_zero_grad.get(path),
                   update_error=outcome.error, train_error_at=outcome.error_at, loss=outcome.loss)

    stages = (
        follows(pristine, refs, cfg.move_to),
        round_trip(module, refs, lambda: build_module(cfg.variant, cfg.seed + 1).to(device)),
        export_outcomes(module, refs, (x,), {}, cfg.export, output_dir),
    )
    for stage in stages:
        for path, cols in stage.items():
            rows[path].update(cols)
    return finish(list(rows.values()))
