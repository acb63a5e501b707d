"""Guessed causes for the legacy (TorchScript) exporter, from its node names.

The legacy exporter names each node after the module that made it (`/layer1/layer1.0/conv1/Conv`), and a
module whose computation it folds into a neighbour's (a BatchNorm into the convolution before it) is left
without a node of its own. So a value a node reads that no tensor's perturbation traces probably comes
from the node's module and the node-less modules right after it. Provenance.guessed tests such a guess
like the dynamo translation's (onnx_replay.feeding); a wrong one costs exports, never a role.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Set

from onnx import ModelProto
from torch import nn

from runner.probes.onnx_graph import Graph
from runner.probes.onnx_perturb import Unit
from runner.probes.onnx_provenance import by_copy


def module_of(node_name: str) -> Optional[str]:
    """`/layer2/layer2.0/downsample/downsample.0/Conv` -> `layer2.0.downsample.0`: each scope is a child's
    name, a Sequential's (or ModuleList's) child prefixed with the container's own scope."""
    scopes = [s for s in node_name.split("/")[:-1] if s]
    if not node_name.startswith("/") or not scopes:
        return None
    path, last = "", ""
    for s in scopes:
        if last and s.startswith(last + "."):
            path += s[len(last):]
        else:
            path = f"{path}.{s}" if path else s
        last = s
    return path


def scoped(file: Graph, units: List[Unit]) -> Dict[int, Set[int]]:
    """Computing node -> the units of its module and of the node-less modules that follow it (modules in
    the order their tensors were found: the order submodules were registered, as forward usually runs)."""
    owned: Dict[str, Set[int]] = {}
    for i, u in enumerate(units):
        for p in u.paths:
            owned.setdefault(p.rpartition(".")[0], set()).add(i)
    order = list(owned)
    position = {m: k for k, m in enumerate(order)}
    with_nodes = {module_of(n) for n in file.names}
    out: Dict[int, Set[int]] = {}
    for k, name in enumerate(file.names):
        module = module_of(name)
        if module not in owned:
            continue
        guess = set(owned[module])
        for later in order[position[module] + 1:]:
            if later in with_nodes:
                break
            guess |= owned[later]
        out[k] = guess
    return out


class ScopedExports:
    """Perturbed exports made as the real one was (by_copy), offering guessed causes from node names."""

    def __init__(self, module: nn.Module, units: List[Unit], export: Callable[[nn.Module], ModelProto]):
        self.units, self.export_members = units, by_copy(module, units, export)

    def __call__(self, members: List[int]) -> ModelProto:
        return self.export_members(members)

    def feeds(self, real: Graph) -> Dict[int, Set[int]]:
        return scoped(real, self.units)
