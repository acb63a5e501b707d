"""The baseline of the benchmark: the same PyTorch calls as a tensorprobe sweep, in a plain loop.

No Hydra, no runner package: build each generic variant, train one SGD step, move copies to
float64 and meta, round-trip the state_dict, export with the same exporter, verify ONNX.

    python plain_loop.py VARIANTS EXPORTERS [SEEDS] [WORKERS]

With WORKERS > 1 the jobs run in a pool of processes forked after torch, onnx, onnxruntime and each
exporter were imported and warmed in this process: the most a pool of workers can gain here.
"""
import copy
import io
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from experiments.generic import DeclaredTensors  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf" / "variant"


def spec(name):
    attrs = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    out = {}
    for key, a in attrs["attributes"].items():
        kind = a["kind"]
        out[key] = {"kind": kind, "shape": a.get("shape", [3]), "dtype": a.get("dtype", "float32"),
                    "requires_grad": a.get("requires_grad", kind == "parameter"),
                    "persistent": a.get("persistent", True), "via": a.get("via", "register" if kind == "buffer"
                                                                            else "assign"),
                    "used": a.get("used", True)}
    return out, attrs["input_shape"]


def job(variant, exporter, out_dir, seed=0):
    torch.manual_seed(seed)
    attrs, shape = spec(variant)
    m = DeclaredTensors(attrs)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    calls(m, x, lambda: DeclaredTensors(attrs), exporter, Path(out_dir) / f"{variant}_{exporter}_{seed}.onnx")


def calls(m, x, fresh, exporter, path):
    """What one tensorprobe job does with torch, written by hand: one SGD step, float64 and meta moves of
    copies, a state_dict round trip into a fresh build, the export (and for ONNX: load, check, one
    onnxruntime run)."""
    pristine = copy.deepcopy(m)
    try:
        opt = torch.optim.SGD(list(m.parameters()), lr=0.1)
    except ValueError:
        opt = None
    m.zero_grad()
    loss = (m(x) ** 2).mean()
    if loss.requires_grad:
        loss.backward()
    if opt:
        opt.step()
    copy.deepcopy(pristine).to(torch.float64)
    copy.deepcopy(pristine).to("meta")
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(1)
    fresh().load_state_dict(torch.load(buf, weights_only=True))
    exported = copy.deepcopy(m).eval()
    try:
        if exporter == "torch_export":
            torch.export.export(exported, (x,))
        elif exporter.startswith("onnx"):
            import onnx
            import onnxruntime as ort
            torch.onnx.export(exported, (x,), str(path), dynamo=exporter == "onnx_dynamo")
            onnx.load(str(path))
            onnx.checker.check_model(str(path))
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    except Exception:  # the runner records these; the baseline only pays for the attempt
        pass


def _warm(exporters):
    """What a forked worker inherits: every import and each exporter's first call, done once here."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    m, x = torch.nn.Linear(2, 2).eval(), torch.randn(1, 2)
    with tempfile.TemporaryDirectory() as d:
        for e in exporters:
            if e == "torch_export":
                torch.export.export(m, (x,))
            elif e.startswith("onnx"):
                torch.onnx.export(m, (x,), f"{d}/warm.onnx", dynamo=e == "onnx_dynamo")


def _pool_job(args):
    torch.set_num_threads(1)
    job(*args)


def main():
    variants = sys.argv[1].split(",")
    exporters = sys.argv[2].split(",")
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        jobs = [(v, e, d, s) for v in variants for e in exporters for s in range(seeds)]
        if workers > 1:
            import multiprocessing
            _warm(exporters)
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                pool.map(_pool_job, jobs, chunksize=1)
        else:
            for args in jobs:
                job(*args)
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
