"""distributed=ddp|fsdp2: which tensors stay equal across ranks under DistributedDataParallel or FSDP2.

The job process spawns `distributed.world_size` rank processes (runner.probes.distributed_rank; new
interpreters, never forks, so it works the same in-process, in the warm pool and inside a SLURM job)
and holds the gloo rendezvous: a TCPStore on 127.0.0.1 with a port the OS picks, so no other job can
take it. Each rank builds the module with `seed + rank` and its own inputs, which makes what the
wrapper synchronises visible. The job waits at most `distributed.timeout_s`; once a rank has failed the
others get a few seconds to record their own error; then every rank left is killed (its whole process
group) and its cells say why. Nothing survives the job: the processes are killed and reaped, the
store closed, the temporary folder removed, and a rank exits by itself when the job process is gone.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from runner.errors import exception_text
from runner.probes.discover import TensorRef
from runner.probes.distributed_rank import COLUMNS

log = logging.getLogger("tensorprobe")
GRACE_S = 5.0  # after one rank failed, how long the others may take to record their own error


def distributed_outcomes(cfg: Any, refs: List[TensorRef], device: Any, build: Callable[[int], Any],
                         inputs: Callable[[int, Any], Any], make_optimizer: Callable[[list], Any]) -> Dict[str, dict]:
    """`build(seed)`, `inputs(seed, device)` and `make_optimizer(params)` are sent to the ranks (pickled:
    module-level functions, partials, classes).

    Per path: dist_wrapped_as, dist_equal_at_start, dist_equal_in_forward, dist_grad_equal,
    dist_equal_after_step (empty where the run stopped before measuring them) and dist_error (one line
    for the job: the ranks' exceptions, a rank's death or the timeout)."""
    out = {r.path: {**{c: None for c in COLUMNS}, "dist_error": ""} for r in refs}
    with tempfile.TemporaryDirectory(prefix="tensorprobe-dist-") as tmp:
        try:
            parts = {"build": build, "inputs": inputs, "make_optimizer": make_optimizer}
            records, error = _run_ranks(cfg, refs, device, parts, Path(tmp))
        except Exception as exc:  # noqa: BLE001 - e.g. a module factory that cannot be pickled
            records, error = [], f"the ranks could not be started: {exception_text(exc)}"
    measured = max(records, key=lambda rec: sum(v is not None for c in rec["columns"].values() for v in c.values()),
                   default=None)
    for path, row in out.items():
        if measured is not None:
            row.update({c: v for c, v in measured["columns"].get(path, {}).items() if c in COLUMNS})
        row["dist_error"] = error
    return out


def _spec(cfg: Any, refs: List[TensorRef], device: Any, parts: Dict[str, Any], port: int) -> bytes:
    """What every rank needs, pickled here and written to its stdin (a pipe only this process holds, as
    multiprocessing's spawn sends its process objects): no file anyone else could plant."""
    spec = {"cfg": cfg, "paths": [r.path for r in refs], "device": str(device), "port": port,
            "parent_pid": os.getpid(), **parts}
    try:
        return pickle.dumps(spec)
    except Exception as exc:
        raise TypeError(f"the module, its inputs or the optimizer cannot be sent to the rank processes "
                        f"({exception_text(exc)}); allowed: classes importable by name (a _target_, or a class "
                        "in a module file)") from None


def _environment() -> Dict[str, str]:
    """The job's import path for the ranks (the project, the user's modules), as spawn passes it."""
    env = dict(os.environ)
    paths = [p if p else os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if os.path.isdir(p)))
    return env


def _run_ranks(cfg: Any, refs: List[TensorRef], device: Any, parts: Dict[str, Any], folder: Path):
    import torch.distributed as dist
    d = cfg.distributed
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                          timeout=timedelta(seconds=d.timeout_s))
    procs: List[subprocess.Popen] = []
    logs = [folder / f"rank{rank}.log" for rank in range(d.world_size)]
    try:
        spec = _spec(cfg, refs, device, parts, store.port)
        env = _environment()
        for rank in range(d.world_size):
            with open(logs[rank], "wb") as sink:
                procs.append(subprocess.Popen([sys.executable, "-m", "runner.probes.distributed_rank", str(folder),
                                               str(rank)], stdin=subprocess.PIPE, stdout=sink,
                                              stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
                                              start_new_session=True))
            try:
                procs[-1].stdin.write(spec)
                procs[-1].stdin.close()
            except BrokenPipeError:  # the rank died before reading: its exit code says so
                pass
        timed_out = _wait(procs, d.timeout_s)
    finally:
        stopped = [p.poll() is None for p in procs]  # still running: killed by the job, not dead by itself
        for p in procs:
            _kill(p)
        del store
    records = [_read(folder / f"rank{rank}.json") for rank in range(d.world_size)]
    error = _error(procs, records, stopped, timed_out, d.timeout_s)
    if error:
        for rank, path in enumerate(logs):
            tail = path.read_text(errors="replace")[-4000:] if path.exists() else ""
            log.info("distributed rank %d output:\n%s", rank, tail)
    return [r for r in records if r is not None], error


def _wait(procs: List[subprocess.Popen], timeout_s: float) -> bool:
    """Until every rank exited, or the timeout (True), or GRACE_S after the first failed rank."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return False
        if any(c not in (None, 0) for c in codes):
            deadline = min(deadline, time.monotonic() + GRACE_S)
            while time.monotonic() < deadline and any(p.poll() is None for p in procs):
                time.sleep(0.05)
            return False
        time.sleep(0.05)
    return any(p.poll() is None for p in procs)


def _kill(p: subprocess.Popen) -> None:
    """The rank and anything it started (its own process group), reaped."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _error(procs: List[subprocess.Popen], records: List[Optional[dict]], stopped: List[bool], timed_out: bool,
           timeout_s: float) -> str:
    """One line: what stopped the ranks (deaths first: they cause the others' errors), '' when all finished."""
    if records and all(r is not None and r["done"] for r in records):
        return ""
    deaths, killed, errors = [], [], {}
    for rank, (p, rec, ours) in enumerate(zip(procs, records, stopped)):
        stage = rec["stage"] if rec else "start"
        if rec and rec["error"]:  # the same error on every rank but for its number: said once
            same = re.sub(r"\brank \d+", "rank N", f"at {stage}: {rec['error']}")
            errors.setdefault(same, (f"at {stage}: {rec['error']}", []))[1].append(rank)
        elif ours:
            killed.append(f"{rank} (at {stage})")
        elif p.returncode < 0:
            deaths.append(f"rank {rank} killed by signal {signal.Signals(-p.returncode).name} at {stage}")
        elif p.returncode:
            deaths.append(f"rank {rank} exited with code {p.returncode} at {stage}")
    parts = deaths
    if killed:
        why = f"timed out after {timeout_s:g} s (distributed.timeout_s)" if timed_out else "another rank failed"
        parts.append(f"{why}: killed rank {', '.join(killed)}")
    parts += [f"rank{'s' if len(ranks) > 1 else ''} {','.join(map(str, ranks))} {text}"
              for text, ranks in errors.values()]
    return "; ".join(parts) or "the ranks ended without recording their outcomes"
