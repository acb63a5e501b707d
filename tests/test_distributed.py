"""The distributed stage (issue 24): DDP and FSDP2 on two local gloo ranks.

Cells are checked against tests/dist_reference.py, a plain-torch multi-process re-derivation written apart
from runner/probes/distributed*.py; the fault tests kill, hang and fail a rank and check that the job
records it in time and leaves no process or temporary file behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, error_line, read_csv, run_cli, sweep, task_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups and /proc: POSIX only")

DIST = ["dist_wrapped_as", "dist_equal_at_start", "dist_equal_in_forward", "dist_grad_equal",
        "dist_equal_after_step"]


def _rank_processes(marker: str):
    """Processes whose command line is a rank of the distributed stage and names `marker`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "runner.probes.distributed_rank" in cmd and marker in cmd:
            found.append(int(pid))
    return found


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """The stage's temporary folders under this test's tmp_path, so leftovers (and ranks) are this test's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_default_and_explicit_none_keep_the_key_and_hash_of_jobs_made_before_the_group():
    from runner.job.identity import identify
    before = identify(*task_config(["variant=buffer"]))
    explicit = identify(*task_config(["variant=buffer", "distributed=none"]))
    ddp = identify(*task_config(["variant=buffer", "distributed=ddp"]))
    assert explicit.key == before.key and "distributed" not in before.key
    assert explicit.config_hash == before.config_hash
    assert "distributed=ddp" in ddp.key and ddp.config_hash != before.config_hash


def test_none_runs_no_distributed_stage(run):
    table = run("variant=buffer")
    assert set(table["distributed"]) == {"none"}
    for column in DIST + ["dist_error"]:
        assert (table[column] == "").all(), column


@pytest.mark.parametrize("override, expected", [
    (["distributed=ddp", "distributed.world_size=1"], "distributed.world_size: 1 ranks cannot disagree"),
    (["distributed=ddp", "distributed.timeout_s=0"], "distributed.timeout_s: 0.0 is not positive"),
    (["distributed=fsdp2", "distributed.find_unused_parameters=true"],
     "distributed.find_unused_parameters: does not apply to distributed=fsdp2; allowed with: distributed=ddp"),
    (["distributed=ddp", "distributed.reshard_after_forward=true"],
     "distributed.reshard_after_forward: does not apply to distributed=ddp; allowed with: distributed=fsdp2"),
    (["distributed=dpp"], "dpp"),
])
def test_bad_distributed_values_are_one_line_errors(override, expected):
    line = error_line(override)
    assert expected in line and "\n" not in line


def test_the_unused_parameter_stop_and_its_fix(run, own_tmp):
    stopped = run("variant=unused_parameter", "distributed=ddp", "steps=2")
    error = stopped["dist_error"].iloc[0]
    assert "at step 2: forward" in error and "Expected to have finished reduction" in error
    assert (stopped["dist_equal_at_start"] == "true").all()  # measured before the error: kept
    assert (stopped["dist_equal_after_step"] == "").all()    # never reached: empty, not false
    assert (stopped["status"] == "ok").all()                 # a stage's own error is a measured outcome
    fixed = run("variant=unused_parameter", "distributed=ddp_find_unused", "steps=2")
    assert (fixed["dist_error"] == "").all()
    assert fixed.loc["unused", "dist_grad_equal"] == ""       # no rank has a grad for it
    assert fixed.loc["w", "dist_equal_after_step"] == "true"


@pytest.mark.parametrize("mode, timeout, expected", [
    ("raise", 120, "rank 1 at step 1: forward: RuntimeError: rank 1 fails on purpose"),
    ("die", 120, "rank 1 killed by signal SIGKILL at step 1: forward"),
    ("hang", 20, "timed out after 20 s (distributed.timeout_s): killed rank"),
])
def test_a_failing_rank_becomes_an_error_cell_and_leaves_nothing_behind(run, own_tmp, mode, timeout, expected):
    started = time.monotonic()
    table = run("variant=model", "variant.model._target_=experiments.distributed_cases.RankFault",
                f"+variant.model.mode={mode}", "variant.input_shape=[3]", "distributed=ddp",
                f"distributed.timeout_s={timeout}")
    seconds = time.monotonic() - started
    error = table["dist_error"].iloc[0]
    assert expected in error, error
    assert table["dist_equal_at_start"].iloc[0] == "true"  # measured before the fault
    assert table["dist_equal_after_step"].iloc[0] == ""
    assert seconds < timeout + 30, f"the job took {seconds:.0f} s with distributed.timeout_s={timeout}"
    assert not _rank_processes(str(own_tmp)), "a rank process survived the job"
    assert not list(own_tmp.glob("tensorprobe-dist-*")), "the stage's temporary folder survived the job"


@pytest.mark.slow
def test_ranks_exit_when_the_job_process_is_killed(tmp_path):
    """An interrupted sweep (the job process SIGKILLed, nothing to clean up after itself) leaves no rank."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "runner", "variant=model",
                             "variant.model._target_=experiments.distributed_cases.RankFault",
                             "+variant.model.mode=hang", "variant.input_shape=[3]", "distributed=ddp",
                             f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_rank_processes(str(tmp_path))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_rank_processes(str(tmp_path))) == 2, "the ranks never started"
        time.sleep(3)  # let them reach the hang
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 15
    while _rank_processes(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _rank_processes(str(tmp_path))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "ranks outlived the killed job process"


@pytest.mark.slow
def test_distributed_runs_under_the_warm_pool_launcher(tmp_path):
    """The pool's forked workers start the ranks as new interpreters too (hydra/launcher=tensorprobe with n_jobs)."""
    out = sweep(tmp_path / "s", "variant=buffer,batchnorm", "distributed=ddp", "hydra.launcher.n_jobs=2",
                "hydra.callbacks.sweep_table.report=false")
    table = read_csv(out / "results.csv")
    assert (table["dist_error"] == "").all()
    assert table.set_index(["variant", "tensor"]).loc[("buffer", "b"), "dist_equal_after_step"] == "true"


def test_the_python_api_sends_a_module_instance_to_the_ranks(own_tmp):
    """runner.api.probe(instance, distributed=...): every rank starts from a copy of the caller's module
    (the same values: plain tensors are equal at start), and its buffers drift like the CLI's."""
    import torch

    import runner.api as api
    table = api.probe(torch.nn.BatchNorm1d(3), torch.randn(4, 3), distributed="ddp", steps=2).set_index("tensor")
    assert (table["dist_error"] == "").all()
    assert (table["dist_equal_at_start"] == "true").all()
    assert table.loc["running_mean", "dist_equal_after_step"] == "false"
    assert table.loc["weight", "dist_equal_after_step"] == "true"


OPTIONS = {"ddp": ("ddp", {"find_unused_parameters": False, "static_graph": False, "forward_sync_buffers": True}),
           "ddp_find_unused": ("ddp", {"find_unused_parameters": True, "static_graph": False,
                                       "forward_sync_buffers": True}),
           "fsdp2": ("fsdp2", {"reshard_after_forward": None})}


def _cell(value) -> str:
    return "" if value is None else ("true" if value else "false") if isinstance(value, bool) else str(value)


@pytest.mark.slow
def test_every_cell_of_the_preset_agrees_with_a_plain_torch_re_derivation(tmp_path):
    """+experiment=distributed, job by job, against tests/dist_reference.py (written apart from the probe)."""
    from tests.dist_reference import reference, typed_variant
    out = sweep(tmp_path / "s", "+experiment=distributed", "hydra.callbacks.sweep_table.report=false")
    table = read_csv(out / "results.csv")
    optimizer = {"_target_": "torch.optim.SGD", "lr": 0.1}
    disagree, cells = [], 0
    for (variant, option), rows in table.groupby(["variant", "distributed"], sort=False):
        mode, options = OPTIONS[option]
        expected = reference(typed_variant(variant), 0, 2, mode, options, optimizer)
        assert set(rows["tensor"]) == set(expected), (variant, option)
        for _, row in rows.iterrows():
            want = expected[row["tensor"]]
            for column in DIST:
                cells += 1
                if row[column] != _cell(want[column]):
                    disagree.append(f"{variant}/{option}/{row['tensor']}: {column}={row[column]!r}, "
                                    f"plain torch: {_cell(want[column])!r}")
            if (row["dist_error"] == "") != (want["dist_error"] == ""):
                disagree.append(f"{variant}/{option}/{row['tensor']}: dist_error={row['dist_error'][:80]!r}, "
                                f"plain torch: {want['dist_error'][:80]!r}")
    assert cells >= 400 and not disagree, f"{len(disagree)} of {cells} cells disagree: " + "; ".join(disagree[:10])
