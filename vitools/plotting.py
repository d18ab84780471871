"""The book's figure style and small figure helpers (the maths modules never import this)."""

import matplotlib.pyplot as plt
import numpy as np

from vitools._validate import finite_number, float_array, integer

PALETTE = {"exact": "#222222", "prior": "#d95f02", "proposal": "#1b9e77", "posterior": "#7570b3",
           "data": "#4c72b0", "accent": "#e7298a"}


def use_book_style() -> None:
    """Apply the book's matplotlib settings: readable sizes, light grid, a colour-blind-safe cycle.

    Figures have no background of their own (``facecolor="none"``): they blend into the light page
    of the HTML book, and in its dark mode the theme sets them on a light card, as JupyterLab does
    in a dark theme (matplotlib-inline marks transparent figures as needing a light background).
    """
    plt.rcParams.update({
        "figure.facecolor": "none", "axes.facecolor": "none", "savefig.facecolor": "none",
        "figure.figsize": (6.4, 3.6), "figure.dpi": 100, "savefig.dpi": 100,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "font.size": 10, "axes.titlesize": 11, "legend.frameon": False,
        "axes.prop_cycle": plt.cycler(color=["#4c72b0", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#666666"]),
        "image.cmap": "viridis",
    })


def heatmap(ax, table, row_labels, col_labels, fmt="{:.2f}", cmap="Blues"):
    """Draw a 2-D table as a heatmap with every entry written in its cell."""
    _check_axes(ax, "ax")
    table = float_array(table, "table")
    _check_table(table, row_labels, col_labels, fmt)
    if not np.all(np.isfinite(table)):
        raise ValueError("table contains NaN or infinite entries; a heatmap needs finite numbers")
    ax.imshow(table, cmap=cmap, vmin=0)
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=45, ha="right")
    ax.set_yticks(range(len(row_labels)), row_labels)
    ax.grid(False)
    threshold = 0.6 * table.max()
    for (i, j), v in np.ndenumerate(table):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="white" if v > threshold else "black")


def show_digits(axes, images, titles=None, shape=(8, 8)):
    """Show flattened images (N, 64) in the given axes, grey on white, without ticks."""
    try:
        height, width = shape
    except (TypeError, ValueError) as error:
        raise TypeError(f"shape must be a pair (height, width) of integers, got {shape!r}") from error
    shape = (integer(height, "shape[0]", minimum=1), integer(width, "shape[1]", minimum=1))
    axes_flat = np.ravel(axes)
    for ax in axes_flat:
        _check_axes(ax, "axes")
    images = float_array(images, "images")
    if images.ndim < 2 or np.prod(images.shape[1:]) != height * width:
        raise ValueError(f"images must have shape (N, {height * width}) (one flattened {height}x{width} image per "
                         f"row) to match shape, got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contains NaN or infinite pixels")
    shown = min(len(images), axes_flat.size)
    if titles is not None and (isinstance(titles, str) or len(titles) < shown):
        raise ValueError(f"titles must be a sequence with one title per image shown ({shown}), got {titles!r}")
    for i, ax in enumerate(axes_flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(np.asarray(images[i]).reshape(shape), cmap="Greys", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)


def gaussian_ellipse(ax, mean, cov, n_std=2.0, **style):
    """Draw the n_std-standard-deviation contour of a 2-D Gaussian N(mean, cov)."""
    from matplotlib.patches import Ellipse

    _check_axes(ax, "ax")
    mean, cov = float_array(mean, "mean"), float_array(cov, "cov")
    n_std = finite_number(n_std, "n_std", 0, strict=True)
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(f"mean must have shape (2,) and cov shape (2, 2), got {mean.shape} and {cov.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        raise ValueError("mean and cov must be finite")
    if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() < -1e-12 * np.abs(cov).max():
        raise ValueError(f"cov must be a symmetric positive semi-definite covariance matrix, got {cov.tolist()}")
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(eigenvalues[::-1].clip(min=0))
    ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, **style))


class MarkdownTable:
    """A table that renders as Markdown in a notebook and in the HTML book."""

    def __init__(self, table, row_labels, col_labels, fmt="{:.3f}", corner=""):
        def cell(text):  # a literal "|" (as in "p(z | x)") would end the cell: escape it
            return str(text).replace("|", "\\|")

        try:
            values = np.atleast_2d(np.asarray(table))
        except ValueError as error:
            raise TypeError(f"table must be a rectangular 2-D table (list of rows or array), got {error}") from error
        _check_table(values, row_labels, col_labels, fmt)
        if not isinstance(corner, str):
            raise TypeError(f"corner must be a string, got {type(corner).__name__}")
        header = "| " + " | ".join(cell(c) for c in [corner, *col_labels]) + " |"
        rule = "|" + "---|" * (len(col_labels) + 1)
        rows = ["| " + " | ".join([cell(r), *(fmt.format(v) for v in row)]) + " |"
                for r, row in zip(row_labels, values)]
        self.markdown = "\n".join([header, rule, *rows])

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown


def _check_axes(ax, name: str):
    if not hasattr(ax, "add_patch"):
        raise TypeError(f"{name} must hold matplotlib Axes (e.g. from plt.subplots()), got {type(ax).__name__}")


def _check_table(table: np.ndarray, row_labels, col_labels, fmt):
    """A 2-D table with one row label per row, one column label per column, and a format string."""
    if table.ndim != 2:
        raise ValueError(f"table must be 2-D (rows x columns), got shape {table.shape}")
    for name, labels, n, what in (("row_labels", row_labels, table.shape[0], "rows"),
                                  ("col_labels", col_labels, table.shape[1], "columns")):
        if isinstance(labels, str) or not hasattr(labels, "__len__"):
            raise TypeError(f"{name} must be a sequence of labels, one per {what[:-1]}, got {type(labels).__name__}")
        if len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} labels but the table has {n} {what}")
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format string such as '{{:.2f}}', got {fmt!r}")
