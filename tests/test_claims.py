"""The "Claims checked" appendix (book/claims.md): every claim has a verdict and evidence.

Each claim is a section introduced by a target ``(claim-NN)=``. It must state a verdict
(``**Verdict: true**``, ``**Verdict: false**`` or ``**Verdict: it depends**``) and an
``**Evidence:**`` line that links to a section, figure or page of the book or cites the
literature. Every number on the page is glued from a notebook (``{glue:text}`path::key:fmt```);
each such key must exist in the named notebook's stored outputs, where myst-nb keeps glued
values as outputs with a ``application/papermill.record/...`` mime type and the key in
``metadata.scrapbook.name``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "claims.md"

CLAIM = re.compile(r"^\(claim-(\d{2})\)=\s*$", re.M)
VERDICT = re.compile(r"^\*\*Verdict: (true|false|it depends)\b", re.M)
EVIDENCE = re.compile(r"^\*\*Evidence:\*\*(.*?)(?:\n\n|\Z)", re.M | re.S)
LINK = re.compile(r"\{(?:ref|numref|doc|cite:p|cite:t)\}`[^`]+`")
GLUE = re.compile(r"\{glue:text\}`([^`]+)`")
TARGET = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)
REF = re.compile(r"\{(?:ref|numref)\}`(?:[^`<]*<)?([\w-]+)>?`")
FIRST_CLAIMS = 30  # the claims the appendix was asked to cover, at least


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def claims() -> dict[str, str]:
    """Claim number -> its text, from its target to the next target of a claim or section."""
    text = _page()
    starts = [(m.group(1), m.end()) for m in CLAIM.finditer(text)]
    found = {}
    for i, (number, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        found[number] = text[start:end]
    return found


@cache
def glued_keys(notebook: str) -> frozenset[str]:
    """The keys glued in a notebook's stored outputs."""
    nb = nbformat.read(ROOT / notebook, as_version=4)
    keys = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if any(mime.startswith("application/papermill.record/") for mime in data):
                keys.add(out.get("metadata", {}).get("scrapbook", {}).get("name"))
    return frozenset(keys)


def glue_references() -> list[tuple[str, str, str]]:
    """(document path, key, format) of every glued number on the page."""
    refs = []
    for content in GLUE.findall(_page()):
        path_key, _, fmt = content.rpartition(":")
        path, sep, key = path_key.partition("::")
        assert sep, f"glue reference without a document path: {content!r}"
        refs.append((path.lstrip("/"), key, fmt))
    return refs


def test_the_page_lists_every_requested_claim():
    numbers = sorted(int(n) for n in claims())
    assert numbers[:FIRST_CLAIMS] == list(range(1, FIRST_CLAIMS + 1)), numbers
    assert len(numbers) == len(set(numbers)), "a claim number is used twice"


@pytest.mark.parametrize("number", sorted(claims()))
def test_every_claim_has_a_verdict_and_evidence(number: str):
    text = claims()[number]
    assert len(VERDICT.findall(text)) == 1, f"claim {number}: one verdict, true/false/it depends"
    evidence = EVIDENCE.search(text)
    assert evidence, f"claim {number}: no **Evidence:** line"
    assert LINK.search(evidence.group(1)), f"claim {number}: evidence without a link or citation"


@pytest.mark.parametrize("number", sorted(claims()))
def test_every_verdict_is_backed_by_a_number_or_a_citation(number: str):
    text = claims()[number]
    assert GLUE.search(text) or "{cite:" in text, f"claim {number}: no glued number, no citation"


def test_glued_keys_exist_in_the_named_notebooks():
    refs = glue_references()
    assert refs, "the page glues no number"
    missing = []
    for path, key, fmt in refs:
        assert path.startswith("chapters/") and path.endswith(".ipynb"), path
        assert fmt, f"{path}::{key}: give a format (`:s` for text), or myst-nb splits the path"
        if not (ROOT / path).exists() or key not in glued_keys(path):
            missing.append(f"{path}::{key}")
    assert not missing, f"glued keys missing from the stored outputs: {missing}"


def test_section_links_point_to_existing_targets():
    """Every {ref}/{numref} label on the page is a target or figure name in the book."""
    labels = set(TARGET.findall(_page()))
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                labels.update(TARGET.findall(cell.source))
            name = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("name")
            if name:
                labels.add(name)
    missing = sorted(set(REF.findall(_page())) - labels)
    assert not missing, f"links to labels that no page defines: {missing}"


def test_the_page_types_no_measured_percentages_or_decimals_outside_glue():
    """Numbers in the prose come from glue; typed ones are limited to the claims' own wording,
    the sizes of experiments and the constants of equations."""
    text = GLUE.sub("", _page())
    text = re.sub(r"`[^`]*`", "", text)  # code spans, such as `clipvalue=0.5`
    text = re.sub(r"\$[^$]*\$", "", text)  # math: sizes and constants, such as lambda = 0.1
    headings = {line for line in text.splitlines() if line.startswith("#")}
    body = "\n".join(line for line in text.splitlines() if line not in headings)
    decimals = re.findall(r"(?<![\w.$])\d+\.\d+(?![\w.])", body)
    assert not decimals, f"typed decimal numbers: {decimals}"
