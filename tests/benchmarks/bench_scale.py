"""Cost against model size: tensorprobe jobs on a stack of conv+BN blocks vs the same torch calls by hand.

    python tests/benchmarks/bench_scale.py [--blocks 5,20,80] [--resnet18]
                                           [--exporters none,torch_export,onnx_dynamo,onnx_legacy]

For each size and exporter, the tool's job (`job_seconds` of the second of two jobs in one sweep, so both
sides are warm) against plain_loop.calls on the same module (the second of two calls in one process):
build, one SGD step, dtype/meta moves, state_dict round trip, the export and, for ONNX, one onnxruntime
run. ONNX jobs also prove each tensor's role by exporting perturbed copies: their count is printed, and how
many of them replayed only the dynamo exporter's optimizer. --resnet18 adds experiments.structures.ResNet18
(torchvision's resnet18 layout, 122 tensors, 11.7 M parameters) on a 1x3x64x64 input.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
INPUT = "[2,3,16,16]"
RESNET_INPUT = "[1,3,64,64]"
TARGETS = {"none": 1.3, "torch_export": 1.3, "onnx_dynamo": 2.0, "onnx_legacy": 2.0}

BY_HAND = """
import sys, tempfile, time, torch
sys.path[:0] = [{root!r}, {bench!r}]
from plain_loop import calls
from experiments.structures import {model}
exporter = {exporter!r}
seconds = []
with tempfile.TemporaryDirectory() as d:
    for seed in (0, 1):
        started = time.perf_counter()
        torch.manual_seed(seed)
        m = {model}(**{kwargs!r})
        x = torch.randn({shape}, generator=torch.Generator().manual_seed(seed))
        calls(m, x, lambda: {model}(**{kwargs!r}), exporter, d + "/m.onnx")
        seconds.append(time.perf_counter() - started)
print(seconds[-1])
"""


def by_hand(model: str, kwargs: dict, shape: str, exporter: str) -> float:
    code = BY_HAND.format(root=str(ROOT), bench=str(ROOT / "tests" / "benchmarks"), model=model, kwargs=kwargs,
                          exporter=exporter, shape=shape.strip("[]"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"by-hand baseline failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def tool(tmp: Path, model: str, kwargs: dict, shape: str, exporter: str) -> tuple[float, str, str]:
    """(job_seconds of the warm job, perturbed exports, of them replays) of a two-job sweep."""
    d = tmp / f"{model}{'_'.join(map(str, kwargs.values()))}_{exporter}"
    out = subprocess.run([sys.executable, "-m", "runner", "-m", "variant=model",
                          f"variant.model._target_=experiments.structures.{model}",
                          *[f"+variant.model.{k}={v}" for k, v in kwargs.items()],
                          f"variant.input_shape={shape}", f"export={exporter}",
                          "seed=0,1", "hydra.callbacks.sweep_table.report=false", f"hydra.sweep.dir={d}"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tensorprobe sweep failed:\n{out.stderr[-2000:]}")
    with (d / "results.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["seed"] == "1"]
    return float(rows[0]["job_seconds"]), rows[0]["export_provenance_exports"], rows[0]["export_provenance_replays"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", default="5,20,80")
    parser.add_argument("--resnet18", action="store_true", help="also ResNet18 on a 1x3x64x64 input")
    parser.add_argument("--exporters", default="none,torch_export,onnx_dynamo,onnx_legacy")
    args = parser.parse_args()
    models = [(f"conv_bn {b}", "ConvBNStack", {"blocks": int(b)}, INPUT) for b in args.blocks.split(",") if b]
    models += [("resnet18", "ResNet18", {}, RESNET_INPUT)] if args.resnet18 else []
    print(f"{'model':<11} {'tensors':>7} {'exporter':<13} {'tool s':>8} {'by hand s':>9} {'ratio':>6} "
          f"{'target':>6} {'exports':>7} {'replays':>7}  ok")
    with tempfile.TemporaryDirectory() as tmp:
        for label, model, kwargs, shape in models:
            tensors = 122 if model == "ResNet18" else 6 * kwargs["blocks"] + 2
            for exporter in args.exporters.split(","):
                t_tool, exports, replays = tool(Path(tmp), model, kwargs, shape, exporter)
                t_hand = by_hand(model, kwargs, shape, exporter)
                ratio, target = t_tool / t_hand, TARGETS[exporter]
                print(f"{label:<11} {tensors:>7} {exporter:<13} {t_tool:>8.2f} {t_hand:>9.2f} {ratio:>6.2f} "
                      f"{target:>6} {exports or '-':>7} {replays or '-':>7}  {'yes' if ratio <= target else 'NO'}",
                      flush=True)


if __name__ == "__main__":
    main()
