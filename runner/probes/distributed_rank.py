"""One rank of the distributed stage: `python -m runner.probes.distributed_rank FOLDER RANK < spec`.

Started by runner.probes.distributed as its own process (spawned, never forked). It joins the job's
gloo group through the TCPStore the job process holds, builds the module with `seed + rank` and its
own inputs, wraps it (DDP or FSDP2), trains, and after each measurement point rewrites
`rank<r>.json` in the job's temporary FOLDER, so what was measured before a crash or a hang is kept.
Every comparison is a collective all ranks make in the same order: each rank hashes the bytes of its
full value (`full_tensor()` for a DTensor) and `all_gather_object` brings every rank's digests to all.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from runner.errors import exception_text

COLUMNS = ("dist_wrapped_as", "dist_equal_at_start", "dist_equal_in_forward", "dist_grad_equal",
           "dist_equal_after_step")


def exit_with_parent(parent_pid: int) -> None:
    """A rank must not outlive its job: once the job process is gone (killed, interrupted), exit."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


class Record:
    """What this rank has measured so far, rewritten atomically after each point."""

    def __init__(self, folder: Path, rank: int) -> None:
        self.path = folder / f"rank{rank}.json"
        self.data: Dict[str, Any] = {"rank": rank, "stage": "start", "error": "", "done": False, "columns": {}}

    def stage(self, name: str) -> None:
        self.data["stage"] = name
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def digest(t: Any) -> Optional[str]:
    """Bitwise identity of a full tensor value (dtype, shape, bytes): NaN equals NaN, any dtype works."""
    import torch
    if t is None:
        return None
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    data = t.contiguous().reshape(-1)
    raw = data.view(torch.uint8) if data.element_size() and data.numel() else data
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(raw.clone().numpy().tobytes() if data.numel() else b"")  # a copy: numpy must not share (and pin)
                                                                      # storage FSDP2 frees after backward
    return h.hexdigest()


def full_value(t: Any) -> Any:
    """The whole tensor a slot stands for: a DTensor's full_tensor() (a collective), else itself."""
    from torch.distributed.tensor import DTensor
    return t.full_tensor() if isinstance(t, DTensor) else t


def equal_across(local: List[Optional[str]]) -> List[Optional[bool]]:
    """Per entry: True when every rank has the same digest, False when they differ or only some have
    a value, None when no rank has one."""
    import torch.distributed as dist
    gathered: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    out: List[Optional[bool]] = []
    for i in range(len(local)):
        values = [g[i] for g in gathered]
        if all(v is None for v in values):
            out.append(None)
        else:
            out.append(all(v is not None and v == values[0] for v in values))
    return out


def wrap(module: Any, d: Any, device: Any) -> Any:
    """DistributedDataParallel or fully_shard on the root, with the job's options."""
    import inspect
    import torch
    if d.mode.value == "ddp":
        from torch.nn.parallel import DistributedDataParallel
        accepted = inspect.signature(DistributedDataParallel.__init__).parameters
        sync = "forward_sync_buffers" if "forward_sync_buffers" in accepted else "broadcast_buffers"
        options = {"find_unused_parameters": d.find_unused_parameters, "static_graph": d.static_graph,
                   sync: d.forward_sync_buffers}
        if device.type == "cuda":
            options["device_ids"] = [device.index]
        return DistributedDataParallel(module, **options)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    options = {} if d.reshard_after_forward is None else {"reshard_after_forward": d.reshard_after_forward}
    return fully_shard(module, mesh=mesh, **options)


def _device(job_device: str, rank: int):
    import torch
    device = torch.device(job_device)
    if device.type == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


def measure(spec: Dict[str, Any], rank: int, record: Record) -> None:
    """The rank's whole run; raises on the first error (the caller records it)."""
    import torch
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor
    from runner.probes.discover import discover, resolve

    cfg, d = spec["cfg"], spec["cfg"].distributed
    world = d.world_size
    record.stage("init_process_group")
    device = _device(spec["device"], rank)
    store = dist.TCPStore("127.0.0.1", spec["port"], is_master=False, timeout=timedelta(seconds=d.timeout_s))
    backend = "nccl" if device.type == "cuda" and torch.cuda.device_count() >= world else "gloo"
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=timedelta(seconds=d.timeout_s))
    try:
        record.stage("build")
        seed = cfg.seed + rank
        module = spec["build"](seed).to(device)
        inputs = spec["inputs"](seed, device)
        refs = discover(module)
        if [r.path for r in refs] != spec["paths"]:
            raise RuntimeError(f"rank {rank} built a module whose tensors differ from the job's: {len(refs)} "
                               f"paths, not {len(spec['paths'])}")
        columns = record.data["columns"] = {r.path: {} for r in refs}
        record.stage("wrap")
        wrapped = wrap(module, d, device)
        for r in refs:
            columns[r.path]["dist_wrapped_as"] = "dtensor" if isinstance(resolve(module, r), DTensor) else "tensor"
        record.stage("equal_at_start")
        start = equal_across([digest(full_value(resolve(module, r))) for r in refs])
        for r, equal in zip(refs, start):
            columns[r.path]["dist_equal_at_start"] = equal
        record.write()
        train(module, wrapped, refs, inputs, cfg, record, spec["make_optimizer"])
        record.stage("end")
        dist.barrier()
        record.data["done"] = True
        record.write()
    finally:
        dist.destroy_process_group()


def train(module: Any, wrapped: Any, refs: list, inputs: Any, cfg: Any, record: Record,
          make_optimizer: Callable) -> None:
    """`steps` steps of the job's update style on the wrapped module; the last one is measured at
    forward entry (a pre-hook on the inner module, after the wrapper's own sync), after backward
    (grads, before the update) and after the update."""
    from torch.distributed.tensor import DTensor
    from runner.probes.discover import resolve
    from runner.probes.training import UPDATES, loss_of
    columns = record.data["columns"]
    style = cfg.update.style.value
    record.stage("optimizer")
    optimizer = make_optimizer(list(wrapped.parameters())) if style == "optimizer" else None
    seen: List[Optional[str]] = []

    def at_entry(mod: Any, args: Any) -> None:
        seen[:] = [None if isinstance(t := resolve(module, r), DTensor) else digest(t) for r in refs]

    for step in range(1, cfg.steps + 1):
        last = step == cfg.steps
        record.stage(f"step {step}: forward")
        (optimizer or wrapped).zero_grad()
        hook = module.register_forward_pre_hook(at_entry) if last else None
        try:
            output = wrapped(*inputs.args, **inputs.kwargs)
        finally:
            if hook is not None:
                hook.remove()
        if last:  # a slot holding a DTensor at entry has no digest on any rank: its cell stays empty
            for r, equal in zip(refs, equal_across(seen)):
                columns[r.path]["dist_equal_in_forward"] = equal
            record.write()
        record.stage(f"step {step}: backward")
        loss_of(output).backward()
        if last:
            grads = [getattr(resolve(module, r), "grad", None) for r in refs]
            for r, equal in zip(refs, equal_across([digest(full_value(g)) for g in grads])):
                columns[r.path]["dist_grad_equal"] = equal
            record.write()
        record.stage(f"step {step}: update")
        UPDATES[style](module, cfg.lr, optimizer, {})
    if cfg.steps:
        record.stage("equal_after_step")
        after = equal_across([digest(full_value(resolve(module, r))) for r in refs])
        for r, equal in zip(refs, after):
            columns[r.path]["dist_equal_after_step"] = equal
        record.write()


def main(argv: List[str]) -> int:
    folder, rank = Path(argv[0]), int(argv[1])
    # the spec comes through the pipe the job process holds, pickled by it (runner.probes.distributed._spec)
    spec = pickle.loads(sys.stdin.buffer.read())  # from the job process's pipe, not from disk
    exit_with_parent(spec["parent_pid"])
    record = Record(folder, rank)
    record.write()
    try:
        measure(spec, rank, record)
    except BaseException as exc:  # noqa: BLE001 - every failure is the rank's recorded outcome
        record.data["error"] = exception_text(exc)
        record.write()
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown racing gloo's threads: the outcome is already written
