"""Typed configuration of one job.

These dataclasses are the schema Hydra validates every composed config
against (registered in :mod:`runner.configstore`), and the typed values the
probes receive after :func:`runner.job.validate.typed_config`. They import
neither torch, Hydra nor OmegaConf, so probes and tests can build them by hand.
Every default of a job lives here (conf/config.yaml sets none of them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

MISSING = "???"  # OmegaConf's marker of a required value (omegaconf.MISSING), without importing it


class Kind(Enum):
    """How a generic variant declares one tensor."""
    parameter = "parameter"
    buffer = "buffer"
    tensor = "tensor"


class Via(Enum):
    """``assign`` (``self.x = ...``) or ``register`` (``register_parameter``/``register_buffer``)."""
    assign = "assign"
    register = "register"


class DType(Enum):
    """Tensor dtypes a generic variant may declare (names of ``torch.<dtype>``)."""
    float16 = "float16"
    bfloat16 = "bfloat16"
    float32 = "float32"
    float64 = "float64"
    int8 = "int8"
    int16 = "int16"
    int32 = "int32"
    int64 = "int64"
    uint8 = "uint8"
    bool = "bool"


class UpdateStyle(Enum):
    """How a training step is applied (see conf/update/)."""
    optimizer = "optimizer"
    data = "data"
    no_grad = "no_grad"
    inplace = "inplace"
    rebind = "rebind"


class DeviceType(Enum):
    """Where the module is trained and exported; ``auto`` picks cuda, then mps, then cpu."""
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"
    auto = "auto"


class Exporter(Enum):
    """Which exporter the trained module goes through."""
    none = "none"
    torch_export = "torch_export"
    onnx_dynamo = "onnx_dynamo"
    onnx_legacy = "onnx_legacy"


@dataclass
class AttributeConfig:
    """One tensor of a generic variant."""
    kind: Kind = MISSING                 # parameter | buffer | tensor
    shape: List[int] = field(default_factory=lambda: [3])  # positive ints
    dtype: DType = DType.float32         # torch dtype name
    requires_grad: Optional[bool] = None  # default: true for parameters, else false
    persistent: Optional[bool] = None    # buffers only; default true
    via: Optional[Via] = None            # default: register for buffers, assign otherwise
    used: bool = True                    # feeds forward(); a used tensor changes the output


@dataclass
class InputConfig:
    """One tensor argument of forward, drawn from a generator seeded with the job's seed."""
    shape: List[int] = MISSING           # positive ints
    dtype: DType = DType.float32         # float: torch.randn; integer: torch.randint(low, high); bool: 0/1
    low: Optional[int] = None            # integer dtypes: smallest value (default 0)
    high: Optional[int] = None           # integer dtypes: one past the largest value (required)


@dataclass
class VariantConfig:
    """The module under test: generic ``attributes`` or a ``model`` with ``_target_``, and its inputs.

    ``attributes``, ``inputs`` and ``kwargs`` hold plain mappings here, so that the command line can add
    entries (``+variant.attributes.x={kind: buffer}``: OmegaConf refuses a dict for a structured-config
    value); runner.job.validate.typed_config checks them against AttributeConfig and InputConfig.
    """
    description: str = ""                # one line shown in reports
    attributes: Optional[Dict[str, Any]] = None  # generic variant: name -> AttributeConfig
    model: Optional[Dict[str, Any]] = None  # structural variant: {_target_: ..., kwargs}
    input_shape: Optional[List[int]] = None  # short form of `inputs: [{shape: ...}]` (one float input)
    inputs: Optional[List[Any]] = None   # positional inputs of forward, in order: InputConfig each
    kwargs: Dict[str, Any] = field(default_factory=dict)  # keyword arguments of forward: an InputConfig mapping
                                         # (a tensor to draw) or a plain value
    dtype: Optional[DType] = None        # module.to(dtype) after building; float inputs made in this dtype


@dataclass
class UpdateConfig:
    """How parameters are changed after backward."""
    style: UpdateStyle = MISSING
    description: str = ""
    include_tensors: bool = False        # manual styles: the hand-written loop also clears and steps plain
                                         # tensors that require grad (update=optimizer always uses parameters())


@dataclass
class DeviceConfig:
    """Device the module is trained and exported on."""
    type: DeviceType = MISSING


@dataclass
class ExportConfig:
    """Exporter and its options; ``None`` keeps the exporter's own default."""
    exporter: Exporter = MISSING
    strict: Optional[bool] = None        # torch_export only (torch's default: false)
    opset_version: Optional[int] = None  # ONNX
    do_constant_folding: Optional[bool] = None  # ONNX
    export_params: Optional[bool] = None  # ONNX
    keep_initializers_as_inputs: Optional[bool] = None  # onnx_legacy only
    optimize: Optional[bool] = None      # onnx_dynamo only
    external_data: Optional[bool] = None  # onnx_dynamo only
    verify: bool = True                  # ONNX: onnx.checker + onnxruntime parity
    provenance_budget_s: float = 600.0   # ONNX: seconds for proving roles; what is left is `unproven`


class CompileBackend(Enum):
    """torch.compile backends the compile stage may use; inductor needs a C++ compiler on this machine."""
    eager = "eager"
    aot_eager = "aot_eager"
    inductor = "inductor"


@dataclass
class LifecycleConfig:
    """Opt-in stages on how a model is loaded and compiled (issue 23); all off by default, so a job that
    sets none of them keeps its key, its config hash and its cost."""
    meta_init: bool = False              # build on meta, to_empty + load_state_dict; and load(assign=True)
    strict_false: bool = False           # load_state_dict(strict=False) into copies with each tensor's kind changed
    compile: bool = False                # torch.compile a copy: does it see in-place changes and rebinds?
    compile_backend: CompileBackend = CompileBackend.eager


class DistMode(Enum):
    """How the distributed stage wraps the module on its own local ranks (conf/distributed/)."""
    none = "none"
    ddp = "ddp"
    fsdp2 = "fsdp2"


@dataclass
class DistributedConfig:
    """The distributed stage (issue 24): `world_size` spawned processes, gloo on 127.0.0.1, each rank
    building the module with seed + rank. `none` runs nothing, so such a job keeps its key and hash."""
    mode: DistMode = DistMode.none
    world_size: int = 2                  # local processes (ranks), >= 2
    timeout_s: float = 120.0             # after this, every rank is killed and the cells say why
    find_unused_parameters: bool = False  # ddp only
    static_graph: bool = False           # ddp only
    forward_sync_buffers: bool = True    # ddp only: broadcast buffers from rank 0 at each forward
                                         # (passed as broadcast_buffers where the running torch lacks this name)
    reshard_after_forward: Optional[bool] = None  # fsdp2 only (None: fully_shard's default)


@dataclass
class Config:
    """The whole job. Top-level keys besides the groups are listed here, and only these are accepted."""
    variant: VariantConfig = MISSING
    optimizer: Dict[str, Any] = MISSING  # {_target_: torch.optim.X, **kwargs}
    update: UpdateConfig = MISSING
    device: DeviceConfig = MISSING
    export: ExportConfig = MISSING
    seed: int = field(default=0, metadata={"help": "seeds module construction and the inputs"})
    steps: int = field(default=1, metadata={"help": "training steps (>= 0)"})
    lr: float = field(default=0.1, metadata={"help": "step size of the manual update styles (data, no_grad, "
                                                     "inplace, rebind); update=optimizer uses optimizer.lr"})
    move_to: str = field(default="meta", metadata={"help": "device the follows_device probe moves the module to "
                                                           "(auto: this machine's accelerator, else meta)"})
    checkpoint: bool = field(default=False, metadata={"help": "also probe safetensors save_file / save_model "
                                                              "round trips"})
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig, metadata={
        "help": "opt-in stages: lifecycle.meta_init, lifecycle.strict_false, lifecycle.compile (true/false), "
                "lifecycle.compile_backend (eager|aot_eager|inductor)"})
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    dry_run: bool = field(default=False, metadata={"help": "list the jobs (key, config hash) and run nothing"})


GROUPS = ("variant", "optimizer", "update", "device", "export")
# Groups added later whose default option is left out of a job's key (and its node out of the config hash),
# so the tables and resumable sweeps made before the group existed keep their keys.
OPTIONAL_GROUPS = {"distributed": "none"}
PLAIN_KEYS = ("seed", "steps", "lr", "move_to", "checkpoint")  # top-level keys that are part of a job's identity
GROUP_HELP = {  # what each config group chooses (python -m runner --help)
    "variant": "the module under test: your own (variant=model variant.model._target_=...), generic tensor "
               "declarations, or a structural / torch.nn example",
    "optimizer": "torch.optim class (_target_) and its keywords (optimizer.lr), used by update=optimizer",
    "update": "optimizer | data (p.data -= lr*grad) | no_grad | inplace (raises on leaves) | rebind (setattr)",
    "device": "cpu | cuda | mps | auto (an unavailable device is recorded as status=skipped)",
    "export": "none | torch_export | onnx_dynamo | onnx_legacy (export.* keys: opset_version, optimize, "
              "do_constant_folding, verify, provenance_budget_s, ...)",
    "distributed": "none | ddp | ddp_find_unused | fsdp2: train on distributed.world_size local ranks (gloo) and "
                   "measure which tensors stay equal across them (distributed.* keys: timeout_s, find_unused_parameters, "
                   "static_graph, forward_sync_buffers, reshard_after_forward)",
    "experiment": "presets added with a plus: +experiment=audit (findings and a CI exit code), "
                  "+experiment=seeds (the reference claims), +experiment=lifecycle, +experiment=distributed",
}
