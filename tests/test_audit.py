"""The audit: findings from measured cells, each right for the module it names (checked with torch here)."""
import re

import pandas as pd
import pytest
import torch

from runner.analysis.audit import audit, main
from runner.table.csvfile import write_rows_atomic

from .conftest import read_csv, run_cli, run_config


@pytest.mark.slow
def test_audit_of_a_module_with_every_pitfall(tmp_path):
    from experiments.pitfalls import Pitfalls
    m = Pitfalls(3)
    r = run_cli("runner", "-m", "+experiment=audit", "variant=pitfalls", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr[-2000:]
    findings = read_csv(tmp_path / "audit.csv")
    assert list(findings.columns) == ["tensor", "severity", "finding", "evidence", "fix"]
    by_tensor = {t: rows for t, rows in findings.groupby("tensor")}
    # facts about the module, from torch itself
    assert not any(t is m.scale for t in m.state_dict(keep_vars=True).values())
    assert m.temperature.requires_grad and not any(p is m.temperature for p in m.parameters())
    assert m.decoder.weight is m.encoder.weight and "cache" in m._non_persistent_buffers_set
    x = torch.randn(2, 3)
    (m(x) ** 2).mean().backward()
    assert m.unused.grad is None and m.temperature.grad is not None
    scale = by_tensor["scale"].iloc[0]
    assert scale.severity == "error" and "read by forward" in scale.finding and "register_buffer('scale'" in scale.fix
    assert "follows_device=false" in scale.evidence and "in_state_dict=false" in scale.evidence
    temperature = by_tensor["temperature"].iloc[0]
    assert len(by_tensor["temperature"]) == 1 and temperature.severity == "error"
    assert "never in parameters()" in temperature.finding and "nn.Parameter" in temperature.fix
    unused = by_tensor["unused"].iloc[0]
    assert unused.severity == "warning" and "find_unused_parameters=True" in unused.finding
    assert "grad=none" in unused.evidence and "export_role=absent" in unused.evidence
    # a non-persistent buffer is a design: not saved (measured), but no hazard measured here follows from it
    assert "cache" in m._non_persistent_buffers_set and "cache" not in by_tensor
    assert (findings[findings.severity == "info"].fix == "").all()  # an info finding prescribes nothing
    # the wording follows the evidence: each "<how> by <exporter>" matches a measured role of that exporter
    said = re.findall(r"(baked into the graph|folded into the graph|stored as an initializer) by ([\w ]+?)(?:,|$)",
                      scale.finding)
    roles = {"baked into the graph": "constant", "folded into the graph": "folded",
             "stored as an initializer": "initializer"}
    assert said
    for how, exporters in said:
        for exporter in exporters.split(" and "):
            assert f"export_role={roles[how]}" in scale.evidence and exporter in scale.evidence
    tied = by_tensor["decoder.weight"].iloc[0]
    # tying is a design: info, naming what handles it (save_model, save_pretrained), no fix
    assert tied.severity == "info" and "encoder.weight" in tied.finding and tied.fix == ""
    assert "save_model" in tied.finding and "save_pretrained" in tied.finding
    assert "Some tensors share memory" in tied.evidence
    assert "encoder.weight" not in by_tensor and "encoder.bias" not in by_tensor  # nothing wrong with them
    assert (tmp_path / "audit.md").is_file() and "tensorprobe audit" in (tmp_path / "audit.md").read_text()
    assert "scale: plain tensor attribute read by forward" in r.stdout  # printed at the end of the sweep
    assert main([str(tmp_path)]) == 1 and main([str(tmp_path), "--fail-on", "error"]) == 1


@pytest.mark.slow
def test_a_stock_linear_layer_passes(tmp_path):
    rows = []
    for update in ("optimizer", "no_grad"):
        for export in ("torch_export", "onnx_dynamo", "onnx_legacy"):
            rows += run_config(["variant=seed_notebook", "variant.model._target_=torch.nn.Linear",
                                "+variant.model.in_features=3", "+variant.model.out_features=2",
                                "variant.input_shape=[4,3]", f"update={update}", f"export={export}",
                                "checkpoint=true", "move_to=auto", "device=auto"], tmp_path).to_dict("records")
    write_rows_atomic(rows, tmp_path / "results.csv", list(rows[0]))
    assert audit(pd.DataFrame(rows, dtype=str)) == []
    assert main([str(tmp_path)]) == 0 and main([str(tmp_path), "--fail-on", "info"]) == 0


def test_unmeasured_cells_support_no_finding():
    base = {"job": "j", "status": "ok", "variant": "v", "optimizer": "sgd", "update": "optimizer", "device": "cpu",
            "seed": "0", "tensor": "t", "declared_as": "tensor", "requires_grad": "false", "persistent": "",
            "alias_of": "", "in_parameters": "false", "in_state_dict": "false", "follows_device": "", "grad": "",
            "updated": "", "export": "onnx_dynamo", "export_role": "", "export_name": "", "export_error": "",
            "mutated_by_export": "", "restored": "", "reason": "", "safetensors_error": ""}
    unmeasured = pd.DataFrame([base], dtype=str)
    assert audit(unmeasured) == []  # whether forward reads it was never measured
    measured = pd.DataFrame([{**base, "export_role": "constant"}], dtype=str)
    assert [f.tensor for f in audit(measured)] == ["t"]
    failed_job = pd.DataFrame([{**base, "status": "failed", "export_role": "constant"}], dtype=str)
    assert [f.tensor for f in audit(failed_job)] == [""]  # the job's failure, not the tensor's
