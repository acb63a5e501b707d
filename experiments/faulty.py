"""Modules that misbehave on purpose: each failure must become a recorded outcome, never a crash."""
import torch
import torch.nn as nn


class NoTensorOutput(nn.Module):
    """forward returns a dict of floats instead of a tensor."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3))

    def forward(self, x):
        return {"sum": float((x * self.w).sum())}


class NonFiniteLoss(nn.Module):
    """forward divides by zero: the loss is inf."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3))

    def forward(self, x):
        return x * self.w / torch.zeros(3)


class FailingConstructor(nn.Module):
    """__init__ raises."""

    def __init__(self, reason: str = "bad hyper-parameter"):
        super().__init__()
        raise ValueError(reason)


class NoTensors(nn.Module):
    """Holds nothing: there is nothing to probe."""

    def forward(self, x):
        return x


class DiesInForward(nn.Module):
    """forward kills its own process (as an out-of-memory kill or a crash in native code would)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(3))

    def forward(self, x):
        import os
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
        return x * self.w
