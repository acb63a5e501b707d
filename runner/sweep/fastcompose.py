"""Compose a sweep's job configs without re-running Hydra's whole composition for every job.

Hydra's launchers call ``config_loader.load_sweep_config(master, overrides)``
for every job, and the basic sweeper does it once more to validate the batch:
each call re-reads every YAML file, rebuilds the defaults tree and re-merges
the schema (about 150 ms here). This loader wraps Hydra's own loader and
returns an identical config faster:

* the overrides of a job are split into *structural* ones (group additions,
  package overrides, `+experiment=...`, hydra overrides: anything that can
  change the defaults tree) and *simple* ones (a plain choice of a config
  group, or a value);
* Hydra composes the structural part once (cached); an option's group node is
  merged from Hydra's defaults list by runner.groupfold where that provably
  gives Hydra's node, else Hydra composes base + option once per (group,
  option);
* such an option composition is used only if it changed nothing but its own
  group node (checked against the base config); otherwise every job with that
  option is composed by Hydra itself;
* a job's config = the base with its chosen group nodes put in, its value
  overrides applied by Hydra's own `_apply_overrides_to_config`, and the
  `hydra` fields that depend on overrides filled exactly as Hydra does;
* the compositions Hydra still does share one of its CachingConfigRepository
  (each YAML file is read and parsed once per sweep, not once per composition);
  every read hands out a copy, because composing moves nodes out of what it read.

tests/test_fastcompose.py checks the result against Hydra's compose, job by job.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.config_repository import CachingConfigRepository, ConfigResult
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType

from omegaconf import DictConfig, Node, OmegaConf, flag_override, open_dict

from runner.sweep.configcopy import copy_config as _copy
from runner.sweep.groupfold import BaseTree, GroupFold

TEMPLATES_KEPT = 16  # configs with their group nodes in, for choices that repeat (oldest dropped first)


class FastSweepConfigLoader:
    """Wraps a Hydra ConfigLoader; everything but load_sweep_config is delegated unchanged."""

    def __init__(self, inner: ConfigLoaderImpl) -> None:
        self.inner = inner
        self._parser = OverridesParser.create()
        self._base: Dict[Tuple[str, ...], DictConfig] = {}
        self._nodes: Dict[Tuple[Tuple[str, ...], str, str], Optional[Any]] = {}
        self._shared: Optional[_SharedRepositoryLoader] = None
        self._trees: Dict[Tuple[str, ...], BaseTree] = {}
        self._folds: Dict[Tuple[Tuple[str, ...], str], Optional[GroupFold]] = {}
        self._parsed: Dict[str, Override] = {}
        self._templates: Dict[Tuple[Any, ...], DictConfig] = {}
        self._seen: set = set()
        self.folded = 0              # option nodes composed by runner.groupfold instead of a full pass
        self.composed_by_hydra = 0   # how many job configs needed Hydra's full composition
        self.composed_fast = 0

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
    def _shared_loader(self) -> "_SharedRepositoryLoader":
        if self._shared is None:
            self._shared = _SharedRepositoryLoader(self.inner)
        return self._shared

    def _hydra_compose(self, master: DictConfig, overrides: List[str]) -> DictConfig:
        self.composed_by_hydra += 1
        return ConfigLoaderImpl.load_sweep_config(self._shared_loader(), master, overrides)

    def _base_config(self, master: DictConfig, structural: Tuple[str, ...]) -> DictConfig:
        if structural not in self._base:
            self._base[structural] = self._hydra_compose(master, list(structural))
        return self._base[structural]

    def _fold(self, master: DictConfig, structural: Tuple[str, ...], group: str) -> Optional[GroupFold]:
        """The group's fold for this base; None if building it failed (Hydra then composes those jobs)."""
        key = (structural, group)
        if key not in self._folds:
            base = self._base_config(master, structural)  # Hydra's own errors surface here, unchanged
            try:
                if structural not in self._trees:
                    overrides = list(master.hydra.overrides.hydra) + list(structural)
                    self._trees[structural] = BaseTree(self._shared_loader(), master.hydra.job.config_name,
                                                       overrides)
                self._folds[key] = GroupFold(self._trees[structural], group, base._get_node(group))
            except Exception:  # noqa: BLE001 - a tree this shortcut cannot read: no shortcut
                self._folds[key] = None
        return self._folds[key]

    def _node(self, master: DictConfig, structural: Tuple[str, ...], group: str, option: str):
        """The composed group node for this option, or None if the option reaches outside its node."""
        key = (structural, group, option)
        if key not in self._nodes:
            fold = self._fold(master, structural, group)
            node = fold.node(option) if fold is not None else None
            if node is None:  # Hydra composes base + option; used if only the option's node changed
                base = self._base_config(master, structural)
                with_option = self._hydra_compose(master, list(structural) + [f"{group}={option}"])
                node = with_option._get_node(group) if _only_node_differs(base, with_option, group) else None
            else:
                self.folded += 1
            self._nodes[key] = _detached(node) if node is not None else None
        return self._nodes[key]

    def _parse(self, lines: Sequence[str]) -> List[Override]:
        """Hydra's parse of each override line, once per distinct line (a sweep repeats them)."""
        for line in lines:
            if line not in self._parsed:
                self._parsed[line] = self._parser.parse_overrides([line])[0]
        return [self._parsed[line] for line in lines]

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

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        parsed = self._parse(list(sweep_overrides))
        default_choices = self._base_config(master_config, ()).hydra.runtime.choices
        structural, choices, values = self._split(parsed, default_choices)
        structural_lines = tuple(o.input_line for o in structural)
        nodes = {}
        for o in choices:
            node = self._node(master_config, structural_lines, o.key_or_group, o.value())
            if node is None:
                return self._hydra_compose(master_config, list(sweep_overrides))
            nodes[o.key_or_group] = (o.value(), node)
        key = (structural_lines, tuple((g, option) for g, (option, _) in nodes.items()))
        cfg = self._with_nodes(self._base_config(master_config, structural_lines), key, nodes)
        try:
            ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
        except Exception:  # let Hydra raise its own error for this job
            return self._hydra_compose(master_config, list(sweep_overrides))
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
        self.composed_fast += 1
        return cfg


class _CopyOnReadRepository(CachingConfigRepository):
    """Hydra's caching repository, kept for a whole sweep; each read returns a private copy."""

    def load_config(self, config_path: str) -> Optional[ConfigResult]:
        ret = super().load_config(config_path)
        if ret is None:
            return None
        out = copy.copy(ret)
        out.config = _copy(ret.config)
        out.header = dict(ret.header)
        out.defaults_list = copy.deepcopy(ret.defaults_list)
        return out


class _SharedRepositoryLoader(ConfigLoaderImpl):
    """Hydra's own loader, except that every composition reads through one shared repository
    per (primary config, hydra.searchpath override)."""

    def __init__(self, inner: ConfigLoaderImpl) -> None:  # noqa: super().__init__ would rebuild the sources
        self.__dict__.update(inner.__dict__)
        self._repos: Dict[Tuple[Optional[str], Tuple[str, ...]], CachingConfigRepository] = {}

    def _parse_overrides_and_create_caching_repo(self, config_name, overrides):
        parsed = OverridesParser.create().parse_overrides(overrides=overrides)
        key = (config_name, tuple(o.input_line for o in parsed if o.get_key_element() == "hydra.searchpath"))
        if key not in self._repos:
            repo = _CopyOnReadRepository(self.repository)
            self._process_config_searchpath(config_name, parsed, repo)
            self._repos[key] = repo
        return parsed, self._repos[key]


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
    return (a == b and list(base.keys()) == list(other.keys())
            and OmegaConf.get_type(base, group) is OmegaConf.get_type(other, group))
