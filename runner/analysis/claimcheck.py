"""Check a claim's conditions against the table's own vocabulary, so a typo is an error, not a verdict.

`expect: {export_role: constnat}` would otherwise be judged (and refuted), `expect: {in_statedict: true}`
reported untested. Columns come from runner.table.columns (COLUMNS and VALUES, the source docs/columns.md
describes), options of the job key from the schema and the config groups in conf/. Each error is one line
with the closest allowed names ("did you mean").
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import fields
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from runner import schema
from runner.schema import GROUPS, OPTIONAL_GROUPS, Config
from runner.table.columns import COLUMNS, FLOAT, INT, VALUES

OPEN_GROUPS = ("variant", "optimizer")  # their dotted keys are the module's / optimizer's own keywords
_GROUP_CLASSES = {"update": schema.UpdateConfig, "device": schema.DeviceConfig, "export": schema.ExportConfig}


def _suggest(word: str, allowed: Sequence[str]) -> str:
    near = difflib.get_close_matches(word, list(allowed), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def group_options(group: str) -> List[str]:
    """The options of a config group: the names of conf/<group>/*.yaml (the config tree this package uses)."""
    import runner
    folder = Path(runner.CONFIG_DIR) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def check_column(name: str) -> Optional[str]:
    """Why `name` cannot be a claim's column, or None: a table column, a plain key, or a key of the job key."""
    if name in COLUMNS or name in {f.name for f in fields(Config)} or name in ("+experiment", "experiment"):
        return None
    bare = name.lstrip("+~")
    head, _, rest = bare.partition(".")
    if rest and head in OPEN_GROUPS:
        return None
    if rest and head in _GROUP_CLASSES:
        allowed = [f.name for f in fields(_GROUP_CLASSES[head])]
        field_name = rest.split(".")[0]
        if field_name in allowed:
            return None
        return f"unknown option '{name}'{_suggest(field_name, allowed)}; allowed under {head}.: {', '.join(allowed)}"
    known = list(COLUMNS) + [f.name for f in fields(Config)]
    return (f"unknown column '{name}'{_suggest(name, known)}; allowed: a column of docs/columns.md, a top-level key "
            f"(steps, lr, ...) or an option of the job key (export.opset_version, variant.model._target_, ...)")


def _is_number(text: str, kind: str) -> bool:
    try:
        int(text) if kind == INT else float(text)
    except ValueError:
        return False
    return True


def check_value(column: str, value: object) -> Optional[str]:
    """Why `value` can never appear in `column`, or None. Lists are checked value by value; a glob pattern
    must match an allowed value; "" (not measured / empty) is always allowed."""
    for wanted in (value if isinstance(value, list) else [value]):
        if isinstance(wanted, (dict, list)):
            return f"{column}: {wanted!r} is not a value (allowed: a value, a glob pattern or a list of them)"
        text = ("true" if wanted else "false") if isinstance(wanted, bool) else ("" if wanted is None else str(wanted))
        if text == "":
            continue
        allowed = VALUES.get(column)
        if allowed is None and (column in GROUPS or column in OPTIONAL_GROUPS):
            allowed = tuple(group_options(column)) or None
        if allowed is None:
            continue
        if allowed in (INT, FLOAT):
            if not _is_number(text, allowed):
                return f"{column}: '{text}' is not a number (allowed: {'an integer' if allowed == INT else 'a number'})"
            continue
        if any(ch in text for ch in "*?[") and fnmatch.filter(allowed, text):
            continue
        if text not in allowed:
            return f"{column}: unknown value '{text}'{_suggest(text, allowed)}; allowed: {', '.join(allowed)}"
    return None


def check_conditions(conditions: Dict[str, object], where: str) -> Optional[str]:
    """The first problem of a where/unless/expect mapping, as `<where>.<column>: ...`, or None."""
    for column, value in conditions.items():
        problem = check_column(str(column))
        if problem is None:
            problem = check_value(str(column), value)
            if problem is not None:
                problem = problem.split(": ", 1)[1]
        if problem is not None:
            return f"{where}.{column}: {problem}"
    return None

