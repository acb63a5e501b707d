"""Modules whose tensors ONNX exporters merge, fold, split, bake in or mutate (tests of the export roles)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Norms(nn.Module):
    """LayerNorm, GroupNorm and BatchNorm1d in a row: untrained, their weights are ones and biases zeros,
    BatchNorm's running stats zeros and ones, and num_batches_tracked an int64 0."""

    def __init__(self, features: int = 4, groups: int = 2):
        super().__init__()
        self.ln = nn.LayerNorm(features)
        self.gn = nn.GroupNorm(groups, features)
        self.bn = nn.BatchNorm1d(features)

    def forward(self, x):
        return self.bn(self.gn(self.ln(x)))


class IntBuffersBesideIntOps(nn.Module):
    """Unused small integer buffers ([0, 1] and 1) next to ops whose own integer constants hold the same
    values (a reshape to [2, 2, -1], a gather of index 1, a sum over axis 1)."""

    def __init__(self, features: int = 4):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.register_buffer("pair", torch.tensor([0, 1]))
        self.register_buffer("one", torch.tensor(1))

    def forward(self, x):
        return self.lin(x).reshape(2, 2, -1)[:, 1].sum(dim=1)


class Recurrent(nn.Module):
    """An LSTM then a GRU; returns (output, (h, c)): three tensors, nested."""

    def __init__(self, features: int = 3, hidden: int = 4, out: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.gru = nn.GRU(hidden, out, batch_first=True)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        z, _ = self.gru(y)
        return z, (h, c)


class Counting(nn.Module):
    """forward increments an int64 counter buffer and adds it to the output."""

    def __init__(self, features: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(features))
        self.register_buffer("count", torch.tensor(0))

    def forward(self, x):
        self.count += 1
        return x * self.w + self.count


class ScaledWeight(nn.Module):
    """A Linear whose weight is multiplied by a frozen plain-tensor scale before use: exporters fold the
    product into one value."""

    def __init__(self, in_features: int = 3, out_features: int = 2):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.randn(out_features))
        self.scale = torch.tensor(0.3)

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias)


class BakedGain(ScaledWeight):
    """ScaledWeight whose output is also multiplied by a plain tensor read as a Python number: the
    dynamo exporter's translation bakes that number into the graph, so the translation depends on a value
    (the optimizer cannot be replayed on it: every perturbed export is a full one)."""

    def __init__(self, in_features: int = 3, out_features: int = 2):
        super().__init__(in_features, out_features)
        self.gain = torch.tensor(2.5)

    def forward(self, x):
        return super().forward(x) * float(self.gain)
