"""Find every tensor a module tree holds, under every name it can be reached by."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

import torch
from torch import nn


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: submodule path, the slot it is held in, and the attribute (plus container keys)."""
    module: str          # dotted submodule path, "" for the root
    slot: str            # "parameter" | "buffer" | "tensor"
    attr: str            # attribute name on that submodule
    keys: Tuple[str, ...] = ()  # indices/keys inside a list/tuple/dict attribute

    @property
    def path(self) -> str:
        return ".".join(p for p in (self.module, self.attr, *self.keys) if p)


def _walk_container(value: Any, keys: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield keys, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk_container(item, keys + (str(i),))
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _walk_container(item, keys + (str(k),))


def discover(module: nn.Module) -> List[TensorRef]:
    """Every tensor of the tree: ``_parameters``, ``_buffers`` and tensors in each submodule's ``__dict__``.

    Shared submodules and tied tensors are listed under each of their names
    (``named_modules(remove_duplicate=False)``), as ``state_dict`` lists them.
    """
    refs: List[TensorRef] = []
    for prefix, sub in module.named_modules(remove_duplicate=False):
        for name, p in sub._parameters.items():
            if p is not None:
                refs.append(TensorRef(prefix, "parameter", name))
        for name, b in sub._buffers.items():
            if b is not None:
                refs.append(TensorRef(prefix, "buffer", name))
        for name, value in vars(sub).items():
            if name.startswith("__") or name in ("_parameters", "_buffers", "_modules"):
                continue
            for keys, _ in _walk_container(value):
                refs.append(TensorRef(prefix, "tensor", name, keys))
    return refs


def resolve(module: nn.Module, ref: TensorRef) -> Optional[torch.Tensor]:
    """The tensor now held at ``ref`` (after updates may have replaced it), or None if gone."""
    try:
        sub = module.get_submodule(ref.module)
    except AttributeError:
        return None
    if ref.slot == "parameter":
        value = sub._parameters.get(ref.attr)
    elif ref.slot == "buffer":
        value = sub._buffers.get(ref.attr)
    else:
        value = vars(sub).get(ref.attr)
        for key in ref.keys:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, (list, tuple)) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return None
    return value if isinstance(value, torch.Tensor) else None


def replace(module: nn.Module, ref: TensorRef, value: torch.Tensor) -> None:
    """Hold `value` at `ref` instead of its tensor: setattr on the submodule, or the item of its list/dict."""
    sub = module.get_submodule(ref.module)
    if not ref.keys:
        setattr(sub, ref.attr, value)
        return
    container = vars(sub)[ref.attr]
    for key in ref.keys[:-1]:
        container = container[key] if isinstance(container, dict) else container[int(key)]
    last = ref.keys[-1]
    if isinstance(container, dict):
        container[last] = value
    elif isinstance(container, list):
        container[int(last)] = value
    else:
        raise TypeError(f"{ref.path}: a tensor inside a {type(container).__name__} cannot be replaced")


def tensors_in(value) -> List[torch.Tensor]:
    """The tensors of a nested output or argument (tuples, lists, dicts), depth first, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def is_persistent(module: nn.Module, ref: TensorRef) -> Optional[bool]:
    """Buffers only: whether ``register_buffer`` was called with persistent=True."""
    if ref.slot != "buffer":
        return None
    return ref.attr not in module.get_submodule(ref.module)._non_persistent_buffers_set


def snapshot(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """A detached copy to compare against later."""
    return None if t is None else t.detach().clone()


def same_value(a: Optional[torch.Tensor], b: Optional[torch.Tensor]) -> bool:
    """Equal shape, dtype and values (NaN equals NaN), wherever the tensors live."""
    if a is None or b is None:
        return a is b
    a, b = a.detach(), b.detach()
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.device.type == "meta" or b.device.type == "meta":
        return False
    b = b.to(a.device)
    if a.is_floating_point() or a.is_complex():
        return bool(torch.equal(a, b) or torch.all((a == b) | (torch.isnan(a) & torch.isnan(b))))
    return bool(torch.equal(a, b))
