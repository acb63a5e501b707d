"""`hydra/sweeper=tensorprobe`: Hydra loads sweepers only from hydra_plugins; the logic is in runner.sweep.sweeper."""
from runner.configstore import register_configs
from runner.sweep.sweeper import TensorprobeSweeper as _Sweeper

register_configs()


class TensorprobeSweeper(_Sweeper):
    """See runner.sweep.sweeper.TensorprobeSweeper."""
