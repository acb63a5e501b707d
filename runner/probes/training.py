"""Stages 3-4: train for a few steps with one update style; record gradients and updates.

Every outcome is either measured or left empty (None / missing from its dict): a cell is never
filled with a default for a stage that did not run. `TrainOutcome.unmeasured` says when training
stopped before its outcomes meant anything (the job's status is then `partial`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

from runner.errors import exception_text
from runner.probes.discover import TensorRef, replace, resolve, same_value, snapshot, tensors_in

# Where a training error can be raised; all but `update` leave the training outcomes unmeasured.
STOPPING_STAGES = ("setup", "forward", "loss", "backward")


def loss_of(output) -> torch.Tensor:
    """Mean of the squared first tensor of the output (nested tuples, lists and dicts searched depth
    first, in order), in its own floating dtype (integer outputs as float32)."""
    found = tensors_in(output)
    if not found:
        raise TypeError(f"forward returned {type(output).__name__} holding no tensor")
    first = found[0] if found[0].is_floating_point() or found[0].is_complex() else found[0].float()
    return (first ** 2).mean()


def _manual(step: Callable[[nn.Module, TensorRef, torch.Tensor, float], None]):
    """A hand-written loop over model.parameters() (and the given plain tensors), skipping those without .grad."""
    def apply(model: nn.Module, lr: float, optimizer, tensors: Dict[str, TensorRef]) -> None:
        held = [(_parameter_ref(name), p) for name, p in model.named_parameters()]
        held += [(ref, resolve(model, ref)) for ref in tensors.values()]
        for ref, p in held:
            if p is not None and p.grad is not None:
                step(model, ref, p, lr)
    return apply


def _parameter_ref(name: str) -> TensorRef:
    owner, _, attr = name.rpartition(".")
    return TensorRef(owner, "parameter", attr)


def _data(model, ref, p, lr):
    p.data -= lr * p.grad.data


def _no_grad(model, ref, p, lr):
    with torch.no_grad():
        p -= lr * p.grad


def _inplace(model, ref, p, lr):
    p -= lr * p.grad


def _rebind(model, ref, p, lr):
    replace(model, ref, p - lr * p.grad)


def _optimizer_step(model, lr, optimizer, tensors) -> None:
    optimizer.step()


UPDATES = {
    "optimizer": _optimizer_step,
    "data": _manual(_data),
    "no_grad": _manual(_no_grad),
    "inplace": _manual(_inplace),
    "rebind": _manual(_rebind),
}


def _grad(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    return None if t is None or not t.is_leaf else t.grad


def grad_state(t: Optional[torch.Tensor]) -> str:
    g = _grad(t)
    if g is None:
        return "none"
    return "zero" if not torch.any(g != 0) else "nonzero"


@dataclass
class TrainOutcome:
    """Per tensor path; a dict without the path (or None) means 'not measured'."""
    grad: Dict[str, str] = field(default_factory=dict)      # none|zero|nonzero after the last backward
    grad_requires_grad: Dict[str, bool] = field(default_factory=dict)  # .grad itself requires grad
    updated: Dict[str, bool] = field(default_factory=dict)  # value changed (the update stage ran)
    leaf_after_update: Dict[str, bool] = field(default_factory=dict)  # a leaf without grad_fn afterwards
    after_zero_grad: Dict[str, str] = field(default_factory=dict)  # grad state after the usual zero_grad call
    accumulates: Dict[str, bool] = field(default_factory=dict)  # steps >= 2: previous gradient survived zero_grad
    error: str = ""                                          # ExceptionType: message
    error_at: str = ""                                       # setup|forward|loss|backward|update
    loss: Optional[float] = None                             # the last loss computed

    @property
    def unmeasured(self) -> bool:
        """Training stopped before its outcomes meant anything (not an error of the update itself)."""
        return self.error_at in STOPPING_STAGES


def plain_tensors_requiring_grad(model: nn.Module, refs: List[TensorRef]) -> Dict[str, TensorRef]:
    """Plain tensor attributes that require grad: what `update.include_tensors` steps by hand."""
    out = {}
    for r in refs:
        t = resolve(model, r)
        if r.slot == "tensor" and t is not None and t.requires_grad and t.is_leaf:
            out[r.path] = r
    return out


def train(model: nn.Module, refs: List[TensorRef], args: tuple, kwargs: Dict[str, Any], style: str, steps: int,
          lr: float, make_optimizer: Callable[[list], object], include_tensors: bool = False) -> TrainOutcome:
    """Run `steps` steps in train mode: zero_grad (optimizer's, else model's), forward, loss, backward, update.

    A stage that raises is recorded and stops the loop; outcomes of stages that never ran stay unmeasured.
    With include_tensors, the hand-written loop of the manual styles also clears and steps plain tensors
    that require grad; update=optimizer always builds its optimizer from model.parameters(), as the
    notebook does, so the option does not change it.
    """
    out = TrainOutcome()
    if steps == 0:
        return out
    before = {r.path: snapshot(resolve(model, r)) for r in refs}
    model.train()
    optimizer = None
    updating = True
    tensors = plain_tensors_requiring_grad(model, refs) if include_tensors and style != "optimizer" else {}
    if style == "optimizer":
        try:
            optimizer = make_optimizer(list(model.parameters()))
        except Exception as exc:  # e.g. "optimizer got an empty parameter list": still measure gradients
            out.error, out.error_at, updating = exception_text(exc), "setup", False

    def zero_grad() -> None:
        (optimizer or model).zero_grad()
        for ref in tensors.values():
            t = resolve(model, ref)
            if t is not None and t.is_leaf:
                t.grad = None

    apply = UPDATES[style]
    clears = optimizer is not None or style != "optimizer"  # someone calls zero_grad between steps
    stage, backward_done, update_ran = "forward", False, False
    try:
        for step in range(steps):
            stage = "forward"
            if clears:
                zero_grad()
                if step == 1:  # what the zero_grad call left of the first step's gradients
                    out.accumulates = {p: grad_state(resolve(model, r)) == "nonzero"
                                       for r in refs if (p := r.path) in out.grad and out.grad[p] == "nonzero"}
            output = model(*args, **kwargs)
            stage = "loss"
            loss = loss_of(output)
            out.loss = float(loss.detach())
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"non-finite loss ({out.loss}) at step {step + 1}: training stopped")
            stage = "backward"
            loss.backward()  # raises when nothing in the graph requires grad, as a plain loop's would
            backward_done = True
            out.grad = {r.path: grad_state(resolve(model, r)) for r in refs}
            out.grad_requires_grad = {r.path: g.requires_grad for r in refs
                                      if (g := _grad(resolve(model, r))) is not None}
            if updating:
                stage = "update"
                update_ran = True
                apply(model, lr, optimizer, tensors)
    except Exception as exc:
        if not out.error:  # the first failed stage is the one that counts (an optimizer setup error stays)
            out.error, out.error_at = exception_text(exc), stage
    if not backward_done:
        out.grad, out.grad_requires_grad = {}, {}
    if update_ran:
        for r in refs:
            now = resolve(model, r)
            out.updated[r.path] = not same_value(before[r.path], now)
            out.leaf_after_update[r.path] = now is not None and now.is_leaf and now.grad_fn is None
    if backward_done and clears:
        zero_grad()  # what the usual "clear the gradients" call leaves behind
        out.after_zero_grad = {r.path: grad_state(resolve(model, r)) for r in refs}
    return out
