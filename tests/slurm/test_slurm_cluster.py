"""A real one-node SLURM (`make slurm-up`): the cluster runs and accounts jobs, and a sweep through
hydra-submitit-launcher's submitit_slurm gives the in-process table and resumes."""
import shutil

import pytest

from ..conftest import run_cli
from .conftest import NO_REPORT, PARTITION, array_ids, sacct_states, slurm

pytestmark = pytest.mark.slurm

SWEEP = ["variant=parameter,buffer", "export=none,torch_export", NO_REPORT]
SUBMITIT = ["hydra/launcher=submitit_slurm", f"hydra.launcher.partition={PARTITION}", "hydra.launcher.timeout_min=5"]


def test_the_cluster_runs_batch_jobs_and_accounts_them(slurm_env, tmp_path):
    nodes = slurm(slurm_env, "sinfo", "-h", "-p", PARTITION, "-o", "%T").stdout.split()
    assert nodes and all(s in ("idle", "mixed", "allocated") for s in nodes), nodes
    ok = sbatch_wait(slurm_env, tmp_path, "echo ran $SLURM_JOB_ID")
    failed = sbatch_wait(slurm_env, tmp_path, "exit 3")
    assert (ok.returncode, failed.returncode) == (0, 3), ok.stderr + failed.stderr  # --wait: the job's exit code
    ok_id, failed_id = ok.stdout.strip(), failed.stdout.strip()
    # The job itself wrote its id: it ran, on this cluster.
    assert (tmp_path / f"{ok_id}.out").read_text().split() == ["ran", ok_id]
    # Accounting tells the two apart: this is what submitit reads to learn a job's fate.
    assert sacct_states(slurm_env, ok_id, 1) == {ok_id: "COMPLETED"}
    assert sacct_states(slurm_env, failed_id, 1) == {failed_id: "FAILED"}


def sbatch_wait(env, folder, script):
    return slurm(env, "sbatch", "--parsable", "--wait", f"--chdir={folder}", "--output=%j.out", "--wrap", script,
                 check=False)


@pytest.fixture(scope="module")
def sweeps(slurm_env, tmp_path_factory):
    """The same 4-job sweep in-process and through submitit_slurm (run once for the module)."""
    base = tmp_path_factory.mktemp("sweeps")
    inproc = run_cli("runner", "-m", *SWEEP, f"hydra.sweep.dir={base / 'inproc'}")
    assert inproc.returncode == 0, inproc.stderr[-2000:]
    out = run_cli("runner", "-m", *SWEEP, *SUBMITIT, f"hydra.sweep.dir={base / 'slurm'}", env=slurm_env)
    assert out.returncode == 0, out.stderr[-2000:]
    return base / "inproc", base / "slurm"


def test_a_submitit_slurm_sweep_gives_the_in_process_table(sweeps, slurm_env):
    inproc, slurm_dir = sweeps
    # The jobs ran as one SLURM array of 4 tasks, all COMPLETED in accounting.
    [array] = array_ids(slurm_dir)
    states = sacct_states(slurm_env, array, 4)
    assert states == {f"{array}_{i}": "COMPLETED" for i in range(4)}
    compare = run_cli("runner.compare", str(inproc), str(slurm_dir))
    assert compare.returncode == 0, compare.stdout[-2000:] + compare.stderr[-2000:]


def test_a_submitit_slurm_sweep_resumes(sweeps, slurm_env, tmp_path):
    inproc, done = sweeps
    sweep_dir = tmp_path / "sweep"
    shutil.copytree(done, sweep_dir)
    (sweep_dir / "2" / "results.csv").unlink()      # job 2 lost its results: only it runs again
    (sweep_dir / "results.csv").unlink()
    before = set(array_ids(sweep_dir))
    out = run_cli("runner", "-m", *SWEEP, *SUBMITIT, f"hydra.sweep.dir={sweep_dir}", env=slurm_env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "3 of 4 jobs already have results; running 1" in out.stdout
    # One new submission; submitit sends a single job as a plain job, not an array of one.
    [rerun] = set(array_ids(sweep_dir)) - before
    assert sacct_states(slurm_env, rerun, 1) == {rerun: "COMPLETED"}
    compare = run_cli("runner.compare", str(inproc), str(sweep_dir))
    assert compare.returncode == 0, compare.stdout[-2000:] + compare.stderr[-2000:]


def test_the_distributed_stage_runs_inside_a_slurm_job(slurm_env, tmp_path):
    """Inside a SLURM job the stage still starts its own local ranks (gloo on 127.0.0.1): the table equals
    the in-process one, cell for cell."""
    sweep = ["variant=batchnorm,forward_mutated", "distributed=ddp", "steps=2", NO_REPORT]
    inproc = run_cli("runner", "-m", *sweep, f"hydra.sweep.dir={tmp_path / 'inproc'}")
    assert inproc.returncode == 0, inproc.stderr[-2000:]
    out = run_cli("runner", "-m", *sweep, *SUBMITIT, f"hydra.sweep.dir={tmp_path / 'slurm'}", env=slurm_env)
    assert out.returncode == 0, out.stderr[-2000:]
    [array] = array_ids(tmp_path / "slurm")
    assert sacct_states(slurm_env, array, 2) == {f"{array}_{i}": "COMPLETED" for i in range(2)}
    compare = run_cli("runner.compare", str(tmp_path / "inproc"), str(tmp_path / "slurm"))
    assert compare.returncode == 0, compare.stdout[-2000:] + compare.stderr[-2000:]
