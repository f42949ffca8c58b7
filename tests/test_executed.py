"""Executed-definition provenance: what makes a recorded run stale, and what does not.

The hashes ignore docstrings, comments and formatting; a run depends only on the definitions it
executed. The scenarios of CONTRIBUTING.md ("Recorded runs") are checked on a scratch copy of
the repository's code and recorded runs, and the fingerprint path end to end on a tiny script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_tutorial.executed import (
    MODULE,
    ExecutedDefinitions,
    changed_definitions,
    definitions,
    executed_at,
    hash_definitions,
)
from rnn_tutorial.recorded import ROOT_ENV, RecordedRunError, problems, restamp

ROOT = Path(__file__).resolve().parents[1]
RUNS = sorted((ROOT / "results" / "runs").glob("*.json"))

SOURCE = '''"""A module."""
import math

X = 2


def f(x):
    """Doc."""
    return math.sqrt(x) * X  # a comment


class C:
    y = 1

    def m(self):
        def inner():
            return 3
        return inner()
'''


def test_hashes_ignore_docstrings_comments_and_formatting():
    before = hash_definitions(SOURCE)
    assert set(before) == {MODULE, "f", "C", "C.m", "C.m.inner"}
    edited = SOURCE.replace('"""Doc."""', '"""Another doc,\n    on two lines."""')
    edited = edited.replace("# a comment", "# another").replace("* X", "*   X")
    edited = edited.replace('"""A module."""', "")
    assert hash_definitions(edited) == before


def test_a_body_edit_changes_only_its_own_definition():
    before = hash_definitions(SOURCE)
    after = hash_definitions(SOURCE.replace("return 3", "return 4"))
    assert {k for k in before if before[k] != after[k]} == {"C.m.inner"}
    after = hash_definitions(SOURCE.replace("X = 2", "X = 3"))
    assert {k for k in before if before[k] != after[k]} == {MODULE}


def test_adding_a_function_changes_no_existing_hash():
    before = hash_definitions(SOURCE)
    after = hash_definitions(SOURCE + "\n\ndef g():\n    return 1\n")
    assert {k: after[k] for k in before} == before and "g" in after


def test_lines_map_to_the_innermost_definition():
    found = definitions(SOURCE)
    line = {text.strip(): i for i, text in enumerate(SOURCE.splitlines(), start=1)}
    assert executed_at(found, [line["return 3"]]) == {"C.m.inner"}
    assert executed_at(found, [line["return inner()"]]) == {"C.m"}
    assert executed_at(found, [line["def f(x):"], line["X = 2"]]) == {MODULE}
    assert executed_at(found, [line["y = 1"]]) == {"C"}


def test_tracer_records_what_ran_and_not_what_did_not(tmp_path: Path, monkeypatch):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "mod_for_trace.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path / "experiments"))
    import mod_for_trace

    with ExecutedDefinitions(tmp_path) as traced:
        mod_for_trace.f(4.0)
    result = traced.result()["experiments/mod_for_trace.py"]
    assert set(result) == {MODULE, "f"}  # C.m never ran
    assert result["f"] == hash_definitions(SOURCE)["f"]


def _scratch_copy(tmp_path: Path) -> Path:
    """The code, requirements and recorded runs of the repository, in a folder of its own."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "experiments", root / "experiments")
    shutil.copytree(ROOT / "results", root / "results")
    shutil.copy(ROOT / "requirements.txt", root / "requirements.txt")
    return root


def _stale(root: Path) -> dict[str, list[str]]:
    runs = sorted((root / "results" / "runs").glob("*.json"))
    return {p.stem: problems(p, root=root) for p in runs if problems(p, root=root)}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.skipif(not RUNS, reason="no recorded runs")
def test_docstring_edits_and_new_functions_leave_every_run_fresh(tmp_path: Path):
    root = _scratch_copy(tmp_path)
    assert _stale(root) == {}
    package = root / "src" / "rnn_tutorial"
    for module in ("data.py", "repro.py", "recorded.py"):
        text = (package / module).read_text()
        first = text.index('"""') + 3
        (package / module).write_text(text[:first] + "Edited docstring. " + text[first:])
    _edit(package / "data.py", "def fetch(", "def a_new_loader():\n    return 1\n\n\ndef fetch(")
    assert _stale(root) == {}


@pytest.mark.skipif(not RUNS, reason="no recorded runs")
def test_a_body_edit_stales_exactly_the_runs_that_executed_it(tmp_path: Path):
    root = _scratch_copy(tmp_path)
    runs = {p.stem: json.loads(p.read_text()) for p in (root / "results" / "runs").glob("*.json")}
    data_py = "src/rnn_tutorial/data.py"
    users = {n for n, d in runs.items() if "load_imdb" in d["provenance"]["definitions"][data_py]}
    assert users  # the sentiment runs read IMDB
    text = (root / "src" / "rnn_tutorial" / "data.py").read_text()
    start = text.index("def load_imdb(")
    body = text.index("\n", text.index('"""', text.index('"""', start) + 3)) + 1
    text = text[:body] + "    _ = None  # a body edit\n" + text[body:]
    (root / "src" / "rnn_tutorial" / "data.py").write_text(text)
    stale = _stale(root)
    assert set(stale) == users
    for lines in stale.values():
        assert any("src/rnn_tutorial/data.py::load_imdb changed" in line for line in lines)


@pytest.mark.skipif(not RUNS, reason="no recorded runs")
def test_a_removed_definition_and_a_changed_pin_are_reported(tmp_path: Path):
    root = _scratch_copy(tmp_path)
    run = json.loads((root / "results" / "runs" / RUNS[0].name).read_text())
    rel, names = next(iter(run["provenance"]["definitions"].items()))
    assert changed_definitions({rel: {"no_such_definition": "0"}}, root) == [
        f"{rel}::no_such_definition no longer exists"
    ]
    pins = (root / "requirements.txt").read_text()
    (root / "requirements.txt").write_text(re.sub(r"^numpy==\S+", "numpy==0.0.1", pins, flags=re.M))
    assert all(any("numpy" in line for line in lines) for lines in _stale(root).values())


TINY = '''"""A tiny recorded-run script for the tests."""
import argparse
import sys
import tempfile
from pathlib import Path

from rnn_tutorial.recorded import record


def compute(n):
    return [float(i) ** 0.5 for i in range(n)]


def never_called():
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    n = 3 if args.smoke else 5
    record(
        "tiny",
        lambda: {"metrics": {"total": sum(compute(n))}, "curves": {"c": compute(n)}},
        config={"n": n},
        results_dir=Path(tempfile.mkdtemp()) if args.smoke else Path(args.out),
        smoke_argv=None if args.smoke else [*sys.argv[1:], "--smoke"],
    )


if __name__ == "__main__":
    main()
'''


def test_fingerprint_restamps_a_refactor_and_refuses_a_change(tmp_path: Path, monkeypatch):
    root = tmp_path / "repo"
    (root / "experiments").mkdir(parents=True)
    (root / "src" / "rnn_tutorial").mkdir(parents=True)
    script = root / "experiments" / "tiny.py"
    script.write_text(TINY)
    out = root / "results" / "runs"
    monkeypatch.setenv(ROOT_ENV, str(root))
    env = {**os.environ, ROOT_ENV: str(root)}
    subprocess.run(
        [sys.executable, "experiments/tiny.py", "--out", str(out)], cwd=root, env=env, check=True
    )
    path = out / "tiny.json"
    saved = json.loads(path.read_text())
    defs = saved["provenance"]["definitions"]["experiments/tiny.py"]
    assert {"compute", "main", MODULE} <= set(defs) and "never_called" not in defs
    assert saved["provenance"]["fingerprint"]["metrics"]["total"] == sum(i**0.5 for i in range(3))
    assert problems(path, root=root) == []
    _edit(script, "return 0", "return 1")  # a definition the run never executed
    assert problems(path, root=root) == []

    # A refactor: the same numbers, so the fingerprint is identical and the run is re-stamped.
    _edit(script, "[float(i) ** 0.5 for i in range(n)]", "[i**0.5 for i in map(float, range(n))]")
    assert any("tiny.py::compute changed" in p for p in problems(path, root=root))
    assert restamp(path, "rewrote compute", root=root) == ["experiments/tiny.py::compute changed"]
    assert problems(path, root=root) == []
    stamps = json.loads(path.read_text())["provenance"]["restamps"]
    assert stamps[-1]["reason"] == "rewrote compute" and "identical" in stamps[-1]["evidence"]

    # A change of what the run computes: refused, the run stays stale.
    _edit(script, "[i**0.5 for i", "[i**0.5 + 1e-12 for i")
    with pytest.raises(RecordedRunError, match="computes different numbers"):
        restamp(path, "should be refused", root=root)
    found = problems(path, root=root)
    assert any("tiny.py::compute changed" in p for p in found), found


def test_smoke_fingerprint_is_identical_in_two_fresh_processes():
    """TensorFlow training with op determinism on: the same numbers, bit for bit."""
    if not os.environ.get("RNN_TUTORIAL_DATA"):
        pytest.skip("set RNN_TUTORIAL_DATA to the data folder (make test sets it)")
    from rnn_tutorial.recorded import fingerprint

    argv = ["experiments/ch14_imdb_full.py", "--no-twin", "--smoke"]
    first, second = fingerprint(argv), fingerprint(argv)
    assert first["metrics"]["keras"] and first["curves"]
    assert (first["metrics"], first["curves"]) == (second["metrics"], second["curves"])


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.name)
def test_recorded_run_names_its_cpu_and_has_a_fingerprint(path: Path):
    provenance = json.loads(path.read_text())["provenance"]
    assert (
        "AVX2" in provenance["fingerprint"]["cpu"] or "unknown" in provenance["fingerprint"]["cpu"]
    )
    assert ";" in provenance["environment"]["cpu"]  # the model, then the extensions (or why not)
    assert provenance["fingerprint"]["metrics"] and provenance["definitions"]


def test_fingerprints_leave_out_timings_and_rates():
    from rnn_tutorial.recorded import _without_timings

    metrics = {
        "val_acc": 0.5,
        "train_seconds": 3.2,
        "by_width": {"1": {"bleu": 1.0, "test_sentences_per_second": 1949.4}},
        "curves": [{"epoch_time": 1.0, "loss": 2.0}],
    }
    assert _without_timings(metrics) == {
        "val_acc": 0.5,
        "by_width": {"1": {"bleu": 1.0}},
        "curves": [{"loss": 2.0}],
    }


CALLS_SOURCE = '''"""A module traced by calls."""


def used(x):
    """Docstring."""
    return helper(x) + 1


def helper(x):
    return 2 * x


def unused(x):
    return x


class Box:
    def opened(self):
        return [i for i in range(3)]

    def closed(self):
        return 0


def fails():
    raise ValueError("boom")
'''


def _calls_package(tmp_path: Path, monkeypatch, name: str) -> Path:
    package = tmp_path / "src" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(CALLS_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    return package


def test_tracing_by_calls_finds_what_tracing_by_lines_finds(tmp_path: Path, monkeypatch):
    """The notebooks' tracer (by='calls') and the recorded runs' (by='lines') agree."""
    import importlib
    import traceback

    results = {}
    for by in ("lines", "calls"):
        name = f"callspkg_{by}"
        _calls_package(tmp_path / by, monkeypatch, name)
        with ExecutedDefinitions(tmp_path / by, (f"src/{name}",), by=by) as traced:
            mod = importlib.import_module(f"{name}.mod")
            assert mod.used(1) == 3 and mod.Box().opened() == [0, 1, 2]
            try:
                mod.fails()
            except ValueError:
                frame = traceback.extract_tb(sys.exc_info()[2])[-1]
                line = CALLS_SOURCE.splitlines().index('    raise ValueError("boom")') + 1
                assert (frame.lineno, frame.line) == (line, 'raise ValueError("boom")')
        results[by] = traced.result()[f"src/{name}/mod.py"]
    assert results["calls"] == results["lines"]
    assert set(results["calls"]) == {MODULE, "used", "helper", "Box", "Box.opened", "fails"}
    assert not list(tmp_path.rglob("*.pyc")), "the instrumented code must not be cached"


def test_tracing_by_calls_refuses_a_module_imported_before_it_started(tmp_path, monkeypatch):
    import importlib

    _calls_package(tmp_path, monkeypatch, "callspkg_early")
    importlib.import_module("callspkg_early.mod")
    with pytest.raises(RuntimeError, match="imported before tracing started"):
        ExecutedDefinitions(tmp_path, ("src/callspkg_early",), by="calls").__enter__()
