"""Grading an assignment: 100 generated submissions of a four-exercise assignment, on this machine's cores.

    python -m benchmarks --only grading

The assignment is ``tools/assignment.py build 2.3 4.2 2.1 7.3`` (12 automatic points; 2.1's written part is
graded by hand). The submissions are its solutions notebook with one answer spoilt in some: every 10th student
(0, 10, ...) swaps KL's arguments in 2.3 (a typical mistake), every 10th from 1 raises in 4.2, and every 25th
from 2 loops forever in 2.1 (stopped after the exercise's 5 s time limit); the other 82 are right.

Measured: the wall-clock seconds of ``tools/assignment.py grade`` over all 100 (one sandboxed process per
submission, as many at once as there are cores), and, as the reference, ``otter run`` (otter-grader's own
grader without Docker: each notebook executed top to bottom in a Jupyter kernel, then the same OK-format tests)
on the first 10 submissions, one at a time. Both score the same: the table says whether every automatic score
of those 10 agrees.
"""

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import Section, show, spread

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ["2.3", "4.2", "2.1", "7.3"]
SPOILT = {   # exercise: (who, answer cell)
    "2.3": (lambda i: i % 10 == 0, "import numpy as np\n\ndef kl_bernoulli(mu1, mu2):\n"
                                  "    return mu2 * np.log(mu2 / mu1) + (1 - mu2) * np.log((1 - mu2) / (1 - mu1))\n"),
    "4.2": (lambda i: i % 10 == 1, "def score_estimates(f_values, z, mu):\n    raise ValueError('not finished')\n"),
    "2.1": (lambda i: i % 25 == 2, "def kl_normal(m, s, mu, sd_p):\n    while True:\n        pass\n"),
}


def submissions(solutions: dict, n: int) -> dict:
    """{student: notebook}: the solutions with the SPOILT answers for the students they pick."""
    made = {}
    for i in range(n):
        nb = copy.deepcopy(solutions)
        for number, (who, code) in SPOILT.items():
            if who(i):
                cell = next(c for c in nb["cells"] if f"answer-{number}" in c["metadata"].get("tags", []))
                cell["source"] = code
        made[f"student_{i:03d}"] = nb
    return made


def run(quick: bool = False) -> Section:
    n, n_reference = (10, 2) if quick else (100, 10)
    tool = [sys.executable, str(ROOT / "tools" / "assignment.py")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(tool + ["build", *EXERCISES, "--out", str(tmp / "hw")], check=True, capture_output=True)
        folder = tmp / "submissions"
        folder.mkdir()
        solutions = json.loads((tmp / "hw" / "autograder" / "solutions.ipynb").read_text())
        for student, nb in submissions(solutions, n).items():
            (folder / f"{student}.ipynb").write_text(json.dumps(nb))
        start = time.perf_counter()
        subprocess.run(tool + ["grade", str(tmp / "hw"), str(folder), "--out", str(tmp / "grades" / "grades.csv")],
                       check=True, capture_output=True)
        ours = time.perf_counter() - start
        with open(tmp / "grades" / "grades.csv") as f:
            scores = {(r["student"], r["exercise"]): float(r["points"]) for r in csv.DictReader(f)
                      if r["part"] == "automatic"}

        otter = shutil.which("otter", path=str(Path(sys.executable).parent)) or "otter"
        reference, agree = [], True
        for student in sorted({s for s, _ in scores})[:n_reference]:
            out = tmp / "otter" / student
            out.mkdir(parents=True)
            start = time.perf_counter()
            subprocess.run([otter, "run", "-a", str(tmp / "hw" / "autograder" / "autograder.zip"), "-o", str(out),
                            str(folder / f"{student}.ipynb")], check=True, capture_output=True, cwd=out)
            reference.append(time.perf_counter() - start)
            results = json.loads((out / "results.json").read_text())["tests"]
            otter_scores = {t["name"]: t["score"] for t in results if t["name"] in EXERCISES}
            agree &= all(abs(otter_scores[number] - scores[student, number]) < 1e-9 for number in EXERCISES)
    cores = os.cpu_count()
    per_reference = spread(reference)
    section = Section(f"Grading {n} submissions of a four-exercise assignment ({cores} cores)",
                      ["grader", "submissions", "wall s", "s per submission", f"{n} submissions at that rate, s"])
    section.rows = [
        ["tools/assignment.py grade", n, f"{ours:.1f}", f"{ours / n:.2f}", f"{ours:.0f}"],
        [f"otter run, one at a time (reference; scores agree: {'yes' if agree else 'NO'})", n_reference,
         f"{sum(reference):.1f}", show(per_reference), f"{per_reference['median'] * n:.0f}"],
    ]
    section.notes = [f"{sum(who(i) for i in range(n) for who, _ in SPOILT.values())} of the {n} submissions have a "
                     f"spoilt answer; {sum(SPOILT['2.1'][0](i) for i in range(n))} loop forever in 2.1 and cost "
                     f"the exercise's 5 s time limit each, in both graders.",
                     "otter run executes each notebook top to bottom in a new Jupyter kernel (its check() cells too) "
                     "and imports otter in it; tools/assignment.py runs only the code cells in a sandboxed process "
                     "and keeps the tests outside it."]
    section.data = {"n": n, "cores": cores, "ours_seconds": ours, "reference_seconds": per_reference,
                    "n_reference": n_reference, "scores_agree": agree}
    return section


if __name__ == "__main__":
    print(run().markdown())
