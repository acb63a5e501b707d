"""The fast composition gives exactly Hydra's config for every job of a sweep (runner.sweep.fastcompose).

These tests are also what fails if a Hydra release changes the private functions the fast path uses
(runner.sweep.hydra_private).
"""
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import Container, DictConfig, Node, OmegaConf

from runner.app import CONFIG_DIR
from runner.configstore import register_configs
from runner.sweep.fastcompose import FastSweepConfigLoader

register_configs()

SWEEPS = [
    [["variant=tensor"], ["variant=batchnorm", "export=onnx_dynamo"], ["variant=parameter", "optimizer=adamw"]],
    [["variant=seed_notebook", "update=rebind", "seed=3", "steps=2"],
     ["variant=custom_linear", "export=onnx_legacy", "export.do_constant_folding=false", "device=auto"]],
    [["+experiment=seeds", "variant=tied_parameters", "update=data", "export=onnx_legacy"],
     ["+experiment=seeds", "variant=seed_notebook", "update=inplace", "export=onnx_dynamo"]],
    [["variant=seed_notebook", "variant.model._target_=torch.nn.LayerNorm", "+variant.model.normalized_shape=[3]",
      "variant.input_shape=[2,3]"], ["hydra.job.name=other", "variant=nested", "export=torch_export", "export.strict=true"]],
    [["variant=buffer", "~variant.attributes.b"], ["variant=parameter", "+variant.attributes.extra={kind: buffer}",
                                                   "variant.attributes.w.requires_grad=false"],
     ["variant=generic", "+variant.attributes.a={kind: parameter, shape: [2]}", "variant.input_shape=[2]"]],
]


def same_node(a, b) -> bool:
    """Node classes, metadata (types, flags, keys) and values equal, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Node):
        ma, mb = a._metadata, b._metadata
        if (ma.ref_type, ma.object_type, ma.optional, ma.key, ma.flags) != (mb.ref_type, mb.object_type, mb.optional,
                                                                           mb.key, mb.flags):
            return False
    if not isinstance(a, Container) or a._is_none() or a._is_missing() or a._is_interpolation():
        return a._value() == b._value()
    ka = list(a.keys()) if isinstance(a, DictConfig) else list(range(len(a)))
    kb = list(b.keys()) if isinstance(b, DictConfig) else list(range(len(b)))
    return ka == kb and all(same_node(a._get_node(k), b._get_node(k)) for k in ka)


def _comparable(cfg):
    data = OmegaConf.to_container(cfg, resolve=False)
    data["hydra"]["runtime"].pop("cwd", None)
    return data


def _loaders(config_dir=CONFIG_DIR):
    loader = GlobalHydra.instance().config_loader()
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    return loader, master, FastSweepConfigLoader(loader)


def _assert_same(got, expected, overrides):
    assert _comparable(got) == _comparable(expected), overrides
    for key in expected:  # node classes and metadata (ref/object types, flags) too
        assert key == "hydra" or same_node(got._get_node(key), expected._get_node(key)), (overrides, key)
    assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected).replace(
        str(expected.hydra.runtime.cwd), str(got.hydra.runtime.cwd))


@pytest.mark.parametrize("jobs", SWEEPS)
def test_every_job_config_equals_hydras(jobs):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader, master, fast = _loaders()
        for overrides in jobs * 3:  # later passes use the caches (node cache, then kept templates)
            _assert_same(fast.load_sweep_config(master, list(overrides)),
                         loader.load_sweep_config(master, list(overrides)), overrides)
            task, choices, lines = fast.task_config(master, list(overrides))
            expected = loader.load_sweep_config(master, list(overrides))
            assert dict(choices) == dict(expected.hydra.runtime.choices)
            assert lines == list(expected.hydra.overrides.task)
            assert OmegaConf.to_container(task) == {k: v for k, v in OmegaConf.to_container(expected).items()
                                                    if k != "hydra"}
        assert fast.counts["fast"] >= 2 * len(jobs) * 3  # the fast path was really taken
        assert fast.counts["fallback"] == 0


def test_bad_override_raises_hydras_error():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader, master, fast = _loaders()
        for bad in (["steps=abc"], ["variant.colour=red"], ["variant=nope"]):
            with pytest.raises(Exception) as hydra_error:
                loader.load_sweep_config(master, bad)
            with pytest.raises(type(hydra_error.value)) as ours:
                fast.load_sweep_config(master, bad)
            assert str(ours.value) == str(hydra_error.value)


def _write(root: Path, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_interpolated_defaults_and_options_that_reach_outside_their_node(tmp_path):
    """`- b: ${a}`, options writing outside their package or pulling in other configs: those jobs are
    composed by Hydra, and every config still equals Hydra's."""
    _write(tmp_path, {
        "config.yaml": "defaults:\n  - a: x\n  - b: ${a}\n  - _self_\nother: 0\na:\n  extra: 1\n",
        "a/x.yaml": "v: 1\n", "a/y.yaml": "v: 2\nw: [1, 2]\n",
        "a/glob.yaml": "# @package _global_\nother: 5\na:\n  v: 3\n",
        "a/pulls.yaml": "defaults:\n  - /c: q\n  - _self_\nv: 4\n",
        "b/x.yaml": "u: 1\n", "b/y.yaml": "u: 2\n", "b/glob.yaml": "u: 3\n", "b/pulls.yaml": "u: 4\n",
        "c/q.yaml": "u: 7\n"})
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        loader, master, fast = _loaders()
        for option in ["y", "glob", "pulls", "x", "y"]:
            overrides = [f"a={option}", "other=9"]
            _assert_same(fast.load_sweep_config(master, overrides), loader.load_sweep_config(master, overrides),
                         overrides)
        assert fast.load_sweep_config(master, ["a=y"]).a.extra == 1
        assert fast.counts["hydra"] >= 4  # the options whose composition changes more than their node
