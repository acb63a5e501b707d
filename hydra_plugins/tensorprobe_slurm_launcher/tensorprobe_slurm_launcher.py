"""`hydra/launcher=tensorprobe_slurm`: Hydra loads launchers only from hydra_plugins; the logic is in
runner.sweep.slurm. Without hydra-submitit-launcher (the `slurm` extra) there is no such launcher."""
from runner.configstore import register_configs

try:
    from runner.sweep.slurm import TensorprobeSlurmLauncher as _Launcher
except ImportError:  # hydra-submitit-launcher is not installed
    _Launcher = None

register_configs()

if _Launcher is not None:
    class TensorprobeSlurmLauncher(_Launcher):
        """See runner.sweep.slurm.TensorprobeSlurmLauncher."""
