import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from vitools.interactive import live_sliders, slider_animation  # noqa: E402


def test_slider_animation_embeds_one_frame_per_value():
    import base64
    import json
    import re

    drawn = []

    def draw(fig, value):
        drawn.append(value)
        fig.add_subplot().plot([0, 1], [0, value])

    html = slider_animation(draw, [1.0, 2.5, 3.0], figsize=(4, 3), name="Δ").data
    assert drawn == [1.0, 2.5, 3.0]
    frames = json.loads(re.search(r"var frames = (\[.*?\]), labels", html).group(1))
    pngs = [base64.b64decode(uri.split(",", 1)[1]) for uri in frames]
    assert len(pngs) == 3 and all(png.startswith(b"\x89PNG") for png in pngs) and len(set(pngs)) == 3
    # the first frame is in the <img> itself (a picture without any script), at the figure's pixel size
    first = re.search(r'<img class="vitools-player-frame" src="([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert first.group(1) == frames[0]
    dpi = matplotlib.rcParams["savefig.dpi"]
    dpi = matplotlib.rcParams["figure.dpi"] if dpi == "figure" else dpi
    assert (int(first.group(2)), int(first.group(3))) == (round(4 * dpi), round(3 * dpi))
    labels = json.loads(re.search(r"labels = (\[.*?\]), interval", html).group(1))
    assert labels == ["Δ = 1", "Δ = 2.5", "Δ = 3"] and 'max="2"' in html and ">Δ = 1</output>" in html
    # a block, not an inline-block (which JupyterLab's img {max-width: 100%} collapses to 0x0); controls that
    # would do nothing without the script stay hidden until it runs
    assert "inline-block" not in html and 'class="vitools-player-controls" hidden' in html
    assert "controls.hidden = false" in html


def test_a_label_cannot_close_the_player_s_script():
    import json

    html = slider_animation(lambda fig, v: fig.add_subplot().plot([0, 1]), ["</script><b>x</b>"],
                            name="a<b>").data
    script = html[html.index("<script>") + len("<script>"):html.rindex("</script>")]
    assert "</script>" not in script and "<b>" not in script                # nothing in the data ends the script
    labels = json.loads(re.search(r"labels = (\[.*?\]), interval", script).group(1))
    assert labels == ["a<b> = </script><b>x</b>"]                           # and JSON still reads back the text
    assert "<b>" not in html.replace(script, "")                            # escaped in the HTML around it too


def test_slider_helpers_reject_empty_sliders():
    with pytest.raises(ValueError, match="at least one"):
        slider_animation(lambda fig, v: None, [])
    with pytest.raises(ValueError, match="at least one slider"):
        live_sliders(lambda fig: None)
    with pytest.raises(ValueError, match="at least one slider"):
        live_sliders(lambda fig, a: None, a=[])
