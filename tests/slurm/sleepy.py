"""A module that takes its time, so a SLURM task can be cancelled while it runs or pends (for the
cancel and Ctrl-C tests: variant=custom_linear variant.model._target_=tests.slurm.sleepy.SleepyLinear
+variant.model.seconds=30; the sweep must run from the project root so the task can import it).

TENSORPROBE_SLEEPY_SECONDS, if set, replaces `seconds` (a resumed sweep or an in-process reference
runs the same configs, same config hashes, without waiting); SLURM tasks inherit it from the sweep.
"""
import os
import time

from torch import nn

_slept = False  # sleep once per process: one SLURM task, one sleep


class SleepyLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, seconds: float = 0.0):
        global _slept
        super().__init__(in_features, out_features)
        if not _slept:
            _slept = True
            time.sleep(float(os.environ.get("TENSORPROBE_SLEEPY_SECONDS", seconds)))
