"""`dry_run=true`: list a sweep's jobs with their keys and config hashes, and the size of the table."""
from __future__ import annotations

from typing import Dict


def expected_rows(cfg, variant_choice: str) -> int:
    """Rows this job will produce: its tensors (one row if it would be skipped or fail)."""
    from runner.job.devices import resolve_device
    from runner.job.build import build_module
    from runner.probes.discover import discover
    from runner.job.task import typed_config
    try:
        typed = typed_config(cfg, variant_choice)
        if resolve_device(typed.device.type.value)[0] is None:
            return 1
        return max(1, len(discover(build_module(typed.variant, typed.seed))))
    except Exception:  # noqa: BLE001 - a job that cannot be built is one 'failed' row
        return 1


def print_plan(plans, loader, master) -> None:
    from omegaconf import open_dict
    rows = 0
    cache: Dict[str, int] = {}
    for p in plans:
        cfg = loader.load_sweep_config(master, p.overrides)
        variant_key = str(cfg.variant) + str(cfg.device) + str(cfg.seed)
        if variant_key not in cache:
            choice = str(cfg.hydra.runtime.choices.variant)
            with open_dict(cfg):
                del cfg["hydra"]
            cache[variant_key] = expected_rows(cfg, choice)
        n = cache[variant_key]
        rows += n
        mark = "done" if p.done else "todo"
        print(f"#{p.idx:<4} {mark}  {p.config_hash}  rows={n:<3} {p.key}")
    todo = sum(not p.done for p in plans)
    print(f"dry run: {len(plans)} jobs ({todo} to run, {len(plans) - todo} already done), "
          f"{rows} rows in the table; nothing was run")
