"""What a running sweep tells the app when it ends: Ctrl-C (finish the current job, launch no more),
and jobs a launcher could not run or bring back. The app turns either into one line and an exit status.

The state is reset when a sweep starts (and by the app), so nothing carries over between sweeps
run in one process.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional


@dataclass
class SweepState:
    requested: bool = False          # set by the first Ctrl-C of the running sweep
    sweep_dir: Optional[str] = None  # the running sweep's directory
    unfinished: List[str] = field(default_factory=list)  # "#idx: reason" of jobs a launcher did not bring back
    total: int = 0                   # jobs the sweep launched
    on_interrupt: List[Callable[[], None]] = field(default_factory=list)  # e.g. cancel a scheduler's jobs

    def reset(self) -> None:
        self.__init__()


state = SweepState()


def _handler(signum, frame) -> None:
    if state.requested:  # a second Ctrl-C aborts at once
        raise KeyboardInterrupt
    state.requested = True
    if state.on_interrupt:  # jobs already queued elsewhere (a scheduler): cancel them, they will not finish
        print("\ntensorprobe: Ctrl-C: cancelling the sweep's queued and running jobs", file=sys.stderr, flush=True)
        for cancel in state.on_interrupt:
            cancel()
        return
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
    """One line: where the finished jobs are, and the command that runs the rest (from multirun.yaml)."""
    from runner.analysis.command import resume_command
    command = resume_command(state.sweep_dir)
    return (f"tensorprobe: interrupted: finished jobs are kept in {state.sweep_dir}; run the same command with "
            f"hydra.sweep.dir={state.sweep_dir} to finish the rest{': ' + command if command else ''}")


def unfinished_line() -> str:
    """One line for jobs that did not finish (the table holds the others, with their failed rows)."""
    return (f"tensorprobe: error: {len(state.unfinished)} of {state.total} jobs did not finish "
            f"({state.unfinished[0]}); their rows say failed; run the same command with "
            f"hydra.sweep.dir={state.sweep_dir} to run them again")
