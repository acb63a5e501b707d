"""Perturbed dynamo exports without tracing and translating again: the exporter's own optimizer re-run on its
unoptimized translation, with the perturbed tensors' bytes put into the initializers that carry them.

torch.onnx.export(dynamo=True) traces the module (parameters and buffers as fake tensors), translates the
program to ONNX, converts the opset, then optimizes (ONNXProgram.optimize: onnxscript's constant folding and
rewrites, the step that folds a BatchNorm into its convolution). The optimizer costs about a tenth of the
call, so a provenance search that needs dozens of perturbed exports can replay it instead, but only where
this job proves that the steps before it do not look at the values:

1. the real export's unoptimized translation is captured (the model ONNXProgram.optimize is handed);
2. the first perturbed export is a full one, captured the same way: its translation must align with the
   real one place by place, and every stored value that differs must be an initializer that holds, byte for
   byte, one tensor's real value in the real translation and its perturbed value in this one (a *slot*).
   Anything else (a value baked from a tensor into the graph, a structure that follows a value) and
   every perturbed export stays a full one;
3. replaying the optimizer on the real translation must give the real file, and on the translation with
   the first export's tensors put into their slots, that export's file (aligned, every stored value equal).

After that, a perturbed export is the real translation with the perturbed tensors' bytes in their slots,
optimized. A replay that raises falls back to a full export.
"""
from __future__ import annotations

import contextlib
import time
import types
from typing import Callable, Dict, Iterator, List, Optional, Set

import torch
from onnx import ModelProto, TensorProto
from torch import nn

from runner.probes.onnx_graph import Graph, aligned, changed_places, parse
from runner.probes.onnx_perturb import Unit, holds
from runner.probes.onnx_provenance import by_copy


def _program_class():
    try:
        from torch.onnx._internal.exporter._onnx_program import ONNXProgram
    except ImportError:  # another torch: no replay, every perturbed export is a full one
        return None
    return ONNXProgram if callable(ONNXProgram.__dict__.get("optimize")) else None


@contextlib.contextmanager
def capturing(into: List[ModelProto]) -> Iterator[Dict[str, float]]:
    """Within the block, each ONNXProgram.optimize call first appends the model it is handed (serialized)
    to into. Yields {"seconds": time spent capturing}, so that a timed call can leave it out; nothing is
    captured on a torch without that method."""
    spent = {"seconds": 0.0}
    program = _program_class()
    if program is None:
        yield spent
        return
    import onnx_ir as ir
    original = program.__dict__["optimize"]

    def optimize(self, *args, **kwargs):
        started = time.perf_counter()
        into.append(ir.serde.serialize_model(self.model))
        spent["seconds"] += time.perf_counter() - started
        return original(self, *args, **kwargs)

    program.optimize = optimize
    try:
        yield spent
    finally:
        program.optimize = original


def optimized(translation: ModelProto, values: Optional[Dict[str, TensorProto]] = None) -> ModelProto:
    """ONNXProgram.optimize (the exporter's own) run on translation with these initializers' values
    replaced. translation itself is only read."""
    import onnx_ir as ir
    model = ir.serde.deserialize_model(translation)
    for name, proto in (values or {}).items():
        model.graph.initializers[name].const_value = ir.serde.deserialize_tensor(proto)
    holder = types.SimpleNamespace(model=model)
    _program_class().__dict__["optimize"](holder)
    return ir.serde.serialize_model(holder.model)


def _raw(t: torch.Tensor) -> bytes:
    """The tensor's bytes as an ONNX raw_data field stores them (little-endian, row-major)."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _slots(real_translation: ModelProto, translation: ModelProto, units: List[Unit],
           members: List[int]) -> Optional[Dict[str, int]]:
    """Initializer name -> unit, where translation (members perturbed) differs from real_translation only by
    initializers holding each one unit's real value there and perturbed value here; None otherwise."""
    a, b = parse(real_translation), parse(translation)
    if not aligned(a, b):
        return None
    by_name = {p: i for i in members for p in units[i].paths}
    by_value = {}
    slots: Dict[str, int] = {}
    for _place, x, y in changed_places(a, b):
        if x.kind != "initializer" or x.name != y.name or not x.proto.raw_data:
            return None
        i = by_name.get(x.name)
        if i is None:
            if not by_value:
                by_value = {_raw(units[j].perturbed): j for j in members if units[j].unique}
            i = by_value.get(y.proto.raw_data)
        if i is None or not holds(x, units[i].real) or not holds(y, units[i].perturbed) \
                or slots.get(x.name, i) != i:
            return None
        slots[x.name] = i
    return slots


def feeding(translation: ModelProto, file: Graph, slots: Dict[str, int]) -> Dict[int, Set[int]]:
    """Computing node of the file -> the units whose slots reach its outputs in the translation, walking back
    from them to the values the file still computes (its graph inputs and node outputs): where a value the
    optimizer folded for that node can have come from. A guess that Provenance tests, never a finding."""
    producer = {name: node for node in translation.graph.node for name in node.output}
    runtime = set(file.inputs) | {name for names in file.outputs for name in names}
    out: Dict[int, Set[int]] = {}
    for k, names in enumerate(file.outputs):
        names = [n for n in names if n]
        if not names or any(n not in producer for n in names):
            continue
        units: Set[int] = set()
        seen, todo = set(names), [producer[n] for n in names]
        while todo:
            for name in todo.pop().input:
                if not name or name in seen or name in runtime:
                    continue
                seen.add(name)
                if name in slots:
                    units.add(slots[name])
                elif name in producer:
                    todo.append(producer[name])
        out[k] = units
    return out


def _same(x: ModelProto, y: ModelProto) -> bool:
    a, b = parse(x), parse(y)
    return aligned(a, b) and not changed_places(a, b)


class Replaying:
    """Perturbed exports (members -> ModelProto) that replay the optimizer once the job has proved it may."""

    def __init__(self, module: nn.Module, units: List[Unit], export: Callable[[nn.Module], ModelProto], *,
                 real: ModelProto, real_translation: ModelProto):
        self.units, self.real, self.translation = units, real, real_translation
        self.full = by_copy(module, units, export)
        self.slots: Optional[Dict[str, int]] = None
        self.tried = False
        self.replays = 0  # perturbed exports made by replaying

    def feeds(self, real: Graph) -> Dict[int, Set[int]]:
        """feeding() once the replay is proved (the translation is then known to carry each tensor in its
        slot); empty before."""
        return feeding(self.translation, real, self.slots) if self.slots is not None else {}

    def replay(self, members: List[int], slots: Optional[Dict[str, int]] = None) -> ModelProto:
        slots = self.slots if slots is None else slots
        chosen = set(members)
        values = {}
        for init in self.translation.graph.initializer:
            i = slots.get(init.name)
            if i is not None and i in chosen:
                values[init.name] = TensorProto(name=init.name, data_type=init.data_type, dims=init.dims,
                                                raw_data=_raw(self.units[i].perturbed))
        return optimized(self.translation, values)

    def __call__(self, members: List[int]) -> ModelProto:
        if self.slots is not None:
            try:
                out = self.replay(members)
            except Exception:  # noqa: BLE001 - the full export decides, as without replay
                return self.full(members)
            self.replays += 1
            return out
        if self.tried:
            return self.full(members)
        self.tried = True
        captured: List[ModelProto] = []
        with capturing(captured):
            out = self.full(members)
        if len(captured) == 1:
            self.slots = self._proved(members, captured[0], out)
        return out

    def _proved(self, members: List[int], translation: ModelProto, out: ModelProto) -> Optional[Dict[str, int]]:
        slots = _slots(self.translation, translation, self.units, members)
        if slots is None:
            return None
        try:
            if _same(optimized(self.translation), self.real) and _same(self.replay(members, slots), out):
                return slots
        except Exception:  # noqa: BLE001 - no replay then
            pass
        return None
