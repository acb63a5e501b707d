"""Registers `hydra/launcher=tensorprobe`: in-process jobs with cheap bookkeeping (see runner.launcher)."""
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from runner.launcher import TensorprobeLauncher as _Launcher


class TensorprobeLauncher(_Launcher):
    """Hydra loads launchers only from the hydra_plugins package; the logic lives in runner.launcher."""


@dataclass
class TensorprobeLauncherConf:
    _target_: str = "hydra_plugins.tensorprobe_launcher.tensorprobe_launcher.TensorprobeLauncher"
    save_hydra_yaml: bool = False  # also write .hydra/hydra.yaml per job (costs ~15 ms a job)


ConfigStore.instance().store(group="hydra/launcher", name="tensorprobe", node=TensorprobeLauncherConf,
                             provider="tensorprobe")
