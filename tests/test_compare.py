"""`python -m runner.compare`: cell diffs, key groups, formats and diff-like exit codes (its main(), in-process)."""
import json

import pandas as pd
import pytest

from runner.analysis.compare import main

from .conftest import read_csv, sweep

pytestmark = pytest.mark.slow


def _compare(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_same_sweep_twice_is_identical(export_sweep, tmp_path, capsys):
    again = sweep(tmp_path, "variant=seed_notebook,custom_linear", "export=onnx_dynamo,onnx_legacy",
                  "hydra.callbacks.sweep_table.report=false")
    code, out, _ = _compare(capsys, export_sweep, again)
    assert code == 0 and out.startswith(f"no differences ({len(read_csv(again / 'results.csv'))} rows")


def test_dynamo_vs_legacy_with_ignore_key(export_sweep, tmp_path, capsys):
    table = read_csv(export_sweep / "results.csv")
    for exporter in ("onnx_dynamo", "onnx_legacy"):
        table[table.export == exporter].to_csv(tmp_path / f"{exporter}.csv", index=False)
    code, out, _ = _compare(capsys, tmp_path / "onnx_dynamo.csv", tmp_path / "onnx_legacy.csv",
                            "--ignore-key", "export", "--format", "json")
    assert code == 1
    diff = json.loads(out)
    changed = {(c["tensor"], c["column"]): (c["old"], c["new"]) for c in diff["changes"]}
    # every cell the two exporters disagree on, and only those, is reported (derived from the table)
    dyn = table[table.export == "onnx_dynamo"].set_index(["variant", "tensor"])
    leg = table[table.export == "onnx_legacy"].set_index(["variant", "tensor"])
    for (variant, tensor), row in dyn.iterrows():
        if row.export_role != leg.loc[(variant, tensor), "export_role"]:
            assert changed[(tensor, "export_role")] == (row.export_role, leg.loc[(variant, tensor), "export_role"])
    assert "export" not in {c["column"] for c in diff["changes"]}
    assert diff["only_in_old"] == [] and diff["only_in_new"] == []
    half = len(table) // 2
    code, out, _ = _compare(capsys, tmp_path / "onnx_dynamo.csv", tmp_path / "onnx_legacy.csv", "--no-align")
    assert code == 1 and f"{half} rows only in OLD; {half} rows only in NEW" in out
    # without --ignore-key the two tables align on export by themselves, and the summary counts each transition
    code, out, _ = _compare(capsys, tmp_path / "onnx_dynamo.csv", tmp_path / "onnx_legacy.csv")
    lines = out.splitlines()
    assert code == 1 and lines[0] == "aligned on everything but export: onnx_dynamo → onnx_legacy"
    roles = {}
    for (variant, tensor), row in dyn.iterrows():
        new = leg.loc[(variant, tensor), "export_role"]
        if row.export_role != new:
            roles[(row.export_role, new)] = roles.get((row.export_role, new), 0) + 1
    for (a, b), n in roles.items():
        assert any(line.startswith(f"export_role: {a} → {b} — {n} row") for line in lines), (a, b, n, out)
    assert lines[-1] == f"{len(diff['changes'])} changed cells in " \
                        f"{len({(c['job'], c['tensor']) for c in diff['changes']})} rows; 0 rows only in OLD; " \
                        f"0 rows only in NEW ({half} rows compared)"


def test_environment_is_ignored_unless_asked_and_ignore_adds_columns(export_sweep, tmp_path, capsys):
    table = read_csv(export_sweep / "results.csv")
    table["torch_version"] = "9.9.9"
    table["job_seconds"] = "123"
    table.to_csv(tmp_path / "other.csv", index=False)
    assert _compare(capsys, export_sweep, tmp_path / "other.csv")[0] == 0
    code, out, _ = _compare(capsys, export_sweep, tmp_path / "other.csv", "--only", "torch_version", "--format",
                            "csv", "--output", tmp_path / "diff.csv")
    assert code == 1 and f"{len(table)} changed cells in {len(table)} rows" in out
    diff = pd.read_csv(tmp_path / "diff.csv", dtype=str)
    assert set(diff.column) == {"torch_version"} and set(diff.new) == {"9.9.9"}
    table = read_csv(export_sweep / "results.csv")
    table.loc[table.tensor == "my_param", "restored"] = "false"
    table.to_csv(tmp_path / "edited.csv", index=False)
    assert _compare(capsys, export_sweep, tmp_path / "edited.csv")[0] == 1
    assert _compare(capsys, export_sweep, tmp_path / "edited.csv", "--ignore", "restored")[0] == 0


def test_changed_outcome_is_reported_in_markdown(export_sweep, tmp_path, capsys):
    table = read_csv(export_sweep / "results.csv")
    table.loc[table.tensor == "my_param", "restored"] = "false"
    table.iloc[1:].to_csv(tmp_path / "edited.csv", index=False)
    code, out, _ = _compare(capsys, export_sweep, tmp_path / "edited.csv", "--format", "markdown", "--cells")
    assert code == 1
    assert "| restored | true | false |" in out and "## Only in OLD" in out
    changed = int((read_csv(export_sweep / "results.csv").iloc[1:].tensor == "my_param").sum())
    code, out, _ = _compare(capsys, export_sweep, tmp_path / "edited.csv", "--format", "md")
    assert code == 1 and f"| restored | true → false | {changed} |" in out and "| only in old |  | 1 |" in out


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("", "empty file"),
    ("a,b\n1,2\n", "not a results table, missing columns job, tensor"),
    ("job,tensor,status\nx,y,ok\n", "missing columns variant"),
])
def test_bad_input_exits_2(export_sweep, tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    code, _, err = _compare(capsys, export_sweep, path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_unknown_key_group_is_rejected(export_sweep, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(export_sweep), str(export_sweep), "--ignore-key", "colour"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
