"""Build the module under test from its (typed) variant config, seeded."""
from __future__ import annotations

from typing import Any, Dict

import torch
from torch import nn

from runner.schema import AttributeConfig, Kind, VariantConfig, Via


def attribute_spec(a: AttributeConfig) -> Dict[str, Any]:
    """The plain-dict spec experiments.generic.DeclaredTensors takes, with defaults filled."""
    return {
        "kind": a.kind.value,
        "shape": list(a.shape),
        "dtype": a.dtype.value,
        "requires_grad": a.requires_grad if a.requires_grad is not None else a.kind is Kind.parameter,
        "persistent": True if a.persistent is None else a.persistent,
        "via": (a.via or (Via.register if a.kind is Kind.buffer else Via.assign)).value,
        "used": a.used,
    }


def seed_all(seed: int) -> None:
    """torch.manual_seed without its per-call cost on machines without CUDA (it queues a lazy seeding,
    with a captured stack trace, for every accelerator backend, present or not)."""
    torch.random.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def build_module(variant: VariantConfig, seed: int) -> nn.Module:
    """Seed torch, then construct the module (generic DeclaredTensors or the `_target_`)."""
    seed_all(seed)
    if variant.attributes is not None:
        from experiments.generic import DeclaredTensors
        return DeclaredTensors({n: attribute_spec(a) for n, a in variant.attributes.items()})
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    try:
        module = instantiate(variant.model, _convert_="all")
    except InstantiationException as exc:  # show the import or constructor error itself
        cause = exc.__cause__
        if cause is None:
            raise
        message = f"_target_ {variant.model['_target_']}: {cause}"
        try:
            error = type(cause)(message)
        except Exception:  # noqa: BLE001 - exception types with other signatures
            error = RuntimeError(f"{type(cause).__name__}: {message}")
        raise error from cause
    if not isinstance(module, nn.Module):
        raise TypeError(f"_target_ {variant.model['_target_']} returned {type(module).__name__}, not an nn.Module")
    return module


def make_input(shape, seed: int, device: torch.device) -> torch.Tensor:
    """The fixed input: torch.randn(shape) from a generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(list(shape), generator=g).to(device)
