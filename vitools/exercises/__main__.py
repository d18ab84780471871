"""List every exercise of the book: `python -m vitools.exercises`."""

from vitools.exercises import all_exercises

for ex in all_exercises():
    print(f"Exercise {ex.number or '(not in a notebook yet)'}: {ex.title}  [{ex.kind}, {'★' * ex.stars}; "
          f"exercise(\"{ex.key}\")]")
