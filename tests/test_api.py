"""The Python API (`import runner as tp`): the CLI's table from one call, the caller's module and the
process's state left as they were, one-line errors for bad input, nothing written without out_dir."""
from __future__ import annotations

import functools
import logging
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import runner as tp
from experiments.export_cases import Counting, Recurrent
from experiments.seed_notebook import ExperimentModel
from experiments.structures import TiedLinear
from runner.errors import ConfigError

from .conftest import ROOT, error_line, read_csv, run_cli, run_config

NOTEBOOK = ["variant=model", "variant.model._target_=experiments.seed_notebook.ExperimentModel",
            "variant.input_shape=[1]"]

# (model for tp.probe, inputs, options, the CLI's overrides for the same job)
CASES = {
    "notebook_class_torch_export": (
        ExperimentModel, torch.randn(1), {"export": "torch_export", "checkpoint": True},
        NOTEBOOK + ["export=torch_export", "checkpoint=true"]),
    "linear_adam_two_steps": (
        functools.partial(nn.Linear, in_features=3, out_features=2), torch.randn(4, 3),
        {"optimizer": "adam", "steps": 2, "optimizer.lr": 0.01},
        ["variant=model", "variant.model._target_=torch.nn.Linear", "+variant.model.in_features=3",
         "+variant.model.out_features=2", "variant.input_shape=[4,3]", "optimizer=adam", "steps=2",
         "optimizer.lr=0.01"]),
    "embedding_int_inputs_spec": (
        functools.partial(nn.Embedding, num_embeddings=10, embedding_dim=3),
        [{"shape": [2, 5], "dtype": "int64", "low": 0, "high": 10}], {"update": "no_grad", "seed": 3},
        ["variant=model", "variant.model._target_=torch.nn.Embedding", "+variant.model.num_embeddings=10",
         "+variant.model.embedding_dim=3", "variant.inputs=[{shape:[2,5],dtype:int64,low:0,high:10}]",
         "update=no_grad", "seed=3"]),
    "tied_weight_checkpoint": (
        functools.partial(TiedLinear, features=4), torch.randn(2, 4), {"checkpoint": True, "update": "data"},
        ["variant=model", "variant.model._target_=experiments.structures.TiedLinear", "+variant.model.features=4",
         "variant.input_shape=[2,4]", "checkpoint=true", "update=data"]),
    "recurrent_lstm_gru": (
        functools.partial(Recurrent, features=3, hidden=4, out=2), torch.randn(2, 5, 3), {"steps": 2},
        ["variant=model", "variant.model._target_=experiments.export_cases.Recurrent", "+variant.model.features=3",
         "+variant.model.hidden=4", "+variant.model.out=2", "variant.input_shape=[2,5,3]", "steps=2"]),
    "attention_three_inputs_and_a_keyword": (
        functools.partial(nn.MultiheadAttention, embed_dim=4, num_heads=2),
        (torch.randn(3, 2, 4), torch.randn(5, 2, 4), torch.randn(5, 2, 4)), {"kwargs": {"need_weights": False}},
        ["variant=model", "variant.model._target_=torch.nn.MultiheadAttention", "+variant.model.embed_dim=4",
         "+variant.model.num_heads=2", "variant.inputs=[{shape:[3,2,4]},{shape:[5,2,4]},{shape:[5,2,4]}]",
         "variant.kwargs={need_weights:false}"]),
    "counting_int_buffer_onnx_legacy": (
        functools.partial(Counting, features=3), torch.randn(3), {"export": "onnx_legacy"},
        ["variant=model", "variant.model._target_=experiments.export_cases.Counting", "+variant.model.features=3",
         "variant.input_shape=[3]", "export=onnx_legacy"]),
}


def assert_same_table(api, cli, same_hash=True):
    """runner.compare finds no changed cell and no row in one table only; key and hash are the CLI's."""
    diff = tp.compare(api, cli)
    assert diff.empty, diff.to_string()
    assert list(api.columns) == list(cli.columns)
    assert list(api["job"]) == list(cli["job"])
    assert not same_hash or list(api["config_hash"]) == list(cli["config_hash"])
    assert list(api["tensor"]) == list(cli["tensor"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_probe_gives_the_cli_table_for_the_same_module(case, tmp_path):
    model, inputs, options, cli = CASES[case]
    api = tp.probe(model, inputs, **options)
    assert_same_table(api, run_config(cli, tmp_path).reset_index(drop=True))
    assert (api["status"] == "ok").all(), api[["status", "reason"]]


def test_an_instance_is_probed_on_copies_with_its_own_values(tmp_path):
    """An instance built after the CLI's seeding has the CLI's values: same table, the restore stages
    included (their fresh module is a copy of the instance, its equal values made to differ)."""
    torch.manual_seed(0)
    model = ExperimentModel()
    api = tp.probe(model, torch.randn(1), "checkpoint=true")
    assert_same_table(api, run_config(NOTEBOOK + ["checkpoint=true"], tmp_path).reset_index(drop=True))
    # values the CLI never draws: the loss is the instance's (seed 1's values give another loss)
    torch.manual_seed(1)
    other = tp.probe(ExperimentModel(), torch.randn(1))
    assert other["loss"].iloc[0] != api["loss"].iloc[0]
    assert list(other["restored"]) == list(api["restored"])


LINEAR = lambda: nn.Linear(3, 2)  # noqa: E731 - a factory as a notebook would write it


def test_a_module_from_a_factory_lambda_is_named_by_its_path():
    frame = tp.probe(LINEAR, torch.randn(4, 3))
    assert "variant.model._target_=tests.test_api.<lambda>" in frame["job"].iloc[0].split(",")
    assert frame["model"].iloc[0] == "tests.test_api.<lambda>"
    assert list(frame["status"]) == ["ok", "ok"]


class Mixed(nn.Module):
    """Every kind of tensor, and a submodule in eval mode."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.frozen = nn.Parameter(torch.randn(2), requires_grad=False)
        self.register_buffer("count", torch.tensor(5))
        self.plain = torch.randn(2)
        self.norm = nn.BatchNorm1d(2)

    def forward(self, x):
        self.count += 1
        return self.norm(self.lin(x) * self.plain + self.frozen)


def _state(module: nn.Module):
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers()), "plain": module.plain}
    return {
        "values": {k: t.detach().clone() for k, t in tensors.items()},
        "ids": {k: id(t) for k, t in tensors.items()},
        "versions": {k: t._version for k, t in tensors.items()},
        "grads": {k: None if t.grad is None else t.grad.clone() for k, t in tensors.items()},
        "requires_grad": {k: t.requires_grad for k, t in tensors.items()},
        "devices": {k: t.device for k, t in tensors.items()},
        "training": {n: m.training for n, m in module.named_modules()},
    }


def _assert_same_state(before, after):
    assert before["ids"] == after["ids"] and before["versions"] == after["versions"]
    assert before["requires_grad"] == after["requires_grad"] and before["devices"] == after["devices"]
    assert before["training"] == after["training"]
    for k, v in before["values"].items():
        assert torch.equal(v, after["values"][k]), k
    for k, g in before["grads"].items():
        assert (g is None) == (after["grads"][k] is None), k
        assert g is None or torch.equal(g, after["grads"][k]), k


def _used_module() -> nn.Module:
    module = Mixed()
    module(torch.randn(4, 3)).sum().backward()  # leaves grads on lin
    module.norm.eval()
    assert module.lin.weight.grad is not None
    return module


@pytest.mark.parametrize("call", ["probe", "sweep"])
def test_the_callers_module_is_left_exactly_as_it_was(call):
    module = _used_module()
    before = _state(module)
    if call == "probe":
        frame = tp.probe(module, torch.randn(4, 3), update="inplace", steps=2, checkpoint=True)
    else:
        frame = tp.sweep(module, torch.randn(4, 3), grid={"update": ["optimizer", "no_grad"]}, progress=False)
    _assert_same_state(before, _state(module))
    assert set(frame["tensor"]) >= {"lin.weight", "count", "plain", "frozen"}
    # the copies were trained: the probe did change something, just not the caller's module
    updated = frame[frame["tensor"] == "lin.weight"]["updated"]
    assert set(updated) - {""}, frame[["job", "status", "reason"]]


def test_registration_cells_agree_with_plain_torch_on_the_callers_module():
    module = _used_module()
    frame = tp.probe(module, torch.randn(4, 3)).set_index("tensor")
    spell = {True: "true", False: "false"}
    state, params, buffers = module.state_dict(), dict(module.named_parameters()), dict(module.named_buffers())
    assert set(frame.index) == set(params) | set(buffers) | {"plain"}
    for name, row in frame.iterrows():
        assert row["in_state_dict"] == spell[name in state], name
        assert row["in_parameters"] == spell[name in params] and row["in_buffers"] == spell[name in buffers], name
    # the int buffer forward increments: BatchNorm's counter and `count` are buffers of integer dtype
    assert frame.loc["norm.num_batches_tracked", "in_buffers"] == "true"
    assert frame.loc["count", "dtype"] == str(module.count.dtype).removeprefix("torch.")


def test_the_jobs_copy_starts_without_the_callers_gradients():
    """A built module has no gradients: the job's copy has the caller's values and none of its grads."""
    from runner.apiconfig import module_source
    module = _used_module()
    make, lines = module_source(module)
    copy_ = make()
    assert lines == ["variant=model", "variant.model._target_=tests.test_api.Mixed"]
    assert module.lin.weight.grad is not None and copy_.lin.weight.grad is None
    assert copy_ is not module and torch.equal(copy_.lin.weight, module.lin.weight)
    assert copy_.lin.weight.data_ptr() != module.lin.weight.data_ptr()
    assert module.lin.weight.grad is not None  # the caller's stay


def test_global_state_is_put_back(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    root_level = logging.getLogger().level
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        x = torch.randn(4, 3, dtype=torch.float32)
        with torch.no_grad():
            torch.manual_seed(123)
            np.random.seed(5)
            random.seed(7)
            expected = torch.rand(3), np.random.rand(3), random.random()
            torch.manual_seed(123)
            np.random.seed(5)
            random.seed(7)
            frame = tp.probe(LINEAR, x, export="onnx_dynamo")
            assert not torch.is_grad_enabled()
            assert torch.get_default_dtype() == torch.float64
            got = torch.rand(3), np.random.rand(3), random.random()
    finally:
        torch.set_default_dtype(previous)
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]
    assert os.environ["HYDRA_FULL_ERROR"] == "0"
    assert logging.getLogger("onnxscript").level == logging.ERROR and logging.getLogger().level == root_level
    assert frame["export_role"].iloc[0] == "initializer"  # the job ran in float32 and grad mode anyway


def test_nothing_is_written_unless_out_dir_is_given(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    frame = tp.probe(lambda: nn.Linear(3, 2), torch.randn(4, 3), export="onnx_legacy")
    assert frame["export_role"].iloc[0] == "initializer"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["tmp"]
    out = tmp_path / "out"
    frame = tp.probe(lambda: nn.Linear(3, 2), torch.randn(4, 3), export="onnx_legacy", out_dir=out)
    assert (out / "model.onnx").is_file()
    assert tp.compare(tp.read_table(out / "results.csv"), frame).empty
    with pytest.raises(ConfigError, match="out_dir: .* already holds files"):
        tp.probe(lambda: nn.Linear(3, 2), torch.randn(4, 3), out_dir=out)


class Uncopyable(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.stream = (i for i in range(3))  # a generator: copy.deepcopy cannot copy it

    def forward(self, x):
        return x * self.w


@pytest.mark.parametrize("call,cli_overrides,expected", [
    (lambda: tp.probe(ExperimentModel, torch.randn(1), optimizer="adamm"), NOTEBOOK + ["optimizer=adamm"],
     "allowed in group optimizer"),
    (lambda: tp.probe(ExperimentModel, torch.randn(1), steps=-1), NOTEBOOK + ["steps=-1"], "steps: -1 is negative"),
    (lambda: tp.probe(ExperimentModel, torch.randn(1), "export.strict=true"), NOTEBOOK + ["export.strict=true"],
     "export.strict: does not apply"),
])
def test_bad_options_give_the_clis_one_line_error(call, cli_overrides, expected):
    with pytest.raises(ConfigError) as info:
        call()
    assert str(info.value) == error_line(cli_overrides)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("call,expected", [
    (lambda: tp.probe(ExperimentModel, torch.randn(1), stepz=2), "stepz: unknown option; allowed: optimizer"),
    (lambda: tp.probe(ExperimentModel, torch.randn(1), variant="tensor"), "variant: the module and its inputs"),
    (lambda: tp.probe(42, torch.randn(1)), "model: int is not a module"),
    (lambda: tp.probe(Uncopyable(), torch.randn(1)), "model: Uncopyable cannot be deep-copied (TypeError"),
    (lambda: tp.probe(ExperimentModel, "x"), "inputs: str; allowed: a tensor"),
    (lambda: tp.probe(ExperimentModel, torch.randn(1, dtype=torch.complex64)), "inputs[0]: a complex64 tensor"),
    (lambda: tp.sweep(ExperimentModel, torch.randn(1), grid={"steps": 2}), "grid.steps: 2 is not a list"),
    (lambda: tp.sweep(ExperimentModel, torch.randn(1), n_jobs=0), "n_jobs: 0; allowed: an int >= 1"),
])
def test_bad_arguments_are_one_line_errors(call, expected):
    with pytest.raises(ConfigError) as info:
        call()
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the job would run")
def test_a_device_this_machine_lacks_is_a_skipped_job(tmp_path):
    api = tp.probe(ExperimentModel, torch.randn(1), device="cuda")
    assert list(api["status"]) == ["skipped"] and "cuda" in api["reason"].iloc[0]
    assert_same_table(api, run_config(NOTEBOOK + ["device=cuda"], tmp_path).reset_index(drop=True))


def test_probe_inside_an_initialised_hydra_leaves_it_initialised(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "mine.yaml").write_text("answer: 42\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        frame = tp.probe(ExperimentModel, torch.randn(1))
        assert GlobalHydra.instance().is_initialized()
        assert compose("mine").answer == 42  # the caller's config tree, not tensorprobe's
    assert list(frame["status"]) == ["ok"] * 5


def test_a_module_that_fails_is_its_jobs_row():
    from experiments.faulty import FailingConstructor
    frame = tp.probe(FailingConstructor, torch.randn(3))
    assert list(frame["status"]) == ["failed"] and frame["reason"].iloc[0]


def test_sweep_is_the_probes_of_its_grid_repeats_dropped(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # no tqdm: one text line per job
    grid = {"optimizer": ["sgd", "adam"], "steps": [1, 1]}
    frame = tp.sweep(ExperimentModel, torch.randn(1), grid=grid, progress=True)
    err = capsys.readouterr().err
    assert "2 repeated jobs dropped" in err and "[2/2]" in err
    one_by_one = [tp.probe(ExperimentModel, torch.randn(1), optimizer=o) for o in ("sgd", "adam")]
    import pandas as pd
    assert tp.compare(frame, pd.concat(one_by_one, ignore_index=True)).empty
    assert frame["job"].nunique() == 2


def test_sweep_shows_tqdms_bar_where_tqdm_is_installed(monkeypatch, capsys):
    import types
    bars = []

    class FakeTqdm:
        def __init__(self, total, unit):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix_str(self, text):
            self.postfix = text

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=FakeTqdm))
    tp.sweep(ExperimentModel, torch.randn(1), grid={"update": ["optimizer", "no_grad"]})
    assert [(b.total, b.n, b.closed) for b in bars] == [(2, 2, True)]
    assert "update=no_grad" in bars[0].postfix and "[2/2]" not in capsys.readouterr().err


def test_compare_reports_changed_cells_and_missing_rows():
    a = tp.probe(ExperimentModel, torch.randn(1))
    b = tp.probe(ExperimentModel, torch.randn(1), update="no_grad")
    assert set(tp.compare(a, b)["change"]) == {"only_a", "only_b"}
    c = a.copy()
    c.loc[c["tensor"] == "my_param", "grad"] = "none"
    diff = tp.compare(a, c)
    assert diff[["change", "tensor", "column", "old", "new"]].values.tolist() == [
        ["changed", "my_param", "grad", a.loc[a["tensor"] == "my_param", "grad"].iloc[0], "none"]]


def test_import_runner_is_cheap_and_compare_stays_callable():
    code = ("import sys, runner; heavy = [m for m in ('torch', 'pandas', 'hydra', 'omegaconf') if m in sys.modules]; "
            "import runner.compare, runner.audit; print(heavy, callable(runner.compare), callable(runner.audit))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True", "True"]


MAIN_SCRIPT = textwrap.dedent('''
    import sys, torch, torch.nn as nn
    import runner as tp

    class ExperimentModel(nn.Module):  # the notebook's class, defined in __main__
        def __init__(self):
            super().__init__()
            self.my_tensor = torch.randn(1, requires_grad=False)
            self.my_param = nn.Parameter(torch.randn(1))
            self.register_buffer("my_buffer", torch.randn(1))
            self.register_buffer("my_state", torch.tensor(42), persistent=False)
            self.register_parameter("my_registered_param", nn.Parameter(torch.randn(1)))

        def forward(self, x):
            return x * self.my_tensor + self.my_param

    frame = tp.probe(ExperimentModel, torch.randn(1), export="onnx_dynamo", checkpoint=True)
    frame.to_csv(sys.argv[1], index=False)
    swept = tp.sweep(ExperimentModel, torch.randn(1), grid={"update": ["optimizer", "no_grad"]}, n_jobs=2,
                     progress=False)
    alone = tp.sweep(ExperimentModel, torch.randn(1), grid={"update": ["optimizer", "no_grad"]}, progress=False)
    print("pool equal:", tp.compare(swept, alone).empty, set(swept["status"]))
''')


@pytest.mark.slow
def test_a_class_defined_in_main_gives_the_clis_table(tmp_path):
    script = tmp_path / "notebook_like.py"
    script.write_text(MAIN_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "api.csv")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "pool equal: True {'ok'}" in out.stdout
    r = run_cli("runner", *NOTEBOOK, "export=onnx_dynamo", "checkpoint=true", f"hydra.run.dir={tmp_path / 'cli'}")
    assert r.returncode == 0, r.stderr[-3000:]
    cli = read_csv(tmp_path / "cli" / "results.csv")
    api = read_csv(tmp_path / "api.csv")
    assert set(api["model"]) == {"__main__.ExperimentModel"}
    for column in ("job", "model"):  # the one difference: where the class lives (and so config_hash)
        api[column] = api[column].str.replace("__main__.", "experiments.seed_notebook.", regex=False)
    assert_same_table(api, cli, same_hash=False)


@pytest.mark.slow
def test_audit_and_its_sweep_directory(tmp_path):
    module = _used_module()
    before = _state(module)
    found = tp.audit(module, torch.randn(4, 3), out_dir=tmp_path / "sweep")
    _assert_same_state(before, _state(module))
    torch.manual_seed(0)
    result = tp.audit(ExperimentModel(), torch.randn(1), out_dir=tmp_path / "nb")
    assert result.table["job"].nunique() == 6 and set(result.table["status"]) <= {"ok", "partial"}
    severities = list(result.findings["severity"])
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    my_tensor = result.findings[result.findings["tensor"] == "my_tensor"]
    assert "error" in set(my_tensor["severity"])
    html = result._repr_html_()
    assert "my_tensor" in html and "#c62828" in html and "Fix" not in html.split("<table>")[0]
    from runner.analysis.audit import main as audit_main
    assert audit_main([str(tmp_path / "nb")]) == result.exit_code == 1
    for tool in ("runner.report", "runner.compare"):
        args = [str(tmp_path / "nb")] * (2 if tool == "runner.compare" else 1)
        r = run_cli(tool, *args)
        assert r.returncode == 0, (tool, r.stderr[-2000:])
    assert (tmp_path / "nb" / "report.md").is_file() and (tmp_path / "nb" / "claims.csv").is_file()
    assert tp.compare(tp.read_table(tmp_path / "nb"), result.table).empty
    assert (found.findings["tensor"] == "plain").any()


def readme_python_block() -> str:
    """The Python example at the start of the README's "Check your own module"."""
    text = (ROOT / "README.md").read_text().split("### From Python or a notebook", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readmes_python_example_runs_as_shown(tmp_path):
    block = readme_python_block()
    assert '"outputs/runs/<dir>/results.csv"' in block
    script = block.replace('"outputs/runs/<dir>/results.csv"', "sys.argv[1]")
    script = "import sys\n" + script + textwrap.dedent('''
        print("diff rows:", len(tp.compare(table, sys.argv[1])))
        print("onnx jobs:", onnx["job"].nunique(), "exit code:", result.exit_code)
        print("scale:", table.set_index("tensor").loc["scale", "declared_as"], set(table["status"]))
    ''')
    (tmp_path / "example.py").write_text(script)
    saved = tmp_path / "results.csv"
    # the table the example compares with: the same probe's, from another process
    writer = script.split("onnx = ")[0] + "table.to_csv(sys.argv[1], index=False)\n"
    (tmp_path / "writer.py").write_text(writer)
    out = subprocess.run([sys.executable, "writer.py", str(saved)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run([sys.executable, "example.py", str(saved)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "diff rows: 0" in out.stdout and "onnx jobs: 2 exit code: 1" in out.stdout, out.stdout
    assert "scale: tensor {'ok'}" in out.stdout
