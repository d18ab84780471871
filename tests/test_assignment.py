"""Graded assignments (tools/assignment.py): build, submit and grade, with ordinary and cheating students.

Grading needs otter-grader (requirements-instructor.txt); without it these tests skip, except where
VITOOLS_GRADING_TEST=required (CI), where they fail.
"""

import copy
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = ["2.3", "4.2", "2.1", "7.3", "4.4"]     # coding, coding, derivation (written part), coding, by hand

if importlib.util.find_spec("otter") is None:
    if os.environ.get("VITOOLS_GRADING_TEST") == "required":
        raise RuntimeError("VITOOLS_GRADING_TEST=required but otter-grader is not installed: "
                           "pip install -r requirements-instructor.txt")
    pytest.skip("otter-grader is not installed: pip install -r requirements-instructor.txt", allow_module_level=True)


def tool(*args, cwd=ROOT):
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "assignment.py"), *map(str, args)], cwd=cwd,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignment") / "hw1"
    tool("build", *ASSIGNMENT, "--out", out)
    return out


def notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def answered(nb: dict, number: str, code: str) -> dict:
    """The notebook with the answer cell of exercise ``number`` replaced by ``code``."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb["cells"] if f"answer-{number}" in c["metadata"].get("tags", [])]
    assert len(cells) == 1
    cells[0]["source"] = code
    return nb


def grade(hw: Path, submissions: dict, tmp_path: Path) -> dict:
    """Grade {student: notebook}; {(student, exercise, part): (points, possible, feedback)} and the feedback dir."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    for student, nb in submissions.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(nb))
    tool("grade", hw, folder, "--out", tmp_path / "grades" / "grades.csv", "--jobs", 2)
    with open(tmp_path / "grades" / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    return {(r["student"], r["exercise"], r["part"]): (r["points"], int(r["possible"]), r["feedback"]) for r in rows}


def test_the_student_notebook_holds_statements_stubs_and_checks_and_nothing_of_the_answers(hw):
    nb = notebook(hw / "student" / "hw1.ipynb")
    tags = [tag for cell in nb["cells"] for tag in cell["metadata"].get("tags", [])]
    assert {f"answer-{n}" for n in ASSIGNMENT} <= set(tags)
    assert {"check-2.3", "check-4.2", "check-2.1", "check-7.3"} <= set(tags) and "check-4.4" not in tags
    assert {"written-2.1", "written-4.4"} <= set(tags) and "written-2.3" not in tags
    assert not {"remove-cell", "remove-input", "solution", "hide-cell"} & set(tags)
    text = "\n".join("".join(cell["source"]) for cell in nb["cells"])
    for forbidden in ("solution()", "reference", "graded_probes", "hidden_check", "expected()"):
        assert forbidden not in text
    assert "def kl_bernoulli(mu1, mu2):\n    ..." in text                  # the stub, as the book states it
    assert text.count("<!-- BEGIN QUESTION -->") == text.count("<!-- END QUESTION -->") == 2   # otter manual questions
    config = notebook(hw / "autograder" / "assignment.json")
    assert [q["number"] for q in config["questions"]] == ASSIGNMENT
    assert sorted(p.name for p in (hw / "autograder" / "tests").glob("*.py")) == ["q2_1.py", "q2_3.py", "q4_2.py", "q7_3.py"]
    assert (hw / "autograder" / "autograder.zip").stat().st_size > 0
    assert not (hw / "student" / "package" / "vitools" / "exercises" / "chapter2.py").exists()


def test_the_hidden_tests_use_other_inputs_than_the_checks_and_are_in_otters_format(hw):
    from otter.test_files import OKTestFile

    from vitools.exercises import exercise

    test = OKTestFile.from_file(str(hw / "autograder" / "tests" / "q2_3.py"))
    ex = exercise("2.3")
    assert len(test.test_cases) == len(ex.graded_probes) and sum(c.points for c in test.test_cases) == ex.points
    assert all(case.hidden for case in test.test_cases)
    assert not {repr(p) for p in ex.graded_probes} & {repr(p) for p in ex.probes}


def test_four_students_correct_mistake_exception_and_infinite_loop(hw, tmp_path):
    solutions = notebook(hw / "autograder" / "solutions.ipynb")
    swapped = ("import numpy as np\n\ndef kl_bernoulli(mu1, mu2):\n"
               "    return mu2 * np.log(mu2 / mu1) + (1 - mu2) * np.log((1 - mu2) / (1 - mu1))\n")
    raises = "def score_estimates(f_values, z, mu):\n    raise ValueError('not finished')\n"
    loops = "def kl_normal(m, s, mu, sd_p):\n    while True:\n        pass\n"
    crashes = "import os\n\ndef free_bits_kl(kl, kl_min):\n    os._exit(3)\n"
    grades = grade(hw, {"correct": solutions, "mistake": answered(solutions, "2.3", swapped),
                        "exception": answered(solutions, "4.2", raises), "loop": answered(solutions, "2.1", loops),
                        "crash": answered(solutions, "7.3", crashes)}, tmp_path)
    automatic = {"2.3": 2, "4.2": 2, "2.1": 4, "7.3": 4}
    spoilt = {"correct": None, "mistake": "2.3", "exception": "4.2", "loop": "2.1", "crash": "7.3"}
    for student, bad in spoilt.items():
        for number, possible in automatic.items():
            points, listed, feedback = grades[student, number, "automatic"]
            assert listed == possible
            if number == bad:
                assert float(points) < possible, (student, number, feedback)
            else:
                assert float(points) == possible, (student, number, feedback)
        assert grades[student, "2.1", "written"][:2] == ("", 2) and grades[student, "4.4", "written"][:2] == ("", 4)
        assert (tmp_path / "grades" / "feedback" / f"{student}.md").exists()
    with open(tmp_path / "grades" / "totals.csv") as f:
        totals = {r["student"]: float(r["automatic points"]) for r in csv.DictReader(f)}
    assert totals == {s: sum(float(grades[s, n, "automatic"][0]) for n in automatic) for s in spoilt}
    assert totals["correct"] == 12
    assert float(grades["mistake", "2.3", "automatic"][0]) > 0          # right where the direction does not matter
    assert "direction is swapped" in grades["mistake", "2.3", "automatic"][2]
    assert float(grades["exception", "4.2", "automatic"][0]) == 0
    assert "on a hidden input raised ValueError." in grades["exception", "4.2", "automatic"][2]    # not its text
    assert float(grades["loop", "2.1", "automatic"][0]) == 0 and "still running" in grades["loop", "2.1", "automatic"][2]
    assert float(grades["crash", "7.3", "automatic"][0]) == 0 and "ended the process" in grades["crash", "7.3", "automatic"][2]
    feedback = (tmp_path / "grades" / "feedback" / "correct.md").read_text()
    assert "Automatically graded: 12 of 12 points" in feedback and "best_constant_baseline = " in feedback

    # otter-grader's own grader on the same autograder zip (what `otter grade` runs in Docker): the same scores
    # (not for the crash, which ends otter's one kernel and with it every exercise's score)
    otter = Path(sys.executable).with_name("otter")
    for student in ("correct", "mistake", "exception", "loop"):
        out = tmp_path / "otter" / student
        out.mkdir(parents=True)
        run = subprocess.run([str(otter), "run", "-a", str(hw / "autograder" / "autograder.zip"), "-o", str(out),
                              str(tmp_path / "submissions" / f"{student}.ipynb")], cwd=out, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        results = {t["name"]: t.get("score") for t in json.loads((out / "results.json").read_text())["tests"]}
        for number in automatic:
            assert results[number] == pytest.approx(float(grades[student, number, "automatic"][0])), (student, number)


def test_a_cheating_student_scores_nothing(hw, tmp_path):
    student = notebook(hw / "student" / "hw1.ipynb")
    cheats = {
        "solution": "kl_bernoulli = exercise('2.3').solution\n",
        "reference": "def kl_bernoulli(mu1, mu2):\n    return exercise('2.3').reference(mu1, mu2)\n",
        "lookup": ("ex = exercise('2.3')\ntable = {repr(args): out for args, out in zip(ex.probes, ex.expected())}\n\n"
                   "def kl_bernoulli(mu1, mu2):\n    return table[repr((mu1, mu2))]\n"),
        "mistake-table": ("ex = exercise('2.3')\n\ndef kl_bernoulli(mu1, mu2):\n"
                          "    return ex.mistakes[0].make(mu1, mu2)\n"),
        "chapter-module": "from vitools.exercises.chapter2 import kl_bernoulli\n",
        "package-source": ("import pathlib, re, vitools\nsource = '\\n'.join(p.read_text(errors='ignore') for p in "
                           "pathlib.Path(vitools.__file__).parent.rglob('*.py'))\n"
                           "exec(re.search(r'def kl_bernoulli.*?(?=\\n\\S)', source, re.S).group(0))\n"),
        "checkout": ("import sys\nsys.path.insert(0, " + repr(str(ROOT)) + ")\nfor name in [m for m in sys.modules "
                     "if m.startswith('vitools')]:\n    del sys.modules[name]\n"
                     "from vitools.exercises.chapter2 import kl_bernoulli\n"),
        "checkout-by-path": ("exec(open(" + repr(str(ROOT / "vitools" / "exercises" / "chapter2.py")) + ").read())\n"),
        "grader-root": ("import os, glob\nsolutions = glob.glob(f'/proc/{os.getppid()}/root/**/solutions.ipynb', "
                        "recursive=True) + glob.glob('/proc/1/root" + str(hw) + "/autograder/solutions.ipynb')\n"
                        "import json\nexec(json.load(open(solutions[0]))['cells'][4]['source'])\n"),
        "unmount": ("import os\nos.system('umount " + str(hw / "autograder") + "')\n"
                    "import json\nnb = json.load(open(" + repr(str(hw / "autograder" / "solutions.ipynb")) + "))\n"
                    "exec(next(''.join(c['source']) for c in nb['cells'] if 'answer-2.3' in c['metadata'].get('tags', [])))\n"),
        "vandal": ("import glob\nfor test in glob.glob(" + repr(str(hw / "autograder" / "tests")) + " + '/*.py'):\n"
                   "    open(test, 'w').write('OK_FORMAT = True\\ntest = {}')\n"),
        "pipe": ("import os\nfor fd in range(3, 20):\n    try:\n        os.write(fd, b'garbage\\n')\n"
                 "    except OSError:\n        pass\n"),
        "kill-grader": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\n",
        "heartbeat": ("import os, time\nstart = time.time()\nwhile time.time() - start < 60:\n    try:\n"
                      "        os.write(3, b'{\"running\": 0}\\n')\n        time.sleep(1)\n    except BaseException:\n"
                      "        pass\n"),
        "leaky": "def kl_bernoulli(mu1, mu2):\n    raise ValueError('\\ud800 ' + repr((mu1, mu2)))\n",
    }
    grades = grade(hw, {name: answered(student, "2.3", code) for name, code in cheats.items()}, tmp_path)
    for name in cheats:
        points, possible, feedback = grades[name, "2.3", "automatic"]
        assert float(points) == 0, (name, feedback)
    assert sorted(p.name for p in (hw / "autograder" / "tests").glob("*.py")) == ["q2_1.py", "q2_3.py", "q4_2.py", "q7_3.py"]
    assert all("hidden_check" in p.read_text() for p in (hw / "autograder" / "tests").glob("*.py"))   # untouched
    assert float(grades["vandal", "4.2", "automatic"][0]) == 0                # the blank stubs still score nothing
    from vitools.exercises import exercise

    leaked = [repr(args) for args in exercise("2.3").graded_probes if repr(args) in grades["leaky", "2.3", "automatic"][2]]
    assert not leaked and "hidden input raised ValueError." in grades["leaky", "2.3", "automatic"][2]


def test_what_a_student_receives_holds_no_answer(hw):
    """The student folder and the student edition: no reference code, discussion, hidden input or hidden check."""
    import pickle

    from vitools.exercises import all_exercises
    from vitools.exercises._core import _Stored

    sys.path.insert(0, str(ROOT / "tools"))
    from student_edition import make_edition, solution_fingerprints

    exercises = hw / "student" / "package" / "vitools" / "exercises"      # the rest is the book's library
    files = [hw / "student" / "hw1.ipynb", *exercises.glob("*.py"), *exercises.glob("*.json")]
    text = "\n".join(p.read_text() for p in files)
    leaked = [f for f in solution_fingerprints() if f in text and f != "Solution to"]
    assert not leaked, leaked[:5]
    forms = pickle.loads((hw / "student" / "package" / "vitools" / "exercises" / "student_forms.pickle").read_bytes())
    assert len(forms) == len(all_exercises())
    for form in forms:
        assert isinstance(form.reference, _Stored) and all(isinstance(m.make, _Stored) for m in form.mistakes)
        assert form.graded_probes is None and form.discussion == ""

    edition = hw.parent / "edition"
    make_edition(edition, execute=False)
    cells = [c for nb in (edition / "book").glob("*.ipynb") for c in notebook(nb)["cells"]]
    sources = "\n".join("".join(c["source"]) for c in cells)
    assert "reverse.mean - 3.0" not in sources and "3 + a**2" not in sources      # hidden checks that state answers
    hidden = ["".join(c["source"]) for c in cells if "remove-cell" in c["metadata"].get("tags", [])]
    assert hidden and not any("assert" in source for source in hidden)        # no check is left in a hidden cell
    assert (edition / "package" / "vitools" / "exercises" / "student_forms.pickle").exists()
    assert "./package" in (edition / "requirements.txt").read_text()


def test_the_student_package_checks_answers_as_the_book_does(hw, tmp_path):
    """In a process that imports only the student package: the same feedback as the full book on the public inputs."""
    code = f"""
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, {str(hw / 'student' / 'package')!r})
import numpy as np
import vitools
from vitools.exercises import exercise
assert vitools.__file__.startswith({str(hw / 'student' / 'package')!r}), vitools.__file__
ex = exercise("2.3")
right = lambda a, b: a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))
print(ex.check(right).passed, ex.check(lambda a, b: right(b, a)).message)
print("no solutions" in repr(ex.solution()) or "holds no solutions" in ex.solution().markdown)
"""
    run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    from vitools.exercises import exercise

    first, second = run.stdout.strip().splitlines()
    right = exercise("2.3").reference
    assert first == "True " + exercise("2.3").check(lambda a, b: right(b, a)).message and second == "True"


def test_grading_again_keeps_hand_graded_points_and_an_unreadable_notebook_costs_only_its_student(hw, tmp_path):
    solutions = notebook(hw / "autograder" / "solutions.ipynb")
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "ada.ipynb").write_text(json.dumps(solutions))
    (folder / "bob.ipynb").write_text("{not a notebook")
    gradebook = tmp_path / "grades" / "grades.csv"
    tool("grade", hw, folder, "--out", gradebook)
    with open(gradebook) as f:
        rows = list(csv.DictReader(f))
    assert {r["points"] for r in rows if r["student"] == "bob" and r["part"] == "automatic"} == {"0"}
    assert all("not a readable notebook" in r["feedback"] for r in rows if r["student"] == "bob")
    for r in rows:                                   # the instructor grades the written parts by hand
        if r["student"] == "ada" and r["part"] == "written":
            r["points"] = {"2.1": "1.5", "4.4": "3"}[r["exercise"]]
    with open(gradebook, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)
    tool("grade", hw, folder, "--out", gradebook)
    with open(gradebook) as f:
        again = {(r["student"], r["exercise"], r["part"]): r["points"] for r in csv.DictReader(f)}
    assert again["ada", "2.1", "written"] == "1.5" and again["ada", "4.4", "written"] == "3"
    with open(gradebook.with_name("totals.csv")) as f:
        totals = {r["student"]: r for r in csv.DictReader(f)}
    assert totals["ada"]["automatic points"] == "12" and totals["ada"]["written points (by hand)"] == "4.5"
    assert "Graded by hand: 4.5 of 6 points." in (gradebook.parent / "feedback" / "ada.md").read_text()


def test_the_student_notebook_and_the_solutions_run_top_to_bottom_with_the_student_package(hw, tmp_path):
    """Run All, as a student does in JupyterLab with the student package installed: every cell runs; the stubs
    get "Not yet.", the solutions "Correct." from each practice check."""
    import nbformat
    from nbclient import NotebookClient

    env = dict(os.environ, PYTHONPATH=str(hw / "student" / "package"))
    outputs = {}
    for name, path in (("student", hw / "student" / "hw1.ipynb"), ("solutions", hw / "autograder" / "solutions.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("import vitools\nprint(vitools.__file__)"))
        client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        assert nb.cells[-1].outputs[0]["text"].startswith(str(hw / "student" / "package"))     # not the checkout's
        outputs[name] = [cell for cell in nb.cells if any(t.startswith("check-") for t in cell.metadata.get("tags", []))]
    for name, verdict in (("student", "Not yet."), ("solutions", "Correct.")):
        assert len(outputs[name]) == 4
        for cell in outputs[name]:
            assert cell.outputs[0]["data"]["text/plain"].startswith(verdict), (name, cell.outputs)
