"""The browser the browser tests drive (tests/test_browser.py, tests/test_jupyterlab.py): Debian's Chromium.

A test that cannot run (no browser, no playwright, no built book) skips with the reason, unless its
environment variable (VITOOLS_BROWSER_TEST, VITOOLS_JUPYTERLAB_TEST) is ``required``, as CI sets it: then the
skip is a failure.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def missing_browser() -> str | None:
    """Why Chromium cannot be driven here, or None."""
    if not CHROMIUM.exists():
        return f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    return None


def skip_or_fail(reason: str, variable: str):
    """Skip the test with ``reason``, or fail it when the environment variable ``variable`` is ``required``."""
    if os.environ.get(variable) == "required":
        pytest.fail(reason)
    pytest.skip(reason)


def launch(playwright):
    """Chromium, launched by a ``sync_playwright()`` context with the flags the tests run it with."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
