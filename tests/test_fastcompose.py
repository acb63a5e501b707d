"""The fast composition gives exactly Hydra's config for every job of a sweep."""
import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from runner.app import CONFIG_DIR
from runner.configstore import register_configs
from runner.fastcompose import FastSweepConfigLoader

register_configs()

SWEEPS = [
    [["variant=tensor"], ["variant=batchnorm", "export=onnx_dynamo"], ["variant=parameter", "optimizer=adamw"]],
    [["variant=seed_notebook", "update=rebind", "seed=3", "steps=2"],
     ["variant=custom_linear", "export=onnx_legacy", "export.do_constant_folding=false", "device=auto"]],
    [["+experiment=seeds", "variant=tied_parameters", "update=data", "export=onnx_legacy"],
     ["+experiment=seeds", "variant=seed_notebook", "update=inplace", "export=onnx_dynamo"]],
    [["variant=seed_notebook", "variant.model._target_=torch.nn.LayerNorm", "+variant.model.normalized_shape=[3]",
      "variant.input_shape=[2,3]"], ["hydra.job.name=other", "variant=nested", "export=torch_export", "export.strict=true"]],
]


def _comparable(cfg):
    data = OmegaConf.to_container(cfg, resolve=False)
    data["hydra"]["runtime"].pop("cwd", None)
    return data


def _types(cfg, prefix=""):
    """Node types and flags everywhere, so structured schemas survive the fast path."""
    out = {}
    for key in cfg:
        node = cfg._get_node(key)
        out[prefix + str(key)] = (type(node).__name__, OmegaConf.get_type(cfg, key), node._get_flag("struct"),
                                  node._get_flag("readonly"))
        if OmegaConf.is_dict(node) and not node._is_none() and not node._is_missing():
            out.update(_types(node, f"{prefix}{key}."))
    return out


@pytest.mark.parametrize("jobs", SWEEPS)
def test_every_job_config_equals_hydras(jobs):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
        fast = FastSweepConfigLoader(loader)
        for overrides in jobs * 2:  # second pass uses the caches
            expected = loader.load_sweep_config(master, list(overrides))
            got = fast.load_sweep_config(master, list(overrides))
            assert _comparable(got) == _comparable(expected), overrides
            assert _types(got) == _types(expected), overrides
            assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected).replace(
                str(expected.hydra.runtime.cwd), str(got.hydra.runtime.cwd))
        assert fast.composed_fast >= len(jobs)  # the fast path was really taken


def test_bad_override_raises_hydras_error():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
        fast = FastSweepConfigLoader(loader)
        with pytest.raises(Exception) as hydra_error:
            loader.load_sweep_config(master, ["steps=abc"])
        with pytest.raises(type(hydra_error.value)):
            fast.load_sweep_config(master, ["steps=abc"])
