"""The stored notebooks are fresh, listed in the table of contents and fit to publish.

Freshness is proved by tools/nbtools.py: `make execute` records a hash of each notebook's code
cells and what its outputs depend on (the package definitions it executed, the values it read
from other chapters, the recorded runs it showed, the library versions); these tests fail when
any of them changed after its outputs were stored (tests/test_notebook_deps.py checks the
scenarios).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

NOTEBOOKS = nbtools.notebooks()


def _toc_files() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_there_are_notebooks():
    assert NOTEBOOKS, "chapters/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_fresh_and_clean(path: Path):
    assert nbtools.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_template(path: Path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "Learning goals" in markdown
    assert "## Summary" in markdown
    assert "## Exercises" in markdown and "{exercise}" in markdown
    assert ":class: dropdown" in markdown, "solutions must be collapsed"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "set_seed(" in first_code.source and "print_environment()" in first_code.source
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_toc_lists_every_notebook_and_only_existing_pages():
    files = _toc_files()
    for entry in files:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"
    for path in NOTEBOOKS:
        assert f"chapters/{path.stem}" in files, f"{path.name} is missing from _toc.yml"


def test_check_detects_a_stale_notebook(tmp_path: Path):
    """The freshness check really fails when code changes after execution."""
    path = NOTEBOOKS[0]
    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\nprint('edited after execution')"
    stale = tmp_path / path.name
    nbformat.write(nb, stale)
    found = nbtools.problems(stale)
    assert any("code changed after its outputs were stored" in p for p in found), found


def test_check_detects_errors_and_machine_paths(tmp_path: Path):
    path = NOTEBOOKS[0]
    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="saved to /home/alice/x.png\n"),
        nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]),
    ]
    broken = tmp_path / path.name
    nbformat.write(nb, broken)
    found = "\n".join(nbtools.problems(broken))
    assert "stored an error (ValueError)" in found
    assert "machine path" in found


def test_clean_streams_collapses_progress_redraws():
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="train:  10%|#\rtrain:  50%|####"),
        nbformat.v4.new_output("stream", name="stdout", text="\rtrain: 100%|########\ndone\n"),
    ]
    nbtools._clean_streams(cell)
    assert len(cell.outputs) == 1
    assert cell.outputs[0].text == "train: 100%|########\ndone\n"


def test_status_rows_cover_every_notebook():
    rows = nbtools.status_rows()
    assert [r["notebook"] for r in rows] == [p.name for p in NOTEBOOKS]
    assert all(r["fresh"].startswith("yes") for r in rows), json.dumps(rows, indent=1)


# --- What readers see: no tool markers, no typed chapter numbers ------------------------------

TOOL_MARKERS = re.compile(r"NBVAL_\w+|#\s*noqa\b|#\s*fmt:\s*(skip|off|on)\b|#\s*type:\s*ignore")
# "chapter 4", "Chapter 10", "ch. 4", "ch 4"; not labels such as ch04-ex1 or fig-ch06-adding.
TYPED_CHAPTER = re.compile(r"(?<![\w`-])(?:[Cc]hapter|[Cc]h\.?)\s\d{1,2}\b(?![-_])")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_tool_markers_in_what_readers_see(path: Path):
    """Test and lint markers live in cell tags and ruff's configuration, not in the code."""
    nb = nbformat.read(path, as_version=4)
    found = [
        (i, m.group(0))
        for i, cell in enumerate(nb.cells)
        for m in TOOL_MARKERS.finditer(cell.source)
    ]
    assert not found, f"{path.name}: tool markers readers would see (cell, marker): {found}"


@pytest.mark.parametrize(
    "path", NOTEBOOKS + sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.name
)
def test_chapters_are_referred_to_by_link_not_by_typed_number(path: Path):
    """Chapter numbers come from _toc.yml alone; a typed "chapter 13" goes stale when a chapter
    is inserted (CONTRIBUTING.md). Refer to chapters with {doc} links, which show their titles.
    """
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        texts = [cell.source for cell in nb.cells]
    else:
        texts = [path.read_text(encoding="utf-8")]
    found = sorted({m.group(0) for text in texts for m in TYPED_CHAPTER.finditer(text)})
    assert not found, f"{path.name}: typed chapter numbers: {found}"


PACKAGE_MODULES = sorted((ROOT / "src" / "rnn_tutorial").rglob("*.py"))


def test_there_are_package_modules():
    assert PACKAGE_MODULES, "src/rnn_tutorial/ holds no module"


@pytest.mark.parametrize(
    "path", PACKAGE_MODULES, ids=lambda p: str(p.relative_to(ROOT / "src" / "rnn_tutorial"))
)
def test_package_names_chapters_by_title_not_by_typed_number(path: Path):
    """The package's docstrings, comments and strings name a chapter by its title (the first
    line of its notebook), never "chapter 4": the number changes when a chapter is inserted.
    Paths such as ``chapters/12_performance.ipynb`` are not typed numbers (same rule as above).
    """
    text = path.read_text(encoding="utf-8")
    found = [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in TYPED_CHAPTER.finditer(text)]
    assert not found, f"{path.name}: typed chapter numbers (line, text): {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_have_caption_name_and_alt_text(path: Path):
    """Every code cell that stores an image declares its caption, name and alt text, and stores
    one image only (myst-nb would give two images the same name)."""
    nb = nbformat.read(path, as_version=4)
    missing = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        images = [
            o
            for o in cell.outputs
            if o.output_type in ("display_data", "execute_result")
            and any(k.startswith("image/") for k in o.get("data", {}))
        ]
        if not images:
            continue
        meta = cell.metadata.get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        if len(images) > 1 or not (
            figure.get("caption") and figure.get("name") and len(image.get("alt", "")) > 20
        ):
            missing.append(i)
    assert not missing, f"{path.name}: figure cells lacking caption, name or alt text: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_control_characters_in_cells(path: Path):
    r"""A "\a" in a Python string that wrote "\approx" leaves a BEL character that MathJax
    cannot parse; no cell source holds control characters."""
    nb = nbformat.read(path, as_version=4)
    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
    bad = [i for i, c in enumerate(nb.cells) if control.search(c.source)]
    assert not bad, f"{path.name}: control characters in cells {bad}"


# --- What readers see: equations that MathJax renders as written -------------------------------

# MathJax (and LaTeX) read a "[" right after \begin{aligned} (or array, gathered, ...) as the
# environment's optional position argument and drop it, so an equation that starts with a stacked
# block "[\mathbf{a}^i_t, ...] &= ..." loses its left-hand side without an error. After a line
# break "\\", LaTeX reads "[...]" as the break's spacing; MathJax only does so without a space in
# between, so the rendered book looks right while a LaTeX build would not. Write "{}[" instead.
BRACKET_AFTER_BEGIN = re.compile(r"\\begin\{[A-Za-z]+\*?\}\s*\[|\\\\\s+\[")
# Directives whose body is Markdown that MyST parses again (their math is checked as well).
MARKDOWN_DIRECTIVES = {
    "{exercise}",
    "{solution}",
    "{admonition}",
    "{note}",
    "{tip}",
    "{hint}",
    "{important}",
    "{warning}",
    "{caution}",
    "{attention}",
    "{seealso}",
    "{dropdown}",
    "{margin}",
    "{sidebar}",
    "{topic}",
    "{epigraph}",
}
DIRECTIVE_OPTION = re.compile(r"\A(?:[ \t]*:[\w-]+:.*\n)+")
TEX_IN_TEXT = re.compile(r"\$|\\[A-Za-z]+")
PAGES = NOTEBOOKS + sorted((ROOT / "book").glob("*.md"))


def _markdown_sources(path: Path) -> list[str]:
    """What MyST parses as Markdown: each markdown cell of a notebook, or the whole page."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    return [path.read_text(encoding="utf-8")]


@functools.cache
def _myst_parser():
    """The Markdown parser of the build, with the extensions _config.yml enables."""
    import yaml
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = set(config["parse"]["myst_enable_extensions"])
    md = create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)
    md.disable("text_join")  # keep escapes such as \$ apart from the text around them
    return md


def bracket_after_begin(text: str) -> list[str]:
    r"""Each "\begin{env}[" or "\\ [" in the text, with what follows it."""
    return [text[m.start() : m.end() + 30] for m in BRACKET_AFTER_BEGIN.finditer(text)]


def _plain_text(inline) -> list[str]:
    r"""The runs of plain text of an inline token, as readers see them: math, code, roles and
    deliberate escapes such as \$ split the runs; a backslash that escapes nothing (\b) stays."""
    pieces = []
    for child in inline.children or []:
        if child.type == "text" or (child.type == "text_special" and child.content == child.markup):
            pieces.append(child.content)
        else:
            pieces.append("\n")
    return [piece for piece in "".join(pieces).split("\n") if piece.strip()]


def tex_outside_math(text: str) -> list[str]:
    r"""Pieces of plain text, as MyST parses the Markdown, that hold a "$" or a TeX command.

    Inline math breaks when a line inside $...$ starts with "+ ", "- ", "* ", "1. " or "#":
    Markdown reads a list item or a heading there before it looks for math, and both halves of
    the formula are left as text, shown to readers as TeX source.
    """
    found = []
    for token in _myst_parser().parse(text):
        if token.type == "inline":
            found += [piece for piece in _plain_text(token) if TEX_IN_TEXT.search(piece)]
        elif token.type in ("fence", "colon_fence") and token.info.strip() in MARKDOWN_DIRECTIVES:
            found += tex_outside_math(DIRECTIVE_OPTION.sub("", token.content))
    return found


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_bracket_that_mathjax_swallows(path: Path):
    found = [hit for text in _markdown_sources(path) for hit in bracket_after_begin(text)]
    assert not found, f'{path.name}: write "{{}}[" for a bracket that starts a row: {found}'


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_inline_math_survives_markdown(path: Path):
    found = [hit for text in _markdown_sources(path) for hit in tex_outside_math(text)]
    assert not found, (
        f"{path.name}: TeX left in the text, so readers see its source (a line inside $...$ "
        f'that starts with "+ ", "- ", "1. " or "#"? end the previous line with the operator '
        f"instead): {found}"
    )


def test_math_checks_catch_the_broken_forms():
    """The two checks above fail on the forms that broke equations 4.1 and the ch02 summary."""
    lost_lhs = "$$\n\\begin{aligned}\n[\\mathbf{a}^i_t, \\mathbf{a}^f_t]\n&= \\mathbf{b}\n"
    assert bracket_after_begin(lost_lhs)
    assert bracket_after_begin("\\begin{aligned}[\\mathbf{a}] &= 0\n")
    assert bracket_after_begin("x &= 1,\\\\\n[\\mathbf{u}] &= 2")
    assert not bracket_after_begin("\\begin{aligned}\n{}[\\mathbf{a}] &= 0\\\\[2pt]\n{}[y] &= 1")
    list_item = "- BPTT:\n  $\\boldsymbol{\\delta}_t = \\mathbf{e}_t\n  + \\mathbf{r}_t$.\n"
    assert tex_outside_math(list_item)
    assert tex_outside_math("the map $\\mathbf{h}\n+ \\boldsymbol{\\beta}_t$ again\n")
    assert tex_outside_math("```{exercise}\n:label: x\nthe map $\\mathbf{h}\n- 1$ again\n```\n")
    assert tex_outside_math("an unclosed $x + y, and \\alpha outside math\n")
    fine = "- BPTT: $\\boldsymbol{\\delta}_t = \\mathbf{e}_t +\n  x$, `\\n`, \\$5, \\\\alpha\n"
    assert not tex_outside_math(fine)


def test_status_page_says_why_a_notebook_is_stale(tmp_path: Path):
    path = NOTEBOOKS[0]
    nb = nbformat.read(path, as_version=4)
    assert nbtools._why_stale(path) == "yes"
    nb.metadata["rnn_tutorial"]["depends"]["definitions"] = {
        "src/rnn_tutorial/repro.py": {"set_seed": "0" * 64}
    }
    stale = tmp_path / path.name
    nbformat.write(nb, stale)
    why = nbtools._why_stale(stale)
    assert why.startswith("NO: ") and "src/rnn_tutorial/repro.py::set_seed changed" in why, why
