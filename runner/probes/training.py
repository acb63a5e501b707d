"""Stages 3-4: train for a few steps with one update style; record gradients and updates."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, resolve, same_value, snapshot


def loss_of(output) -> torch.Tensor:
    """Mean of squared outputs; the first tensor of a tuple/list output."""
    if isinstance(output, (tuple, list)):
        output = next((o for o in output if isinstance(o, torch.Tensor)), None)
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"forward returned {type(output).__name__}, not a tensor")
    if not output.is_floating_point():
        output = output.float()
    return (output ** 2).mean()


def _manual(step: Callable[[nn.Module, str, nn.Parameter, float], None]):
    """A hand-written loop over model.parameters(), skipping those without .grad."""
    def apply(model: nn.Module, lr: float, optimizer) -> None:
        for name, p in list(model.named_parameters()):
            if p.grad is not None:
                step(model, name, p, lr)
    return apply


def _data(model, name, p, lr):
    p.data -= lr * p.grad.data


def _no_grad(model, name, p, lr):
    with torch.no_grad():
        p -= lr * p.grad


def _inplace(model, name, p, lr):
    p -= lr * p.grad


def _rebind(model, name, p, lr):
    owner, _, attr = name.rpartition(".")
    setattr(model.get_submodule(owner), attr, p - lr * p.grad)


def _optimizer_step(model, lr, optimizer) -> None:
    optimizer.step()


UPDATES = {
    "optimizer": _optimizer_step,
    "data": _manual(_data),
    "no_grad": _manual(_no_grad),
    "inplace": _manual(_inplace),
    "rebind": _manual(_rebind),
}


def grad_state(t: Optional[torch.Tensor]) -> str:
    g = None if t is None or not t.is_leaf else t.grad
    if g is None:
        return "none"
    return "zero" if not torch.any(g != 0) else "nonzero"


@dataclass
class TrainOutcome:
    grad: Dict[str, str] = field(default_factory=dict)     # path -> none|zero|nonzero (after the last backward)
    updated: Dict[str, bool] = field(default_factory=dict)  # path -> value changed
    after_zero_grad: Dict[str, str] = field(default_factory=dict)  # path -> grad state after zero_grad()
    error: str = ""                                          # ExceptionType: message
    error_at: str = ""                                       # setup|forward|loss|backward|update
    loss: Optional[float] = None                             # the last loss computed


def train(model: nn.Module, refs: List[TensorRef], x: torch.Tensor, style: str, steps: int,
          lr: float, make_optimizer: Callable[[list], object]) -> TrainOutcome:
    """Run `steps` steps in train mode; a stage that raises is recorded and stops the loop."""
    out = TrainOutcome()
    before = {r.path: snapshot(resolve(model, r)) for r in refs}
    model.train()
    optimizer = None
    updating = True
    if style == "optimizer":
        try:
            optimizer = make_optimizer(list(model.parameters()))
        except Exception as exc:  # e.g. "optimizer got an empty parameter list": still measure gradients
            out.error, out.error_at, updating = exception_text(exc), "setup", False
    apply = UPDATES[style]
    stage = "forward"
    try:
        for step in range(steps):
            stage = "forward"
            if optimizer is not None:
                optimizer.zero_grad()
            else:
                model.zero_grad()
            loss = loss_of(model(x))
            out.loss = float(loss.detach())
            if not torch.isfinite(loss.detach()):
                stage = "loss"
                raise FloatingPointError(f"non-finite loss ({out.loss}) at step {step + 1}: training stopped")
            stage = "backward"
            if loss.requires_grad:
                loss.backward()
            out.grad = {r.path: grad_state(resolve(model, r)) for r in refs}
            if updating:
                stage = "update"
                apply(model, lr, optimizer)
    except Exception as exc:
        out.error, out.error_at = exception_text(exc), stage
    for r in refs:
        now = resolve(model, r)
        out.updated[r.path] = not same_value(before[r.path], now)
    if out.grad:  # what the usual "clear the gradients" call leaves behind
        (optimizer or model).zero_grad()
        out.after_zero_grad = {r.path: grad_state(resolve(model, r)) for r in refs}
    return out
