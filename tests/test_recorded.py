"""Recorded runs: provenance is written, read back, and checked for freshness.

Every results file under results/runs/ must still belong to the code that produced it, as every
notebook's stored outputs must (tests/test_notebooks.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_tutorial.recorded import (
    RecordedRunError,
    blob_sha1,
    find_results_dir,
    load_run,
    problems,
    record,
    repo_root,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "results" / "runs").glob("*.json"))


@pytest.fixture
def script(tmp_path: Path, monkeypatch) -> Path:
    """A module inside a stand-in repository root, whose ``tiny_run`` a run executes."""
    import rnn_tutorial.recorded as recorded

    root = tmp_path / "repo"
    (root / "experiments").mkdir(parents=True)
    path = root / "experiments" / "tiny_experiment.py"
    path.write_text(
        "def tiny_run():\n"
        "    return {'metrics': {'val_acc': 0.5}, 'curves': {'loss': [1.0, 0.5]}}\n"
    )
    monkeypatch.setattr(recorded, "repo_root", lambda: root)
    monkeypatch.syspath_prepend(str(root / "experiments"))
    sys.modules.pop("tiny_experiment", None)
    return path


def _tiny_run():
    import tiny_experiment

    return tiny_experiment.tiny_run()


def test_blob_sha1_is_gits_hash(tmp_path: Path):
    path = tmp_path / "f.txt"
    path.write_text("hello\n")
    expected = subprocess.run(
        ["git", "hash-object", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert blob_sha1(path) == expected


def test_record_writes_metrics_curves_and_provenance(script: Path, tmp_path: Path):
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(b"\x00\x01")
    out = record(
        "tiny",
        _tiny_run,
        config={"epochs": 1},
        code_files=[script],
        data_files=[data_file],
        results_dir=tmp_path / "runs",
    )
    saved = json.loads(out.read_text())
    assert saved["metrics"] == {"val_acc": 0.5} and saved["curves"]["loss"] == [1.0, 0.5]
    prov = saved["provenance"]
    assert set(prov["definitions"]) == {"experiments/tiny_experiment.py"}
    assert set(prov["definitions"]["experiments/tiny_experiment.py"]) == {"<module>", "tiny_run"}
    assert prov["git"]["commit"] and "clean" in prov["git"]
    assert prov["versions"]["numpy"] and "; " in prov["environment"]["cpu"]
    assert prov["data"]["data.bin"] == hashlib.sha256(b"\x00\x01").hexdigest()
    assert {"numpy", "torch", "cpu"} <= set(prov["environment"])
    assert prov["wall_seconds"] >= 0 and prov["date"].endswith("UTC")
    assert sys.argv[0].split("/")[-1] in prov["command"]
    run = load_run("tiny", results_dir=tmp_path / "runs")
    assert run.metrics["val_acc"] == 0.5 and run.config == {"epochs": 1}
    took = f"{prov['wall_seconds']:.0f} s"  # the run, its tracing included
    assert run.label.startswith(f"recorded run, {took} on ") and prov["date"][:10] in run.label
    assert not list((tmp_path / "runs").glob("*.tmp")), "the write must be atomic"


def test_problems_detects_a_changed_or_missing_code_file(script: Path, tmp_path: Path):
    out = record("tiny", _tiny_run, config={}, code_files=[script], results_dir=tmp_path)
    root = script.parents[1]
    assert problems(out, root=root) == []
    script.write_text(script.read_text() + "# a comment: not a change\n")
    assert problems(out, root=root) == []
    script.write_text(script.read_text().replace("0.5}, 'curves'", "0.6}, 'curves'"))
    assert any("tiny_run changed since the run" in p for p in problems(out, root=root))
    script.unlink()
    assert any("no longer exists" in p for p in problems(out, root=root))


def test_errors_are_clear(script: Path, tmp_path: Path):
    with pytest.raises(RecordedRunError, match="letters, digits"):
        record("bad name!", _tiny_run, config={}, results_dir=tmp_path)
    with pytest.raises(RecordedRunError, match="must return a dict with 'metrics'"):
        record("x", lambda: {"acc": 1}, config={}, results_dir=tmp_path)
    with pytest.raises(RecordedRunError, match="outside the repository"):
        record("x", _tiny_run, config={}, code_files=[Path("/etc/hostname")], results_dir=tmp_path)
    with pytest.raises(RecordedRunError, match="run its script under experiments/"):
        load_run("never_recorded", results_dir=tmp_path)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(RecordedRunError, match="not valid JSON"):
        load_run("broken", results_dir=tmp_path)
    with pytest.raises(RecordedRunError, match="no results/runs folder found"):
        find_results_dir(start=Path("/"))  # falls back to repo_root(), patched to the tmp repo


def test_the_package_lives_in_this_repository():
    assert repo_root() == ROOT


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_recorded_run_is_fresh(path: Path):
    """A results file fails when a definition it executed, its data or its versions changed."""
    assert problems(path) == []
