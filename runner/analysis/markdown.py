"""Markdown and HTML rendering of small tables, escaping every cell (table text is data, never markup)."""
from __future__ import annotations

import html

import pandas as pd


def md_cell(value) -> str:
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def md_table(frame: pd.DataFrame, index: bool = False) -> str:
    """A GitHub-flavoured markdown table; cells are HTML-escaped so `<script>` shows as text."""
    if index:
        frame = frame.reset_index()
    head = "| " + " | ".join(md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule] + body)


def html_table(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, escape=True, border=0, classes="t")
