"""The lifecycle.* stages (issue 23) against plain-torch re-derivations written apart from the probes.

The derivations here take another route than the probes: `meta_init` from the state_dict's keys and
the devices (the probe decides by loading a changed state_dict), `strict_false` on generic variants by
declaring the changed kind in the class (the probe changes the slot on an instance).
"""
import math

import pytest
import torch
from torch import nn

from experiments.generic import DeclaredTensors
from runner.errors import exception_text
from runner.job.build import build_module
from runner.probes.discover import discover
from runner.probes.meta_init import meta_init_outcomes
from runner.probes.strict_false import strict_false_outcomes

from .conftest import error_line, task_config

LIFECYCLE_COLUMNS = ("meta_init", "meta_init_error", "meta_forward_error", "assign_kind", "assign_requires_grad",
                     "assign_error", "strict_false_as_parameter", "strict_false_as_buffer",
                     "strict_false_as_nonpersistent", "strict_false_as_tensor", "strict_false_error")


class Rotary(nn.Module):
    """The issue's module: Parameter p, persistent buffer b, non-persistent inv_freq computed in __init__, plain t."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.randn(4))
        self.register_buffer("b", torch.randn(4))
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, 4).float() / 4)), persistent=False)
        self.t = torch.randn(4)

    def forward(self, x):
        return x * self.p * self.b * self.inv_freq * self.t


class RotaryRecomputed(Rotary):
    """The fix the audit suggests: inv_freq computed again once the module holds real memory."""

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        if self.inv_freq.device.type != "meta":
            with torch.no_grad():
                self.inv_freq.copy_(1.0 / (10000 ** (torch.arange(0, 4, device=self.inv_freq.device).float() / 4)))
        return out


def _trained(cls):
    torch.manual_seed(0)
    module = cls()
    with torch.no_grad():  # stands for training: the trained values differ from a fresh build's
        module.p.add_(1.0)
        module.b.mul_(2.0)
    return module


def _seeded(cls):
    def build():
        torch.manual_seed(0)
        return cls()
    return build


def test_the_issue_facts_on_its_module():
    trained = _trained(Rotary)
    out = meta_init_outcomes(trained, discover(trained), _seeded(Rotary), torch.device("cpu"), (torch.randn(4),), {})
    assert {k: v["meta_init"] for k, v in out.items()} == {
        "p": "restored", "b": "restored", "inv_freq": "uninitialized", "t": "on_meta"}
    assert out["p"]["meta_forward_error"] == "RuntimeError: Tensor on device meta is not on the expected device cpu!"
    assert {k: v["assign_kind"] for k, v in out.items()} == {
        "p": "parameter", "b": "buffer", "inv_freq": "on_meta", "t": "on_meta"}
    assert out["p"]["assign_requires_grad"] is True and out["b"]["assign_requires_grad"] is False
    assert not torch.are_deterministic_algorithms_enabled()  # the fill of uninitialised memory was undone


def test_a_module_that_recomputes_its_buffer_is_recomputed_not_uninitialized():
    trained = _trained(RotaryRecomputed)
    out = meta_init_outcomes(trained, discover(trained), _seeded(RotaryRecomputed), torch.device("cpu"),
                             (torch.randn(4),), {})
    assert (out["inv_freq"]["meta_init"], out["p"]["meta_init"], out["t"]["meta_init"]) == (
        "recomputed", "restored", "on_meta")


def test_a_failing_build_is_an_error_on_every_row():
    trained = _trained(Rotary)

    def build():
        raise RuntimeError("no meta for you")
    out = meta_init_outcomes(trained, discover(trained), build, torch.device("cpu"), (torch.randn(4),), {})
    assert {v["meta_init"] for v in out.values()} == {"error"}
    assert {v["meta_init_error"] for v in out.values()} == {"RuntimeError: no meta for you"}
    assert {v["meta_forward_error"] for v in out.values()} == {None}  # forward never ran: not measured
    assert {v["assign_kind"] for v in out.values()} == {None}


def _plain_meta_expectations(variant, seed, device):
    """Derived apart from the probe: device after to_empty + load, the state_dict's keys, an eager build."""
    trained = build_module(variant, seed).to(device)
    state = trained.state_dict()
    with torch.device("meta"):
        meta = build_module(variant, seed)
    meta.to_empty(device=device)
    meta.load_state_dict(state)
    eager = build_module(variant, seed).to(device)
    loaded_storage = [v for k, v in meta.state_dict(keep_vars=True).items() if k in state]
    expected = {}
    for ref in discover(trained):
        now = _get(meta, ref.path)
        if now.device.type == "meta":
            expected[ref.path] = "on_meta"
        elif ref.path in state or any(now.data_ptr() == v.data_ptr() for v in loaded_storage):
            expected[ref.path] = "restored"  # a state_dict key, or the same memory as one (RNN's _flat_weights)
        elif torch.equal(now, _get(eager, ref.path)) and not now.isnan().any():
            expected[ref.path] = "recomputed"
        else:
            expected[ref.path] = "uninitialized"
    with torch.device("meta"):
        assigned = build_module(variant, seed)
    assigned.load_state_dict(state, assign=True)
    kinds = {}
    for ref in discover(trained):
        t = _get(assigned, ref.path)
        owner = assigned.get_submodule(ref.module)
        kinds[ref.path] = ("on_meta" if t.device.type == "meta" else "parameter" if isinstance(t, nn.Parameter)
                           else "buffer" if not ref.keys and ref.attr in owner._buffers else "tensor",
                           "true" if t.requires_grad else "false")
    return expected, kinds


def _get(module, path):
    obj = module
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, (list, tuple)) else obj[part] if isinstance(obj, dict) \
            else getattr(obj, part)
    return obj


def _forward_error(variant, seed, args, kwargs):
    trained = build_module(variant, seed)
    with torch.device("meta"):
        meta = build_module(variant, seed)
    meta.to_empty(device="cpu")
    meta.load_state_dict(trained.state_dict())
    try:
        with torch.no_grad():
            meta(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        return exception_text(exc)
    return ""


@pytest.mark.parametrize("variant", ["seed_notebook", "seed_notebook2", "custom_linear", "buffer", "buffer_nonpersistent",
                                     "parameter", "parameter_frozen", "int_buffer", "tensor", "tensor_requires_grad",
                                     "tied_parameters", "batchnorm", "multihead_attention", "recurrent", "embedding",
                                     "norms", "nested", "parameter_list"])
def test_meta_init_cells_agree_with_plain_torch(run, variant):
    from runner.job.build import make_inputs
    from runner.job.validate import typed_config
    table = run(f"variant={variant}", "lifecycle.meta_init=true")
    cfg, choices, _ = task_config([f"variant={variant}"])
    typed = typed_config(cfg, f"variant/{variant}.yaml")
    expected, kinds = _plain_meta_expectations(typed.variant, typed.seed, torch.device("cpu"))
    assert dict(zip(table.tensor, table.meta_init)) == expected
    assert {p: (r.assign_kind, r.assign_requires_grad) for p, r in table.iterrows()} == kinds
    inputs = make_inputs(typed.variant, typed.seed, torch.device("cpu"))
    assert set(table.meta_forward_error) == {_forward_error(typed.variant, typed.seed, inputs.args, inputs.kwargs)}
    assert set(table.meta_init_error) == {""} and set(table.assign_error) == {""}


def test_non_persistent_buffer_is_uninitialized_and_plain_tensor_stays_on_meta(run):
    table = run("variant=seed_notebook", "lifecycle.meta_init=true")
    # my_state: register_buffer(torch.tensor(42), persistent=False); my_tensor: a plain attribute forward reads
    assert (table.loc["my_state", "meta_init"], table.loc["my_tensor", "meta_init"]) == ("uninitialized", "on_meta")
    assert table.loc["my_param", "meta_init"] == "restored"
    assert set(table.meta_forward_error) == {"RuntimeError: Tensor on device meta is not on the expected device cpu!"}


GENERIC = ["variant=generic", "+variant.attributes.p={kind: parameter}", "+variant.attributes.b={kind: buffer}",
           "+variant.attributes.nb={kind: buffer, persistent: false}", "+variant.attributes.t={kind: tensor}"]
KIND_SPECS = {"strict_false_as_parameter": {"kind": "parameter", "persistent": True, "via": "assign"},
              "strict_false_as_buffer": {"kind": "buffer", "persistent": True, "via": "register"},
              "strict_false_as_nonpersistent": {"kind": "buffer", "persistent": False, "via": "register"},
              "strict_false_as_tensor": {"kind": "tensor", "persistent": True, "via": "assign"}}


def _declared(attributes, seed):
    torch.manual_seed(seed)
    return DeclaredTensors(attributes)


def test_strict_false_on_generic_variants_agrees_with_a_class_declared_change(run):
    from runner.job.build import attribute_spec
    from runner.job.validate import typed_config
    table = run(*GENERIC, "steps=0", "lifecycle.strict_false=true")  # steps=0: trained = built
    cfg, choices, _ = task_config(GENERIC)
    typed = typed_config(cfg, "variant/generic.yaml")
    specs = {n: attribute_spec(a) for n, a in typed.variant.attributes.items()}
    saving = _declared(specs, 0)
    saved = saving.state_dict()
    checked = 0
    for name, spec in specs.items():
        own = next(c for c, k in KIND_SPECS.items() if k["kind"] == spec["kind"] and k["persistent"] == spec["persistent"])
        for column, kind in KIND_SPECS.items():
            cell = table.loc[name, column]
            if column == own:
                assert cell == ""
                continue
            changed = {**specs, name: {**spec, **kind, "requires_grad": kind["kind"] == "parameter"}}
            loading = _declared(changed, 1)
            result = loading.load_state_dict(saved, strict=False)
            expected = ("unexpected" if name in result.unexpected_keys else "missing" if name in result.missing_keys
                        else "loaded" if torch.equal(getattr(loading, name), getattr(saving, name)) else "ignored")
            assert cell == expected, (name, column)
            checked += 1
    assert checked == 12
    # the facts behind transformers#25330 and its reverse
    assert table.loc["b", "strict_false_as_nonpersistent"] == "unexpected"
    assert table.loc["nb", "strict_false_as_buffer"] == "missing"
    assert table.loc["nb", "strict_false_as_tensor"] == "ignored"  # neither saved nor expected: silent


def _hold_as(owner, attr, value, column):
    """Plain torch: give `owner` a slot of the column's kind for `attr`, holding `value`."""
    if attr in owner._parameters:
        del owner._parameters[attr]
    elif attr in owner._buffers:
        del owner._buffers[attr]
        owner._non_persistent_buffers_set.discard(attr)
    else:
        del owner.__dict__[attr]
    if column == "strict_false_as_parameter":
        owner.register_parameter(attr, nn.Parameter(value, requires_grad=value.is_floating_point()))
    elif column == "strict_false_as_tensor":
        owner.__dict__[attr] = value
    else:
        owner.register_buffer(attr, value, persistent=column == "strict_false_as_buffer")


@pytest.mark.parametrize("variant", ["batchnorm", "recurrent", "tied_parameters", "multihead_attention",
                                     "seed_notebook", "seed_notebook2", "custom_linear", "int_buffer", "counting"])
def test_strict_false_on_torch_nn_modules_agrees_with_plain_torch(run, variant):
    from runner.job.validate import typed_config
    table = run(f"variant={variant}", "steps=0", "lifecycle.strict_false=true")  # steps=0: trained = built
    cfg, _, _ = task_config([f"variant={variant}"])
    typed = typed_config(cfg, f"variant/{variant}.yaml")
    saved = build_module(typed.variant, typed.seed).state_dict()
    checked = 0
    for path, row in table.iterrows():
        if "." in path and path.rsplit(".", 1)[1].isdigit():  # a tensor inside a list: no other kind holds it
            assert {row[c] for c in KIND_SPECS} == {""}
            continue
        owner_path, _, attr = path.rpartition(".")
        built = build_module(typed.variant, typed.seed).get_submodule(owner_path)
        own = ("strict_false_as_parameter" if attr in built._parameters else
               "strict_false_as_nonpersistent" if attr in built._non_persistent_buffers_set else
               "strict_false_as_buffer" if attr in built._buffers else "strict_false_as_tensor")
        assert row[own] == ""
        for column in KIND_SPECS:
            if column == own:
                continue
            loading = build_module(typed.variant, typed.seed + 1)
            owner = loading.get_submodule(owner_path)
            reference = _get(build_module(typed.variant, typed.seed), path).detach()
            _hold_as(owner, attr, reference.clone() + (1 if reference.dtype != torch.bool else 0), column)
            result = loading.load_state_dict(saved, strict=False)
            expected = ("unexpected" if path in result.unexpected_keys else "missing" if path in result.missing_keys
                        else "loaded" if torch.equal(getattr(owner, attr), reference) else "ignored")
            assert row[column] == expected, (path, column)
            checked += 1
    assert checked >= 3


def test_default_jobs_keep_their_key_and_hash_and_leave_the_columns_empty(run):
    from runner.job.identity import identify, resolved_config
    cfg, choices, lines = task_config([])
    assert "lifecycle" not in resolved_config(cfg)
    plain = identify(cfg, choices, lines)
    assert "lifecycle" not in plain.key
    cfg_on, choices_on, lines_on = task_config(["lifecycle.meta_init=true"])
    on = identify(cfg_on, choices_on, lines_on)
    assert "lifecycle.meta_init=true" in on.key.split(",") and on.config_hash != plain.config_hash
    cfg_off, choices_off, lines_off = task_config(["lifecycle.meta_init=false"])  # the default typed out
    assert identify(cfg_off, choices_off, lines_off).config_hash == plain.config_hash
    table = run()
    assert all(set(table[c]) == {""} for c in LIFECYCLE_COLUMNS)


@pytest.mark.parametrize("override, expected", [
    ("lifecycle.meta_init=maybe", "lifecycle.meta_init"),
    ("lifecycle.bogus=true", "bogus"),
    ("lifecycle.compile_backend=tvm", "compile_backend"),
])
def test_bad_lifecycle_values_are_one_line_errors(override, expected):
    line = error_line([override])
    assert expected in line and "\n" not in line


def test_inductor_without_a_cpp_compiler_is_refused_before_any_job(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    line = error_line(["lifecycle.compile=true", "lifecycle.compile_backend=inductor"])
    assert line.startswith("lifecycle.compile_backend: inductor needs a C++ compiler") and "eager" in line
    assert error_line(["lifecycle.compile=true", "lifecycle.compile_backend=eager"]) == ""


def test_uninitialized_is_decided_by_cause_not_by_value():
    """A non-persistent buffer that happens to equal its trained value is still not restored."""
    class Zeros(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))
            self.register_buffer("z", torch.full((2,), math.nan), persistent=False)

        def forward(self, x):
            return x * self.w
    trained = Zeros()
    out = meta_init_outcomes(trained, discover(trained), Zeros, torch.device("cpu"), (torch.randn(2),), {})
    # z is NaN in the trained module, and torch's fill of uninitialised memory is NaN too: equal values, but
    # the changed state_dict cannot move it (it is not in the state_dict), so it is not `restored`
    assert out["z"]["meta_init"] != "restored"
    assert out["w"]["meta_init"] == "restored"


def _flat(out):
    return [t for o in out for t in _flat(o)] if isinstance(out, (tuple, list)) else \
        [out] if isinstance(out, torch.Tensor) else []


def _close(a, b):
    return all(torch.allclose(x, y, equal_nan=True) for x, y in zip(_flat(a), _flat(b)))


def _plain_compile(module_builder, path, change, args, kwargs=None):
    """Plain torch, apart from the probe: (compiled output follows the change, or None when the eager
    output does not move; graphs dynamo compiled on the second call, from torch._dynamo.utils.counters)."""
    import torch._dynamo
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    eager, inner = module_builder(), module_builder()
    compiled = torch.compile(inner, backend="eager")
    kwargs = kwargs or {}
    with torch.no_grad():
        first = eager(*args, **kwargs)
        compiled(*args, **kwargs)
        graphs = counters["stats"]["unique_graphs"]
        for m in (eager, inner):
            owner_path, _, attr = path.rpartition(".")
            index = None
            if attr.isdigit():  # an item of a list attribute (RNN's _flat_weights)
                index, (owner_path, _, attr) = int(attr), owner_path.rpartition(".")
            owner = m.get_submodule(owner_path)
            old = getattr(owner, attr) if index is None else getattr(owner, attr)[index]
            new = ~old.detach() if old.dtype == torch.bool else old.detach() + 1
            if change == "inplace":
                old.data.copy_(new)
                continue
            if isinstance(old, nn.Parameter):
                new = nn.Parameter(new.clone(), requires_grad=old.requires_grad)
            else:
                new = new.clone().requires_grad_(old.requires_grad and old.is_leaf)
            if index is None:
                setattr(owner, attr, new)
            else:
                getattr(owner, attr)[index] = new
        second_eager, second = eager(*args, **kwargs), compiled(*args, **kwargs)
    recompiled = counters["stats"]["unique_graphs"] - graphs
    torch._dynamo.reset()
    if _close(first, second_eager):
        return None, recompiled
    return _close(second, second_eager), recompiled


@pytest.mark.parametrize("variant", ["seed_notebook", "seed_notebook2", "tensor_requires_grad", "batchnorm",
                                     "custom_linear", "int_buffer", "tied_parameters", "multihead_attention",
                                     "counting", pytest.param("recurrent", marks=pytest.mark.slow)])
def test_compile_cells_agree_with_plain_torch(run, variant):
    from runner.job.build import make_inputs
    from runner.job.validate import typed_config
    table = run(f"variant={variant}", "steps=0", "lifecycle.compile=true")  # steps=0: trained = built
    cfg, _, _ = task_config([f"variant={variant}"])
    typed = typed_config(cfg, f"variant/{variant}.yaml")
    inputs = make_inputs(typed.variant, typed.seed, torch.device("cpu"))
    build = lambda: build_module(typed.variant, typed.seed)  # noqa: E731
    built = build()
    keys = torch.compile(built).state_dict()
    for path, row in table.iterrows():
        for change in ("inplace", "rebind"):
            sees, recompiled = _plain_compile(build, path, change, inputs.args, inputs.kwargs)
            assert row[f"compile_sees_{change}"] == ("" if sees is None else str(sees).lower()), (path, change)
            assert int(row[f"compile_recompiles_{change}"]) == recompiled, (path, change)
        here = _get(built, path)  # the key holding the same memory (RNN _flat_weights: their Parameter's)
        sharing = [k for k, v in keys.items() if v.data_ptr() == here.data_ptr() and v.shape == here.shape]
        assert row.compiled_state_dict_key == (f"_orig_mod.{path}" if f"_orig_mod.{path}" in sharing
                                               else sharing[0] if sharing else "")
    assert set(table.compile_error) == {""}


class Branchy(nn.Module):
    """forward branches on a tensor's value: dynamo cannot trace that, so a change reaches a new frame."""

    def __init__(self):
        super().__init__()
        self.register_buffer("flag", torch.tensor(0))

    def forward(self, x):
        if self.flag.item() > 0:
            return x * 2
        return x * 3


def test_a_change_that_takes_another_branch_is_counted_as_a_recompilation():
    from runner.probes.compiling import compile_outcomes
    module = Branchy()
    out = compile_outcomes(module, discover(module), "eager", (torch.randn(3),), {})["flag"]
    sees, recompiled = _plain_compile(Branchy, "flag", "inplace", (torch.randn(3),))
    assert recompiled >= 1  # the fact the column must be able to show
    assert (out["compile_sees_inplace"], out["compile_recompiles_inplace"]) == (sees, recompiled)
    assert torch.equal(module.flag, torch.tensor(0))  # the probed module itself is left as it was


def test_the_preset_turns_the_stages_on_and_judges_its_own_claims():
    from runner.analysis.claims import load_claims
    from .conftest import ROOT, compose_config
    claims = load_claims([ROOT / "conf" / "claims" / "lifecycle.yaml"])  # validated against the columns' vocabulary
    assert {c.id for c in claims} >= {"nonpersistent-buffer-survives-meta-loading", "compiled-module-sees-rebinds"}
    cfg = compose_config(["+experiment=lifecycle"])
    assert (cfg.lifecycle.meta_init, cfg.lifecycle.strict_false, cfg.lifecycle.compile) == (True, True, True)
    assert list(cfg.hydra.callbacks.sweep_table.claims) == ["lifecycle"]
    assert list(compose_config(["+experiment=seeds"]).hydra.callbacks.sweep_table.claims) == ["seeds"]
    assert compose_config([]).hydra.callbacks.sweep_table.claims is None  # no preset: every claim file


@pytest.mark.slow
def test_the_lifecycle_experiment_writes_a_report_whose_verdicts_follow_its_table(tmp_path):
    from .conftest import read_csv, run_cli
    r = run_cli("runner", "-m", "+experiment=lifecycle", "variant=buffer_nonpersistent,seed_notebook,tied_parameters",
                f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    table, claims = read_csv(tmp_path / "results.csv"), read_csv(tmp_path / "claims.csv")
    verdict = dict(zip(claims.id, claims.verdict))
    from runner.analysis.claims import load_claims
    from .conftest import ROOT
    assert set(verdict) == {c.id for c in load_claims([ROOT / "conf" / "claims" / "lifecycle.yaml"])}
    nonpersistent = table[(table.declared_as == "buffer") & (table.persistent == "false")]
    survives = nonpersistent.meta_init.isin(["restored", "recomputed"]).all()
    assert verdict["nonpersistent-buffer-survives-meta-loading"] == ("holds" if survives else "refuted")
    plain = table[table.declared_as == "tensor"]
    assert verdict["to-empty-moves-every-tensor"] == ("refuted" if (plain.meta_init == "on_meta").any() else "holds")
    assert "report.md" in r.stdout


def test_the_audit_reports_what_the_lifecycle_cells_show(run):
    import pandas as pd
    from runner.analysis.audit import audit
    table = pd.concat([run("variant=seed_notebook", "lifecycle.meta_init=true", "lifecycle.compile=true"),
                       run("variant=tied_parameters", "lifecycle.compile=true")], ignore_index=True)
    found = {(f.tensor, f.finding.split(":")[0].split(" after")[0]) for f in audit(table)}
    for _, row in table.iterrows():
        if row.meta_init == "uninitialized":
            assert (row.tensor, "non-persistent buffer is uninitialised memory") in found
        if row.declared_as == "tensor" and row.meta_init == "on_meta":
            assert (row.tensor, "plain tensor attribute stays on meta") in found
        rebind = row.compile_recompiles_rebind
        assert any(t == row.tensor and w.startswith("rebinding this tensor") for t, w in found) == (rebind not in ("", "0"))
    assert ("my_state", "non-persistent buffer is uninitialised memory") in found  # the seed notebook's int state
    # the same modules without the stages: nothing measured, so no lifecycle finding
    plain = pd.concat([run("variant=seed_notebook"), run("variant=tied_parameters")], ignore_index=True)
    assert not [f for f in audit(plain) if "meta" in f.finding or "compile" in f.finding]


def test_cuda_jobs_with_the_stages_skip_cleanly_or_run_on_the_gpu(run):
    table = run("device=cuda", "lifecycle.meta_init=true", "lifecycle.strict_false=true", "lifecycle.compile=true")
    if not torch.cuda.is_available():
        assert list(table.status) == ["skipped"] and set(table.meta_init) == {""}
        return
    assert set(table.status) == {"ok"} and set(table.resolved_device) == {"cuda"}
    assert table.loc["my_param", "meta_init"] == "restored" and table.loc["my_tensor", "meta_init"] == "on_meta"


class BrokenStateDict(Rotary):
    """A module whose state_dict() raises: every lifecycle stage records it, none raises."""

    def state_dict(self, *args, **kwargs):
        raise RuntimeError("no state for you")


def test_a_module_whose_state_dict_raises_is_recorded_not_raised():
    module = BrokenStateDict()
    refs = discover(module)
    meta = meta_init_outcomes(module, refs, BrokenStateDict, torch.device("cpu"), (torch.randn(4),), {})
    assert {r["meta_init"] for r in meta.values()} == {"error"}
    assert {r["assign_error"] for r in meta.values()} == {"RuntimeError: no state for you"}
    strict = strict_false_outcomes(module, refs, BrokenStateDict)
    assert strict["p"]["strict_false_as_buffer"] == "error" and strict["p"]["strict_false_as_parameter"] is None
    assert strict["p"]["strict_false_error"] == "state_dict: RuntimeError: no state for you"
