"""Slider demos that work in both places a reader meets them.

- :func:`live_sliders`: ipywidgets sliders for a running notebook; the figure is redrawn by
  Python on every move.
- :func:`slider_animation`: the same figure drawn once per slider value ahead of time and
  packed into a self-contained HTML player (an image, a slider, step and play buttons), so the
  slider also moves in the static HTML book, where no Python runs.

Both take a function that draws the figure for given slider values into ``fig``.
"""

import base64
import html
import io
import json
import numbers
import uuid

import matplotlib.pyplot as plt
from IPython.display import HTML

from vitools._validate import finite_number, function

# The player is plain HTML with the first frame in its <img>, so a picture shows even where no script runs
# (an untrusted notebook); its controls are hidden until the script has wired them up. Its layout is a block,
# not matplotlib's inline-block: JupyterLab's output style `img {max-width: 100%}` inside a shrink-to-fit box
# collapses the image to 0x0. The frame sits on white, as figures do in a light page, so a dark theme does not
# swallow its axes. The slider keeps the keys that move it (arrows, Home, End, Page Up/Down) from JupyterLab,
# whose command-mode shortcuts would otherwise move to another cell; every other shortcut still works.
_PLAYER = """<div class="vitools-player" id="{id}" style="display:block; max-width:{width}px; margin:0.5em 0;">
  <img class="vitools-player-frame" src="{first}" width="{width}" height="{height}" alt="{alt}"
       style="display:block; width:100%; max-width:{width}px; height:auto; background:#fff;">
  <div class="vitools-player-controls" hidden style="align-items:center; gap:0.4em; margin-top:0.3em;">
    <button type="button" class="vitools-player-play" title="Play through every value" aria-label="Play"
            style="font:inherit; min-width:4.2em;">Play</button>
    <button type="button" data-step="-1" title="Previous value" aria-label="Previous value"
            style="font:inherit;">&#8249; Prev</button>
    <input type="range" class="vitools-player-slider" min="0" max="{last}" step="1" value="0"
           aria-label="{name}" aria-valuetext="{label}" style="flex:1; min-width:6em;">
    <button type="button" data-step="1" title="Next value" aria-label="Next value"
            style="font:inherit;">Next &#8250;</button>
    <output class="vitools-player-value" style="min-width:7em; font-variant-numeric:tabular-nums;">{label}</output>
  </div>
  <script>
  (function (root) {{
    var frames = {frames}, labels = {labels}, interval = {interval};
    var image = root.querySelector(".vitools-player-frame"), slider = root.querySelector(".vitools-player-slider");
    var value = root.querySelector(".vitools-player-value"), play = root.querySelector(".vitools-player-play");
    var controls = root.querySelector(".vitools-player-controls"), timer = null;
    function show(i) {{
      i = Math.max(0, Math.min(frames.length - 1, i));
      slider.value = i; image.src = frames[i]; value.textContent = labels[i];
      slider.setAttribute("aria-valuetext", labels[i]); image.alt = "figure for " + labels[i];
    }}
    function stop() {{
      clearInterval(timer); timer = null; play.textContent = "Play"; play.title = "Play through every value";
      play.setAttribute("aria-label", "Play");
    }}
    slider.addEventListener("input", function () {{ stop(); show(+slider.value); }});
    root.querySelectorAll("[data-step]").forEach(function (button) {{
      button.addEventListener("click", function () {{ stop(); show(+slider.value + (+button.dataset.step)); }});
    }});
    play.addEventListener("click", function () {{
      if (timer) {{ stop(); return; }}
      if (+slider.value === frames.length - 1) show(0);
      play.textContent = "Pause"; play.title = "Stop at this value"; play.setAttribute("aria-label", "Pause");
      timer = setInterval(function () {{
        if (+slider.value >= frames.length - 1) stop(); else show(+slider.value + 1);
      }}, interval);
    }});
    var sliderKeys = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"];
    slider.addEventListener("keydown", function (event) {{
      if (sliderKeys.indexOf(event.key) >= 0) event.stopPropagation();
    }});
    controls.hidden = false; controls.style.display = "flex";
  }})((function () {{
    var script = document.currentScript;      // in a <head> copy (classic Notebook), look the player up by id
    return (script && script.closest && script.closest(".vitools-player")) || document.getElementById("{id}");
  }})());
  </script>
</div>"""


def slider_animation(draw, values, figsize=(6.4, 3.6), interval_ms=700, name=None) -> HTML:
    """Precompute one frame per value and return an HTML player with a slider (no kernel needed).

    ``draw(fig, value)`` draws the figure for one slider value; ``name`` (e.g. ``"Δ"``) labels the slider,
    whose readout then shows ``name = value``.
    """
    function(draw, "draw", "a function draw(fig, value)")
    values = _slider_values(values, "values")
    figsize = _figsize(figsize)
    interval_ms = finite_number(interval_ms, "interval_ms", 1, role="is the time per frame, in milliseconds")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string that labels the slider (e.g. \"distance\"), got {name!r}")
    fig = plt.figure(figsize=figsize)
    frames, margins = [], None
    try:
        for value in values:
            fig.clear()
            draw(fig, value)
            if margins is None:     # the first frame's tight layout for every frame: the axes stay put as the slider
                fig.tight_layout()  # moves, and each frame renders once instead of twice
                margins = {name: getattr(fig.subplotpars, name)
                           for name in ("left", "bottom", "right", "top", "wspace", "hspace")}
            else:
                fig.subplots_adjust(**margins)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
            frames.append(buffer.getvalue())
    finally:
        plt.close(fig)
    width, height = _png_size(frames[0])
    uris = ["data:image/png;base64," + base64.b64encode(frame).decode("ascii") for frame in frames]
    labels = [_label(name, value) for value in values]
    return HTML(_PLAYER.format(
        id=f"vitools-player-{uuid.uuid4().hex}", width=width, height=height, first=uris[0], last=len(uris) - 1,
        alt=html.escape(f"figure for {labels[0]}"), name=html.escape(name or "slider"), label=html.escape(labels[0]),
        frames=json.dumps(uris), labels=_script_json(labels), interval=round(interval_ms)))


def _script_json(data) -> str:
    """JSON safe inside a <script>: no "<" that could close the element (``</script>`` in a label)."""
    return json.dumps(data).replace("<", "\\u003c")


def _label(name, value) -> str:
    """The readout beside the slider: ``name = value``, numbers in their shortest form."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):     # a torch or numpy scalar
        value = value.item()
    shown = f"{value:g}" if isinstance(value, numbers.Real) and not isinstance(value, bool) else str(value)
    return shown if name is None else f"{name} = {shown}"


def _png_size(png: bytes) -> tuple:
    """Width and height in pixels, read from a PNG's header (the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


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
