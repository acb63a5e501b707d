"""Ctrl-C during a sweep: finish the current job, launch no more, say how to resume."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

requested = False           # set by the first Ctrl-C
sweep_dir: Optional[str] = None


def _handler(signum, frame) -> None:
    global requested
    if requested:  # a second Ctrl-C aborts at once
        raise KeyboardInterrupt
    requested = True
    print("\ntensorprobe: Ctrl-C: stopping after the current job (press again to abort now)", file=sys.stderr,
          flush=True)


@contextmanager
def stop_after_current_job(directory: str) -> Iterator[None]:
    """While active, the first SIGINT only sets `requested`; launchers check it between jobs."""
    global sweep_dir
    sweep_dir = directory
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def resume_hint() -> str:
    return (f"tensorprobe: interrupted: finished jobs are kept in {sweep_dir}; run the same command with "
            f"hydra.sweep.dir={sweep_dir} to finish the rest")
