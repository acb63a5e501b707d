"""Stage 2: how each tensor is declared and which of the module's listings see it."""
from __future__ import annotations

from typing import Dict, List

from torch import nn

from runner.probes.discover import TensorRef, is_persistent, resolve


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def registration(module: nn.Module, refs: List[TensorRef]) -> Dict[str, dict]:
    """Per tensor path: declared_as, persistent, requires_grad, dtype, shape, the three listings, aliases.

    `in_parameters`/`in_buffers` ask whether the object itself is yielded by parameters()/buffers():
    the second name of a tied weight is (named_parameters() only drops the duplicate name, which
    `listed_as` records). `in_state_dict` is by name: state_dict keeps every name.
    """
    params = {id(p): name for name, p in module.named_parameters()}  # first name of each object
    buffers = {id(b): name for name, b in module.named_buffers()}
    state = set(module.state_dict().keys())
    first_path_of: Dict[int, str] = {}
    out: Dict[str, dict] = {}
    for ref in refs:
        t = resolve(module, ref)
        alias_of = first_path_of.setdefault(id(t), ref.path)
        listed = params.get(id(t), buffers.get(id(t), ""))
        out[ref.path] = {
            "declared_as": ref.slot,
            "persistent": is_persistent(module, ref),
            "requires_grad": t.requires_grad,
            "dtype": dtype_name(t.dtype),
            "shape": str(list(t.shape)),
            "in_parameters": id(t) in params,
            "in_buffers": id(t) in buffers,
            "in_state_dict": ref.path in state,
            "listed_as": "" if listed in ("", ref.path) else listed,
            "alias_of": "" if alias_of == ref.path else alias_of,
            "has_is_param": hasattr(t, "_is_param"),
        }
    return out
