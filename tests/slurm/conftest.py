"""The one-node SLURM cluster of `make slurm-up` (tools/slurm/), as the SLURM tests see it."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import ROOT

PARTITION = "cpu"  # tools/slurm/common.sh
NO_REPORT = "hydra.callbacks.sweep_table.report=false"


def slurm_conf() -> str:
    """SLURM_CONF as tools/slurm/common.sh sets it (it honours SLURM_STATE), so there is one source."""
    out = subprocess.run(["bash", "-c", ". tools/slurm/common.sh && echo $SLURM_CONF"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="session")
def slurm_env() -> dict:
    """The environment for slurm commands and sweeps; skips (fails under `make test-slurm`) without a cluster."""
    env = {**os.environ, "SLURM_CONF": slurm_conf()}
    up = False
    try:
        if Path(env["SLURM_CONF"]).is_file():   # without it, slurm commands look for a config in DNS
            ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=20)
            up = "is UP" in ping.stdout
    except (OSError, subprocess.TimeoutExpired):
        pass
    if not up:
        reason = f"no SLURM cluster answers at {env['SLURM_CONF']}: run `make slurm-up` first"
        if os.environ.get("TENSORPROBE_REQUIRE_SLURM"):
            pytest.fail(reason)
        pytest.skip(reason)
    return env


def slurm(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a slurm command (sinfo, sbatch, sacct, ...) with text output; by default a non-zero exit raises."""
    return subprocess.run(list(args), env=env, capture_output=True, text=True, check=check, timeout=120)


def sacct_states(env: dict, job_id: str, expected: int, timeout: float = 20.0) -> dict:
    """{JobID: State} of a job or array (allocations only), once `expected` of them have ended.

    slurmctld hands records to slurmdbd asynchronously, so a job that just ended may be missing
    or still RUNNING in sacct for a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        lines = slurm(env, "sacct", "-j", job_id, "-X", "-n", "-P", "--format=JobID,State").stdout.splitlines()
        states = dict(line.split("|", 1) for line in lines if "|" in line)
        ended = [s for s in states.values() if s not in ("PENDING", "RUNNING", "COMPLETING")]
        if len(ended) >= expected or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def array_ids(sweep_dir: Path) -> list:
    """The SLURM job ids a submitit sweep submitted: one `.submitit/<id>/` folder each. An array's
    tasks have their own folders `.submitit/<id>_<index>/`; a single job is submitted as a plain job."""
    folder = sweep_dir / ".submitit"
    return sorted(p.name for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def start_sweep(args, env: dict) -> subprocess.Popen:
    """`python -m runner -m ARGS` from the project root in its own process group (a terminal's Ctrl-C
    reaches the whole group: os.killpg(p.pid, SIGINT)); read its output with p.communicate()."""
    full_env = {**env}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen([sys.executable, "-m", "runner", "-m", *args], cwd=ROOT, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for_task(env: dict, sweep_dir: Path, index: int, state: str, proc: subprocess.Popen,
                  timeout: float = 90.0) -> str:
    """The id (`<array>_<index>`) of the sweep's SLURM array task `index`, once squeue shows it in `state`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the sweep ended early: {proc.communicate()}"
        for array in array_ids(sweep_dir):
            task = f"{array}_{index}"
            if squeue_states(env, array).get(task) == state:
                return task
        time.sleep(0.3)
    raise AssertionError(f"task {index} of the sweep in {sweep_dir} never got {state}")


def squeue_states(env: dict, job_id: str, every_state: bool = True) -> dict:
    """{task id: state} that squeue lists for a job or array (every_state: ended tasks too)."""
    args = ["squeue", "-h", "-r", "-j", job_id, "-o", "%i|%T"] + (["-t", "all"] if every_state else [])
    out = slurm(env, *args)
    return dict(line.split("|", 1) for line in out.stdout.split())


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.3)
