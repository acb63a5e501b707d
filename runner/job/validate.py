"""From a composed config to the typed Config a job runs on, with every check the schema cannot express.

OmegaConf checks types, enums and unknown keys of the fixed schema when Hydra composes the config.
`typed_config` converts once, checks the mappings the schema keeps open (a variant's attributes,
inputs and keyword inputs) against their dataclasses, then the cross-field rules (`check_config`).
Every message names the file and the key. No torch here: a sweep validates every job before any
job runs, and a bad command line fails before torch is imported.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import fields
from typing import Any, Iterable, List, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.errors import ConfigError, allowed_keys, exception_text
from runner.schema import (AttributeConfig, CompileBackend, Config, DistMode, DistributedConfig, Exporter, InputConfig,
                           Kind, Via)

_ONNX_ONLY = ("opset_version", "do_constant_folding", "export_params")
_EXPORTER_ONLY = {
    "strict": (Exporter.torch_export,),
    "keep_initializers_as_inputs": (Exporter.onnx_legacy,),
    "optimize": (Exporter.onnx_dynamo,),
    "external_data": (Exporter.onnx_dynamo,),
    **{k: (Exporter.onnx_dynamo, Exporter.onnx_legacy) for k in _ONNX_ONLY},
}
# Largest tensor a generic variant may declare (elements, 1 GiB of float32); refused before allocating.
MAX_ELEMENTS = 2**28
_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "int16": 2, "int32": 4,
             "int64": 8, "uint8": 1, "bool": 1}
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_INTEGER_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
# torch.<name> dtypes a model keyword may name (`dtype: float64`, `torch.float64`), aliases included.
TORCH_DTYPE_NAMES = (
    "float16", "half", "bfloat16", "float32", "float", "float64", "double", "complex32", "chalf",
    "complex64", "cfloat", "complex128", "cdouble", "int8", "int16", "short", "int32", "int", "int64",
    "long", "uint8", "uint16", "uint32", "uint64", "bool", "float8_e4m3fn", "float8_e4m3fnuz",
    "float8_e5m2", "float8_e5m2fnuz")
# Device types torch.device accepts (its own error message lists them); an index may follow: cuda:1.
DEVICE_TYPES = ("cpu", "cuda", "mps", "meta", "xpu", "xla", "hpu", "mtia", "ipu", "lazy", "maia", "hip",
                "ve", "fpga", "vulkan", "mkldnn", "opengl", "opencl", "ideep", "privateuseone")
_DEVICE = re.compile(rf"^({'|'.join(DEVICE_TYPES)})(:\d+)?$")


def typed_config(cfg: DictConfig, variant_file: str) -> Config:
    """The job's typed Config: unknown top-level keys refused (Hydra accepts `+typo=1`), converted once,
    the open mappings checked against their dataclasses, cross-field rules checked."""
    allowed = [f.name for f in fields(Config)]
    unknown = [k for k in cfg.keys() if k not in allowed]
    if unknown:
        raise ConfigError(f"+{unknown[0]}", f"unknown top-level key '{unknown[0]}'; allowed: {', '.join(allowed)}")
    try:
        typed = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        if getattr(exc, "full_key", "") == "variant.model._target_":  # variant=model without its module
            raise ConfigError(f"{variant_file}: variant.model._target_", "missing; allowed: the import path of your "
                              "nn.Module, e.g. variant.model._target_=mypkg.MyModule (importable from the working "
                              "directory or PYTHONPATH)") from None
        raise ConfigError(variant_file, exception_text(exc)) from None
    here = f"{variant_file}: variant"
    v = typed.variant
    if v.attributes is not None:
        if not isinstance(v.attributes, dict):
            raise ConfigError(f"{here}.attributes", "must map attribute names to declarations, e.g. "
                              "{w: {kind: parameter, shape: [3]}}")
        v.attributes = {name: _structured(AttributeConfig, a, f"{here}.attributes.{name}")
                        for name, a in v.attributes.items()}
    v.inputs = _inputs(v.input_shape, v.inputs, here)
    if v.kwargs:
        if not isinstance(v.kwargs, dict):
            raise ConfigError(f"{here}.kwargs", "must map forward's keyword names to an input spec or a value")
        v.kwargs = {k: _structured(InputConfig, value, f"{here}.kwargs.{k}") if _is_input_spec(value) else value
                    for k, value in v.kwargs.items()}
    check_config(typed, variant_file)
    return typed


def _is_input_spec(value: Any) -> bool:
    """A keyword input given as a mapping with `shape` is a tensor to draw; anything else is passed as is."""
    return isinstance(value, dict) and "shape" in value


def _inputs(input_shape: Optional[List[int]], inputs: Optional[List[Any]], here: str) -> List[InputConfig]:
    """`inputs`, or the short form `input_shape` (one float32 input), as a list of InputConfig."""
    if input_shape is not None and inputs is not None:
        raise ConfigError(here, "give one of 'input_shape' (one float32 input) or 'inputs' (a list), not both")
    if input_shape is None and inputs is None:
        raise ConfigError(f"{here}.inputs", "missing; allowed: input_shape: [4, 3] or "
                          "inputs: [{shape: [4, 3]}, {shape: [4], dtype: int64, low: 0, high: 10}]")
    if inputs is None:
        return [InputConfig(shape=list(input_shape))]
    if not isinstance(inputs, list):
        raise ConfigError(f"{here}.inputs", "must be a list of input specs, e.g. [{shape: [4, 3]}]")
    return [_structured(InputConfig, spec, f"{here}.inputs[{i}]") for i, spec in enumerate(inputs)]


def _structured(cls, value: Any, where: str):
    """`value` (a plain mapping) checked and filled as an instance of the dataclass `cls`."""
    if not isinstance(value, dict):
        raise ConfigError(where, f"{value!r} is not a mapping; allowed keys: "
                          f"{', '.join(f.name for f in fields(cls))}")
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), value))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or ""
        message = str(exc).split("\n")[0]
        raise ConfigError(f"{where}.{key}" if key else where, f"{message}{allowed_keys(message)}") from None


def check_shape(where: str, shape: Iterable[int]) -> List[int]:
    shape = list(shape)
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise ConfigError(where, f"{shape!r} is not a list of positive ints; allowed: e.g. [3] or [2, 3]")
    return shape


def check_device(where: str, name: Any, also: str = "") -> None:
    """A device string torch.device would parse (`cpu`, `cuda:1`, `meta`), checked without importing torch."""
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ConfigError(where, f"{name!r} is not a device; allowed: {also}{', '.join(DEVICE_TYPES)}, "
                          "optionally with an index (cuda:1)")


def dtype_name(where: str, value: Any) -> str:
    """`float64`, `torch.float64` -> `float64`; anything torch has no dtype for is a ConfigError."""
    name = value.removeprefix("torch.") if isinstance(value, str) else None
    if name not in TORCH_DTYPE_NAMES:
        raise ConfigError(where, f"{value!r} is not a torch dtype; allowed: {', '.join(TORCH_DTYPE_NAMES)} "
                          "(with or without 'torch.')")
    return name


def typed_keywords(where: str, node: Any) -> None:
    """Check the dtype and device keywords of a model config (keys `dtype`, `*_dtype`, `device`,
    `*_device`, at any depth), which runner.job.build turns into torch.dtype and torch.device."""
    if isinstance(node, dict):
        for key, value in node.items():
            at = f"{where}.{key}"
            if isinstance(value, str) and (key == "dtype" or str(key).endswith("_dtype")):
                dtype_name(at, value)
            elif isinstance(value, str) and (key == "device" or str(key).endswith("_device")):
                check_device(at, value)
            else:
                typed_keywords(at, value)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            typed_keywords(f"{where}[{i}]", item)


def _check_input(where: str, spec: InputConfig) -> None:
    check_shape(f"{where}.shape", spec.shape)
    integer = spec.dtype.value in _INTEGER_DTYPES
    if not integer and (spec.low is not None or spec.high is not None):
        raise ConfigError(where, f"low/high apply to integer inputs, this one is {spec.dtype.value}; "
                          f"allowed: remove them, or dtype: one of {', '.join(_INTEGER_DTYPES)}")
    if integer:
        if spec.high is None:
            raise ConfigError(f"{where}.high", f"required for an integer input ({spec.dtype.value}: "
                              "torch.randint(low, high)); allowed: an int greater than low, e.g. high: 10")
        low = 0 if spec.low is None else spec.low
        if spec.high <= low:
            raise ConfigError(f"{where}.high", f"{spec.high} is not greater than low={low}; allowed: an int > {low}")


def check_config(cfg: Config, variant_file: str = "variant") -> None:
    """Raise ConfigError naming the file and key of the first invalid value."""
    v = cfg.variant
    here = f"{variant_file}: variant"
    if (v.attributes is None) == (v.model is None):
        raise ConfigError(here, "give exactly one of 'attributes' (generic variant) or 'model' (with _target_)")
    if v.model is not None:
        if "_target_" not in v.model:
            raise ConfigError(f"{here}.model", "missing '_target_'; allowed: the import path of an nn.Module "
                              "class or factory")
        typed_keywords(f"{here}.model", v.model)
    if v.dtype is not None and v.dtype.value not in _FLOAT_DTYPES:
        raise ConfigError(f"{here}.dtype", f"module.to() takes floating dtypes only, not {v.dtype.value}; "
                          f"allowed: {', '.join(_FLOAT_DTYPES)}")
    for i, spec in enumerate(v.inputs or []):
        _check_input(f"{here}.inputs[{i}]" if v.input_shape is None else f"{here}.input_shape", spec)
    for key, value in (v.kwargs or {}).items():
        if isinstance(value, InputConfig):
            _check_input(f"{here}.kwargs.{key}", value)
    for name, a in (v.attributes or {}).items():
        at = f"{here}.attributes.{name}"
        if not name.isidentifier():
            raise ConfigError(at, f"'{name}' is not a Python identifier; allowed: attribute names like w or my_buffer")
        shape = check_shape(f"{at}.shape", a.shape)
        numel = 1
        for d in shape:
            numel *= d
        if numel > MAX_ELEMENTS:
            size = numel * _ITEMSIZE[a.dtype.value]
            raise ConfigError(f"{at}.shape", f"{shape} has {numel} elements ({size / 2**30:.1f} GiB of "
                              f"{a.dtype.value}), refused before allocating; allowed: at most {MAX_ELEMENTS} elements")
        if a.persistent is not None and a.kind is not Kind.buffer:
            raise ConfigError(f"{at}.persistent", f"only buffers take 'persistent', this is kind={a.kind.value}; "
                              "allowed: remove the key, or kind=buffer")
        if a.via is Via.assign and a.kind is Kind.buffer:
            raise ConfigError(f"{at}.via", "a buffer can only be declared with register_buffer; allowed: via=register")
        if a.via is Via.register and a.kind is Kind.tensor:
            raise ConfigError(f"{at}.via", "a plain tensor has no register method; allowed: via=assign")
    if not cfg.export.provenance_budget_s > 0:
        raise ConfigError("export.provenance_budget_s", f"{cfg.export.provenance_budget_s} is not positive; "
                          "allowed: seconds > 0 (default 600)")
    for key, exporters in _EXPORTER_ONLY.items():
        if getattr(cfg.export, key) is not None and cfg.export.exporter not in exporters:
            allowed = ", ".join(e.value for e in exporters)
            raise ConfigError(f"export.{key}", f"does not apply to exporter {cfg.export.exporter.value}; "
                              f"allowed with: {allowed}")
    check_lifecycle(cfg)
    check_distributed(cfg)
    check_plain_keys(cfg)


_DIST_ONLY = {"find_unused_parameters": "ddp", "static_graph": "ddp", "forward_sync_buffers": "ddp",
              "reshard_after_forward": "fsdp2"}


def check_distributed(cfg: Config) -> None:
    """distributed.*: a world of >= 2 ranks, a positive timeout, and no option of the other wrapper."""
    d, defaults = cfg.distributed, DistributedConfig()
    if d.mode is DistMode.none:
        return
    if d.world_size < 2:
        raise ConfigError("distributed.world_size", f"{d.world_size} ranks cannot disagree; allowed: an int >= 2")
    if not d.timeout_s > 0:
        raise ConfigError("distributed.timeout_s", f"{d.timeout_s} is not positive; allowed: seconds > 0 (default 120)")
    for key, mode in _DIST_ONLY.items():
        if mode != d.mode.value and getattr(d, key) != getattr(defaults, key):
            raise ConfigError(f"distributed.{key}", f"does not apply to distributed={d.mode.value}; "
                              f"allowed with: distributed={mode}")


def check_lifecycle(cfg: Config) -> None:
    """lifecycle.compile_backend=inductor compiles C++ on CPU: refused before any job runs where no
    C++ compiler is found (the one inductor itself would take: $CXX, else g++, clang++, c++)."""
    lc = cfg.lifecycle
    if lc.compile and lc.compile_backend is CompileBackend.inductor:
        candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "clang++", "c++"]
        if not any(shutil.which(c) for c in candidates):
            raise ConfigError("lifecycle.compile_backend", f"inductor needs a C++ compiler and none of "
                              f"{', '.join(candidates)} is on PATH; allowed here: eager, aot_eager")


def check_plain_keys(cfg) -> None:
    """The top-level keys (a typed Config or the composed DictConfig): cheap enough for every job of a sweep."""
    if cfg.steps < 0:
        raise ConfigError("steps", f"{cfg.steps} is negative; allowed: an int >= 0")
    if cfg.lr < 0:
        raise ConfigError("lr", f"{cfg.lr} is negative; allowed: a float >= 0")
    if cfg.move_to != "auto":
        check_device("move_to", cfg.move_to, also="auto (the accelerator here, else meta), ")
