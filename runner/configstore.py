"""Register tensorprobe's configs with Hydra's ConfigStore: the job schema, the sweeper and the launcher."""
from dataclasses import dataclass
from typing import Dict, Optional

from hydra.core.config_store import ConfigStore

from runner.schema import Config


@dataclass
class TensorprobeSweeperConf:
    """hydra/sweeper=tensorprobe: the basic sweeper plus fast composition, resume, dry run, progress."""
    _target_: str = "hydra_plugins.tensorprobe_sweeper.tensorprobe_sweeper.TensorprobeSweeper"
    max_batch_size: Optional[int] = None     # as the basic sweeper: jobs launched per batch (None: all)
    params: Optional[Dict[str, str]] = None  # sweep parameters, as hydra.sweeper.params of the basic sweeper
    fast_compose: bool = True                # compose job configs with runner.fastcompose (identical result)
    resume: bool = True                      # skip jobs whose results.csv already holds this config's results
    plan_ahead: bool = True                  # in-process launcher: plan in a forked child while torch imports


@dataclass
class TensorprobeLauncherConf:
    """hydra/launcher=tensorprobe: in-process jobs with cheap bookkeeping (runner.launcher)."""
    _target_: str = "hydra_plugins.tensorprobe_launcher.tensorprobe_launcher.TensorprobeLauncher"
    save_hydra_yaml: bool = False  # also write .hydra/hydra.yaml per job (costs ~15 ms a job)


def register_configs() -> None:
    """`tensorprobe_schema` is the first entry of conf/config.yaml's defaults list.

    The plugin classes are not imported here: Hydra imports them itself when it scans plugins
    (importing them earlier would bind them to classes that the scan then re-creates).
    """
    store = ConfigStore.instance()
    if "tensorprobe_schema.yaml" in store.repo:  # already there: Hydra's plugin scan re-runs plugin modules
        return                                  # for every job a joblib worker runs (Singleton.set_state)
    store.store(name="tensorprobe_schema", node=Config)
    store.store(group="hydra/sweeper", name="tensorprobe", node=TensorprobeSweeperConf, provider="tensorprobe")
    store.store(group="hydra/launcher", name="tensorprobe", node=TensorprobeLauncherConf, provider="tensorprobe")
