"""Cross-field checks the structured-config schema cannot express.

Types, enums and unknown keys are checked by OmegaConf when Hydra composes
the config; what remains (``persistent`` on a parameter, shapes that are not
positive) is checked here, with the config path in every message.
"""
from __future__ import annotations

from typing import Iterable, List

from runner.errors import ConfigError
from runner.schema import Config, Exporter, Kind, Via

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


def check_shape(where: str, shape: Iterable[int]) -> List[int]:
    shape = list(shape)
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise ConfigError(where, f"{shape!r} is not a list of positive ints; allowed: e.g. [3] or [2, 3]")
    return shape


def check_config(cfg: Config, variant_file: str = "variant") -> None:
    """Raise ConfigError naming the file and key of the first invalid value."""
    v = cfg.variant
    here = f"{variant_file}: variant"
    check_shape(f"{here}.input_shape", v.input_shape)
    if (v.attributes is None) == (v.model is None):
        raise ConfigError(here, "give exactly one of 'attributes' (generic variant) or 'model' (with _target_)")
    if v.model is not None and "_target_" not in v.model:
        raise ConfigError(f"{here}.model", "missing '_target_'; allowed: the import path of an nn.Module class or factory")
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
            raise ConfigError(f"{at}.persistent", f"only buffers take 'persistent', this is kind={a.kind.value}; allowed: remove the key, or kind=buffer")
        if a.via is Via.assign and a.kind is Kind.buffer:
            raise ConfigError(f"{at}.via", "a buffer can only be declared with register_buffer; allowed: via=register")
        if a.via is Via.register and a.kind is Kind.tensor:
            raise ConfigError(f"{at}.via", "a plain tensor has no register method; allowed: via=assign")
    for key, exporters in _EXPORTER_ONLY.items():
        if getattr(cfg.export, key) is not None and cfg.export.exporter not in exporters:
            allowed = ", ".join(e.value for e in exporters)
            raise ConfigError(f"export.{key}", f"does not apply to exporter {cfg.export.exporter.value}; allowed with: {allowed}")
    if cfg.steps < 0:
        raise ConfigError("steps", f"{cfg.steps} is negative; allowed: an int >= 0")
    if cfg.lr < 0:
        raise ConfigError("lr", f"{cfg.lr} is negative; allowed: a float >= 0")
