"""The stored notebooks are fresh, listed in the table of contents and fit to publish.

Freshness is proved by tools/nbtools.py: `make execute` records a hash of each notebook's code
cells; these tests fail when a code cell changed after its outputs were stored.
"""

from __future__ import annotations

import json
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
    assert all(r["fresh"] == "yes" for r in rows), json.dumps(rows, indent=1)
