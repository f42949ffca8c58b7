"""A text progress bar whose stored notebook output stays clean (introduced in
"Backpropagation through time").

``make execute`` collapses the bar's carriage-return redraws, so the rendered book shows each
bar's final line only. A text bar (not the ipywidgets one) needs no JavaScript to render.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.std import tqdm

__all__ = ["progress"]

T = TypeVar("T")


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    **kwargs: Any,
) -> tqdm:
    """A ``tqdm`` bar on stdout, redrawn at most once a second, with a 20-character bar.

    Use it like tqdm: ``for step in progress(range(n), desc="train"): ...`` and
    ``bar.set_postfix(loss=f"{loss:.3f}")`` to show the running loss. The line is never cut
    (a fixed ``ncols`` would truncate the postfix); keep ``desc`` and the postfix short, so
    that the whole line fits the book's 88-character code column.
    """
    options: dict[str, Any] = {
        "file": sys.stdout,
        "mininterval": 1.0,
        "bar_format": "{l_bar}{bar:20}{r_bar}",
        "ascii": False,
        "dynamic_ncols": False,
    }
    options.update(kwargs)
    return tqdm(iterable, total=total, desc=desc, **options)
