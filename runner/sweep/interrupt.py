"""Ctrl-C during a sweep: finish the current job, launch no more, say how to resume.

The state is reset when a sweep starts (and by the app), so nothing carries over between sweeps
run in one process.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass
class InterruptState:
    requested: bool = False          # set by the first Ctrl-C of the running sweep
    sweep_dir: Optional[str] = None  # the sweep it interrupted

    def reset(self) -> None:
        self.requested, self.sweep_dir = False, None


state = InterruptState()


def _handler(signum, frame) -> None:
    if state.requested:  # a second Ctrl-C aborts at once
        raise KeyboardInterrupt
    state.requested = True
    print("\ntensorprobe: Ctrl-C: stopping after the current job (press again to abort now)", file=sys.stderr,
          flush=True)


@contextmanager
def stop_after_current_job(directory: str) -> Iterator[None]:
    """While active, the first SIGINT only sets `state.requested`; launchers check it between jobs."""
    state.reset()
    state.sweep_dir = directory
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def resume_hint() -> str:
    return (f"tensorprobe: interrupted: finished jobs are kept in {state.sweep_dir}; run the same command with "
            f"hydra.sweep.dir={state.sweep_dir} to finish the rest")
