"""Sweeper and launchers: identical tables across launchers, dry run, resume, progress."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import read_csv, run_cli

pytestmark = pytest.mark.slow
NO_REPORT = "hydra.callbacks.sweep_table.report=false"


def _compare(a, b):
    return run_cli("runner.compare", str(a), str(b))


def test_joblib_and_submitit_give_the_same_table_as_the_default_launcher(tmp_path):
    # 8 jobs on 2 joblib workers: each worker process runs several jobs, exporters included.
    args = ["variant=seed_notebook,parameter_frozen", "export=none,torch_export,onnx_dynamo,onnx_legacy", NO_REPORT]
    runs = {}
    for name, launcher in (("default", []), ("basic", ["hydra/launcher=basic"]),
                           ("joblib", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]),
                           ("submitit", ["hydra/launcher=submitit_local"])):
        if name == "submitit":
            launcher_args = ["variant=seed_notebook,parameter_frozen", "export=none,torch_export", NO_REPORT]
        else:
            launcher_args = args
        r = run_cli("runner", "-m", *launcher_args, *launcher, f"hydra.sweep.dir={tmp_path / name}")
        assert r.returncode == 0, (name, r.stderr[-2000:])
        runs[name] = tmp_path / name
    for name in ("basic", "joblib"):
        diff = _compare(runs["default"], runs[name])
        assert diff.returncode == 0, (name, diff.stdout)
    default = read_csv(runs["default"] / "results.csv")
    submitit = read_csv(runs["submitit"] / "results.csv")
    part = default[default.export.isin(["none", "torch_export"])]
    part.to_csv(tmp_path / "part.csv", index=False)
    assert _compare(tmp_path / "part.csv", runs["submitit"]).returncode == 0
    assert len(submitit) == len(part) > 0


def test_dry_run_lists_jobs_and_runs_nothing(tmp_path):
    r = run_cli("runner", "-m", "variant=parameter,seed_notebook", "device=cpu,cuda", "dry_run=true",
                f"hydra.sweep.dir={tmp_path / 's'}")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("#")]
    assert len(lines) == 4 and all("todo" in line for line in lines)
    assert "device=cpu,export=none,optimizer=sgd,update=optimizer,variant=seed_notebook" in r.stdout
    assert "dry run: 4 jobs (4 to run, 0 already done), 8 rows in the table; nothing was run" in r.stdout
    assert not (tmp_path / "s").exists()


def test_rerun_finishes_an_interrupted_sweep_and_skips_finished_jobs(tmp_path):
    sweep = tmp_path / "s"
    args = ["runner", "-m", "variant=parameter,buffer", "update=optimizer,inplace", NO_REPORT,
            f"hydra.sweep.dir={sweep}"]
    assert run_cli(*args).returncode == 0
    full = read_csv(sweep / "results.csv")
    (sweep / "1" / "results.csv").unlink()           # as if killed before job 1 finished
    (sweep / "3" / "results.csv").write_text("job,tensor\n")  # a truncated file
    stamp = (sweep / "0" / "results.csv").stat().st_mtime_ns
    dry = run_cli(*args, "dry_run=true")
    assert "dry run: 4 jobs (2 to run, 2 already done)" in dry.stdout
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "2 of 4 jobs already have results; running 2" in r.stdout
    assert (sweep / "0" / "results.csv").stat().st_mtime_ns == stamp  # not run again
    assert _compare(tmp_path / "s", _write(full, tmp_path / "full.csv")).returncode == 0


def test_a_changed_config_is_run_again(tmp_path):
    sweep = tmp_path / "s"
    assert run_cli("runner", "-m", "variant=parameter", NO_REPORT, f"hydra.sweep.dir={sweep}").returncode == 0
    r = run_cli("runner", "-m", "variant=parameter", "steps=2", NO_REPORT, f"hydra.sweep.dir={sweep}")
    assert "already have results" not in r.stdout
    assert "steps=2" in read_csv(sweep / "results.csv").job.iloc[0]


def test_progress_line_per_job(tmp_path):
    r = run_cli("runner", "-m", "variant=parameter,buffer,tensor", NO_REPORT, f"hydra.sweep.dir={tmp_path}")
    progress = [line for line in r.stderr.splitlines() if line.startswith("[")
                and "ETA" in line and "/3]" in line]
    assert [p.split("]")[0] for p in progress] == ["[1/3", "[2/3", "[3/3"]
    assert "variant=buffer: ok" in progress[1]


def _write(frame, path):
    frame.to_csv(path, index=False)
    return path


def test_sweep_without_report_never_imports_pandas(tmp_path):
    """The sweep table is written with csv alone: pandas costs ~0.4 s of start-up per sweep."""
    code = ("import sys; from runner.app import main; sys.argv = ['runner', '-m', 'variant=tensor,int_buffer', "
            f"'hydra.sweep.dir={tmp_path}', 'hydra.callbacks.sweep_table.report=false']; main(); "
            "print('pandas imported:', 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "pandas imported: False"
    table = read_csv(tmp_path / "results.csv")
    assert list(table.tensor) == ["t", "w", "count"] and set(table.status) == {"ok"}


def test_planning_ahead_changes_nothing(tmp_path):
    """Planning in a forked child (the default) gives the same jobs, configs and table as planning here."""
    args = ["variant=tensor,int_buffer,tied_parameters", "export=none,onnx_legacy", NO_REPORT]
    ahead = run_cli("runner", "-m", *args, f"hydra.sweep.dir={tmp_path / 'ahead'}", "hydra.verbose=[runner.sweep.sweeper]")
    here = run_cli("runner", "-m", *args, f"hydra.sweep.dir={tmp_path / 'here'}", "hydra.verbose=[runner.sweep.sweeper]",
                   "hydra.sweeper.plan_ahead=false")
    assert ahead.returncode == 0 and here.returncode == 0, (ahead.stderr[-2000:], here.stderr[-2000:])
    assert "planned 6 jobs in a forked child" in ahead.stdout + ahead.stderr
    assert "forked child" not in here.stdout + here.stderr
    assert _compare(tmp_path / "ahead", tmp_path / "here").returncode == 0
    for job in range(6):
        a, b = (tmp_path / d / str(job) / ".hydra" / "config.yaml" for d in ("ahead", "here"))
        assert a.read_text() == b.read_text()


def test_a_bad_option_fails_the_same_with_planning_ahead(tmp_path):
    outs = [run_cli("runner", "-m", "variant=tensor,nope", NO_REPORT, f"hydra.sweep.dir={tmp_path / str(i)}", *extra)
            for i, extra in enumerate([[], ["hydra.sweeper.plan_ahead=false"]])]
    assert [o.returncode for o in outs] == [2, 2]
    assert outs[0].stderr == outs[1].stderr
    assert outs[0].stderr.startswith("tensorprobe: error:") and "variant/nope" in outs[0].stderr
