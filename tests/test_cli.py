"""The real command line, `python -m runner`, in subprocesses: only what the CLI itself decides."""
import pytest

from .conftest import NO_REPORT, ROOT, read_csv, run_cli

pytestmark = pytest.mark.slow


def test_multirun_writes_sweep_table_and_keys_are_stable(tmp_path):
    tables = []
    for name in ("a", "b"):
        sweep = tmp_path / name
        r = run_cli("runner", "-m", "variant=tensor,parameter", "optimizer=sgd,adam", "steps=1", NO_REPORT,
                    f"hydra.sweep.dir={sweep}")
        assert r.returncode == 0, r.stderr
        assert f"sweep table: {sweep / 'results.csv'}" in r.stdout
        tables.append(read_csv(sweep / "results.csv"))
        assert len(list(sweep.glob("*/results.csv"))) == 4
    a, b = tables
    assert len(a) == 4 and list(a.columns[:7]) == ["job", "variant", "optimizer", "update", "device", "export", "seed"]
    assert list(a.job) == list(b.job) and a.job.is_unique  # different sweep dirs, same keys
    assert "steps" not in a.job.iloc[0]  # an explicit default is not part of the key
    w_adam = a[(a.variant == "parameter") & (a.optimizer == "adam")].iloc[0]
    assert (w_adam.tensor, w_adam.grad, w_adam.updated, w_adam.in_state_dict) == ("w", "nonzero", "true", "true")
    t_sgd = a[(a.variant == "tensor") & (a.optimizer == "sgd")].iloc[0]
    assert (t_sgd.status, t_sgd.update_error) == ("partial", "ValueError: optimizer got an empty parameter list")


def test_single_run_prints_table_and_writes_results(tmp_path):
    r = run_cli("runner", f"hydra.run.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    assert "my_param" in r.stdout and f"results: {tmp_path / 'results.csv'}" in r.stdout
    table = read_csv(tmp_path / "results.csv")
    assert set(table.tensor) == {"my_tensor", "my_param", "my_buffer", "my_state", "my_registered_param"}
    assert set(table.variant) == {"seed_notebook"}


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    """Three real command lines; the messages themselves are tested in-process (test_configs.py)."""
    (tmp_path / "variant").mkdir()
    (tmp_path / "variant" / "bad.yaml").write_text("attributes:\n  w: {kind: parmeter}\ninput_shape: [3]\n")
    cases = [
        (["variant=bad", f"hydra.searchpath=[file://{tmp_path}]"],
         "variant/bad.yaml: variant.attributes.w.kind: Invalid value 'parmeter', expected one of [parameter, buffer, tensor]"),
        (["variant=nope"], "unknown option 'variant/nope'; allowed in group variant: " +
         ", ".join(sorted(p.stem for p in (ROOT / "conf" / "variant").glob("*.yaml")))),
        (["steps=abc"], "steps: Value 'abc' of type 'str' could not be converted to Integer"),
    ]
    for args, expected in cases:
        r = run_cli("runner", *args, f"hydra.run.dir={tmp_path}/run")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert lines[0].startswith("tensorprobe: error: ") and expected in lines[0]
    assert not (tmp_path / "run" / "results.csv").exists()


def test_an_invalid_job_stops_the_sweep_before_any_job_runs(tmp_path):
    """move_to=foo once killed the sweep with exit 0 and no table; a config error in one job of a sweep
    is now found while planning: one line, exit 2, nothing run, nothing written."""
    sweep = tmp_path / "s"
    r = run_cli("runner", "-m", "variant=parameter,buffer", "move_to=foo", f"hydra.sweep.dir={sweep}")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("tensorprobe: error: move_to: 'foo' is not a device; allowed: auto")
    assert "2 of 2 jobs invalid; nothing was run" in r.stderr
    r = run_cli("runner", "-m", "variant=parameter", "steps=1,-1", f"hydra.sweep.dir={sweep}")
    assert r.returncode == 2 and "steps: -1 is negative" in r.stderr and "(job #1: " in r.stderr
    assert not sweep.exists()


def test_a_repeated_value_runs_once(tmp_path):
    r = run_cli("runner", "-m", "variant=parameter", "export=none,torch_export,torch_export", NO_REPORT,
                f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    dropped = [line for line in r.stderr.splitlines() if "duplicate" in line]
    assert dropped == ["tensorprobe: dropped 1 duplicate job(s) of this sweep: "
                       "#2 (variant=parameter export=torch_export) = #1"]
    table = read_csv(tmp_path / "results.csv")
    assert len(table) == 2 and not table.duplicated(["job", "tensor"]).any()
    assert "2 jobs: 2 ok" in r.stdout  # the summary and the table agree
    assert sorted(p.parent.name for p in tmp_path.glob("*/results.csv")) == ["0", "1"]


def test_help_lists_groups_and_equals_hydras_app_help():
    fast = run_cli("runner", "--help")
    hydra = run_cli("runner", "--help", "seed=0")  # with an override, Hydra renders the help itself
    assert fast.returncode == hydra.returncode == 0
    assert fast.stdout == hydra.stdout and "== Default config ==" in fast.stdout
    for line in ("variant:", "update: data, inplace, no_grad, optimizer, rebind", "device: auto, cpu, cuda, mps"):
        assert line in fast.stdout


def test_cfg_job_shows_the_composed_config():
    r = run_cli("runner", "--cfg", "job", "variant=batchnorm")
    assert r.returncode == 0, r.stderr
    assert "_target_: torch.nn.BatchNorm1d" in r.stdout and "move_to: meta" in r.stdout
    assert "hydra:" not in r.stdout


def test_entry_points_of_the_readme_run(tmp_path):
    for module in ("runner.collect", "runner.compare", "runner.report", "runner.audit"):
        r = run_cli(module, "--help", cwd=ROOT)
        assert r.returncode == 0 and r.stdout.startswith("usage: python -m " + module), (module, r.stderr)
