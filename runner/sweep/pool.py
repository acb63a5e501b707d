"""`hydra.launcher.n_jobs=N`: jobs in N worker processes forked once torch and the exporters are warm.

A fresh interpreter per worker (Hydra's joblib launcher uses loky) imports torch and warms every
exporter again, and that is most of a small job's time. Here the launcher's own process imports
torch, onnx, onnxruntime and runs a tiny export with each exporter the batch uses, then forks the
workers: they start with all of it done. Each worker runs jobs exactly as the in-process launcher
does (same job directory, files and rows), one thread each.

Only CPU jobs go to the pool: a process forked after CUDA is initialised cannot use it, so jobs on
cuda/mps (or `auto` where an accelerator is present) run in this process once the pool is done.
A worker that dies (killed, out of memory, a crash in native code) makes its job a `failed` row;
the other jobs go on in a new pool.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

log = logging.getLogger(__name__)

# What a forked worker runs each job with; set in this process just before the workers are forked.
_WORKER_RUN: Optional[Callable[[Any], Any]] = None


def possible() -> bool:
    """Fork is the start method that shares a warm interpreter: Linux only (macOS and Windows spawn)."""
    return sys.platform.startswith("linux")


def accelerator_present() -> bool:
    """Whether `device=auto` would pick an accelerator, asked without initialising CUDA (NVML's count):
    this process forks its workers afterwards."""
    import torch
    previous = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    try:
        cuda = torch.cuda.is_available()
    finally:
        if previous is None:
            os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
        else:
            os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = previous
    mps = getattr(torch.backends, "mps", None)
    return cuda or bool(mps is not None and mps.is_available())


@contextlib.contextmanager
def _cuda_hidden() -> Iterator[None]:
    """torch.cuda as a machine without a GPU shows it, in this process, while warming up: TorchDynamo
    saves the CUDA RNG state when CUDA is available, which initialises CUDA, and no process forked
    after that can use CUDA ('Cannot re-initialize CUDA in forked subprocess', measured on an H200)."""
    import torch
    saved = torch.cuda.is_available, torch.cuda.device_count
    torch.cuda.is_available, torch.cuda.device_count = (lambda: False), (lambda: 0)
    try:
        yield
    finally:
        torch.cuda.is_available, torch.cuda.device_count = saved


def fork_safe() -> bool:
    """Whether workers forked now can run torch: CUDA is not initialised in this process."""
    import torch
    return not torch.cuda.is_initialized()


def warm_up(exporters: Iterable[str]) -> None:
    """Import the job code and run each exporter once on a tiny module (their first call imports and
    builds most of what every later call needs), without initialising CUDA."""
    import torch

    import runner.job.pipeline  # noqa: F401 - torch and the probes
    from runner.probes.quiet import quiet
    module, x = torch.nn.Linear(2, 2).eval(), torch.randn(1, 2)
    exporters = set(exporters)
    with quiet(), _cuda_hidden():
        if exporters & {"onnx_dynamo", "onnx_legacy"}:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        for exporter in sorted(exporters):
            try:
                if exporter == "torch_export":
                    torch.export.export(module, (x,))
                elif exporter in ("onnx_dynamo", "onnx_legacy"):
                    import tempfile
                    with tempfile.TemporaryDirectory() as tmp:
                        torch.onnx.export(module, (x,), f"{tmp}/warm.onnx", dynamo=exporter == "onnx_dynamo")
            except Exception as exc:  # noqa: BLE001 - the jobs that use it will record their own error
                log.debug("warming %s failed: %s", exporter, exc)


def _worker_init() -> None:
    """In each forked worker: Ctrl-C is the launcher's to handle; one intra-op thread per worker; no GPU
    (workers run CPU jobs only: hiding CUDA keeps each from creating a CUDA context of its own)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # torch.cuda.is_available() is then False, asked through NVML
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # without touching the CUDA runtime this process inherited
    import torch
    torch.set_num_threads(1)
    from runner.sweep import progress
    progress.current = None  # progress lines are printed by the launcher's process


def _work(payload: Any) -> Any:
    return _WORKER_RUN(payload)


class WarmPool:
    """Runs payloads in forked workers; `died(payload)` gives the result of one whose worker died."""

    def __init__(self, n_jobs: int, run: Callable[[Any], Any], died: Callable[[Any, str], Any]) -> None:
        self.n_jobs, self.run, self.died = n_jobs, run, died

    def _executor(self, workers: int) -> ProcessPoolExecutor:
        global _WORKER_RUN
        _WORKER_RUN = self.run
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_worker_init)

    def map(self, payloads: List[Tuple[int, Any]], stop: Callable[[], bool],
            done: Callable[[int, Any], None]) -> Dict[int, Any]:
        """{idx: result} of every payload started before stop() became true; done(idx, result) as each ends."""
        results: Dict[int, Any] = {}
        pending = deque(payloads)
        while pending and not stop():
            suspects = self._run_until_broken(pending, stop, results, done)
            for idx, payload in suspects:  # a worker died: find which job killed it, one at a time
                alone = self._run_until_broken(deque([(idx, payload)]), lambda: False, results, done, workers=1)
                if alone:
                    results[idx] = self.died(payload, "BrokenProcessPool: the worker process running this job "
                                                      "died (killed, out of memory, or a crash in native code)")
                    done(idx, results[idx])
        return results

    def _run_until_broken(self, pending, stop, results, done, workers: Optional[int] = None) -> List[Tuple[int, Any]]:
        """Run pending payloads until they are done or the pool breaks; returns the payloads in flight
        when it broke (one of them killed its worker)."""
        in_flight: Dict[Any, Tuple[int, Any]] = {}
        broken: List[Tuple[int, Any]] = []
        executor = self._executor(workers or self.n_jobs)
        try:
            while (pending or in_flight) and not broken:
                while pending and len(in_flight) < (workers or self.n_jobs) and not stop():
                    idx, payload = pending.popleft()
                    in_flight[executor.submit(_work, payload)] = (idx, payload)
                if not in_flight:
                    break
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in finished:
                    idx, payload = in_flight.pop(future)
                    try:
                        results[idx] = future.result()
                    except BrokenProcessPool:
                        broken.append((idx, payload))
                        continue
                    except Exception as exc:  # noqa: BLE001 - a defect of ours must not end the other jobs
                        results[idx] = self.died(payload, f"tensorprobe: {type(exc).__name__}: {exc}")
                    done(idx, results[idx])
            if broken:  # every job still in flight is lost with the pool
                broken += list(in_flight.values())
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return sorted(broken, key=lambda item: item[0])
