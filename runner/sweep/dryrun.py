"""`dry_run=true`: list a sweep's jobs with their keys and config hashes, and the size of the table."""
from __future__ import annotations

from omegaconf import DictConfig


def expected_rows(cfg: DictConfig, variant_choice: str) -> int:
    """Rows a job will produce: its tensors (one row if it would be skipped or fail). The planner asks
    once per distinct config apart from plain keys (a seed changes values, not which tensors there are)."""
    from runner.job.build import build_module
    from runner.job.devices import resolve_device
    from runner.job.validate import typed_config
    from runner.probes.discover import discover
    try:
        typed = typed_config(cfg, f"variant/{variant_choice}.yaml")
        if resolve_device(typed.device.type.value)[0] is None:
            return 1
        return max(1, len(discover(build_module(typed.variant, typed.seed))))
    except Exception:  # noqa: BLE001 - a job that cannot be built is one 'failed' row
        return 1


def print_plan(plans) -> None:
    for p in plans:
        mark = "done" if p.done else "todo"
        print(f"#{p.idx:<4} {mark}  {p.config_hash}  rows={p.rows:<3} {p.key}")
    todo = sum(not p.done for p in plans)
    print(f"dry run: {len(plans)} jobs ({todo} to run, {len(plans) - todo} already done), "
          f"{sum(p.rows for p in plans)} rows in the table; nothing was run")
