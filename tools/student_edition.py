"""Build the student edition: the same book with every solution removed, checkers and hints kept.

    python tools/student_edition.py _student                 # notebooks in _student/book, HTML in _student/_build/html
    python tools/student_edition.py _student --no-execute    # faster: HTML without cell outputs
    python tools/student_edition.py _student --no-build      # notebooks only

Removed from every notebook: the cells tagged ``solution``, whose output is the reference solution (a
sphinx-exercise ``{solution}`` drop-down in the HTML, a closed "Show the solution" drop-down in JupyterLab),
any Markdown ``{solution}`` block, and the hidden check cells (tagged ``remove-cell``, holding an ``assert``):
they test the book's claims, and some state an exercise's answer. So the solutions are absent from the notebooks,
from the HTML and from its ".ipynb" downloads, not hidden or collapsed. The exercise statements, the
``exercise("<key>").check(...)`` cells and hints remain.

The edition ships the student package (tools/student_package.py) in ``_student/package`` with a
``requirements.txt`` that installs it, so a student's ``vitools`` holds no reference solution either; the
edition's notebooks are executed against that package.
"""

import argparse
import ast
import html
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from student_package import build as build_package  # noqa: E402


def is_solution(cell) -> bool:
    source = "".join(cell["source"]).lstrip()
    if cell["cell_type"] == "markdown":
        return source.startswith(("```{solution", ":::{solution", "::::{solution"))
    return "solution" in cell.get("metadata", {}).get("tags", [])


def _is_check(node) -> bool:
    """An assert statement, or a call such as ``np.testing.assert_allclose(...)`` standing as a statement."""
    if isinstance(node, ast.Assert):
        return True
    call = node.value if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) else None
    name = getattr(call.func, "attr", getattr(call.func, "id", "")) if call is not None else ""
    return name.startswith("assert")


class _WithoutAsserts(ast.NodeTransformer):
    """The code with its checks (see _is_check) removed (a block left empty gets ``pass``)."""

    def visit_Assert(self, node):
        return None

    def visit_Expr(self, node):
        return None if _is_check(node) else node

    def generic_visit(self, node):
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body:
            node.body = [ast.Pass()]
        return node


def without_checks(cell) -> dict | None:
    """A hidden (``remove-cell``) code cell without its assert statements, None if nothing else is left.

    The hidden cells test the book's claims, and some state an exercise's answer (chapter 2's fitted mean, chapter
    4's best baseline); the names they define may be used later, so the rest of the cell stays."""
    if cell["cell_type"] != "code" or "remove-cell" not in cell.get("metadata", {}).get("tags", []):
        return cell
    tree = ast.parse("".join(cell["source"]))
    if not any(_is_check(node) for node in ast.walk(tree)):
        return cell
    kept = _WithoutAsserts().visit(tree)
    if all(isinstance(node, ast.Pass) for node in kept.body):
        return None
    return dict(cell, source=ast.unparse(kept) + "\n")


def strip_solutions(notebook: Path) -> int:
    """Remove solution cells and hidden checks from a notebook file in place; returns how many cells changed."""
    data = json.loads(notebook.read_text())
    originals = [cell for cell in data["cells"] if not is_solution(cell)]
    kept = [without_checks(cell) for cell in originals]
    changed = len(data["cells"]) - len(originals) + sum(cell is not original for cell, original in zip(kept, originals))
    data["cells"] = [cell for cell in kept if cell is not None]
    notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return changed


def make_edition(out: Path, execute: bool) -> None:
    if out.resolve() == ROOT:
        raise SystemExit("choose an output folder other than the repository itself")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(ROOT / "book", out / "book", ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "_toc.yml", out / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] += " (student edition)"
    if not execute:
        config["execute"]["execute_notebooks"] = "off"
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    removed = sum(strip_solutions(nb) for nb in sorted((out / "book").glob("*.ipynb")))
    build_package(out / "package")
    requirements = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() not in ("-e .", "./tools/jupyterlab") and not line.startswith(("# vitools itself", "# JupyterLab defaults"))]
    (out / "requirements.txt").write_text("\n".join(requirements + ["# vitools without the solutions", "./package"]) + "\n")
    print(f"student edition in {out}: {removed} solution cells removed or hidden checks stripped; the student package in "
          f"{out / 'package'} (pip install -r {out / 'requirements.txt'})")


def solution_fingerprints() -> list:
    """Text that only a solution shows.

    The reference solutions reach a page only as the printed output of a solution cell, so their code
    lines and discussions are fingerprints, except the few lines that the book's own (unexecuted)
    notebooks also contain, such as ``x, _ = model.sample(1)``. Plus sphinx-exercise's "Solution to"
    heading and the solution cells' ``exercise("<key>").solution()`` calls.
    """
    from vitools.exercises import all_exercises

    book_source = "".join("".join(cell["source"]) for nb in (ROOT / "book").glob("*.ipynb")
                          for cell in json.loads(nb.read_text())["cells"])
    texts = ["Solution to"]
    for ex in all_exercises():
        texts.append(f'exercise("{ex.key}").solution()')
        body = inspect.getsource(ex.reference).splitlines()[1:]            # the def line may match the stub
        candidates = [code for line in body if len(code := line.split("#")[0].strip()) >= 12]
        texts += [text for text in candidates + [ex.discussion[:40]] if text not in book_source]
    return texts


def leaks(out: Path) -> list:
    """(file, text) for every solution fingerprint found in the edition's notebooks or HTML pages."""
    found, fingerprints = [], solution_fingerprints()
    pages = [(nb, nb.read_text()) for nb in (out / "book").glob("*.ipynb")]
    pages += [(page, html.unescape(re.sub(r"<[^>]+>", "", page.read_text())))
              for page in (out / "_build" / "html" / "book").glob("*.html")]
    for path, text in pages:
        found += [(path.name, fingerprint) for fingerprint in fingerprints if fingerprint in text]
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (replaced if it exists)")
    parser.add_argument("--no-execute", action="store_true", help="build the HTML without running the notebooks")
    parser.add_argument("--no-build", action="store_true", help="write the notebooks only")
    args = parser.parse_args(argv)
    make_edition(args.out, execute=not args.no_execute)
    if not args.no_build:
        jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
        if jupyter_book is None:
            raise SystemExit("jupyter-book not found: install the requirements first (pip install -r requirements.txt)")
        student_vitools = dict(os.environ, PYTHONPATH=str((args.out / "package").resolve()))   # before the checkout's
        subprocess.run([jupyter_book, "build", str(args.out), "-n", "-W", "--keep-going"], check=True, env=student_vitools)
        print(f"open {args.out / '_build' / 'html' / 'index.html'}")
    if found := leaks(args.out):
        raise SystemExit(f"solution text left in the student edition: {found[:5]}")
    print("checked: no solution text in the student edition's notebooks or HTML")


if __name__ == "__main__":
    main()
