"""Slider demos that work in both places a reader meets them.

- :func:`live_sliders`: ipywidgets sliders for a running notebook; the figure is redrawn by
  Python on every move.
- :func:`slider_animation`: the same figure drawn once per slider value ahead of time and
  packed into a self-contained HTML/JavaScript player (matplotlib's ``to_jshtml``), so the
  slider also moves in the static HTML book, where no Python runs.

Both take a function that draws the figure for given slider values into ``fig``.
"""

import re

import matplotlib.pyplot as plt
from IPython.display import HTML
from matplotlib.animation import FuncAnimation

from vitools._validate import finite_number, function


def slider_animation(draw, values, figsize=(6.4, 3.6), interval_ms=700) -> HTML:
    """Precompute one frame per value and return an HTML player with a slider (no kernel needed)."""
    function(draw, "draw", "a function draw(fig, value)")
    values = _slider_values(values, "values")
    figsize = _figsize(figsize)
    interval_ms = finite_number(interval_ms, "interval_ms", 0, strict=True, role="is the time per frame")
    fig = plt.figure(figsize=figsize)

    def frame(i):
        fig.clear()
        draw(fig, values[i])
        fig.tight_layout()

    anim = FuncAnimation(fig, frame, frames=len(values), interval=interval_ms)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    # matplotlib links Font Awesome from a CDN for the player's buttons; the book's theme bundles it
    return HTML(re.sub(r'<link rel="stylesheet"[^>]*font-awesome[^>]*>', "", html))


def live_sliders(draw, figsize=(6.4, 3.6), **options):
    """ipywidgets sliders, one per keyword, that redraw ``draw(fig, **values)`` in a running notebook.

    Each keyword names a parameter of ``draw`` and gives the list of values its slider offers,
    e.g. ``live_sliders(draw, distance=[2, 4, 6], start=[-2, 0, 2])``.
    """
    import ipywidgets as widgets

    function(draw, "draw", "a function draw(fig, **values)")
    figsize = _figsize(figsize)
    if not options:
        raise ValueError("give at least one slider, each as name=[values...] with at least one value")
    options = {name: _slider_values(values, name) for name, values in options.items()}

    def show(**values):
        fig = plt.figure(figsize=figsize)
        draw(fig, **values)
        fig.tight_layout()
        plt.show()

    sliders = {name: widgets.SelectionSlider(options=list(values), value=list(values)[len(values) // 2],
                                             description=name, continuous_update=False)
               for name, values in options.items()}
    return widgets.interact(show, **sliders)


def _slider_values(values, name: str) -> list:
    """The positions of one slider as a non-empty list."""
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of slider values, got the string {values!r}")
    try:
        values = list(values)
    except TypeError as error:
        raise TypeError(f"{name} must be a list of slider values, got {type(values).__name__}") from error
    if not values:
        raise ValueError(f"{name} must hold at least one slider position; give at least one slider value")
    return values


def _figsize(figsize) -> tuple:
    try:
        width, height = figsize
    except (TypeError, ValueError) as error:
        raise TypeError(f"figsize must be a pair (width, height) in inches, got {figsize!r}") from error
    return (finite_number(width, "figsize[0]", 0, strict=True), finite_number(height, "figsize[1]", 0, strict=True))
