"""The book's local Sphinx extension.

- The ``execution-status`` directive renders the execution-status table (book/status.md). It is
  read at build time from each notebook's ``metadata.rnn_tutorial`` (written by
  ``make execute``; see tools/nbtools.py), so the page can never disagree with the notebooks.
- Duplicate ``<script>`` tags are dropped: Jupyter Book 1 registers sphinx-thebe's inline
  configuration twice, and the second ``const THEBE_JS_URL`` is a JavaScript error on every page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import nbtools  # noqa: E402

COLUMNS = [
    ("notebook", "Notebook"),
    ("executed", "Executed"),
    ("seconds", "Run time (s)"),
    ("device", "Device"),
    ("machine", "Machine"),
    ("fresh", "Outputs fresh"),
]


class ExecutionStatus(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        rows = nbtools.status_rows()
        for path in nbtools.notebooks():
            self.env.note_dependency(str(path))
        table = nodes.table(classes=["execution-status"])
        group = nodes.tgroup(cols=len(COLUMNS))
        table += group
        for _ in COLUMNS:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        head += self._row([title for _, title in COLUMNS])
        body = nodes.tbody()
        group += body
        for row in rows:
            body += self._row([row[key] for key, _ in COLUMNS])
        return [table]

    @staticmethod
    def _row(cells: list[str]) -> nodes.row:
        row = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            row += entry
        return row


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""  # None and "" both mean inline
        key = (str(filename), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.add_directive("execution-status", ExecutionStatus)
    app.connect("html-page-context", drop_duplicate_scripts, priority=999)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
