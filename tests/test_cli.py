"""End-to-end: the real `python -m runner` in subprocesses."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, read_csv, run_cli

pytestmark = pytest.mark.slow


def test_multirun_writes_sweep_table_and_keys_are_stable(tmp_path):
    tables = []
    for name in ("a", "b"):
        sweep = tmp_path / name
        r = run_cli("runner", "-m", "variant=tensor,parameter", "optimizer=sgd,adam", "steps=1",
                    f"hydra.sweep.dir={sweep}")
        assert r.returncode == 0, r.stderr
        assert f"sweep table: {sweep / 'results.csv'}" in r.stdout
        tables.append(read_csv(sweep / "results.csv"))
        assert len(list(sweep.glob("*/results.csv"))) == 4
    a, b = tables
    assert len(a) == 4 and list(a.columns[:7]) == ["job", "variant", "optimizer", "update", "device", "export", "seed"]
    assert list(a.job) == list(b.job)  # different sweep dirs, same keys
    assert "steps" not in a.job.iloc[0]  # explicit default is not part of the key
    w_adam = a[(a.variant == "parameter") & (a.optimizer == "adam")].iloc[0]
    assert (w_adam.tensor, w_adam.grad, w_adam.updated, w_adam.in_state_dict) == ("w", "nonzero", "true", "true")
    t_sgd = a[(a.variant == "tensor") & (a.optimizer == "sgd")].iloc[0]
    assert t_sgd.update_error == "ValueError: optimizer got an empty parameter list"
    assert a.job.is_unique


def test_single_run_prints_table_and_writes_results(tmp_path):
    r = run_cli("runner", f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert "my_param" in r.stdout and "results:" in r.stdout
    table = read_csv(tmp_path / "results.csv")
    assert set(table.tensor) == {"my_tensor", "my_param", "my_buffer", "my_state", "my_registered_param"}
    assert set(table.variant) == {"seed_notebook"}


@pytest.mark.parametrize("content,expected", [
    ("attributes:\n  w: {kind: parmeter}\ninput_shape: [3]\n",
     "variant/bad.yaml: variant.attributes.w.kind: Invalid value 'parmeter', expected one of [parameter, buffer, tensor]"),
    ("attributes:\n  w: {kind: parameter, persistent: false}\ninput_shape: [3]\n",
     "variant/bad.yaml: variant.attributes.w.persistent: only buffers take 'persistent'"),
    ("attributes:\n  w: {kind: parameter, shape: [2, -1]}\ninput_shape: [3]\n",
     "variant/bad.yaml: variant.attributes.w.shape: [2, -1] is not a list of positive ints"),
    ("attributes:\n  w: {kind: parameter, colour: red}\ninput_shape: [3]\n",
     "Key 'colour' not in 'AttributeConfig'; allowed: kind, shape"),
])
def test_bad_variant_file_is_one_line_error(tmp_path, content, expected):
    (tmp_path / "variant").mkdir()
    (tmp_path / "variant" / "bad.yaml").write_text(content)
    r = run_cli("runner", "variant=bad", f"hydra.searchpath=[file://{tmp_path}]", f"hydra.run.dir={tmp_path}/run")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("tensorprobe: error: ") and expected in lines[0]


@pytest.mark.parametrize("args,expected", [
    (["variant=nope"], "unknown option 'variant/nope'; allowed in group variant: batchnorm, buffer"),
    (["+typo=1"], "unknown top-level key 'typo'; allowed: variant, optimizer"),
    (["steps=abc"], "steps: Value 'abc' of type 'str' could not be converted to Integer"),
    (["steps=-1"], "steps: -1 is negative"),
])
def test_bad_command_line_is_one_line_error(tmp_path, args, expected):
    r = run_cli("runner", *args, f"hydra.run.dir={tmp_path}")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert expected in r.stderr


def test_failures_inside_jobs_are_rows_and_the_sweep_goes_on(tmp_path):
    r = run_cli("runner", "-m", "variant=parameter", "update=inplace,optimizer", "device=cpu,cuda",
                f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    t = read_csv(tmp_path / "results.csv")
    assert len(t.job.unique()) == 4
    inplace = t[(t.update == "inplace") & (t.status == "ok")]
    assert inplace.update_error.str.startswith("RuntimeError").all()
    import torch
    if not torch.cuda.is_available():
        skipped = t[t.device == "cuda"]
        assert set(skipped.status) == {"skipped"} and (skipped.tensor == "").all()


def test_bad_target_module_is_a_failed_row(tmp_path):
    r = run_cli("runner", "-m", "variant=seed_notebook", "variant.model._target_=nowhere.Mod,torch.nn.Identity",
                f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    t = read_csv(tmp_path / "results.csv")
    assert list(t.status) == ["failed", "failed"]
    assert "No module named 'nowhere'" in t.reason.iloc[0]
    assert t.reason.iloc[1] == "ValueError: the module holds no tensors: nothing to probe"
    assert t.job.iloc[0].startswith("device=cpu") and "variant.model._target_=nowhere.Mod" in t.job.iloc[0]


def test_collect_builds_table_from_a_killed_sweep(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "runner", "-m", "variant=parameter", "seed=range(0,200)",
                             f"hydra.sweep.dir={tmp_path}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(list(tmp_path.glob("*/results.csv"))) < 2 and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(tmp_path.glob("*/results.csv"))
    assert 2 <= len(finished) < 200 and not (tmp_path / "results.csv").exists()
    r = run_cli("runner.collect", str(tmp_path))
    assert r.returncode == 0, r.stderr
    t = read_csv(tmp_path / "results.csv")
    assert len(t) == len(finished) and set(t.status) == {"ok"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_collect_rejects_a_directory_without_results(tmp_path):
    r = run_cli("runner.collect", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no job results" in r.stderr


def test_help_lists_groups():
    r = run_cli("runner", "--help")
    assert r.returncode == 0
    for line in ("variant:", "update: data, inplace, no_grad, optimizer, rebind", "device: auto, cpu, cuda, mps"):
        assert line in r.stdout


def test_fast_help_is_hydras_app_help():
    fast = run_cli("runner", "--help")
    hydra = run_cli("runner", "--help", "seed=0")  # with an override, Hydra renders the help itself
    assert fast.returncode == hydra.returncode == 0
    assert fast.stdout == hydra.stdout and "== Default config ==" in fast.stdout
