"""compare's summary and alignment on small tables built here: grouping by column and transition, counts
derived from the cells changed, the one option two tables differ in (and when there is none, or two)."""
import json

import pandas as pd
import pytest

from runner.analysis.align import find_alignment, key_parts, row_label, varying_parts
from runner.analysis.compare import compare, main, render
from runner.table.columns import CONTRACT_COLUMNS


def _table(jobs, tensors, **cells):
    """A results table: one row per (job, tensor), every contract column, `cells` overriding columns."""
    rows = []
    for job in jobs:
        parts = dict(p.split("=", 1) for p in key_parts(job) if "=" in p)
        for tensor in tensors:
            row = {c: "" for c in CONTRACT_COLUMNS}
            row.update(job=job, tensor=tensor, status="ok", variant=parts.get("variant", ""),
                       export=parts.get("export", ""), export_role="initializer", restored="true")
            rows.append(row)
    frame = pd.DataFrame(rows, dtype=str)
    for column, fill in cells.items():
        for (variant, tensor), value in fill.items():
            frame.loc[(frame.variant == variant) & (frame.tensor == tensor), column] = value
    return frame


VARIANTS = ["variant=a", "variant=b", "variant=c"]


def _jobs(extra):
    return [f"{extra},{v}" if extra else v for v in VARIANTS]


def test_key_parts_keep_commas_inside_brackets():
    assert key_parts("export=onnx_legacy,variant.input_shape=[4,3],variant=model") == [
        "export=onnx_legacy", "variant.input_shape=[4,3]", "variant=model"]


def test_alignment_is_the_one_option_that_matches_one_to_one():
    old, new = _jobs("export=onnx_dynamo"), _jobs("export=onnx_legacy")
    option, pairs = find_alignment(old, new)
    assert option == "export" and pairs == dict(zip(old, new))
    assert find_alignment(old, old) is None                        # shared keys: a plain join
    assert find_alignment(old, _jobs("export=onnx_legacy,steps=3")) is None   # two options differ
    assert find_alignment(old + ["export=onnx_dynamo,variant=d"], new) is None  # not one to one
    two = ["export=onnx_dynamo,variant=a,update=data", "export=onnx_dynamo,variant=a,update=no_grad"]
    assert find_alignment(two, ["export=onnx_legacy,variant=a,update=data"]) is None


def test_summary_groups_every_changed_cell_by_column_and_transition():
    old = _table(_jobs("export=onnx_dynamo"), ["w", "t"])
    new = _table(_jobs("export=onnx_legacy"), ["w", "t"],
                 export_role={("a", "t"): "constant", ("b", "t"): "constant", ("c", "w"): "error"},
                 restored={("a", "w"): "false"})
    diff = compare(old, new, align=True)
    # the changes found are exactly the cells that differ, derived from the two frames joined by hand
    by_hand = old.drop(columns=["job", "export"]).set_index(["variant", "tensor"]).compare(
        new.drop(columns=["job", "export"]).set_index(["variant", "tensor"]))
    assert len(diff.changes) == int(by_hand.notna().sum().sum() // 2)
    text = render(diff, "text").splitlines()
    assert text[0] == "aligned on everything but export: onnx_dynamo → onnx_legacy"
    assert text[1] == "restored: true → false — 1 row: a/w"  # columns in table order
    assert text[2] == "export_role: initializer → constant — 2 rows: a/t, b/t"  # the most rows first
    assert text[3] == "export_role: initializer → error — 1 row: c/w"
    assert text[-1].startswith("4 changed cells in 4 rows; 0 rows only in OLD")
    groups = json.loads(render(diff, "json"))["groups"]
    assert sum(g["rows"] for g in groups) == len(diff.changes)
    csv = render(diff, "csv").splitlines()
    assert csv[0] == "kind,column,old,new,rows,examples" and len(csv) == 1 + 3
    # without alignment every row is one-sided, and the summary says so in two lines
    plain = compare(old, new)
    assert not plain.changes and len(plain.only_old) == len(old)
    lines = render(plain, "text").splitlines()
    assert lines[0].startswith(f"only in OLD: {len(old)} rows: a/export=onnx_dynamo/")


def test_many_transitions_of_one_column_are_named_on_one_line():
    old = _table(["variant=a"], [f"t{i}" for i in range(6)])
    new = _table(["variant=a"], [f"t{i}" for i in range(6)], export_role={("a", f"t{i}"): f"r{i}" for i in range(6)})
    lines = render(compare(old, new), "text").splitlines()
    assert len(lines) == 3 + 1 + 1
    assert lines[3] == ("export_role: 3 more transitions: initializer → r3 (1 row); initializer → r4 (1 row); "
                        "initializer → r5 (1 row)")


def test_labels_name_what_varies():
    jobs = ["update=data,variant=a", "update=no_grad,variant=a", "update=data,variant=b"]
    varying = varying_parts(jobs)
    assert row_label(jobs[1], "w", varying) == "a/update=no_grad/w"
    assert row_label("variant=a", "w", varying_parts(["variant=a"])) == "w"


def test_cli_formats_exit_codes_and_cells(tmp_path, capsys):
    old = _table(_jobs("export=onnx_dynamo"), ["w"])
    new = _table(_jobs("export=onnx_legacy"), ["w"], restored={("b", "w"): "false"})
    old.to_csv(tmp_path / "old.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main([str(tmp_path / "old.csv"), str(tmp_path / "old.csv")]) == 0
    capsys.readouterr()
    for fmt in ("md", "markdown"):
        assert main([str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--format", fmt]) == 1
        out = capsys.readouterr().out
        assert "| restored | true → false | 1 | b/w |" in out and out.startswith("*aligned on everything but export")
    assert main([str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--cells"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "variant=b  w  restored: true -> false"
    assert main([str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--no-align"]) == 1
    assert "3 rows only in OLD; 3 rows only in NEW" in capsys.readouterr().out
    assert main([str(tmp_path / "old.csv"), str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
