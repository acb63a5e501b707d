"""Build the module under test (seeded) and the inputs its forward is called with."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from runner.schema import AttributeConfig, InputConfig, Kind, VariantConfig, Via


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


def torch_dtype(name: str) -> torch.dtype:
    """`float64` or `torch.float64` -> torch.float64 (names are checked by runner.job.validate)."""
    dtype = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"torch {torch.__version__} has no dtype '{name}'")
    return dtype


def typed_keywords(node: Any) -> Any:
    """A model config with its dtype and device keywords (`dtype`, `*_dtype`, `device`, `*_device`)
    turned into torch.dtype and torch.device, as constructors expect them."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if isinstance(value, str) and (key == "dtype" or str(key).endswith("_dtype")):
                out[key] = torch_dtype(value)
            elif isinstance(value, str) and (key == "device" or str(key).endswith("_device")):
                out[key] = torch.device(value)
            else:
                out[key] = typed_keywords(value)
        return out
    if isinstance(node, list):
        return [typed_keywords(item) for item in node]
    return node


def build_module(variant: VariantConfig, seed: int, make: Optional[Callable[[], nn.Module]] = None) -> nn.Module:
    """Seed torch, construct the module (generic DeclaredTensors, the `_target_`, or `make()`: the
    in-process module of runner.api, which has no importable `_target_`), cast it to variant.dtype if
    one is given."""
    seed_all(seed)
    if make is not None:
        module = make()
        if not isinstance(module, nn.Module):
            raise TypeError(f"the model factory returned {type(module).__name__}, not an nn.Module")
    elif variant.attributes is not None:
        from experiments.generic import DeclaredTensors
        module = DeclaredTensors({n: attribute_spec(a) for n, a in variant.attributes.items()})
    else:
        module = _instantiate(variant.model)
    if variant.dtype is not None:
        module = module.to(torch_dtype(variant.dtype.value))
    return module


def _instantiate(model: Dict[str, Any]) -> nn.Module:
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    try:
        module = instantiate(typed_keywords(model), _convert_="all")
    except InstantiationException as exc:  # show the import or constructor error itself
        cause = exc.__cause__
        if cause is None:
            raise
        message = f"_target_ {model['_target_']}: {cause}"
        try:
            error = type(cause)(message)
        except Exception:  # noqa: BLE001 - exception types with other signatures
            error = RuntimeError(f"{type(cause).__name__}: {message}")
        raise error from cause
    if not isinstance(module, nn.Module):
        raise TypeError(f"_target_ {model['_target_']} returned {type(module).__name__}, not an nn.Module")
    return module


@dataclass
class ForwardInputs:
    """What forward is called with: module(*args, **kwargs). The same inputs feed training,
    every exporter and onnxruntime's check."""
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device) -> "ForwardInputs":
        move = lambda v: v.to(device) if isinstance(v, torch.Tensor) else v  # noqa: E731
        return ForwardInputs(tuple(move(a) for a in self.args), {k: move(v) for k, v in self.kwargs.items()})


def _draw(spec: InputConfig, generator: torch.Generator, float_dtype: torch.dtype = None) -> torch.Tensor:
    dtype = torch_dtype(spec.dtype.value)
    shape = list(spec.shape)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator, dtype=float_dtype or dtype)
    return torch.randint(0 if spec.low is None else spec.low, spec.high, shape, generator=generator, dtype=dtype)


def make_inputs(variant: VariantConfig, seed: int, device: torch.device) -> ForwardInputs:
    """The fixed inputs: positional ones in order, then keyword tensors in key order, each drawn from one
    generator seeded with `seed` (torch.randn; torch.randint(low, high) for integers). Float inputs take
    variant.dtype when one is given. Plain keyword values are passed as they are."""
    g = torch.Generator().manual_seed(seed)
    float_dtype = torch_dtype(variant.dtype.value) if variant.dtype is not None else None
    args = tuple(_draw(spec, g, float_dtype) for spec in variant.inputs)
    kwargs = {k: _draw(v, g, float_dtype) if isinstance(v, InputConfig) else v for k, v in variant.kwargs.items()}
    return ForwardInputs(args, kwargs).to(device)
