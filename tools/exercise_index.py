"""The exercises' generated files, from the registry and the notebooks' order; and a scaffold for a new one.

    python tools/exercise_index.py            # write the generated files (below)
    python tools/exercise_index.py --check    # exit 1, naming them, if any is out of date
    python tools/exercise_index.py new --chapter 4 --key my-key --title "..." --kind Coding --stars 1

An exercise's metadata is held once, in its ``register(Exercise(key, title, reference, chapter=, kind=,
stars=, ...))`` call in ``vitools/exercises/chapterN.py``. In the chapter's notebook it is a markdown cell
that opens with the directive header

    ```{exercise} <title>
    :label: ex-<key>

    **<Kind>, <stars>.** <the statement>

followed by a code cell that calls ``exercise("<key>")`` and, later, the solution cell
``exercise("<key>").solution()``. Generated from those, and rewritten by a plain run:

- ``vitools/exercises/numbers.json``: key -> "C.N", the number the book shows (sphinx-exercise numbers the
  exercises of a chapter by position), so ``exercise("C.N")`` finds the exercise too;
- ``book/exercises.md``, the list of every exercise by chapter;
- each directive's header lines (title, ``**Kind, stars.**``) from the registry.

``new`` appends a register stub to the chapter's module and the exercise's cells at the end of the chapter's
exercises, then writes the generated files. The stub's reference raises NotImplementedError, so
tests/test_exercises.py fails for the new key until the reference, mistakes, hints and discussion are written.
"""

import argparse
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))      # this checkout's vitools, whatever else is installed

INDEX = ROOT / "book" / "exercises.md"
NUMBERS = ROOT / "vitools" / "exercises" / "numbers.json"
_DIRECTIVE = re.compile(r"^```\{exercise\}[^\n]*\n:label:[ \t]*ex-(?P<key>\S+)[ \t]*\n")
_KIND_LINE = re.compile(r"\n*(\*\*[^*\n]*\*\*[ \t]*)?")     # the statement's "**Kind, stars.**", replaced


@dataclass
class Entry:
    key: str
    number: str
    notebook: Path
    cell: int


def chapters():
    """(chapter number, document name, title, notebook path) for every notebook in the table of contents."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    paths = [(ROOT / file).with_suffix(".ipynb") for file in files]
    for number, path in enumerate([p for p in paths if p.exists()], start=1):
        cells = json.loads(path.read_text())["cells"]
        title = "".join(cells[0]["source"]).splitlines()[0].lstrip("# ").strip()
        yield number, path.stem, title, path


def _registry() -> dict:
    from vitools.exercises import all_exercises

    return {ex.key: ex for ex in all_exercises()}


def header(ex) -> str:
    """The directive's first lines, from the registry."""
    return f"```{{exercise}} {ex.title}\n:label: {ex.label}\n\n**{ex.kind}, {'★' * ex.stars}.**"


def exercises(notebook: Path, chapter: int, registry: dict) -> list:
    """The exercises of one notebook, in order, checked against the registry."""
    cells = json.loads(notebook.read_text())["cells"]
    found = []
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] != "markdown" or not source.startswith("```{exercise}"):
            continue
        match = _DIRECTIVE.match(source)
        if not match:
            raise ValueError(f"{notebook.name}, cell {i}: an exercise directive must open with ```{{exercise}} "
                             f"<title> and :label: ex-<key> on the next line")
        key = match["key"]
        if key not in registry:
            raise ValueError(f"{notebook.name}: exercise ex-{key} has no register(Exercise(\"{key}\", ...)) call in "
                             f"vitools/exercises/chapter{chapter}.py (python tools/exercise_index.py new scaffolds one)")
        if registry[key].chapter != chapter:
            raise ValueError(f"{notebook.name}: exercise ex-{key} is registered with chapter={registry[key].chapter}, "
                             f"but this is chapter {chapter}")
        following = cells[i + 1] if i + 1 < len(cells) else {"cell_type": None, "source": []}
        if following["cell_type"] != "code" or f'exercise("{key}")' not in "".join(following["source"]):
            raise ValueError(f"{notebook.name}: exercise ex-{key} is not followed by a code cell calling "
                             f"exercise(\"{key}\")")
        found.append(Entry(key, f"{chapter}.{len(found) + 1}", notebook, i))
    return found


def book_exercises(registry: dict) -> list:
    """(chapter number, document, title, entries) for every chapter, each exercise in exactly one notebook."""
    book = [(number, doc, title, exercises(path, number, registry)) for number, doc, title, path in chapters()]
    placed = [e.key for *_, entries in book for e in entries]
    twice = sorted({key for key in placed if placed.count(key) > 1})
    if twice:
        raise ValueError(f"exercises stated more than once in the book: {twice}")
    missing = sorted(set(registry) - set(placed))
    if missing:
        raise ValueError(f"registered exercises that no notebook states (an ex-<key> directive): {missing}")
    return book


def render(book, registry: dict) -> str:
    lines = ["# Exercises", "",
             "Every exercise in the book, by chapter, for assigning. Each is numbered as the chapter shows it and",
             "marked ★ (short) or ★★ (needs a derivation or an experiment). In a running notebook a student checks an",
             "answer with `exercise(\"<key>\").check(answer)` (the key in the table, or the number: `exercise(\"1.3\")`),",
             "which names the likely mistake when the answer is wrong; `hint()` gives hints one at a time. The student",
             "edition of the book (see the README) has every solution removed.", "",
             "*Time* is about how long a student who has read the chapter needs. *Points* are what an assignment built",
             "with `python tools/assignment.py` gives (an instructor can change them), as *automatic + written*: automatic",
             "points come from hidden tests on inputs the checker never shows; written ones are graded by hand, for a",
             "derivation's working or for an answer that is one fixed value (a number or an array), which no checker can",
             "keep secret. The *key* names the exercise in `exercise(\"<key>\")` as well as its number does.", ""]
    for number, doc, title, entries in book:
        lines += [f"## {title}", "", f"Chapter {number}, {{doc}}`{doc}`.", "",
                  "| Exercise | Title | Kind | Time | Points | Key |", "| --- | --- | --- | --- | --- | --- |"]
        for e in entries:
            ex = registry[e.key]
            lines.append(f"| {{ref}}`{ex.label}` | {ex.title} | {ex.kind}&nbsp;{'★' * ex.stars} | {ex.minutes}&nbsp;min | "
                         f"{ex.points} + {ex.written_points} | `{e.key}` |")
        lines.append("")
    return "\n".join(lines)


def _with_header(source: str, ex) -> str:
    rest = source[_DIRECTIVE.match(source).end():]
    return header(ex) + " " + rest[_KIND_LINE.match(rest).end():].lstrip(" \t")


def _source_lines(text: str) -> list:
    return text.splitlines(keepends=True)


def generated() -> dict:
    """path -> the text it should hold: numbers.json, book/exercises.md and every notebook with an exercise."""
    registry = _registry()
    book = book_exercises(registry)
    numbers = {e.key: e.number for *_, entries in book for e in entries}
    files = {NUMBERS: json.dumps(numbers, indent=1, ensure_ascii=False) + "\n", INDEX: render(book, registry)}
    for *_, entries in book:
        if not entries:
            continue
        notebook = entries[0].notebook
        data = json.loads(notebook.read_text())
        for e in entries:
            cell = data["cells"][e.cell]
            cell["source"] = _source_lines(_with_header("".join(cell["source"]), registry[e.key]))
        files[notebook] = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    return files


def stale(files: dict) -> list:
    return [path for path, text in files.items() if not path.exists() or path.read_text() != text]


def write() -> None:
    files = generated()
    for path in stale(files):
        path.write_text(files[path])
        print(f"wrote {path.relative_to(ROOT)}")


# ---------------------------------------------------------------- the scaffold

STUB = '''

# ---------------------------------------------------------------- {key}


def {function}():
    raise NotImplementedError("write the reference solution of exercise {key!r} in vitools/exercises/chapter{chapter}.py")


register(Exercise(
    {key!r}, {title!r}, {function},
    chapter={chapter}, kind={kind!r}, stars={stars}, minutes={minutes},
    mistakes=[],          # Mistake(make, message) for each typical wrong answer, make with the reference's signature
    hints=[],
    discussion="",        # Markdown shown by solution() above the reference's code
))
'''


def _cell(cell_type: str, source: str, seed: str, tags=()) -> dict:
    cell = {"cell_type": cell_type, "id": hashlib.sha1(seed.encode()).hexdigest()[:8],
            "metadata": {"tags": list(tags)} if tags else {}, "source": _source_lines(source)}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
        cell = {k: cell[k] for k in ("cell_type", "execution_count", "id", "metadata", "outputs", "source")}
    return cell


def new(chapter: int, key: str, title: str, kind: str, stars: int, function: str | None) -> None:
    """Scaffold an exercise: a register stub in chapterN.py, its cells at the end of the chapter's exercises."""
    from vitools.exercises import Exercise

    try:
        Exercise(key, title, lambda: None, chapter=chapter, kind=kind, stars=stars, minutes=5)     # the checks register makes
    except (TypeError, ValueError) as err:
        raise SystemExit(f"--{err}") from None
    function = function or key.replace("-", "_")
    if not function.isidentifier():
        raise SystemExit(f"--function must be a Python name for the reference solution, got {function!r}")
    if key in _registry():
        raise SystemExit(f"--key {key!r} is taken: choose another key")
    notebooks = {number: path for number, _, _, path in chapters()}
    module = ROOT / "vitools" / "exercises" / f"chapter{chapter}.py"
    if chapter not in notebooks or not module.exists():
        raise SystemExit(f"--chapter {chapter}: no such chapter (chapters {sorted(notebooks)}); a new chapter's "
                         f"notebook goes into _toc.yml and its module into vitools/exercises/__init__.py first")
    module.write_text(module.read_text().rstrip("\n") + "\n" + STUB.format(
        key=key, title=title, function=function, chapter=chapter, kind=kind, stars=stars, minutes=15 * stars))

    notebook = notebooks[chapter]
    data = json.loads(notebook.read_text())
    cells = data["cells"]
    directives = [i for i, c in enumerate(cells)
                  if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("```{exercise}")]
    solutions = [i for i, c in enumerate(cells) if "solution" in c["metadata"].get("tags", [])
                 and directives and i > directives[-1]]
    at = solutions[0] + 1 if solutions else len(cells)
    cells[at:at] = [
        _cell("markdown", f"```{{exercise}} {title}\n:label: ex-{key}\n\n**{kind}, {'★' * stars}.** The statement: "
                          f"what to derive, compute or find, and the function `{function}(...)` to write, if any.\n```",
              f"{key}-statement"),
        _cell("code", f"ex = exercise(\"{key}\")\nanswer = ...   # a value, or the function the statement names\n"
                      f"ex.check(answer)", f"{key}-check"),
        _cell("code", f"exercise(\"{key}\").solution()", f"{key}-solution", tags=("remove-input", "solution")),
    ]
    notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"added exercise {key!r}: a register stub at the end of {module.relative_to(ROOT)}, "
          f"three cells in {notebook.relative_to(ROOT)} (cells {at}-{at + 2}). Until you write its reference, "
          f"mistakes, hints, discussion and statement, tests/test_exercises.py fails for it.")
    # the registry now has the new exercise: write the generated files in a fresh interpreter that imports it
    subprocess.run([sys.executable, str(Path(__file__).resolve())], check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    commands = parser.add_subparsers(dest="command")
    scaffold = commands.add_parser("new", help="scaffold a new exercise at the end of a chapter's exercises")
    scaffold.add_argument("--chapter", type=int, required=True)
    scaffold.add_argument("--key", required=True, help='a short slug, unique in the book, e.g. "log-mean-exp"')
    scaffold.add_argument("--title", required=True)
    scaffold.add_argument("--kind", required=True, help="Derivation, Coding or Exploration")
    scaffold.add_argument("--stars", type=int, required=True, choices=(1, 2))
    scaffold.add_argument("--function", help="the reference solution's name (default: the key with underscores)")
    args = parser.parse_args(argv)
    if args.command == "new":
        new(args.chapter, args.key, args.title, args.kind, args.stars, args.function)
    elif args.check:
        out_of_date = stale(generated())
        for path in out_of_date:
            print(f"out of date: {path.relative_to(ROOT)} (run python tools/exercise_index.py)", file=sys.stderr)
        sys.exit(1 if out_of_date else 0)
    else:
        write()


if __name__ == "__main__":
    main()
