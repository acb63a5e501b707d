"""`hydra/launcher=tensorprobe`: Hydra loads launchers only from hydra_plugins; the logic is in runner.sweep.launcher."""
from runner.configstore import register_configs
from runner.sweep.launcher import TensorprobeLauncher as _Launcher

register_configs()


class TensorprobeLauncher(_Launcher):
    """See runner.sweep.launcher.TensorprobeLauncher."""
