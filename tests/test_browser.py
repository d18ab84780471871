"""The built HTML book as readers see it, in a real browser (Playwright driving Debian's Chromium).

Needs a built book (`jupyter-book build .`), Chromium at /usr/bin/chromium (`apt-get install chromium`) and
the playwright package. Without them these tests skip with the reason; CI sets
VITOOLS_BROWSER_TEST=required, which turns a skip into a failure. Screenshots of every page, in light and in
dark mode, are written to _build/screenshots/.
"""

import hashlib
import re
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from tests._chromium import launch, missing_browser, skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"


def _pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [Path(f).name for f in files]


def _missing():
    if not (HTML / "book" / "intro.html").exists():
        return "no built book in _build/html: run `jupyter-book build .` first"
    return missing_browser()


def _skip_or_fail(reason):
    skip_or_fail(reason, "VITOOLS_BROWSER_TEST")


@pytest.fixture(scope="module")
def built():
    """The built HTML book (no browser needed)."""
    if not (HTML / "book" / "intro.html").exists():
        _skip_or_fail("no built book in _build/html: run `jupyter-book build .` first")
    return HTML


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        _skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _open(browser, name, color_scheme="light"):
    """A page of the book, with every failed request and console error recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=color_scheme)
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
    # "$" catches inline math that Markdown broke apart (e.g. a continuation line starting with "+ " or "- "
    # inside a list item becomes a nested list and leaves both halves of $...$ as plain text)
    raw_tex = [marker for marker in ("\\(", "\\[", "$", "\\frac") if marker in text]
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
    sliders = page.query_selector_all(".vitools-player input[type=range]")
    assert sliders, f"{name} has no slider player"
    for slider in sliders:
        image = slider.evaluate_handle("s => s.closest('.vitools-player').querySelector('img')")
        box = image.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, f"{name}: a player shows an empty frame ({box})"
        before = hashlib.md5(image.get_attribute("src").encode()).hexdigest()
        slider.fill(slider.get_attribute("max"))          # sets the value and fires the input event
        page.wait_for_timeout(200)
        assert hashlib.md5(image.get_attribute("src").encode()).hexdigest() != before
    assert not page.query_selector_all(".widget-area, .jupyter-widgets"), f"{name} shows an inert ipywidget"
    page.close()


def test_a_solution_dropdown_opens(browser):
    page, _ = _open(browser, "01_marginal_likelihood")
    solution = page.query_selector(".solution.dropdown")
    body = solution.query_selector("div.highlight")             # the reference solution's code
    assert not body.is_visible()
    solution.query_selector(".admonition-title").click()
    page.wait_for_timeout(300)
    assert body.is_visible() and "def posterior_given_green" in body.inner_text()
    page.close()


# WCAG contrast ratio between an element's text colour and the first opaque background behind it
CONTRAST = """(el) => {
    const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = c => { const v = rgb(c).slice(0, 3).map(x => x / 255)
        .map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
    let node = el, background = null;
    while (node && node.nodeType === 1) {
        const c = getComputedStyle(node).backgroundColor, a = rgb(c)[3];
        if (a === undefined || a > 0.5) { background = c; break; }
        node = node.parentElement;
    }
    background = background || 'rgb(255, 255, 255)';
    const [hi, lo] = [lum(getComputedStyle(el).color), lum(background)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
}"""


@pytest.mark.parametrize("name", _pages())
def test_page_is_readable_in_dark_mode(browser, name):
    """Prose, math and admonition titles keep a readable contrast; figures sit on a light card."""
    page, problems = _open(browser, name, color_scheme="dark")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-dark.png"), full_page=True)
    theme = page.evaluate("document.documentElement.dataset.theme")
    checks = {"prose": "main p", "math": "main mjx-container", "admonition title": "main .admonition-title"}
    worst = {what: min((e.evaluate(CONTRAST) for e in page.query_selector_all(selector)), default=None)
             for what, selector in checks.items()}
    cards = page.evaluate("""() => [...document.querySelectorAll('.cell_output img')].map(img => {
        const [r, g, b] = getComputedStyle(img).backgroundColor.match(/[\\d.]+/g).map(Number);
        return (r + g + b) / 3; })""")
    page.close()
    assert not problems, problems
    assert theme == "dark", f"{name}: the page did not follow the reader's dark colour scheme"
    for what, ratio in worst.items():
        assert ratio is None or ratio >= 4.5, f"{name}: {what} contrast {ratio:.2f} < 4.5 in dark mode"
    assert all(brightness > 180 for brightness in cards), f"{name}: a figure lacks its light card in dark mode"


def test_figures_have_transparent_backgrounds(built):
    """Every figure the notebooks draw blends into the page: its corner pixel is fully transparent."""
    pages = [path.read_text() for path in (built / "book").glob("*.html")]
    images = sorted({built / "_images" / name for html in pages for name in re.findall(r'src="../_images/([^"]+\.png)"', html)})
    assert len(images) > 20, f"only {len(images)} figures in the built book"
    opaque = [image.name for image in images if matplotlib.image.imread(image)[..., -1][0, 0] > 0]
    assert not opaque, f"figures with an opaque background: {opaque}"


def test_equation_references_resolve(built):
    """Every link to a numbered equation, on any page, lands on an equation that carries a number."""
    pages = {path: path.read_text() for path in (built / "book").glob("*.html")}
    links = [(path, target, anchor) for path, html in pages.items()
             for target, anchor in re.findall(r'href="([^"#]*)#(equation-[^"]+)"', html)]
    assert len(links) >= 10, f"only {len(links)} equation cross-references in the book"
    for path, target, anchor in links:
        html = pages[(path.parent / target).resolve()] if target else pages[path]
        assert re.search(f'id="{anchor}"[^>]*>\\s*<span class="eqno">\\(\\d+\\.\\d+\\)', html), \
            f"{path.name}: {target}#{anchor} is not a numbered equation"


@pytest.mark.parametrize("name", [n for n in _pages() if n.startswith("0")])
def test_notebook_download_logo_and_favicon(browser, name):
    page, _ = _open(browser, name)
    download = page.evaluate("[...document.querySelectorAll('a[href$=\".ipynb\"]')].map(a => a.href)")
    logo_width = page.evaluate("Math.min(...[...document.querySelectorAll('img.logo__image')].map(i => i.naturalWidth))")
    icons = page.evaluate("[...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    foreign = page.evaluate("document.querySelectorAll('a[href*=\"executablebooks/jupyter-book\"]').length")
    page.close()
    assert any(href.endswith(f"{name}.ipynb") for href in download), f"{name}: no 'download .ipynb' link"
    for href in download + icons:
        assert Path(href.removeprefix("file://")).is_file(), f"{name}: {href} does not exist"
    assert not foreign, f"{name}: a button links to Jupyter Book's own repository (launch buttons without repository.url)"
    assert icons, f"{name}: no favicon"
    assert logo_width > 0, f"{name}: the logo did not load"
