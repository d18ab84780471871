"""The book's exercises from the command line.

    python -m vitools.exercises            # every exercise: number, title, kind, stars, time, points
    python -m vitools.exercises 2.3        # one exercise (a number or a key): its statement, hints count and checks
"""

import argparse
import json
from pathlib import Path

from vitools.exercises import all_exercises, exercise
from vitools.exercises._core import UnknownExercise


def summary(ex) -> str:
    return (f"Exercise {ex.number or '(not in a notebook yet)'}: {ex.title}  [{ex.kind}, {'★' * ex.stars}, about "
            f"{ex.minutes} min, {ex.points_text} points; exercise(\"{ex.key}\")]")


def statement(ex) -> str | None:
    """The statement as the chapter's notebook states it (None outside a checkout holding the book)."""
    for notebook in sorted((Path(__file__).resolve().parents[2] / "book").glob(f"{ex.chapter:02d}_*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and f":label: {ex.label}\n" in text + "\n":
                return directive_body(text)
    return None


def directive_body(markdown: str) -> str:
    """An exercise directive's text without its opening line, its ``:label:`` line and its closing fence."""
    body = [line for line in markdown.strip().splitlines()[1:] if not line.startswith(":label:")]
    return "\n".join(body).strip().removesuffix("```").rstrip()


def count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def details(ex) -> str:
    what = (f"a function, checked on {count(len(ex.probes), 'test input')}" if ex.probes is not None else
            "a value judged by the property the exercise asks for" if ex.accept is not None else "a value")
    lines = [summary(ex), "", statement(ex) or f"(The statement is in chapter {ex.chapter} of the book.)", "",
             f"Answer: {what}. check() names {count(len(ex.mistakes), 'typical mistake')}"
             f"{' and runs ' + count(len(ex.checks), 'structural check') if ex.checks else ''}; "
             f"{count(len(ex.hints), 'hint')}; an answer may run {ex.time_limit:g} s.",
             f"In a notebook: ex = exercise(\"{ex.number or ex.key}\"); ex.check(answer); ex.hint()"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m vitools.exercises", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="an exercise's number (2.3) or key (kl-two-coins)")
    args = parser.parse_args(argv)
    if args.exercise is None:
        for ex in all_exercises():
            print(summary(ex))
        return
    try:
        print(details(exercise(args.exercise)))
    except UnknownExercise as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
