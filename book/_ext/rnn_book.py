"""The book's local Sphinx extension.

- The ``execution-status`` directive renders the execution-status table (book/status.md). It is
  read at build time from each notebook's ``metadata.rnn_tutorial`` (written by
  ``make execute``; see tools/nbtools.py), so the page can never disagree with the notebooks.
- The ``book-map`` directive renders the intro's map of the book from ``_toc.yml``, numbered as
  the sidebar numbers the chapters, so the two can never disagree.
- The bibliography uses author-year labels, like the citations in the text, and lists under each
  entry the pages that cite it ("Cited in"), with links back to each citation.
- ``@REPOSITORY_URL@`` in a page's source is replaced by the repository URL of ``_config.yml``
  (``repository.url``), the one place a fork changes it.
- The book's stylesheet (``static/rnn_book.css``) is added to every page.
- Duplicate ``<script>`` tags are dropped: Jupyter Book 1 registers sphinx-thebe's inline
  configuration twice, and the second ``const THEBE_JS_URL`` is a JavaScript error on every page.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml
from docutils import nodes
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitleSorting
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).resolve().parent / "static"
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

COLUMNS = [
    ("notebook", "Chapter"),
    ("executed", "Executed"),
    ("seconds", "Run time (s)"),
    ("device", "Device"),
    ("machine", "Machine"),
    ("fresh", "Outputs fresh"),
]


def _table(cls: str, titles: list[str]) -> tuple[nodes.table, nodes.tbody]:
    """An empty table with a header row; rows are appended to the returned body."""
    table = nodes.table(classes=[cls])
    group = nodes.tgroup(cols=len(titles))
    table += group
    for _ in titles:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    head += ExecutionStatus._row(titles)
    body = nodes.tbody()
    group += body
    return table, body


class ExecutionStatus(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        rows = nbtools.status_rows()
        for path in nbtools.notebooks():
            self.env.note_dependency(str(path))
        table, body = _table("execution-status", [title for _, title in COLUMNS])
        for row, path in zip(rows, nbtools.notebooks(), strict=True):
            cells: list[str | nodes.Node] = [row[key] for key, _ in COLUMNS]
            cells[0] = doc_link(self.env.docname, f"/chapters/{path.stem}")
            body += self._row(cells)
        return [table]

    @staticmethod
    def _row(cells: list) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            paragraph += cell if isinstance(cell, nodes.Node) else nodes.Text(cell)
            entry += paragraph
            row += entry
        return row


class RecordedRuns(SphinxDirective):
    """The recorded runs (results/runs/*.json, see rnn_tutorial.recorded), with provenance."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from rnn_tutorial.recorded import RESULTS_SUBDIR, load_run, problems

        folder = ROOT / RESULTS_SUBDIR
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
        for path in paths:
            self.env.note_dependency(str(path))
        if not paths:
            return [nodes.paragraph(text="The book has no recorded runs yet.")]
        table, body = _table("recorded-runs", ["Run", "Recorded", "Command", "Results fresh"])
        for path in paths:
            run = load_run(path.stem, results_dir=folder)
            command = nodes.literal(text=run.provenance.get("command", "-"))
            fresh = "yes" if not problems(path, root=ROOT) else "NO"
            body += ExecutionStatus._row([run.name, run.label, command, fresh])
        return [table]


def doc_link(fromdoc: str, target: str) -> addnodes.pending_xref:
    """A ``{doc}`` link to ``target`` (absolute docname), shown with the page's title."""
    ref = addnodes.pending_xref(
        "",
        refdomain="std",
        reftype="doc",
        reftarget=target,
        refdoc=fromdoc,
        refexplicit=False,
        refwarn=True,
    )
    ref += nodes.inline("", target.rsplit("/", 1)[-1])
    return ref


def toc_parts() -> list[dict]:
    """The parts of ``_toc.yml``: caption, whether numbered, and their files, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [
        {
            "caption": part["caption"],
            "numbered": bool(part.get("numbered")),
            "files": [chapter["file"] for chapter in part["chapters"]],
        }
        for part in toc["parts"]
    ]


class BookMap(SphinxDirective):
    """The map of the book, from ``_toc.yml``: one list per part, numbered like the sidebar.

    Jupyter Book numbers the chapters of numbered parts consecutively across parts
    (``use_multitoc_numbering``), so the map does the same.
    """

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(ROOT / "_toc.yml"))
        out: list[nodes.Node] = []
        number = 1
        for part in toc_parts():
            if not part["numbered"]:
                continue
            caption = nodes.paragraph(classes=["book-map-part"])
            caption += nodes.strong(text=part["caption"])
            out.append(caption)
            items = nodes.enumerated_list(
                enumtype="arabic", prefix="", suffix=".", classes=["book-map"]
            )
            if number != 1:
                items["start"] = number
            for file in part["files"]:
                item = nodes.list_item()
                paragraph = nodes.paragraph()
                paragraph += doc_link(self.env.docname, "/" + file)
                item += paragraph
                items += item
                number += 1
            out.append(items)
        return out


class AuthorYearLabels(BaseLabelStyle):
    """Labels such as "Cho et al. 2014", "Hochreiter & Schmidhuber 1997", "Bengio 1994a"."""

    @staticmethod
    def _one(entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [" ".join(p.prelast_names + p.last_names) for p in persons]
        names = [n.replace("{", "").replace("}", "") for n in names]
        if not names:
            who = entry.fields.get("organization", entry.fields.get("title", entry.key))
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} & {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who} {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        labels = [self._one(entry) for entry in sorted_entries]
        counts = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's plain style, sorted by author and year, with author-year labels."""

    default_label_style = "rnnbook_authoryear"
    default_sorting_style = "rnnbook_author_year_title"


register_plugin("pybtex.style.labels", "rnnbook_authoryear", AuthorYearLabels)
register_plugin("pybtex.style.sorting", "rnnbook_author_year_title", AuthorYearTitleSorting)
register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def add_cited_in(app, doctree, docname) -> None:
    """Under each bibliography entry, link back to every page that cites it."""
    domain = app.env.get_domain("cite")
    by_id = {c.citation_id: c.key for c in domain.citations}
    builder = app.builder
    for citation in doctree.findall(nodes.citation):
        key = next((by_id[i] for i in citation["ids"] if i in by_id), None)
        if key is None:
            continue
        first_ref: dict[str, str] = {}
        for ref in domain.citation_refs:
            if key in {target.key for target in ref.targets}:
                first_ref.setdefault(ref.docname, ref.citation_ref_id)
        if not first_ref:
            continue
        paragraph = nodes.paragraph(classes=["cited-in"])
        paragraph += nodes.Text("Cited in: ")
        for i, (doc, ref_id) in enumerate(sorted(first_ref.items())):
            if i:
                paragraph += nodes.Text("; ")
            uri = builder.get_relative_uri(docname, doc) + "#" + ref_id
            title = app.env.titles[doc].astext() if doc in app.env.titles else doc
            paragraph += nodes.reference("", title, refuri=uri, internal=True)
        citation += paragraph


def substitute_repository_url(app, docname, source) -> None:
    """Replace ``@REPOSITORY_URL@`` with ``repository.url`` of _config.yml (one place)."""
    url = (app.config.html_theme_options or {}).get("repository_url", "")
    if "@REPOSITORY_URL@" in source[0]:
        if not url:
            raise ValueError("@REPOSITORY_URL@ is used but _config.yml sets no repository.url")
        source[0] = source[0].replace("@REPOSITORY_URL@", url.rstrip("/"))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""  # None and "" both mean inline
        key = (str(filename), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def add_static_path(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.add_directive("execution-status", ExecutionStatus)
    app.add_directive("book-map", BookMap)
    app.add_directive("recorded-runs", RecordedRuns)
    app.connect("builder-inited", add_static_path)
    app.add_css_file("rnn_book.css")
    app.connect("source-read", substitute_repository_url)
    app.connect("doctree-resolved", add_cited_in)
    app.connect("html-page-context", drop_duplicate_scripts, priority=999)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
