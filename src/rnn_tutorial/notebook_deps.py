"""What an executed notebook's stored outputs depend on, beyond its own code cells.

Used by ``tools/nbtools.py`` (``make execute`` and ``make test``; see CONTRIBUTING.md,
"Freshness"). While ``make execute`` runs a notebook, the kernel traces the package's code with
:class:`rnn_tutorial.executed.ExecutedDefinitions` (:func:`start`, :func:`finish`), and the two
readers of results made elsewhere note what they return:

- :func:`rnn_tutorial.glued.glued`, a value another chapter glued (:func:`note_glued`);
- :func:`rnn_tutorial.recorded.load_run`, a recorded run (:func:`note_run`).

:func:`finish` writes these with the package's executed definitions and the library versions
to a JSON file, which ``nbtools`` stores in the notebook's metadata. :func:`changes` says, one
line each, what has changed since: an executed definition (docstrings, comments and code the
notebook never ran do not count), a glued value, a recorded run's numbers, or a pinned version.
Code that runs only in a worker process (``joblib``, a ``DataLoader`` worker) is not seen, so a
chapter that hands work to workers runs one piece of it in its own process, as "Vanishing and
exploding gradients" does with its twenty training runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnn_tutorial.executed import ExecutedDefinitions
    from rnn_tutorial.recorded import RecordedRun

__all__ = ["changes", "finish", "note_glued", "note_run", "run_digest", "start"]

# The package's own code; a notebook's own cells are covered by its code hash.
TRACED = ("src/rnn_tutorial",)

_glued: dict[str, str] = {}
_runs: dict[str, str] = {}
_tracer: ExecutedDefinitions | None = None


def run_digest(run: RecordedRun) -> str:
    """sha256 of what a chapter shows of a recorded run: metrics, curves, config and label.

    Re-stamping a run (:func:`rnn_tutorial.recorded.restamp`) leaves it unchanged; recording
    the run again changes it.
    """
    shown = {"metrics": run.metrics, "curves": run.curves, "config": run.config, "label": run.label}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def note_glued(notebook: str, key: str, value: Any) -> None:
    """Remember that ``glued(notebook, key)`` returned ``value`` in this process."""
    _glued[f"{notebook}::{key}"] = repr(value)


def note_run(run: RecordedRun) -> None:
    """Remember that ``load_run`` returned ``run`` in this process."""
    _runs[run.name] = run_digest(run)


def start() -> None:
    """Start tracing the package's definitions (``make execute`` calls it in the kernel)."""
    global _tracer
    from rnn_tutorial.executed import ExecutedDefinitions
    from rnn_tutorial.recorded import repo_root

    _glued.clear()
    _runs.clear()
    _tracer = ExecutedDefinitions(repo_root(), folders=TRACED, by="calls")
    _tracer.__enter__()


def finish(out: str | Path) -> None:
    """Stop tracing and write what the notebook depended on to ``out`` (JSON)."""
    from rnn_tutorial.recorded import _versions

    if _tracer is None:
        raise RuntimeError("notebook_deps.finish() without start()")
    _tracer.__exit__(None, None, None)
    found = {
        "definitions": _tracer.result(),
        "glued": dict(sorted(_glued.items())),
        "runs": dict(sorted(_runs.items())),
        "versions": _versions(),
    }
    Path(out).write_text(json.dumps(found, sort_keys=True), encoding="utf-8")


def changes(depends: Mapping[str, Any], root: Path) -> list[str]:
    """What changed since a notebook recorded ``depends`` (see :func:`finish`): one line each."""
    from rnn_tutorial.executed import changed_definitions
    from rnn_tutorial.glued import glued
    from rnn_tutorial.recorded import RecordedRunError, changed_pins, load_run

    found = [
        f"package code it executed changed: {change}"
        for change in changed_definitions(depends.get("definitions", {}), root)
    ]
    for name, stored in sorted(depends.get("glued", {}).items()):
        notebook, key = name.split("::", 1)
        try:
            now = repr(glued(root / "chapters" / notebook, key))
        except (FileNotFoundError, KeyError) as err:
            found.append(f"it read {key!r} from {notebook}, which no longer glues it ({err})")
            continue
        if now != stored:
            found.append(f"it read {key!r} = {stored} from {notebook}, which now glues {now}")
    folder = root / "results" / "runs"
    for name, digest in sorted(depends.get("runs", {}).items()):
        try:
            now = run_digest(load_run(name, folder))
        except RecordedRunError as err:
            found.append(f"it read the recorded run {name}: {err}")
            continue
        if now != digest:
            found.append(f"the recorded run {name} it shows was recorded again")
    found += [f"it {change}" for change in changed_pins(depends.get("versions", {}), root)]
    return found
