"""Plan a sweep in a forked child while this process imports what its jobs need.

Planning a sweep (composing and hashing every job's config) and `import torch` are
both about a second of pure Python, and the first job can start only after both.
With a second core they can run at once: a forked child plans and sends the result
back through a pipe, while this process imports the job code. Anything that goes
wrong in the child (a composition error, an interrupt, a result that does not
pickle) returns None, and the caller plans in-process as before, so errors and
results are exactly those of planning in-process.

Only on Linux (fork is the platform's default there; macOS and Windows spawn),
and only before torch is imported: a fork after torch has started its thread pools
is what PyTorch warns against.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Any, Callable, Optional


def possible() -> bool:
    """Forking helps and is safe here: Linux, more than one core, torch not imported yet."""
    return sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1 and "torch" not in sys.modules


def run(plan: Callable[[], Any], warm: Callable[[], None]) -> Optional[Any]:
    """plan() in a forked child, warm() here meanwhile; plan()'s result, or None if the child failed."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    sys.stdout.flush()
    sys.stderr.flush()
    child = ctx.Process(target=_child, args=(plan, sender), daemon=True, name="tensorprobe-plan")
    child.start()
    sender.close()
    try:
        try:
            warm()
        except Exception:  # noqa: BLE001 - the job that needs it raises it again, in its own place
            pass
        return receiver.recv()
    except (EOFError, OSError):
        return None
    finally:
        receiver.close()  # a child still sending gets a broken pipe and exits
        child.join()


def _child(plan: Callable[[], Any], sender) -> None:
    try:
        result = plan()
    except BaseException:  # noqa: BLE001 - incl. KeyboardInterrupt: the parent plans (or stops) itself
        result = None
    try:
        sender.send(result)
    except BaseException:  # noqa: BLE001 - e.g. a config that does not pickle: the parent plans itself
        pass
    finally:
        sender.close()
