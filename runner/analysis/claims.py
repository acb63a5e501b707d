"""Written claims checked against a results table: holds, refuted, depends, untested.

A claim file (conf/claims/*.yaml) holds a list under `claims:`; each claim has
`id`, `statement`, `source`, `where` (filter), optional `unless` (rows to
leave out) and `expect`. A filter or expectation maps a column to a value, a
glob pattern (`onnx_*`) or a list of either (any of them). Booleans may be
written as YAML booleans. Files are read with yaml.safe_load: nothing in them runs.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import pandas as pd
import yaml

from runner.table.csvfile import TableError

VERDICTS = ("holds", "refuted", "depends", "untested")
# Columns tried, in order, to explain a claim that holds for some rows only.
EXPLAINING_COLUMNS = ["export", "update", "optimizer", "device", "declared_as", "persistent", "requires_grad",
                      "dtype", "alias_of", "variant", "seed", "tensor"]


@dataclass
class Claim:
    id: str
    statement: str
    source: str
    where: Dict[str, object]
    expect: Dict[str, object]
    unless: Dict[str, object] = field(default_factory=dict)


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    detail: str
    counterexamples: pd.DataFrame = field(default_factory=pd.DataFrame)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _matches(series: pd.Series, wanted) -> pd.Series:
    options = wanted if isinstance(wanted, list) else [wanted]
    mask = pd.Series(False, index=series.index)
    for option in map(_text, options):
        mask |= series.map(lambda v, o=option: fnmatch.fnmatchcase(v, o))
    return mask


def _select(table: pd.DataFrame, conditions: Dict[str, object]) -> pd.Series:
    mask = pd.Series(True, index=table.index)
    for column, wanted in conditions.items():
        if column not in table.columns:
            raise TableError(f"claim filter names column '{column}', which the table does not have")
        mask &= _matches(table[column], wanted)
    return mask


def load_claims(paths: Sequence[Path]) -> List[Claim]:
    """Read and validate claim files; raise TableError (one line) naming the file and claim."""
    claims: List[Claim] = []
    seen = set()
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise TableError(f"{path}: not a readable claims file ({type(exc).__name__})") from None
        entries = data.get("claims") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise TableError(f"{path}: expected a list under 'claims:'")
        for i, entry in enumerate(entries):
            where = f"{path}: claims[{i}]"
            if not isinstance(entry, dict):
                raise TableError(f"{where}: each claim is a mapping")
            missing = [k for k in ("id", "statement", "where", "expect") if k not in entry]
            unknown = [k for k in entry if k not in ("id", "statement", "source", "where", "expect", "unless")]
            if missing or unknown:
                raise TableError(f"{where}: missing keys {missing}, unknown keys {unknown}; allowed: id, statement, "
                                 "source, where, expect, unless")
            for key in ("where", "expect", "unless"):
                if not isinstance(entry.get(key, {}), dict):
                    raise TableError(f"{where}.{key}: must map columns to values")
            if entry["id"] in seen:
                raise TableError(f"{where}: duplicate claim id '{entry['id']}'")
            seen.add(entry["id"])
            claims.append(Claim(str(entry["id"]), str(entry["statement"]), str(entry.get("source", "")),
                                entry["where"], entry["expect"], entry.get("unless") or {}))
    return claims


def _explain(rows: pd.DataFrame, ok: pd.Series) -> str:
    """A column whose every value either always holds or always fails, e.g. 'holds for export=onnx_legacy'."""
    for column in EXPLAINING_COLUMNS:
        if column not in rows.columns or rows[column].nunique() < 2:
            continue
        by_value = ok.groupby(rows[column]).agg(["all", "any"])
        if ((by_value["all"]) | (~by_value["any"])).all():
            holds = sorted(by_value.index[by_value["all"]])
            fails = sorted(by_value.index[~by_value["any"]])
            return f"holds for {column}={','.join(holds)}; fails for {column}={','.join(fails)}"
    return ""


def judge(claim: Claim, table: pd.DataFrame) -> Verdict:
    """Verdict from the rows the claim's filter selects (status=ok rows only)."""
    ok_rows = table[table["status"] == "ok"] if "status" in table.columns else table
    selected = _select(ok_rows, claim.where)
    if claim.unless:
        selected &= ~_select(ok_rows, claim.unless)
    rows = ok_rows[selected]
    if rows.empty:
        need = ", ".join(f"{k}={v}" for k, v in claim.where.items())
        return Verdict(claim, "untested", f"no rows match; run a sweep that includes {need}")
    holds = _select(rows, claim.expect)
    failing = rows[~holds]
    expected = ", ".join(f"{k}={_text(v) if not isinstance(v, list) else '|'.join(map(_text, v))}"
                         for k, v in claim.expect.items())
    if failing.empty:
        return Verdict(claim, "holds", f"{len(rows)} rows match, all with {expected}")
    shown = failing[["job", "tensor"] + [c for c in claim.expect if c not in ("job", "tensor")]]
    example = shown.iloc[0]
    found = ", ".join(f"{c}={example[c]}" for c in claim.expect)
    if holds.any():
        why = _explain(rows, holds)
        if why:
            return Verdict(claim, "depends", f"{why} ({len(failing)} of {len(rows)} rows fail)", shown)
    return Verdict(claim, "refuted", f"{len(failing)} of {len(rows)} rows fail, e.g. {example['job']} / "
                   f"{example['tensor']}: {found} (expected {expected})", shown)


def judge_all(claims: Sequence[Claim], table: pd.DataFrame) -> List[Verdict]:
    return [judge(c, table) for c in claims]


def verdict_frame(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """claims.csv: id, source, statement, verdict, detail."""
    return pd.DataFrame([{"id": v.claim.id, "source": v.claim.source, "statement": v.claim.statement,
                          "verdict": v.verdict, "detail": v.detail} for v in verdicts],
                        columns=["id", "source", "statement", "verdict", "detail"])
