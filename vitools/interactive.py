"""Slider demos that work in both places a reader meets them.

- :func:`live_slider`: an ipywidgets slider for a running notebook; the figure is redrawn by
  Python on every move.
- :func:`slider_animation`: the same figure drawn once per slider value ahead of time and
  packed into a self-contained HTML/JavaScript player (matplotlib's ``to_jshtml``), so the
  slider also moves in the static HTML book, where no Python runs.

Both take ``draw(fig, value)``, which draws the figure for one slider value into ``fig``.
"""

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
    return HTML(html)


def live_slider(draw, values, description="value", figsize=(6.4, 3.6)):
    """An ipywidgets slider over ``values`` that redraws the figure in a running notebook."""
    import ipywidgets as widgets

    values = list(values)
    if not values:
        raise ValueError("values must hold at least one slider position")

    def show(value):
        fig = plt.figure(figsize=figsize)
        draw(fig, value)
        fig.tight_layout()
        plt.show()

    slider = widgets.SelectionSlider(options=values, value=values[len(values) // 2], description=description,
                                     continuous_update=False)
    return widgets.interact(show, value=slider)
