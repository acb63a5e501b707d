"""Registers `hydra/sweeper=tensorprobe`: the basic sweeper plus fast composition, resume, dry run, progress."""
from dataclasses import dataclass
from typing import Dict, Optional

from hydra.core.config_store import ConfigStore

from runner.sweeper import TensorprobeSweeper as _Sweeper


class TensorprobeSweeper(_Sweeper):
    """Hydra loads sweepers only from the hydra_plugins package; the logic lives in runner.sweeper."""


@dataclass
class TensorprobeSweeperConf:
    _target_: str = "hydra_plugins.tensorprobe_sweeper.tensorprobe_sweeper.TensorprobeSweeper"
    max_batch_size: Optional[int] = None   # as the basic sweeper: jobs launched per batch (None: all)
    params: Optional[Dict[str, str]] = None  # sweep parameters, as hydra.sweeper.params of the basic sweeper
    fast_compose: bool = True              # compose job configs with runner.fastcompose (identical result)
    resume: bool = True                    # skip jobs whose results.csv already holds this config's results


ConfigStore.instance().store(group="hydra/sweeper", name="tensorprobe", node=TensorprobeSweeperConf,
                             provider="tensorprobe")
