"""Register tensorprobe's configs with Hydra's ConfigStore: the job schema, the sweeper and the launcher."""
from dataclasses import dataclass
from typing import Dict, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from runner.schema import Config, VariantConfig


@dataclass
class TensorprobeSweeperConf:
    """hydra/sweeper=tensorprobe: the basic sweeper plus fast composition, resume, dry run, progress."""
    _target_: str = "hydra_plugins.tensorprobe_sweeper.tensorprobe_sweeper.TensorprobeSweeper"
    max_batch_size: Optional[int] = None     # as the basic sweeper: jobs launched per batch (None: all)
    params: Optional[Dict[str, str]] = None  # sweep parameters, as hydra.sweeper.params of the basic sweeper
    fast_compose: bool = True                # compose job configs with runner.sweep.fastcompose (identical result)
    resume: bool = True                      # skip jobs whose results.csv already holds this config's results
    plan_ahead: bool = True                  # tensorprobe launcher: plan in a forked child while torch imports


@dataclass
class TensorprobeLauncherConf:
    """hydra/launcher=tensorprobe: jobs with cheap bookkeeping, in this process or a warm pool (runner.sweep.launcher)."""
    _target_: str = "hydra_plugins.tensorprobe_launcher.tensorprobe_launcher.TensorprobeLauncher"
    save_hydra_yaml: bool = False  # also write .hydra/hydra.yaml per job (costs ~15 ms a job)
    n_jobs: int = 1                # > 1: CPU jobs in that many worker processes forked after warming up


OPEN_VARIANT_KEYS = ("attributes", "inputs", "kwargs")


def job_schema() -> DictConfig:
    """The job schema, with a variant's open mappings (attributes, inputs, kwargs) left out of struct mode.

    Hydra puts the whole config in struct mode before applying command-line overrides, and OmegaConf
    refuses a plain dict for a structured-config value: with these nodes open, both
    `+variant.attributes.x={kind: buffer}` and `variant.attributes.w.requires_grad=false` (a key its
    YAML left out) work. runner.job.validate.typed_config checks each entry against its dataclass.
    """
    node = OmegaConf.structured(Config)
    node.variant = VariantConfig()
    for key in OPEN_VARIANT_KEYS:
        OmegaConf.set_struct(node.variant._get_node(key), False)
    return node


def register_configs() -> None:
    """`tensorprobe_schema` is the first entry of conf/config.yaml's defaults list.

    The plugin classes are not imported here: Hydra imports them itself when it scans plugins
    (importing them earlier would bind them to classes that the scan then re-creates).
    """
    from runner.apphelp import register_resolver
    register_resolver()  # ${tensorprobe_help:...} in conf/hydra/help: --help generated from the schema
    store = ConfigStore.instance()
    if "tensorprobe_schema.yaml" in store.repo:  # already there: Hydra's plugin scan re-runs plugin modules
        return                                  # for every job a joblib worker runs (Singleton.set_state)
    store.store(name="tensorprobe_schema", node=job_schema())
    store.store(group="hydra/sweeper", name="tensorprobe", node=TensorprobeSweeperConf, provider="tensorprobe")
    store.store(group="hydra/launcher", name="tensorprobe", node=TensorprobeLauncherConf, provider="tensorprobe")
    try:  # hydra/launcher=tensorprobe_slurm (the `slurm` preset): only with hydra-submitit-launcher installed
        from runner.sweep.slurm import TensorprobeSlurmConf
    except ImportError:
        return
    store.store(group="hydra/launcher", name="tensorprobe_slurm", node=TensorprobeSlurmConf, provider="tensorprobe")
