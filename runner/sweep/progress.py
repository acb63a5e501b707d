"""One progress line per finished job (index/total, choices, time, ETA) for launchers that run jobs in-process."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Progress:
    total: int
    done: int = 0
    started: float = field(default_factory=time.perf_counter)

    def job_done(self, label: str, status: str, seconds: float) -> str:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        line = (f"[{self.done}/{self.total}] {label}: {status} ({seconds:.2f} s) "
                f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")
        print(line, file=sys.stderr, flush=True)
        return line


current: Optional[Progress] = None  # set by the sweeper, read by the job-end callback (same process only)
