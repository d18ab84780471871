"""Exercises with a checker that names the likely mistake, hints, and a solution.

In a notebook::

    from vitools.exercises import exercise
    ex = exercise("log-mean-exp")   # or by the number the book shows: exercise("1.3")
    ex.check(my_answer)   # says what is right or which mistake it looks like
    ex.hint()             # the next hint
    ex.solution()         # the reference solution's code and a short discussion

An :class:`Exercise` knows its key, chapter, title, kind and stars (held once, in its chapter module's
``register`` call), its reference answer (a function in the chapter's exercise module;
:meth:`Exercise.solution` shows that function's source, so the code shown is the code that is checked), a
list of typical mistakes, each a function that makes that mistake plus the words to say when an answer matches
it, and structural checks (shape, normalised, finite) that run before the comparison. The numbers the book
shows come from the notebooks' order, through ``numbers.json`` (``python tools/exercise_index.py`` writes it).

The **student package** (``python tools/student_package.py``, shipped with the student edition and with every
assignment) has no chapter modules. It holds each exercise's *student form* instead: the outputs of the reference
and of each typical mistake on the public test inputs, so ``check()`` gives the same feedback on them, but no
reference code, solution text or the hidden inputs an assignment grades on.
"""

from pathlib import Path

from vitools.exercises._core import KINDS, Exercise, Feedback, Mistake, all_exercises, exercise, load_student_forms

_STUDENT_FORMS = Path(__file__).with_name("student_forms.pickle")   # only in the student package (tools/student_package.py)
if _STUDENT_FORMS.exists():
    load_student_forms(_STUDENT_FORMS)
else:
    from vitools.exercises import chapter1, chapter2, chapter3, chapter4, chapter5, chapter6, chapter7  # noqa: F401  (registers the chapters' exercises)

__all__ = ["Exercise", "Feedback", "Mistake", "KINDS", "exercise", "all_exercises"]
