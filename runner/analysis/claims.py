"""Written claims judged against a results table: holds, refuted, depends, untested.

A claim file (conf/claims/*.yaml) holds a list under `claims:`; each claim has
`id`, `statement`, `source`, `where` (the rows it is about), optional `unless`
(rows to leave out: a mapping, or a list of mappings of which any leaves a row
out) and `expect` (what those rows must show). A condition maps a column to a
value, a glob pattern (`onnx_*`) or a list of either (any of them). Booleans
may be written as YAML booleans, `""` means an empty cell. A column may also be
an option of the job key that the table has no column for (`steps`, `lr`,
`export.opset_version`): plain keys read as their schema default when a job's
key does not name them, dotted keys as empty. Files are read with
yaml.safe_load: nothing in them runs.

Which rows count (only what was measured is evidence):
- only rows of jobs whose status is `ok` or `partial`; rows of `failed`,
  `skipped` and `config_error` jobs never count;
- a row is *matching* when every `where` condition holds and no `unless`
  applies. A condition on a cell the job did not measure (empty in a `partial`
  row, a `*_error` column of a `partial` row, or a cell holding `error`, such as
  `export_role=error`, when the condition does not accept `error`) can neither
  hold nor fail: such a row is *not measured*;
- a matching row *counts* when every expected column was measured in it:
  non-empty and not an unaccepted `error`. An empty cell is a measured value
  only in an `ok` row, for a claim that expects it empty, and (export columns)
  when the job exported. Tensor properties (declared_as, persistent, alias_of,
  ...) and options are always measured.

Verdicts, from the counted rows:
- `untested`: none (the detail says why: a column the table lacks, no row
  matching the filter, or which stage left the matching rows unmeasured);
- `holds`: every counted row shows what is expected;
- `depends`: some fail, and the rows of each combination of swept options
  (config groups, seed, keys of the job key) all agree: the truth of the claim
  is set by the configuration (detail: which options);
- `refuted`: otherwise, including any split by tensor properties or by the
  module (variant): the detail names the tensor property (or property and
  option) that separates failing from passing rows when one does, and gives a
  counterexample.
"""
from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import yaml

from runner.analysis.claimcheck import check_conditions
from runner.schema import GROUPS, PLAIN_KEYS, Config
from runner.table.columns import NOT_MEASURED_VALUES
from runner.table.csvfile import TableError

VERDICTS = ("holds", "refuted", "depends", "untested")
CLAIMS_COLUMNS = ["id", "source", "statement", "where", "expect", "verdict", "detail", "rows", "not_measured"]
RAN = ("ok", "partial")  # statuses whose rows can count
# Set when the module is built and its tensors are listed: measured in every ok/partial row, empty is a value.
# Of those that separate failing from passing rows, the one with the fewest failing values is named; ties go
# to the more general (earlier) one.
PROPERTIES = ["declared_as", "persistent", "requires_grad", "dtype", "in_parameters", "in_buffers",
              "in_state_dict", "has_is_param", "alias_of", "listed_as", "variant", "tensor", "shape"]
# Swept options: config groups (the variant is the module under test, a property of its tensors) and seed.
OPTIONS = [g for g in GROUPS if g != "variant"] + ["seed"]
NOT_EXPLAINING = {"job", "status", "reason", "config_hash", "export_name", "export_file", "loss",
                  "ort_max_abs_diff", "resolved_device", "python_version", "platform", "torch_version",
                  "onnx_version", "onnxruntime_version"}
EXPORT_STAGE = ("mutated_by_export", "ort_max_abs_diff")  # besides every export_* column
_KEY_PART = re.compile(r",(?=[\w.$+~\-]+=)")  # a comma that starts the next `key=` of a job key


@dataclass
class Claim:
    id: str
    statement: str
    source: str
    where: Dict[str, object]
    expect: Dict[str, object]
    unless: object = field(default_factory=dict)  # a mapping or a list of mappings

    @property
    def exclusions(self) -> List[Dict[str, object]]:
        unless = self.unless or {}
        return [u for u in (unless if isinstance(unless, list) else [unless]) if u]


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    detail: str
    rows: int = 0             # counted rows
    not_measured: int = 0     # matching (or possibly matching) rows left out as unmeasured
    counterexamples: pd.DataFrame = field(default_factory=pd.DataFrame)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _options(wanted) -> List[str]:
    return [_text(o) for o in (wanted if isinstance(wanted, list) else [wanted])]


def value_text(wanted) -> str:
    return "|".join(o if o != "" else '""' for o in _options(wanted))


def conditions_text(conditions: Dict[str, object], joiner: str = ", ") -> str:
    return joiner.join(f"{k}={value_text(v)}" for k, v in conditions.items())


def where_text(claim: Claim) -> str:
    """`declared_as=parameter, export=onnx_* unless variant=parameter_frozen and tensor=frozen`."""
    text = conditions_text(claim.where) or "(every row)"
    exclusions = [conditions_text(u, " and ") for u in claim.exclusions]
    if exclusions:
        text += " unless " + " or ".join(f"({e})" if len(exclusions) > 1 else e for e in exclusions)
    return text


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
            for key in ("where", "expect"):
                if not isinstance(entry.get(key), dict):
                    raise TableError(f"{where}.{key}: must map columns to values")
            unless = entry.get("unless") or {}
            if not (isinstance(unless, dict) or (isinstance(unless, list) and all(isinstance(u, dict)
                                                                                 for u in unless))):
                raise TableError(f"{where}.unless: must map columns to values (or be a list of such mappings)")
            if not entry["expect"]:
                raise TableError(f"{where}.expect: names no column")
            for key, conditions in [("where", entry["where"]), ("expect", entry["expect"])] + [
                    (f"unless[{j}]" if isinstance(unless, list) else "unless", u)
                    for j, u in enumerate(unless if isinstance(unless, list) else [unless])]:
                problem = check_conditions(conditions, key)
                if problem:
                    raise TableError(f"{path}: claim '{entry['id']}': {problem}")
            if entry["id"] in seen:
                raise TableError(f"{where}: duplicate claim id '{entry['id']}'")
            seen.add(entry["id"])
            claims.append(Claim(str(entry["id"]), str(entry["statement"]), str(entry.get("source", "")),
                                entry["where"], entry["expect"], unless))
    return claims


class Evidence:
    """A table prepared once for judging many claims: which rows ran, option columns from the job key, and per
    column its distinct values (conditions are evaluated once per distinct value, then spread by numpy)."""

    def __init__(self, table: pd.DataFrame):
        self.table = table.reset_index(drop=True)
        self.n = len(self.table)
        self._coded: Dict[str, Tuple[np.ndarray, List[str]]] = {}
        self._keys: Optional[Dict[str, pd.Series]] = None
        self.ran = self.values_in("status", RAN) if "status" in self.table else np.ones(self.n, bool)
        self.ok = self.values_in("status", ("ok",)) if "status" in self.table else np.ones(self.n, bool)
        self.partial = self.values_in("status", ("partial",)) if "status" in self.table else np.zeros(self.n, bool)
        self.exported = ~self.values_in("export", ("", "none")) if "export" in self.table else np.ones(self.n, bool)

    def key_columns(self) -> Dict[str, pd.Series]:
        """Options named in the job key (plain keys such as steps=2, dotted overrides) that are no table column."""
        if self._keys is None:
            self._keys = {}
            if "job" in self.table:
                parsed = {key: dict(part.partition("=")[::2] for part in _KEY_PART.split(key) if "=" in part)
                          for key in self.table["job"].unique()}
                names = {n for parts in parsed.values() for n in parts} | set(PLAIN_KEYS)
                defaults = {f.name: _default_text(f.default) for f in fields(Config) if f.name in PLAIN_KEYS}
                for name in sorted(names - set(self.table.columns)):
                    by_key = {key: parts.get(name, defaults.get(name, "")) for key, parts in parsed.items()}
                    self._keys[name] = self.table["job"].map(by_key)
        return self._keys

    def column(self, name: str) -> Optional[pd.Series]:
        if name in self.table.columns:
            return self.table[name]
        keys = self.key_columns()
        if name not in keys and name.partition(".")[0] in GROUPS and "." in name:
            keys[name] = pd.Series("", index=self.table.index)  # a group's key that no job of this table set
        return keys.get(name)

    def coded(self, name: str) -> Tuple[np.ndarray, List[str]]:
        if name not in self._coded:
            codes, uniques = pd.factorize(self.column(name), use_na_sentinel=False)
            self._coded[name] = (codes, [str(u) for u in uniques])
        return self._coded[name]

    def values_in(self, name: str, values) -> np.ndarray:
        codes, uniques = self.coded(name)
        return np.array([u in values for u in uniques] + [False], bool)[codes]

    def is_option(self, name: str) -> bool:
        return name in OPTIONS or (name not in self.table.columns and name in self.key_columns())

    def always_measured(self, name: str) -> bool:
        return name in PROPERTIES or self.is_option(name) or name in ("job", "status", "reason")

    def accepted(self, name: str, wanted) -> frozenset:
        """The values of this column that the condition accepts (patterns matched once per distinct value)."""
        options = _options(wanted)
        return frozenset(v for v in set(self.coded(name)[1]) | {"", *NOT_MEASURED_VALUES}
                         if any(fnmatch.fnmatchcase(v, o) for o in options))

    def condition(self, name: str, wanted, expected: bool) -> Tuple[np.ndarray, np.ndarray]:
        """(holds, unmeasured) masks of one condition. `expected`: a column of `expect` (else of where/unless)."""
        accepted = self.accepted(name, wanted)
        holds = self.values_in(name, accepted)
        # `error`: the stage failed to measure it (unless the claim is about that failure)
        unmeasured = self.values_in(name, tuple(v for v in NOT_MEASURED_VALUES if v not in accepted))
        if self.always_measured(name):
            return holds & ~unmeasured, unmeasured
        empty = self.values_in(name, ("",))
        if name.endswith("_error"):  # in a partial row, an earlier stage failed before this one ran or raised
            unmeasured = unmeasured | self.partial
        export_stage = name.startswith("export_") or name in EXPORT_STAGE
        stage_ran = self.exported if export_stage else np.ones(self.n, bool)
        if "" in accepted:  # empty is the value asked for: measured only in an ok row of a stage that ran
            unmeasured = unmeasured | (empty & ~(self.ok & stage_ran))
            if not expected:  # a filter on an empty export cell does not select jobs that did not export
                no_stage = empty & ~stage_ran
                unmeasured &= ~no_stage
                holds = holds & ~no_stage
        elif expected:
            unmeasured = unmeasured | empty
        else:  # filter: an empty cell of an ok row is a value that does not match
            unmeasured = unmeasured | (empty & self.partial)
        return holds & ~unmeasured, unmeasured


def _default_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _all(masks: List[Tuple[np.ndarray, np.ndarray]], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Three-valued AND: (true, unknown)."""
    true, false, unknown = np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for holds, unmeasured in masks:
        true &= holds
        false |= ~holds & ~unmeasured
        unknown |= unmeasured
    return true, unknown & ~false


def _summary(reasons: Sequence[str], limit: int = 2) -> str:
    counts = Counter(reasons)
    shown = [f"{n} × {r}" if n > 1 else r for r, n in counts.most_common(limit)]
    more = len(counts) - limit
    return "; ".join(shown) + (f"; {more} other reasons" if more > 0 else "")


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _short(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _why_unmeasured(ev: Evidence, positions: np.ndarray, unmeasured: Dict[str, np.ndarray]) -> List[str]:
    """One short reason per unmeasured row: the `error` cell, the failed stage of a partial row, or the empty
    column; filter columns first, then expected ones."""
    table = ev.table
    reasons = []
    for i in positions:
        reason = ""
        for name, mask in unmeasured.items():
            if not mask[i]:
                continue
            value = ev.column(name).iat[i]
            error_column = f"{name.split('_')[0]}_error"
            if value in NOT_MEASURED_VALUES:
                text = table[error_column].iat[i] if error_column in table else ""
                reason = f"{name}={value}" + (f" ({text})" if text else "")
            elif ev.partial[i] and "reason" in table:
                reason = f"status=partial: {table['reason'].iat[i]}"
            else:
                reason = f"{name} is empty (not measured)"
            break
        reasons.append(_short(reason or "not measured"))
    return reasons


class Rows:
    """The counted rows of one claim, a column at a time as plain lists (cheaper than DataFrame slicing for the
    few hundred rows a claim usually counts), with whether each row shows what the claim expects."""

    def __init__(self, ev: Evidence, positions: np.ndarray, ok: np.ndarray):
        self.ev = ev
        self.positions = positions
        self.ok = ok.tolist()
        self.columns = list(ev.table.columns) + [k for k in ev.key_columns() if k not in ev.table.columns]
        self._lists: Dict[str, list] = {}

    def get(self, name: str) -> list:
        if name not in self._lists:
            self._lists[name] = self.ev.column(name).to_numpy()[self.positions].tolist()
        return self._lists[name]

    def varying(self, name: str) -> bool:
        values = self.get(name)
        return any(v != values[0] for v in values)

    def uniform(self, names: Sequence[str]) -> bool:
        """Whether the rows of each combination of these columns' values all pass or all fail."""
        seen: Dict[tuple, bool] = {}
        for key, ok in zip(zip(*(self.get(n) for n in names)), self.ok):
            if seen.setdefault(key, ok) != ok:
                return False
        return True

    def values(self, name: str, passing: bool) -> List[str]:
        return sorted({v for v, ok in zip(self.get(name), self.ok) if ok == passing})

    def groups(self, names: Sequence[str], passing: bool) -> List[tuple]:
        """The value combinations whose rows all pass (passing) or all fail (not passing)."""
        state: Dict[tuple, bool] = {}
        for key, ok in zip(zip(*(self.get(n) for n in names)), self.ok):
            state[key] = state.get(key, True) and ok if passing else state.get(key, True) and not ok
        return sorted(k for k, v in state.items() if v)


def _values(values: Sequence[str]) -> str:
    shown = [v if v != "" else '""' for v in values[:6]]
    return ",".join(shown) + (f",… ({len(values)} values)" if len(values) > 6 else "")


def _groups_text(rows: Rows, names: List[str], passing: bool, limit: int = 4) -> str:
    picked = rows.groups(names, passing)
    text = "; ".join(", ".join(f"{c}={v if v != '' else chr(34) * 2}" for c, v in zip(names, k))
                     for k in picked[:limit])
    return text + (f"; … ({len(picked)} in all)" if len(picked) > limit else "")


def _holds_text(values: List[str], column: str, verb: str = "holds for") -> str:
    if len(values) <= 3:
        return f"{verb} {column}={_values(values)}"
    return f"{verb} its {len(values)} other values"


def _failing_tensors(rows: Rows, limit: int = 4) -> str:
    """'variant/tensor' of the failing rows, with the options they fail under when they pass under others."""
    if "variant" not in rows.columns or "tensor" not in rows.columns:
        return ""
    options = [c for c in rows.columns if rows.ev.is_option(c) and rows.varying(c)]
    by_tensor: Dict[tuple, List[int]] = {}
    for i, key in enumerate(zip(rows.get("variant"), rows.get("tensor"))):
        by_tensor.setdefault(key, []).append(i)
    parts = []
    for (variant, tensor), members in sorted(by_tensor.items()):
        fails = [i for i in members if not rows.ok[i]]
        if not fails:
            continue
        qualifiers = []
        if len(fails) < len(members):
            for c in options:
                column = rows.get(c)
                failing_values = sorted({column[i] for i in fails})
                if set(failing_values) < {column[i] for i in members}:
                    qualifiers.append(f"{c}={_values(failing_values)}")
        parts.append(f"{variant}/{tensor}" + (f" ({', '.join(qualifiers)})" if qualifiers else ""))
    text = "; ".join(parts[:limit])
    return "fails for variant/tensor " + text + (f"; … ({len(parts)} in all)" if len(parts) > limit else "")


def _separating_property(rows: Rows, claim: Claim) -> str:
    """The tensor property (else a measured outcome, else property and option) that splits failing from passing
    rows; of several, the one with the fewest failing values, then the most general. Else the failing tensors."""
    ev = rows.ev
    candidates = [c for c in rows.columns if c not in claim.expect]
    properties = [c for c in PROPERTIES if c in candidates and rows.varying(c)]
    splitting = [c for c in properties if rows.uniform([c])]
    if splitting:
        column = min(splitting, key=lambda c: len(rows.values(c, passing=False)))
        return f"fails for {column}={_values(rows.values(column, passing=False))} " \
               f"({_holds_text(rows.values(column, passing=True), column)})"
    others = [c for c in candidates if c not in PROPERTIES and not ev.is_option(c) and c not in NOT_EXPLAINING
              and not c.endswith(("_error", "_seconds")) and rows.varying(c) and len(set(rows.get(c))) <= 6]
    for column in others:  # a measured outcome, e.g. grad=none
        if rows.uniform([column]):
            return f"fails where {column}={_values(rows.values(column, passing=False))} " \
                   f"({_holds_text(rows.values(column, passing=True), column, 'holds where')})"
    options = [c for c in candidates if ev.is_option(c) and rows.varying(c)]
    for column in properties:
        for option in options:
            if rows.uniform([column, option]):
                return "fails for " + _groups_text(rows, [column, option], passing=False)
    return _failing_tensors(rows)


def _option_split(rows: Rows) -> str:
    """'' unless every combination of swept options is all-pass or all-fail; then which options decide."""
    options = [c for c in rows.columns if rows.ev.is_option(c) and rows.varying(c)]
    if not options or not rows.uniform(options):
        return ""
    keep = list(options)
    for column in list(keep):  # the fewest options that still decide
        trial = [c for c in keep if c != column]
        if trial and rows.uniform(trial):
            keep = trial
    if len(keep) == 1:
        column = keep[0]
        return f"holds for {column}={_values(rows.values(column, passing=True))}; fails for {column}=" \
               f"{_values(rows.values(column, passing=False))}"
    return f"fails for {_groups_text(rows, keep, passing=False)}; holds for {_groups_text(rows, keep, passing=True)}"


def _no_rows_detail(ev: Evidence, claim: Claim) -> str:
    """Why no row matches: the first condition that no row of a job that ran meets; and the jobs that did not
    run (failed, skipped, config_error) whose options the filter selects."""
    not_run = ""
    others = ~ev.ran
    if others.any():
        selected = others.copy()
        for name, wanted in claim.where.items():
            if ev.is_option(name) or name == "variant":
                selected &= ev.values_in(name, ev.accepted(name, wanted))
        if selected.any():
            jobs = ev.table[selected].drop_duplicates("job") if "job" in ev.table else ev.table[selected]
            status = jobs["status"] if "status" in jobs else pd.Series("?", index=jobs.index)
            reason = jobs["reason"] if "reason" in jobs else pd.Series("", index=jobs.index)
            not_run = f"; {len(jobs)} matching jobs did not run: " + _summary([_short(f"{s}: {r}")
                                                                              for s, r in zip(status, reason)])
    if not ev.ran.any():
        return "no rows: no job ran" + not_run
    for name, wanted in claim.where.items():
        if not (ev.values_in(name, ev.accepted(name, wanted)) & ev.ran).any():
            return f"no rows match: no row has {name}={value_text(wanted)}" + not_run
    return f"no rows match: no row has {conditions_text(claim.where)} together" \
           + (" (after unless)" if claim.exclusions else "") + not_run


def judge(claim: Claim, table: pd.DataFrame, evidence: Optional[Evidence] = None) -> Verdict:
    """The verdict of one claim from the rows that measured what it expects."""
    ev = evidence if evidence is not None else Evidence(table)
    table = ev.table
    expected = ", ".join(f"{k}={value_text(v)}" for k, v in claim.expect.items())
    named = list(claim.where) + [k for u in claim.exclusions for k in u] + list(claim.expect)
    missing = [c for c in dict.fromkeys(named) if ev.column(c) is None]
    if missing:
        return Verdict(claim, "untested", "the table has no column " + ", ".join(missing)
                       + " (a tensorprobe that measures it, or a sweep that sets it, is needed)")
    n = ev.n
    where_masks = {k: ev.condition(k, v, expected=False) for k, v in claim.where.items()}
    w_true, w_unknown = _all(list(where_masks.values()), n)
    u_true, u_unknown = np.zeros(n, bool), np.zeros(n, bool)
    filter_unmeasured = {k: m[1] for k, m in where_masks.items()}
    for exclusion in claim.exclusions:  # any exclusion that applies leaves the row out
        masks = {k: ev.condition(k, v, expected=False) for k, v in exclusion.items()}
        t, u = _all(list(masks.values()), n)
        u_true |= t
        u_unknown |= u
        for k, m in masks.items():
            filter_unmeasured[k] = filter_unmeasured.get(k, np.zeros(n, bool)) | m[1]
    u_unknown &= ~u_true
    matching = ev.ran & w_true & ~u_true & ~u_unknown
    maybe = ev.ran & ~u_true & ((w_unknown & ~u_true) | (w_true & u_unknown))  # might match: not measured
    expect_masks = {k: ev.condition(k, v, expected=True) for k, v in claim.expect.items()}
    measured, holds = np.ones(n, bool), np.ones(n, bool)
    for ok_mask, unmeasured in expect_masks.values():
        measured &= ~unmeasured
        holds &= ok_mask
    counted = matching & measured
    left_out = maybe | (matching & ~measured)
    n_left = int(left_out.sum())
    reasons: List[str] = []
    if n_left:
        unmeasured = dict(filter_unmeasured)
        unmeasured.update({k: m[1] for k, m in expect_masks.items() if k not in unmeasured})
        reasons = _why_unmeasured(ev, np.flatnonzero(left_out), unmeasured)
    left_text = f"; {_rows(n_left)} matching but not measured ({_summary(reasons)})" if n_left else ""

    n_rows = int(counted.sum())
    if not n_rows:
        if n_left:
            return Verdict(claim, "untested", f"{'all ' if n_left > 1 else ''}{_rows(n_left)} matching but not measured: {_summary(reasons)}",
                           0, n_left)
        return Verdict(claim, "untested", _no_rows_detail(ev, claim), 0, 0)
    passing = holds[counted]
    if passing.all():
        return Verdict(claim, "holds", f"{_rows(n_rows)}, all with {expected}{left_text}", n_rows, n_left)
    positions = np.flatnonzero(counted)
    rows = Rows(ev, positions, passing)
    failing = positions[~passing]
    shown = table.iloc[failing][[c for c in ("job", "variant", "tensor") if c in table]
                                + [c for c in claim.expect if c not in ("job", "variant", "tensor") and c in table]]
    first = failing[0]
    found = ", ".join(f"{c}={ev.column(c).iat[first] or chr(34) * 2}" for c in claim.expect)
    label = " / ".join(str(table[c].iat[first]) for c in ("job", "tensor") if c in table)
    counter = f"e.g. {label}: {found} (expected {expected})"
    fraction = f"{len(failing)} of {_rows(n_rows)} fail" + ("s" if n_rows == 1 else "")
    if passing.any():
        split = _option_split(rows)
        if split:
            return Verdict(claim, "depends", f"{split} ({fraction}){left_text}", n_rows, n_left, shown)
        why = _separating_property(rows, claim)
        if why:
            return Verdict(claim, "refuted", f"{fraction}: {why}; {counter}{left_text}", n_rows, n_left, shown)
    return Verdict(claim, "refuted", f"{fraction}, {counter}{left_text}", n_rows, n_left, shown)


def judge_all(claims: Sequence[Claim], table: pd.DataFrame) -> List[Verdict]:
    evidence = Evidence(table)
    return [judge(c, table, evidence) for c in claims]


def verdict_frame(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """claims.csv: id, source, statement, where, expect, verdict, detail, rows, not_measured."""
    return pd.DataFrame([{"id": v.claim.id, "source": v.claim.source, "statement": v.claim.statement,
                          "where": where_text(v.claim), "expect": conditions_text(v.claim.expect),
                          "verdict": v.verdict, "detail": v.detail, "rows": v.rows,
                          "not_measured": v.not_measured} for v in verdicts], columns=CLAIMS_COLUMNS)
