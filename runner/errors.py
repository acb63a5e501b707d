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

    def __reduce__(self):  # pickles (a sweep planned in a forked child sends its errors back)
        return (ConfigError, (self.where, self.message))


# Terminal escape sequences (colours, cursor moves, OSC titles/links) that exporters put in their messages.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")


def one_line(text: str) -> str:
    """Collapse a multi-line message (Hydra and OmegaConf write several) into one line, without
    terminal escape sequences (the table holds text, not colours)."""
    return re.sub(r"\s+", " ", _ANSI.sub("", str(text))).strip()


def exception_text(exc: BaseException) -> str:
    """``ExceptionType: message`` on one line, as the results table records errors."""
    return one_line(f"{type(exc).__name__}: {exc}")


def describe_exception(exc: BaseException) -> str:
    """One line for an error raised while composing or running, chosen by the exception's type: an
    unknown group option lists the allowed ones; a composition error names the file (or override),
    the key and OmegaConf's message; anything else is `ExceptionType: message`."""
    from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options is not None:
        group = exc.missing_cfg_file.rpartition("/")[0] or exc.missing_cfg_file
        return (f"unknown option '{exc.missing_cfg_file}'; allowed in group {group}: "
                f"{', '.join(sorted(exc.options))}")
    if isinstance(exc, ConfigError):
        return one_line(str(exc))
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ConfigCompositionException) and isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", "") or ""
        message = str(cause).split("full_key:")[0].strip()
        in_file = re.match(r"In '([^']+)': ", str(exc))  # Hydra names the config file only in its text
        where = f"{in_file.group(1)}.yaml" if in_file else str(exc).split("\n")[0].rstrip(".")
        return one_line(f"{where}: {key + ': ' if key else ''}{message}{allowed_keys(message)}")
    if isinstance(exc, (HydraException, OmegaConfBaseException)):
        return one_line(str(exc))
    return exception_text(exc)


def allowed_keys(text: str) -> str:
    """For "Key 'x' not in 'SomeConfig'": `; allowed: <the keys that schema class accepts>`, else ""."""
    from dataclasses import fields

    from runner import schema
    m = re.search(r"Key '[^']+' not in '(\w+)'", text)
    cls = getattr(schema, m.group(1), None) if m else None
    return f"; allowed: {', '.join(f.name for f in fields(cls))}" if cls is not None else ""
