"""lifecycle.compile: does a torch.compile'd module see a tensor changed after its first call, and at what cost?

For each tensor, on its own fresh compiled copy of the trained module (dynamo reset first, so no
change or cache leaks from one tensor to the next): call it once, change the tensor (in place, or,
on another fresh copy, rebound to a new tensor of the same shape the way its kind is legally rebound),
call again. The same sequence runs on an eager copy; the compiled module "sees" the change when its
second output equals the eager one. A change that does not move the eager output cannot be seen or
missed: the cell stays empty. Recompilations are dynamo's own frame count
(`torch._dynamo.testing.CompileCounterWithBackend` wrapping the configured backend): the frames
compiled by the second call, less those a second call compiles without any change (a control run once
per job), are the ones the change caused.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, replace, resolve, tensors_in
from runner.probes.quiet import quiet


def _new_value(t: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return ~t.detach() if t.dtype == torch.bool else t.detach() + 1


def change_inplace(module: nn.Module, ref: TensorRef) -> None:
    t = resolve(module, ref)
    with torch.no_grad():
        t.copy_(_new_value(t))


def rebind(module: nn.Module, ref: TensorRef) -> None:
    """A new tensor of the same shape: nn.Parameter for a parameter (same requires_grad), a tensor
    assigned to a buffer's name (Module.__setattr__ keeps it a buffer, persistence unchanged), plain
    assignment for a tensor attribute or list/dict item; requires_grad is kept (a change of it alone
    would make dynamo recompile)."""
    t = resolve(module, ref)
    new = _new_value(t).clone()
    if ref.slot == "parameter":
        new = nn.Parameter(new, requires_grad=t.requires_grad)
    elif t.requires_grad and t.is_leaf:  # the same kind of tensor, only its value differs
        new.requires_grad_(True)
    replace(module, ref, new)


def _outputs_equal(a: Any, b: Any) -> bool:
    xs, ys = tensors_in(a), tensors_in(b)
    if len(xs) != len(ys):
        return False
    for x, y in zip(xs, ys):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.is_floating_point() or x.is_complex():
            if not torch.allclose(x.detach(), y.detach(), rtol=1e-4, atol=1e-5, equal_nan=True):
                return False
        elif not torch.equal(x, y):
            return False
    return True


def _reset() -> None:
    import torch._dynamo
    torch._dynamo.reset()


def _unchanged(module: nn.Module, ref: TensorRef) -> None:
    """The control: no change, so a second call's compilations are not the change's doing."""


def _sees(trained: nn.Module, ref: Optional[TensorRef], change: Callable[[nn.Module, TensorRef], None], backend: str,
          args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[Optional[bool], int]:
    """(compiled output equals the changed eager one, or None if the change moves no output; new frames compiled)."""
    from torch._dynamo.testing import CompileCounterWithBackend
    _reset()
    eager = copy.deepcopy(trained)
    compiled_copy = copy.deepcopy(trained)
    counter = CompileCounterWithBackend(backend)
    compiled = torch.compile(compiled_copy, backend=counter)
    with torch.no_grad():
        before = eager(*args, **kwargs)
        compiled(*args, **kwargs)
        frames = counter.frame_count
        change(eager, ref)
        change(compiled_copy, ref)
        after_eager = eager(*args, **kwargs)
        after_compiled = compiled(*args, **kwargs)
    recompiles = counter.frame_count - frames
    if _outputs_equal(before, after_eager):
        return None, recompiles
    return _outputs_equal(after_eager, after_compiled), recompiles


def state_dict_keys(trained: nn.Module, refs: List[TensorRef]) -> Dict[str, str]:
    """Per path: the key of the compiled wrapper's state_dict() holding the same tensor object
    (`_orig_mod.<path>` where that is one), empty when none does."""
    compiled = torch.compile(trained, backend="eager")  # wrapping compiles nothing until it is called
    entries = compiled.state_dict(keep_vars=True)
    out = {}
    for r in refs:
        t = resolve(trained, r)
        same = [k for k, v in entries.items() if v is t]
        preferred = f"_orig_mod.{r.path}"
        out[r.path] = preferred if preferred in same else (same[0] if same else "")
    return out


def compile_outcomes(trained: nn.Module, refs: List[TensorRef], backend: str, args: Tuple[Any, ...],
                     kwargs: Dict[str, Any]) -> Dict[str, dict]:
    """Per path: compile_sees_inplace / compile_recompiles_inplace, compile_sees_rebind /
    compile_recompiles_rebind, compiled_state_dict_key, compile_error (`<stage>: <exception>`).
    Dynamo's warnings (graph breaks) go to the job's log file, not the terminal."""
    with quiet():
        return _outcomes(trained, refs, backend, args, kwargs)


def _outcomes(trained: nn.Module, refs: List[TensorRef], backend: str, args: Tuple[Any, ...],
              kwargs: Dict[str, Any]) -> Dict[str, dict]:
    out = {r.path: {"compile_sees_inplace": None, "compile_recompiles_inplace": None, "compile_sees_rebind": None,
                    "compile_recompiles_rebind": None, "compiled_state_dict_key": None, "compile_error": ""}
           for r in refs}
    try:
        keys = state_dict_keys(trained, refs)
        _, baseline = _sees(trained, None, _unchanged, backend, args, kwargs)
    except Exception as exc:
        keys, baseline = {}, 0
        for row in out.values():
            row["compile_error"] = f"control: {exception_text(exc)}"
    for r in refs:
        row = out[r.path]
        row["compiled_state_dict_key"] = keys.get(r.path)
        errors = [row["compile_error"]] if row["compile_error"] else []
        for name, change in (("inplace", change_inplace), ("rebind", rebind)):
            try:
                sees, frames = _sees(trained, r, change, backend, args, kwargs)
                row[f"compile_sees_{name}"], row[f"compile_recompiles_{name}"] = sees, frames - baseline
            except Exception as exc:
                errors.append(f"{name}: {exception_text(exc)}")
        row["compile_error"] = "; ".join(errors)
    _reset()
    return out
