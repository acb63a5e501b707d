"""Cost against model size: tensorprobe jobs on a stack of conv+BN blocks vs the same torch calls by hand.

    python tests/benchmarks/bench_scale.py [--blocks 5,20,80] [--exporters none,torch_export,onnx_dynamo,onnx_legacy]

For each size and exporter, the tool's job (`job_seconds` of the second of two jobs in one sweep, so both
sides are warm) against plain_loop.calls on the same module (the second of two calls in one process):
build, one SGD step, dtype/meta moves, state_dict round trip, the export and, for ONNX, one onnxruntime
run. ONNX jobs also prove each tensor's role by exporting perturbed copies: their count is printed.
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
TARGETS = {"none": 1.3, "torch_export": 1.3, "onnx_dynamo": 2.0, "onnx_legacy": 2.0}

BY_HAND = """
import sys, tempfile, time, torch
sys.path[:0] = [{root!r}, {bench!r}]
from plain_loop import calls
from experiments.structures import ConvBNStack
blocks, exporter = {blocks}, {exporter!r}
seconds = []
with tempfile.TemporaryDirectory() as d:
    for seed in (0, 1):
        started = time.perf_counter()
        torch.manual_seed(seed)
        m = ConvBNStack(blocks)
        x = torch.randn({shape}, generator=torch.Generator().manual_seed(seed))
        calls(m, x, lambda: ConvBNStack(blocks), exporter, d + "/m.onnx")
        seconds.append(time.perf_counter() - started)
print(seconds[-1])
"""


def by_hand(blocks: int, exporter: str) -> float:
    code = BY_HAND.format(root=str(ROOT), bench=str(ROOT / "tests" / "benchmarks"), blocks=blocks,
                          exporter=exporter, shape=INPUT.strip("[]"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"by-hand baseline failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def tool(tmp: Path, blocks: int, exporter: str) -> tuple[float, str]:
    """(job_seconds of the warm job, perturbed exports) of a two-job sweep."""
    d = tmp / f"{blocks}_{exporter}"
    out = subprocess.run([sys.executable, "-m", "runner", "-m", "variant=model",
                          "variant.model._target_=experiments.structures.ConvBNStack",
                          f"+variant.model.blocks={blocks}", f"variant.input_shape={INPUT}", f"export={exporter}",
                          "seed=0,1", "hydra.callbacks.sweep_table.report=false", f"hydra.sweep.dir={d}"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tensorprobe sweep failed:\n{out.stderr[-2000:]}")
    with (d / "results.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["seed"] == "1"]
    return float(rows[0]["job_seconds"]), rows[0].get("export_provenance_exports", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", default="5,20,80")
    parser.add_argument("--exporters", default="none,torch_export,onnx_dynamo,onnx_legacy")
    args = parser.parse_args()
    print(f"{'blocks':>6} {'tensors':>7} {'exporter':<13} {'tool s':>8} {'by hand s':>9} {'ratio':>6} "
          f"{'target':>6} {'exports':>7}  ok")
    with tempfile.TemporaryDirectory() as tmp:
        for blocks in [int(b) for b in args.blocks.split(",")]:
            for exporter in args.exporters.split(","):
                t_tool, exports = tool(Path(tmp), blocks, exporter)
                t_hand = by_hand(blocks, exporter)
                ratio, target = t_tool / t_hand, TARGETS[exporter]
                print(f"{blocks:>6} {6 * blocks + 2:>7} {exporter:<13} {t_tool:>8.2f} {t_hand:>9.2f} {ratio:>6.2f} "
                      f"{target:>6} {exports or '-':>7}  {'yes' if ratio <= target else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
