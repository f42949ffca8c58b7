"""Recorded runs: results that take longer than a notebook's budget, with their provenance.

Introduced with the Performance and GPUs chapter's plan (see CONTRIBUTING.md, "Recorded runs").
A chapter runs its live configuration within 3 CPU minutes. A full-size run (hours on a CPU,
or a GPU) is a script under ``experiments/`` that calls :func:`record`, which writes one JSON
file under ``results/runs/`` holding:

- the metrics and the training curves;
- the exact command, and the git blob hash of every code file the run used (the script itself
  and every module of the package it imported), and the sha256 of every data file it read;
- the library versions, the device and the CPU or GPU model, the wall time and the date.

A chapter reads a recorded run with :func:`load_run` and shows :attr:`RecordedRun.label`
("recorded run, 47 min on …") next to its numbers, so the reader always knows which numbers
were computed live and which were recorded. :func:`problems` says whether a results file still
belongs to the code that produced it; the test suite runs it on every results file, as it
checks every notebook's freshness.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_SUBDIR",
    "RecordedRun",
    "RecordedRunError",
    "blob_sha1",
    "find_results_dir",
    "load_run",
    "problems",
    "record",
    "repo_root",
]

RESULTS_SUBDIR = Path("results") / "runs"
SCHEMA = 1


class RecordedRunError(ValueError):
    """A recorded run that is missing, malformed or inconsistent; the message says how to fix it."""


def repo_root() -> Path:
    """The repository root: the folder above ``src/rnn_tutorial`` (an editable install)."""
    return Path(__file__).resolve().parents[2]


def find_results_dir(start: Path | None = None) -> Path:
    """``results/runs`` of the book: searched upwards from ``start`` (default: the current folder,
    which is ``chapters/`` while a notebook runs), then the repository of this package."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, repo_root()):
        candidate = folder / RESULTS_SUBDIR
        if candidate.is_dir():
            return candidate
    raise RecordedRunError(
        f"no {RESULTS_SUBDIR} folder found above {here} or in {repo_root()}: run the notebook "
        "from a clone of the book's repository, which holds the recorded runs"
    )


def blob_sha1(path: Path) -> str:
    """The git blob hash of a file (what ``git hash-object`` prints), computed without git."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_modules() -> list[Path]:
    """The modules of this package that the running process has imported."""
    package = Path(__file__).resolve().parent
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().parent == package:
            found.append(Path(file).resolve())
    return sorted(set(found))


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError as err:
        raise RecordedRunError(
            f"code file {path} is outside the repository {root}; a recorded run may only "
            "depend on code the repository holds"
        ) from err


def _device() -> dict[str, str]:
    from rnn_tutorial.repro import cpu_model, environment_report

    report = environment_report()
    report["cpu"] = cpu_model()
    return report


@dataclass
class RecordedRun:
    """One results file, as a chapter reads it."""

    name: str
    metrics: dict[str, Any]
    curves: dict[str, list[float]]
    provenance: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """E.g. "recorded run, 47 min on cuda (NVIDIA H100), 2026-12-01"."""
        p = self.provenance
        seconds = float(p["wall_seconds"])
        took = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
        device = p["environment"].get("torch device", "")
        where = device if device.startswith("cuda") else p["environment"]["cpu"]
        return f"recorded run, {took} on {where}, {p['date'][:10]}"


def record(
    name: str,
    run: Callable[[], Mapping[str, Any]],
    *,
    config: Mapping[str, Any],
    code_files: Iterable[Path] = (),
    data_files: Iterable[Path] = (),
    results_dir: Path | None = None,
) -> Path:
    """Run ``run()`` and write ``results/runs/<name>.json`` with its provenance.

    ``run`` returns ``{"metrics": {...}, "curves": {...}}`` (plain numbers and lists). The code
    files recorded are ``code_files`` (the experiment script: pass ``__file__``) plus every
    module of ``rnn_tutorial`` the process imported by the end of the run. The file is written
    atomically, so an interrupted run leaves no half-written results.
    """
    if not name.replace("_", "").replace("-", "").isalnum():
        raise RecordedRunError(f"run name {name!r}: use letters, digits, '-' and '_' only")
    root = repo_root()
    folder = Path(results_dir) if results_dir is not None else root / RESULTS_SUBDIR
    start = time.perf_counter()
    result = dict(run())
    wall = time.perf_counter() - start
    unknown = set(result) - {"metrics", "curves"}
    if "metrics" not in result or unknown:
        raise RecordedRunError(
            f"run() must return a dict with 'metrics' (and optionally 'curves'); got keys "
            f"{sorted(result)}"
        )
    code = sorted({Path(p).resolve() for p in code_files} | set(_package_modules()))
    payload = {
        "schema": SCHEMA,
        "name": name,
        "config": dict(config),
        "metrics": result["metrics"],
        "curves": result.get("curves", {}),
        "provenance": {
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "code": {_relative(p, root): blob_sha1(p) for p in code},
            "data": {Path(p).name: _sha256(Path(p)) for p in data_files},
            "environment": _device(),
            "wall_seconds": round(wall, 1),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        },
    }
    text = json.dumps(payload, indent=1, sort_keys=True, allow_nan=False) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.json"
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, target)
    return target


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecordedRunError(
            f"no recorded run {path.name}: run its script under experiments/ to record it"
        ) from err
    except json.JSONDecodeError as err:
        raise RecordedRunError(f"{path} is not valid JSON ({err}); record the run again") from err
    missing = {"schema", "name", "metrics", "provenance"} - set(data)
    if missing or data.get("schema") != SCHEMA:
        raise RecordedRunError(
            f"{path} is not a recorded run of schema {SCHEMA} (missing {sorted(missing)})"
        )
    return data


def load_run(name: str, results_dir: Path | None = None) -> RecordedRun:
    """Read ``results/runs/<name>.json`` for a chapter (see the module docstring)."""
    folder = Path(results_dir) if results_dir is not None else find_results_dir()
    data = _read(folder / f"{name}.json")
    return RecordedRun(
        name=data["name"],
        metrics=data["metrics"],
        curves=data.get("curves", {}),
        provenance=data["provenance"],
        config=data.get("config", {}),
    )


def problems(path: Path, root: Path | None = None) -> list[str]:
    """Why a results file no longer belongs to the code that produced it (empty if it does)."""
    root = root or repo_root()
    try:
        data = _read(Path(path))
    except RecordedRunError as err:
        return [str(err)]
    found = []
    code = data["provenance"].get("code", {})
    if not code:
        found.append(f"{Path(path).name}: records no code files")
    for rel, recorded in sorted(code.items()):
        current = root / rel
        if not current.is_file():
            found.append(f"{Path(path).name}: its code file {rel} no longer exists")
        elif blob_sha1(current) != recorded:
            found.append(
                f"{Path(path).name}: {rel} changed since the run was recorded; run "
                f"`{data['provenance'].get('command', 'its script')}` again"
            )
    return found
