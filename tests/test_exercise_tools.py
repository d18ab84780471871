"""The exercises' generated files and scaffold (tools/exercise_index.py) and the student edition (tools/)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
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


def test_generated_files_are_up_to_date():
    """numbers.json, book/exercises.md and every directive header are what the registry and the notebooks give."""
    stale = [str(path.relative_to(ROOT)) for path in index.stale(index.generated())]
    assert not stale, f"out of date: {stale}: run python tools/exercise_index.py"


def test_every_exercise_is_in_a_notebook_once_and_every_chapter_has_four_of_mixed_kind():
    registry = {ex.key: ex for ex in all_exercises()}
    book = index.book_exercises(registry)             # raises if an exercise is stated twice or nowhere
    for number, doc, _, entries in book:
        assert len(entries) >= 4, doc
        assert len({registry[e.key].kind for e in entries}) >= 2, f"{doc}: exercises of a single kind"
        assert [registry[e.key].number for e in entries] == [f"{number}.{i}" for i in range(1, len(entries) + 1)]


def _copy_of_the_repository(tmp_path) -> Path:
    """What the exercise tools read and write: the package, the tools, the notebooks and the table of contents."""
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
    for folder in ("vitools", "tools", "book"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    shutil.copy(ROOT / "_toc.yml", copy / "_toc.yml")
    return copy


def _run(copy: Path, *args, code=None):
    """The copy's tools/exercise_index.py (or ``code``) in a fresh interpreter that imports the copy's vitools."""
    command = [sys.executable, "-c", code] if code else [sys.executable, str(copy / "tools" / "exercise_index.py")]
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(command + list(args), cwd=copy, env=env, capture_output=True, text=True, timeout=300)


def _notebook(copy: Path, chapter: int) -> dict:
    (path,) = (copy / "book").glob(f"{chapter:02d}_*.ipynb")
    return json.loads(path.read_text())


def test_scaffold_adds_a_failing_stub_and_cells_at_the_end_of_the_chapter_s_exercises(tmp_path):
    copy = _copy_of_the_repository(tmp_path)
    chapter = 4
    before = [c for c in _notebook(copy, chapter)["cells"]]
    n_before = sum(ex.chapter == chapter for ex in all_exercises())
    result = _run(copy, "new", "--chapter", str(chapter), "--key", "my-new-exercise", "--title", "A new exercise",
                  "--kind", "Coding", "--stars", "2")
    assert result.returncode == 0, result.stderr
    assert _run(copy, "--check").returncode == 0                           # numbers, index page, headers written

    cells = _notebook(copy, chapter)["cells"]
    sources = ["".join(c["source"]) for c in cells]
    (at,) = [i for i, s in enumerate(sources) if s.startswith("```{exercise} A new exercise\n:label: ex-my-new-exercise\n")]
    assert sources[at].split("\n")[3].startswith("**Coding, ★★.**")
    assert cells[at + 1]["cell_type"] == "code" and 'ex = exercise("my-new-exercise")' in sources[at + 1]
    assert "ex.check(answer)" in sources[at + 1]
    assert sources[at + 2] == 'exercise("my-new-exercise").solution()'
    assert {"solution", "remove-input"} <= set(cells[at + 2]["metadata"]["tags"])
    # after the last exercise's solution cell, before whatever followed it; nothing else moved
    last_solution = max(i for i, c in enumerate(before) if "solution" in c["metadata"].get("tags", []))
    assert at == last_solution + 1 and cells[:at] + cells[at + 3:] == before
    assert len({c["id"] for c in cells}) == len(cells)
    numbers = json.loads((copy / "vitools" / "exercises" / "numbers.json").read_text())
    assert numbers["my-new-exercise"] == f"{chapter}.{n_before + 1}"
    assert "ex-my-new-exercise" in (copy / "book" / "exercises.md").read_text()

    # the stub is registered with its metadata, found by key and by number, and never passes
    probe = _run(copy, code=(
        "from vitools.exercises import exercise\n"
        f"ex = exercise('{chapter}.{n_before + 1}')\n"
        "assert ex is exercise('my-new-exercise') and (ex.chapter, ex.kind, ex.stars) == (4, 'Coding', 2)\n"
        "feedback = ex.check(ex.reference)\n"
        "assert not feedback.passed and 'NotImplementedError' in feedback.message, feedback\n"
        "print(ex.number)\n"))
    assert probe.returncode == 0 and probe.stdout.strip() == f"{chapter}.{n_before + 1}", probe.stderr

    # a key that is taken, and a kind that does not exist, are refused naming the argument
    taken = _run(copy, "new", "--chapter", "4", "--key", "my-new-exercise", "--title", "t", "--kind", "Coding",
                 "--stars", "1")
    assert taken.returncode != 0 and "--key 'my-new-exercise' is taken" in taken.stderr
    kind = _run(copy, "new", "--chapter", "4", "--key", "other", "--title", "t", "--kind", "Essay", "--stars", "1")
    assert kind.returncode != 0 and "--kind must be one of" in kind.stderr


def test_check_names_what_is_stale_and_a_write_regenerates_it(tmp_path):
    copy = _copy_of_the_repository(tmp_path)
    first = all_exercises()[0]
    numbers = copy / "vitools" / "exercises" / "numbers.json"
    numbers.write_text("{}\n")
    (path,) = (copy / "book").glob(f"{first.chapter:02d}_*.ipynb")
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        source = "".join(cell["source"])
        if source.startswith(f"```{{exercise}} {first.title}\n"):     # a title and a kind edited in the notebook
            cell["source"] = source.replace(first.title, "Another title", 1).replace(f"**{first.kind},", "**Essay,", 1)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    check = _run(copy, "--check")
    assert check.returncode == 1
    assert "numbers.json" in check.stderr and path.name in check.stderr and "exercises.md" not in check.stderr
    assert _run(copy).returncode == 0 and _run(copy, "--check").returncode == 0
    for name in ("vitools/exercises/numbers.json", f"book/{path.name}"):          # back to the registry's
        assert (copy / name).read_text() == (ROOT / name).read_text(), name


def _moved_first_exercise(tmp_path, monkeypatch, change):
    """Chapter 1 with ``change(cells)`` applied, as the only notebook of the book."""
    nb = ROOT / "book" / "01_marginal_likelihood.ipynb"
    data = json.loads(nb.read_text())
    change(data["cells"])
    broken = tmp_path / nb.name
    broken.write_text(json.dumps(data))
    monkeypatch.setattr(index, "chapters", lambda: iter([(1, "01_marginal_likelihood", "t", broken)]))


def _first_checker(cells):
    return next(c for c in cells if c["cell_type"] == "code" and "exercise(" in "".join(c["source"]))


def test_index_catches_a_checker_that_calls_another_exercise(tmp_path, monkeypatch):
    first = [ex for ex in all_exercises() if ex.chapter == 1]
    registry = {ex.key: ex for ex in first}

    def call_the_second(cells):
        checker = _first_checker(cells)
        checker["source"] = "".join(checker["source"]).replace(first[0].key, first[1].key)

    _moved_first_exercise(tmp_path, monkeypatch, call_the_second)
    with pytest.raises(ValueError, match=f"ex-{first[0].key} is not followed by a code cell calling"):
        index.book_exercises(registry)


def test_index_catches_an_exercise_that_is_not_registered_or_not_stated(tmp_path, monkeypatch):
    first = [ex for ex in all_exercises() if ex.chapter == 1]
    registry = {ex.key: ex for ex in first}
    _moved_first_exercise(tmp_path, monkeypatch, lambda cells: None)
    with pytest.raises(ValueError, match=f"ex-{first[0].key} has no register"):
        index.book_exercises({k: v for k, v in registry.items() if k != first[0].key})
    with pytest.raises(ValueError, match="registered exercises that no notebook states.*'unplaced'"):
        index.book_exercises({**registry, "unplaced": first[0]})


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
        assert f'exercise("{ex.key}").solution()' in fingerprints
        assert ex.discussion[:40] in fingerprints, ex.key        # every discussion is distinctive
