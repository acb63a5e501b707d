"""A module with each pitfall the audit looks for (plain torch; see `+experiment=audit`)."""
import torch
import torch.nn as nn


class Pitfalls(nn.Module):
    """A used plain tensor, a requires-grad plain tensor, an unused Parameter, a non-persistent buffer,
    tied weights: each one is a finding of `python -m runner.audit`."""

    def __init__(self, features: int = 3):
        super().__init__()
        self.encoder = nn.Linear(features, features)
        self.decoder = nn.Linear(features, features)
        self.decoder.weight = self.encoder.weight          # tied weights
        self.scale = torch.full((features,), 0.5)          # plain tensor that forward reads
        self.temperature = torch.ones(1, requires_grad=True)  # meant to be trained, never a parameter
        self.unused = nn.Parameter(torch.randn(features))   # never read by forward
        self.register_buffer("cache", torch.zeros(features), persistent=False)  # not saved

    def forward(self, x):
        h = torch.tanh(self.encoder(x)) * self.scale
        return self.decoder(h + self.cache) / self.temperature
