"""Numbers that another chapter measured, read from its stored outputs.

Introduced in the chapter "Language models and text generation", which sets its models beside the
NumPy model of "A character-level language model in NumPy" without training that model again. A
chapter's stored outputs are the outputs of its committed code (``tools/nbtools.py check`` and the
test suite prove it), so a value glued there (``myst_nb.glue``) can be read back here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

__all__ = ["glued"]

_MIME = "application/papermill.record/text/plain"


def glued(notebook: str | Path, key: str) -> Any:
    """The value glued under ``key`` in the executed ``notebook``, as the Python literal it was
    stored as. ``notebook`` is a path, or a file name in the book's ``chapters/`` folder (e.g.
    ``"07_char_lm_numpy.ipynb"``)."""
    from rnn_tutorial.notebook_deps import note_glued
    from rnn_tutorial.recorded import repo_root

    path = Path(notebook)
    if not path.is_file() and (repo_root() / "chapters" / path).is_file():
        path = repo_root() / "chapters" / path
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{path} not found, here ({Path.cwd()}) or in the book's chapters/ folder: pass "
            "the notebook's path, e.g. 'chapters/07_char_lm_numpy.ipynb'"
        ) from err
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == key:
                value = ast.literal_eval(output["data"][_MIME])
                note_glued(path.name, key, value)
                return value
    raise KeyError(f"{path.name} glues no value named {key!r}: execute it, or check the key")
