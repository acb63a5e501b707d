"""`python -m runner.compare`: cell diffs, key groups, formats and diff-like exit codes."""
import json

import pandas as pd
import pytest

from tests.conftest import read_csv, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The same small sweep, run twice into different directories."""
    dirs = []
    for name in ("first", "second"):
        d = tmp_path_factory.mktemp(name)
        r = run_cli("runner", "-m", "variant=seed_notebook,custom_linear", "export=onnx_dynamo,onnx_legacy",
                    f"hydra.sweep.dir={d}", "hydra.callbacks.sweep_table.report=false")
        assert r.returncode == 0, r.stderr
        dirs.append(d)
    return dirs


def test_same_sweep_twice_is_identical(sweeps):
    r = run_cli("runner.compare", str(sweeps[0]), str(sweeps[1]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("no differences (16 rows")


def test_dynamo_vs_legacy_with_ignore_key(sweeps, tmp_path):
    table = read_csv(sweeps[0] / "results.csv")
    for exporter in ("onnx_dynamo", "onnx_legacy"):
        table[table.export == exporter].to_csv(tmp_path / f"{exporter}.csv", index=False)
    r = run_cli("runner.compare", str(tmp_path / "onnx_dynamo.csv"), str(tmp_path / "onnx_legacy.csv"),
                "--ignore-key", "export", "--format", "json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    changed = {(c["tensor"], c["column"]): (c["old"], c["new"]) for c in out["changes"]}
    assert changed[("my_tensor", "export_role")] == ("initializer", "constant")
    assert changed[("scale", "export_role")] == ("initializer", "constant")
    assert ("my_param", "export_role") not in changed and "export" not in {c["column"] for c in out["changes"]}
    assert out["only_in_old"] == [] and out["only_in_new"] == []
    # without dropping the key group, the two halves share no rows at all
    r = run_cli("runner.compare", str(tmp_path / "onnx_dynamo.csv"), str(tmp_path / "onnx_legacy.csv"))
    assert r.returncode == 1 and "8 rows only in OLD; 8 rows only in NEW" in r.stdout


def test_other_environment_is_ignored_unless_asked(sweeps, tmp_path):
    table = read_csv(sweeps[0] / "results.csv")
    table["torch_version"] = "9.9.9"
    table["job_seconds"] = "123"
    table.to_csv(tmp_path / "other.csv", index=False)
    assert run_cli("runner.compare", str(sweeps[0]), str(tmp_path / "other.csv")).returncode == 0
    r = run_cli("runner.compare", str(sweeps[0]), str(tmp_path / "other.csv"), "--only", "torch_version",
                "--format", "csv", "--output", str(tmp_path / "diff.csv"))
    assert r.returncode == 1 and "16 changed cells in 16 rows" in r.stdout
    diff = pd.read_csv(tmp_path / "diff.csv", dtype=str)
    assert set(diff.column) == {"torch_version"} and set(diff.new) == {"9.9.9"}


def test_changed_outcome_is_reported_in_markdown(sweeps, tmp_path):
    table = read_csv(sweeps[0] / "results.csv")
    table.loc[table.tensor == "my_param", "restored"] = "false"
    table.iloc[1:].to_csv(tmp_path / "edited.csv", index=False)
    r = run_cli("runner.compare", str(sweeps[0]), str(tmp_path / "edited.csv"), "--format", "markdown")
    assert r.returncode == 1
    assert "| restored | true | false |" in r.stdout and "## Only in OLD" in r.stdout


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("", "empty file"),
    ("a,b\n1,2\n", "not a results table, missing columns job, tensor"),
    ("job,tensor,status\nx,y,ok\n", "missing columns variant"),
])
def test_bad_input_exits_2(sweeps, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    r = run_cli("runner.compare", str(sweeps[0]), str(path))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_key_group_is_rejected(sweeps):
    r = run_cli("runner.compare", str(sweeps[0]), str(sweeps[1]), "--ignore-key", "colour")
    assert r.returncode == 2 and "invalid choice" in r.stderr
