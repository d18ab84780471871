"""Build the student package: vitools as a student installs it, with no answer to any exercise in it.

    python tools/student_package.py OUT          # OUT/pyproject.toml and OUT/vitools; then: pip install OUT

It is this checkout's vitools with the chapters' exercise modules (``vitools/exercises/chapterN.py``: the
reference solutions, the typical mistakes as code, the discussions and the hidden test inputs) left out. In their
place ``vitools/exercises/student_forms.pickle`` holds each exercise's student form: its statement's metadata,
hints and public test inputs, and the outputs of the reference and of each mistake on those inputs, so that
``exercise(...).check()`` names the same mistakes as in the full book. A lookup table of those outputs passes
``check()``, and scores nothing in an assignment, whose hidden tests use other inputs.
The student edition (tools/student_edition.py) and every assignment (tools/assignment.py) ship this package.
"""

import argparse
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR_ONLY = re.compile(r"chapter\d+\.py")     # vitools/exercises/chapterN.py


def build(out: Path) -> Path:
    """Write the student package into ``out`` (replaced if it exists); returns ``out``."""
    from vitools.exercises._core import save_student_forms

    out = Path(out)
    if out.resolve() in (ROOT, ROOT / "vitools"):
        raise SystemExit("choose an output folder outside the repository's own package")
    shutil.rmtree(out, ignore_errors=True)

    def ignore(folder, names):
        dropped = {"__pycache__", "student_forms.pickle"}
        if Path(folder).name == "exercises":
            dropped |= {name for name in names if INSTRUCTOR_ONLY.fullmatch(name)}
        return dropped & set(names)

    shutil.copytree(ROOT / "vitools", out / "vitools", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", out / "pyproject.toml")
    save_student_forms(out / "vitools" / "exercises" / "student_forms.pickle")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (replaced if it exists)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    print(f"student package in {build(args.out)}: pip install {args.out}")


if __name__ == "__main__":
    main()
