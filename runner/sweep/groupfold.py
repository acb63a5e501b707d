"""Compose one config group's node without merging the rest of the config.

Hydra composes a config by merging every entry of its defaults list in order,
most of it the large `hydra` node. When a job only picks another option of a
group (`variant=buffer`), and Hydra's own defaults list for that job equals the
base's with that one entry swapped, the group's node is the in-order merge of
just the entries that contain the group key. This module computes that merge
with Hydra's own loading code (`_load_single_config`, `create_defaults_list`).

It refuses (returns None, and the caller lets Hydra compose) unless:
* Hydra's defaults list for the job can only be the base's with the option's
  path swapped in: no interpolated defaults in the tree, no `override` of
  the group, neither option pulls in other configs or sets a package
  (tests/test_fastcompose.py holds this to Hydra's own defaults list);
* the option lands in its own package (`group`), brings no `defaults` key;
* folding the base's own option reproduces the base config's node exactly
  (values, node classes, metadata, flags): checked once per group, so a
  config tree this shortcut does not model is never composed by it.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.config_repository import CachingConfigRepository
from hydra._internal.defaults_list import create_defaults_list
from hydra.core.default_element import ResultDefault
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import Container, DictConfig, Node, OmegaConf, flag_override
from omegaconf.errors import OmegaConfBaseException

from runner.sweep.configcopy import copy_config as _copy


def _entry(d: ResultDefault) -> Tuple[Any, ...]:
    return (d.config_path, d.package, d.parent, d.is_self, d.primary, d.override_key)


class BaseTree:
    """Per base (primary config + structural overrides): Hydra's defaults list and each entry, loaded once."""

    def __init__(self, loader: ConfigLoaderImpl, config_name: Optional[str], overrides: List[str]) -> None:
        self.loader, self.config_name = loader, config_name
        self.parsed, self.repo = loader._parse_overrides_and_create_caching_repo(config_name, overrides)
        # Building a defaults list only reads headers and defaults lists, never a config's nodes: it may
        # read through a plain cache, without the copy per read that merging needs.
        self.list_repo = CachingConfigRepository(loader.repository)
        loader._process_config_searchpath(config_name, self.parsed, self.list_repo)
        self.defaults = self.defaults_list([])
        self.loaded = [loader._load_single_config(default=d, repo=self.repo).config for d in self.defaults]

    def defaults_list(self, extra: List[str]) -> List[ResultDefault]:
        parsed = self.parsed + OverridesParser.create().parse_overrides(extra) if extra else self.parsed
        return create_defaults_list(repo=self.list_repo, config_name=self.config_name, overrides_list=parsed,
                                    prepend_hydra=True, skip_missing=False).defaults


class GroupFold:
    """Per (base, group): where the group's option sits in the defaults list, the other entries' share."""

    def __init__(self, tree: BaseTree, group: str, base_node: Node) -> None:
        self.tree, self.group = tree, group
        self.loader, self.repo, self.list_repo, self.defaults = tree.loader, tree.repo, tree.list_repo, tree.defaults
        slots = [i for i, d in enumerate(self.defaults) if d.package == group and not d.is_self and not d.primary]
        self.slot = slots[0] if len(slots) == 1 else None
        self.shares: Dict[int, DictConfig] = {  # the other entries' share of the group, in list order
            i: OmegaConf.masked_copy(loaded, [group]) for i, loaded in enumerate(tree.loaded)
            if i != self.slot and group in loaded.keys()}  # (`in` is False for a MISSING schema field)
        try:
            self.ok = self.slot is not None and same_node(self._fold(self.defaults[self.slot]), base_node)
            self.plain = self.ok and self._plain_tree()
        except Exception:  # noqa: BLE001 - a tree this shortcut cannot read: Hydra composes every option
            self.ok = self.plain = False

    def _fold(self, option_entry: ResultDefault) -> Optional[Node]:
        """Merge, in defaults-list order, each entry's share of the group (the option's entry swapped in)."""
        cfg = OmegaConf.create()
        with flag_override(cfg, "no_deepcopy_set_nodes", True):  # as Hydra merges: moves, so merge copies
            for i in sorted([*self.shares, self.slot]):
                if i != self.slot:
                    cfg.merge_with(_copy(self.shares[i]))
                    continue
                loaded = self.loader._load_single_config(default=option_entry, repo=self.repo).config
                if set(loaded.keys()) != {self.group} or "defaults" in loaded[self.group]:
                    return None
                cfg.merge_with(loaded)
        return cfg._get_node(self.group)

    def _plain_tree(self) -> bool:
        """The base tree has no interpolated defaults, no `override` of this group, and its option pulls
        in nothing: then a plain choice of another option can only swap the option's own entry."""
        for d in self.defaults:
            if d.config_path is None:
                return False
            for idef in self.list_repo.load_config(d.config_path).defaults_list or []:
                fields = [getattr(idef, name, None) for name in ("path", "group", "value", "package")]
                if any("${" in str(f) for f in fields if f is not None):  # raw entries: read, not resolved
                    return False
                group = str(getattr(idef, "group", "") or "").lstrip("/")
                if idef.is_override() and (group == self.group or group.endswith("/" + self.group)):
                    return False
        return self._pulls_nothing(self.defaults[self.slot].config_path)

    def _pulls_nothing(self, config_path: str) -> bool:
        res = self.list_repo.load_config(config_path)
        return (res is not None and res.header.get("package") is None
                and all(idef.is_self() for idef in res.defaults_list or []))

    def option_entry(self, option: str) -> Optional[ResultDefault]:
        """The defaults-list entry of `group=option`: the base's entry with the option's path, if Hydra's
        defaults list for the job can differ from the base's in nothing else (else None)."""
        config_path = f"{self.group}/{option}"
        try:
            if not (self.plain and self._pulls_nothing(config_path)):
                return None
        except Exception:  # noqa: BLE001 - an unreadable option: Hydra composes the job and raises its error
            return None
        return dataclasses.replace(self.defaults[self.slot], config_path=config_path)

    def defaults_list_agrees(self, option: str) -> bool:
        """Hydra's own defaults list for `group=option` is the base's with option_entry swapped in
        (the slow, exact check; the tests hold option_entry to it)."""
        entry = self.option_entry(option)
        expected = [entry if i == self.slot else d for i, d in enumerate(self.defaults)]
        return entry is not None and [_entry(d) for d in self.tree.defaults_list([f"{self.group}={option}"])] == [
            _entry(d) for d in expected]

    def node(self, option: str) -> Optional[Node]:
        """The group's node for `group=option`, or None where Hydra must compose the job itself."""
        entry = self.option_entry(option) if self.ok else None
        if entry is None:
            return None
        try:
            return self._fold(entry)
        except OmegaConfBaseException:
            return None


def same_node(a: Any, b: Any) -> bool:
    """Node classes, metadata (types, flags, keys) and values equal, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Node):
        ma, mb = copy.copy(a._metadata), copy.copy(b._metadata)
        ma.resolver_cache = mb.resolver_cache = None
        if ma != mb:
            return False
    if not isinstance(a, Container) or a._is_none() or a._is_missing() or a._is_interpolation():
        return a._value() == b._value()
    ka = list(a.keys()) if isinstance(a, DictConfig) else list(range(len(a)))
    kb = list(b.keys()) if isinstance(b, DictConfig) else list(range(len(b)))
    return ka == kb and all(same_node(a._get_node(k), b._get_node(k)) for k in ka)
