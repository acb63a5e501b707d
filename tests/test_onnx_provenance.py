"""ONNX export roles against what perturbing one tensor and exporting again shows (issue 11).

Every expectation is derived here with plain torch.onnx.export and onnx.load, never from the program's
output: the oracle exports the module as the job did, then once per tensor with only that tensor changed,
and reads which stored values of the file changed.
"""
import copy
import io

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from experiments.export_cases import BakedGain, Counting, IntBuffersBesideIntOps, Norms, Recurrent, ScaledWeight
from experiments.structures import ConvBNStack, TiedLinear


def make_input(shape, seed, device):
    """The job's input for `input_shape: shape` (runner.job.build.make_inputs draws it the same way)."""
    return torch.randn(list(shape), generator=torch.Generator().manual_seed(seed)).to(device)

EXPORTERS = ["onnx_dynamo", "onnx_legacy"]


# --- the oracle: plain torch + onnx -------------------------------------------------------------------

def export(module, args, exporter, path):
    torch.onnx.export(copy.deepcopy(module).eval(), args, str(path), dynamo=exporter == "onnx_dynamo")
    return onnx.load(str(path))


def tensors(module):
    """path -> tensor, for parameters, buffers and plain tensor attributes, also in lists (LSTM's
    _flat_weights); a tensor reachable by several paths is listed under each."""
    out = {}
    for prefix, sub in module.named_modules(remove_duplicate=False):
        for name, value in list(sub._parameters.items()) + list(sub._buffers.items()) + list(vars(sub).items()):
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(value, torch.Tensor):
                out[path] = value
            elif isinstance(value, list):
                out.update({f"{path}.{i}": v for i, v in enumerate(value) if isinstance(v, torch.Tensor)})
    return out


def bumped(module, path):
    """A copy of module with the tensor at path (and only it) changed: floats +0.37, ints +1, bools flipped."""
    other = copy.deepcopy(module)
    t = tensors(other)[path]
    with torch.no_grad():
        t.copy_(~t if t.dtype == torch.bool else t + (0.37 if t.is_floating_point() else 1))
    return other


def stored(model):
    """Every value the file stores, by name: initializers and Constant node outputs."""
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(onnx.helper.get_attribute_value(node.attribute[0])) \
                if node.attribute[0].name == "value" else np.array(onnx.helper.get_attribute_value(node.attribute[0]))
    return values


def structure(model):
    return [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node if n.op_type != "Constant"]


def computing(model):
    """structure() without Identity nodes, each input read through them (the README's places)."""
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}

    def through(name):
        while name in alias:
            name = alias[name]
        return name
    return [(op, [through(i) for i in ins], outs) for op, ins, outs in structure(model) if op != "Identity"]


def shape(model):
    """The computing nodes' operators and numbers of inputs and outputs, names aside."""
    return [(op, len(ins), len(outs)) for op, ins, outs in computing(model)]


def read_pairs(real, other):
    """(name in real, name in other) of the stored values the same input of the same computing node reads."""
    a, b = stored(real), stored(other)
    return [(x, y) for (_, ins_a, _), (_, ins_b, _) in zip(computing(real), computing(other))
            for x, y in zip(ins_a, ins_b) if x in a and y in b]


def holds(array, tensor):
    t = tensor.detach()
    return array.shape == tuple(t.shape) and array.dtype == t.numpy().dtype and np.array_equal(array, t.numpy())


def oracle(module, args, exporter, tmp_path):
    """path -> (export_role, export_name) by the issue's definitions, from one export per tensor. Names
    must be the same in every export here (modules without equal-valued tensors): asserted."""
    real = export(module, args, exporter, tmp_path / "oracle_real.onnx")
    a = stored(real)
    by_object = {}
    for path, t in tensors(module).items():
        by_object.setdefault(id(t), []).append(path)
    every_path = {p for paths in by_object.values() for p in paths}
    out, found = {}, []
    for paths in by_object.values():
        changed_module = bumped(module, paths[0])
        other = export(changed_module, args, exporter, tmp_path / "oracle_bumped.onnx")
        b = stored(other)
        t, t_bumped = tensors(module)[paths[0]], tensors(changed_module)[paths[0]]
        if shape(real) != shape(other):  # the tensor decides the graph itself (a zero bias left out): no
            out.update({p: ("folded", "") for p in paths})  # stored value carries it, the structure does
            continue
        if a.keys() == b.keys() and structure(real) == structure(other):
            pairs = [(n, n) for n in a]
        else:  # names follow contents (a merged zero bias splits): compare what each node input reads
            pairs = read_pairs(real, other)
        moved = [(x, y) for x, y in pairs if a[x].shape != b[y].shape or not np.array_equal(a[x], b[y])]
        changed = sorted({x for x, _ in moved})
        # the tensor's own value, proved by change: the real value before, the changed value after
        same = sorted({x for x, y in moved if holds(a[x], t) and holds(b[y], t_bumped)})
        found.append((paths, changed, same))
    initializers = {i.name for i in real.graph.initializer}
    holders = {}  # stored name -> how many tensors it holds unchanged (an equal value merged: folded)
    for _, _, same in found:
        for n in same:
            holders[n] = holders.get(n, 0) + 1
    for paths, changed, same in found:
        if any(n in paths and n in initializers for n in same):
            role = "initializer"
        elif any(n not in every_path and holders[n] == 1 for n in same):
            role = "constant"
        else:
            role = "folded" if changed else "absent"
        for p in paths:
            out[p] = (role, ";".join(changed))
    return out


def program(table):
    return {p: (table.loc[p, "export_role"], table.loc[p, "export_name"]) for p in table.index}


# --- module kinds of the issue, each under both ONNX exporters ----------------------------------------

CASES = {  # variant -> (module as the job builds it with seed 0, input shape)
    "int_buffers_int_ops": (lambda: IntBuffersBesideIntOps(4), [4, 4]),
    "recurrent": (lambda: Recurrent(3, 4, 2), [2, 5, 3]),
    "counting": (lambda: Counting(3), [3]),
    "scaled_weight": (lambda: ScaledWeight(3, 2), [4, 3]),
    "baked_gain": (lambda: BakedGain(3, 2), [4, 3]),  # a translation that reads a value: no replay
    "linear_1d": (lambda: torch.nn.Linear(3, 2), [3]),
    "tied_parameters": (lambda: TiedLinear(4), [2, 4]),
    "conv_bn": (lambda: ConvBNStack(3, 4), [2, 3, 8, 8]),  # BatchNorm folded into convs: the batched search
    # every BatchNorm folded into its conv (none is the identity): dynamo attributes by guessed causes
    "conv_bn_trained": (lambda: ConvBNStack(3, 4, trained_stats=True), [2, 3, 8, 8]),
}


def built(variant):
    make, shape = CASES[variant]
    torch.manual_seed(0)  # what build_module does for seed 0
    return make().eval(), (make_input(shape, 0, torch.device("cpu")),)


@pytest.mark.slow  # one export per tensor: the oracle costs more than the probe
@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("variant", sorted(CASES))
def test_roles_and_names_agree_with_perturbing_each_tensor(run, tmp_path, variant, exporter):
    t = run(f"variant={variant}", "steps=0", f"export={exporter}")  # steps=0: the module as built
    module, args = built(variant)
    assert program(t) == oracle(module, args, exporter, tmp_path)


def test_the_kinds_come_out_as_the_issue_describes(run):
    # facts the oracle above derives, spelled out for the kinds the issue names
    ints = run("variant=int_buffers_int_ops", "steps=0", "export=onnx_legacy")
    assert set(ints.loc[["pair", "one"], "export_role"]) == {"absent"}  # never the reshape's/gather's constants
    rec = run("variant=recurrent", "steps=0", "export=onnx_dynamo")
    assert set(rec.export_role) == {"folded"}  # LSTM/GRU weights reordered, biases concatenated
    assert rec.loc["lstm.bias_ih_l0", "export_name"] == rec.loc["lstm.bias_hh_l0", "export_name"]
    scaled = run("variant=scaled_weight", "steps=0", "export=onnx_legacy")
    assert scaled.loc["weight", "export_name"] == scaled.loc["scale", "export_name"] != ""  # weight * scale


# --- untrained norm layers: exporters merge equal values, so names differ between exports -------------

def reads(model, op_type, index):
    """The stored value read at input `index` of the op_type node, looking through Identity nodes (the
    legacy exporter routes a merged value through one)."""
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}
    name = next(n for n in model.graph.node if n.op_type == op_type).input[index]
    while name in alias:
        name = alias[name]
    return name


# where each tensor of Norms is read: LayerNormalization(x, scale, bias); GroupNorm is Reshape ->
# InstanceNormalization(scale=ones, bias=zeros of its own) -> Reshape -> Mul(weight) -> Add(bias);
# BatchNormalization(x, scale, B, mean, var)
NORM_READS = {"ln.weight": ("LayerNormalization", 1), "ln.bias": ("LayerNormalization", 2),
              "gn.weight": ("Mul", 1), "gn.bias": ("Add", 1),
              "bn.weight": ("BatchNormalization", 1), "bn.bias": ("BatchNormalization", 2),
              "bn.running_mean": ("BatchNormalization", 3), "bn.running_var": ("BatchNormalization", 4)}


@pytest.mark.slow
@pytest.mark.parametrize("exporter", EXPORTERS)
def test_untrained_norm_layers(run, tmp_path, exporter):
    t = run("variant=norms", "steps=0", f"export={exporter}")
    torch.manual_seed(0)
    module, args = Norms(4, 2).eval(), (make_input([2, 4], 0, torch.device("cpu")),)
    real = onnx.load(str(tmp_path / "model.onnx"))  # the file the job saved
    values = stored(real)
    for path, (op_type, index) in NORM_READS.items():
        other = export(bumped(module, path), args, exporter, tmp_path / "bumped.onnx")
        # perturbed alone, the tensor is what that input reads: the input carries it
        assert holds(stored(other)[reads(other, op_type, index)], tensors(bumped(module, path))[path])
        name = reads(real, op_type, index)
        assert holds(values[name], tensors(module)[path])  # ones/zeros, possibly another tensor's
        role = "initializer" if name == path else "folded"  # else merged into another tensor's initializer
        assert (t.loc[path, "export_role"], t.loc[path, "export_name"]) == (role, name), path
    instance_scale = next(n for n in real.graph.node if n.op_type == "InstanceNormalization").input[1]
    assert t.loc["gn.weight", "export_name"] != instance_scale  # its own [1, 1] constant never changes
    untouched = export(bumped(module, "bn.num_batches_tracked"), args, exporter, tmp_path / "bumped.onnx")
    assert untouched.graph == export(module, args, exporter, tmp_path / "again.onnx").graph  # unused in eval
    assert t.loc["bn.num_batches_tracked", "export_role"] == "absent"


# --- mutated_by_export and the outputs onnxruntime compares ------------------------------------------

@pytest.mark.parametrize("exporter", EXPORTERS)
def test_mutated_by_export_is_the_exporter_s_own_doing(run, exporter):
    t = run("variant=counting", "steps=0", f"export={exporter}")  # verify runs forward, on its own copy
    module, args = built("counting")
    before = module.count.clone()
    torch.onnx.export(module, args, None if exporter == "onnx_dynamo" else io.BytesIO(),
                      dynamo=exporter == "onnx_dynamo")
    assert t.loc["count", "mutated_by_export"] == str(not torch.equal(before, module.count)).lower()
    assert t.loc["w", "mutated_by_export"] == "false"


def test_legacy_runs_forward_while_exporting_and_dynamo_does_not():
    module, args = built("counting")
    torch.onnx.export(module, args, None, dynamo=True)
    assert int(module.count) == 0
    torch.onnx.export(module, args, io.BytesIO(), dynamo=False)
    assert int(module.count) > 0


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_every_output_is_compared(run, tmp_path, exporter):
    t = run("variant=recurrent", f"export={exporter}")
    module, args = built("recurrent")
    flat = torch.utils._pytree.tree_leaves(module(*args))  # (z, (h, c)): three tensors
    assert len(flat) == 3 == len(onnx.load(str(tmp_path / "model.onnx")).graph.output)
    assert set(t.ort_outputs_compared) == {"3"} and float(t.ort_max_abs_diff.iloc[0]) < 1e-5


# --- the probe interface: positional and keyword inputs ----------------------------------------------

class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3))

    def forward(self, x, y=None):
        return x * self.w, x + y


@pytest.mark.parametrize("exporter", ["torch_export"] + EXPORTERS)
def test_export_probes_take_args_and_kwargs(tmp_path, exporter):
    from runner.probes.discover import discover
    from runner.probes.exporting import export_outcomes
    from runner.schema import ExportConfig, Exporter
    module = TwoInputs()
    cfg = ExportConfig(exporter=Exporter(exporter), verify=True)
    rows = export_outcomes(module, discover(module), (torch.randn(3),), {"y": torch.randn(3)}, cfg, tmp_path)
    assert rows["w"]["export_role"] in ("parameter", "initializer"), rows["w"]
    if exporter != "torch_export":
        assert rows["w"]["ort_outputs_compared"] == 2 and rows["w"]["ort_max_abs_diff"] < 1e-6
