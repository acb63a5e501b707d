"""Claim verdicts count only what was measured: one test per rule, on small tables written for it."""
import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

from runner.analysis.claims import CLAIMS_COLUMNS, Claim, judge, judge_all, load_claims, verdict_frame, where_text
from runner.schema import Config
from runner.table.csvfile import TableError

ROOT = Path(__file__).resolve().parent.parent
BASE = {"job": "device=cpu,export=none,optimizer=sgd,update=optimizer,variant=v", "status": "ok", "reason": "",
        "variant": "v", "optimizer": "sgd", "update": "optimizer", "device": "cpu", "export": "none", "seed": "0",
        "tensor": "t", "declared_as": "parameter", "persistent": "", "requires_grad": "true", "alias_of": "",
        "listed_as": "", "in_parameters": "true", "grad": "nonzero", "updated": "true", "update_error": "",
        "grad_after_zero_grad": "none", "export_role": "", "export_error": ""}


def table(*rows):
    """A results table of strings: BASE with each row's changes; the job key follows the group columns."""
    out = []
    for changes in rows:
        row = {**BASE, **changes}
        if "job" not in changes:
            row["job"] = ",".join(f"{g}={row[g]}" for g in ("device", "export", "optimizer", "update", "variant"))
        out.append(row)
    return pd.DataFrame(out, dtype=str)


def claim(where, expect, unless=None):
    return Claim("c", "statement", "source", where, expect, unless or {})


def test_holds_when_every_counted_row_matches():
    t = table({"tensor": "a"}, {"tensor": "b"}, {"tensor": "c", "declared_as": "tensor", "updated": "false"})
    v = judge(claim({"declared_as": "parameter"}, {"updated": True}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("holds", 2, 0)
    v = judge(claim({}, {"updated": True}), t)  # the plain tensor is now selected, and it was not updated
    assert v.verdict == "refuted" and v.rows == 3


def test_partial_rows_left_unmeasured_are_not_evidence():
    reason = "training (forward): RuntimeError: Expected all tensors to be on the same device"
    t = table({"tensor": "a"},
              {"tensor": "b", "status": "partial", "reason": reason, "grad": "", "updated": "",
               "grad_after_zero_grad": ""})
    # counted as a failure, b would refute the claim; it measured nothing, so it is left out and counted as such
    v = judge(claim({"declared_as": "parameter"}, {"updated": True}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("holds", 1, 1)
    assert "RuntimeError" in v.detail
    # a filter on a cell the partial row did not measure cannot select or drop it: it is not measured either
    v = judge(claim({"grad": "nonzero"}, {"declared_as": "parameter"}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("holds", 1, 1)
    # a measured cell of the partial row (its registration) does count
    v = judge(claim({"tensor": "b"}, {"in_parameters": True}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("holds", 1, 0)


def test_all_matching_rows_unmeasured_is_untested_with_the_failed_stage():
    reason = "training (setup): ValueError: optimizer got an empty parameter list"
    t = table({"declared_as": "tensor", "in_parameters": "false", "status": "partial", "reason": reason,
               "updated": "", "grad_after_zero_grad": "", "grad": "none"})
    v = judge(claim({"declared_as": "tensor"}, {"grad_after_zero_grad": ["none", "zero"]}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("untested", 0, 1)
    assert "training (setup)" in v.detail and "empty parameter list" in v.detail
    # the gradient was measured (forward and backward ran): that claim is judged
    assert judge(claim({"declared_as": "tensor"}, {"grad": "none"}), t).verdict == "holds"


def test_expecting_an_empty_cell_needs_the_stage_to_have_run():
    t = table({"tensor": "a", "update": "data"},
              {"tensor": "b", "update": "data", "status": "partial", "reason": "training (forward): E: x",
               "updated": "", "update_error": ""},
              {"tensor": "c", "update": "data", "export": "none"})
    v = judge(claim({"update": "data"}, {"update_error": ""}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("holds", 2, 1)  # b's update never ran
    v = judge(claim({"update": "data"}, {"export_error": ""}), t)  # export=none: nothing was exported
    assert (v.verdict, v.rows, v.not_measured) == ("untested", 0, 3)


def test_rows_of_jobs_that_did_not_run_never_count():
    failed = {"status": "failed", "reason": "ValueError: bad hyper-parameter", "tensor": "", "declared_as": "",
              "in_parameters": "", "grad": "", "updated": "", "requires_grad": "", "variant": "w"}
    skipped = {"status": "skipped", "reason": "no CUDA device", "tensor": "", "declared_as": "", "in_parameters": "",
               "grad": "", "updated": "", "requires_grad": "", "device": "cuda", "variant": "w"}
    t = table({"tensor": "a"}, failed, skipped, {**failed, "status": "config_error", "variant": "x"})
    v = judge(claim({}, {"tensor": ""}), t)  # would hold on the three rows without a tensor
    assert (v.verdict, v.rows, v.not_measured) == ("refuted", 1, 0)
    v = judge(claim({"variant": "w"}, {"updated": True}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("untested", 0, 0)
    assert "2 matching jobs did not run" in v.detail and "no CUDA device" in v.detail


def test_export_error_is_unmeasured_unless_the_claim_expects_it():
    err = "RuntimeError: Cannot insert a Tensor that requires grad as a constant"
    t = table({"tensor": "a", "export": "onnx_legacy", "declared_as": "tensor", "export_role": "constant"},
              {"tensor": "b", "export": "onnx_legacy", "declared_as": "tensor", "export_role": "error",
               "export_error": err})
    v = judge(claim({"export": "onnx_*"}, {"export_role": ["constant", "absent"]}, {"declared_as": "parameter"}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("holds", 1, 1)
    assert "export_role=error" in v.detail and "requires grad as a constant" in v.detail
    v = judge(claim({"export": "onnx_*"}, {"export_role": "initializer"}), t)  # a is a counterexample, b is not
    assert (v.verdict, v.rows, v.not_measured) == ("refuted", 1, 1)
    v = judge(claim({"tensor": "b"}, {"export_role": "error"}), t)  # the claim is about the failure itself
    assert (v.verdict, v.rows) == ("holds", 1)
    v = judge(claim({"export_role": "initializer"}, {"declared_as": "parameter"}), t)  # error in a filter
    assert (v.verdict, v.rows, v.not_measured) == ("untested", 0, 1)


def test_split_by_a_tensor_property_is_refuted_and_named():
    rows = [{"tensor": f"b{i}", "declared_as": "buffer", "in_parameters": "false", "persistent": p,
             "in_state_dict": "true" if p == "true" else "false", "export": e}
            for i, p in enumerate(["true", "false", "true"]) for e in ("onnx_dynamo", "onnx_legacy")]
    v = judge(claim({"declared_as": "buffer"}, {"in_state_dict": True}), table(*rows))
    failing = [r for r in rows if r["in_state_dict"] == "false"]
    assert v.verdict == "refuted"  # never depends: the split is by what the tensor is, not by the sweep
    assert f"{len(failing)} of {len(rows)} rows fail" in v.detail
    assert "fails for persistent=false (holds for persistent=true)" in v.detail


def test_split_by_an_expected_column_is_not_offered_as_the_reason():
    t = table({"tensor": "w"}, {"tensor": "frozen", "requires_grad": "false"})
    v = judge(claim({"declared_as": "parameter"}, {"requires_grad": True}), t)
    assert v.verdict == "refuted" and "fails for tensor=frozen" in v.detail
    assert "fails for requires_grad" not in v.detail  # true by definition of a failure: no explanation


def test_split_by_a_swept_option_depends():
    rows = [{"tensor": n, "declared_as": "tensor", "export": e,
             "export_role": "constant" if e == "onnx_legacy" else "initializer"}
            for n in ("x", "y") for e in ("onnx_dynamo", "onnx_legacy")]
    v = judge(claim({"declared_as": "tensor", "export": "onnx_*"}, {"export_role": "constant"}), table(*rows))
    assert v.verdict == "depends"
    assert v.detail.startswith("holds for export=onnx_legacy; fails for export=onnx_dynamo (2 of 4 rows fail)")


def test_split_by_a_plain_key_of_the_job_key_depends():
    default_steps = str(next(f.default for f in fields(Config) if f.name == "steps"))
    other = str(int(default_steps) + 1)
    key = "device=cpu,export=none,optimizer=sgd,update=optimizer,variant=v"
    t = table({"job": key, "grad_accumulates": "", "updated": "false"},  # steps at its default: not in the key
              {"job": f"{key},steps={other}", "grad_accumulates": "true"},
              {"job": f"{key},steps={other}", "tensor": "u", "grad_accumulates": "true"})
    v = judge(claim({}, {"updated": True}), t)
    assert v.verdict == "depends"
    assert v.detail.startswith(f"holds for steps={other}; fails for steps={default_steps} (1 of 3 rows fail)")
    v = judge(claim({"steps": other}, {"grad_accumulates": True}), t)
    assert (v.verdict, v.rows) == ("holds", 2)
    v = judge(claim({"steps": default_steps}, {"grad_accumulates": True}), t)
    assert (v.verdict, v.rows, v.not_measured) == ("untested", 0, 1) and "grad_accumulates is empty" in v.detail
    # a dotted override whose value holds a comma stays one option
    t = table({"job": key}, {"job": f"{key},variant.input_shape=[2,3]", "updated": "false"})
    v = judge(claim({}, {"updated": True}), t)
    assert v.verdict == "depends"
    assert v.detail.startswith('holds for variant.input_shape=""; fails for variant.input_shape=[2,3]')


def test_a_failure_inside_one_configuration_is_refuted_even_when_options_vary():
    rows = [{"tensor": n, "update": u, "updated": "false" if (n == "y" and u == "data") else "true"}
            for n in ("x", "y") for u in ("data", "no_grad")]
    v = judge(claim({}, {"updated": True}), table(*rows))
    assert v.verdict == "refuted"  # with update=data, x is updated and y is not: not a matter of options
    assert "fails for tensor=y, update=data" in v.detail


def test_tied_weight_counts_by_identity():
    tied = {"tensor": "second.weight", "alias_of": "first.weight", "listed_as": "first.weight",
            "in_parameters": "true"}
    by_identity = table({"tensor": "first.weight"}, tied)
    v = judge(claim({"declared_as": "parameter"}, {"in_parameters": True}), by_identity)
    assert (v.verdict, v.rows) == ("holds", 2)  # parameters() yields that object; only the name is listed once
    by_name = table({"tensor": "first.weight"}, {**tied, "in_parameters": "false", "listed_as": ""})
    v = judge(claim({"declared_as": "parameter"}, {"in_parameters": True}), by_name)
    assert v.verdict == "refuted" and "fails for alias_of=first.weight" in v.detail


def test_untested_says_why():
    t = table({"tensor": "a"})
    v = judge(claim({"export": "torch_export"}, {"export_role": "parameter"}), t)
    assert v.verdict == "untested" and "no row has export=torch_export" in v.detail
    v = judge(claim({"declared_as": "parameter"}, {"leaf_after_update": True}), t)
    assert v.verdict == "untested" and "no column leaf_after_update" in v.detail
    v = judge(claim({"update.include_tensors": True}, {"updated": True}), t)  # a config key no job set
    assert v.verdict == "untested" and "no row has update.include_tensors=true" in v.detail


def test_unless_leaves_rows_out_and_reads_back():
    t = table({"tensor": "w"}, {"tensor": "frozen", "requires_grad": "false"}, {"tensor": "z", "variant": "u",
                                                                              "requires_grad": "false"})
    c = claim({"declared_as": "parameter"}, {"requires_grad": True}, [{"variant": "v", "tensor": "frozen"},
                                                                     {"variant": "u"}])
    assert (judge(c, t).verdict, judge(c, t).rows) == ("holds", 1)
    assert where_text(c) == "declared_as=parameter unless (variant=v and tensor=frozen) or (variant=u)"
    c.unless = {"variant": "v", "tensor": "frozen"}
    assert where_text(c) == "declared_as=parameter unless variant=v and tensor=frozen"
    assert judge(c, t).verdict == "refuted"


def test_claims_csv_columns_and_counts():
    t = table({"tensor": "a"}, {"tensor": "b", "status": "partial", "reason": "training (forward): E", "updated": ""})
    claims = [claim({"declared_as": "parameter", "export": ["none", "onnx_*"]}, {"updated": True, "alias_of": ""}),
              claim({"variant": "nope"}, {"updated": True})]
    claims[1].id = "d"
    frame = verdict_frame(judge_all(claims, t))
    assert list(frame.columns) == CLAIMS_COLUMNS == ["id", "source", "statement", "where", "expect", "verdict",
                                                     "detail", "rows", "not_measured"]
    first = frame.iloc[0]
    assert first["where"] == "declared_as=parameter, export=none|onnx_*"
    assert first["expect"] == 'updated=true, alias_of=""'
    assert (first["verdict"], first["rows"], first["not_measured"]) == ("holds", 1, 1)
    assert tuple(frame.iloc[1][["verdict", "rows", "not_measured"]]) == ("untested", 0, 0)


def test_claim_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - {id: a, statement: s, where: {}, expect: {}}\n")
    with pytest.raises(TableError, match="expect: names no column"):
        load_claims([bad])
    bad.write_text("claims:\n  - {id: a, statement: s, where: {}, expect: {x: 1}, unless: [1]}\n")
    with pytest.raises(TableError, match="unless: must map"):
        load_claims([bad])


def test_analysis_modules_never_import_torch(tmp_path):
    """Importing the analysis modules, and writing a whole report with them, leaves torch unimported."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    table({"tensor": "a"}, {"tensor": "b", "declared_as": "tensor", "status": "partial", "updated": ""}) \
        .to_csv(sweep / "results.csv", index=False)
    code = ("import sys; import runner.analysis.claims, runner.analysis.report, runner.analysis.markdown, "
            "runner.analysis.figure, runner.report; from runner.analysis.report import write_report; "
            f"r = write_report({str(sweep)!r}); "
            "print(json.dumps({'torch': 'torch' in sys.modules, 'matplotlib': 'matplotlib' in sys.modules, "
            "'figure': r.figure is not None}))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    # nor matplotlib: the figure is drawn with Pillow (importing matplotlib was most of a report's time)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"torch": False, "matplotlib": False, "figure": True}


# --- the seeds' claim file ---------------------------------------------------------------------------------------

SEEDS = ROOT / "conf" / "claims" / "seeds.yaml"


def test_seed_claims_quote_the_material():
    claims = load_claims([SEEDS])
    for c in claims:
        assert re.search(r"「[^」]*[\u4e00-\u9fff]", c.statement) or "「" in c.statement, c.id  # the original
        assert re.search(r"[“—].*[A-Za-z]{4}", c.statement), c.id  # and an English rendering
        assert re.match(r"(tutorial|notebook) ", c.source), c.id
        assert "§" in c.source, c.id
    ids = {c.id for c in claims}
    assert "zero-grad-sets-zero" not in ids  # the project's own reading of 清空, not the text
    zero = next(c for c in claims if c.id == "zero-grad-clears")
    assert "清空" in zero.statement and set(zero.expect["grad_after_zero_grad"]) == {"none", "zero"}
    # the statements the material makes that need the new columns are there
    expected_columns = {c for claim_ in claims for c in claim_.expect}
    assert {"grad_requires_grad", "leaf_after_update", "grad_accumulates"} <= expected_columns
    only = next(c for c in claims if c.id == "onnx-only-parameters-initializers")
    assert "declared_as" not in only.where and only.unless == {"declared_as": "parameter"}  # buffers count too


def test_reference_material_cited_by_name_only():
    """The seed documents live outside the project: cited by file name, never by a path to their folder."""
    outside = "shared" + "/"  # spelled in two parts so that this file does not name the path either
    files = [SEEDS, *(ROOT / "conf" / "experiment").glob("*.yaml"), *(ROOT / "conf" / "variant").glob("*.yaml"),
             ROOT / "experiments" / "seed_notebook.py", ROOT / "README.md", Path(__file__),
             *(ROOT / "runner" / "analysis").glob("*.py")]
    for path in files:
        assert outside not in path.read_text(encoding="utf-8"), path
