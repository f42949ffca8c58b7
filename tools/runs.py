"""Check, fingerprint and re-stamp the recorded runs under results/runs/ (CONTRIBUTING.md).

Usage (``make check-runs`` wraps the first)::

    python tools/runs.py check                    # why each stale run is stale; exit 1 if any
    python tools/runs.py restamp NAME --why "…"   # accept a refactor: the smoke fingerprint
                                                  # must be identical bit for bit
    python tools/runs.py migrate NAME --commit C  # one-off: give a run recorded before tracing
                                                  # its executed definitions and fingerprint,
                                                  # from its smoke configuration at commit C

A run is stale when a definition it executed changed or disappeared, or its data or pinned
versions changed (``rnn_tutorial.recorded.problems``). Editing a docstring, a comment or code
the run never executed leaves it fresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "results" / "runs"


def check() -> int:
    from rnn_tutorial.recorded import problems

    found = [p for path in sorted(RUNS.glob("*.json")) for p in problems(path)]
    print("\n".join(found) if found else f"all {len(list(RUNS.glob('*.json')))} runs fresh")
    return 1 if found else 0


def restamp_run(name: str, why: str) -> int:
    from rnn_tutorial.recorded import RecordedRunError, restamp

    try:
        changed = restamp(RUNS / f"{name}.json", why)
    except RecordedRunError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    print(f"{name}: re-stamped {len(changed)} definition(s)" if changed else f"{name}: fresh")
    for line in changed:
        print(f"  {line}")
    return 0


def migrate(name: str, commit: str) -> int:
    """Trace the smoke configuration of a run recorded before tracing, on the code of its
    commit (a temporary git worktree), and store the executed definitions and fingerprint.

    The run's metrics, curves and configuration are not touched: the full run is not repeated.
    The code the run executed is the code of ``commit`` (its schema-1 file recorded the git
    blob hash of every file it imported; they are checked against the commit here).
    """
    from rnn_tutorial.cpu import cpu_description
    from rnn_tutorial.recorded import (
        SCHEMA,
        VERSIONED,
        _without_timings,
        _write,
        blob_sha1,
    )

    path = RUNS / f"{name}.json"
    data = json.loads(path.read_text())
    old = data["provenance"]
    if data.get("schema") != 1:
        raise SystemExit(f"{name}: schema {data.get('schema')}, nothing to migrate")
    argv = shlex.split(old["command"])[1:] + ["--smoke"]
    runner = ROOT / "src" / "rnn_tutorial" / "executed.py"
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
            check=True,
            capture_output=True,
        )
        try:
            for rel, blob in old["code"].items():
                if blob_sha1(tree / rel) != blob:
                    raise SystemExit(f"{name}: {rel} at {commit} is not the code the run used")
            out = Path(scratch) / "smoke.json"
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            command = [sys.executable, str(runner), "smoke", "--root", str(tree), "--out"]
            done = subprocess.run(
                [*command, str(out), "--", *argv], cwd=tree, env=env, text=True, check=False
            )
            if done.returncode or not out.is_file():
                raise SystemExit(f"{name}: the smoke run failed at {commit}")
            smoke = json.loads(out.read_text())
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True
            )
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    environment = old["environment"]
    environment["cpu"] += "; instruction-set extensions not recorded (run made before they were)"
    data["schema"] = SCHEMA
    data["provenance"] = {
        "command": old["command"],
        "git": {"commit": commit, "clean": True, "note": "the commit whose code the run used"},
        "definitions": smoke["definitions"],
        "data": old["data"],
        "versions": {k: environment[k] for k in ("python", *VERSIONED) if k in environment},
        "environment": environment,
        "wall_seconds": old["wall_seconds"],
        "date": old["date"],
        "fingerprint": {
            "command": shlex.join(["python", *argv]),
            "metrics": _without_timings(smoke["metrics"]),
            "curves": _without_timings(smoke.get("curves", {})),
            "definitions": smoke["definitions"],
            "cpu": cpu_description(),
            "date": now,
        },
        "migrated": {
            "date": now,
            "from": "schema 1: git blob hashes of every imported file",
            "how": f"executed definitions of the smoke configuration at {commit}",
            "schema_1_code": old["code"],
        },
    }
    _write(data, path)
    n = sum(len(v) for v in smoke["definitions"].values())
    print(f"{name}: migrated, {n} executed definitions in {len(smoke['definitions'])} files")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="list the stale runs and why")
    re_ = sub.add_parser("restamp", help="accept a refactor that keeps the smoke fingerprint")
    re_.add_argument("name")
    re_.add_argument("--why", required=True, help="what changed, for the run's record")
    mi = sub.add_parser("migrate", help="give a schema-1 run its executed definitions")
    mi.add_argument("name")
    mi.add_argument("--commit", required=True)
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    if args.command == "restamp":
        return restamp_run(args.name, args.why)
    return migrate(args.name, args.commit)


if __name__ == "__main__":
    sys.exit(main())
