"""`hydra/launcher=tensorprobe`: Hydra loads launchers only from hydra_plugins; the logic is in runner.launcher."""
from runner.configstore import register_configs
from runner.launcher import TensorprobeLauncher as _Launcher

register_configs()


class TensorprobeLauncher(_Launcher):
    """See runner.launcher.TensorprobeLauncher."""
