"""lifecycle.strict_false: what `load_state_dict(strict=False)` does with a tensor whose kind changed.

The trained module's state_dict is loaded, with strict=False, into a fresh build (another seed, as
the restore stage) in which only this one tensor's slot was changed to another kind: parameter,
persistent buffer, non-persistent buffer or plain tensor attribute. The change is made on the
instance (the tensor moved from `_parameters` to `_buffers`, `_non_persistent_buffers_set` or
`__dict__`), which is all `state_dict`/`load_state_dict` consult, so it works for any module, not only
generic variants. The outcome is read from the returned `missing_keys`/`unexpected_keys` and, for
`loaded`, from the value (first made to differ from the trained one, so equal means written).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve, same_value, snapshot

# column -> (slot, persistent) of the loading module's tensor
TARGETS = {
    "strict_false_as_parameter": ("parameter", None),
    "strict_false_as_buffer": ("buffer", True),
    "strict_false_as_nonpersistent": ("buffer", False),
    "strict_false_as_tensor": ("tensor", None),
}


def kind_of(module: nn.Module, ref: TensorRef) -> tuple:
    """(slot, persistent) of the tensor at ref."""
    if ref.slot != "buffer":
        return ref.slot, None
    return "buffer", ref.attr not in module.get_submodule(ref.module)._non_persistent_buffers_set


def convert(module: nn.Module, ref: TensorRef, slot: str, persistent: Optional[bool]) -> TensorRef:
    """Hold the tensor at `ref` in another slot of its submodule (a copy of its value); the new ref."""
    sub = module.get_submodule(ref.module)
    value = resolve(module, ref).detach().clone()
    if ref.slot == "parameter":
        del sub._parameters[ref.attr]
    elif ref.slot == "buffer":
        del sub._buffers[ref.attr]
        sub._non_persistent_buffers_set.discard(ref.attr)
    else:
        del sub.__dict__[ref.attr]
    if slot == "parameter":
        sub.register_parameter(ref.attr, nn.Parameter(value, requires_grad=value.is_floating_point()
                                                      or value.is_complex()))
    elif slot == "buffer":
        sub.register_buffer(ref.attr, value, persistent=persistent)
    else:
        object.__setattr__(sub, ref.attr, value)  # a plain attribute, as `self.t = tensor` in __init__
    return TensorRef(ref.module, slot, ref.attr)


def _differ(t: torch.Tensor, trained: torch.Tensor) -> None:
    with torch.no_grad():
        t.copy_(~trained.to(t.device) if t.dtype == torch.bool else trained.to(t.device) + 1)


def strict_false_outcomes(trained: nn.Module, refs: List[TensorRef],
                          build_fresh: Callable[[], nn.Module]) -> Dict[str, dict]:
    """Per path and loading kind: `unexpected` (in unexpected_keys), `missing` (in missing_keys),
    `loaded` (neither, value written), `ignored` (neither listed nor written: silent), `error` (the
    conversion or the load raised, strict_false_error says why). Empty for the tensor's own kind and
    for tensors inside lists/dicts (no slot of another kind can hold them under that name)."""
    columns = {c: None for c in TARGETS}
    out = {r.path: {**columns, "strict_false_error": ""} for r in refs}
    try:
        state = trained.state_dict()
    except Exception as exc:  # a module whose state_dict() raises: no load can be tried
        for r in refs:
            if not r.keys:
                out[r.path].update({c: "error" for c in TARGETS if TARGETS[c] != kind_of(trained, r)},
                                   strict_false_error=f"state_dict: {exception_text(exc)}")
        return out
    for r in refs:
        if r.keys:
            continue
        value = snapshot(resolve(trained, r))
        own = kind_of(trained, r)
        errors = []
        for column, (slot, persistent) in TARGETS.items():
            if (slot, persistent) == own:
                continue
            try:
                fresh = build_fresh()
                new_ref = convert(fresh, r, slot, persistent)
                t = resolve(fresh, new_ref)
                if value is not None and t.shape == value.shape and same_value(t, value):
                    _differ(t, value)
                result = fresh.load_state_dict(state, strict=False)
            except Exception as exc:
                out[r.path][column] = "error"
                errors.append(f"{column}: {exception_text(exc)}")
                continue
            if r.path in result.unexpected_keys:
                outcome = "unexpected"
            elif r.path in result.missing_keys:
                outcome = "missing"
            else:
                outcome = "loaded" if same_value(resolve(fresh, new_ref), value) else "ignored"
            out[r.path][column] = outcome
        out[r.path]["strict_false_error"] = "; ".join(errors)
    return out
