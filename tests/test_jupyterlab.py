"""The chapters as a reader runs them in JupyterLab: Run All in a real browser (Playwright, Debian's Chromium).

A JupyterLab server is started on 127.0.0.1 with a token, serving a copy of book/ (so Run All never writes
outputs into the committed notebooks), with empty user settings (a first start: the Jupyter news pop-up would
show unless this book's shipped defaults turn it off). Each chapter is opened, *Run > Run All Cells* is
clicked, and once every cell has run the test checks what a reader sees:

- no error or stderr output;
- Markdown cells rendered by jupyterlab-myst: exercise blocks, no raw directive text, no unrendered TeX;
- no solution on screen: each solution is a closed "Show the solution" drop-down, and opening one shows it;
- every live ipywidgets slider moves with the keyboard and its figure changes;
- every precomputed player shows a non-empty frame without a click; its slider moves with the keyboard, the
  frame changes, and the key press stays on the player (JupyterLab does not move to another cell);
- no news pop-up.

Screenshots go to _build/screenshots/jupyterlab/. The server is stopped by its process id.

It runs every chapter again, in a browser, so it runs only when asked: VITOOLS_JUPYTERLAB_TEST=1. It needs
Chromium at /usr/bin/chromium and the playwright package; without them the tests skip with the reason, and
VITOOLS_JUPYTERLAB_TEST=required (set by CI) turns a skip into a failure.
VITOOLS_JUPYTERLAB_CHAPTERS=01,04 runs only some chapters. The notebook's windowing is switched off in the
test's user settings so that every cell is in the page and can be scrolled to; readers' default windowing
draws the same cells, only lazily.
"""

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._chromium import launch, missing_browser, skip_or_fail
from vitools.exercises import all_exercises

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots" / "jupyterlab"
RUN_TIMEOUT_MS = int(os.environ.get('VITOOLS_JUPYTERLAB_TIMEOUT_S', 300)) * 1000        # Run All of one chapter, the browser rendering every output as it comes


def _chapters():
    names = sorted(p.stem for p in (ROOT / "book").glob("0*.ipynb"))
    chosen = os.environ.get("VITOOLS_JUPYTERLAB_CHAPTERS")
    if chosen:
        names = [n for n in names if n.split("_")[0] in chosen.split(",")]
    return names


def _skip_or_fail(reason):
    skip_or_fail(reason, "VITOOLS_JUPYTERLAB_TEST")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a copy of book/, with fresh user settings; yields (base URL, token)."""
    if not os.environ.get("VITOOLS_JUPYTERLAB_TEST"):
        pytest.skip("runs every chapter in JupyterLab in a browser (several minutes): run it with "
                    "VITOOLS_JUPYTERLAB_TEST=1 (CI runs it with VITOOLS_JUPYTERLAB_TEST=required)")
    if reason := missing_browser():
        _skip_or_fail(reason)
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        _skip_or_fail("JupyterLab is not installed in this environment (pip install -r requirements.txt)")
    home = tmp_path_factory.mktemp("jupyterlab")
    served = home / "book"
    shutil.copytree(ROOT / "book", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = home / "user-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    port, token = _free_port(), secrets.token_hex(16)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
         "--LabApp.expose_app_in_browser=True"],       # window.jupyterapp: the test reads cells' execution counts
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url, token
    finally:
        server.send_signal(signal.SIGTERM)        # stop the server we started, by its process id
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _digest(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _active_cell(page) -> int:
    return page.evaluate("() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')]"
                         ".findIndex(c => c.classList.contains('jp-mod-active'))")


def _run_all(page, url, token, name):
    page.goto(f"{url}/lab/tree/{name}.ipynb?reset&token={token}")      # reset: no tabs restored from before
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    assert page.locator(".jp-NotebookPanel").count() == 1, "another notebook is open beside the chapter"
    deadline = time.monotonic() + 90                     # the kernel JupyterLab starts for the notebook is ready
    while not any(s["path"].endswith(f"{name}.ipynb") and s["kernel"]["execution_state"] == "idle"
                  for s in page.request.get(f"{url}/api/sessions?token={token}").json()):
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: no idle kernel 90 s after opening the notebook")
        page.wait_for_timeout(500)
    page.wait_for_timeout(1000)
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    try:      # every code cell has an execution count (a collapsed cell's prompt is not drawn, so ask the model)
        page.wait_for_function("""() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            const counts = Array.from({length: cells.length}, (_, i) => cells.get(i))
                .filter(c => c.type === 'code').map(c => c.executionCount);
            return counts.length > 0 && counts.every(n => n !== null); }""", timeout=RUN_TIMEOUT_MS, polling=1000)
    except Exception:
        page.screenshot(path=str(SHOTS / f"{name}-run-all-timed-out.png"))
        pending = page.evaluate("""() => { const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            return Array.from({length: cells.length}, (_, i) => [i, cells.get(i)])
                .filter(([i, c]) => c.type === 'code' && c.executionCount === null).map(([i]) => i); }""")
        pytest.fail(f"{name}: Run All did not finish within {RUN_TIMEOUT_MS / 1000:.0f} s; cells not run: {pending}")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=RUN_TIMEOUT_MS)
    page.wait_for_timeout(1500)                          # the last outputs and KaTeX settle


def _shot(page, locator, path):
    locator.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))


@pytest.fixture
def page(lab, browser):
    """A fresh browser page; afterwards the page is closed and the chapter's kernel shut down."""
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    for session in page.request.get(f"{url}/api/sessions?token={token}").json():
        page.request.delete(f"{url}/api/sessions/{session['id']}?token={token}")
    page.close()


@pytest.mark.parametrize("name", _chapters())
def test_run_all_in_jupyterlab_as_a_reader_sees_it(lab, page, name):
    url, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    _run_all(page, url, token, name)
    page.screenshot(path=str(SHOTS / f"{name}.png"))

    # no error or stderr output
    errors = page.evaluate("""() => [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent.slice(0, 300))""")
    assert not errors, f"{name}: error output after Run All: {errors}"

    # Markdown rendered by jupyterlab-myst: no directive syntax or TeX left as text
    rendered = page.evaluate("""() => [...document.querySelectorAll('.jp-MarkdownCell')].map(cell => {
        const out = cell.querySelector('.myst');
        if (!out) return null;
        const copy = out.cloneNode(true);
        copy.querySelectorAll('code, pre, .katex, .katex-display').forEach(e => e.remove());
        return copy.textContent; })""")
    assert None not in rendered, f"{name}: a Markdown cell is not rendered by jupyterlab-myst"
    leftovers = [(marker, text[:160]) for text in rendered
                 for marker in ("```", ":label:", ":class:", "{exercise}", "{solution", "**", "$", "\\frac", "\\mathrm")
                 if marker in text]
    assert not leftovers, f"{name}: raw MyST or TeX in the rendered Markdown: {leftovers[:5]}"

    # every exercise is rendered as an exercise block; its solution is a closed drop-down, opened by a click
    chapter = int(name[:2])
    labels = [ex.label for ex in all_exercises() if ex.chapter == chapter]
    assert page.locator(".myst aside.myst-exercise").count() == len(labels), f"{name}: exercise blocks not rendered"
    solutions = page.locator("details.vitools-solution")
    assert solutions.count() == len(labels), f"{name}: {solutions.count()} solution drop-downs for {len(labels)} exercises"
    assert not any(solutions.evaluate_all("ds => ds.map(d => d.open)")), f"{name}: a solution is open after Run All"
    references = [ex.reference.__name__ for ex in all_exercises() if ex.label in labels]
    shown = page.evaluate("""names => names.filter(n => [...document.querySelectorAll('.jp-OutputArea-output pre, .jp-OutputArea-output code')]
        .some(e => e.textContent.includes('def ' + n + '(') && e.checkVisibility()))""", references)
    assert not shown, f"{name}: solution code on screen after Run All: {shown}"
    first = solutions.first
    assert first.locator(".vitools-hide").is_hidden() and "Show the solution" in first.locator("summary").inner_text()
    _shot(page, page.locator(".myst aside.myst-exercise").first, SHOTS / f"{name}-exercise.png")
    first.locator("summary").click()
    page.wait_for_timeout(300)
    assert first.evaluate("d => d.open") and first.locator("pre").first.is_visible()
    assert "Hide the solution" in first.locator("summary").inner_text()
    _shot(page, first, SHOTS / f"{name}-solution-opened.png")
    first.locator("summary").click()

    # precomputed players: a frame without a click; the keyboard moves the slider, and only the slider
    code = "".join("".join(c["source"]) for c in json.loads((ROOT / "book" / f"{name}.ipynb").read_text())["cells"]
                   if c["cell_type"] == "code")
    players = page.locator(".vitools-player")
    assert players.count() == code.count("slider_animation(") > 0, f"{name}: {players.count()} players on screen"
    for i in range(players.count()):
        player = players.nth(i)
        image, slider = player.locator("img"), player.locator("input[type=range]")
        player.scroll_into_view_if_needed()
        box = image.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, f"{name}: player {i} shows an empty frame ({box})"
        assert image.evaluate("i => i.complete && i.naturalWidth > 0"), f"{name}: player {i}'s frame did not load"
        slider.focus()                                    # focusing the slider makes its cell the active one
        before, cell = _digest(image.get_attribute("src")), _active_cell(page)
        page.keyboard.press("End")
        page.wait_for_timeout(200)
        after = _digest(image.get_attribute("src"))
        assert after != before, f"{name}: player {i}'s frame did not change when its slider moved"
        for key in ("ArrowLeft", "ArrowDown", "ArrowUp"):      # Up/Down are also JupyterLab's "next cell" keys
            page.keyboard.press(key)
            page.wait_for_timeout(200)
            now = _digest(image.get_attribute("src"))
            assert now != after, f"{name}: {key} did not move player {i}'s slider"
            assert _active_cell(page) == cell, f"{name}: {key} on player {i} moved JupyterLab to another cell"
            after = now
        _shot(page, player, SHOTS / f"{name}-player-{i}-moved-by-keys.png")
        assert slider.evaluate("s => s === document.activeElement"), f"{name}: player {i}'s slider lost the focus"

    # live ipywidgets sliders: the keyboard moves each, and the figure below changes
    assert page.locator(".widget-interact").count() == code.count("live_sliders(") > 0, f"{name}: live sliders missing"
    sliders = page.locator(".widget-interact .noUi-handle")
    for i in range(sliders.count()):
        handle = sliders.nth(i)
        area = handle.locator("xpath=ancestor::div[contains(@class, 'widget-interact')]")
        figure = area.locator(".widget-output img")
        handle.scroll_into_view_if_needed()
        before, value = _digest(figure.first.get_attribute("src") or ""), handle.get_attribute("aria-valuenow")
        handle.focus()
        page.keyboard.press("ArrowLeft" if handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
                            else "ArrowRight")
        assert handle.get_attribute("aria-valuenow") != value, f"{name}: live slider {i} did not move with the keyboard"
        deadline = time.monotonic() + 60                  # the kernel redraws the figure
        while figure.count() == 0 or _digest(figure.first.get_attribute("src") or "") == before:
            assert time.monotonic() < deadline, f"{name}: live slider {i} moved but its figure did not change"
            page.wait_for_timeout(250)
        if i == 0:
            _shot(page, area, SHOTS / f"{name}-live-sliders.png")

    # no news pop-up on a first start
    toasts = page.evaluate("() => [...document.querySelectorAll('.Toastify__toast')].map(t => t.textContent)")
    assert not [t for t in toasts if "news" in t.lower()], f"{name}: the Jupyter news pop-up is showing: {toasts}"
