"""The exercise index page and the student edition (tools/)."""

import importlib.util
import json
from pathlib import Path

import pytest

from vitools.exercises import all_exercises

ROOT = Path(__file__).resolve().parents[1]


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


index = _tool("exercise_index")
student = _tool("student_edition")


def test_exercise_page_is_up_to_date():
    assert (ROOT / "book" / "exercises.md").read_text() == index.render(), \
        "book/exercises.md is stale: run python tools/exercise_index.py"


def test_every_exercise_is_in_a_notebook_once_and_every_chapter_has_four_of_mixed_kind():
    in_notebooks = {}
    for _, _, path in index.chapters():
        entries = index.exercises(path)
        assert len(entries) >= 4, path.name
        assert len({e.kind for e in entries}) >= 2, f"{path.name}: exercises of a single kind"
        in_notebooks.update({e.number: e for e in entries})
    assert sorted(in_notebooks) == sorted(ex.label for ex in all_exercises())


def _renumbered_first_exercise(tmp_path, monkeypatch, relabel):
    """Chapter 1 with its first checker calling exercise("1.2"); ``relabel`` also renames the label to ex-1-2."""
    nb = ROOT / "book" / "01_marginal_likelihood.ipynb"
    data = json.loads(nb.read_text())
    for cell in data["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and 'exercise("1.1")' in source and "check(" in source:
            cell["source"] = source.replace('exercise("1.1")', 'exercise("1.2")')
            break
        if relabel and cell["cell_type"] == "markdown" and ":label: ex-1-1\n" in source:
            cell["source"] = source.replace(":label: ex-1-1\n", ":label: ex-1-2\n")
    broken = tmp_path / nb.name
    broken.write_text(json.dumps(data))
    monkeypatch.setattr(index, "chapters", lambda: iter([("01_marginal_likelihood", "t", broken)]))


def test_index_catches_a_misnumbered_exercise(tmp_path, monkeypatch):
    _renumbered_first_exercise(tmp_path, monkeypatch, relabel=True)
    with pytest.raises(ValueError, match="is Exercise 1.1 in the book"):
        index.render()


def test_index_catches_a_label_that_does_not_match_the_checker(tmp_path, monkeypatch):
    # the solution cell's {solution} drop-down names the exercise by its label, ex-C-N
    _renumbered_first_exercise(tmp_path, monkeypatch, relabel=False)
    with pytest.raises(ValueError, match="so its label must be ex-1-2"):
        index.render()


def test_student_edition_has_no_solutions_but_keeps_checkers(tmp_path):
    out = tmp_path / "student"
    student.main([str(out), "--no-execute"])            # builds the HTML, and fails if solution text remains
    assert not student.leaks(out)
    notebooks = {nb.name: nb.read_text() for nb in (out / "book").glob("*.ipynb")}
    assert notebooks and all("ex.check(answer)" in text and "{exercise}" in text for text in notebooks.values())
    assert (out / "_build" / "html" / "book" / "exercises.html").exists()
    # the fingerprints are real: the instructor notebooks contain solution cells, and a planted one is caught
    assert sum(student.is_solution(c) for nb in (ROOT / "book").glob("*.ipynb")
               for c in json.loads(nb.read_text())["cells"]) == len(all_exercises())     # one solution cell each
    planted = out / "book" / "01_marginal_likelihood.ipynb"
    planted.write_text(planted.read_text() + all_exercises()[0].discussion[:60])
    assert student.leaks(out)


def test_fingerprints_cover_every_exercise():
    fingerprints = student.solution_fingerprints()
    for ex in all_exercises():
        assert f'exercise("{ex.label}").solution()' in fingerprints
        assert ex.discussion[:40] in fingerprints, ex.label        # every discussion is distinctive
