"""Reports and claims: verdicts computed from the table, escaping, automatic report after a sweep."""
import pandas as pd
import pytest

from runner.analysis.claims import Claim, judge
from runner.analysis.report import write_report

from tests.conftest import read_csv, run_cli


def _table(rows):
    base = {"job": "j", "status": "ok", "variant": "v", "export": "none", "declared_as": "tensor", "tensor": "t"}
    return pd.DataFrame([{**base, **r} for r in rows], dtype=str)


def test_verdicts_follow_the_rows():
    table = _table([{"job": "a", "export": "onnx_dynamo", "export_role": "initializer"},
                    {"job": "b", "export": "onnx_legacy", "export_role": "constant"}])
    claim = Claim("c", "plain tensor is a constant", "seed", {"declared_as": "tensor", "export": "onnx_*"},
                  {"export_role": "constant"})
    v = judge(claim, table)
    assert v.verdict == "depends"
    assert v.detail.startswith("holds for export=onnx_legacy; fails for export=onnx_dynamo")
    claim.expect = {"export_role": ["constant", "initializer"]}
    assert judge(claim, table).verdict == "holds"
    claim.expect = {"export_role": "absent"}
    refuted = judge(claim, table)
    assert refuted.verdict == "refuted" and len(refuted.counterexamples) == 2
    claim.where = {"export": "torch_export"}
    untested = judge(claim, table)
    assert untested.verdict == "untested" and "export=torch_export" in untested.detail


@pytest.mark.slow
def test_sweep_writes_report_and_claim_expectations_drive_verdicts(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli("runner", "-m", "variant=seed_notebook", "export=onnx_dynamo,onnx_legacy", f"hydra.sweep.dir={sweep}")
    assert r.returncode == 0, r.stderr
    for name in ("report.md", "report.html", "outcomes.png", "claims.csv"):
        assert (sweep / name).is_file(), name
    md = (sweep / "report.md").read_text()
    assert "python -m runner -m variant=seed_notebook export=onnx_dynamo,onnx_legacy" in md
    assert "torch_version" in md and "![outcomes](outcomes.png)" in md
    claims = read_csv(sweep / "claims.csv")
    assert list(claims.columns) == ["id", "source", "statement", "verdict", "detail"]
    verdict = dict(zip(claims.id, claims.verdict))
    assert verdict["onnx-tensor-is-constant"] == "depends"
    assert verdict["parameter-has-is-param"] == "refuted"
    assert verdict["inplace-update-builds-graph"] == "untested"  # this sweep has no update=inplace

    own = tmp_path / "mine.yaml"
    own.write_text("claims:\n"
                   "  - {id: x, statement: '<script>alert(1)</script> tensor is constant', source: me,\n"
                   "     where: {tensor: my_tensor, export: onnx_legacy}, expect: {export_role: constant}}\n")
    report = write_report(sweep, [own])
    assert list(report.verdicts.verdict) == ["holds"]
    page = report.html.read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    own.write_text(own.read_text().replace("expect: {export_role: constant}", "expect: {export_role: initializer}"))
    assert list(write_report(sweep, [own]).verdicts.verdict) == ["refuted"]


def test_report_off_and_bad_claim_file(tmp_path):
    sweep = tmp_path / "s"
    r = run_cli("runner", "-m", "variant=parameter", f"hydra.sweep.dir={sweep}",
                "hydra.callbacks.sweep_table.report=false")
    assert r.returncode == 0 and (sweep / "results.csv").is_file() and not (sweep / "report.md").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - {id: a, statement: s, where: {}, expect: {}, colour: red}\n")
    r = run_cli("runner.report", str(sweep), "--claims", str(bad))
    assert r.returncode == 2 and "unknown keys ['colour']" in r.stderr


@pytest.mark.slow
def test_seed_experiment_leaves_no_claim_untested(tmp_path):
    r = run_cli("runner", "-m", "+experiment=seeds", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    claims = read_csv(tmp_path / "claims.csv")
    assert len(claims) >= 12 and "untested" not in set(claims.verdict), claims[claims.verdict == "untested"]
    verdict = dict(zip(claims.id, claims.verdict))
    assert verdict["buffer-saved-with-model"] == "depends"
    assert verdict["zero-grad-sets-zero"] == "refuted"  # zero_grad() sets grads to None by default
