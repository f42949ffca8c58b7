"""Execute the book's notebooks in place and prove that their stored outputs are fresh.

Usage (the Makefile wraps these; see CONTRIBUTING.md):

    python tools/nbtools.py execute [NOTEBOOK ...]   # re-run top to bottom, store outputs + proof
    python tools/nbtools.py check   [NOTEBOOK ...]   # exit 1 if any notebook is stale
    python tools/nbtools.py status                   # the execution-status table
    python tools/nbtools.py gpu-notebooks            # the notebooks with a GPU configuration
    python tools/nbtools.py isa-notebooks            # the notebooks whose path depends on the CPU

``execute`` runs each notebook in a fresh kernel with nbclient (the same way a reader's
"Restart & Run All" does), then records in ``metadata.rnn_tutorial``:

- ``code_sha256``: a hash of every code cell's source, in order. If a code cell changes after
  the outputs were stored, the hash no longer matches and ``check`` (and the test suite) fails.
- ``depends``: what else the outputs depend on (:mod:`rnn_tutorial.notebook_deps`): a hash of
  every definition of the package that the kernel executed (docstrings, comments and code it
  never ran do not count), every value it read from another notebook with ``glued``, the
  numbers of every recorded run it read with ``load_run``, and the library versions. ``check``
  names whichever of these changed since.
- ``execution_seconds``, ``executed_at``, ``device`` and ``machine``: shown on the book's
  execution-status page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
META_KEY = "rnn_tutorial"
BUDGET_SECONDS = 180  # at most 3 minutes per notebook on the 2-core CI machine

# Machine-specific paths that must never appear in stored outputs.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:root|home|tmp|work|Users)/[\w.-]+")


def notebooks(paths: list[str] | None = None) -> list[Path]:
    """The notebooks to act on: the given paths, or every ``chapters/*.ipynb``."""
    if paths:
        found = [Path(p).resolve() for p in paths]
        for p in found:
            if not p.is_file() or p.suffix != ".ipynb":
                raise SystemExit(f"not a notebook: {p}")
        return found
    return sorted(CHAPTERS.glob("*.ipynb"))


def code_hash(nb: nbformat.NotebookNode) -> str:
    """sha256 of the code cells' sources, in order (whitespace at the ends ignored)."""
    sources = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def _device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def _machine() -> str:
    from rnn_tutorial.cpu import cpu_description

    return cpu_description()


def _clean_streams(cell: nbformat.NotebookNode) -> None:
    """Merge consecutive stream outputs and apply carriage returns, as a terminal would.

    A tqdm bar redraws itself with ``\\r``; the reader of the rendered book should see its
    final state, not every intermediate frame.
    """
    merged: list[nbformat.NotebookNode] = []
    for out in cell.get("outputs", []):
        if (
            out.output_type == "stream"
            and merged
            and merged[-1].output_type == "stream"
            and merged[-1].name == out.name
        ):
            merged[-1].text += out.text
        else:
            merged.append(out)
    for out in merged:
        if out.output_type == "stream":
            lines = out.text.replace("\r\n", "\n").split("\n")
            out.text = "\n".join(line.rsplit("\r", 1)[-1] for line in lines)
    cell.outputs = merged


def _silent(code: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(code)


def _tracing_client(nb: nbformat.NotebookNode, path: Path, out: Path, timeout: int) -> Any:
    """An nbclient client that runs the notebook between two silent cells of its own: the
    first starts tracing the package (:mod:`rnn_tutorial.notebook_deps`), the last writes what
    the notebook depended on to ``out``. Neither is stored, and neither counts in the
    notebook's execution counts."""
    from nbclient import NotebookClient
    from nbclient.util import ensure_async, run_sync

    class TracingClient(NotebookClient):  # type: ignore[misc]
        async def _async_silent(self, code: str) -> None:
            # nbclient stores a cell back at its index: give it one past the notebook's end.
            self.nb.cells.append(_silent(code))
            try:
                await self.async_execute_cell(
                    self.nb.cells[-1], len(self.nb.cells) - 1, store_history=False
                )
            finally:
                self.nb.cells.pop()
                self.code_cells_executed -= 1

        async def async_execute(self, reset_kc: bool = False, **kwargs: Any) -> Any:
            self.reset_execution_trackers()
            async with self.async_setup_kernel(**kwargs):
                assert self.kc is not None
                info = await self.async_wait_for_reply(await ensure_async(self.kc.kernel_info()))
                if info is not None and "language_info" in info["content"]:
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                await self._async_silent("import rnn_tutorial.notebook_deps as _d; _d.start()")
                for index, cell in enumerate(self.nb.cells):
                    await self.async_execute_cell(
                        cell, index, execution_count=self.code_cells_executed + 1
                    )
                await self._async_silent(
                    f"import rnn_tutorial.notebook_deps as _d; _d.finish({str(out)!r})"
                )
                self.set_widgets_metadata()
            return self.nb

        execute = run_sync(async_execute)

    return TracingClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )


def execute(path: Path, timeout: int = 600) -> float:
    """Execute one notebook in place; return its wall-clock time in seconds."""
    import tempfile

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "depends.json"
        client = _tracing_client(nb, path, out, timeout)
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        depends = json.loads(out.read_text(encoding="utf-8"))
    for cell in nb.cells:
        if cell.cell_type == "code":
            _clean_streams(cell)
    nb.metadata[META_KEY] = {
        "code_sha256": code_hash(nb),
        "depends": depends,
        "execution_seconds": round(seconds, 1),
        "executed_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": _device(),
        "machine": _machine(),
    }
    nbformat.write(nb, path)
    return seconds


def problems(path: Path) -> list[str]:
    """Everything that makes a stored notebook stale or unfit to publish."""
    nb = nbformat.read(path, as_version=4)
    name = path.name
    meta = nb.metadata.get(META_KEY)
    if not meta:
        return [f"{name}: never executed with `make execute` (no metadata.{META_KEY})"]
    found = []
    if meta.get("code_sha256") != code_hash(nb):
        found.append(f"{name}: code changed after its outputs were stored; run `make execute`")
    if "depends" in meta:  # older executions recorded the code hash only (see untracked)
        from rnn_tutorial.notebook_deps import changes

        found += [
            f"{name}: {change}; run `make execute`" for change in changes(meta["depends"], ROOT)
        ]
    counts = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        counts.append(cell.execution_count)
        for out in cell.outputs:
            if out.output_type == "error":
                found.append(f"{name}: cell {i} stored an error ({out.ename})")
        text = json.dumps(cell.outputs)
        if MACHINE_PATH.search(text):
            found.append(
                f"{name}: cell {i} output shows a machine path: {MACHINE_PATH.search(text)[0]}"
            )
    if counts != list(range(1, len(counts) + 1)):
        found.append(f"{name}: cells were not executed once, top to bottom (counts {counts})")
    if meta.get("execution_seconds", float("inf")) > BUDGET_SECONDS:
        found.append(
            f"{name}: took {meta['execution_seconds']} s, over the {BUDGET_SECONDS} s budget"
        )
    return found


def gpu_notebooks() -> list[Path]:
    """The notebooks that pick a configuration with ``choose_config`` (a GPU branch).

    ``make test`` runs these a second time with ``RNN_TUTORIAL_GPU_SMOKE=1``, which executes
    their GPU configuration at reduced size on the CPU (see ``rnn_tutorial.repro``).
    """
    found = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if any("choose_config(" in c.source for c in nb.cells if c.cell_type == "code"):
            found.append(path)
    return found


# Code that takes a different path, or different kernels, depending on the CPU's instruction
# set: bfloat16 autocast (oneDNN), the probes of rnn_tutorial.cpu, OpenBLAS kernel families.
ISA_DEPENDENT = re.compile(r"bfloat16|autocast|rnn_tutorial\.cpu|OPENBLAS_CORETYPE|--other-kernel")


def isa_notebooks() -> list[Path]:
    """The notebooks whose code depends on the CPU's instruction set (see ``ISA_DEPENDENT``).

    ``make test`` runs these again with ``ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell``
    (``make isa-limit``), so that the AVX2-only path runs in CI on any x86 CPU.
    """
    found = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if any(ISA_DEPENDENT.search(c.source) for c in nb.cells if c.cell_type == "code"):
            found.append(path)
    return found


def untracked(path: Path) -> bool:
    """True for a notebook last executed before ``make execute`` recorded what it depends on:
    its freshness rests on its code cells alone until it is executed again."""
    meta = nbformat.read(path, as_version=4).metadata.get(META_KEY, {})
    return bool(meta) and "depends" not in meta


def _why_stale(path: Path) -> str:
    """The status page's column: "yes", or "NO: " and the reasons."""
    found = problems(path)
    if not found and untracked(path):
        return "yes, by its code cells only (executed before dependencies were recorded)"
    if not found:
        return "yes"
    reasons = [p.removeprefix(f"{path.name}: ").removesuffix("; run `make execute`") for p in found]
    return "NO: " + "; ".join(reasons)


def status_rows() -> list[dict[str, str]]:
    """One row per chapter notebook, for the book's execution-status page."""
    rows = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get(META_KEY, {})
        rows.append(
            {
                "notebook": path.name,
                "executed": meta.get("executed_at", "never"),
                "seconds": f"{meta['execution_seconds']:.0f}"
                if "execution_seconds" in meta
                else "-",
                "device": meta.get("device", "-"),
                "machine": meta.get("machine", "-"),
                "fresh": _why_stale(path),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="re-execute notebooks in place and record freshness")
    ex.add_argument("paths", nargs="*")
    ex.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    ch = sub.add_parser("check", help="fail if a notebook's stored outputs are stale")
    ch.add_argument("paths", nargs="*")
    sub.add_parser("status", help="print the execution-status table")
    sub.add_parser("gpu-notebooks", help="list the notebooks that have a GPU configuration")
    sub.add_parser("isa-notebooks", help="list the notebooks whose path depends on the CPU")
    args = parser.parse_args(argv)

    if args.command == "execute":
        for path in notebooks(args.paths):
            print(f"executing {path.relative_to(ROOT)} ...", flush=True)
            seconds = execute(path, timeout=args.timeout)
            print(f"  {seconds:.1f} s", flush=True)
            for problem in problems(path):
                print(f"  problem: {problem}", flush=True)
        return 0
    if args.command == "check":
        paths = notebooks(args.paths)
        found = [p for path in paths for p in problems(path)]
        print("\n".join(found) if found else "all notebooks fresh")
        old = [path.name for path in paths if untracked(path)]
        if old:
            print(
                "checked by their code cells only (executed before dependencies were "
                f"recorded): {', '.join(old)}"
            )
        return 1 if found else 0
    if args.command == "gpu-notebooks":
        print("\n".join(str(p.relative_to(ROOT)) for p in gpu_notebooks()))
        return 0
    if args.command == "isa-notebooks":
        print("\n".join(str(p.relative_to(ROOT)) for p in isa_notebooks()))
        return 0
    rows = status_rows()
    print(f"{'notebook':<40} {'seconds':>7}  {'device':<10} executed")
    for r in rows:
        print(f"{r['notebook']:<40} {r['seconds']:>7}  {r['device']:<10} {r['executed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
