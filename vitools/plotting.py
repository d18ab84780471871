"""The book's figure style and small figure helpers (the maths modules never import this)."""

import matplotlib.pyplot as plt
import numpy as np

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
    table = np.asarray(table)
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
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < len(images):
            ax.imshow(np.asarray(images[i]).reshape(shape), cmap="Greys", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)


def gaussian_ellipse(ax, mean, cov, n_std=2.0, **style):
    """Draw the n_std-standard-deviation contour of a 2-D Gaussian N(mean, cov)."""
    from matplotlib.patches import Ellipse

    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(cov, dtype=float))
    angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(eigenvalues[::-1])
    ax.add_patch(Ellipse(np.asarray(mean, dtype=float), width, height, angle=angle, fill=False, **style))


class MarkdownTable:
    """A table that renders as Markdown in a notebook and in the HTML book."""

    def __init__(self, table, row_labels, col_labels, fmt="{:.3f}", corner=""):
        def cell(text):  # a literal "|" (as in "p(z | x)") would end the cell: escape it
            return str(text).replace("|", "\\|")

        header = "| " + " | ".join(cell(c) for c in [corner, *col_labels]) + " |"
        rule = "|" + "---|" * (len(col_labels) + 1)
        rows = ["| " + " | ".join([cell(r), *(fmt.format(v) for v in row)]) + " |"
                for r, row in zip(row_labels, np.atleast_2d(table))]
        self.markdown = "\n".join([header, rule, *rows])

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown
