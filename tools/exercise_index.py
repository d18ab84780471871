"""Write book/exercises.md, the list of every exercise by chapter, from the notebooks.

    python tools/exercise_index.py            # rewrite book/exercises.md
    python tools/exercise_index.py --check    # exit 1 if book/exercises.md is out of date

An exercise in a notebook is a markdown cell that opens with an ``{exercise}`` directive (with a
``:label:`` and a first line "**Kind, stars.**"), followed by a code cell that calls
``exercise("C.N")``; C.N is also the number Sphinx shows, and this module checks that they agree. The
label is ``ex-C-N``: the solution cell's output, ``exercise("C.N").solution()``, opens a ``{solution}``
drop-down for that label.
"""

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "book" / "exercises.md"
_DIRECTIVE = re.compile(r"^```\{exercise\}\s*(?P<title>.+)\n:label:\s*(?P<label>\S+)\n+\*\*(?P<kind>[^,]+),\s*(?P<stars>★+)\.\*\*")
_CHECKER = re.compile(r'exercise\("(?P<number>\d+\.\d+)"\)')


@dataclass
class Entry:
    number: str
    label: str
    title: str
    kind: str
    stars: str


def chapters():
    """(document name, title, notebook path) for every notebook in the table of contents, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            path = (ROOT / chapter["file"]).with_suffix(".ipynb")
            if path.exists():
                cells = json.loads(path.read_text())["cells"]
                title = "".join(cells[0]["source"]).splitlines()[0].lstrip("# ").strip()
                yield Path(chapter["file"]).name, title, path


def exercises(notebook: Path):
    """The exercises of one notebook, in order, with their checker numbers."""
    cells = json.loads(notebook.read_text())["cells"]
    found = []
    for cell, following in zip(cells, cells[1:]):
        match = _DIRECTIVE.match("".join(cell["source"])) if cell["cell_type"] == "markdown" else None
        if match:
            checker = _CHECKER.search("".join(following["source"]))
            if following["cell_type"] != "code" or not checker:
                raise ValueError(f"{notebook.name}: exercise {match['label']} is not followed by a cell calling exercise(\"C.N\")")
            if match["label"] != f"ex-{checker['number'].replace('.', '-')}":
                raise ValueError(f"{notebook.name}: exercise {match['label']} calls exercise(\"{checker['number']}\"), "
                                 f"so its label must be ex-{checker['number'].replace('.', '-')}")
            found.append(Entry(checker["number"], match["label"], match["title"].strip(), match["kind"].strip(), match["stars"]))
    return found


def render() -> str:
    lines = ["# Exercises", "",
             "Every exercise in the book, by chapter, for assigning. Each is numbered as the chapter shows it and",
             "marked ★ (short) or ★★ (needs a derivation or an experiment). In a running notebook a student checks an",
             "answer with `exercise(\"C.N\").check(answer)`, which names the likely mistake when the answer is wrong;",
             "`hint()` gives hints one at a time. The student edition of the book (see the README) has every solution",
             "removed.", ""]
    for chapter_number, (doc, title, path) in enumerate(chapters(), start=1):
        entries = exercises(path)
        for position, entry in enumerate(entries, start=1):
            if entry.number != f"{chapter_number}.{position}":
                raise ValueError(f"{path.name}: exercise {entry.label} calls exercise(\"{entry.number}\") but is "
                                 f"Exercise {chapter_number}.{position} in the book")
        lines += [f"## {title}", "", f"Chapter {chapter_number}, {{doc}}`{doc}`.", "",
                  "| Exercise | Title | Kind | Difficulty | Checker |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {{ref}}`{e.label}` | {e.title} | {e.kind} | {e.stars} | `exercise(\"{e.number}\")` |"
                  for e in entries]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if INDEX.exists() and INDEX.read_text() == text else 1)
    INDEX.write_text(text)
    print(f"wrote {INDEX.relative_to(ROOT)}")
