"""One-line errors for bad input.

Users get ``tensorprobe: error: <where>: <what>; allowed: <what is>`` and a
non-zero exit, never a traceback (set HYDRA_FULL_ERROR=1 to get one).
"""
from __future__ import annotations

import re


class ConfigError(ValueError):
    """A config value that the schema cannot express as invalid (cross-field checks)."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


# Terminal escape sequences (colours, cursor moves, OSC titles/links) that exporters put in their messages.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")


def one_line(text: str) -> str:
    """Collapse a multi-line message (Hydra and OmegaConf write several) into one line, without
    terminal escape sequences (exporters colour their errors)."""
    return re.sub(r"\s+", " ", _ANSI.sub("", str(text))).strip()


def exception_text(exc: BaseException) -> str:
    """``ExceptionType: message`` on one line, as the results table records errors."""
    return one_line(f"{type(exc).__name__}: {exc}")


def describe_exception(exc: BaseException) -> str:
    """One line for an error raised while composing or running: Hydra's message plus its OmegaConf cause."""
    text = str(exc)
    missing = re.search(r"Could not find '([^']+)'.*?Available options in '([^']+)':\n((?:\t[^\n]*\n?)*)", text, re.S)
    if missing:
        options = ", ".join(missing.group(3).split())
        return f"unknown option '{missing.group(1)}'; allowed in group {missing.group(2)}: {options}"
    composing = re.match(r"In '([^']+)': \w+ raised while composing config:\s*(.*?)\s*full_key: (\S+)", text, re.S)
    if composing:
        return one_line(f"{composing.group(1)}.yaml: {composing.group(3)}: {composing.group(2)}{_allowed_keys(text)}")
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith("omegaconf"):
        key = getattr(cause, "full_key", "")
        msg = str(cause).split("full_key:")[0]
        text = f"{text}: {key + ': ' if key else ''}{msg}{_allowed_keys(msg)}"
    if isinstance(exc, ConfigError) or type(exc).__module__.startswith(("hydra", "omegaconf")):
        return one_line(text)
    return exception_text(exc)


def _allowed_keys(text: str) -> str:
    """For "Key 'x' not in 'SomeConfig'": the keys that schema class does accept."""
    from dataclasses import fields

    from . import schema
    m = re.search(r"Key '[^']+' not in '(\w+)'", text)
    cls = getattr(schema, m.group(1), None) if m else None
    return f"; allowed: {', '.join(f.name for f in fields(cls))}" if cls is not None else ""
