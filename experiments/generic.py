"""The module behind every generic variant: tensors declared from plain data."""
import torch
import torch.nn as nn


class DeclaredTensors(nn.Module):
    """Declares each tensor the way its spec says; forward uses each `used` one so it changes the output.

    ``attributes`` maps a name to a dict with kind (parameter|buffer|tensor),
    shape, dtype, requires_grad, persistent, via (assign|register), used.
    Values come from torch.randn (torch.randint for integer dtypes), so the
    caller seeds before constructing.
    """

    def __init__(self, attributes: dict):
        super().__init__()
        self._used = []
        for name, spec in attributes.items():
            value = _random(spec["shape"], getattr(torch, spec["dtype"]))
            kind, via = spec["kind"], spec["via"]
            if kind == "parameter":
                param = nn.Parameter(value, requires_grad=spec["requires_grad"])
                if via == "register":
                    self.register_parameter(name, param)
                else:
                    setattr(self, name, param)
            elif kind == "buffer":
                self.register_buffer(name, value.requires_grad_(spec["requires_grad"]), persistent=spec["persistent"])
            else:
                setattr(self, name, value.requires_grad_(spec["requires_grad"]))
            if spec["used"]:
                self._used.append(name)

    def forward(self, x):
        out = x
        for name in self._used:
            t = getattr(self, name)
            out = out * t if t.is_floating_point() else out + t
        return out


def _random(shape, dtype):
    if dtype == torch.bool:
        return torch.randint(0, 2, shape).bool()
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.randint(1, 10, shape, dtype=dtype)
