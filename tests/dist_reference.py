"""Independent plain-PyTorch reference for the distributed probe (DDP / FSDP2 on gloo, CPU).

Only `runner.job.build.build_module` / `make_inputs` (and the config helpers, to get a typed
VariantConfig) come from the project; wrapping, training, tensor enumeration and the bitwise
comparisons are written here from scratch.

Design: each rank records raw bytes of every tensor slot at each phase and writes them to its own
file (torch.save); the parent process compares ranks. So no collective is needed for the comparison
itself (only DTensor.full_tensor(), which every rank calls in the same order), and a rank that fails
still reports what it measured.

    reference(variant, seed, steps, mode, options, optimizer, world_size=2)
      -> {tensor_path: {"dist_wrapped_as", "dist_equal_at_start", "dist_equal_in_forward",
                        "dist_grad_equal", "dist_equal_after_step", "dist_error"}}
"""
from __future__ import annotations

import datetime
import os
import socket
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
import torch.nn as nn

COLUMNS = ("dist_wrapped_as", "dist_equal_at_start", "dist_equal_in_forward", "dist_grad_equal",
           "dist_equal_after_step", "dist_error")
PHASES = ("start", "forward", "grad", "after_step")
DTENSOR = "dtensor"  # marker stored instead of bytes where a slot held a DTensor inside forward


# --------------------------------------------------------------------------- helpers (per rank)

def _is_dtensor(t) -> bool:
    from torch.distributed.tensor import DTensor
    return isinstance(t, DTensor)


def _nested_tensors(value, path: str) -> Iterator[Tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _nested_tensors(v, f"{path}.{i}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _nested_tensors(v, f"{path}.{k}")


def tensor_slots(module: nn.Module) -> Iterator[Tuple[str, torch.Tensor]]:
    """(path, tensor) for every tensor the module tree holds; tied/shared ones under each name."""
    for prefix, m in module.named_modules(remove_duplicate=False):
        def full(name):
            return f"{prefix}.{name}" if prefix else name
        for name, t in m._parameters.items():
            if t is not None:
                yield full(name), t
        for name, t in m._buffers.items():
            if t is not None:
                yield full(name), t
        for name, v in vars(m).items():
            if name in ("_parameters", "_buffers", "_modules"):
                continue
            yield from _nested_tensors(v, full(name))


def _raw(t: torch.Tensor):
    """(dtype, shape, uint8 bytes) of the full value; DTensor -> full_tensor() (a collective)."""
    if _is_dtensor(t):
        t = t.full_tensor()
    t = t.detach()
    flat = t.contiguous().reshape(-1)
    return (str(t.dtype), tuple(t.shape), flat.view(torch.uint8).clone())


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)):
        for v in out:
            r = _first_tensor(v)
            if r is not None:
                return r
    if isinstance(out, dict):
        for v in out.values():
            r = _first_tensor(v)
            if r is not None:
                return r
    return None


def _error_text(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}"


def _make_optimizer(optimizer: Dict[str, Any], params):
    spec = dict(optimizer)
    target = spec.pop("_target_")
    module_name, _, cls_name = target.rpartition(".")
    import importlib
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(params, **spec)


def _worker(rank, world_size, port, variant, seed, steps, mode, options, optimizer, out_dir, pg_timeout=45.0):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    import torch.distributed as dist
    rec: Dict[str, Any] = {"rank": rank, "paths": [], "wrapped_as": {}, "error": None,
                           "error_time": None, "phases": {}, "finished": False}
    path_out = os.path.join(out_dir, f"rank{rank}.pt")

    def save():  # after every phase, so a rank that dies or hangs later still reports what it measured
        torch.save(rec, path_out + ".tmp")
        os.replace(path_out + ".tmp", path_out)

    def snapshot(module):
        return {p: _raw(t) for p, t in tensor_slots(module)}

    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world_size, timeout=datetime.timedelta(seconds=pg_timeout))
        from runner.job.build import build_module, make_inputs
        module = build_module(variant, seed + rank)
        rec["paths"] = [p for p, _ in tensor_slots(module)]  # rows even if wrapping fails
        inputs = make_inputs(variant, seed + rank, torch.device("cpu"))
        if mode == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP
            wrapped = DDP(module, find_unused_parameters=bool(options.get("find_unused_parameters", False)),
                          static_graph=bool(options.get("static_graph", False)),
                          forward_sync_buffers=options.get("forward_sync_buffers", True))
            inner = wrapped.module
        elif mode == "fsdp2":
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard
            mesh = init_device_mesh("cpu", (world_size,))
            wrapped = fully_shard(module, mesh=mesh, reshard_after_forward=options.get("reshard_after_forward"))
            inner = wrapped
        else:
            raise ValueError(f"unknown mode {mode!r}")

        rec["wrapped_as"] = {p: (DTENSOR if _is_dtensor(t) else "tensor") for p, t in tensor_slots(inner)}
        rec["phases"]["start"] = snapshot(inner)
        save()

        state = {"record": False}

        def pre_hook(mod, args):
            if state["record"]:
                rec["phases"]["forward"] = {
                    p: (DTENSOR if _is_dtensor(t) else _raw(t)) for p, t in tensor_slots(inner)}
                state["record"] = False
                save()

        inner.register_forward_pre_hook(pre_hook)
        opt = _make_optimizer(optimizer, list(wrapped.parameters()))
        for step in range(steps):
            last = step == steps - 1
            state["record"] = last
            opt.zero_grad()
            out = wrapped(*inputs.args, **inputs.kwargs)
            first = _first_tensor(out)
            if first is None:
                raise TypeError(f"forward returned no tensor ({type(out).__name__})")
            loss = first.float().pow(2).mean()
            loss.backward()
            if last:
                rec["phases"]["grad"] = {p: (None if t.grad is None else _raw(t.grad))
                                         for p, t in tensor_slots(inner)}
                save()
            opt.step()
        if steps > 0:
            rec["phases"]["after_step"] = snapshot(inner)
    except BaseException as exc:  # noqa: BLE001 - recorded, compared across ranks by the parent
        rec["error"] = _error_text(exc)
        rec["error_time"] = time.time()
        rec["traceback"] = traceback.format_exc()
    rec["finished"] = True
    save()
    try:
        if dist.is_initialized():
            if rec["error"] is None:
                dist.barrier()
            dist.destroy_process_group()
    except BaseException:  # noqa: BLE001
        pass


# --------------------------------------------------------------------------- parent

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _same(values) -> Optional[bool]:
    """Bitwise equality of (dtype, shape, bytes) triples."""
    d0, s0, b0 = values[0]
    return all(d == d0 and s == s0 and torch.equal(b, b0) for d, s, b in values[1:])


def _compare(recs, phase: str, path: str) -> Optional[bool]:
    if any(phase not in r["phases"] for r in recs):
        return None
    vals = [r["phases"][phase].get(path, "missing") for r in recs]
    if phase == "grad":
        present = [v for v in vals if v is not None and v != "missing"]
        if not present:
            return None
        if len(present) != len(vals):
            return False
        return _same(present)
    if any(isinstance(v, str) and v == "missing" for v in vals):
        return False
    if any(isinstance(v, str) and v == DTENSOR for v in vals):
        return None
    return _same(vals)


def reference(variant, seed: int, steps: int, mode: str, options: dict, optimizer: dict,
              world_size: int = 2, timeout: float = 120.0) -> dict:
    """Run `steps` steps of `mode` ("ddp"|"fsdp2") on `world_size` gloo ranks (rank r seeded seed+r)
    and return {tensor_path: {column: value}} (value None = not measured)."""
    import pickle
    import subprocess
    port = _free_port()
    here = os.path.abspath(__file__)
    root = os.path.dirname(os.path.dirname(here))
    with tempfile.TemporaryDirectory(prefix="dist_reference_") as out_dir:
        job = os.path.join(out_dir, "job.pkl")
        with open(job, "wb") as f:
            pickle.dump((world_size, port, variant, seed, steps, mode, dict(options or {}), dict(optimizer),
                         out_dir, max(5.0, min(45.0, timeout / 3))), f)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root] + [p for p in sys.path if p])}
        procs, logs = [], []
        try:
            for r in range(world_size):
                log = open(os.path.join(out_dir, f"rank{r}.log"), "wb")
                logs.append(log)
                procs.append(subprocess.Popen([sys.executable, here, "--worker", job, str(r)], cwd=root, env=env,
                                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))
            deadline = time.time() + timeout
            timed_out = False
            for p in procs:
                try:
                    p.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            for p in procs:  # only the processes started here, by their own handle
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(5)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait(5)
            for log in logs:
                log.close()
        reference.last_logs = [open(os.path.join(out_dir, f"rank{r}.log"), errors="replace").read()[-3000:]
                               for r in range(len(procs))]
        recs, errors = [], []
        for r, p in enumerate(procs):
            f = os.path.join(out_dir, f"rank{r}.pt")
            rec = (torch.load(f, weights_only=False) if os.path.exists(f) else
                   {"rank": r, "paths": [], "wrapped_as": {}, "error": None, "phases": {}, "finished": False})
            recs.append(rec)
            if rec["error"]:
                errors.append((rec["error_time"], rec["error"]))
            elif not rec["finished"] or p.returncode != 0:
                # killed at the timeout: ranks after any error a peer recorded meanwhile; died on its own:
                # the cause (its peers fail afterwards, in gloo)
                if timed_out and p.returncode in (-15, -9):
                    errors.append((float("inf"), f"TimeoutError: rank {r} did not finish within {timeout:.0f} s"))
                else:
                    errors.append((float("-inf"), f"ChildProcessError: rank {r} exited with code {p.returncode}"))
    error = min(errors)[1] if errors else ""
    paths = []
    for rec in recs:
        for path in rec["paths"]:
            if path not in paths:
                paths.append(path)
        for phase in PHASES:
            for path in rec["phases"].get(phase, {}):
                if path not in paths:
                    paths.append(path)
        for path in rec["wrapped_as"]:
            if path not in paths:
                paths.append(path)
    result = {}
    for path in paths:
        result[path] = {
            "dist_wrapped_as": recs[0]["wrapped_as"].get(path),
            "dist_equal_at_start": _compare(recs, "start", path),
            "dist_equal_in_forward": _compare(recs, "forward", path),
            "dist_grad_equal": _compare(recs, "grad", path),
            "dist_equal_after_step": _compare(recs, "after_step", path),
            "dist_error": error,
        }
    reference.last_tracebacks = [r.get("traceback") for r in recs]  # for debugging
    return result


def typed_variant(name: str, *overrides: str):
    """The typed VariantConfig of conf/variant/<name>.yaml (composed with Hydra's compose API), with
    optional extra overrides such as "variant.model._target_=..."."""
    from omegaconf import open_dict
    from runner.job.validate import typed_config
    from tests.conftest import compose_config
    cfg = compose_config([f"variant={name}", *overrides])
    with open_dict(cfg):
        del cfg["hydra"]
    return typed_config(cfg, f"variant/{name}.yaml").variant


# --------------------------------------------------------------------------- demo

def _fmt(v):
    return {None: "-", True: "T", False: "F"}.get(v, v) if not isinstance(v, str) or v else ""


def _print_table(title, result, seconds):
    print(f"\n## {title}  ({seconds:.1f} s)")
    err = next(iter(result.values()))["dist_error"] if result else "(no tensors)"
    short = ["wrapped", "start", "fwd", "grad", "after"]
    print(f"  {'tensor':<32}" + "".join(f"{s:>9}" for s in short))
    for path, row in result.items():
        print(f"  {path:<32}" + "".join(f"{_fmt(row[c]):>9}" for c in COLUMNS[:5]))
    if err:
        print(f"  error: {err}")


def _worker_main(job: str, rank: int) -> None:
    import pickle
    with open(job, "rb") as f:
        world_size, port, variant, seed, steps, mode, options, optimizer, out_dir, pg_timeout = pickle.load(f)
    _worker(rank, world_size, port, variant, seed, steps, mode, options, optimizer, out_dir, pg_timeout)


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker_main(sys.argv[2], int(sys.argv[3]))
elif __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    os.chdir(root)
    SGD = {"_target_": "torch.optim.SGD", "lr": 0.1}
    DDP_OPTS = {"find_unused_parameters": False, "static_graph": False, "forward_sync_buffers": True}
    variants = ["buffer", "buffer_nonpersistent", "tensor", "parameter", "unused_parameter",
                "tied_parameters", "batchnorm", "seed_notebook", "forward_mutated", "rebind_buffer"]
    only = sys.argv[1:]
    cases = []
    for v in variants:
        if not os.path.exists(os.path.join(root, "conf", "variant", f"{v}.yaml")):
            print(f"(skipping {v}: no conf/variant/{v}.yaml)")
            continue
        cases.append((v, "ddp", DDP_OPTS, 1))
        cases.append((v, "fsdp2", {"reshard_after_forward": None}, 1))
    cases.append(("unused_parameter", "ddp", DDP_OPTS, 2))
    cases.append(("unused_parameter", "ddp", {**DDP_OPTS, "find_unused_parameters": True}, 2))
    for v in ("forward_mutated", "rebind_buffer", "batchnorm"):
        if os.path.exists(os.path.join(root, "conf", "variant", f"{v}.yaml")):
            cases.append((v, "ddp", DDP_OPTS, 2))
    cases.append(("buffer", "ddp", {**DDP_OPTS, "forward_sync_buffers": False}, 1))
    cases.append(("buffer", "fsdp2", {"reshard_after_forward": True}, 2))
    for v, mode, opts, steps in cases:
        if only and v not in only:
            continue
        try:
            variant = typed_variant(v)
        except Exception as exc:  # noqa: BLE001
            print(f"\n## {v}: cannot compose: {_error_text(exc)}")
            continue
        t0 = time.time()
        res = reference(variant, seed=0, steps=steps, mode=mode, options=opts, optimizer=SGD)
        _print_table(f"{v} {mode} {opts} steps={steps}", res, time.time() - t0)
