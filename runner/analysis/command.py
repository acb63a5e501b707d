"""The command line that (re)runs a sweep, rebuilt from the Hydra multirun.yaml in its directory
(for the report, and for the line that tells how to resume an interrupted sweep). No pandas, no torch."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import yaml


def sweep_command(sweep_dir: Path) -> str:
    """The command that reruns this sweep, from Hydra's multirun.yaml (task and hydra overrides)."""
    meta = Path(sweep_dir) / "multirun.yaml"
    if not meta.is_file():
        return "(unknown: no multirun.yaml in the sweep directory)"
    try:
        overrides = (yaml.safe_load(meta.read_text()) or {}).get("hydra", {}).get("overrides", {})
    except yaml.YAMLError:
        return "(unknown: multirun.yaml is not readable)"
    hydra_overrides = [o for o in overrides.get("hydra", []) if not o.startswith(("hydra.sweep.dir", "hydra.mode"))]
    args = list(overrides.get("task", [])) + hydra_overrides
    return " ".join(["python -m runner -m"] + [shlex.quote(a) for a in args])


def resume_command(sweep_dir: str) -> Optional[str]:
    """The command that resumes the sweep in sweep_dir (its own, with hydra.sweep.dir), or None if unknown."""
    command = sweep_command(Path(sweep_dir))
    if command.startswith("("):
        return None
    return f"{command} {shlex.quote(f'hydra.sweep.dir={sweep_dir}')}"
