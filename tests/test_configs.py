"""Configs: every option composes, every variant runs, keys and hashes name configs, errors are one line."""
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import yaml

from runner.app import CONFIG_DIR
from runner.errors import ConfigError
from runner.job.build import build_module
from runner.job.identity import identify
from runner.job.validate import typed_config
from runner.schema import GROUPS, PLAIN_KEYS, Config, ExportConfig

from .conftest import error_line, run_config, task_config

OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((Path(CONFIG_DIR) / g).glob("*.yaml"))]
VARIANTS = [o for g, o in OPTIONS if g == "variant"]
# `variant=model` is a template that needs the user's module: name a real torch.nn one
FILL = {"model": ["variant.model._target_=torch.nn.Linear", "+variant.model.in_features=3",
                  "+variant.model.out_features=2", "variant.input_shape=[4,3]"]}


def test_design_options_exist():
    have = {g: {o for gg, o in OPTIONS if gg == g} for g in GROUPS}
    assert {"tensor", "tensor_requires_grad", "parameter", "parameter_frozen", "register_parameter", "buffer",
            "buffer_nonpersistent", "int_buffer", "unused_parameter", "seed_notebook", "custom_linear",
            "tied_parameters", "nested", "parameter_list", "parameter_dict", "batchnorm"} <= have["variant"]
    assert have["optimizer"] >= {"sgd", "sgd_momentum", "adam", "adamw"}
    assert have["update"] == {"optimizer", "data", "no_grad", "inplace", "rebind"}
    assert have["device"] == {"cpu", "cuda", "mps", "auto"}
    assert have["export"] == {"none", "torch_export", "onnx_dynamo", "onnx_legacy"}


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_option_composes_and_validates(group, option):
    cfg, choices, _ = task_config([f"{group}={option}", *(FILL.get(option, []) if group == "variant" else [])])
    assert choices[group] == option
    assert isinstance(typed_config(cfg, f"variant/{choices['variant']}.yaml"), Config)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "generic"])
def test_every_variant_runs_one_job(variant, tmp_path):
    overrides = [f"variant={variant}", *FILL.get(variant, [])]
    cfg, choices, _ = task_config(overrides)
    module = build_module(typed_config(cfg, "v").variant, 0)
    table = run_config(overrides, tmp_path)
    # SGD refuses a module without parameters: training stops at its setup, the job is `partial`
    expected = "ok" if list(module.parameters()) else "partial"
    assert set(table.status) == {expected}, table.reason.tolist()
    # every name torch lists, tied and shared ones included, is a row of its kind
    assert set(table.tensor[table.declared_as == "parameter"]) == {
        n for n, _ in module.named_parameters(remove_duplicate=False)}
    assert set(table.tensor[table.declared_as == "buffer"]) == {n for n, _ in module.named_buffers(remove_duplicate=False)}
    if expected == "partial":
        assert table.reason.iloc[0] == "training (setup): ValueError: optimizer got an empty parameter list"
        assert (table.updated == "").all()  # updates not measured; gradients are, where backward can run:
        assert (table.grad != "").all() == (table.requires_grad == "true").any()  # something requires grad


def test_adamw_has_weight_decay():
    cfg, _, _ = task_config(["optimizer=adamw"])
    assert cfg.optimizer.weight_decay > 0


def test_every_default_lives_in_the_schema():
    """conf/config.yaml sets no top-level key: the schema's defaults are the only ones."""
    text = yaml.safe_load((Path(CONFIG_DIR) / "config.yaml").read_text())
    assert not set(text) & {f.name for f in fields(Config)} - set(GROUPS)
    cfg, _, _ = task_config()
    for f in fields(Config):
        if f.name in PLAIN_KEYS:
            assert cfg[f.name] == f.default, f.name
    onnx, _, _ = task_config(["export=onnx_dynamo"])
    assert onnx.export.verify is True and ExportConfig.verify is True  # the README says so


def _key(*overrides):
    cfg, choices, lines = task_config(overrides)
    return identify(cfg, choices, lines)


def test_job_key_names_what_differs_and_only_that():
    base = _key("variant=buffer")
    assert _key("variant=buffer", "steps=1").key == base.key  # an explicit default is not part of the key
    assert _key("variant=buffer", "steps=1").config_hash == base.config_hash
    assert "steps=2" in _key("variant=buffer", "steps=2").key.split(",")
    deleted = _key("variant=buffer", "~variant.attributes.b")
    assert deleted.config_hash != base.config_hash
    assert deleted.key != base.key and "~variant.attributes.b" in deleted.key.split(",")
    added = _key("variant=buffer", "+variant.attributes.c={kind: tensor}")
    assert "variant.attributes.c={\"kind\":\"tensor\"}" in added.key.split(",")
    assert _key("variant=buffer", "export=onnx_legacy", "export.opset_version=17").key.endswith(
        "export.opset_version=17,export=onnx_legacy,optimizer=sgd,update=optimizer,variant=buffer")
    assert "+experiment=seeds" in _key("+experiment=seeds").key.split(",")


def test_command_line_can_assemble_a_variant(tmp_path):
    table = run_config(["variant=generic", "+variant.attributes.w={kind: parameter}",
                        "+variant.attributes.b={kind: buffer, persistent: false}",
                        "variant.attributes.w.requires_grad=false"], tmp_path)
    assert list(table.tensor) == ["w", "b"]
    assert (table.loc["w", "requires_grad"], table.loc["w", "in_parameters"]) == ("false", "true")
    assert (table.loc["b", "in_buffers"], table.loc["b", "in_state_dict"]) == ("true", "false")
    dropped = run_config(["variant=buffer", "~variant.attributes.b"], tmp_path)
    assert list(dropped.tensor) == ["w"]


@pytest.mark.parametrize("overrides,fragments", [
    (["variant=nope"], [f"unknown option 'variant/nope'; allowed in group variant: {', '.join(sorted(VARIANTS))}"]),
    (["export=onnx"], ["unknown option 'export/onnx'; allowed in group export: none, onnx_dynamo, onnx_legacy, "
                       "torch_export"]),
    (["+typo=1"], ["unknown top-level key 'typo'; allowed: variant, optimizer"]),
    (["steps=abc"], ["steps: Value 'abc' of type 'str' could not be converted to Integer"]),
    (["steps=-1"], ["steps: -1 is negative; allowed: an int >= 0"]),
    (["lr=fast"], ["lr: Value 'fast' of type 'str' could not be converted to Float"]),
    (["lr=-0.1"], ["lr: -0.1 is negative; allowed: a float >= 0"]),
    (["move_to=foo"], ["move_to: 'foo' is not a device; allowed: auto (the accelerator here, else meta), cpu, cuda"]),
    (["move_to=cuda:x"], ["move_to: 'cuda:x' is not a device"]),
    (["variant.colour=red"], ["variant.colour: Key 'colour' not in 'VariantConfig'", "allowed: description, attributes"]),
    (["variant=parameter", "variant.attributes.w.colour=red"],
     ["variant/parameter.yaml: variant.attributes.w.colour: Key 'colour' not in 'AttributeConfig'; allowed: kind, shape"]),
    (["variant=parameter", "variant.attributes.w.kind=parmeter"],
     ["variant.attributes.w.kind: Invalid value 'parmeter', expected one of [parameter, buffer, tensor]"]),
    (["variant=parameter", "variant.attributes.w.shape=[100000,100000]"],
     ["variant.attributes.w.shape: [100000, 100000] has 10000000000 elements (37.3 GiB of float32), refused "
      "before allocating"]),
    (["variant=parameter", "variant.attributes.w.shape=[2,0]"], ["[2, 0] is not a list of positive ints"]),
    (["variant=parameter", "variant.attributes.w.dtype=float8"], ["Invalid value 'float8', expected one of"]),
    (["variant=parameter", "variant.attributes.w.persistent=false"], ["variant.attributes.w.persistent: only buffers"]),
    (["variant=parameter", "variant.input_shape=abc"], ["variant.input_shape"]),
    (["variant=parameter", "variant.input_shape=null"], ["variant.inputs: missing; allowed: input_shape"]),
    (["variant=parameter", "variant.inputs=[{shape: [3], dtype: int64}]"],
     ["variant: give one of 'input_shape' (one float32 input) or 'inputs' (a list), not both"]),
    (["variant=parameter", "variant.input_shape=null", "variant.inputs=[{shape: [3], dtype: int64}]"],
     ["variant/parameter.yaml: variant.inputs[0].high: required for an integer input"]),
    (["variant=parameter", "variant.input_shape=null", "variant.inputs=[{shape: [3], low: 1}]"],
     ["variant.inputs[0]: low/high apply to integer inputs"]),
    (["variant=parameter", "variant.dtype=int64"], ["variant.dtype: module.to() takes floating dtypes only"]),
    (["variant=seed_notebook", "variant.model._target_=torch.nn.Linear", "+variant.model.dtype=float65"],
     ["variant.model.dtype: 'float65' is not a torch dtype; allowed: float16"]),
    (["variant=seed_notebook", "+variant.model.device=gpu"], ["variant.model.device: 'gpu' is not a device"]),
    (["export=onnx_dynamo", "export.keep_initializers_as_inputs=true"],
     ["export.keep_initializers_as_inputs: does not apply to exporter onnx_dynamo"]),
])
def test_bad_config_is_one_line_naming_file_key_and_allowed(overrides, fragments):
    line = error_line(overrides)
    assert line and "\n" not in line, line
    for fragment in fragments:
        assert fragment in line, line


def test_valid_configs_give_no_error():
    assert error_line(["variant=parameter", "move_to=cuda:1", "update=data", "update.include_tensors=true"]) == ""
    assert error_line(["variant=seed_notebook", "variant.model._target_=torch.nn.Linear",
                       "+variant.model.in_features=3", "+variant.model.out_features=2",
                       "+variant.model.dtype=torch.float64"]) == ""


def test_config_error_is_raised_before_torch_is_needed():
    """Validation imports no torch: a bad command line fails in a fraction of a second."""
    import subprocess
    import sys
    code = ("import sys; from tests.conftest import task_config; from runner.job.validate import typed_config\n"
            "cfg, c, _ = task_config(['move_to=foo'])\n"
            "try:\n    typed_config(cfg, 'v')\nexcept Exception as e:\n    print(type(e).__name__)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(CONFIG_DIR).parent, capture_output=True, text=True)
    assert out.stdout.split() == ["ConfigError", "False"], out.stderr


def test_a_config_error_names_the_file():
    with pytest.raises(ConfigError) as err:
        cfg, choices, _ = task_config(["variant=parameter", "variant.attributes.w.persistent=false"])
        typed_config(cfg, f"variant/{choices['variant']}.yaml")
    assert err.value.where == "variant/parameter.yaml: variant.attributes.w.persistent"


def test_cuda_device_keyword_reaches_the_constructor_as_a_torch_device():
    cfg, _, _ = task_config(["variant=seed_notebook", "variant.model._target_=torch.nn.Linear",
                             "+variant.model.in_features=3", "+variant.model.out_features=2",
                             "+variant.model.dtype=bfloat16", "+variant.model.device=meta"])
    module = build_module(typed_config(cfg, "v").variant, 0)
    assert module.weight.dtype == torch.bfloat16 and module.weight.device.type == "meta"
