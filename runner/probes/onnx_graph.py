"""An ONNX model as the values it stores and the places that read them, so that two exports of one module
can be compared place by place (see onnx_provenance.py).

A *place* is where a value is read: input j of the i-th computing node, output k of the graph, an attribute
of a node. Constant and Identity nodes are not computing nodes: a Constant's output is a stored value like
an initializer, and an Identity is looked through (the legacy exporter routes a merged parameter through
one). Two exports *align* when their computing nodes have the same operators in the same order and every
place reads the same kind of thing (a stored value, the same graph input, the same node's same output).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from onnx import AttributeProto, ModelProto, TensorProto, helper, numpy_helper

_GRAPH_ATTRS = (AttributeProto.GRAPH, AttributeProto.GRAPHS)
_ONNX_DOMAINS = ("", "ai.onnx")
_ATTR_ELEM = {AttributeProto.FLOAT: TensorProto.FLOAT, AttributeProto.FLOATS: TensorProto.FLOAT,
              AttributeProto.INT: TensorProto.INT64, AttributeProto.INTS: TensorProto.INT64,
              AttributeProto.STRING: TensorProto.STRING, AttributeProto.STRINGS: TensorProto.STRING}


@dataclass
class Stored:
    """A value the file holds: an initializer, a Constant node's output, or an attribute of a node."""
    name: str
    kind: str   # initializer | constant | attribute
    proto: object  # TensorProto (initializer) or AttributeProto
    _array: Optional[np.ndarray] = None
    _print: object = field(default=False, repr=False)  # _fingerprint() once computed (False: not yet)

    @property
    def elem_type(self) -> Optional[int]:
        """The ONNX element type (a number attribute counts as FLOAT/INT64/STRING, as Constant reads it)."""
        if self.kind == "initializer":
            return self.proto.data_type
        if self.proto.type == AttributeProto.TENSOR:
            return self.proto.t.data_type
        return _ATTR_ELEM.get(self.proto.type)

    def array(self) -> np.ndarray:
        if self._array is None:
            if self.kind == "initializer":
                value = numpy_helper.to_array(self.proto)
            else:
                value = helper.get_attribute_value(self.proto)
                value = numpy_helper.to_array(value) if hasattr(value, "data_type") else np.array(value)
            self._array = np.asarray(value)
        return self._array

    def _fingerprint(self):
        """Bytes that equal for equal contents in one exporter's encoding (raw data), else None; computed
        once (reading raw_data copies it, and the real file's values are compared with every export)."""
        if self._print is False:
            self._print = self._bytes()
        return self._print

    def _bytes(self):
        tensor = self.proto if self.kind == "initializer" else \
            (self.proto.t if self.proto.type == AttributeProto.TENSOR else None)
        if tensor is None:
            return self.proto.SerializeToString()  # a number, string or list attribute
        return (tensor.data_type, tuple(tensor.dims), tensor.raw_data) if tensor.raw_data else None

    def same_content(self, other: "Stored") -> bool:
        """Equal element type, shape and values (NaN equals NaN)."""
        fa = self._fingerprint()
        if fa is not None and fa == other._fingerprint():
            return True
        if self.elem_type != other.elem_type:
            return False
        x, y = self.array(), other.array()
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind in "fc":
            return bool(np.all((x == y) | (np.isnan(x) & np.isnan(y))))
        return bool(np.array_equal(x, y))


@dataclass
class Graph:
    stored: Dict[str, Stored] = field(default_factory=dict)
    inputs: List[str] = field(default_factory=list)       # graph inputs of the main graph, in order
    skeleton: List[tuple] = field(default_factory=list)   # per computing node: operator and arity
    places: Dict[tuple, tuple] = field(default_factory=dict)  # place -> what it reads (see _read)
    outputs: List[Tuple[str, ...]] = field(default_factory=list)  # per computing node: its output names
    names: List[str] = field(default_factory=list)                 # per computing node: its name

    def stored_at(self, place: tuple) -> Optional[Stored]:
        ref = self.places.get(place)
        return self.stored[ref[1]] if ref is not None and ref[0] == "stored" else None


def parse(model: ModelProto) -> Graph:
    """Stored values, graph inputs, computing nodes (subgraphs and local functions included, in file order)
    and every place with what it reads."""
    g = Graph(inputs=[i.name for i in model.graph.input])
    alias: Dict[str, str] = {}
    producer: Dict[str, Tuple[int, object]] = {}
    reads: List[Tuple[tuple, str]] = []

    def walk(graph, scope: str) -> None:
        for init in graph.initializer:
            g.stored[scope + init.name] = Stored(scope + init.name, "initializer", init)
        _walk_nodes(graph.node, scope)

    def _walk_nodes(nodes, scope: str) -> None:
        for node in nodes:
            if node.domain in _ONNX_DOMAINS and node.op_type == "Constant" and len(node.attribute) == 1:
                g.stored[scope + node.output[0]] = Stored(scope + node.output[0], "constant", node.attribute[0])
                continue
            if node.domain in _ONNX_DOMAINS and node.op_type == "Identity":
                alias[scope + node.output[0]] = scope + node.input[0]
                continue
            i = len(g.skeleton)
            attrs = tuple(sorted(a.name for a in node.attribute))
            g.skeleton.append((scope, node.domain, node.op_type, len(node.input), len(node.output), attrs))
            g.outputs.append(tuple(scope + name for name in node.output))
            g.names.append(scope + node.name)
            for k, name in enumerate(node.output):
                producer[scope + name] = (i, k)
            reads.extend(((i, j), scope + name if name else "") for j, name in enumerate(node.input))
            label = f"{scope}{node.name or f'{node.op_type}_{i}'}:"
            for a in node.attribute:
                if a.type in _GRAPH_ATTRS:
                    for n, sub in enumerate([a.g] if a.type == AttributeProto.GRAPH else a.graphs):
                        for k, inp in enumerate(sub.input):
                            producer[scope + inp.name] = (i, f"{a.name}.{n}.in{k}")
                        walk(sub, scope)
                        reads.extend(((i, f"{a.name}.{n}.out{k}"), scope + o.name) for k, o in enumerate(sub.output))
                else:
                    g.stored[label + a.name] = Stored(label + a.name, "attribute", a)
                    g.places[(i, "attr", a.name)] = ("stored", label + a.name)

    walk(model.graph, "")
    for fn in model.functions:
        scope = f"{fn.domain}::{fn.name}::"
        for k, name in enumerate(fn.input):
            producer[scope + name] = (-1, f"{scope}in{k}")
        _walk_nodes(fn.node, scope)
    reads.extend((("out", k), o.name) for k, o in enumerate(model.graph.output))
    inputs = set(g.inputs)
    for place, name in reads:
        g.places[place] = _read(name, alias, g.stored, inputs, producer)
    read = {ref[1] for ref in g.places.values() if ref[0] == "stored"}
    for init in model.graph.initializer:  # kept though nothing reads it: compared by name
        if init.name not in read:
            g.places[("unread", init.name)] = ("stored", init.name)
    return g


def _read(name: str, alias: Dict[str, str], stored, inputs, producer) -> tuple:
    """("stored", name) | ("input", name) | ("node", i, k) | ("none",) | ("outer", name)."""
    seen = set()
    while name in alias and name not in seen:
        seen.add(name)
        name = alias[name]
    if not name:
        return ("none",)
    if name in stored:
        return ("stored", name)
    if name in inputs:
        return ("input", name)
    if name in producer:
        return ("node",) + producer[name]
    return ("outer", name)


def aligned(a: Graph, b: Graph) -> bool:
    """Whether b is a with other stored values: same operators in the same order, every place reading a
    stored value in both, or the same graph input, or the same node output."""
    if a.skeleton != b.skeleton or a.inputs != b.inputs or a.places.keys() != b.places.keys():
        return False
    for place, ra in a.places.items():
        rb = b.places[place]
        if ra[0] != rb[0] or (ra[0] != "stored" and ra != rb):
            return False
    return True


def changed_places(a: Graph, b: Graph) -> List[Tuple[tuple, Stored, Stored]]:
    """(place, value of a, value of b) where both read a stored value and the contents differ."""
    out = []
    for place, ra in a.places.items():
        if ra[0] == "stored":
            sa, sb = a.stored[ra[1]], b.stored_at(place)
            if sb is not None and not sa.same_content(sb):
                out.append((place, sa, sb))
    return out
