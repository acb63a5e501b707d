"""A module that takes its time, so a SLURM task can be cancelled while it runs or pends."""
import time

from torch import nn

_slept = False  # sleep once per process: one SLURM task, one sleep


class SleepyLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, seconds: float = 0.0):
        global _slept
        super().__init__(in_features, out_features)
        if not _slept:
            _slept = True
            time.sleep(seconds)
