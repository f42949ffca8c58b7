"""Which of the book's own definitions a process executed, and a hash of each one's code.

The freshness of a recorded run (:mod:`rnn_tutorial.recorded`) rests on this module. While a
run executes, :class:`ExecutedDefinitions` traces the files of the package and of
``experiments/`` with coverage.py's C tracer and maps every executed line to the innermost
definition (function, method or class) that holds it, or to the module's top level. Each
definition is then identified by a hash of its normalised syntax tree:

- docstrings and comments are dropped and formatting does not exist in a syntax tree, so
  editing them leaves the hash unchanged;
- a definition nested inside another (a method in a class, a function in a function or in a
  module) is left out of the outer one's tree and hashed on its own, so adding a function, or
  editing a method that a run never executed, changes nothing the run depends on. (A change to
  a module's top-level statements, a registry such as ``rnn_tutorial.data.DATASETS`` for
  instance, does change its ``<module>`` hash: every run that imported the module executed
  them. If the run computes the same, :func:`rnn_tutorial.recorded.restamp` accepts it.)

A run is stale when one of the definitions it executed changed or disappeared
(:func:`changed_definitions`); adding a function, or editing one it never ran, leaves it fresh.
See CONTRIBUTING.md, "Recorded runs".
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import importlib.abc
import importlib.machinery
import inspect
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "MODULE",
    "TRACED_FOLDERS",
    "Definition",
    "ExecutedDefinitions",
    "changed_definitions",
    "definitions",
    "executed_at",
    "hash_definitions",
]

MODULE = "<module>"  # the name of a module's top level
# The folders, relative to the repository root, whose code a recorded run depends on.
TRACED_FOLDERS = ("src/rnn_tutorial", "experiments")
# Machinery that runs around every recorded run but decides none of its numbers.
_INFRASTRUCTURE = (
    "src/rnn_tutorial/executed.py",
    "src/rnn_tutorial/notebook_deps.py",
    "src/rnn_tutorial/recorded.py",
)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Definition:
    """One definition of a source file: its dotted name, body lines and code hash."""

    name: str
    first: int  # the first line of its body (a decorator or ``def`` line belongs to the parent)
    last: int
    depth: int
    sha256: str


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


class _Stubber(ast.NodeTransformer):
    """Drops the root's docstring and every definition nested in it (each is hashed on its own,
    so that adding, removing or editing one leaves the hash of the code around it unchanged)."""

    def __init__(self, root: ast.AST | None) -> None:
        self.root = root

    def _definition(self, node: ast.AST) -> ast.AST | None:
        if node is not self.root:
            return None
        node.body = _without_docstring(node.body)  # type: ignore[attr-defined]
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition


def _hash(node: ast.AST) -> str:
    """sha256 of a definition's tree without docstrings, comments, positions or nested bodies."""
    node = copy.deepcopy(node)
    if isinstance(node, ast.Module):
        node.body = _without_docstring(node.body)
        node = _Stubber(None).visit(node)
    else:
        node = _Stubber(node).visit(node)
    text = ast.dump(node, annotate_fields=True, include_attributes=False)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=256)
def _definitions(source: str) -> tuple[Definition, ...]:
    return tuple(definitions(source))


def definitions(source: str) -> list[Definition]:
    """Every definition of a Python source, the module's top level (:data:`MODULE`) first.

    Names are dotted paths (``Class.method``, ``outer.inner``); a name defined twice in one
    scope gets ``#2``, ``#3``, ... after the first.
    """
    tree = ast.parse(source)
    found = [Definition(MODULE, 1, max(len(source.splitlines()), 1), 0, _hash(tree))]
    seen: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFS):
                name = f"{prefix}{child.name}"
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name = f"{name}#{seen[name]}"
                first = child.body[0].lineno
                last = child.end_lineno or first
                found.append(Definition(name, first, last, depth + 1, _hash(child)))
                walk(child, f"{name}.", depth + 1)
            else:
                walk(child, prefix, depth)

    walk(tree, "", 0)
    return found


def hash_definitions(source: str) -> dict[str, str]:
    """``{name: sha256}`` for every definition of a source (see :func:`definitions`)."""
    return {d.name: d.sha256 for d in _definitions(source)}


def executed_at(found: list[Definition], lines: Iterable[int]) -> set[str]:
    """The names of the innermost definitions that hold the given executed line numbers."""
    names = set()
    for line in lines:
        holders = [d for d in found if d.first <= line <= d.last]
        if holders:
            names.add(max(holders, key=lambda d: d.depth).name)
    return names


_NOTE = "__rnn_tutorial_entered__"  # the name of the noting function in a traced module


class _NoteEntries(ast.NodeTransformer):
    """Puts ``__rnn_tutorial_entered__(LINE)`` at the top of every function and class body,
    after its docstring, where LINE is the body's first line (:attr:`Definition.first`)."""

    def _body(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        body = node.body  # type: ignore[attr-defined]
        skip = len(body) - len(_without_docstring(body))
        anchor = body[min(skip, len(body) - 1)]
        call = ast.Expr(ast.Call(ast.Name(_NOTE, ast.Load()), [ast.Constant(body[0].lineno)], []))
        body.insert(skip, ast.copy_location(call, anchor))
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _body


class _NotingLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, entered: set[int]) -> None:
        super().__init__(fullname, path)
        self.entered = entered

    def get_code(self, fullname: str) -> object:  # compiled afresh: no bytecode cache
        source = self.get_source(fullname)
        tree = ast.fix_missing_locations(_NoteEntries().visit(ast.parse(source)))
        return compile(tree, self.path, "exec", dont_inherit=True)

    def exec_module(self, module: object) -> None:
        module.__dict__[_NOTE] = self.entered.add  # type: ignore[attr-defined]
        super().exec_module(module)  # type: ignore[arg-type]


class _Instrumenter(importlib.abc.MetaPathFinder):
    """Loads the traced modules with :class:`_NotingLoader` (see :class:`ExecutedDefinitions`)."""

    def __init__(self, tracer: ExecutedDefinitions, calls: dict[str, set[int]]) -> None:
        self.tracer = tracer
        self.calls = calls
        self.packages = {folder.name for folder in tracer.folders}

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name.split(".", 1)[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)  # type: ignore[arg-type]
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        rel = self.tracer._relative(spec.origin or "")
        if rel is None:
            return None
        spec.loader = _NotingLoader(name, spec.origin, self.calls.setdefault(rel, set()))
        return spec


class ExecutedDefinitions:
    """Trace which definitions under ``root``'s :data:`TRACED_FOLDERS` a block of code executes.

    Use as a context manager, then read :meth:`result`. The sources are read when the block
    starts, so the hashes are those of the code that ran even if a file is edited meanwhile.
    Definitions that are running when the block starts (the script's ``main`` that called
    :func:`rnn_tutorial.recorded.record`, and its top level) count as executed, and so does the
    top level of every traced module imported by the end. The recording machinery itself
    (``executed.py``, ``recorded.py``) is left out: it writes the results but computes none.

    ``by="lines"`` (recorded runs) traces lines with coverage.py's C tracer. ``by="calls"``
    (notebooks, see :mod:`rnn_tutorial.notebook_deps`) compiles each traced module imported
    while it runs with one extra call at the top of every function and class body, which
    notes that the body was entered (the file on disk, and its line numbers, are unchanged;
    nothing is written to ``__pycache__``). A tracer costs every executed line (coverage.py)
    or every call of every library (a profiler): a NumPy chapter that loops in Python ran
    four times slower traced by lines, a Keras chapter a third slower by lines and two thirds
    slower under ``cProfile``. Noting our own bodies costs one set insertion each.
    """

    def __init__(
        self, root: Path, folders: Iterable[str] = TRACED_FOLDERS, *, by: str = "lines"
    ) -> None:
        if by not in ("lines", "calls"):
            raise ValueError(f"by must be 'lines' or 'calls', got {by!r}")
        self.root = Path(root).resolve()
        self.folders = [self.root / f for f in folders]
        self.by = by
        self._sources: dict[str, str] = {}
        self._executed: dict[str, set[str]] = {}
        self._coverage = None
        self._calls: dict[str, set[int]] | None = None
        self._finder: _Instrumenter | None = None

    def _relative(self, filename: str) -> str | None:
        path = Path(filename).resolve()
        if not any(folder in path.parents for folder in self.folders):
            return None
        rel = path.relative_to(self.root).as_posix()
        return None if rel in _INFRASTRUCTURE or rel not in self._sources else rel

    def _mark(self, rel: str, lines: Iterable[int]) -> None:
        found = list(_definitions(self._sources[rel]))
        self._executed.setdefault(rel, set()).update(executed_at(found, lines))

    def __enter__(self) -> ExecutedDefinitions:
        import coverage

        for folder in self.folders:
            for path in sorted(folder.rglob("*.py")):
                self._sources[path.relative_to(self.root).as_posix()] = path.read_text("utf-8")
        for frame in inspect.stack()[1:]:
            rel = self._relative(frame.filename)
            if rel is not None:
                self._mark(rel, [frame.lineno])
        if self.by == "calls":
            early = [
                name
                for name, module in list(sys.modules.items())
                if (rel := self._relative(getattr(module, "__file__", None) or "")) is not None
                and any(d.depth for d in _definitions(self._sources[rel]))
            ]
            if early:
                raise RuntimeError(
                    f"{', '.join(sorted(early))} imported before tracing started: "
                    "by='calls' sees only the modules imported after it starts"
                )
            self._calls = {}
            self._finder = _Instrumenter(self, self._calls)
            sys.meta_path.insert(0, self._finder)
            return self
        self._coverage = coverage.Coverage(
            data_file=None,
            config_file=False,
            include=[f"{folder}/*" for folder in self.folders],
        )
        # A run may execute nothing traced (only framework code): that is not a warning here.
        self._coverage.set_option("run:disable_warnings", ["no-data-collected"])
        self._coverage.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._calls is not None:
            if self._finder in sys.meta_path:
                sys.meta_path.remove(self._finder)
            for rel, lines in sorted(self._calls.items()):  # first body lines of what ran
                self._mark(rel, lines)
        else:
            assert self._coverage is not None
            self._coverage.stop()
            data = self._coverage.get_data()
            for filename in data.measured_files():
                rel = self._relative(filename)
                if rel is not None:
                    self._mark(rel, data.lines(filename) or ())
        for module in list(sys.modules.values()):
            rel = self._relative(getattr(module, "__file__", None) or "")
            if rel is not None:
                self._executed.setdefault(rel, set()).add(MODULE)

    def result(self) -> dict[str, dict[str, str]]:
        """``{file: {definition: sha256}}`` of every executed definition, sorted."""
        out = {}
        for rel in sorted(self._executed):
            hashes = hash_definitions(self._sources[rel])
            out[rel] = {name: hashes[name] for name in sorted(self._executed[rel])}
        return out


def changed_definitions(recorded: Mapping[str, Mapping[str, str]], root: Path) -> list[str]:
    """What changed in the recorded definitions since: one line each, empty if nothing did."""
    found = []
    for rel, names in sorted(recorded.items()):
        path = Path(root) / rel
        if not path.is_file():
            found.append(f"{rel} no longer exists")
            continue
        current = hash_definitions(path.read_text("utf-8"))
        for name, digest in sorted(names.items()):
            if name not in current:
                found.append(f"{rel}::{name} no longer exists")
            elif current[name] != digest:
                found.append(f"{rel}::{name} changed")
    return found


def _smoke(argv: list[str]) -> int:
    """``python executed.py smoke --root R --out F -- SCRIPT ARGS``: the fingerprint runner.

    Runs an experiment script (its smoke configuration) with deterministic algorithms switched
    on in PyTorch and TensorFlow and one OpenMP thread, intercepts its call of
    ``rnn_tutorial.recorded.record`` to trace the definitions that ``run()`` executes, and
    writes the metrics, the curves and the definitions to F as JSON. It works on any version
    of the package that ``rnn_tutorial`` imports from (this file needs only the standard
    library and coverage), which is how runs recorded before tracing existed were given their
    executed definitions: by running their smoke configuration on the code of their commit.
    """
    import argparse
    import json
    import os
    import runpy

    parser = argparse.ArgumentParser(prog="executed.py smoke")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads (default 1)")
    parser.add_argument(
        "--nondeterministic",
        action="store_true",
        help="leave deterministic algorithms off (a traced full run, not a fingerprint)",
    )
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if not args.nondeterministic:
        os.environ["TF_DETERMINISTIC_OPS"] = "1"  # TensorFlow's op determinism, before it loads
        try:
            import torch

            torch.use_deterministic_algorithms(True)
        except ImportError:
            pass
    import rnn_tutorial.recorded as recorded

    original = recorded.record

    def traced_record(name, run, **kwargs):  # type: ignore[no-untyped-def]
        with ExecutedDefinitions(root) as traced:
            result = dict(run())
        smoke = {
            "metrics": result["metrics"],
            "curves": result.get("curves", {}),
            "definitions": traced.result(),
        }
        args.out.write_text(json.dumps(smoke, sort_keys=True, allow_nan=False))
        kwargs.pop("smoke_argv", None)
        return original(name, lambda: result, **kwargs)

    recorded.record = traced_record
    script = (root / args.script).resolve()
    sys.path[0] = str(script.parent)
    sys.argv = [args.script, *[a for a in args.args if a != "--"]]
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "smoke":
        raise SystemExit("usage: python executed.py smoke --root R --out F -- SCRIPT ARGS")
    raise SystemExit(_smoke(sys.argv[2:]))
