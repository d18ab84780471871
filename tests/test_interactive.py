import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from vitools.interactive import live_sliders, slider_animation  # noqa: E402


def test_slider_animation_embeds_one_frame_per_value():
    drawn = []

    def draw(fig, value):
        drawn.append(value)
        fig.add_subplot().plot([0, 1], [0, value])

    html = slider_animation(draw, [1.0, 2.0, 3.0]).data
    assert html.count("frames[") >= 3 and "<input" in html     # a JavaScript player with a slider
    assert {1.0, 2.0, 3.0} <= set(drawn)


def test_slider_helpers_reject_empty_sliders():
    with pytest.raises(ValueError, match="at least one"):
        slider_animation(lambda fig, v: None, [])
    with pytest.raises(ValueError, match="at least one slider"):
        live_sliders(lambda fig: None)
    with pytest.raises(ValueError, match="at least one slider"):
        live_sliders(lambda fig, a: None, a=[])
