"""Modules for the distributed stage: state changed inside forward, and ranks that fail on purpose."""
import os
import signal
import time

import torch
import torch.nn as nn


class ForwardMutated(nn.Module):
    """A buffer and a plain tensor changed in place by forward from its input (as running statistics
    or a cache are): DDP broadcasts the buffer from rank 0 at each forward entry, never the plain tensor."""

    def __init__(self, features: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(features))
        self.register_buffer("seen", torch.zeros(features))
        self.cache = torch.zeros(features)

    def forward(self, x):
        with torch.no_grad():
            self.seen.add_(x.mean(0))
            self.cache.copy_(x.mean(0))
        return x * self.w + self.seen + self.cache


class RebindBuffer(nn.Module):
    """forward rebinds its buffer to a new tensor (`self.b = self.b + ...`; Module.__setattr__ keeps it a
    buffer): does DDP sync the new tensor or the one it saw when it was wrapped (pytorch/pytorch#63916)?"""

    def __init__(self, features: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(features))
        self.register_buffer("b", torch.zeros(features))

    def forward(self, x):
        self.b = self.b + x.detach().mean(0)
        return x * self.w + self.b


class RankFault(nn.Module):
    """On one rank, forward raises, kills its own process, or hangs (`mode`: raise | die | hang); the
    other ranks run normally. Outside a process group it is a plain module."""

    def __init__(self, mode: str = "raise", rank: int = 1):
        super().__init__()
        if mode not in ("raise", "die", "hang"):
            raise ValueError(f"mode {mode!r}; allowed: raise, die, hang")
        self.mode, self.rank = mode, rank
        self.w = nn.Parameter(torch.randn(3))

    def forward(self, x):
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_rank() == self.rank:
            if self.mode == "raise":
                raise RuntimeError(f"rank {self.rank} fails on purpose")
            if self.mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(3600)
        return x * self.w
