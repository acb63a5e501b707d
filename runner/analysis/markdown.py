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
    """An HTML table (class "t"), every header and cell escaped; plain string building, no DataFrame.to_html."""
    if index:
        frame = frame.reset_index()
    esc = html.escape
    head = "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
