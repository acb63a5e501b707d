"""Planning a sweep: each job's key and hash equal what its composed config gives at launch; no configs kept."""
import pickle

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode

from runner.app import CONFIG_DIR
from runner.errors import ConfigError
from runner.job.identity import identify
from runner.sweep.fastcompose import FastSweepConfigLoader, split_task_config
from runner.sweep.planning import PlannedJob, Planner
from runner.sweep.sweeper import drop_duplicates, expand

from .conftest import register_configs  # noqa: F401 - the schema is registered

JOBS = [
    ["variant=parameter", "seed=0"], ["variant=parameter", "seed=7"], ["variant=parameter", "lr=1"],
    ["variant=parameter", "steps=2", "seed=3"], ["variant=buffer", "~variant.attributes.b"],
    ["variant=buffer", "+variant.attributes.c={kind: tensor}", "seed=2"], ["+experiment=seeds", "variant=tied_parameters"],
    ["variant=seed_notebook", "variant.model._target_=torch.nn.Linear", "+variant.model.in_features=1",
     "+variant.model.out_features=1", "checkpoint=true"],
    ["variant=parameter", "move_to=cuda:1", "export=onnx_legacy", "export.opset_version=17"],
]


def _planner_and_hydra():
    loader = GlobalHydra.instance().config_loader()
    master = loader.load_configuration("config", overrides=[], run_mode=RunMode.MULTIRUN)
    return loader, master


@pytest.mark.parametrize("fast", [True, False])
def test_planned_key_and_hash_equal_the_launched_configs(fast):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader, master = _planner_and_hydra()
        planner = Planner(FastSweepConfigLoader(loader) if fast else loader, master)
        for overrides in JOBS * 2:  # the second pass plans from cached shapes
            planned = planner.job(0, overrides)
            expected = identify(*split_task_config(loader.load_sweep_config(master, list(overrides))))
            assert (planned.key, planned.config_hash) == (expected.key, expected.config_hash), overrides
            assert planned.error is None


def test_a_plan_holds_no_config():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader, master = _planner_and_hydra()
        plans = Planner(FastSweepConfigLoader(loader), master).plan([["variant=parameter", f"seed={i}"]
                                                                      for i in range(200)])
    sizes = {len(pickle.dumps(p)) for p in plans}
    assert max(sizes) < 1000  # a few short strings per job, however large the config is
    assert len({p.config_hash for p in plans}) == 200 and len({p.key for p in plans}) == 200


def test_errors_are_found_per_job_and_shared_per_shape():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader, master = _planner_and_hydra()
        planner = Planner(FastSweepConfigLoader(loader), master)
        ok, negative = planner.job(0, ["steps=1"]), planner.job(1, ["steps=-1"])
        bad_variant = planner.job(2, ["variant=parameter", "variant.attributes.w.persistent=false", "seed=1"])
        bad_again = planner.job(3, ["variant=parameter", "variant.attributes.w.persistent=false", "seed=2"])
    assert ok.error is None
    assert isinstance(negative.error, ConfigError) and negative.error.where == "steps"
    assert bad_variant.error.where == bad_again.error.where == "variant/parameter.yaml: variant.attributes.w.persistent"
    assert pickle.loads(pickle.dumps(negative.error)).message == negative.error.message  # crosses the plan-ahead pipe


def test_expand_is_hydras_cartesian_product():
    parsed = OverridesParser.create().parse_overrides(["a=1,2", "b=x", "c=range(0,2)"])
    assert expand(parsed) == [["a=1", "b=x", "c=0"], ["a=1", "b=x", "c=1"], ["a=2", "b=x", "c=0"],
                              ["a=2", "b=x", "c=1"]]


def test_duplicates_are_dropped_by_key(capsys):
    plans = [PlannedJob(0, ["export=none"], "k0", "h0"), PlannedJob(1, ["export=torch_export"], "k1", "h1"),
             PlannedJob(2, ["export=torch_export"], "k1", "h1")]
    assert [p.idx for p in drop_duplicates(plans)] == [0, 1]
    assert "dropped 1 duplicate job(s) of this sweep: #2 (export=torch_export) = #1" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="different configs but the same key"):
        drop_duplicates([PlannedJob(0, ["a"], "k", "h1"), PlannedJob(1, ["b"], "k", "h2")])
