"""Bad input never crashes, finished results are never lost, files read are never executed."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, read_csv, run_cli

NO_REPORT = "hydra.callbacks.sweep_table.report=false"


@pytest.mark.slow
def test_bad_modules_are_recorded_and_the_sweep_goes_on(tmp_path):
    targets = ["builtins.dict", "experiments.faulty.FailingConstructor",
               "experiments.faulty.NoTensors", "experiments.faulty.NoTensorOutput",
               "experiments.faulty.NonFiniteLoss", "torch.nn.Linear"]
    r = run_cli("runner", "-m", "variant=seed_notebook", f"variant.model._target_={','.join(targets)}",
                NO_REPORT, f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 1, r.stderr  # failed jobs: exit 1, every job's rows in the table
    assert "4 of 6 jobs failed" in r.stderr.splitlines()[-1]
    t = read_csv(tmp_path / "results.csv")
    by_target = {tgt: t[t.job.str.contains(f"_target_={re.escape(tgt)}(?:,|$)")] for tgt in targets}
    reason = {tgt: rows.reason.iloc[0] for tgt, rows in by_target.items()}
    assert reason["builtins.dict"].startswith("TypeError: _target_ builtins.dict returned dict, not an nn.Module")
    assert reason["experiments.faulty.FailingConstructor"].startswith("ValueError: ")
    assert "bad hyper-parameter" in reason["experiments.faulty.FailingConstructor"]
    assert reason["experiments.faulty.NoTensors"] == "ValueError: the module holds no tensors: nothing to probe"
    no_tensor = by_target["experiments.faulty.NoTensorOutput"].iloc[0]
    assert (no_tensor.status, no_tensor.train_error_at) == ("partial", "loss")
    assert no_tensor.update_error == "TypeError: forward returned dict holding no tensor"
    inf = by_target["experiments.faulty.NonFiniteLoss"].iloc[0]
    assert inf.train_error_at == "loss" and inf.update_error.startswith("FloatingPointError: non-finite loss (inf)")
    assert (inf.status, inf.updated, inf.restored) == ("partial", "", "true")  # training stopped; later stages ran
    # torch.nn.Linear() without its required arguments: the constructor's TypeError, as a failed row
    assert reason["torch.nn.Linear"].startswith("TypeError") and "in_features" in reason["torch.nn.Linear"]


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "runner", "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_results(sweep: Path, count: int, proc) -> None:
    deadline = time.time() + 180
    while len(list(sweep.glob("*/results.csv"))) < count:
        assert proc.poll() is None and time.time() < deadline, "sweep ended before it could be interrupted"
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_uninterrupted_table(tmp_path):
    args = ["variant=parameter,buffer,int_buffer", "update=optimizer,no_grad", "seed=range(0,10)", NO_REPORT]
    sweep = tmp_path / "killed"
    proc = _start(args + [f"hydra.sweep.dir={sweep}"])
    _wait_for_results(sweep, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(sweep.glob("*/results.csv")))
    assert 3 <= finished < 60
    collected = run_cli("runner.collect", str(sweep))
    assert collected.returncode == 0 and f"{finished} jobs" in collected.stdout
    rerun = run_cli("runner", "-m", *args, f"hydra.sweep.dir={sweep}")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{finished} of 60 jobs already have results" in rerun.stdout
    clean = run_cli("runner", "-m", *args, f"hydra.sweep.dir={tmp_path / 'clean'}")
    assert clean.returncode == 0
    diff = run_cli("runner.compare", str(tmp_path / "clean"), str(sweep))
    assert diff.returncode == 0, diff.stdout


@pytest.mark.slow
def test_ctrl_c_stops_after_the_current_job_and_says_how_to_resume(tmp_path):
    sweep = tmp_path / "s"
    proc = _start(["variant=parameter", "seed=range(0,200)", NO_REPORT, f"hydra.sweep.dir={sweep}"])
    _wait_for_results(sweep, 2, proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping after the current job" in err
    assert f"run the same command with hydra.sweep.dir={sweep} to finish the rest" in err
    done = len(list(sweep.glob("*/results.csv")))
    assert 2 <= done < 200
    table = read_csv(sweep / "results.csv")  # the finished jobs' table was still written
    assert len(table) == done and set(table.status) == {"ok"}


@pytest.mark.parametrize("tool", ["compare", "collect", "report", "audit"])
@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "other_columns", "binary", "empty_dir"])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, tool, case):
    """Each tool's main(), in-process: exit status 2 and one line on stderr (the CLI wrapper only calls it)."""
    import importlib
    good = tmp_path / "good.csv"
    good.write_text("job,tensor,status\nj,t,ok\n")
    target = tmp_path / "in"
    target.mkdir()
    bad = target / "0" / "results.csv"
    bad.parent.mkdir()
    content = {"empty": b"", "truncated": b"job,tensor,status,reason\nj,t,ok,x\nj,u,o",
               "other_columns": b"a,b\n1,2\n", "binary": bytes(range(256)) * 4}.get(case)
    if content is not None:
        bad.write_bytes(content)
    if case == "empty_dir":
        bad.parent.rmdir()
    path = target if tool != "compare" or case == "empty_dir" else bad
    if case == "missing":
        path = tmp_path / "nothing-here"
    argv = [str(good), str(path)] if tool == "compare" else [str(path)]
    main = importlib.import_module(f"runner.{tool}").main
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tensorprobe: error: ") and "Traceback" not in err, err


def test_nothing_read_from_disk_is_executed():
    sources = [p for d in ("runner", "experiments", "hydra_plugins") for p in (ROOT / d).rglob("*.py")]
    text = {p: p.read_text() for p in sources}
    for path, code in text.items():
        assert not re.search(r"(?<![.\w])(eval|exec)\(", code), path
        # ... or what the job process pickled into a rank's stdin, a pipe only it holds (as multiprocessing's
        # spawn sends its objects): runner/probes/distributed_rank.py reads its spec so, from no file
        code = code.replace("pickle.loads(sys.stdin.buffer.read())  # from the job process's pipe", "")
        # pickle only as an in-memory copy of an object this process built: pickle.loads(pickle.dumps(...))
        assert not re.search(r"\bpickle\.load\(|\bpickle\.loads\((?!pickle\.dumps\()|\byaml\.load\(|unsafe_load",
                             code), path
        for call in re.findall(r"torch\.load\([^)]*\)", code):
            assert "weights_only=True" in call, (path, call)
    assert any("torch.load(" in c for c in text.values())  # the round trip does load, safely


def test_collect_keeps_one_copy_of_a_job_that_ran_twice(tmp_path):
    """A sweep directory reused by a sweep with other jobs can hold one job under two numbers: the table
    keeps the newest, so (job, tensor) stays a key."""
    import os

    from runner.table.collect import collect
    from runner.table.csvfile import write_rows_atomic
    for idx, value in ((0, "old"), (1, "new"), (2, "other")):
        job = "variant=other" if value == "other" else "variant=buffer"
        path = write_rows_atomic([{"job": job, "tensor": "b", "status": "ok", "reason": value}],
                                 tmp_path / str(idx) / "results.csv")
        os.utime(path, ns=(idx * 10**9, idx * 10**9))
    table = collect(tmp_path).table
    assert list(zip(table.job, table.reason)) == [("variant=buffer", "new"), ("variant=other", "other")]
