"""A compare a reader takes in at a glance: changed cells grouped by column and transition
(`export_role: initializer → constant — 2 rows: seed_notebook/my_tensor, custom_linear/scale`), with
counts and a few example rows, instead of one line per cell. Pure grouping of a Diff; no pandas."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

EXAMPLES = 3          # example rows named per transition
TRANSITIONS = 3       # transitions shown per column; the rest are counted on one line
MORE_NAMED = 6        # ... of which this many are named, with their counts
VALUE_CHARS = 40      # a long value (an error message) is cut for the summary; --cells shows it whole


@dataclass
class Group:
    """One column's change from one value to another, in `rows` rows (`examples` name a few)."""
    column: str
    old: str
    new: str
    rows: int
    examples: List[str] = field(default_factory=list)


def short(value) -> str:
    text = "(empty)" if value is None or str(value) == "" else " ".join(str(value).split())
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def groups(changes: Sequence[dict], labels: Dict[Tuple[str, str], str], columns: Sequence[str] = ()) -> List[Group]:
    """Changes grouped by (column, old, new), columns in table order, the most frequent transition first."""
    found: Dict[Tuple[str, str, str], Group] = {}
    order: Dict[str, int] = {c: i for i, c in enumerate(columns)}
    for change in changes:
        column = change["column"]
        order.setdefault(column, len(order))
        key = (column, short(change["old"]), short(change["new"]))  # one line per shown transition
        group = found.setdefault(key, Group(column, key[1], key[2], 0))
        group.rows += 1
        group.examples.append(labels.get((change["job"], change["tensor"]), change["tensor"]))
    return sorted(found.values(), key=lambda g: (order[g.column], -g.rows, g.old, g.new))


def rows_word(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def diverse(examples: Sequence[str]) -> List[str]:
    """Examples reordered so that the first ones come from different variants (a label's first part)."""
    firsts, rest, seen = [], [], set()
    for label in examples:
        head = label.split("/", 1)[0]
        (rest if head in seen else firsts).append(label)
        seen.add(head)
    return firsts + rest


def examples_text(examples: Sequence[str]) -> str:
    examples = diverse(examples)
    shown = ", ".join(examples[:EXAMPLES])
    return shown + (f", … ({len(examples) - EXAMPLES} more)" if len(examples) > EXAMPLES else "")


def summary_lines(all_groups: Sequence[Group]) -> List[dict]:
    """One entry per shown transition (`kind=changed`), or per column's remaining transitions (`kind=more`)."""
    lines: List[dict] = []
    by_column: Dict[str, List[Group]] = {}
    for group in all_groups:
        by_column.setdefault(group.column, []).append(group)
    for column, column_groups in by_column.items():
        for group in column_groups[:TRANSITIONS]:
            lines.append({"kind": "changed", "column": column, "old": group.old, "new": group.new,
                          "rows": group.rows, "examples": examples_text(group.examples)})
        rest = column_groups[TRANSITIONS:]
        if rest:
            named = "; ".join(f"{g.old} → {g.new} ({rows_word(g.rows)})" for g in rest[:MORE_NAMED])
            named += f"; … ({len(rest) - MORE_NAMED} more)" if len(rest) > MORE_NAMED else ""
            lines.append({"kind": "more", "column": column, "old": "", "new": "",
                          "rows": sum(g.rows for g in rest), "examples": f"{len(rest)} more transitions: {named}"})
    return lines


def text_line(entry: dict) -> str:
    if entry["kind"] == "more":
        return f"{entry['column']}: {entry['examples']}"
    return (f"{entry['column']}: {entry['old']} → {entry['new']} — "
            f"{rows_word(entry['rows'])}: {entry['examples']}")


def only_line(title: str, labels: Sequence[str]) -> str:
    return f"{title}: {rows_word(len(labels))}: {examples_text(list(labels))}"
