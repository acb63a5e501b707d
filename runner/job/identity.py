"""What a job *is*, not where or when it ran: its canonical key and the hash of its config.

The key is built from the job's group choices, the plain keys that differ from their schema default,
and every other command-line override as Hydra parses it (additions, changes and deletions: `~key`),
so two different configs never share a key; the hash covers the whole resolved config.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, Dict, Iterable, List, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from runner.schema import GROUPS, OPTIONAL_GROUPS, PLAIN_KEYS, Config, DistributedConfig, LifecycleConfig

NOT_IDENTITY = ("dry_run",)  # keys that change how a sweep runs, not what a job is
PLAIN_DEFAULTS = {f.name: f.default for f in fields(Config) if f.name in PLAIN_KEYS}


@dataclass(frozen=True)
class JobIdentity:
    """What names a job in the table, independent of where it ran."""
    key: str                  # canonical job key (job_key)
    choices: Dict[str, str]   # group -> chosen option
    config_hash: str          # hash of the resolved job config (config_hash)


def render(value: Any) -> str:
    """Compact, stable text of a config value (lists/dicts as compact JSON)."""
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=lambda v: getattr(v, "name", str(v)))


def job_key(choices: Mapping[str, str], plain: Mapping[str, Any], override_parts: Iterable[str] = ()) -> str:
    """Group choices, plain top-level keys that differ from their schema default, and the other
    overrides' parts (`key=value`, `~key`, `+group=option`); sorted, comma-joined.

    Plain keys are compared with the schema default rather than read from the command line, so
    `steps=1` typed out and the default give one key.
    """
    parts = [f"{g}={choices[g]}" for g in GROUPS]
    parts += [f"{g}={choices[g]}" for g, default in OPTIONAL_GROUPS.items() if choices.get(g, default) != default]
    parts += [f"{k}={render(plain[k])}" for k in PLAIN_KEYS if plain[k] != PLAIN_DEFAULTS[k]]
    parts += list(override_parts)
    return ",".join(sorted(set(parts)))


def parse(lines: Sequence[str]) -> List[Override]:
    """Hydra's own parse of command-line override lines."""
    return OverridesParser.create().parse_overrides(list(lines)) if lines else []


def override_parts(cfg: DictConfig, overrides: Sequence[Override]) -> List[str]:
    """Key parts of the overrides that are neither a group choice nor a plain key, from Hydra's parse:
    a deletion is `~key`; a value is `key=<its resolved value in the job's config>`; a config group
    added to the defaults (`+experiment=seeds`, no key of that name in the config) is kept as typed."""
    parts = []
    for o in overrides:
        key = o.key_or_group
        if o.is_hydra_override() or key in (*GROUPS, *OPTIONAL_GROUPS, *PLAIN_KEYS, *NOT_IDENTITY):
            continue
        if o.is_delete():
            parts.append(f"~{key}")
            continue
        node = OmegaConf.select(cfg, key, default=_ABSENT)
        if node is _ABSENT:
            parts.append(o.input_line)
        else:
            value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
            parts.append(f"{key}={render(value)}")
    return parts


_ABSENT = object()


def resolved_config(cfg: DictConfig) -> Dict[str, Any]:
    """The job's config as plain data, interpolations resolved, without the hydra node and the keys
    that are not part of a job's identity: what config_hash hashes. An opt-in node left at its
    defaults (`lifecycle`, `distributed=none`) is left out too, so jobs that enable nothing keep the
    hashes they had before the node existed (resume still finds their results)."""
    out = {k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
           for k in cfg if k != "hydra" and k not in NOT_IDENTITY}
    for key, defaults in OPT_IN_DEFAULTS.items():
        if key in out and _plain(out[key]) == defaults:
            del out[key]
    return out


def _plain(value: Any) -> Any:
    """Enum members as their names, so a typed node and its YAML text compare equal."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.name if isinstance(value, Enum) else value


OPT_IN_DEFAULTS = {"lifecycle": _plain(asdict(LifecycleConfig())),
                   "distributed": _plain(asdict(DistributedConfig()))}


def job_choices(choices: Mapping[str, Any]) -> Dict[str, str]:
    """The group choices a job is named by: every group, and the optional ones (their default where a
    config predates them)."""
    out = {g: str(choices[g]) for g in GROUPS}
    out.update({g: str(choices.get(g) or default) for g, default in OPTIONAL_GROUPS.items()})
    return out


def identify(cfg: DictConfig, choices: Mapping[str, Any], task_overrides: Sequence[str]) -> JobIdentity:
    """JobIdentity from a job's config (without its hydra node), its group choices and its override lines."""
    choices = job_choices(choices)
    plain = {k: cfg[k] for k in PLAIN_KEYS}
    parts = override_parts(cfg, parse(task_overrides))
    return JobIdentity(job_key(choices, plain, parts), choices, config_hash(resolved_config(cfg)))


def config_hash(config: Dict[str, Any]) -> str:
    """Short sha256 of the resolved job config (without the hydra node)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
