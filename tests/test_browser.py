"""The built HTML book as readers see it, in a real browser (Playwright driving Debian's Chromium).

Needs a built book (`jupyter-book build .`), Chromium at /usr/bin/chromium (`apt-get install chromium`) and
the playwright package. Without them these tests skip with the reason; CI sets
VITOOLS_BROWSER_TEST=required, which turns a skip into a failure. Screenshots of every page are written to
_build/screenshots/.
"""

import hashlib
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [Path(f).name for f in files]


def _missing():
    if not (HTML / "book" / "intro.html").exists():
        return "no built book in _build/html: run `jupyter-book build .` first"
    if not CHROMIUM.exists():
        return f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("VITOOLS_BROWSER_TEST") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def _open(browser, name):
    """A page of the book, with every failed request and console error recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.goto((HTML / "book" / f"{name}.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)                    # MathJax typesets after load
    return page, problems


@pytest.mark.parametrize("name", _pages())
def test_page_renders_offline_with_math_and_no_errors(browser, name):
    page, problems = _open(browser, name)
    text = page.evaluate("""() => {                 // the prose, without code (which may contain TeX strings)
        const main = document.querySelector('main').cloneNode(true);
        main.querySelectorAll('pre, code, .highlight').forEach(e => e.remove());
        return main.textContent; }""")
    raw_tex = [marker for marker in ("\\(", "\\[", "$$", "\\frac") if marker in text]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    math = page.evaluate("document.querySelectorAll('mjx-container').length")
    page.close()
    assert not problems, problems
    assert not raw_tex, f"{name}: TeX left unrendered ({raw_tex})"
    if name.startswith("0"):
        assert math > 10, f"{name}: only {math} rendered equations"


@pytest.mark.parametrize("name", [n for n in _pages() if n.startswith("0")])
def test_every_static_slider_moves(browser, name):
    page, _ = _open(browser, name)
    sliders = page.query_selector_all(".animation input[type=range]")
    assert sliders, f"{name} has no slider player"
    for slider in sliders:
        image = slider.evaluate_handle("s => s.closest('.animation').querySelector('img')")
        before = hashlib.md5(image.get_attribute("src").encode()).hexdigest()
        slider.fill(slider.get_attribute("max"))          # sets the value and fires the input event
        page.wait_for_timeout(200)
        assert hashlib.md5(image.get_attribute("src").encode()).hexdigest() != before
    assert not page.query_selector_all(".widget-area, .jupyter-widgets"), f"{name} shows an inert ipywidget"
    page.close()


def test_a_solution_dropdown_opens(browser):
    page, _ = _open(browser, "01_marginal_likelihood")
    solution = page.query_selector(".solution.dropdown")
    body = solution.query_selector(".cell")
    assert not body.is_visible()
    solution.query_selector(".admonition-title").click()
    page.wait_for_timeout(300)
    assert body.is_visible() and "def posterior_given_green" in body.inner_text()
    page.close()
