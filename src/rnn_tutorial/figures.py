"""The book's figure style (introduced in the setup cell of "Sequences and the recurrent idea").

Every notebook's setup cell calls :func:`use_book_style`. It makes figures that read well at the
size the page shows them (see CONTRIBUTING.md, "Figures"):

- figures are stored as SVG, so they are sharp on HiDPI screens at any zoom;
- the default size is the width of the book's text column (7 inches, 672 CSS pixels), and text
  is 10 pt, so labels stay legible when the figure is shown at its natural size;
- the colour cycle is the Okabe-Ito palette, which readers with colour-vision deficiency can
  tell apart (no red-against-green).
"""

from __future__ import annotations

from typing import Any

__all__ = ["COLUMN_INCHES", "OKABE_ITO", "use_book_style"]

# The text column at a 1280 px desktop holds a figure 7 inches wide at its natural size
# (SVG: 72 pt per inch, 4/3 CSS pixels per pt, so 7 in = 672 CSS px).
COLUMN_INCHES = 7.0

# Okabe & Ito (2008), "Color Universal Design": blue, orange, bluish green, vermillion,
# reddish purple, sky blue, yellow, black.
OKABE_ITO = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)


def use_book_style() -> dict[str, Any]:
    """Set matplotlib's defaults for the book and, inside Jupyter, store figures as SVG.

    Returns the rcParams it set, so a test (or a curious reader) can see them.
    """
    import matplotlib as mpl
    from cycler import cycler

    params: dict[str, Any] = {
        "figure.figsize": (COLUMN_INCHES, 3.0),
        "figure.dpi": 100,
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
        "image.cmap": "viridis",
        "svg.hashsalt": "rnn-tutorial",  # stable ids in the SVG: re-execution changes no bytes
        "svg.fonttype": "path",
    }
    mpl.rcParams.update(params)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to configure
        return params
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        # No creation date in the SVG, so that re-executing a notebook changes no bytes.
        set_matplotlib_formats("svg", bbox_inches="tight", metadata={"Date": None})
    return params
