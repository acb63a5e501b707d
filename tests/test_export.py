"""Export probes: each expected name and role is derived here, from the saved model (onnx.load) or the
exported program's graph signature, or justified in a line; tests/test_onnx_provenance.py checks the
ONNX roles against one export per tensor with only that tensor changed."""
import subprocess
import sys

import onnx
import pytest
import torch

from runner.job.build import build_module, make_inputs
from runner.job.validate import typed_config

from .conftest import ROOT, read_csv, run_cli, task_config

GENERIC = ["tensor", "tensor_requires_grad", "parameter", "parameter_frozen", "register_parameter", "buffer",
           "buffer_nonpersistent", "int_buffer", "unused_parameter"]
# the notebook's forward reads my_tensor and my_param only (experiments/seed_notebook.py)
NOTEBOOK_UNREAD = {"my_registered_param", "my_buffer", "my_state"}


def roles(table):
    return dict(zip(table.tensor, table.export_role))


def _module_and_inputs(*overrides):
    cfg, choices, _ = task_config(overrides)
    typed = typed_config(cfg, "v")
    return build_module(typed.variant, typed.seed).eval(), make_inputs(typed.variant, typed.seed, torch.device("cpu"))


def _graph(tmp_path):
    return onnx.load(str(tmp_path / "model.onnx")).graph


@pytest.mark.parametrize("strict", ["false", "true"])
def test_torch_export_roles_and_names_are_the_graph_signatures(run, strict):
    t = run("export=torch_export", f"export.strict={strict}")
    module, inputs = _module_and_inputs()
    program = torch.export.export(module, inputs.args, strict=strict == "true")
    kinds = {"PARAMETER": "parameter", "BUFFER": "buffer", "CONSTANT_TENSOR": "constant_tensor"}
    expected = {spec.target: (kinds[spec.kind.name], spec.arg.name)
                for spec in program.graph_signature.input_specs if spec.kind.name in kinds}
    for tensor, row in t.iterrows():
        assert (row.export_role, row.export_name) == expected.get(tensor, ("absent", "")), tensor
    assert (t.mutated_by_export == "false").all() and (t.export_error == "").all()


def test_notebook_model_under_onnx_dynamo(run, tmp_path):
    t = run("export=onnx_dynamo")
    graph = _graph(tmp_path)
    initializers = {i.name for i in graph.initializer}
    for tensor in ("my_param", "my_tensor"):  # read by forward: in the file under its own name
        assert t.loc[tensor, "export_role"] == "initializer" and t.loc[tensor, "export_name"] == tensor
        assert tensor in initializers
    assert {n for n, r in roles(t).items() if r == "absent"} == NOTEBOOK_UNREAD
    assert float(t.loc["my_param", "ort_max_abs_diff"]) < 1e-5 and t.loc["my_param", "ort_outputs_compared"] == "1"
    assert set(t.export_file) == {"model.onnx"}


def test_notebook_model_under_onnx_legacy(run, tmp_path):
    t = run("export=onnx_legacy")
    graph = _graph(tmp_path)
    constants = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    assert t.loc["my_param", "export_role"] == "initializer"
    assert t.loc["my_param", "export_name"] in {i.name for i in graph.initializer}
    # the plain tensor is baked into a Constant node of the file (the notebook's text says so)
    assert t.loc["my_tensor", "export_role"] == "constant" and t.loc["my_tensor", "export_name"] in constants
    assert {n for n, r in roles(t).items() if r == "absent"} == NOTEBOOK_UNREAD


@pytest.mark.parametrize("folding", ["true", "false"])
def test_custom_linear_legacy_constant_folding(run, tmp_path, folding):
    # x @ weight.t(): with folding the transpose is computed at export time, and `weight` reaches the
    # file only transposed ([in, out] = [3, 2]; weight is [2, 3]); without folding it stays as it is.
    t = run("variant=custom_linear", "export=onnx_legacy", f"export.do_constant_folding={folding}")
    shapes = {i.name: list(i.dims) for i in _graph(tmp_path).initializer}
    assert shapes[t.loc["weight", "export_name"]] == ([3, 2] if folding == "true" else [2, 3])
    assert t.loc["weight", "export_role"] == ("folded" if folding == "true" else "initializer")
    assert t.loc["bias", "export_role"] == "initializer"
    assert float(t.loc["weight", "ort_max_abs_diff"]) < 1e-5


def test_dynamo_ignores_do_constant_folding_but_optimize_folds(run, tmp_path):
    folded = run("variant=custom_linear", "export=onnx_dynamo", "export.do_constant_folding=false")
    shapes = {i.name: list(i.dims) for i in _graph(tmp_path).initializer}
    assert shapes[folded.loc["weight", "export_name"]] == [3, 2]  # folding=false had no effect: transposed
    assert folded.loc["weight", "export_role"] == "folded"
    plain = run("variant=custom_linear", "export=onnx_dynamo", "export.optimize=false")
    assert plain.loc["weight", "export_role"] == "initializer"


@pytest.mark.slow  # 16 exports; the notebook and custom-layer tests above check parity in the fast loop
@pytest.mark.parametrize("exporter", ["onnx_dynamo", "onnx_legacy"])
@pytest.mark.parametrize("variant", [v for v in GENERIC if v != "tensor_requires_grad"])
def test_onnxruntime_parity_for_generic_variants(run, variant, exporter):
    t = run(f"variant={variant}", f"export={exporter}")
    assert (t.export_role != "error").all(), t.export_error.tolist()
    assert float(t.ort_max_abs_diff.iloc[0]) < 1e-5


def test_legacy_refuses_a_plain_tensor_that_requires_grad_and_the_job_goes_on(run):
    module, inputs = _module_and_inputs("variant=tensor_requires_grad")
    with pytest.raises(RuntimeError) as plain:  # what plain torch says
        torch.onnx.export(module, inputs.args, "/tmp/tensorprobe-legacy.onnx", dynamo=False)
    row = run("variant=tensor_requires_grad", "export=onnx_legacy").loc["t"]
    assert row.export_role == "error" and row.export_error.startswith("RuntimeError: " + str(plain.value)[:40])
    assert (row.grad, row.restored) == ("nonzero", "false")  # the other stages kept their outcomes
    dyn = run("variant=tensor_requires_grad", "export=onnx_dynamo").loc["t"]
    assert (dyn.export_role, dyn.export_name) == ("initializer", "t")


def test_dynamo_without_params_is_an_invalid_model_recorded(run):
    t = run("export=onnx_dynamo", "export.export_params=false")
    assert set(t.export_role) == {"error"}
    assert t.export_error.iloc[0].startswith(("onnx.checker:", "onnxruntime:"))
    assert set(t.status) == {"ok"} and t.loc["my_param", "updated"] == "true"


def test_legacy_without_params_makes_parameters_graph_inputs(run, tmp_path):
    t = run("export=onnx_legacy", "export.export_params=false")
    assert t.loc["my_param", "export_role"] == "input"
    assert t.loc["my_param", "export_name"] in {i.name for i in _graph(tmp_path).input}
    assert float(t.loc["my_param", "ort_max_abs_diff"]) < 1e-5  # fed from the module's own value


@pytest.mark.slow
def test_onnx_is_not_imported_without_onnx_export():
    code = ("import sys; from tests.conftest import run_config; run_config(['export=torch_export']);"
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'onnxscript') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_exporter_chatter_goes_to_the_log_not_the_terminal(tmp_path):
    r = run_cli("runner", "export=onnx_dynamo", f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert "[torch.onnx]" not in r.stdout + r.stderr and "Warning" not in r.stderr
    assert "[torch.onnx]" in (tmp_path / "tensorprobe.log").read_text()
    assert read_csv(tmp_path / "results.csv").export_role.iloc[0] == "initializer"
