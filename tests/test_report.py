"""Reports and claims: verdicts computed from the table, escaping, automatic report after a sweep."""
import re

import pandas as pd
import pytest

from runner.analysis.claims import CLAIMS_COLUMNS, OPTIONS, Claim, judge, load_claims
from runner.analysis.report import COLUMN_REFERENCE, _shares, heatmap, outcome_matrix, write_report

from tests.conftest import ROOT, read_csv, run_cli


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


def _partial_table():
    """Two jobs of one variant: one ran to the end, the other's forward failed (its later cells are empty)."""
    rows = []
    for job, status, grad, updated in (("a", "ok", "nonzero", "true"), ("b", "partial", "", "")):
        for tensor, declared, in_params in (("w", "parameter", "true"), ("t", "tensor", "false")):
            rows.append({"job": job, "status": status, "reason": "" if status == "ok" else "training (forward): E",
                         "variant": "v", "update": "optimizer" if job == "a" else "data", "export": "none",
                         "tensor": tensor, "declared_as": declared, "in_parameters": in_params,
                         "grad": grad if declared == "parameter" or not grad else "none",
                         "updated": updated if declared == "parameter" or not updated else "false"})
    return pd.DataFrame(rows, dtype=str)


def test_heatmap_shares_leave_unmeasured_cells_out(tmp_path):
    table = _partial_table()
    labels, facts, shares = _shares(table)
    cell = {(label, fact): share for label, row in zip(labels, shares) for fact, share in zip(facts, row)}
    # job b measured the listing but not the training: each share is over the jobs that measured the fact
    assert cell[("v / w", "in_parameters")] == (1.0, False)
    assert cell[("v / w", "updated")] == (1.0, True)      # 1 of 1 measured, not measured in job b
    assert cell[("v / t", "updated")] == (0.0, True)
    only_b = table[table.job == "b"]
    labels, facts, shares = _shares(only_b)
    cell = {(label, fact): share for label, row in zip(labels, shares) for fact, share in zip(facts, row)}
    assert cell[("v / w", "in_parameters")] == (1.0, False)
    assert "updated" not in facts  # no job measured it at all: no column of n/a only
    both = pd.concat([only_b, table[(table.job == "a") & (table.tensor == "t")]])
    labels, facts, shares = _shares(both)
    cell = {(label, fact): share for label, row in zip(labels, shares) for fact, share in zip(facts, row)}
    assert cell[("v / w", "updated")] == (None, True)  # shown as n/a, not as "no"


def test_heatmap_uses_a_neutral_scale_and_marks_unmeasured_cells(tmp_path):
    import numpy as np
    from PIL import Image

    def imread(path):
        return np.asarray(Image.open(path).convert("RGB"), dtype=float) / 255

    path = heatmap(_partial_table(), tmp_path / "o.png")
    pixels = imread(path)[..., :3]
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.35) & (pixels[..., 2] < 0.35)
    green = (pixels[..., 1] > 0.5) & (pixels[..., 0] < 0.35) & (pixels[..., 2] < 0.35)
    assert not red.any() and not green.any()  # a "0 %" fact is not a defect, a "100 %" one not a success
    table = _partial_table()
    table = table[~((table.job == "a") & (table.tensor == "w"))]  # no job measured w's training
    path = heatmap(table, tmp_path / "p.png")
    pixels = imread(path)
    grey = (abs(pixels[..., 0] - 228 / 255) < 0.02) & (abs(pixels[..., 1] - 228 / 255) < 0.02)
    assert grey.sum() > 100  # the n/a cell's grey


def test_outcome_matrix_ignores_unmeasured_cells():
    table = _partial_table()
    matrix = outcome_matrix(table, "updated", ["update"])
    # job b (update=data) measured nothing: update does not change the outcome, and no "" values show
    assert list(matrix.columns) == ["variant", "tensor", "every swept config"]
    assert dict(zip(matrix.tensor, matrix["every swept config"])) == {"w": "true", "t": "false"}
    assert outcome_matrix(table[table.job == "b"], "updated", ["update"]) is None


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
    assert COLUMN_REFERENCE in md and COLUMN_REFERENCE in (sweep / "report.html").read_text()
    claims = read_csv(sweep / "claims.csv")
    assert list(claims.columns) == CLAIMS_COLUMNS
    verdict = dict(zip(claims.id, claims.verdict))
    assert verdict["onnx-my-tensor-constant"] == "depends"
    assert verdict["parameter-has-is-param"] == "refuted"
    assert verdict["inplace-update-builds-graph"] == "untested"  # this sweep has no update=inplace
    # the report shows each claim's filter and counts next to its verdict
    row = claims.set_index("id").loc["onnx-my-tensor-constant"]
    assert row["where"] == "variant=seed_notebook, tensor=my_tensor, export=onnx_*"
    assert int(row["rows"]) + int(row["not_measured"]) == 2  # one my_tensor row per exporter
    section = md.split('<a id="claim-onnx-my-tensor-constant"></a>', 1)[1].split("<a id=", 1)[0]
    assert section.splitlines()[1] == "### onnx-my-tensor-constant — **depends**"
    assert f"- about: the rows with `{row['where']}`" in section
    assert f"- counts: {row['rows']} rows counted, {row['not_measured']} not measured" in section

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


@pytest.mark.slow
def test_report_off_and_bad_claim_file(tmp_path):
    sweep = tmp_path / "s"
    r = run_cli("runner", "-m", "variant=parameter", f"hydra.sweep.dir={sweep}",
                "hydra.callbacks.sweep_table.report=false")
    assert r.returncode == 0 and (sweep / "results.csv").is_file() and not (sweep / "report.md").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - {id: a, statement: s, where: {}, expect: {}, colour: red}\n")
    r = run_cli("runner.report", str(sweep), "--claims", str(bad))
    assert r.returncode == 2 and "unknown keys ['colour']" in r.stderr


# Verdicts a careful reader derives for the seeds preset from PyTorch's own behaviour (torch 2.13, CPU):
SEED_VERDICTS = {
    "parameter-in-parameters": "holds",           # parameters() yields the tied weight's object under both names
    "only-parameters-in-parameters": "holds",
    "requires-grad-tensor-not-a-parameter": "holds",
    "parameter-has-is-param": "refuted",          # Parameter(plain tensor) never sets _is_param
    "parameter-requires-grad-default": "holds",
    "parameter-requires-grad-forced": "refuted",  # nn.Parameter(x, requires_grad=False) is honoured
    "grad-after-backward": "refuted",             # the notebook's my_registered_param takes no part in forward
    "grad-tracked-by-autograd": "refuted",        # .grad does not require grad (no create_graph)
    "sgd-steps-parameters-with-grad": "holds",
    "sgd-skips-parameters-without-grad": "holds",
    "optimizer-updates-parameters": "refuted",    # a frozen or unused Parameter gets no gradient, no update
    "only-parameters-updated": "holds",
    "requires-grad-tensor-not-updated": "holds",
    "tensor-optimized-by-hand": "holds",          # update.include_tensors: the manual updates step it
    "zero-grad-clears": "holds",                  # set to None by default
    "tensor-gradient-accumulates": "holds",       # no optimizer holds it: backward adds to its .grad
    "data-update-works": "holds",
    "data-update-no-graph": "holds",
    "data-update-with-grad-recorded": "refuted",  # .data updates are not recorded: still a leaf
    "no-grad-update-works": "holds",
    "no-grad-update-no-graph": "holds",
    "inplace-update-builds-graph": "refuted",     # an in-place op on a leaf that requires grad raises
    "sgd-step-no-graph": "holds",
    "parameter-in-state-dict": "holds",
    "tensor-not-in-state-dict": "holds",
    "buffer-saved-with-model": "refuted",         # a non-persistent buffer is not saved
    "my-state-persistent": "refuted",             # registered with persistent=False
    "my-state-not-a-tensor": "refuted",           # torch.tensor(42) is a tensor
    "onnx-my-param-initializer": "holds",
    "onnx-only-parameters-initializers": "refuted",  # a used persistent buffer is an initializer too
}


@pytest.mark.slow
def test_seed_experiment_leaves_no_claim_untested(tmp_path):
    r = run_cli("runner", "-m", "+experiment=seeds", f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    claims = read_csv(tmp_path / "claims.csv")
    assert set(claims.id) == {c.id for c in load_claims([ROOT / "conf" / "claims" / "seeds.yaml"])}
    assert "untested" not in set(claims.verdict), claims[claims.verdict == "untested"]
    verdict = dict(zip(claims.id, claims.verdict))
    assert {k: verdict[k] for k in SEED_VERDICTS} == SEED_VERDICTS
    detail = dict(zip(claims.id, claims.detail))
    assert "fails for persistent=false" in detail["buffer-saved-with-model"]
    assert "fails for tensor=frozen" in detail["parameter-requires-grad-forced"]
    for _, row in claims[claims.verdict == "depends"].iterrows():  # only swept options make a claim depend
        named = re.match(r"(?:holds|fails) for ([\w.]+)=", row.detail).group(1)
        assert named in OPTIONS or named in ("steps", "lr") or "." in named, row.detail


def test_heatmap_shows_export_roles_per_exporter_and_an_error_as_an_error(tmp_path):
    import numpy as np
    from PIL import Image

    from runner.analysis.figure import CATEGORY
    rows = []
    for job, exporter, roles in (("a", "onnx_dynamo", ("initializer", "initializer")),
                                 ("b", "onnx_legacy", ("error", "constant")),
                                 ("c", "onnx_legacy", ("error", "")),      # t: not measured in job c
                                 ("d", "none", ("", ""))):
        for tensor, role in zip(("w", "t"), roles):
            rows.append({"job": job, "export": exporter, "tensor": tensor, "export_role": role})
    table = _table(rows)
    labels, facts, shares = _shares(table)
    assert facts[-2:] == ["role: onnx_dynamo", "role: onnx_legacy"]  # no column for export=none
    cell = {(label, fact): share for label, row in zip(labels, shares) for fact, share in zip(facts, row)}
    assert cell[("v / w", "role: onnx_dynamo")] == ("initializer", False)
    assert cell[("v / w", "role: onnx_legacy")] == ("error", False)  # an error is shown, not counted as exported
    assert cell[("v / t", "role: onnx_legacy")] == ("constant", True)  # one of its two jobs measured it
    table.loc[(table.job == "b") & (table.tensor == "t"), "export_role"] = "folded"
    table.loc[(table.job == "c") & (table.tensor == "t"), "export_role"] = "constant"
    labels, facts, shares = _shares(table)
    assert dict(zip(facts, shares[labels.index("v / t")]))["role: onnx_legacy"] == ("constant/folded", False)
    pixels = np.asarray(Image.open(heatmap(table, tmp_path / "roles.png")).convert("RGB"))
    assert (pixels == CATEGORY["error"]).all(axis=-1).sum() > 100  # the error cell's own colour
