"""Every `_target_` of a job must be importable: found while planning, before any job runs.

A misspelt class (`torch.nn.Linaer`) would otherwise become a `failed` job at run time; here it is a
config error with one line naming the key, what could not be imported, and the closest names that can.
Importing a target imports its module (torch, for torch.nn classes): done once per sweep shape.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Iterator, Tuple

from runner.errors import ConfigError, exception_text

WHERE_FROM = "the module must be importable from the working directory or PYTHONPATH"


def _targets(node: Any, path: str) -> Iterator[Tuple[str, str]]:
    """(dotted key, target) of every `_target_` in a nested mapping/list of plain values."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str):
            yield f"{path}._target_", target
        for k, v in node.items():
            yield from _targets(v, f"{path}.{k}")
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _targets(v, f"{path}[{i}]")


def locate(target: str) -> Any:
    """The object a dotted path names, as Hydra's instantiate finds it; a ConfigError-ready message if none."""
    parts = target.split(".")
    if not target or not all(parts):
        raise LookupError(f"'{target}' is not a dotted path")
    module, depth, error = None, 0, None
    for depth in range(len(parts), 0, -1):  # the longest importable module prefix
        name = ".".join(parts[:depth])
        try:
            module = importlib.import_module(name)
            break
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name) and not exc.name.startswith(name):
                raise LookupError(f"importing '{name}' failed: {exception_text(exc)}") from None
            error = exc
        except Exception as exc:  # noqa: BLE001 - the module exists but raised while importing
            raise LookupError(f"importing '{name}' failed: {exception_text(exc)}") from None
    if module is None:
        raise LookupError(f"no module named '{parts[0]}' ({exception_text(error)})" if error else target)
    obj = module
    for i in range(depth, len(parts)):
        if not hasattr(obj, parts[i]):
            owner = ".".join(parts[:i])
            near = difflib.get_close_matches(parts[i], [n for n in dir(obj) if not n.startswith("_")], n=3)
            hint = f"; did you mean {', '.join(f'{owner}.{n}' for n in near)}?" if near else ""
            raise LookupError(f"'{owner}' has no attribute '{parts[i]}'{hint}")
        obj = getattr(obj, parts[i])
    return obj


def check_targets(containers: dict, where: str) -> None:
    """Raise ConfigError for the first `_target_` in `containers` ({key: plain mapping}) that cannot be imported."""
    for key, node in containers.items():
        for path, target in _targets(node, key):
            try:
                locate(target)
            except LookupError as exc:
                raise ConfigError(f"{where}: {path}",
                                  f"cannot import {target}: {exc}; allowed: an importable class or function "
                                  f"path such as torch.nn.Linear ({WHERE_FROM})") from None


def check_job_targets(cfg, variant_file: str) -> None:
    """The `_target_`s of a composed job config (the variant's model, the optimizer)."""
    from omegaconf import OmegaConf
    for key, where in (("variant.model", variant_file), ("optimizer", "optimizer")):
        node = OmegaConf.select(cfg, key)
        if node is not None:
            check_targets({key: OmegaConf.to_container(node, resolve=True)}, where)
