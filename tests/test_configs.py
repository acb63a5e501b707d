"""Every option of every group composes against the schema, and every variant runs one job."""
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from runner.app import CONFIG_DIR
from runner.errors import ConfigError
from runner.job.identity import job_key
from runner.schema import GROUPS, Config
from runner.job.validate import check_config

from tests.conftest import compose_config, run_config

OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((Path(CONFIG_DIR) / g).glob("*.yaml"))]
VARIANTS = [o for g, o in OPTIONS if g == "variant"]


def test_design_options_exist():
    have = {g: {o for gg, o in OPTIONS if gg == g} for g in GROUPS}
    assert {"tensor", "tensor_requires_grad", "parameter", "parameter_frozen", "register_parameter", "buffer",
            "buffer_nonpersistent", "int_buffer", "unused_parameter", "seed_notebook", "custom_linear",
            "tied_parameters", "nested", "parameter_list", "parameter_dict", "batchnorm"} <= have["variant"]
    assert have["optimizer"] >= {"sgd", "sgd_momentum", "adam", "adamw"}
    assert have["update"] == {"optimizer", "data", "no_grad", "inplace", "rebind"}
    assert have["device"] == {"cpu", "cuda", "mps", "auto"}
    assert "none" in have["export"]


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_option_composes_and_validates(group, option):
    cfg = compose_config([f"{group}={option}"])
    assert cfg.hydra.runtime.choices[group] == option
    typed = OmegaConf.to_object(_without_hydra(cfg))
    assert isinstance(typed, Config)
    check_config(typed)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_one_job(variant, tmp_path):
    table = run_config([f"variant={variant}"], tmp_path)
    assert set(table.status) == {"ok"}, table.reason.tolist()
    assert len(table) >= 1 and all(table.tensor != "")
    assert set(table.grad) <= {"none", "zero", "nonzero"}
    assert set(table.in_state_dict) <= {"true", "false"}


def test_adamw_has_weight_decay():
    assert compose_config(["optimizer=adamw"]).optimizer.weight_decay > 0


def test_cross_field_errors_name_the_key():
    cfg = OmegaConf.to_object(_without_hydra(compose_config(["variant=parameter"])))
    cfg.variant.attributes["w"].persistent = False
    with pytest.raises(ConfigError, match=r"variant.attributes.w.persistent: only buffers"):
        check_config(cfg)
    cfg.variant.attributes["w"].persistent = None
    cfg.variant.attributes["w"].shape = [3, 0]
    with pytest.raises(ConfigError, match=r"shape: \[3, 0\] is not a list of positive ints"):
        check_config(cfg)


def test_job_key_ignores_explicit_defaults():
    choices = {g: "x" for g in GROUPS}
    plain = {"seed": 0, "steps": 1, "lr": 0.1, "move_to": "meta"}
    assert job_key(choices, plain) == job_key(choices, dict(plain))
    assert "steps=2" in job_key(choices, {**plain, "steps": 2})
    assert job_key(choices, plain, [("export.opset_version", 17)]).endswith("export.opset_version=17,export=x,"
                                                                            "optimizer=x,update=x,variant=x")


def _without_hydra(cfg):
    from omegaconf import open_dict
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg
