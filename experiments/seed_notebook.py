"""The modules of the reference notebook (002_d72e3f7b7f4fb1e9.txt, Tensor vs nn.Parameter), verbatim in behaviour."""
import torch
import torch.nn as nn


class ExperimentModel(nn.Module):
    """The notebook's model: a plain tensor, a Parameter, a buffer, a non-persistent int buffer, a registered Parameter."""

    def __init__(self):
        super().__init__()
        self.my_tensor = torch.randn(1, requires_grad=False)
        self.my_param = nn.Parameter(torch.randn(1))
        self.register_buffer("my_buffer", torch.randn(1))
        self.register_buffer("my_state", torch.tensor(42), persistent=False)
        self.register_parameter("my_registered_param", nn.Parameter(torch.randn(1)))

    def forward(self, x):
        return x * self.my_tensor + self.my_param


class ExperimentModel2(nn.Module):
    """The notebook's second model (§5): a plain tensor created with requires_grad=True next to a Parameter."""

    def __init__(self):
        super().__init__()
        self.my_tensor = torch.randn(1, requires_grad=True)
        self.my_param = nn.Parameter(torch.randn(1))

    def forward(self, x):
        return x * self.my_tensor + self.my_param


class CustomLinear(nn.Module):
    """The notebook's linear layer with a fixed plain-tensor scale."""

    def __init__(self, in_features: int = 3, out_features: int = 2):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.randn(out_features))
        self.scale = torch.tensor(0.1)

    def forward(self, x):
        return (x @ self.weight.t() + self.bias) * self.scale
