"""Probe outcomes against facts checked by hand on torch, including cases the probes were not designed around."""
import pytest
import torch
from torch import nn

from runner.probes.discover import discover, resolve
from runner.probes.registration import registration
from runner.probes.restore import round_trip
from runner.probes.moving import follows
from runner.probes.training import train


def test_plain_tensor_with_requires_grad_gets_grad_but_is_not_trained_or_saved(run):
    t = run("variant=tensor_requires_grad").loc["t"]
    assert (t.grad, t.in_state_dict, t.in_parameters) == ("nonzero", "false", "false")
    # SGD sees no parameters at all: the optimizer refuses, training stops at its setup, and what the
    # update would have done is not measured (empty), so the job is partial.
    assert t.update_error == "ValueError: optimizer got an empty parameter list"
    assert (t.train_error_at, t.status, t.updated, t.grad_after_zero_grad) == ("setup", "partial", "", "")
    assert t.reason == "training (setup): ValueError: optimizer got an empty parameter list"
    manual = run("variant=tensor_requires_grad", "update=data").loc["t"]
    # a hand-written loop over model.parameters() never sees it either, but it did run: measured
    assert (manual.status, manual.updated, manual.update_error) == ("ok", "false", "")


def test_nonpersistent_buffer_moves_but_is_not_restored(run):
    b = run("variant=buffer_nonpersistent").loc["b"]
    assert (b.persistent, b.in_buffers, b.in_state_dict) == ("false", "true", "false")
    assert (b.follows_device, b.follows_dtype, b.restored) == ("true", "true", "false")


def test_int64_buffer_does_not_follow_float64(run):
    c = run("variant=int_buffer").loc["count"]
    assert (c["dtype"], c.follows_dtype, c.follows_device, c.restored) == ("int64", "false", "true", "true")


def test_frozen_parameter_is_listed_but_not_updated_by_adamw_with_weight_decay(run):
    table = run("variant=parameter_frozen", "optimizer=adamw")
    frozen, w = table.loc["frozen"], table.loc["w"]
    assert (frozen.in_parameters, frozen.requires_grad, frozen.grad, frozen.updated) == ("true", "false", "none", "false")
    assert (w.grad, w.updated) == ("nonzero", "true")


def test_inplace_update_on_leaf_records_runtime_error_and_later_stages_run(run):
    w = run("variant=parameter", "update=inplace").loc["w"]
    assert w.update_error.startswith("RuntimeError: a leaf Variable that requires grad")
    assert (w.train_error_at, w.updated, w.grad) == ("update", "false", "nonzero")
    assert (w.restored, w.follows_dtype) == ("true", "true")


def test_manual_update_styles_change_parameters(run):
    for style in ("data", "no_grad"):
        assert run("variant=parameter", f"update={style}").loc["w"].updated == "true"
    rebind = run("variant=parameter", "update=rebind").loc["w"]
    assert rebind.update_error.startswith("TypeError: cannot assign")


def test_rebind_replaces_plain_tensor_attribute_of_a_parameterless_module(run):
    # manual styles loop over model.parameters(): a plain tensor is never touched
    t = run("variant=tensor_requires_grad", "update=rebind").loc["t"]
    assert (t.updated, t.update_error) == ("false", "")


def test_unused_parameter_gets_no_grad(run):
    table = run("variant=unused_parameter", "optimizer=adam")
    assert table.loc["unused", "grad"] == "none" and table.loc["unused", "updated"] == "false"
    assert table.loc["w", "updated"] == "true"


def test_seed_notebook_matches_torch_listings(run):
    from experiments.seed_notebook import ExperimentModel
    torch.manual_seed(0)
    m = ExperimentModel()
    table = run("variant=seed_notebook")
    assert set(table.index[table.in_parameters == "true"]) == {n for n, _ in m.named_parameters()}
    assert set(table.index[table.in_buffers == "true"]) == {n for n, _ in m.named_buffers()}
    assert set(table.index[table.in_state_dict == "true"]) == set(m.state_dict())
    assert table.loc["my_state", "dtype"] == "int64" and table.loc["my_state", "shape"] == "[]"


def test_batchnorm_is_probed_like_any_module(run):
    table = run("variant=batchnorm")
    bn = nn.BatchNorm1d(3)
    assert set(table.index) == set(bn.state_dict())  # every tensor is a parameter or persistent buffer
    # train-mode forward updates running stats without any optimizer; num_batches_tracked is int64
    assert table.loc["running_mean", "updated"] == "true"
    assert table.loc["num_batches_tracked", "follows_dtype"] == "false"
    assert table.loc["num_batches_tracked", "grad"] == "none"


def test_tied_weight_is_one_tensor_under_two_names(run):
    from experiments.structures import TiedLinear
    m = TiedLinear(4)
    table = run("variant=tied_parameters")
    second = table.loc["second.weight"]
    # parameters() yields the object itself (in_parameters by identity); named_parameters() lists it once,
    # under its first name (listed_as); state_dict keeps both names
    assert any(p is m.second.weight for p in m.parameters())
    first_name = next(n for n, p in m.named_parameters() if p is m.second.weight)
    assert (second.in_parameters, second.listed_as, second.in_state_dict) == ("true", first_name, "true")
    assert second.alias_of == "first.weight" and table.loc["first.weight", "listed_as"] == ""
    assert second.updated == "true" and second.restored == "true"


def test_nested_and_container_paths(run):
    assert {"body.0.weight", "body.0.offset", "body.0.scale", "head.weight"} <= set(run("variant=nested").index)
    assert set(run("variant=parameter_list").index) == {"plist.0", "plist.1", "plist.2"}
    assert set(run("variant=parameter_dict").index) == {"pdict.scale", "pdict.shift"}


def test_cuda_without_gpu_is_skipped_not_crashed(run):
    table = run("variant=parameter", "device=cuda")
    if torch.cuda.is_available():
        assert set(table.status) == {"ok"} and table.loc["w", "resolved_device"].startswith("cuda")
    else:
        assert list(table.status) == ["skipped"] and "cuda" in table.reason.iloc[0]


def test_plain_tensor_does_not_follow_to_device_on_a_stock_module():
    # A case the probes were not written for: a tensor stashed on a torch.nn.Linear, inside a list.
    lin = nn.Linear(2, 2)
    lin.extra = [torch.ones(2), {"k": torch.zeros(1, dtype=torch.int32)}]
    refs = discover(lin)
    assert [r.path for r in refs] == ["weight", "bias", "extra.0", "extra.1.k"]
    moved = follows(lin, refs, "meta")
    assert moved["weight"]["follows_device"] is True and moved["extra.0"]["follows_device"] is False
    assert moved["extra.1.k"]["follows_dtype"] is False
    reg = registration(lin, refs)
    assert reg["extra.0"]["declared_as"] == "tensor" and reg["extra.1.k"]["dtype"] == "int32"


def test_restore_is_false_for_a_constant_not_in_state_dict():
    # torch.tensor(42) is the same in every instance: a value check alone would call it restored.
    class Const(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("c", torch.tensor(42), persistent=False)
            self.register_buffer("p", torch.tensor(7))
    m = Const()
    out = round_trip(m, discover(m), Const)
    assert out["c"]["restored"] is False and out["p"]["restored"] is True


def test_training_records_forward_failure_and_keeps_values():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))

        def forward(self, x):
            raise RuntimeError("boom")
    m = Broken()
    refs = discover(m)
    out = train(m, refs, (torch.ones(2),), {}, "optimizer", 1, 0.1, lambda p: torch.optim.SGD(p, lr=0.1))
    assert (out.error, out.error_at, out.unmeasured) == ("RuntimeError: boom", "forward", True)
    assert out.updated == {} and out.grad == {} and out.after_zero_grad == {}  # nothing measured
    assert resolve(m, refs[0]) is m.w


def test_a_training_failure_makes_the_job_partial_with_empty_cells(run):
    t = run("variant=seed_notebook", "variant.model._target_=experiments.faulty.NoTensorOutput")
    w = t.loc["w"]
    # forward ran and returned {"sum": float}: no tensor to build the loss from
    assert (w.status, w.train_error_at) == ("partial", "loss")
    assert w.reason == "training (loss): TypeError: forward returned dict holding no tensor"
    assert (w.grad, w.updated, w.grad_after_zero_grad, w.loss) == ("", "", "", "")
    assert (w.in_parameters, w.restored) == ("true", "true")  # the stages that do not need forward ran
    nothing_to_differentiate = run("variant=tensor", "update=data").loc["t"]
    with pytest.raises(RuntimeError) as plain:  # what a plain loop's backward says
        (torch.randn(3) ** 2).mean().backward()
    assert nothing_to_differentiate.reason == f"training (backward): RuntimeError: {plain.value}"
    assert (nothing_to_differentiate.status, nothing_to_differentiate.grad) == ("partial", "")


def test_the_loss_takes_the_first_tensor_of_a_nested_output_in_its_dtype():
    from runner.probes.training import loss_of
    a, b = torch.tensor([2.0]), torch.tensor([5.0])
    assert float(loss_of(((a, b), b))) == 4.0 and float(loss_of({"x": b, "y": a})) == 25.0
    assert loss_of(torch.ones(2, dtype=torch.float64)).dtype == torch.float64
    assert loss_of(torch.ones(2, dtype=torch.int64)).dtype == torch.float32


def test_grad_does_not_itself_require_grad(run):
    w = run("variant=parameter").loc["w"]
    p = nn.Parameter(torch.randn(3))
    (p * 2).pow(2).mean().backward()
    assert w.grad_requires_grad == str(p.grad.requires_grad).lower() == "false"


def test_leaf_after_update_follows_the_update_style(run):
    for style in ("optimizer", "data", "no_grad"):
        assert run("variant=parameter", f"update={style}").loc["w", "leaf_after_update"] == "true", style
    # rebinding a plain tensor replaces it with the result of an operation: not a leaf any more
    t = run("variant=tensor_requires_grad", "update=rebind", "update.include_tensors=true").loc["t"]
    rebound = torch.randn(3, requires_grad=True)
    rebound.grad = torch.ones(3)
    after = rebound - 0.1 * rebound.grad
    assert (t.updated, t.leaf_after_update) == ("true", str(after.is_leaf and after.grad_fn is None).lower())


def test_gradient_of_a_plain_tensor_accumulates_unless_the_loop_clears_it(run):
    kept = run("variant=tensor_requires_grad", "update=data", "steps=2").loc["t"]
    cleared = run("variant=tensor_requires_grad", "update=data", "steps=2", "update.include_tensors=true").loc["t"]
    param = run("variant=parameter", "steps=2").loc["w"]
    # model.zero_grad() clears what parameters() yields, never a plain tensor (checked with torch here)
    m = nn.Module()
    m.t = torch.randn(3, requires_grad=True)
    (m.t * 2).sum().backward()
    m.zero_grad()
    assert m.t.grad is not None
    assert (kept.grad_accumulates, kept.updated) == ("true", "false")
    assert (cleared.grad_accumulates, cleared.updated) == ("false", "true")
    assert param.grad_accumulates == "false"
    assert run("variant=parameter").loc["w", "grad_accumulates"] == ""  # one step: nothing to accumulate


def test_checkpoint_formats(run):
    table = run("variant=tied_parameters", "checkpoint=true")
    from safetensors.torch import save_file
    from experiments.structures import TiedLinear
    with pytest.raises(RuntimeError) as refused:  # save_file refuses shared memory, with this message
        save_file(TiedLinear(4).state_dict(), "/tmp/tensorprobe-test-tied.safetensors")
    assert set(table.safetensors_error) == {f"RuntimeError: {' '.join(str(refused.value).split())}"}
    assert set(table.restored_safetensors) == {""}  # not measured: the save failed
    assert set(table.restored_save_model) == {"true"} and set(table.save_model_error) == {""}
    notebook = run("variant=seed_notebook", "checkpoint=true")
    # what state_dict holds survives every format; a non-persistent buffer and a plain tensor none
    for tensor in ("my_param", "my_buffer", "my_registered_param"):
        assert tuple(notebook.loc[tensor, ["restored", "restored_safetensors", "restored_save_model"]]) == (
            "true", "true", "true"), tensor
    for tensor in ("my_state", "my_tensor"):
        assert tuple(notebook.loc[tensor, ["restored", "restored_safetensors", "restored_save_model"]]) == (
            "false", "false", "false"), tensor
    assert run("variant=parameter").loc["w", "restored_safetensors"] == ""  # off unless checkpoint=true


def test_plain_tensors_in_containers_under_torch_export_and_rebind(run):
    from experiments.structures import ListOfTensors
    target = ["variant=seed_notebook", "variant.model._target_=experiments.structures.ListOfTensors",
              "variant.input_shape=[3]"]
    table = run(*target, "export=torch_export")
    m = ListOfTensors().eval()
    program = torch.export.export(m, (torch.randn(3),))
    held = {id(m.scales[0]): "scales.0", id(m.scales[1]): "scales.1", id(m.shift["k"]): "shift.k"}
    lifted = {held[id(program.constants[s.target])]: s.arg.name for s in program.graph_signature.input_specs
              if s.kind.name == "CONSTANT_TENSOR"}  # torch.export lifts them as lifted_tensor_N
    assert len(lifted) == 3
    for tensor, name in lifted.items():
        assert (table.loc[tensor, "export_role"], table.loc[tensor, "export_name"]) == ("constant_tensor", name)
    # rebinding a plain tensor inside a list replaces the list's item with the result of an operation
    rebound = run(*target, "+variant.model.requires_grad=true", "update=rebind", "update.include_tensors=true")
    row = rebound.loc["scales.0"]
    assert (row.updated, row.leaf_after_update, row.update_error) == ("true", "false", "")
