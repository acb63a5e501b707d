"""Small modules whose structure (tying, nesting, containers) changes how tensors are seen."""
import torch
import torch.nn as nn


class TiedLinear(nn.Module):
    """Two linear layers sharing one weight Parameter, reachable as first.weight and second.weight."""

    def __init__(self, features: int = 4):
        super().__init__()
        self.first = nn.Linear(features, features)
        self.second = nn.Linear(features, features)
        self.second.weight = self.first.weight

    def forward(self, x):
        return self.second(torch.tanh(self.first(x)))


class Inner(nn.Module):
    """A submodule holding one tensor of each kind."""

    def __init__(self, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(features))
        self.register_buffer("offset", torch.randn(features))
        self.scale = torch.randn(features)

    def forward(self, x):
        return (x * self.weight + self.offset) * self.scale


class Nested(nn.Module):
    """Tensors two levels down: a custom submodule inside a Sequential, then a Linear head."""

    def __init__(self, features: int = 3):
        super().__init__()
        self.body = nn.Sequential(Inner(features), nn.Tanh())
        self.head = nn.Linear(features, 1)

    def forward(self, x):
        return self.head(self.body(x))


class ListOfParameters(nn.Module):
    """Parameters held in an nn.ParameterList (paths plist.0, plist.1, ...)."""

    def __init__(self, count: int = 3, features: int = 3):
        super().__init__()
        self.plist = nn.ParameterList(nn.Parameter(torch.randn(features)) for _ in range(count))

    def forward(self, x):
        for p in self.plist:
            x = x * p
        return x


class DictOfParameters(nn.Module):
    """Parameters held in an nn.ParameterDict (paths pdict.<key>)."""

    def __init__(self, keys=("scale", "shift"), features: int = 3):
        super().__init__()
        self.pdict = nn.ParameterDict({k: nn.Parameter(torch.randn(features)) for k in keys})

    def forward(self, x):
        for p in self.pdict.values():
            x = x * p
        return x


class ListOfTensors(nn.Module):
    """Plain tensors held in a list and a dict attribute, both read by forward (paths scales.0, shift.k)."""

    def __init__(self, features: int = 3, requires_grad: bool = False):
        super().__init__()
        self.scales = [torch.randn(features, requires_grad=requires_grad) for _ in range(2)]
        self.shift = {"k": torch.randn(features, requires_grad=requires_grad)}

    def forward(self, x):
        return x * self.scales[0] * self.scales[1] + self.shift["k"]


class ConvBNStack(nn.Module):
    """`blocks` Conv2d+BatchNorm2d+ReLU blocks, then pooling and a Linear head: a ResNet-like tensor mix
    (conv weights, BN affine parameters, running statistics, an int64 counter per block) whose size
    grows with `blocks` (5 tensors per block plus 3 per BN buffer set): the benchmark's model."""

    def __init__(self, blocks: int = 5, channels: int = 8, classes: int = 10, trained_stats: bool = False):
        super().__init__()
        layers = []
        for i in range(blocks):
            layers += [nn.Conv2d(3 if i == 0 else channels, channels, 3, padding=1, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)
        if trained_stats:  # as after training: an untrained BatchNorm is the identity, which exporters drop
            with torch.no_grad():
                for bn in [m for m in layers if isinstance(m, nn.BatchNorm2d)]:
                    bn.weight.uniform_(0.5, 1.5)
                    bn.bias.normal_()
                    bn.running_mean.normal_()
                    bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: two 3x3 conv+BN, a 1x1 conv+BN shortcut where the shape changes."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None if stride == 1 and inplanes == planes else \
            nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18's layout and tensors (122: 20 convs, 20 BatchNorms, fc) without
    torchvision, whose registry wheels do not load with the CPU torch here: a real CNN at real size."""

    def __init__(self, num_classes: int = 1000, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        planes = [width, 2 * width, 4 * width, 8 * width]
        inplanes = width
        for i, p in enumerate(planes):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, p, stride), BasicBlock(p, p)))
            inplanes = p
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
