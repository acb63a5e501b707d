"""Canonical job key and config hash: what a job *is*, not where or when it ran."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, Dict, Iterable, Mapping, Tuple

from runner.schema import GROUPS, PLAIN_KEYS, Config


@dataclass(frozen=True)
class JobIdentity:
    """What names a job in the table, independent of where it ran."""
    key: str                  # canonical job key (job_key)
    choices: Dict[str, str]   # group -> chosen option
    config_hash: str          # hash of the resolved job config (config_hash)


def render(value: Any) -> str:
    """Compact, stable text of a config value (lists/dicts as compact JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def job_key(choices: Mapping[str, str], plain: Mapping[str, Any],
            nested_overrides: Iterable[Tuple[str, Any]] = ()) -> str:
    """Group choices, plain top-level keys that differ from their default, and dotted overrides; sorted, comma-joined.

    Plain keys are compared with the schema default rather than read from the
    command line, so ``steps=1`` typed out and the default give one key.
    """
    defaults = {f.name: f.default for f in fields(Config) if f.name in PLAIN_KEYS}
    parts = [f"{g}={choices[g]}" for g in GROUPS]
    parts += [f"{k}={render(plain[k])}" for k in PLAIN_KEYS if plain[k] != defaults[k]]
    parts += [f"{k}={render(v)}" for k, v in nested_overrides]
    return ",".join(sorted(set(parts)))


def config_hash(config: Dict[str, Any]) -> str:
    """Short sha256 of the resolved job config (without the hydra node)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
