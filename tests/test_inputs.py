"""Real torch.nn modules from config files alone: typed, several and keyword inputs, module dtypes."""
import pytest
import torch

from runner.job.build import build_module, make_inputs
from runner.job.validate import typed_config

from .conftest import task_config

REAL = ["embedding", "bilinear", "multihead_attention", "linear_float64"]
STYLES = ["optimizer", "data", "no_grad", "inplace", "rebind"]


def _built(*overrides):
    cfg, choices, _ = task_config(overrides)
    typed = typed_config(cfg, f"variant/{choices['variant']}.yaml")
    return build_module(typed.variant, typed.seed), make_inputs(typed.variant, typed.seed, torch.device("cpu"))


def test_inputs_are_typed_seeded_and_in_order():
    module, inputs = _built("variant=multihead_attention")
    assert [tuple(a.shape) for a in inputs.args] == [(3, 2, 4), (5, 2, 4), (5, 2, 4)]
    assert inputs.kwargs == {"need_weights": False}
    g = torch.Generator().manual_seed(0)  # one generator, drawn in order
    assert all(torch.equal(a, torch.randn(list(a.shape), generator=g)) for a in inputs.args)
    _, emb = _built("variant=embedding")
    (idx,) = emb.args
    assert idx.dtype == torch.int64 and 0 <= int(idx.min()) and int(idx.max()) < 10
    _, again = _built("variant=embedding")
    assert torch.equal(idx, again.args[0])
    _, other_seed = _built("variant=embedding", "seed=1")
    assert not torch.equal(idx, other_seed.args[0])
    _, short = _built("variant=parameter")  # input_shape: the short form of one float32 input
    assert torch.equal(short.args[0], torch.randn(3, generator=torch.Generator().manual_seed(0)))
    _, masked = _built("variant=parameter", "+variant.kwargs.mask={shape: [3], dtype: bool}")
    assert masked.kwargs["mask"].dtype == torch.bool


def test_module_dtype_casts_module_and_float_inputs(run):
    module, inputs = _built("variant=bilinear", "variant.dtype=float64")
    assert {p.dtype for p in module.parameters()} == {torch.float64}
    assert {a.dtype for a in inputs.args} == {torch.float64}
    table = run("variant=bilinear", "variant.dtype=bfloat16")
    assert set(table.dtype) == {"bfloat16"} and set(table.status) == {"ok"}
    emb_module, emb = _built("variant=embedding", "variant.dtype=float16")
    assert emb.args[0].dtype == torch.int64 and emb_module.weight.dtype == torch.float16  # indices stay integers


@pytest.mark.parametrize("variant", REAL)
def test_real_modules_train_with_every_update_style(run, variant):
    module, inputs = _built(f"variant={variant}")
    # hand-checked with plain torch: every parameter gets a nonzero gradient from mean(out**2)
    out = module(*inputs.args, **inputs.kwargs)
    out = out[0] if isinstance(out, tuple) else out
    (out.float() ** 2).mean().backward()
    names = [n for n, _ in module.named_parameters()]
    assert all(p.grad is not None and bool(torch.any(p.grad != 0)) for p in module.parameters())
    for style in STYLES:
        table = run(f"variant={variant}", f"update={style}")
        assert set(table.status) == {"ok"} and list(table.tensor) == names, (style, table.reason.tolist())
        assert set(table.grad) == {"nonzero"}, style
        if style in ("optimizer", "data", "no_grad"):
            assert set(table.updated) == {"true"} and set(table.update_error) == {""}, style
        elif style == "inplace":  # p -= lr * p.grad on a leaf that requires grad: torch refuses
            assert set(table.updated) == {"false"} and table.update_error.iloc[0].startswith(
                "RuntimeError: a leaf Variable that requires grad is being used in an in-place operation"), style
        else:  # setattr(module, name, tensor): nn.Module refuses a plain tensor where a Parameter is
            assert table.update_error.iloc[0].startswith("TypeError: cannot assign"), style
    if variant == "linear_float64":
        assert set(run(f"variant={variant}").dtype) == {"float64"}


def _plain_export_error(variant, exporter):
    """What plain torch says when exporting this module with these inputs (None: it exports)."""
    module, inputs = _built(f"variant={variant}")
    module.eval()
    try:
        if exporter == "torch_export":
            torch.export.export(module, inputs.args, kwargs=inputs.kwargs or None)
        else:
            torch.onnx.export(module, inputs.args, "/tmp/tensorprobe-plain.onnx", kwargs=inputs.kwargs or None,
                              dynamo=exporter == "onnx_dynamo")
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__
    return None


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["torch_export", "onnx_dynamo", "onnx_legacy"])
@pytest.mark.parametrize("variant", REAL)
def test_real_modules_export_where_pytorch_can(run, variant, exporter):
    table = run(f"variant={variant}", f"export={exporter}")
    expected_error = _plain_export_error(variant, exporter)
    if expected_error is None:
        assert "error" not in set(table.export_role), table.export_error.tolist()
        if exporter != "torch_export":  # onnxruntime was fed every input and agrees with PyTorch
            assert float(table.ort_max_abs_diff.iloc[0]) < 1e-4
    else:
        assert set(table.export_role) == {"error"}
        assert table.export_error.iloc[0].startswith(expected_error)
