"""Compose a sweep's job configs without running Hydra's whole composition for every job.

Hydra's launchers call ``config_loader.load_sweep_config(master, overrides)`` for every job: each
call re-reads every YAML file, rebuilds the defaults tree and re-merges the schema (about 150 ms
here). This loader wraps Hydra's own and returns an identical config in about a millisecond:

* a job's overrides are split into *structural* ones (group additions, package overrides,
  `+experiment=...`, hydra overrides: anything that can change the defaults tree) and *simple*
  ones (a plain choice of a config group, or a value);
* Hydra composes the structural part once (the base) and base + each chosen option once, both
  through its public `load_sweep_config`; an option is used only if it changed nothing but its own
  group node, otherwise every job with that option is composed by Hydra;
* a job's config = the base with its chosen group nodes put in, its value overrides applied by
  Hydra's own function, and the `hydra` fields that depend on overrides filled as Hydra fills them.

`task_config` does the same without the large `hydra` node, for planning: a sweep's plan holds only
each job's key and hash, and configs are composed again when jobs launch.
tests/test_fastcompose.py checks the result against Hydra's compose, job by job.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, Node, OmegaConf, flag_override, open_dict

from runner.sweep.configcopy import copy_config as _copy
from runner.sweep.hydra_private import apply_overrides, get_overrides_dirname

log = logging.getLogger(__name__)
TEMPLATES_KEPT = 16  # configs with their group nodes in, for choices that repeat (oldest dropped first)


class FastSweepConfigLoader:
    """Wraps a Hydra ConfigLoader; everything but load_sweep_config (and the added task_config) is
    delegated unchanged."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self._parser = OverridesParser.create()
        self._base: Dict[Tuple[str, ...], DictConfig] = {}
        self._task_base: Dict[Tuple[str, ...], DictConfig] = {}
        self._nodes: Dict[Tuple[Tuple[str, ...], str, str], Optional[Any]] = {}
        self._parsed: Dict[str, Override] = {}
        self._templates: Dict[Tuple[Any, ...], DictConfig] = {}
        self._seen: set = set()
        self.counts = {"fast": 0, "hydra": 0, "fallback": 0}  # configs by path; logged at debug level

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __getstate__(self):  # parallel launchers pickle the loader into workers: ship the caches along
        return {"inner": self.inner, "base": self._base, "nodes": self._nodes}

    def __setstate__(self, state):
        FastSweepConfigLoader.__init__(self, state["inner"])
        self._base, self._nodes = state["base"], state["nodes"]

    # -- splitting -------------------------------------------------------------------------------
    def _parse(self, lines: Sequence[str]) -> List[Override]:
        """Hydra's parse of each override line, once per distinct line (a sweep repeats them)."""
        for line in lines:
            if line not in self._parsed:
                self._parsed[line] = self._parser.parse_overrides([line])[0]
        return [self._parsed[line] for line in lines]

    def _split(self, overrides: Sequence[Override], base_choices) -> Tuple[list, list, list]:
        """(structural, simple group choices, value overrides), each in command-line order."""
        structural, choices, values = [], [], []
        for o in overrides:
            if o.is_hydra_override() or o.is_sweep_override():
                structural.append(o)
            elif self.inner.repository.group_exists(o.key_or_group):
                simple = (o.type == OverrideType.CHANGE and o.package is None
                          and isinstance(o.value(), str) and "/" not in o.key_or_group
                          and o.key_or_group in base_choices)
                (choices if simple else structural).append(o)
            else:
                values.append(o)
        return structural, choices, values

    # -- composition -----------------------------------------------------------------------------
    def _hydra_compose(self, master: DictConfig, overrides: List[str]) -> DictConfig:
        self.counts["hydra"] += 1
        return self.inner.load_sweep_config(master, overrides)

    def _base_config(self, master: DictConfig, structural: Tuple[str, ...]) -> Optional[DictConfig]:
        """Hydra's config for the structural overrides alone; None if that alone does not compose (a
        mandatory group the jobs choose): then Hydra composes each job whole."""
        if structural not in self._base:
            try:
                self._base[structural] = self._hydra_compose(master, list(structural))
            except Exception:  # noqa: BLE001 - the job's own composition raises any real error
                self._base[structural] = None
        return self._base[structural]

    def _node(self, master: DictConfig, structural: Tuple[str, ...], group: str, option: str):
        """The composed group node for this option, or None if the option reaches outside its node."""
        key = (structural, group, option)
        if key not in self._nodes:
            base = self._base[structural]
            with_option = self._hydra_compose(master, list(structural) + [f"{group}={option}"])
            node = with_option._get_node(group) if _only_node_differs(base, with_option, group) else None
            self._nodes[key] = _detached(node) if node is not None else None
        return self._nodes[key]

    def _with_nodes(self, base: DictConfig, key: Tuple[Any, ...], nodes: Dict[str, Tuple[str, Any]]) -> DictConfig:
        """A private copy of base with the chosen group nodes in; kept as a template once a choice repeats."""
        if key in self._templates:
            return _copy(self._templates[key])
        cfg = _copy(base)
        with flag_override(cfg, "no_deepcopy_set_nodes", True):  # each node is a fresh copy of its own
            for group, (_, node) in nodes.items():
                cfg[group] = _copy(node)
        if nodes and key in self._seen:  # second job with these choices (e.g. a seed sweep): keep a template
            self._templates[key] = _copy(cfg)
            while len(self._templates) > TEMPLATES_KEPT:
                self._templates.pop(next(iter(self._templates)))
        self._seen.add(key)
        return cfg

    def _compose(self, master: DictConfig, sweep_overrides: List[str], task_only: bool):
        """(config, parsed overrides, chosen nodes, structural lines), or None where Hydra must compose
        this job itself."""
        parsed = self._parse(list(sweep_overrides))
        default = self._base_config(master, ())
        if default is None:
            return None
        structural, choices, values = self._split(parsed, default.hydra.runtime.choices)
        structural_lines = tuple(o.input_line for o in structural)
        if self._base_config(master, structural_lines) is None:
            return None
        nodes = {}
        for o in choices:
            node = self._node(master, structural_lines, o.key_or_group, o.value())
            if node is None:
                return None
            nodes[o.key_or_group] = (o.value(), node)
        base = self._base_config(master, structural_lines)
        if task_only:
            if structural_lines not in self._task_base:
                task = _copy(base)
                with open_dict(task):
                    del task["hydra"]
                self._task_base[structural_lines] = task
            base = self._task_base[structural_lines]
        cfg = self._with_nodes(base, (task_only, structural_lines, tuple((g, o) for g, (o, _) in nodes.items())), nodes)
        try:
            apply_overrides(values, cfg)
        except Exception as exc:  # noqa: BLE001 - Hydra composes this job and raises its own error
            log.warning("fast composition fell back to Hydra for %s: %s", " ".join(sweep_overrides), exc)
            self.counts["fallback"] += 1
            return None
        return cfg, parsed, nodes, structural_lines

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        composed = self._compose(master_config, sweep_overrides, task_only=False)
        if composed is None:
            return self._hydra_compose(master_config, list(sweep_overrides))
        cfg, parsed, nodes, _ = composed
        app_overrides = [o for o in parsed if not o.is_hydra_override()]
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in app_overrides]
            for group, (option, _) in nodes.items():
                cfg.hydra.runtime.choices[group] = option
            dirname = cfg.hydra.job.config.override_dirname
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app_overrides, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep,
                exclude_keys=dirname.exclude_keys)
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        self.counts["fast"] += 1
        return cfg

    def task_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> Tuple[DictConfig, Dict[str, str], List[str]]:
        """(the job's config without its hydra node, group choices, task override lines): what planning needs."""
        composed = self._compose(master_config, sweep_overrides, task_only=True)
        if composed is None:
            full = self._hydra_compose(master_config, list(sweep_overrides))
            return split_task_config(full)
        cfg, parsed, nodes, structural_lines = composed
        choices = dict(self._base[structural_lines].hydra.runtime.choices)
        choices.update({group: option for group, (option, _) in nodes.items()})
        self.counts["fast"] += 1
        return cfg, choices, [o.input_line for o in parsed if not o.is_hydra_override()]

    def choices(self, master_config: DictConfig, sweep_overrides: List[str]) -> Dict[str, str]:
        """The job's group choices, from its parsed overrides and the base it builds on."""
        parsed = self._parse(list(sweep_overrides))
        default = self._base_config(master_config, ())
        structural, choices, _ = self._split(parsed, default.hydra.runtime.choices) if default else ([], [], [])
        base = self._base_config(master_config, tuple(o.input_line for o in structural))
        if default is None or base is None:
            return dict(self._hydra_compose(master_config, list(sweep_overrides)).hydra.runtime.choices)
        out = dict(base.hydra.runtime.choices)
        out.update({o.key_or_group: o.value() for o in choices})
        return out

    def log_counts(self) -> None:
        log.debug("job configs: %(fast)d composed fast, %(hydra)d by Hydra, %(fallback)d fallbacks", self.counts)


def split_task_config(full: DictConfig) -> Tuple[DictConfig, Dict[str, str], List[str]]:
    """(config without hydra, group choices, task override lines) of a config Hydra composed."""
    choices = dict(full.hydra.runtime.choices)
    lines = list(full.hydra.overrides.task)
    with open_dict(full):
        del full["hydra"]
    return full, choices, lines


def _detached(node: Node) -> Node:
    """A copy of a composed group node without its parent: copying it later copies only the node."""
    out = copy.deepcopy(node)
    out._set_parent(None)
    return out


def _only_node_differs(base: DictConfig, other: DictConfig, group: str) -> bool:
    """True if `other` equals `base` outside `group` (and Hydra's record of the choice and overrides)."""
    a = OmegaConf.to_container(base, resolve=False)
    b = OmegaConf.to_container(other, resolve=False)
    for c in (a, b):
        c.pop(group, None)
        c["hydra"]["runtime"]["choices"].pop(group, None)
        c["hydra"]["overrides"]["task"] = []
        c["hydra"]["job"]["override_dirname"] = ""
    return (a == b and list(base.keys()) == list(other.keys()) and group in base.keys()
            and OmegaConf.get_type(base, group) is OmegaConf.get_type(other, group))
