"""torch.onnx.export (dynamo or legacy): locate each tensor in the saved model by provenance; verify with
onnxruntime.

onnx, onnxscript and onnxruntime are imported here only, so jobs that do not export to ONNX never pay for them.
"""
from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from runner.errors import exception_text
from runner.schema import ExportConfig, Exporter
from runner.probes.discover import TensorRef, resolve, tensors_in

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


@contextlib.contextmanager
def shared_registry() -> Iterator[None]:
    """Within the block, the dynamo exporter builds its torchlib registry (~0.4 s a call, the same every
    time; export only reads it) once: the real export builds it, the provenance exports reuse it."""
    try:
        from torch.onnx._internal.exporter import _registration
        original = _registration.ONNXRegistry.__dict__["from_torchlib"]
    except (ImportError, AttributeError, KeyError):  # another torch: every call builds its own
        yield
        return
    built = {}

    def from_torchlib(cls, *args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = original.__func__(cls, *args, **kwargs)
        return built[key]

    _registration.ONNXRegistry.from_torchlib = classmethod(from_torchlib)
    try:
        yield
    finally:
        _registration.ONNXRegistry.from_torchlib = original


@contextlib.contextmanager
def without_denormals() -> Iterator[None]:
    """Perturbed values can drive the legacy exporter's traced forward into denormal floats, which the CPU
    computes ~15x slower: on one thread with flush-to-zero they are zeros. export_and_locate uses it only
    after an export of the real values under it equals the real file, so it changes nothing compared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # flush-to-zero is a per-thread CPU flag
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


_SCRATCH: Dict[int, Path] = {}  # process id -> its directory


def scratch_dir() -> Path:
    """A temporary directory of this process for the perturbed exports, removed when it exits: each one
    overwrites the last (making and removing a directory per job costs more than a small legacy export)."""
    path = _SCRATCH.get(os.getpid())
    if path is None or not path.is_dir():
        path = _SCRATCH[os.getpid()] = Path(tempfile.mkdtemp(prefix="tensorprobe-onnx-"))
        atexit.register(shutil.rmtree, path, True)
    return path


def verify(path: Path, module: nn.Module, refs: List[TensorRef], args: tuple,
           kwargs: dict) -> Tuple[str, Optional[float], Optional[int]]:
    """(error or "", max abs diff over every tensor output, outputs compared) of onnxruntime against the
    module's eval output. Graph inputs named after a module tensor get that tensor's value; the others,
    in order, the tensors of args then kwargs. Runs forward on module: give it a copy."""
    import onnx
    import onnxruntime as ort
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:
        return f"onnx.checker: {exception_text(exc)}", None, None
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1  # tiny models: threads only contend with parallel jobs
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        by_path = {r.path: resolve(module, r) for r in refs}
        positional = iter(tensors_in((args, kwargs)))
        feed = {}
        for spec in session.get_inputs():
            tensor = by_path.get(spec.name)
            feed[spec.name] = as_numpy(next(positional) if tensor is None else tensor)
        got = session.run(None, feed)
    except Exception as exc:
        return f"onnxruntime: {exception_text(exc)}", None, None
    with torch.no_grad():
        expected = [as_numpy(t) for t in tensors_in(module(*args, **kwargs))]
    diffs = [_max_abs_diff(g, e) for g, e in zip(got, expected)]
    return "", max(diffs, default=None), len(diffs)


def _max_abs_diff(got: np.ndarray, expected: np.ndarray) -> float:
    """inf where the shapes differ."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        return float("inf")
    if not got.size:
        return 0.0
    return float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))


def _reporter(tensors: int, after_s: float = 5.0, every_s: float = 5.0):
    """A status line for long provenance searches: nothing for the first after_s seconds, then one line
    at most every every_s seconds."""
    from runner.probes.quiet import status
    started, last = time.monotonic(), [0.0]

    def report(exports: int) -> None:
        now = time.monotonic()
        if now - started >= after_s and now - last[0] >= every_s:
            last[0] = now
            status(f"provenance: {exports} perturbed exports for {tensors} tensors, {now - started:.0f} s")
    return report


def _unchanged_under(conditions, real, module: nn.Module, export_copy) -> bool:
    """Whether an export of module's real values under conditions stores what the real file stores."""
    from runner.probes.onnx_graph import aligned, changed_places, parse
    try:
        with conditions():
            again = parse(export_copy(copy.deepcopy(module)))
    except Exception:  # noqa: BLE001 - then the perturbed exports run as the real one did
        return False
    first = parse(real)
    return aligned(first, again) and not changed_places(first, again)


def written_opset(path: Path) -> Optional[int]:
    """The default-domain (ai.onnx) opset the file declares in opset_import, as a runtime reads it."""
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return versions[0] if versions else None


def export_and_locate(module: nn.Module, refs: List[TensorRef], names: Dict[str, List[str]],
                      args: tuple, kwargs: dict, cfg: ExportConfig, output_dir: Path) -> Dict[str, dict]:
    """Export to output_dir/model.onnx, then locate every tensor in it by provenance (exports of perturbed
    copies, into scratch_dir(), never output_dir); with verify, check and run it. module is touched by the real
    export call only: everything else runs on copies taken before it."""
    import onnx

    from runner.probes.onnx_provenance import by_copy, locate
    from runner.probes.onnx_replay import Replaying, capturing
    from runner.probes.onnx_scopes import ScopedExports
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / ONNX_FILE
    pristine, inputs = copy.deepcopy(module), copy.deepcopy((args, kwargs))
    options = exporter_kwargs(cfg)
    translations: list = []  # the dynamo exporter's unoptimized translation, for replaying its optimizer
    with shared_registry() if options["dynamo"] else contextlib.nullcontext():
        started = time.perf_counter()
        with capturing(translations) if options["dynamo"] else contextlib.nullcontext({"seconds": 0.0}) \
                as captured:
            torch.onnx.export(module, args, str(path), kwargs=kwargs, **options)
        call_seconds = round(time.perf_counter() - started - captured["seconds"], 4)
        opset = written_opset(path)
        if cfg.opset_version is not None and opset != cfg.opset_version:  # the exporter fell back to another
            return {r.path: {"export_role": "error", "onnx_opset": opset, "export_file": ONNX_FILE,
                             "export_call_seconds": call_seconds,
                             "export_error": f"requested opset {cfg.opset_version}, but {ONNX_FILE} has opset "
                                             f"{opset}: the exporter could not convert to it (tensorprobe.log "
                                             f"has its messages)"} for r in refs}
        temp = scratch_dir() / f"perturbed-{threading.get_ident()}.onnx"
        real = onnx.load(str(path))
        state = {"exports": 0, "conditions": contextlib.nullcontext}

        def export_plain(copied: nn.Module):
            a, k = copy.deepcopy(inputs)
            with state["conditions"]():
                torch.onnx.export(copied, a, str(temp), kwargs=k, **options)
            return onnx.load(str(temp))

        def export_copy(copied: nn.Module):
            state["exports"] += 1
            if state["exports"] == 2 and not options["dynamo"]:  # a search follows the first export: worth a check
                if _unchanged_under(without_denormals, real, pristine, export_plain):
                    state["conditions"] = without_denormals
            return export_plain(copied)

        perturbed = functools.partial(Replaying, real=real, real_translation=translations[0]) \
            if len(translations) == 1 else by_copy if options["dynamo"] else ScopedExports
        out = locate(real, pristine, refs, names, export_copy, cfg.provenance_budget_s, _reporter(len(refs)),
                     perturbed)
    for row in out.values():
        row.update(export_file=ONNX_FILE, export_call_seconds=call_seconds, onnx_opset=opset)
    if cfg.verify:
        error, diff, compared = verify(path, pristine, refs, *inputs)
        for row in out.values():
            row.update(ort_max_abs_diff=diff, ort_outputs_compared=compared)
            if error:
                row.update(export_role="error", export_error=error)
    return out
