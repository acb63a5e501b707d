"""torch.onnx.export (dynamo or legacy): locate each tensor in the saved model; verify with onnxruntime.

onnx and onnxruntime are imported here only, so jobs that do not export to ONNX never pay for them.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from runner.errors import exception_text
from runner.schema import ExportConfig, Exporter
from runner.probes.discover import TensorRef, resolve

ONNX_FILE = "model.onnx"
_OPTIONS = {
    Exporter.onnx_dynamo: ("opset_version", "optimize", "external_data", "do_constant_folding", "export_params"),
    Exporter.onnx_legacy: ("opset_version", "do_constant_folding", "export_params", "keep_initializers_as_inputs"),
}


def exporter_kwargs(cfg: ExportConfig) -> dict:
    """The options set in the config; unset ones keep torch.onnx.export's defaults."""
    kwargs = {"dynamo": cfg.exporter is Exporter.onnx_dynamo}
    kwargs.update({k: getattr(cfg, k) for k in _OPTIONS[cfg.exporter] if getattr(cfg, k) is not None})
    return kwargs


def as_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    if a.size != b.size or a.dtype.kind != b.dtype.kind:
        return False
    return bool(np.array_equal(a.reshape(-1), b.reshape(-1).astype(a.dtype)))


def _constant_values(graph) -> List[Tuple[str, np.ndarray]]:
    """(output name, value) of every Constant node that holds a tensor."""
    from onnx import numpy_helper
    out = []
    for node in graph.node:
        if node.op_type != "Constant":
            continue
        for attr in node.attribute:
            if attr.name == "value":
                out.append((node.output[0], numpy_helper.to_array(attr.t)))
            elif attr.name in ("value_float", "value_int"):
                out.append((node.output[0], np.array(attr.f if attr.name == "value_float" else attr.i)))
            elif attr.name in ("value_floats", "value_ints"):
                out.append((node.output[0], np.array(list(attr.floats or attr.ints))))
    return out


def locate(model, refs: List[TensorRef], names: Dict[str, List[str]],
           values: Dict[str, Optional[np.ndarray]]) -> Dict[str, dict]:
    """input (a graph input by name), initializer (by name), constant (Constant node or an initializer named
    after no tensor of the module, holding exactly the value), else absent."""
    from onnx import numpy_helper
    graph = model.graph
    inputs = {i.name for i in graph.input}
    initializers = {i.name: i for i in graph.initializer}
    all_paths = {p for group in names.values() for p in group}
    unnamed = [(n, numpy_helper.to_array(i)) for n, i in initializers.items() if n not in all_paths]
    constants = _constant_values(graph) + unnamed
    out = {}
    for r in refs:
        hit = next((("input", p) for p in names[r.path] if p in inputs), None) \
            or next((("initializer", p) for p in names[r.path] if p in initializers), None)
        value = values[r.path]
        if hit is None and value is not None:
            hit = next((("constant", n) for n, v in constants if _same_array(value, v)), None)
        role, name = hit or ("absent", "")
        out[r.path] = {"export_role": role, "export_name": name}
    return out


def verify(path: Path, module: nn.Module, refs: List[TensorRef], args: tuple,
           kwargs: Dict[str, Any]) -> Tuple[str, Optional[float]]:
    """(error or "", max abs diff of onnxruntime vs the module's eval output). Graph inputs named after a
    tensor (export_params=False, keep_initializers_as_inputs) are fed that tensor's value."""
    import onnx
    import onnxruntime as ort
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:
        return f"onnx.checker: {exception_text(exc)}", None
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1  # tiny models: threads only contend with parallel jobs
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        by_path = {r.path: resolve(module, r) for r in refs}
        feed = {}
        values = iter([a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)])
        for spec in session.get_inputs():
            tensor = by_path.get(spec.name)
            feed[spec.name] = as_numpy(next(values) if tensor is None else tensor)
        got = session.run(None, feed)[0]
    except Exception as exc:
        return f"onnxruntime: {exception_text(exc)}", None
    with torch.no_grad():
        output = module(*args, **kwargs)
    expected = as_numpy(_first_tensor(output))
    return "", float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64)))) if got.size else 0.0


def _first_tensor(output):
    if isinstance(output, (tuple, list)):
        return next(o for o in output if isinstance(o, torch.Tensor))
    return output


def export_and_locate(module: nn.Module, refs: List[TensorRef], names: Dict[str, List[str]],
                      args: tuple, kwargs: Dict[str, Any], cfg: ExportConfig, output_dir: Path) -> Dict[str, dict]:
    """Export to output_dir/model.onnx, load it back, locate every tensor; with verify, check and run it."""
    import onnx
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / ONNX_FILE
    values = {r.path: (None if (t := resolve(module, r)) is None else as_numpy(t)) for r in refs}
    started = time.perf_counter()
    torch.onnx.export(module, tuple(args), str(path), kwargs=dict(kwargs) or None, **exporter_kwargs(cfg))
    call_seconds = round(time.perf_counter() - started, 4)
    out = locate(onnx.load(str(path)), refs, names, values)
    for row in out.values():
        row.update(export_file=ONNX_FILE, export_call_seconds=call_seconds)
    if cfg.verify:
        error, diff = verify(path, module, refs, args, kwargs)
        for row in out.values():
            row["ort_max_abs_diff"] = diff
            if error:
                row.update(export_role="error", export_error=error)
    return out
