"""House rules for the notebooks under book/: clean commits, all in the table of contents."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
MAX_CODE_LINES = 20


def _toc_files(node) -> set:
    """Every `file:` and `root:` entry of _toc.yml, without suffix, relative to the repository root."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root") and isinstance(value, str):
                found.add(value)
            else:
                found |= _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found |= _toc_files(item)
    return found


def _cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under book/"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(nb_path):
    data = json.loads(nb_path.read_text())
    dirty = [i for i, c in enumerate(data["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{nb_path.name}: cells {dirty} carry outputs; clear them before committing"
    assert "widgets" not in data.get("metadata", {}), f"{nb_path.name} carries ipywidgets state in its metadata"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_table_of_contents(nb_path):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entry = nb_path.relative_to(ROOT).with_suffix("").as_posix()
    assert entry in _toc_files(toc), f"{entry} is not listed in _toc.yml, so the book would not show it"


def test_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    missing = [f for f in _toc_files(toc) if not any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_hidden_checks_and_short_cells(nb_path):
    cells = _cells(nb_path)
    hidden = [c for c in cells if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    assert any("assert" in "".join(c["source"]) for c in hidden), \
        f"{nb_path.name} has no hidden (remove-cell) assertion cell checking its claims"
    long_cells = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                  and len("".join(c["source"]).splitlines()) > MAX_CODE_LINES]
    assert not long_cells, f"{nb_path.name}: code cells {long_cells} exceed {MAX_CODE_LINES} lines; move logic to vitools"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_hidden_checks_are_collapsed_in_jupyterlab(nb_path):
    """A check the book hides (remove-cell) opens collapsed in JupyterLab: a reader clicks its bar to see it.

    The live-slider cells are remove-cell too (their callbacks cannot run in the HTML), but they are for readers
    of the notebook, so they open expanded.
    """
    cells = _cells(nb_path)
    hidden = [i for i, c in enumerate(cells) if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    collapsed = {i for i in hidden if cells[i]["metadata"].get("jupyter", {}).get("source_hidden")}
    live = {i for i in hidden if "live_sliders(" in "".join(cells[i]["source"])}
    assert live, f"{nb_path.name} has no live-slider cell"
    assert collapsed == set(hidden) - live, \
        f"{nb_path.name}: collapse hidden checks {sorted(set(hidden) - live - collapsed)}, expand {sorted(collapsed & live)}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_solution_is_one_tagged_cell_after_its_checker(nb_path):
    """exercise("<key>").solution() in a cell tagged solution and remove-input, right after the checker cell.

    Its output is the whole drop-down (a {solution} block in the book, a closed <details> in JupyterLab), so no
    gated {solution-start}/{solution-end} Markdown cells, which jupyterlab-myst renders as an empty drop-down.
    """
    import re

    from vitools.exercises import all_exercises

    cells = _cells(nb_path)
    chapter = int(nb_path.name[:2])
    calls = [re.search(r'exercise\("([a-z0-9-]+)"\)\.solution\(\)', "".join(c["source"])) for c in cells]
    assert [m[1] for m in calls if m] == [e.key for e in all_exercises() if e.chapter == chapter], \
        f"{nb_path.name}: not one solution cell per exercise, in order"
    gated = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
             and "".join(c["source"]).lstrip().startswith(("```{solution", ":::{solution"))]
    assert not gated, f"{nb_path.name}: Markdown solution cells {gated}; the solution cell's output is the drop-down"
    for i, cell in enumerate(cells):
        called = re.fullmatch(r'exercise\("([a-z0-9-]+)"\)\.solution\(\)', "".join(cell["source"]).strip())
        if cell["cell_type"] != "code" or not re.search(r"\.solution\(", "".join(cell["source"])):
            continue
        assert called, f"{nb_path.name}: cell {i} should be exactly exercise(\"<key>\").solution()"
        assert {"solution", "remove-input"} <= set(cell["metadata"].get("tags", [])), \
            f"{nb_path.name}: solution cell {i} must be tagged solution and remove-input"
        assert f'exercise("{called[1]}")' in "".join(cells[i - 1]["source"]), \
            f"{nb_path.name}: solution cell {i} does not follow exercise {called[1]}'s checker cell"
