"""One job: build, probe every stage, return one row per tensor. Never raises for a probe failure.

Status of a job (column `status`): `ok` when every stage ran (a stage's own error is a measured
outcome, in its error column); `partial` when a stage failed in a way that left later outcomes
unmeasured (their cells stay empty; `reason` names the first failed stage); `failed` when the module
could not be built; `skipped` when the device is not on this machine.
"""
from __future__ import annotations

import copy
import functools
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from runner.errors import exception_text
from runner.job.build import build_module, make_inputs, seed_all
from runner.job.devices import resolve_device
from runner.job.environment import environment
from runner.job.identity import JobIdentity
from runner.probes import quiet
from runner.probes.discover import discover
from runner.probes.exporting import export_outcomes
from runner.probes.moving import follows
from runner.probes.registration import registration
from runner.probes.restore import round_trip
from runner.probes.training import train
from runner.schema import Config


def _base_row(cfg: Config, ident: JobIdentity) -> dict:
    row = {"job": ident.key, **ident.choices, "seed": cfg.seed, "config_hash": ident.config_hash,
           "model": (cfg.variant.model or {}).get("_target_", "")}
    row.update(environment())
    return row


def reset_torch_state(seed: int) -> None:
    """What a reused worker process (joblib, the pool) could carry from the previous job into this one."""
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    seed_all(seed)
    if "torch._dynamo" in sys.modules:  # torch.export / the dynamo ONNX exporter cache compiled frames
        sys.modules["torch._dynamo"].reset()


def lifecycle_stages(cfg: Config, module: torch.nn.Module, refs, device: torch.device, inputs) -> List[dict]:
    """The opt-in lifecycle.* stages (imported only when enabled: other jobs pay nothing)."""
    stages = []
    if cfg.lifecycle.meta_init:
        from runner.probes.meta_init import meta_init_outcomes
        stages.append(meta_init_outcomes(module, refs, lambda: build_module(cfg.variant, cfg.seed), device,
                                         inputs.args, inputs.kwargs))
    if cfg.lifecycle.strict_false:
        from runner.probes.strict_false import strict_false_outcomes
        stages.append(strict_false_outcomes(module, refs, lambda: build_module(cfg.variant, cfg.seed + 1).to(device)))
    if cfg.lifecycle.compile:
        from runner.probes.compiling import compile_outcomes
        stages.append(compile_outcomes(module, refs, cfg.lifecycle.compile_backend.value, inputs.args, inputs.kwargs))
    return stages


def run_job(cfg: Config, ident: JobIdentity, output_dir: Path,
            make_optimizer: Callable[[list], object],
            make_module: Optional[Callable[[], torch.nn.Module]] = None) -> List[dict]:
    """All stages of one job (README: what one job does); each stage's exception lands in its columns.
    `make_module` (runner.api) builds the module instead of cfg.variant's `_target_`, seeded the same way."""
    started = time.perf_counter()
    base = _base_row(cfg, ident)

    def finish(rows: List[dict]) -> List[dict]:
        seconds = round(time.perf_counter() - started, 4)
        return [{**base, **r, "job_seconds": seconds} for r in rows]

    reset_torch_state(cfg.seed)
    quiet.job_label = ident.key
    device, reason = resolve_device(cfg.device.type.value)
    if device is None:
        return finish([{"status": "skipped", "reason": reason}])
    base["resolved_device"] = str(device)
    try:
        module = build_module(cfg.variant, cfg.seed, make_module).to(device)
        refs = discover(module)
        if not refs:
            raise ValueError("the module holds no tensors: nothing to probe")
        inputs = make_inputs(cfg.variant, cfg.seed, device)
    except Exception as exc:
        return finish([{"status": "failed", "reason": exception_text(exc)}])

    pristine = copy.deepcopy(module)
    rows: Dict[str, dict] = {r.path: {"status": "ok", "tensor": r.path} for r in refs}
    for path, cols in registration(module, refs).items():
        rows[path].update(cols)

    outcome = train(module, refs, inputs.args, inputs.kwargs, cfg.update.style.value, cfg.steps, cfg.lr,
                    make_optimizer, include_tensors=cfg.update.include_tensors)
    for path, row in rows.items():
        row.update(grad=outcome.grad.get(path), grad_requires_grad=outcome.grad_requires_grad.get(path),
                   updated=outcome.updated.get(path), leaf_after_update=outcome.leaf_after_update.get(path),
                   grad_after_zero_grad=outcome.after_zero_grad.get(path),
                   grad_accumulates=outcome.accumulates.get(path),
                   update_error=outcome.error, train_error_at=outcome.error_at, loss=outcome.loss)
        if outcome.unmeasured:
            row.update(status="partial", reason=f"training ({outcome.error_at}): {outcome.error}")

    def fresh() -> torch.nn.Module:
        return build_module(cfg.variant, cfg.seed + 1, make_module).to(device)

    stages = [
        follows(pristine, refs, cfg.move_to),
        round_trip(module, refs, fresh),
    ]
    if cfg.checkpoint:
        from runner.probes.checkpoint import checkpoint_round_trips
        stages.append(checkpoint_round_trips(module, refs, fresh))
    stages.append(export_outcomes(module, refs, inputs.args, inputs.kwargs, cfg.export, output_dir))
    stages.extend(lifecycle_stages(cfg, module, refs, device, inputs))
    if cfg.distributed.mode.value != "none":  # imported only then: other jobs pay nothing
        from runner.probes.distributed import distributed_outcomes
        build = functools.partial(build_module, cfg.variant, make=make_module)
        stages.append(distributed_outcomes(cfg, refs, device, build, functools.partial(make_inputs, cfg.variant),
                                           make_optimizer))
    for stage in stages:
        for path, cols in stage.items():
            rows[path].update(cols)
    return finish(list(rows.values()))
