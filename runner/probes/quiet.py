"""Keep exporters' progress chatter and warnings off the terminal, and in the job's log file."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from typing import Iterator

log = logging.getLogger("tensorprobe.export")
job_label = ""          # set by the pipeline: the job a status line is about
_terminal = [None]      # inside quiet(): a duplicate of the terminal's stderr


def status(text: str) -> None:
    """One line on the terminal (also from inside quiet()): where a long job is, e.g. the provenance count."""
    line = f"  {job_label}: {text}\n" if job_label else f"  {text}\n"
    if _terminal[0] is None:
        sys.stderr.write(line)
        sys.stderr.flush()
    else:
        os.write(_terminal[0], line.encode())


def _console_handlers(logger: logging.Logger):
    return [h for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]


class _Printed(io.StringIO):
    """Python-level prints; fileno() is fd 2, which points at the sink meanwhile (exporters ask it
    whether they write to a terminal)."""

    def fileno(self) -> int:
        return 2

    def isatty(self) -> bool:
        return False

    def close(self) -> None:  # a handler torch re-initialises closes its stream: keep what was printed
        pass


def _other_loggers():
    return [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Redirect fds 1/2 (C++ prints) and sys.stdout/sys.stderr (Python prints: in a Jupyter kernel
    they are not fd 1/2) to one sink, record warnings, mute the root logger's console handlers and
    point other loggers' (torch's own) at the sink; log it all to file."""
    root = logging.getLogger()
    muted = _console_handlers(root)
    for h in muted:
        root.removeHandler(h)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        _terminal[0] = saved[1]
        stream = _Printed()
        retargeted = {}  # handler -> its stream (a handler shared by several loggers is retargeted once)
        consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        for h in (h for lg in _other_loggers() for h in _console_handlers(lg)):
            if h not in retargeted and any(h.stream is c for c in consoles):
                retargeted[h] = h.setStream(stream)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield
        finally:
            _terminal[0] = None
            for h, previous in retargeted.items():
                h.setStream(previous)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text = (sink.read().decode("utf-8", "replace") + stream.getvalue()).strip()
            if text:
                log.info("exporter output:\n%s", text)
            for w in caught:
                log.info("exporter warning: %s: %s", w.category.__name__, w.message)
            for h in muted:
                root.addHandler(h)
