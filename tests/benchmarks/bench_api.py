"""Repeated `tp.probe` calls in one process, as a notebook makes them (not a test): does a call get
slower, or the process bigger, the more calls it has made?

    python tests/benchmarks/bench_api.py [CALLS]   # default 200

Each call is `tp.probe(nn.Linear(3, 2), torch.randn(4, 3))` (the instance is made anew, like a cell run
again). Prints the time of calls 1, 2, 100 and the last, the median time of the first and the last
tenth of the calls, and the resident set size (VmRSS) after calls 1, 100 and the last, plus the
Python objects tracked by the garbage collector at those points.
"""
from __future__ import annotations

import gc
import statistics
import sys
import time


def rss_mib() -> float:
    """Resident set size of this process (Linux /proc; elsewhere the peak, from resource)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(calls: int = 200) -> None:
    import torch
    from torch import nn

    import runner as tp
    times, marks = [], {}
    for i in range(1, calls + 1):
        model, x = nn.Linear(3, 2), torch.randn(4, 3)
        started = time.perf_counter()
        frame = tp.probe(model, x)
        times.append(time.perf_counter() - started)
        assert list(frame["status"]) == ["ok", "ok"], frame[["status", "reason"]]
        if i in (1, 100, calls):
            gc.collect()
            marks[i] = (rss_mib(), len(gc.get_objects()))
    tenth = max(1, calls // 10)
    print(f"{calls} calls of tp.probe(nn.Linear(3, 2), torch.randn(4, 3)), torch {torch.__version__}")
    print("seconds per call: " + ", ".join(f"#{i}: {times[i - 1]:.3f}" for i in sorted({1, 2, 100, calls})
                                            if i <= calls))
    print(f"median seconds per call: calls 2-{tenth + 1}: {statistics.median(times[1:tenth + 1]):.4f}, "
          f"last {tenth}: {statistics.median(times[-tenth:]):.4f}")
    print("RSS after call: " + ", ".join(f"#{i}: {m[0]:.1f} MiB" for i, m in marks.items()))
    print("gc-tracked objects after call: " + ", ".join(f"#{i}: {m[1]}" for i, m in marks.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
