"""Results that were silently wrong or lost for a new user (issue 19): each test failed before its fix."""
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, NO_REPORT, read_csv, run_cli


def _rc_line(r):
    """The process's exit code and its last stderr line."""
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    return r.returncode, lines[-1] if lines else ""


# -- 1. a reused sweep directory ---------------------------------------------------------------------------
@pytest.mark.slow
def test_a_different_sweep_in_a_used_directory_is_refused_and_the_same_one_resumes(tmp_path):
    d = tmp_path / "sweep"
    first = run_cli("runner", "-m", "variant=parameter,buffer", NO_REPORT, f"hydra.sweep.dir={d}")
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in d.rglob("results.csv")}
    other = run_cli("runner", "-m", "variant=seed_notebook", "steps=3", NO_REPORT, f"hydra.sweep.dir={d}")
    code, line = _rc_line(other)
    assert code == 2 and str(d) in line and "holds another sweep" in line
    assert "variant=parameter" in line and "steps=3" in line  # what differs: the job there and here
    assert {p: p.read_bytes() for p in d.rglob("results.csv")} == before  # nothing overwritten or added
    table = read_csv(d / "results.csv")
    assert set(table.variant) == {"parameter", "buffer"}
    again = run_cli("runner", "-m", "variant=parameter,buffer", NO_REPORT, f"hydra.sweep.dir={d}")
    assert again.returncode == 0 and "2 of 2 jobs already have results; running 0" in again.stdout
    subset = run_cli("runner", "-m", "variant=parameter", NO_REPORT, f"hydra.sweep.dir={d}")
    assert subset.returncode == 2, "a sweep of other jobs (a subset) would leave a table of two sweeps"


def test_a_directory_written_before_sweep_json_is_checked_by_its_results(tmp_path):
    from types import SimpleNamespace

    from runner.errors import ConfigError
    from runner.sweep.sweepdir import check_same_sweep
    from runner.table.csvfile import write_rows_atomic
    write_rows_atomic([{"job": "variant=parameter", "tensor": "w", "status": "ok"}], tmp_path / "0" / "results.csv")
    plan = [SimpleNamespace(idx=0, key="variant=parameter")]
    check_same_sweep(tmp_path, plan, lambda i: tmp_path / str(i))  # the same job: resume
    with pytest.raises(ConfigError, match="job 0 there is `variant=parameter`, here `variant=buffer`"):
        check_same_sweep(tmp_path, [SimpleNamespace(idx=0, key="variant=buffer")], lambda i: tmp_path / str(i))


# -- 2. a requested opset is measured, never silently replaced ----------------------------------------------
def _file_opset(path: Path) -> int:
    import onnx
    return next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))


def test_an_opset_sweep_records_the_opset_each_file_has(run, tmp_path):
    t = run("variant=parameter", "export=onnx_dynamo", "export.opset_version=17")
    assert set(t.onnx_opset) == {str(_file_opset(tmp_path / "model.onnx"))} == {"17"}
    assert set(t.export_role) == {"initializer"}


def test_a_requested_opset_the_exporter_did_not_write_is_an_export_error(run, tmp_path):
    t = run("variant=parameter", "export=onnx_dynamo", "export.opset_version=99")
    written = _file_opset(tmp_path / "model.onnx")
    assert written != 99
    assert set(t.export_role) == {"error"} and set(t.onnx_opset) == {str(written)}
    assert all("requested opset 99" in e and f"opset {written}" in e for e in t.export_error)
    assert set(t.status) == {"ok"}  # a measured outcome of the export stage


# -- 3. claim files are checked when loaded ----------------------------------------------------------------
@pytest.mark.parametrize("expect, message", [
    ({"export_role": "constnat"}, "unknown value 'constnat' (did you mean constant"),
    ({"in_statedict": True}, "unknown column 'in_statedict' (did you mean in_state_dict"),  # the closest first
    ({"grad": "nonzero", "updated": "yes"}, "updated: unknown value 'yes'"),
    ({"export.opset_versoin": 18}, "unknown option 'export.opset_versoin' (did you mean opset_version?)"),
])
def test_a_typo_in_a_claim_file_is_a_one_line_error(tmp_path, expect, message):
    from runner.analysis.claims import load_claims
    from runner.table.csvfile import TableError
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [{"id": "typo", "statement": "s", "where": {}, "expect": expect}]}))
    with pytest.raises(TableError) as info:
        load_claims([path])
    text = str(info.value)
    assert text.startswith(f"{path}: claim 'typo': expect.") and message in text and "\n" not in text


def test_a_typo_in_where_and_an_unknown_option_name_are_caught_too(tmp_path):
    from runner.analysis.claims import load_claims
    from runner.table.csvfile import TableError
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [{"id": "w", "statement": "s", "where": {"export": "onnx_dynamoo"},
                                                "expect": {"in_state_dict": True}}]}))
    with pytest.raises(TableError, match=r"where\.export: unknown value 'onnx_dynamoo' \(did you mean onnx_dynamo"):
        load_claims([path])
    path.write_text(yaml.safe_dump({"claims": [{"id": "g", "statement": "s", "where": {"export": "onnx_*"},
                                                "expect": {"export_role": ["initializer", "constant"]}}]}))
    assert [c.id for c in load_claims([path])] == ["g"]  # globs and lists of allowed values pass


def test_every_shipped_claim_file_passes_the_check():
    from runner.analysis.claims import load_claims
    files = sorted((ROOT / "conf" / "claims").glob("*.yaml"))
    assert files and all(load_claims([f]) for f in files)


def test_the_vocabulary_claims_are_checked_against_is_the_one_docs_columns_states():
    from runner.table.columns import COLUMNS, FLOAT, INT, VALUES
    docs = (ROOT / "docs" / "columns.md").read_text()
    assert set(VALUES) <= set(COLUMNS)
    for column, allowed in VALUES.items():
        row = next(line for line in docs.splitlines()
                   if line.startswith("| ") and f"`{column}`" in line.split(" | ")[0])
        cell = row.split(" | ")[1]
        if allowed in (INT, FLOAT):
            assert allowed in cell, (column, cell)
        elif allowed == ("true", "false"):
            assert "`true`/`false`" in cell, (column, cell)
        elif column == "status":
            assert all(f"| `{v}` |" in docs for v in allowed)
        else:
            assert all(f"`{v}`" in cell for v in allowed), (column, cell)


@pytest.mark.slow
def test_report_with_a_mistyped_claim_file_exits_2(tmp_path, export_sweep):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [{"id": "x", "statement": "s", "where": {},
                                                "expect": {"export_role": "constnat"}}]}))
    r = run_cli("runner.report", str(export_sweep), "--claims", str(path))
    code, line = _rc_line(r)
    assert code == 2 and "claim 'x'" in line and "constnat" in line


# -- 4. exit codes ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_target_that_cannot_be_imported_is_found_before_any_job(tmp_path):
    r = run_cli("runner", "variant=model", "variant.model._target_=torch.nn.Linaer", "variant.input_shape=[4,3]",
                f"hydra.run.dir={tmp_path / 'run'}")
    code, line = _rc_line(r)
    assert code == 2 and "cannot import torch.nn.Linaer" in line and "did you mean torch.nn.Linear" in line
    assert not (tmp_path / "run" / "results.csv").exists()
    r = run_cli("runner", "-m", "variant=model", "variant.model._target_=torch.nn.Identity,nowhere.Missing",
                "variant.input_shape=[3]", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    code, line = _rc_line(r)
    assert code == 2 and "no module named 'nowhere'" in line and "nothing was run" in line
    assert not list((tmp_path / "sweep").rglob("results.csv"))


@pytest.mark.slow
def test_failed_jobs_exit_1_with_one_line_and_the_table_is_written(tmp_path):
    run_dir = tmp_path / "run"
    r = run_cli("runner", "variant=model", "variant.model._target_=experiments.faulty.FailingConstructor",
                "variant.input_shape=[3]", f"hydra.run.dir={run_dir}")
    code, line = _rc_line(r)
    assert code == 1 and "the job failed" in line and str(run_dir / "results.csv") in line
    assert read_csv(run_dir / "results.csv").status.tolist() == ["failed"]
    d = tmp_path / "sweep"
    r = run_cli("runner", "-m", "variant=model", "variant.input_shape=[3]", NO_REPORT, f"hydra.sweep.dir={d}",
                "variant.model._target_=experiments.faulty.FailingConstructor,torch.nn.Identity")
    code, line = _rc_line(r)
    table = read_csv(d / "results.csv")
    statuses = table.drop_duplicates("job").status.tolist()
    assert code == 1 and f"{statuses.count('failed')} of {len(statuses)} jobs failed" in line
    assert str(d / "results.csv") in line
    partial = run_cli("runner", "variant=tensor", f"hydra.run.dir={tmp_path / 'partial'}")
    assert partial.returncode == 0 and set(read_csv(tmp_path / "partial" / "results.csv").status) == {"partial"}


# -- 7. your own module ---------------------------------------------------------------------------------------
def test_variant_model_labels_rows_by_the_module(run):
    t = run("variant=model", "variant.model._target_=torch.nn.Linear", "+variant.model.in_features=3",
            "+variant.model.out_features=2", "variant.input_shape=[4,3]")
    assert set(t.variant) == {"model"} and set(t.model) == {"torch.nn.Linear"}
    assert sorted(t.tensor) == ["bias", "weight"]
    g = run("variant=parameter")
    assert set(g.model) == {""}


@pytest.mark.parametrize("overrides", [
    ["variant=generic", "variant.model._target_=torch.nn.Linear"],
    ["variant=generic", "variant.model={_target_: torch.nn.Linear}"],
])
def test_setting_a_model_on_a_generic_variant_shows_the_right_spelling(overrides):
    r = run_cli("runner", *overrides)
    code, line = _rc_line(r)
    assert code == 2 and "variant=model variant.model._target_=" in line and len(r.stderr.splitlines()) == 1


def test_variant_model_without_its_target_says_what_to_give():
    from tests.conftest import error_line
    line = error_line(["variant=model"])
    assert "variant.model._target_" in line and "missing" in line and "mypkg.MyModule" in line


# -- 8. smaller wrongs ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_progress_line_spells_booleans_as_the_job_key(tmp_path):
    r = run_cli("runner", "-m", "variant=parameter", "update=data", "update.include_tensors=true", NO_REPORT,
                f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    progress = [line for line in r.stderr.splitlines() if re.match(r"\[\d+/\d+\]", line)]
    assert progress and "update.include_tensors=true" in progress[0]
    assert "update.include_tensors=true" in read_csv(tmp_path / "results.csv").job.iloc[0]


def test_the_readme_lists_every_variant():
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `variant` |"))
    listed = set(re.findall(r"`(\w+)`", row))
    shipped = {p.stem for p in (ROOT / "conf" / "variant").glob("*.yaml")}
    assert shipped <= listed, shipped - listed
