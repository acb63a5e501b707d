"""lifecycle.meta_init: what each tensor holds after the way large models are loaded.

Build the module under `torch.device("meta")` (same seed), `to_empty(device=<job device>)`,
`load_state_dict(trained state_dict, strict=True)`; then, from another meta build,
`load_state_dict(..., assign=True)`. Outcomes are decided by cause, never by equal values alone:
`to_empty` runs with torch's deterministic fill of uninitialised memory (NaN, the largest integer),
so a value nothing wrote is known; a second build starts from other known values and loads a state_dict
whose every value was changed. `restored`: the value follows the state_dict in both; `recomputed`: it
equals a fresh eager build of the same seed in both (so something wrote it: the fills differ);
`uninitialized`: neither, on the device; `on_meta`: still on meta.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve, same_value, snapshot


@contextlib.contextmanager
def filled_uninitialized_memory() -> Iterator[None]:
    """torch.empty* fills new memory with NaN / the dtype's largest value while this is active
    (torch.use_deterministic_algorithms + torch.utils.deterministic.fill_uninitialized_memory)."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def changed(state: Dict[str, Any]) -> Dict[str, Any]:
    """The state_dict with every tensor value changed (+1; bool negated), other entries as they are."""
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            value = ~value if value.dtype == torch.bool else value + 1
        out[key] = value
    return out


def _meta_build(build: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return build()


def _other_fill(t: torch.Tensor) -> Any:
    """A second known content for new memory, unequal to torch's fill (NaN, the largest integer)."""
    if t.dtype == torch.bool:
        return True  # bool has two values: keep torch's, so `restored` (True, then ~True) cannot be faked
    if t.is_floating_point() or t.is_complex():
        return -7.0
    return 7


def _loaded(build: Callable[[], nn.Module], state: Dict[str, Any], device: torch.device, second: bool) -> nn.Module:
    """Meta build, to_empty, load. The second build fills the new memory with other known values: as
    to_empty does it (module._apply with a new tensor per tensor), so modules that react in _apply still do."""
    module = _meta_build(build)
    if second:
        module._apply(lambda t: torch.full_like(t, _other_fill(t), device=device))
    else:
        with filled_uninitialized_memory():
            module.to_empty(device=device)
    module.load_state_dict(state, strict=True)
    return module


def _classify(now: Optional[torch.Tensor], now_changed: Optional[torch.Tensor], trained: Optional[torch.Tensor],
              trained_changed: Optional[torch.Tensor], eager: Optional[torch.Tensor]) -> Optional[str]:
    if now is None:
        return None
    if now.device.type == "meta":
        return "on_meta"
    if trained is not None and same_value(now, trained) and same_value(now_changed, trained_changed):
        return "restored"
    if eager is not None and same_value(now, eager) and same_value(now_changed, eager):
        return "recomputed"
    return "uninitialized"


def _assign_kind(module: nn.Module, ref: TensorRef, t: Optional[torch.Tensor]) -> Optional[str]:
    if t is None:
        return None
    if t.device.type == "meta":
        return "on_meta"
    if isinstance(t, nn.Parameter):
        return "parameter"
    if not ref.keys and ref.attr in module.get_submodule(ref.module)._buffers:
        return "buffer"
    return "tensor"


def _forward_error(module: nn.Module, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> str:
    try:
        with torch.no_grad():
            module(*args, **kwargs)
    except Exception as exc:
        return exception_text(exc)
    return ""


def meta_init_outcomes(trained: nn.Module, refs: List[TensorRef], build: Callable[[], nn.Module],
                       device: torch.device, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, dict]:
    """Per path: meta_init, meta_init_error, meta_forward_error, assign_kind, assign_requires_grad,
    assign_error. `build()` constructs the module with the job's seed (and variant.dtype) on whatever
    device is current; it is called under `torch.device("meta")` and once plainly (the eager reference)."""
    out = {r.path: {"meta_init": None, "meta_init_error": "", "meta_forward_error": None, "assign_kind": None,
                    "assign_requires_grad": None, "assign_error": ""} for r in refs}
    try:
        state = {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in trained.state_dict().items()}
    except Exception as exc:  # a module whose state_dict() raises: nothing below can run
        for row in out.values():
            row.update(meta_init="error", meta_init_error=exception_text(exc), assign_error=exception_text(exc))
        return out
    trained_now = {r.path: snapshot(resolve(trained, r)) for r in refs}
    try:
        eager = build().to(device)
        eager_now = {r.path: snapshot(resolve(eager, r)) for r in refs}
        del eager
        first = _loaded(build, state, device, second=False)
        second = _loaded(build, changed(state), device, second=True)
    except Exception as exc:
        for row in out.values():
            row.update(meta_init="error", meta_init_error=exception_text(exc))
    else:
        for r in refs:
            t = trained_now[r.path]
            t_changed = None if t is None else changed({"t": t})["t"]
            out[r.path]["meta_init"] = _classify(resolve(first, r), resolve(second, r), t, t_changed,
                                                 eager_now[r.path])
        forward_error = _forward_error(first, args, kwargs)
        for row in out.values():
            row["meta_forward_error"] = forward_error
    try:
        assigned = _meta_build(build)
        assigned.load_state_dict({k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()},
                                 strict=True, assign=True)
    except Exception as exc:
        for row in out.values():
            row["assign_error"] = exception_text(exc)
        return out
    for r in refs:
        t = resolve(assigned, r)
        out[r.path].update(assign_kind=_assign_kind(assigned, r, t),
                           assign_requires_grad=None if t is None else t.requires_grad)
    return out
