"""What makes a notebook's stored outputs stale beyond its own cells, and what does not.

``make execute`` records in each notebook the package definitions its kernel executed, the
values it read from other chapters (``glued``), the recorded runs it showed (``load_run``) and
the library versions (rnn_tutorial.notebook_deps). The scenarios of CONTRIBUTING.md
("Freshness: what a notebook depends on") are checked on a scratch copy of the repository.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from rnn_tutorial.notebook_deps import changes

ROOT = Path(__file__).resolve().parents[1]
# The notebooks executed since make execute records what they depend on (tools/nbtools.py).
NOTEBOOKS = [
    p
    for p in sorted((ROOT / "chapters").glob("*.ipynb"))
    if "depends" in nbformat.read(p, as_version=4).metadata.get("rnn_tutorial", {})
]
_MIME = "application/papermill.record/text/plain"


def _depends(path: Path) -> dict:
    return nbformat.read(path, as_version=4).metadata["rnn_tutorial"]["depends"]


def _scratch_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "chapters", root / "chapters")
    shutil.copytree(ROOT / "results", root / "results")
    shutil.copy(ROOT / "requirements.txt", root / "requirements.txt")
    return root


def _stale(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        if path.name not in {p.name for p in NOTEBOOKS}:
            continue
        lines = changes(_depends(path), root)
        if lines:
            found[path.name] = lines
    return found


def _body_edit(path: Path, function: str) -> None:
    """Add a statement at the top of a function's body (after its docstring)."""
    text = path.read_text()
    start = text.index(f"def {function}(")
    docstring_end = text.index('"""', text.index('"""', start) + 3) + 3
    body = text.index("\n", docstring_end) + 1
    path.write_text(text[:body] + "    _ = None  # a body edit\n" + text[body:])


def test_every_notebook_records_what_it_depends_on():
    assert len(NOTEBOOKS) >= 10, "most chapters must have been executed with make execute"
    for path in NOTEBOOKS:
        depends = _depends(path)
        assert set(depends) == {"definitions", "glued", "runs", "versions"}, path.name
        assert "src/rnn_tutorial/repro.py" in depends["definitions"], path.name  # set_seed
        assert depends["versions"]["numpy"], path.name


def test_docstring_edits_and_new_functions_leave_every_notebook_fresh(tmp_path: Path):
    root = _scratch_copy(tmp_path)
    assert _stale(root) == {}
    package = root / "src" / "rnn_tutorial"
    for module in ("data.py", "repro.py", "recorded.py"):
        text = (package / module).read_text()
        first = text.index('"""') + 3
        (package / module).write_text(text[:first] + "Edited docstring. " + text[first:])
    text = (package / "data.py").read_text()
    text = text.replace("def fetch(", "def a_new_loader():\n    return 1\n\n\ndef fetch(", 1)
    (package / "data.py").write_text(text)
    assert _stale(root) == {}


def test_a_body_edit_stales_exactly_the_notebooks_that_executed_it(tmp_path: Path):
    root = _scratch_copy(tmp_path)
    rel = "src/rnn_tutorial/numpy_rnn.py"
    users = {p.name for p in NOTEBOOKS if "rnn_forward" in _depends(p)["definitions"].get(rel, {})}
    assert users and len(users) < len(NOTEBOOKS)  # some chapters run it, not all
    _body_edit(root / rel, "rnn_forward")
    stale = _stale(root)
    assert set(stale) == users
    for lines in stale.values():
        assert any(f"{rel}::rnn_forward changed" in line for line in lines), lines


def _glued_outputs(nb: nbformat.NotebookNode) -> dict[str, dict]:
    return {
        output["metadata"]["scrapbook"]["name"]: output
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.get("metadata", {}).get("scrapbook", {}).get("name")
    }


def test_a_moved_glued_value_stales_the_chapter_that_read_it(tmp_path: Path):
    """A reader records the value it got from glued(); when the source notebook's stored
    value moves, the reader is stale (shown on a scratch copy: one traced notebook is made to
    have read a value another one glues)."""
    from rnn_tutorial.glued import glued

    root = _scratch_copy(tmp_path)
    reader, source = root / "chapters" / NOTEBOOKS[0].name, root / "chapters" / NOTEBOOKS[1].name
    key, output = next(iter(_glued_outputs(nbformat.read(source, as_version=4)).items()))
    nb = nbformat.read(reader, as_version=4)
    nb.metadata["rnn_tutorial"]["depends"]["glued"] = {
        f"{source.name}::{key}": repr(glued(source, key))
    }
    nbformat.write(nb, reader)
    assert reader.name not in _stale(root)
    moved = nbformat.read(source, as_version=4)
    _glued_outputs(moved)[key]["data"][_MIME] = "12345.0"
    nbformat.write(moved, source)
    stale = _stale(root)
    assert reader.name in stale
    assert any(key in line and "12345.0" in line for line in stale[reader.name]), stale


def test_a_rerecorded_run_stales_its_chapters_and_a_restamp_does_not(tmp_path: Path):
    shown = {p.name: set(_depends(p)["runs"]) for p in NOTEBOOKS if _depends(p)["runs"]}
    if not shown:
        pytest.skip("no chapter shows a recorded run")
    name = sorted(next(iter(shown.values())))[0]
    users = {nb for nb, runs in shown.items() if name in runs}
    root = _scratch_copy(tmp_path)
    path = root / "results" / "runs" / f"{name}.json"
    data = json.loads(path.read_text())
    data["provenance"].setdefault("restamps", []).append({"why": "a refactor"})
    path.write_text(json.dumps(data))
    assert _stale(root) == {}  # a re-stamp changes the provenance, not the numbers
    data["metrics"]["a new number"] = 1.0  # as if the run had been recorded again
    path.write_text(json.dumps(data))
    stale = _stale(root)
    assert set(stale) == users
    for lines in stale.values():
        assert any(f"recorded run {name}" in line for line in lines), lines


def test_a_changed_pin_stales_every_notebook(tmp_path: Path):
    root = _scratch_copy(tmp_path)
    pins = (root / "requirements.txt").read_text()
    (root / "requirements.txt").write_text(re.sub(r"^numpy==\S+", "numpy==0.0.1", pins, flags=re.M))
    stale = _stale(root)
    assert set(stale) == {p.name for p in NOTEBOOKS}
    assert all(any("numpy" in line for line in lines) for lines in stale.values())
