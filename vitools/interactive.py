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


def slider_animation(draw, values, figsize=(6.4, 3.6), interval_ms=700) -> HTML:
    """Precompute one frame per value and return an HTML player with a slider (no kernel needed)."""
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one slider position")
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

    if not options or not all(list(values) for values in options.values()):
        raise ValueError("give at least one slider, each as name=[values...] with at least one value")

    def show(**values):
        fig = plt.figure(figsize=figsize)
        draw(fig, **values)
        fig.tight_layout()
        plt.show()

    sliders = {name: widgets.SelectionSlider(options=list(values), value=list(values)[len(values) // 2],
                                             description=name, continuous_update=False)
               for name, values in options.items()}
    return widgets.interact(show, **sliders)
