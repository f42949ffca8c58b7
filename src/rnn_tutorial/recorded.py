"""Recorded runs: results that take longer than a notebook's budget, with their provenance.

Introduced with the plan of "Performance and GPUs" (see CONTRIBUTING.md, "Recorded runs"). A
chapter runs its live configuration within 3 CPU minutes. A full-size run (hours on a CPU, or a
GPU) is a script under ``experiments/`` that calls :func:`record`, which writes one JSON file
under ``results/runs/`` holding:

- the metrics and the training curves;
- the exact command, the git commit and whether the tree was clean;
- the *executed definitions*: every function, method, class and module top level of the
  package and of ``experiments/`` that the run executed, each with a hash of its code that
  ignores docstrings, comments and formatting (:mod:`rnn_tutorial.executed`);
- the sha256 of every data file it read, the pinned library versions, the device and the CPU
  by model and instruction-set extensions, the wall time and the date;
- a behavioural *fingerprint*: the metrics and curves of the script's ``--smoke``
  configuration, run in a fresh process right after the full run, with deterministic ops.

A chapter reads a recorded run with :func:`load_run` and shows :attr:`RecordedRun.label`
("recorded run, 47 min on …") next to its numbers. :func:`problems` says whether a results
file still belongs to the code, data and versions that produced it: it is stale only when a
definition it executed changed or disappeared, or its data or pinned versions changed. A
refactor that changes an executed definition without changing what the run computes is
re-stamped with :func:`restamp`, which re-runs the smoke configuration and compares its
fingerprint bit for bit (``tools/runs.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "COPY_ENV",
    "ROOT_ENV",
    "RESULTS_SUBDIR",
    "RecordedRun",
    "RecordedRunError",
    "blob_sha1",
    "changed_pins",
    "find_results_dir",
    "fingerprint",
    "load_run",
    "problems",
    "record",
    "repo_root",
    "restamp",
]

RESULTS_SUBDIR = Path("results") / "runs"
SCHEMA = 2
# A run (a smoke run, usually) also writes its results to this path when the variable is set:
# that is how a fingerprint is taken from a fresh process.
COPY_ENV = "RNN_TUTORIAL_RECORD_COPY"
# The pinned packages whose version a run records; a changed pin in requirements.txt stales it.
VERSIONED = (
    "numpy",
    "torch",
    "tensorflow",
    "keras",
    "scikit-learn",
    "sentencepiece",
    "sacrebleu",
    "statsmodels",
)


class RecordedRunError(ValueError):
    """A recorded run that is missing, malformed or inconsistent; the message says how to fix it."""


ROOT_ENV = "RNN_TUTORIAL_ROOT"  # another repository root (the tests' scratch copies)


def repo_root() -> Path:
    """The repository root: ``$RNN_TUTORIAL_ROOT`` if set, else the folder above
    ``src/rnn_tutorial`` (an editable install)."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
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


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError as err:
        raise RecordedRunError(
            f"code file {path} is outside the repository {root}; a recorded run may only "
            "depend on code the repository holds"
        ) from err


def _device() -> dict[str, str]:
    from rnn_tutorial.cpu import cpu_description
    from rnn_tutorial.repro import environment_report

    report = environment_report()
    report["cpu"] = cpu_description()
    return report


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _pins(root: Path) -> dict[str, str]:
    """``{package: version}`` pinned with ``==`` in the repository's requirements.txt."""
    path = root / "requirements.txt"
    if not path.is_file():
        return {}
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _git_state(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "clean": not git("status", "--porcelain")}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "clean": False}


def _known_data_hashes() -> set[str]:
    from rnn_tutorial import data

    hashes = set(getattr(data, "_HASHES", {}).values())
    hashes.add(getattr(data, "_CO2_SHA256", ""))
    return hashes


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
        cpu = p["environment"]["cpu"].split("; ", 1)[0]  # the model, without the extensions
        where = device if device.startswith("cuda") else cpu
        return f"recorded run, {took} on {where}, {p['date'][:10]}"


def _write(payload: Mapping[str, Any], target: Path) -> None:
    """Write a results file atomically, so an interrupted run leaves no half-written file."""
    text = json.dumps(payload, indent=1, sort_keys=True, allow_nan=False) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, target)


def record(
    name: str,
    run: Callable[[], Mapping[str, Any]],
    *,
    config: Mapping[str, Any],
    code_files: Iterable[Path] = (),
    data_files: Iterable[Path] = (),
    results_dir: Path | None = None,
    smoke_argv: Sequence[str] | None = None,
) -> Path:
    """Run ``run()`` and write ``results/runs/<name>.json`` with its provenance.

    ``run`` returns ``{"metrics": {...}, "curves": {...}}`` (plain numbers and lists). The
    definitions recorded are those the run executed (:mod:`rnn_tutorial.executed`); every file
    of ``code_files`` (the script: pass ``__file__``) must lie in the repository. A full run
    passes ``smoke_argv``, the script's arguments for its smoke configuration (for example
    ``[*sys.argv[1:], "--smoke"]``): that configuration then runs in a fresh process right
    after the full run, and its results are stored as the run's fingerprint (:func:`restamp`).
    """
    from rnn_tutorial.executed import ExecutedDefinitions

    if not name.replace("_", "").replace("-", "").isalnum():
        raise RecordedRunError(f"run name {name!r}: use letters, digits, '-' and '_' only")
    root = repo_root()
    for path in code_files:
        _relative(Path(path), root)
    folder = Path(results_dir) if results_dir is not None else root / RESULTS_SUBDIR
    start = time.perf_counter()
    with ExecutedDefinitions(root) as traced:
        result = dict(run())
    wall = time.perf_counter() - start
    unknown = set(result) - {"metrics", "curves"}
    if "metrics" not in result or unknown:
        raise RecordedRunError(
            f"run() must return a dict with 'metrics' (and optionally 'curves'); got keys "
            f"{sorted(result)}"
        )
    payload = {
        "schema": SCHEMA,
        "name": name,
        "config": dict(config),
        "metrics": result["metrics"],
        "curves": result.get("curves", {}),
        "provenance": {
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "git": _git_state(root),
            "definitions": traced.result(),
            "data": {Path(p).name: _sha256(Path(p)) for p in data_files},
            "versions": _versions(),
            "environment": _device(),
            "wall_seconds": round(wall, 1),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        },
    }
    copy_to = os.environ.get(COPY_ENV)
    if copy_to:
        _write(payload, Path(copy_to))
    if smoke_argv is not None:
        script = _relative(Path(sys.argv[0]), root)
        payload["provenance"]["fingerprint"] = fingerprint([script, *smoke_argv], root)
    target = folder / f"{name}.json"
    _write(payload, target)
    return target


_TIMING = re.compile(r"second|time|speed|throughput", re.IGNORECASE)


def _without_timings(value: Any) -> Any:
    """A copy without the entries whose key names a time or a rate (``train_seconds``,
    ``sentences_per_second``, ``*time*``): what a run computes is compared bit for bit, how long
    it took is not."""
    if isinstance(value, Mapping):
        return {k: _without_timings(v) for k, v in value.items() if not _TIMING.search(k)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def fingerprint(argv: Sequence[str], root: Path | None = None) -> dict[str, Any]:
    """Run a script's smoke configuration in a fresh, deterministic process: its fingerprint.

    ``argv`` is the script (relative to the repository root) and its arguments, including
    ``--smoke``. The run goes through :mod:`rnn_tutorial.executed`'s smoke runner, which
    switches on deterministic algorithms in PyTorch and TensorFlow and records the metrics,
    the curves (without timings) and the executed definitions. Two fingerprints of the same
    code on the same machine are equal bit for bit; :func:`restamp` relies on that.
    """
    from rnn_tutorial.cpu import cpu_description

    root = Path(root) if root is not None else repo_root()
    runner = Path(__file__).resolve().parent / "executed.py"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "smoke.json"
        command = [sys.executable, str(runner), "smoke", "--root", str(root), "--out", str(out)]
        done = subprocess.run(
            [*command, "--", *argv], cwd=root, capture_output=True, text=True, check=False
        )
        if done.returncode or not out.is_file():
            raise RecordedRunError(
                f"the smoke run {shlex.join(argv)} failed:\n{done.stdout[-2000:]}"
                f"\n{done.stderr[-3000:]}"
            )
        smoke = json.loads(out.read_text())
    return {
        "command": shlex.join(["python", *argv]),
        "metrics": _without_timings(smoke["metrics"]),
        "curves": _without_timings(smoke.get("curves", {})),
        "definitions": smoke["definitions"],
        "cpu": cpu_description(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


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
    from rnn_tutorial.notebook_deps import note_run

    data = _read(folder / f"{name}.json")
    run = RecordedRun(
        name=data["name"],
        metrics=data["metrics"],
        curves=data.get("curves", {}),
        provenance=data["provenance"],
        config=data.get("config", {}),
    )
    note_run(run)  # a notebook's stored outputs now depend on these numbers
    return run


def problems(path: Path, root: Path | None = None) -> list[str]:
    """Why a results file no longer belongs to the code that produced it (empty if it does).

    Stale means: a definition the run executed changed or no longer exists, a data file it
    read is no longer the one the loaders verify, or a pinned version it ran with changed in
    ``requirements.txt``. Docstrings, comments, formatting and code the run never executed do
    not count (:mod:`rnn_tutorial.executed`).
    """
    from rnn_tutorial.executed import changed_definitions

    root = Path(root) if root is not None else repo_root()
    name = Path(path).name
    try:
        data = _read(Path(path))
    except RecordedRunError as err:
        return [str(err)]
    provenance = data["provenance"]
    command = provenance.get("command", "its script")
    definitions = provenance.get("definitions", {})
    if not definitions:
        return [f"{name}: records no executed definitions; run `{command}` again"]
    found = [
        f"{name}: {change} since the run was recorded; if the change keeps what the run "
        f"computes, re-stamp it (python tools/runs.py restamp {Path(path).stem} --why ...), "
        f"else run `{command}` again"
        for change in changed_definitions(definitions, root)
    ]
    known = _known_data_hashes()
    for file, digest in sorted(provenance.get("data", {}).items()):
        if digest not in known:
            found.append(f"{name}: its data file {file} is not one the loaders verify any more")
    found += [f"{name}: {change}" for change in changed_pins(provenance.get("versions", {}), root)]
    return found


def changed_pins(versions: Mapping[str, str], root: Path) -> list[str]:
    """One line for each recorded version that ``requirements.txt`` no longer pins (a local
    build suffix such as ``+cpu`` ignored); shared by recorded runs and notebooks."""
    pins = _pins(root)
    found = []
    for package, version in sorted(versions.items()):
        pinned = pins.get(package)
        if pinned is not None and version.split("+", 1)[0] != pinned:
            found.append(f"ran with {package} {version}; requirements.txt pins {pinned}")
    return found


def restamp(path: Path, reason: str, root: Path | None = None) -> list[str]:
    """Accept a refactor: re-run the smoke configuration and, if its fingerprint is identical
    bit for bit, record the current hashes of the run's executed definitions.

    Returns the definitions that were re-stamped (empty if nothing had changed). Raises
    :class:`RecordedRunError` if the fingerprint differs (the change alters what the run
    computes: record it again), if the run has no fingerprint, or if the stored fingerprint was
    taken on a CPU other than this one (compare on the CPU that took it). The file keeps a list
    of re-stamps with the date, the commit, the reason and the definitions.
    """
    from rnn_tutorial.cpu import cpu_description
    from rnn_tutorial.executed import changed_definitions, hash_definitions

    root = Path(root) if root is not None else repo_root()
    data = _read(Path(path))
    provenance = data["provenance"]
    changed = changed_definitions(provenance.get("definitions", {}), root)
    if not changed:
        return []
    stored = provenance.get("fingerprint")
    if not stored:
        raise RecordedRunError(f"{Path(path).name} has no fingerprint: record it again")
    if stored["cpu"] != cpu_description():
        raise RecordedRunError(
            f"{Path(path).name}: its fingerprint was taken on {stored['cpu']}; this machine is "
            f"{cpu_description()}. Floating-point results differ between CPUs, so compare on "
            "that CPU (or take a new reference fingerprint there before the change)."
        )
    argv = shlex.split(stored["command"])[1:]
    new = fingerprint(argv, root)
    same = json.dumps(_without_timings([new["metrics"], new["curves"]]), sort_keys=True) == (
        json.dumps(_without_timings([stored["metrics"], stored["curves"]]), sort_keys=True)
    )
    if not same:
        raise RecordedRunError(
            f"{Path(path).name}: the smoke run of the changed code computes different numbers "
            f"than the stored fingerprint ({'; '.join(changed)}): run "
            f"`{provenance.get('command')}` again"
        )
    # The executed definitions now: the recorded ones with their current hashes, except those
    # that no longer exist, plus everything the new smoke run executed (a definition that the
    # refactor moved to another file or renamed is found there).
    updated: dict[str, dict[str, str]] = {}
    for rel, names in provenance["definitions"].items():
        if not (root / rel).is_file():
            continue
        current = hash_definitions((root / rel).read_text("utf-8"))
        updated[rel] = {n: current[n] for n in names if n in current}
    for rel, names in new["definitions"].items():
        updated.setdefault(rel, {}).update(names)
    provenance["definitions"] = {rel: dict(sorted(n.items())) for rel, n in sorted(updated.items())}
    provenance.setdefault("restamps", []).append(
        {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _git_state(root)["commit"],
            "reason": reason,
            "changed": changed,
            "evidence": f"smoke fingerprint identical on {cpu_description()}",
        }
    )
    provenance["fingerprint"].update(definitions=new["definitions"], date=new["date"])
    _write(data, Path(path))
    return changed
