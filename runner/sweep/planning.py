"""Plan a sweep: every job's key, config hash and validity, without keeping any job's config.

Jobs of a sweep mostly differ in plain keys (`seed=range(0,10000)`). Jobs that share everything but
their plain keys share a *shape*: Hydra's composition (through runner.sweep.fastcompose), the
validation of everything but the plain keys, and the resolved config, all computed once per shape.
Per job, only its plain overrides are applied, by Hydra's own function, to a copy of the shape's
plain keys: the job's hash and key then equal those its composed config gives at launch
(tests/test_planning.py checks that job by job). A shape whose config interpolates anything is
composed job by job instead, since a plain key could change other values.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf

from runner.errors import ConfigError
from runner.job.identity import (NOT_IDENTITY, config_hash, job_choices, job_key, override_parts,
                                 resolved_config)
from runner.job.targets import check_job_targets
from runner.job.validate import check_plain_keys, typed_config
from runner.schema import PLAIN_KEYS
from runner.sweep.fastcompose import FastSweepConfigLoader, split_task_config

PLAIN = tuple(PLAIN_KEYS) + tuple(NOT_IDENTITY)


@dataclass
class PlannedJob:
    """What a sweep keeps of a job until it launches: never its config."""
    idx: int
    overrides: List[str]
    key: str
    config_hash: str
    done: bool = False
    error: Optional[ConfigError] = None  # what is wrong with this job's config
    rows: int = 0                        # dry run: rows this job will add to the table
    choices: Dict[str, str] = field(default_factory=dict)  # group -> option (for a row the launcher lost)
    seed: Any = None


@dataclass
class _Shape:
    """What jobs that differ only in plain keys have in common."""
    choices: Dict[str, str]
    parts: List[str]                 # key parts of the non-plain overrides
    resolved: Dict[str, Any]         # resolved config (plain keys are overwritten per job)
    plain: Dict[str, Any]            # the shape's plain keys: typed value nodes of its composed config
    error: Optional[ConfigError]     # a non-plain config error shared by every job of the shape
    exact: bool                      # no interpolation anywhere: the per-job shortcut is exact
    rows: int = 0


class Planner:
    def __init__(self, loader, master: DictConfig, count_rows: bool = False) -> None:
        self.loader, self.master = loader, master
        self._parser = OverridesParser.create()
        self._parsed: Dict[str, Override] = {}
        self._shapes: Dict[Tuple[str, ...], _Shape] = {}
        self._count_rows = count_rows

    def _parse(self, lines: Sequence[str]) -> List[Override]:
        if isinstance(self.loader, FastSweepConfigLoader):
            return self.loader._parse(lines)
        for line in lines:
            if line not in self._parsed:
                self._parsed[line] = self._parser.parse_overrides([line])[0]
        return [self._parsed[line] for line in lines]

    def _compose(self, overrides: Sequence[str]) -> Tuple[DictConfig, Dict[str, str], List[str]]:
        if isinstance(self.loader, FastSweepConfigLoader):
            return self.loader.task_config(self.master, list(overrides))
        return split_task_config(self.loader.load_sweep_config(self.master, list(overrides)))

    def _shape(self, shape_lines: Tuple[str, ...], overrides: Sequence[str]) -> _Shape:
        if shape_lines not in self._shapes:
            cfg, choices, lines = self._compose(overrides)
            rest = [o for o in self._parse(lines) if not _is_plain(o)]
            error = None
            try:
                typed_config(cfg, f"variant/{choices.get('variant')}.yaml")
                check_job_targets(cfg, f"variant/{choices.get('variant')}.yaml")
            except ConfigError as exc:
                if exc.where.split(".")[0] not in PLAIN:
                    error = exc
            plain = {k: cfg._get_node(k) for k in PLAIN if k in cfg}
            shape = _Shape(job_choices(choices), override_parts(cfg, rest),
                           resolved_config(cfg), plain, error, not _interpolates(cfg))
            if self._count_rows and error is None:
                from runner.sweep.dryrun import expected_rows
                shape.rows = expected_rows(cfg, choices["variant"])
            self._shapes[shape_lines] = shape
        return self._shapes[shape_lines]

    def job(self, idx: int, overrides: Sequence[str]) -> PlannedJob:
        parsed = self._parse(overrides)
        plain_overrides = [o for o in parsed if _is_plain(o)]
        # the shape: every non-plain override, and which plain keys are overridden (their values differ)
        shape_lines = tuple(o.input_line if not _is_plain(o) else f"{o.key_or_group}=*" for o in parsed)
        shape = self._shape(shape_lines, overrides)
        values = None
        if shape.exact:
            try:
                values = {k: node._value() for k, node in shape.plain.items()}
                for o in plain_overrides:  # as OmegaConf assigns it: checked and converted by the typed node
                    node = copy.copy(shape.plain[o.key_or_group])
                    node._set_value(o.value())
                    values[o.key_or_group] = node._value()
            except Exception:  # noqa: BLE001 - compose the job, so that Hydra raises its own error
                values = None
        if values is None:
            cfg, choices, lines = self._compose(overrides)
            values = {k: cfg[k] for k in PLAIN if k in cfg}
            resolved = resolved_config(cfg)
            parts = override_parts(cfg, [o for o in self._parse(lines) if not _is_plain(o)])
        else:
            resolved = {**shape.resolved, **{k: v for k, v in values.items() if k in shape.resolved}}
            parts = shape.parts
        key = job_key(shape.choices, values, parts)
        error = shape.error
        if error is None:
            try:
                check_plain_keys(_Values(values))
            except ConfigError as exc:
                error = exc
        return PlannedJob(idx, list(overrides), key, config_hash(resolved), error=error, rows=shape.rows,
                          choices=shape.choices, seed=values.get("seed"))

    def plan(self, jobs: List[List[str]], finished_hash=None, subdir=None) -> List[PlannedJob]:
        """Every job's PlannedJob; with finished_hash(job_dir) and subdir(idx), marks finished jobs done."""
        plans = []
        for idx, overrides in enumerate(jobs):
            p = self.job(idx, overrides)
            if finished_hash is not None and p.error is None:
                p.done = finished_hash(subdir(idx)) == p.config_hash
            plans.append(p)
        return plans


class _Values:
    """Attribute access to a dict of plain values, for check_plain_keys."""

    def __init__(self, values: Dict[str, Any]) -> None:
        self.__dict__.update(values)


def _is_plain(o: Override) -> bool:
    """A change of a plain top-level key (seed=3): applied per job, on top of its shape."""
    return o.type == OverrideType.CHANGE and o.package is None and o.key_or_group in PLAIN and not o.is_sweep_override()


def _interpolates(cfg: DictConfig) -> bool:
    """Whether any value of the config is an interpolation (then a plain key can change other values)."""
    def walk(node) -> bool:
        if node._is_interpolation():
            return True
        if OmegaConf.is_dict(node) and not node._is_none() and not node._is_missing():
            return any(walk(node._get_node(k)) for k in node.keys())
        if OmegaConf.is_list(node) and not node._is_none() and not node._is_missing():
            return any(walk(node._get_node(i)) for i in range(len(node)))
        return False
    return walk(cfg)


def job_dir(sweep_dir: Path, config: DictConfig, idx: int) -> Path:
    """The directory of job number idx: hydra.sweep.subdir (default `${hydra.job.num}`) under the sweep."""
    raw = OmegaConf.to_container(config.hydra.sweep, resolve=False)["subdir"]
    if raw == "${hydra.job.num}":
        return sweep_dir / str(idx)
    probe = OmegaConf.create({"hydra": {"job": {"num": idx, "id": idx}, "sweep": {"subdir": raw}}})
    try:
        return sweep_dir / str(probe.hydra.sweep.subdir)
    except Exception:  # noqa: BLE001 - depends on what only the launcher knows: never counts as done
        return sweep_dir / f".unresolvable-{idx}"
