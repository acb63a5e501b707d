"""Sweeps end to end: one real subprocess sweep per launcher, resume, dry run, and the sweeper's options."""
import subprocess
import sys

import pytest

from .conftest import NO_REPORT, ROOT, read_csv, run_cli, sweep

pytestmark = pytest.mark.slow
ARGS = ["variant=seed_notebook,parameter_frozen", "export=none,torch_export,onnx_legacy", NO_REPORT]


def _same(a, b):
    r = run_cli("runner.compare", str(a), str(b))
    assert r.returncode == 0, r.stdout[-2000:]


@pytest.fixture(scope="module")
def default_sweep(tmp_path_factory):
    """The reference: tensorprobe's sweeper and in-process launcher."""
    return sweep(tmp_path_factory.mktemp("default"), *ARGS)


@pytest.mark.parametrize("launcher", [
    ["hydra/launcher=basic"],
    ["hydra.launcher.n_jobs=2"],                                  # the warm pool
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],         # loky workers, several jobs each
    ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    ["hydra/sweeper=basic"],                                      # Hydra's own sweeper, our launcher
    ["hydra.sweeper.fast_compose=false", "hydra.sweeper.plan_ahead=false"],
], ids=["basic", "pool", "joblib", "submitit_local", "basic_sweeper", "hydra_compose"])
def test_every_launcher_gives_the_same_table(tmp_path, default_sweep, launcher):
    _same(default_sweep, sweep(tmp_path, *ARGS, *launcher))
    for job in range(6):  # and the same composed config for every job
        got, expected = (d / str(job) / ".hydra" / "config.yaml" for d in (tmp_path, default_sweep))
        assert got.read_text() == expected.read_text(), job


def test_resume_reruns_what_did_not_finish_and_keeps_the_rest(tmp_path):
    s = tmp_path / "s"
    args = ["variant=parameter,buffer", "update=optimizer,inplace", "device=cpu,cuda", NO_REPORT]
    sweep(s, *args)
    full = read_csv(s / "results.csv")
    skipped = sorted(int(p.parent.name) for p in s.glob("*/results.csv") if "skipped" in p.read_text())
    import torch
    assert len(skipped) == (0 if torch.cuda.is_available() else 4)
    (s / "1" / "results.csv").unlink()                  # as if killed before job 1 finished
    (s / "2" / "results.csv").write_text("job,tensor\n")  # a truncated file
    stamp = (s / "0" / "results.csv").stat().st_mtime_ns
    dry = run_cli("runner", "-m", *args, "dry_run=true", f"hydra.sweep.dir={s}")
    to_run = len(set(skipped) | {1, 2})  # skipped jobs run again: the device may be there now
    assert f"dry run: 8 jobs ({to_run} to run, {8 - to_run} already done)" in dry.stdout
    r = run_cli("runner", "-m", *args, f"hydra.sweep.dir={s}")
    assert r.returncode == 0, r.stderr
    assert f"{8 - to_run} of 8 jobs already have results; running {to_run}" in r.stdout
    assert (s / "0" / "results.csv").stat().st_mtime_ns == stamp  # not run again
    full.to_csv(tmp_path / "full.csv", index=False)
    _same(tmp_path / "full.csv", s)


def test_resume_with_a_custom_subdir_and_a_changed_config(tmp_path):
    s = tmp_path / "s"
    args = ["variant=parameter,buffer", NO_REPORT, "hydra.sweep.subdir=job_${hydra.job.num}"]
    sweep(s, *args)
    assert sorted(p.parent.name for p in s.glob("*/results.csv")) == ["job_0", "job_1"]
    r = run_cli("runner", "-m", *args, f"hydra.sweep.dir={s}")
    assert "2 of 2 jobs already have results; running 0" in r.stdout
    before = (s / "results.csv").read_bytes()
    changed = run_cli("runner", "-m", *args, "steps=2", f"hydra.sweep.dir={s}")
    # another sweep in a used directory is refused, never resumed into it nor merged with it
    assert changed.returncode == 2 and "already have results" not in changed.stdout
    assert f"{s}" in changed.stderr and "nothing was run or overwritten" in changed.stderr
    assert (s / "results.csv").read_bytes() == before
    elsewhere = tmp_path / "t"
    moved = run_cli("runner", "-m", *args, "steps=2", f"hydra.sweep.dir={elsewhere}")
    assert moved.returncode == 0, moved.stderr
    assert "steps=2" in read_csv(elsewhere / "results.csv").job.iloc[0]


def test_dry_run_lists_jobs_and_runs_nothing(tmp_path):
    r = run_cli("runner", "-m", "variant=parameter,seed_notebook", "device=cpu,cuda", "dry_run=true",
                f"hydra.sweep.dir={tmp_path / 's'}")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("#")]
    assert len(lines) == 4 and all("todo" in line for line in lines)
    assert "device=cpu,export=none,optimizer=sgd,update=optimizer,variant=seed_notebook" in r.stdout
    import torch
    rows = 12 if torch.cuda.is_available() else 8  # a skipped job is one row; the notebook's model has 5 tensors
    assert f"dry run: 4 jobs (4 to run, 0 already done), {rows} rows in the table; nothing was run" in r.stdout
    assert not (tmp_path / "s").exists()


def test_progress_lines_and_no_pandas_without_the_report(tmp_path):
    """A line per finished job; the sweep table is written with csv alone (pandas costs ~0.4 s of start-up)."""
    code = ("import sys; from runner.app import main; sys.argv = ['runner', '-m', 'variant=tensor,int_buffer,buffer', "
            f"'hydra.sweep.dir={tmp_path}', 'hydra.callbacks.sweep_table.report=false']; main(); "
            "print('pandas imported:', 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "pandas imported: False"
    progress = [line for line in out.stderr.splitlines() if line.startswith("[") and "ETA" in line]
    assert [p.split("]")[0] for p in progress] == ["[1/3", "[2/3", "[3/3"]
    assert "variant=int_buffer: ok" in progress[1]
    assert list(read_csv(tmp_path / "results.csv").tensor) == ["t", "w", "count", "w", "b"]


def test_planning_ahead_and_launcher_options(tmp_path):
    """Planning in a forked child (the default) changes nothing; save_hydra_yaml and hydra.job.chdir work."""
    args = ["variant=tensor,int_buffer,tied_parameters", "export=none,onnx_legacy", NO_REPORT]
    ahead = run_cli("runner", "-m", *args, f"hydra.sweep.dir={tmp_path / 'ahead'}", "hydra.verbose=[runner.sweep.sweeper]")
    here = run_cli("runner", "-m", *args, f"hydra.sweep.dir={tmp_path / 'here'}", "hydra.sweeper.plan_ahead=false",
                   "hydra.launcher.save_hydra_yaml=true", "hydra.job.chdir=true")
    assert ahead.returncode == 0 and here.returncode == 0, (ahead.stderr[-2000:], here.stderr[-2000:])
    assert "planned 6 jobs in a forked child" in ahead.stdout + ahead.stderr
    _same(tmp_path / "ahead", tmp_path / "here")
    assert (tmp_path / "here" / "0" / ".hydra" / "hydra.yaml").is_file()
    assert not (tmp_path / "ahead" / "0" / ".hydra" / "hydra.yaml").exists()
    assert (tmp_path / "here" / "3" / "model.onnx").is_file()  # the job wrote into its own directory


def test_a_bad_option_fails_the_same_with_planning_ahead(tmp_path):
    outs = [run_cli("runner", "-m", "variant=tensor,nope", NO_REPORT, f"hydra.sweep.dir={tmp_path / str(i)}", *extra)
            for i, extra in enumerate([[], ["hydra.sweeper.plan_ahead=false"]])]
    assert [o.returncode for o in outs] == [2, 2]
    assert outs[0].stderr == outs[1].stderr
    assert outs[0].stderr.startswith("tensorprobe: error:") and "variant/nope" in outs[0].stderr


def test_the_slurm_preset_composes():
    r = run_cli("runner", "--cfg", "hydra", "hydra/launcher=slurm", "hydra.launcher.partition=cpu")
    assert r.returncode == 0, r.stderr
    launcher = r.stdout.split("\n  launcher:\n", 1)[1].split("\n  sweeper:", 1)[0]
    assert "partition: cpu" in launcher and "array_parallelism: 64" in launcher and "cpus_per_task: 2" in launcher
    assert "_target_: hydra_plugins." in launcher and "SlurmLauncher" in launcher
