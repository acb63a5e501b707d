"""Export probes against what torch 2.13's exporters actually do (checked by hand with onnx.load)."""
import subprocess
import sys

import onnx
import pytest

from tests.conftest import ROOT, read_csv, run_cli

GENERIC = ["tensor", "tensor_requires_grad", "parameter", "parameter_frozen", "register_parameter", "buffer",
           "buffer_nonpersistent", "int_buffer", "unused_parameter"]


def roles(table):
    return dict(zip(table.tensor, table.export_role))


def test_seed_notebook_under_torch_export(run):
    t = run("export=torch_export")
    assert roles(t) == {"my_param": "parameter", "my_registered_param": "parameter", "my_buffer": "buffer",
                        "my_state": "buffer", "my_tensor": "constant_tensor"}
    assert t.loc["my_param", "export_name"] == "p_my_param"
    assert t.loc["my_tensor", "export_name"] == "c_my_tensor"
    assert (t.mutated_by_export == "false").all() and (t.export_error == "").all()


def test_seed_notebook_under_torch_export_strict(run):
    t = run("export=torch_export", "export.strict=true")
    assert t.loc["my_param", "export_role"] == "parameter"
    assert t.loc["my_tensor", "export_role"] in ("constant_tensor", "buffer")


def test_seed_notebook_under_onnx_dynamo(run, tmp_path):
    # The notebook's text says a plain tensor is baked in as a constant; its own printed output shows an
    # initializer named my_tensor. The dynamo exporter does the latter; unused tensors are dropped.
    t = run("export=onnx_dynamo")
    assert roles(t) == {"my_param": "initializer", "my_tensor": "initializer", "my_registered_param": "absent",
                        "my_buffer": "absent", "my_state": "absent"}
    assert t.loc["my_tensor", "export_name"] == "my_tensor"
    assert float(t.loc["my_param", "ort_max_abs_diff"]) < 1e-5
    assert (tmp_path / "model.onnx").is_file() and set(t.export_file) == {"model.onnx"}


def test_seed_notebook_under_onnx_legacy(run):
    t = run("export=onnx_legacy")
    assert roles(t) == {"my_param": "initializer", "my_tensor": "constant", "my_registered_param": "absent",
                        "my_buffer": "absent", "my_state": "absent"}
    assert t.loc["my_tensor", "export_name"].endswith("Constant_output_0")


@pytest.mark.parametrize("folding,weight_role", [("true", "folded"), ("false", "initializer")])
def test_custom_linear_legacy_constant_folding(run, tmp_path, folding, weight_role):
    # x @ weight.t(): with folding the transpose is computed at export time, and `weight` reaches the
    # graph only transposed, in an initializer of shape [in, out] = [3, 2] (weight is [2, 3]).
    t = run("variant=custom_linear", "export=onnx_legacy", f"export.do_constant_folding={folding}")
    assert t.loc["weight", "export_role"] == weight_role
    shapes = {i.name: list(i.dims) for i in onnx.load(str(tmp_path / "model.onnx")).graph.initializer}
    assert shapes[t.loc["weight", "export_name"]] == ([3, 2] if folding == "true" else [2, 3])
    assert t.loc["bias", "export_role"] == "initializer" and t.loc["scale", "export_role"] == "constant"
    assert float(t.loc["weight", "ort_max_abs_diff"]) < 1e-5


def test_dynamo_ignores_do_constant_folding_but_optimize_folds(run):
    folded = run("variant=custom_linear", "export=onnx_dynamo", "export.do_constant_folding=false")
    assert folded.loc["weight", "export_role"] == "folded"  # folding=false had no effect: transposed
    plain = run("variant=custom_linear", "export=onnx_dynamo", "export.optimize=false")
    assert plain.loc["weight", "export_role"] == "initializer"


@pytest.mark.parametrize("exporter", ["onnx_dynamo", "onnx_legacy"])
@pytest.mark.parametrize("variant", GENERIC)
def test_onnxruntime_parity_for_generic_variants(run, variant, exporter):
    t = run(f"variant={variant}", f"export={exporter}")
    if variant == "tensor_requires_grad" and exporter == "onnx_legacy":
        pytest.skip("the legacy exporter refuses this model (tested below)")
    assert (t.export_role != "error").all(), t.export_error.tolist()
    assert float(t.ort_max_abs_diff.iloc[0]) < 1e-5


def test_legacy_refuses_plain_tensor_requiring_grad_and_job_survives(run):
    t = run("variant=tensor_requires_grad", "export=onnx_legacy")
    row = t.loc["t"]
    assert row.export_role == "error"
    assert "Cannot insert a Tensor that requires grad as a constant" in row.export_error
    assert (row.grad, row.status, row.restored) == ("nonzero", "ok", "false")  # other stages kept
    dyn = run("variant=tensor_requires_grad", "export=onnx_dynamo").loc["t"]
    assert (dyn.export_role, dyn.export_name) == ("initializer", "t")


def test_dynamo_without_params_is_an_invalid_model_recorded(run):
    t = run("export=onnx_dynamo", "export.export_params=false")
    assert set(t.export_role) == {"error"}
    assert t.export_error.iloc[0].startswith(("onnx.checker:", "onnxruntime:"))
    assert set(t.status) == {"ok"} and t.loc["my_param", "updated"] == "true"


def test_legacy_without_params_makes_parameters_graph_inputs(run):
    t = run("export=onnx_legacy", "export.export_params=false")
    assert t.loc["my_param", "export_role"] == "input"
    assert float(t.loc["my_param", "ort_max_abs_diff"]) < 1e-5  # fed from the module's own value


def test_option_of_another_exporter_is_rejected(tmp_path):
    r = run_cli("runner", "export=onnx_dynamo", "export.keep_initializers_as_inputs=true",
                f"hydra.run.dir={tmp_path}")
    assert r.returncode == 2
    assert "export.keep_initializers_as_inputs: does not apply to exporter onnx_dynamo" in r.stderr


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
