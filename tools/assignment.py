"""Graded assignments from the book's exercises: build one, hand it out, grade the submissions.

    python tools/assignment.py build 2.3 4.2 7.1 --out hw1      # hw1/student (hand out), hw1/autograder (keep)
    python tools/assignment.py grade hw1 submissions/ --out grades.csv

``build`` writes
  hw1/student/      what students get: hw1.ipynb and the student package (``pip install -r requirements.txt``);
  hw1/autograder/   the instructor's: hidden tests in otter-grader's OK format (tests/), assignment.json (points,
                    answer names, time limits), solutions.ipynb, the student package the grader imports, and
                    autograder.zip (``otter generate``) for Gradescope or ``otter grade`` with Docker.

An exercise whose answer is a function is graded automatically on its ``graded_probes``, inputs that the public
``check()`` never uses; its points are split evenly over those hidden tests, and a failed one says which typical
mistake it looks like. An answer judged by a property (KL's triangle inequality) is graded on that property. A
derivation also has a written part, graded by hand. An answer that is one fixed value (a number or an array the
exercise determines) is graded by hand only: a checker that says whether a value is right, or how far off it is,
gives the value away to anyone who calls it in a loop, so such answers get no ``check()`` in an assignment.

``grade`` runs each submission (``submissions/<student>.ipynb``) in its own sandboxed process
(tools/grading_sandbox.py: no network, a memory limit, a time limit per cell and per call, the autograder, the
submissions and this checkout's sources hidden, the student package as vitools). The hidden tests run here, in the
grader, on what the student's functions return, so no hidden input's expected output enters the sandbox. A cell
or a call that ends the sandbox costs only its exercise: the sandbox starts again without that cell. It writes the
gradebook (student, exercise, part, points, possible, feedback), totals.csv (one row per student) and
feedback/<student>.md beside it.
"""

import argparse
import ast
import base64
import csv
import json
import os
import pickle
import pprint
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

WRITTEN_PLACEHOLDER = "*Write your answer and your working here (Markdown and $\\LaTeX$ work).*"
SUBMISSION_SECONDS = 300.0      # all of one submission's grading, restarts included
CELL_SECONDS = 20.0             # a cell of a submission (an answer cell defines a function: it should take no time)
SANDBOX_UID = 200_000           # the sandboxes' user ids: one per submission, owning no file
MEMORY_BYTES = 3 << 30          # address space of a grading process (torch alone maps about 1 GiB)
RUNTIME = ["numpy>=1.26,<3", "scipy>=1.11", "torch==2.13.0", "scikit-learn>=1.4", "matplotlib>=3.8",
           "ipython", "markdown-it-py", "mdit-py-plugins"]   # what the student package needs at run time


# ---------------------------------------------------------------- the exercises, as the book states them

def _book_cells() -> dict:
    """key -> (markdown statement, exercise code cell, chapter cells) for every exercise in the book."""
    found = {}
    for notebook in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        for i, cell in enumerate(cells):
            text = "".join(cell["source"])
            match = re.search(r":label: ex-([a-z0-9-]+)", text)
            if cell["cell_type"] == "markdown" and match:
                code = next("".join(c["source"]) for c in cells[i + 1:] if c["cell_type"] == "code")
                found[match.group(1)] = (text, code, cells)
    return found


def statement(markdown: str, cells: list, chapter: int) -> str:
    """The exercise directive's body as plain Markdown; an equation it cites by label is written out below it."""
    from vitools.exercises.__main__ import directive_body

    body = directive_body(markdown)
    chapter_text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    cited = []

    def cite(match):
        label = match.group(1)
        if label not in cited:
            cited.append(label)
        return f"equation ({cited.index(label) + 1})"

    body = re.sub(r"\{eq\}`([^`]+)`", cite, body)
    for n, label in enumerate(cited, 1):
        equation = re.search(r"\$\$(.+?)\$\$\s*\(" + re.escape(label) + r"\)", chapter_text, re.S)
        if equation is None:
            raise SystemExit(f"equation {label!r} cited by an exercise of chapter {chapter} was not found")
        body += f"\n\nEquation ({n}), from chapter {chapter}:\n$$\n{equation.group(1).strip()}\n$$"
    return body


def answer_stub(code: str, key: str) -> tuple:
    """(stub, name): the book's answer cell without its exercise()/check() lines, and the name it defines."""
    lines = [line for line in code.splitlines() if not line.startswith(("ex = exercise(", "ex.check("))]
    name = None
    for i, line in enumerate(lines):
        match = re.fullmatch(r"answer = (\w+)", line.strip())
        if match:
            name = match.group(1)
            lines[i] = None
        elif line.startswith("answer = "):                       # a value: answer = ...   # comment
            name = key.replace("-", "_")
            lines[i] = name + line[len("answer"):]
    stub = "\n".join(line for line in lines if line is not None).strip()
    if name is None:
        raise SystemExit(f"exercise {key!r}: the book's answer cell has no 'answer = ...' line")
    return stub, name


def _cell(kind: str, source: str, tags=()) -> dict:
    import hashlib

    cell_id = hashlib.sha1(f"{kind}{source}{tags}".encode()).hexdigest()[:8]
    cell = {"cell_type": kind, "id": cell_id, "metadata": {"tags": list(tags)} if tags else {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(cells: list) -> dict:
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


# ---------------------------------------------------------------- build

def plan(labels: list, points: dict) -> list:
    """The assignment's questions: one dict per exercise, in the order given. ``points`` maps an exercise number
    to (automatic, written) points; None keeps the exercise's own."""
    from vitools.exercises import exercise
    from vitools.exercises._core import UnknownExercise

    book = _book_cells()
    questions = []
    for label in labels:
        try:
            ex = exercise(label)
        except UnknownExercise:
            raise SystemExit(f"no exercise {label!r}: `python -m vitools.exercises` lists them (give a number such "
                             f"as 2.3 or a key such as kl-two-coins)") from None
        if ex.number in [q["number"] for q in questions]:
            raise SystemExit(f"exercise {ex.number} is in the list twice: give each exercise once")
        if ex.key not in book:
            raise SystemExit(f"exercise {label} ({ex.key}) is not stated in any chapter notebook")
        markdown, code, cells = book[ex.key]
        stub, name = answer_stub(code, ex.key)
        automatic = ex.probes is not None or ex.accept is not None
        auto, written = points.get(ex.number) or (ex.points, ex.written_points)
        if not automatic and auto:
            raise SystemExit(f"--points {ex.number}: its answer is one fixed value, graded by hand only; give its "
                             f"written points alone, e.g. --points {ex.number}=0+{auto or written}")
        if automatic and ex.probes is not None and not ex.graded_probes:
            raise SystemExit(f"exercise {ex.number} ({ex.key}) has no graded_probes: add hidden test inputs to its "
                             f"register call in vitools/exercises/chapter{ex.chapter}.py")
        questions.append(dict(number=ex.number, key=ex.key, title=ex.title, kind=ex.kind, stars=ex.stars,
                              minutes=ex.minutes, name=name, stub=stub, automatic=automatic, points=auto,
                              written_points=written, time_limit=ex.time_limit,
                              statement=statement(markdown, cells, ex.chapter), chapter=ex.chapter))
    unused = sorted(set(points) - {q["number"] for q in questions})
    if unused:
        raise SystemExit(f"--points for {', '.join(unused)}, which the assignment does not hold (it holds "
                         f"{', '.join(q['number'] for q in questions)})")
    return questions


def parse_points(items: list) -> dict:
    """``["2.3=5", "2.1=4+3"]`` -> {"2.3": (5, None), "2.1": (4, 3)} with None filled in by the exercise's own."""
    from vitools.exercises import exercise

    points = {}
    for item in items:
        number, _, value = item.partition("=")
        parts = value.split("+")
        if not number or not 1 <= len(parts) <= 2 or not all(part.isdigit() for part in parts):
            raise SystemExit(f"--points {item}: give NUMBER=AUTOMATIC or NUMBER=AUTOMATIC+WRITTEN in whole points "
                             f">= 0, e.g. --points 2.3=5 or --points 2.1=4+3 (repeat --points for more exercises)")
        try:
            ex = exercise(number)
        except Exception:   # noqa: BLE001  (reported in words)
            raise SystemExit(f"--points {item}: no exercise {number!r}") from None
        automatic = int(parts[0])
        written = int(parts[1]) if len(parts) == 2 else ex.written_points
        if ex.probes is None and ex.accept is None and len(parts) == 1:   # graded by hand: the one number is written
            automatic, written = 0, int(parts[0])
        points[ex.number] = (automatic, written)
    return points


def student_notebook(title: str, questions: list) -> dict:
    total = sum(q["points"] + q["written_points"] for q in questions)
    rows = "\n".join(f"| {q['number']} | {q['title']} | {q['kind']}, {'★' * q['stars']} | "
                     f"{q['points'] + q['written_points']} | about {q['minutes']} min |" for q in questions)
    limit, cell = max(q["time_limit"] for q in questions), CELL_SECONDS
    cells = [_cell("markdown", f"""# {title}

{len(questions)} exercises from *Variational Inference, Interactively*, {total} points in all.

| Exercise | Title | Kind | Points | Time |
|---|---|---|---|---|
{rows}

**How to work.** Write each answer in the code cell that holds its stub (tagged `answer-<number>`): fill in the
body and keep the function's name. Run the cell below it: `check()` compares your function with the right outputs
on a few test inputs and names the typical mistakes; `exercise("<number>").hint()` gives a hint. Your grade comes
from *other* inputs, so make the function right, not just its outputs on those. Write the computation yourself
with NumPy: calling a library routine that computes the exercise's quantity for you may pass the tests but earns
no credit when the notebook is read. Each call of your function must return within {limit:g} s and each cell
within {cell:g} s, or it is stopped. A written part goes into the Markdown cell that says so (keep that cell).

**To submit**, save this notebook and hand in the `.ipynb` file named after yourself (`ada_lovelace.ipynb`).

Set up once: `pip install -r requirements.txt` in this folder, then open this notebook in JupyterLab."""),
             _cell("code", "import numpy as np\n\nfrom vitools.exercises import exercise", tags=["setup"])]
    for q in questions:
        number = q["number"]
        head = f"## Exercise {number}: {q['title']}\n\n*About {q['minutes']} minutes; {_points_text(q)}.*\n\n"
        manual = q["written_points"] > 0
        cells.append(_cell("markdown", ("<!-- BEGIN QUESTION -->\n\n" if manual and not q["automatic"] else "")
                           + head + q["statement"]))
        if q["automatic"]:
            cells.append(_cell("code", q["stub"] + "\n", tags=[f"answer-{number}"]))
            cells.append(_cell("code", f'exercise("{number}").check({q["name"]})', tags=[f"check-{number}"]))
        else:
            cells.append(_cell("markdown", f"This answer is graded by hand, from your number and the working in the "
                                           f"written part: the chapter {q['chapter']} notebook has the model and the "
                                           f"tools to compute it."))
            cells.append(_cell("code", q["stub"] + "\n", tags=[f"answer-{number}"]))
        if manual:
            if q["automatic"]:
                cells.append(_cell("markdown", "<!-- BEGIN QUESTION -->\n\n**Written part** (graded by hand): "
                                               "the derivation behind your function."))
            cells.append(_cell("markdown", WRITTEN_PLACEHOLDER, tags=[f"written-{number}"]))
            cells.append(_cell("markdown", "<!-- END QUESTION -->"))
    return _notebook(cells)


def _points_text(q) -> str:
    parts = ([f"{q['points']} points graded automatically"] if q["points"] else []) + \
            ([f"{q['written_points']} points for the written part, graded by hand"] if q["written_points"] else [])
    return " and ".join(parts)


def hidden_tests(q: dict) -> dict:
    """The question's hidden tests in otter-grader's OK format: one doctest case per hidden input."""
    from vitools.exercises import exercise
    from vitools.exercises._core import hidden_form

    ex = exercise(q["key"])
    forms = [hidden_form(ex, probe) for probe in ex.graded_probes] if ex.probes is not None else [hidden_form(ex)]
    cases = []
    for i, form in enumerate(forms, 1):
        payload = base64.b64encode(pickle.dumps(form)).decode()
        cases.append({"code": f">>> from vitools.exercises._core import hidden_check\n"
                              f">>> hidden_check(globals().get({q['name']!r}), {payload!r})\n'ok'",
                      "hidden": True, "locked": False, "name": f"hidden test {i} of {len(forms)}"})
    return {"name": q["number"], "points": q["points"],
            "suites": [{"cases": cases, "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}


def solutions_notebook(title: str, questions: list) -> dict:
    """The student notebook with every automatically graded answer filled in by the reference solution."""
    import inspect

    from vitools.exercises import exercise

    notebook = student_notebook(title + " (solutions)", questions)
    for q in questions:
        ex = exercise(q["key"])
        if ex.probes is not None:
            code = textwrap.dedent(inspect.getsource(ex.reference))
            if ex.reference.__name__ != q["name"]:
                code += f"\n\n{q['name']} = {ex.reference.__name__}"
        else:
            code = f"{q['name']} = np.array({ex.expected().tolist()!r})"
        cell = next(c for c in notebook["cells"] if f"answer-{q['number']}" in c["metadata"].get("tags", []))
        cell["source"] = "import numpy as np\n\n" + code + "\n"
        for cell in notebook["cells"]:        # the book's discussion, for whoever grades the written part
            if f"written-{q['number']}" in cell["metadata"].get("tags", []):
                cell["source"] = f"**From the book's solution** (for the grader):\n\n{ex.discussion}"
    return notebook


def build(labels: list, out: Path, title: str | None = None, points: dict | None = None,
          zip_autograder: bool = True) -> Path:
    from student_package import build as build_package

    out = Path(out)
    if out.resolve() in (ROOT, ROOT / "book", ROOT / "vitools", ROOT / "tools"):
        raise SystemExit(f"--out {out}: choose a new folder, not one of the repository's own")
    if out.exists() and any(out.iterdir()) and not (out / "autograder" / "assignment.json").exists():
        raise SystemExit(f"--out {out}: the folder exists and is not an assignment; choose a new folder (an "
                         f"assignment folder is replaced)")
    questions = plan(labels, points or {})
    title = title or f"{out.name}: exercises {', '.join(q['number'] for q in questions)}"
    shutil.rmtree(out, ignore_errors=True)
    student, grader = out / "student", out / "autograder"
    (grader / "tests").mkdir(parents=True)
    student.mkdir(parents=True)
    write_json(student / f"{out.name}.ipynb", student_notebook(title, questions))
    build_package(student / "package")
    (student / "requirements.txt").write_text("# pip install -r requirements.txt (in this folder)\n"
                                              + "\n".join(RUNTIME + ["ipykernel", "jupyterlab>=4.2,<5",
                                                                     "./package"]) + "\n")
    shutil.copytree(student / "package", grader / "package")
    for q in questions:
        if q["points"]:
            (grader / "tests" / f"q{q['number'].replace('.', '_')}.py").write_text(
                "OK_FORMAT = True\n\ntest = " + pprint.pformat(hidden_tests(q), width=120, sort_dicts=False) + "\n")
    write_json(grader / "solutions.ipynb", solutions_notebook(title, questions))
    write_json(grader / "assignment.json", {"title": title, "notebook": f"{out.name}.ipynb",
                                            "cell_seconds": CELL_SECONDS, "memory_bytes": MEMORY_BYTES,
                                            "submission_seconds": SUBMISSION_SECONDS,
                                            "questions": [{k: v for k, v in q.items() if k not in ("stub", "statement")}
                                                          for q in questions]})
    if zip_autograder:
        otter_zip(grader)
    return out


def otter_zip(grader: Path) -> None:
    """autograder.zip for otter-grader (Gradescope, or ``otter grade`` with Docker): the tests, the runtime
    requirements, and the student package as a support file (it is importable from the submission's folder)."""
    otter = shutil.which("otter", path=str(Path(sys.executable).parent)) or shutil.which("otter")
    if otter is None:
        print("otter-grader is not installed (pip install -r requirements-instructor.txt): no autograder.zip; "
              "`grade` does not need it")
        return
    (grader / "requirements.txt").write_text("\n".join(RUNTIME) + "\n")
    write_json(grader / "otter_config.json", {"lang": "python", "name": grader.parent.name})
    shutil.copytree(grader / "package" / "vitools", grader / "vitools", dirs_exist_ok=True)
    subprocess.run([otter, "generate", "-t", "tests", "-r", "requirements.txt", "-c", "otter_config.json",
                    "--python-version", "3.11", "-o", "autograder.zip", "vitools"], cwd=grader, check=True,
                   capture_output=True)
    shutil.rmtree(grader / "vitools")


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- grade

def _namespaces() -> list:
    """The command prefix that starts a process in new mount, network, process, IPC and host-name namespaces (as root: the
    sandbox then moves into a root of its own and drops to a user id of its own), or [] where it cannot."""
    unshare = shutil.which("unshare")
    prefix = [unshare, "-mnpiu", "--fork", "--kill-child", "--mount-proc"] if unshare else []
    if prefix and os.geteuid() == 0 and subprocess.run(prefix + ["true"], capture_output=True).returncode == 0:
        return prefix
    return []


class AnswerFailed(Exception):
    """A student's function raised in the sandbox; the message says what it raised."""


class Sandbox:
    """The submission's code running in its own process (tools/grading_sandbox.py): the grader asks it to call the
    student's functions on hidden inputs and compares what comes back, here, with what is expected."""

    TIMEOUT, BROKEN = "timeout", "broken"

    def __init__(self, settings: dict, prefix: list):
        self.settings, self.prefix, self.process, self.errors, self.defined = settings, prefix, None, {}, {}
        self.skip = set()            # cells that ended or hung the process: left out when it starts again
        self.deadline = time.monotonic() + settings["submission_seconds"]

    def _out_of_time(self) -> str | None:
        if time.monotonic() < self.deadline:
            return None
        self.close()
        return f"the submission used up its {self.settings['submission_seconds']:g} s of grading time"

    def start(self) -> None:
        """Start the process and run the submission's cells; a cell that ends or hangs it is left out, and it
        starts again without that cell (the cell's exercise gets the message)."""
        if why := self._out_of_time():
            raise RuntimeError(why)
        cells = [c for c in self.settings["cells"] if c["index"] not in self.skip]
        settings_file = Path(self.settings["workdir"]) / "settings.json"
        settings_file.write_text(json.dumps(dict(self.settings, cells=cells)))
        limit = self.settings["memory_bytes"]
        self.process = subprocess.Popen(
            self.prefix + [sys.executable, "-I", self.settings["script"], str(settings_file)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.settings["workdir"],
            env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"),   # 16 at most
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
        self.buffer, running = b"", None
        cell_deadline = time.monotonic() + 60 + self.settings["cell_seconds"]      # the first: start-up too
        while True:
            message = self._receive(cell_deadline - time.monotonic())
            if isinstance(message, dict) and (
                    "cell" in message and message["cell"] not in range(len(cells)) or
                    "running" in message and (message["running"] not in range(len(cells)) or
                                              running is not None and message["running"] <= running)):
                self.close()                                  # forged: not a message the sandbox sends
                message = self.BROKEN
            if not isinstance(message, dict):                   # the process ended, or hung in a cell
                if running is None:
                    raise RuntimeError(f"the grading process could not start: {self._death()}")
                cell = cells[running]
                self.skip.add(cell["index"])
                what = {self.TIMEOUT: "hung past its time limit",
                        self.BROKEN: "wrote on the grader's channel"}.get(message) or \
                    f"ended the grading process ({self._death()})"
                self.errors[cell["label"]] = f"{_which(cell)} {what}, so it was left out."
                return self.start()
            if "setup_error" in message and running is None:
                raise RuntimeError(f"the sandbox could not be set up: {message['setup_error']}")
            if "running" in message:
                running = message["running"]
                cell_deadline = time.monotonic() + self.settings["cell_seconds"] + 10
            elif "cell" in message:
                cell = cells[message["cell"]]
                self.errors[cell["label"]] = f"{_which(cell)} raised {message['error']}: {message['message']}."
            else:
                defined = message.get("defined")
                self.defined = defined if isinstance(defined, dict) else {}
                return

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _death(self) -> str:
        code = self.process.wait()
        return (f"killed by signal {-code}" if code < 0 else f"exit status {code}") + \
               f"; the limits are {self.settings['memory_bytes'] >> 30} GiB of memory and no network"

    def _receive(self, seconds: float):
        """The next reply, None when the process has ended, TIMEOUT (and the process killed) after ``seconds``."""
        import select

        deadline = min(time.monotonic() + seconds, self.deadline)
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self.process.kill()
                self.process.wait()
                return self.TIMEOUT
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
            if len(self.buffer) > 64 << 20:
                break
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):               # the submission wrote on the grader's pipe
            self.close()
            return self.BROKEN
        return message

    def ask(self, kind: str, name: str, seconds: float, args=None):
        """Call the student's function ``name`` on ``args`` ("call"), or fetch the value ``name`` ("value", "repr")."""
        from vitools.exercises._core import TimeLimitExceeded

        if why := self._out_of_time():
            raise AnswerFailed(why)
        if not self.alive():
            self.start()
        request = {"kind": kind, "name": name, "seconds": seconds,
                   "args": base64.b64encode(pickle.dumps(args)).decode() if args is not None else None}
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        try:
            reply = self._receive(seconds + 5)
        except BaseException:             # interrupted mid-reply: the conversation is out of step, start afresh
            self.close()
            raise
        if reply == self.TIMEOUT:
            raise TimeLimitExceeded(seconds)
        if reply == self.BROKEN:
            raise AnswerFailed("the submission wrote on the grader's channel")
        if reply is None:
            raise type("GradingProcessEnded", (AnswerFailed,), {})(
                f"your function ended the process running it ({self._death()})")
        if reply.get("timeout"):
            raise TimeLimitExceeded(seconds)
        if "error" in reply:
            raise type(reply["error"], (AnswerFailed,), {})(reply["message"])
        if "repr" in reply:
            return reply["repr"]
        if reply.get("nothing"):
            return None
        import io

        import numpy as np
        return np.load(io.BytesIO(base64.b64decode(reply["value"])), allow_pickle=False)

    def close(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()


def _which(cell: dict) -> str:
    return (f"Your answer cell for exercise {cell['label']} (tagged answer-{cell['label']})" if cell["label"] else
            f"Code cell {cell['number']} of the notebook (counting every cell from 1)")


class StudentFunction:
    """Stands in for a student's function in the hidden tests: each call runs in the sandbox."""

    def __init__(self, sandbox: Sandbox, name: str, seconds: float):
        self.sandbox, self.name, self.seconds = sandbox, name, seconds

    def __call__(self, *args):
        return self.sandbox.ask("call", self.name, self.seconds, args)


def submission_cells(submission: Path) -> tuple:
    """(code cells to run, written parts): the code cells but the check() cells, and each written-<number> cell."""
    cells = json.loads(Path(submission).read_text())["cells"]
    code, written = [], {}
    for number, cell in enumerate(cells, 1):
        tags = cell.get("metadata", {}).get("tags", [])
        source = "".join(cell["source"])
        for tag in tags:
            if tag.startswith("written-"):
                written[tag[len("written-"):]] = source
        if cell["cell_type"] != "code" or any(t.startswith("check-") for t in tags):
            continue
        label = next((t[len("answer-"):] for t in tags if t.startswith("answer-")), None)
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]   # IPython magics
        code.append({"index": len(code), "number": number, "label": label, "source": "\n".join(lines)})
    return code, written


def _result(future, submission: Path, config: dict) -> tuple:
    """A judge's result; if the judge itself failed, rows that say so (the batch goes on)."""
    try:
        return future.result()
    except Exception as err:   # noqa: BLE001  (one submission's failure is reported, not raised)
        why = f"Grading this submission failed ({type(err).__name__}: {err}); ask your instructor to look at it."
        return no_grade(submission, config, why), {}


def no_grade(submission: Path, config: dict, why: str) -> list:
    """Gradebook rows for a submission that could not be graded: 0 automatic points, written parts left blank."""
    return [[submission.stem, q["number"], part, 0 if part == "automatic" else "", possible, why]
            for q in config["questions"]
            for part, possible in (("automatic", q["points"]), ("written", q["written_points"])) if possible]


def judge(grader: Path, submission: Path, prefix: list, uid: int) -> tuple:
    """Grade one submission: (gradebook rows, written parts)."""
    from otter.test_files import OKTestFile

    config = json.loads((grader / "assignment.json").read_text())
    try:
        cells, written = submission_cells(submission)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        why = f"The file is not a readable notebook ({type(err).__name__}: {err}); hand in the .ipynb file itself."
        return no_grade(submission, config, why), {}
    written = {number: text for number, text in written.items() if text.strip() != WRITTEN_PLACEHOLDER}
    with tempfile.TemporaryDirectory() as workdir:
        os.chmod(workdir, 0o755)                # readable by the sandbox's own user id
        shutil.copy(Path(__file__).with_name("grading_sandbox.py"), workdir)
        shutil.copytree(grader / "package", Path(workdir) / "package")
        sandbox = Sandbox({"cells": cells, "cell_seconds": config["cell_seconds"], "workdir": workdir,
                           "submission_seconds": config.get("submission_seconds", SUBMISSION_SECONDS),
                           "memory_bytes": config["memory_bytes"], "names": [q["name"] for q in config["questions"]],
                           "package": str(Path(workdir) / "package"), "namespaces": bool(prefix), "uid": uid,
                           "script": str(Path(workdir) / "grading_sandbox.py")}, prefix)
        rows = []
        try:
            sandbox.start()
            for q in config["questions"]:
                if q["points"]:
                    rows.append([submission.stem, q["number"], "automatic",
                                 *score(grader, q, sandbox, OKTestFile)])
                if q["written_points"]:
                    text = written.get(q["number"], "")
                    note = "to grade by hand" + ("" if text.strip() else ": the written part is empty")
                    if not q["automatic"]:          # a value graded by hand: quote it, and compare it here
                        value, note = by_hand_value(grader, q, sandbox, note)
                        written[q["number"]] = text = f"`{q['name']} = {value}`\n\n{text}"
                    rows.append([submission.stem, q["number"], "written", "", q["written_points"], note])
        finally:
            sandbox.close()
    return rows, written


def by_hand_value(grader: Path, q: dict, sandbox: Sandbox, note: str) -> tuple:
    """(the student's value as text, the gradebook note): for the instructor's eyes, whether it matches the
    reference (the feedback file sent to the student shows only the value)."""
    import numpy as np

    from vitools.exercises import exercise

    try:
        text = sandbox.ask("repr", q["name"], 5)
        value = sandbox.ask("value", q["name"], q["time_limit"])
    except Exception as err:      # noqa: BLE001  (the grader sees why)
        return f"(could not be read: {err})", note
    if value is None:
        return "... (no answer)", note + "; no value given"
    ex = exercise(q["key"])
    expected = ex.expected()
    same = value.shape == expected.shape and bool(np.allclose(value, expected, rtol=ex.rtol, atol=ex.atol))
    return text, note + (f"; the value {'matches' if same else 'differs from'} the reference "
                         f"{np.array2string(np.asarray(expected), precision=4)}")


def score(grader: Path, q: dict, sandbox: Sandbox, OKTestFile) -> list:
    """[points, possible, feedback] for one automatically graded question, from its OK-format hidden tests."""
    if not sandbox.alive():
        sandbox.start()
    kind = sandbox.defined.get(q["name"])
    if kind == "function":
        answer = StudentFunction(sandbox, q["name"], q["time_limit"])
    elif kind == "value":
        try:
            answer = sandbox.ask("value", q["name"], q["time_limit"])
            answer = ... if answer is None else answer         # `name = ...`: no answer yet
        except Exception as err:            # noqa: BLE001  (reported as feedback)
            answer = None
            sandbox.errors.setdefault(q["number"], f"Its value could not be read: {err}")
    else:
        answer = None
    test = OKTestFile.from_file(str(grader / "tests" / f"q{q['number'].replace('.', '_')}.py"))
    with ThreadPoolExecutor(1) as thread:   # off the main thread, check()'s own clock stays off: the sandbox keeps time
        thread.submit(test.run, {q["name"]: answer} if answer is not None else {}).result()
    results = test.test_case_results
    failed = [_doctest_message(r.message) for r in results if not r.passed]
    if not failed:
        feedback = "The hidden test passed." if len(results) == 1 else f"All {len(results)} hidden tests passed."
    else:
        feedback = f"{len(results) - len(failed)} of {len(results)} hidden tests passed. {failed[0]}"
        if q["number"] in sandbox.errors:
            feedback += " " + sandbox.errors[q["number"]]
        elif answer is None and None in sandbox.errors:
            feedback += " " + sandbox.errors[None]
    return [round(test.score, 3), q["points"], feedback]


def grade(assignment: Path, submissions: Path, out: Path, jobs: int | None = None) -> list:
    """Grade every submissions/<student>.ipynb; write the gradebook CSV and feedback/<student>.md beside it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import otter.test_files  # noqa: F401  (imported once, before the judges fork)
    import vitools.exercises  # noqa: F401

    grader = Path(assignment).resolve() / "autograder"
    if not (grader / "assignment.json").exists():
        raise SystemExit(f"{grader / 'assignment.json'} not found: give the folder that "
                         f"`python tools/assignment.py build ... --out FOLDER` wrote")
    config = json.loads((grader / "assignment.json").read_text())
    if not Path(submissions).is_dir():
        raise SystemExit(f"{submissions}: no such folder (give the folder holding the students' .ipynb files)")
    entries = sorted(Path(submissions).iterdir())
    files = [f for f in entries if f.is_file() and f.suffix.lower() == ".ipynb"]
    if skipped := [f.name for f in entries if f not in files and not f.name.startswith(".")]:
        print(f"note: not a notebook, skipped: {', '.join(skipped)} (only <student>.ipynb files directly in "
              f"{submissions} are graded)")
    if not files:
        raise SystemExit(f"no submissions (<student>.ipynb) in {submissions}")
    prefix = _namespaces()
    if not prefix:
        print("WARNING: submissions are NOT isolated here: sandboxing needs root and Linux namespaces (unshare). "
              "A submission can read this machine's files, the hidden tests included. Grade as root on Linux, or "
              "with otter grade in Docker (see the README)")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs or os.cpu_count() or 1, mp_context=context) as pool:
        futures = [pool.submit(judge, grader, file, prefix, SANDBOX_UID + i) for i, file in enumerate(files)]
        graded = [_result(future, file, config) for future, file in zip(futures, files)]
    kept = hand_points(out)
    for submission_rows, _ in graded:
        for row in submission_rows:
            if row[2] == "written" and (row[0], row[1]) in kept:
                row[3] = kept[row[0], row[1]]
    rows = [row for submission_rows, _ in graded for row in submission_rows]
    with _replacing(out) as f:
        writer = csv.writer(f)
        writer.writerow(["student", "exercise", "part", "points", "possible", "feedback"])
        writer.writerows([*row[:3], _number(row[3]), *row[4:]] for row in rows)
    if kept:
        print(f"kept {len(kept)} hand-graded points already in {out}")
    with _replacing(out.with_name("totals.csv")) as f:      # one row per student, for an LMS upload
        writer = csv.writer(f)
        writer.writerow(["student", "automatic points", "automatic possible", "written points (by hand)",
                         "written possible"])
        for file, (submission_rows, _) in zip(files, graded):
            automatic = [r for r in submission_rows if r[2] == "automatic"]
            written = [r for r in submission_rows if r[2] == "written"]
            writer.writerow([file.stem, _number(sum(r[3] for r in automatic)), sum(r[4] for r in automatic),
                             _number(sum(r[3] for r in written)) if all(r[3] != "" for r in written) else "",
                             sum(r[4] for r in written)])
    feedback_dir = out.parent / "feedback"
    feedback_dir.mkdir(exist_ok=True)
    for file, (submission_rows, written) in zip(files, graded):
        with _replacing(feedback_dir / f"{file.stem}.md") as f:
            f.write(feedback_text(config, submission_rows, written))
    return rows


@contextmanager
def _replacing(path: Path):
    """A text file written beside ``path`` and moved into its place once complete (an earlier gradebook survives
    a failure); text a submission made that UTF-8 cannot hold (a lone surrogate) is replaced."""
    part = path.with_name(path.name + ".part")
    with open(part, "w", newline="", encoding="utf-8", errors="replace") as f:
        yield f
    os.replace(part, path)


def hand_points(gradebook: Path) -> dict:
    """{(student, exercise): points} for the written parts already graded in an earlier gradebook at this path:
    grading again (a late submission, a fixed test) keeps them."""
    if not gradebook.exists():
        return {}
    with open(gradebook) as f:
        return {(r["student"], r["exercise"]): float(r["points"]) for r in csv.DictReader(f)
                if r.get("part") == "written" and r.get("points", "").strip()}


def _number(points) -> str:
    return "" if points == "" else f"{round(float(points), 2):g}"


def feedback_text(config: dict, rows: list, written: dict) -> str:
    automatic = [r for r in rows if r[2] == "automatic"]
    by_hand = [r for r in rows if r[2] == "written"]
    got, possible = sum(r[3] for r in automatic), sum(r[4] for r in automatic)
    lines = [f"# {config['title']}: feedback for {rows[0][0]}", "",
             f"Automatically graded: {_number(got)} of {possible:g} points."]
    if by_hand:
        graded = all(r[3] != "" for r in by_hand)
        lines.append(f"Graded by hand: {_number(sum(r[3] for r in by_hand))} of {sum(r[4] for r in by_hand)} points."
                     if graded else "Written parts: graded by hand (not yet).")
    lines.append("")
    for q in config["questions"]:
        lines.append(f"## Exercise {q['number']}: {q['title']}")
        for row in (r for r in rows if r[1] == q["number"]):
            if row[2] == "automatic":
                lines += ["", f"**{_number(row[3])} of {row[4]} points.** {row[5]}"]
            else:
                mark = f"{_number(row[3])} of {row[4]} points" if row[3] != "" else f"{row[4]} points, graded by hand"
                lines += ["", f"**Written part ({mark}):**", "", written.get(q["number"], "").strip() or "*(empty)*"]
        lines.append("")
    return "\n".join(lines)


def _doctest_message(text: str) -> str:
    """The feedback string a failed hidden test returned, out of doctest's report."""
    match = re.search(r"Got:\n(.*?)(?:\n\*{5,}|\Z)", text, re.S)
    if match:
        got = textwrap.dedent(match.group(1)).strip()
        try:
            return str(ast.literal_eval(got))
        except (ValueError, SyntaxError):
            return got
    match = re.search(r"Exception raised:\n(.*?)(?:\n\*{5,}|\Z)", text, re.S)
    return match.group(1).strip().splitlines()[-1] if match else "The hidden test failed."


# ---------------------------------------------------------------- command line

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="build an assignment from exercise numbers or keys")
    b.add_argument("exercises", nargs="+", help="exercise numbers (2.3) or keys (kl-two-coins), in order")
    b.add_argument("--out", type=Path, required=True, help="output folder (a new one, or an earlier assignment's, "
                                                                         "which is replaced)")
    b.add_argument("--title", help="the notebook's title (default: the folder name and the exercises)")
    b.add_argument("--points", action="append", default=[], metavar="NUMBER=POINTS",
                   help="an exercise's points: --points 2.3=5 (automatic), --points 2.1=4+3 (automatic + written); "
                        "for an answer graded by hand only, the written points; repeat for more exercises")
    g = commands.add_parser("grade", help="grade every submissions/<student>.ipynb")
    g.add_argument("assignment", type=Path, help="the folder that build wrote")
    g.add_argument("submissions", type=Path, help="a folder of filled-in notebooks, one per student")
    g.add_argument("--out", type=Path, required=True, help="the gradebook CSV; feedback/ goes beside it")
    g.add_argument("--jobs", type=int, help="submissions graded at once (default: the number of CPUs)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.command == "build":
        out = build(args.exercises, args.out, args.title, parse_points(args.points))
        print(f"hand out {out / 'student'}; keep {out / 'autograder'}")
    else:
        start = time.perf_counter()
        rows = grade(args.assignment, args.submissions, args.out, args.jobs)
        students = len({row[0] for row in rows})
        print(f"graded {students} submissions in {time.perf_counter() - start:.1f} s: {args.out}, "
              f"{args.out.parent / 'feedback'}/")


if __name__ == "__main__":
    main()
