"""The fast composition gives exactly Hydra's config for every job of a sweep."""
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from runner.app import CONFIG_DIR
from runner.configstore import register_configs
from runner.sweep.fastcompose import FastSweepConfigLoader
from runner.sweep.groupfold import same_node

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
        for overrides in jobs * 3:  # later passes use the caches (node cache, then kept templates)
            expected = loader.load_sweep_config(master, list(overrides))
            got = fast.load_sweep_config(master, list(overrides))
            assert _comparable(got) == _comparable(expected), overrides
            assert _types(got) == _types(expected), overrides
            for key in expected:  # node classes and metadata (ref/object types, flags) too
                assert key == "hydra" or same_node(got._get_node(key), expected._get_node(key)), (overrides, key)
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


def _options(group):
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["variant", "optimizer", "update", "device", "export"])
def test_folded_group_node_is_hydras_node(group):
    """runner.groupfold's node for every option equals the node of Hydra's full composition."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
        fast = FastSweepConfigLoader(loader)
        for option in _options(group):
            fold = fast._fold(master, (), group)
            folded = fold.node(option)
            assert folded is not None, option
            assert fold.defaults_list_agrees(option), option  # the cheap check matches Hydra's defaults list
            expected = loader.load_sweep_config(master, [f"{group}={option}"])._get_node(group)
            assert same_node(folded, expected), option


def _same_as_hydra(conf_dir, group, options):
    """Every option composes exactly as Hydra composes it; returns how many were folded."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
        fast = FastSweepConfigLoader(loader)
        for option in options:
            expected = loader.load_sweep_config(master, [f"{group}={option}"])
            got = fast.load_sweep_config(master, [f"{group}={option}"])
            assert _comparable(got) == _comparable(expected), option
            assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected).replace(
                str(expected.hydra.runtime.cwd), str(got.hydra.runtime.cwd))
            fold = fast._fold(master, (), group)
            assert fold.option_entry(option) is None or fold.defaults_list_agrees(option), option
        return fast.folded


def _write(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_fold_follows_interpolated_defaults_through_hydra(tmp_path):
    """`- b: ${a}` makes the choice of a change b's entry: Hydra composes those jobs."""
    _write(tmp_path, {"config.yaml": "defaults:\n  - a: x\n  - b: ${a}\n  - _self_\n",
                      "a/x.yaml": "v: 1\n", "a/y.yaml": "v: 2\n", "b/x.yaml": "u: 1\n", "b/y.yaml": "u: 2\n"})
    assert _same_as_hydra(tmp_path, "a", ["y", "x"]) == 0


def test_fold_refuses_what_it_does_not_model(tmp_path):
    """Options that write outside their package or pull in other configs go through Hydra's composition."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "config.yaml").write_text("defaults:\n  - a: x\n  - _self_\nother: 0\na:\n  extra: 1\n")
    (tmp_path / "a" / "x.yaml").write_text("v: 1\n")
    (tmp_path / "a" / "y.yaml").write_text("v: 2\nw: [1, 2]\n")
    (tmp_path / "a" / "glob.yaml").write_text("# @package _global_\nother: 5\na:\n  v: 3\n")
    (tmp_path / "a" / "pulls.yaml").write_text("defaults:\n  - /b: q\n  - _self_\nv: 4\n")
    (tmp_path / "b" / "q.yaml").write_text("u: 7\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
        fast = FastSweepConfigLoader(loader)
        for option in ["y", "glob", "pulls", "x"]:
            expected = loader.load_sweep_config(master, [f"a={option}"])
            got = fast.load_sweep_config(master, [f"a={option}"])
            assert _comparable(got) == _comparable(expected), option
            assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected).replace(
                str(expected.hydra.runtime.cwd), str(got.hydra.runtime.cwd))
        assert fast._fold(master, (), "a").node("glob") is None
        assert fast._fold(master, (), "a").node("pulls") is None
        assert fast.folded == 2  # y and x; the config's own `a.extra` (in _self_) is merged into both
        assert fast.load_sweep_config(master, ["a=y"]).a.extra == 1


def test_a_fold_that_cannot_be_built_leaves_the_job_to_hydra(monkeypatch):
    import runner.sweep.fastcompose as fastcompose

    def unreadable(*args, **kwargs):
        raise RuntimeError("a config tree the shortcut cannot read")
    monkeypatch.setattr(fastcompose, "BaseTree", unreadable)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
        fast = FastSweepConfigLoader(loader)
        for overrides in (["variant=buffer"], ["variant=buffer", "export=onnx_legacy", "seed=2"]):
            expected = loader.load_sweep_config(master, overrides)
            got = fast.load_sweep_config(master, overrides)
            assert _comparable(got) == _comparable(expected)
        assert fast.folded == 0 and fast.composed_by_hydra >= 3  # base + one composition per option
