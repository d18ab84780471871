"""The exercise machinery: Exercise, Mistake, Feedback and the registry.

An exercise is registered under a **key**, a short slug unique in the book (``"log-mean-exp"``), that does not
change when exercises are added, moved or removed. The number the book shows, "C.N" (the N-th exercise of
chapter C; sphinx-exercise numbers by position), is derived from the notebooks' order by
``tools/exercise_index.py`` and written to ``numbers.json`` beside this module, so ``exercise("1.3")`` finds the
exercise the book calls Exercise 1.3, and ``exercise("log-mean-exp")`` the same one.
"""

import builtins
import copy
import html
import inspect
import json
import pickle
import re
import signal
import textwrap
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vitools._validate import finite_number, function

_REGISTRY: dict = {}                                   # key -> Exercise
_NUMBERS = Path(__file__).with_name("numbers.json")     # key -> "C.N", written by tools/exercise_index.py
KINDS = ("Derivation", "Coding", "Exploration")         # the "**Kind, stars.**" line of a statement
_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class _NothingReturned(Exception):
    """Raised when a student's function returns None or ``...``."""


class TimeLimitExceeded(BaseException):
    """Raised inside code that ran past :func:`time_limit`. A ``BaseException``, so that a student's
    ``except Exception`` cannot swallow it; it is raised again every second until the code gives up."""


@contextmanager
def time_limit(seconds: float):
    """Stop the code in the ``with`` block after ``seconds`` of wall-clock time with :class:`TimeLimitExceeded`.

    It uses ``SIGALRM``, so it acts in the main thread of a Unix process (a notebook's cells run there) and is
    a no-op elsewhere. Code stuck inside one long C call (a huge matrix product) stops when that call returns.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise TimeLimitExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def ran_too_long(seconds: float) -> str:
    return (f"Your answer was still running after {seconds:g} s, so it was stopped. Look for a loop that never "
            f"ends (a `while` whose condition stays true) or for work far larger than the inputs need.")


class _Stored:
    """Stands in for a reference or a mistake in the student package: its outputs on the public probes, not its code."""

    def __init__(self, outputs: tuple):
        self.outputs = outputs

    def __call__(self, *args):
        raise RuntimeError("the student package holds no reference solutions: write your own answer")


@dataclass(frozen=True)
class Feedback:
    """The result of :meth:`Exercise.check`: ``passed`` and a message for the student."""

    passed: bool
    message: str
    judged: bool = True        # False: the checker could not judge the answer (the student package's fixed values)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("Correct. " if self.passed else "Not yet. " if self.judged else "Not checked here. ") + self.message


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: ``make`` produces it (same signature as the reference), ``message`` explains it."""

    make: Callable
    message: str

    def __post_init__(self):
        function(self.make, "make", "a function that makes the mistake")
        if not isinstance(self.message, str):
            raise TypeError(f"message must be a string, got {type(self.message).__name__}")


class _Text:
    """Text shown as Markdown in a notebook and as plain text elsewhere."""

    def __init__(self, markdown: str):
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown


class _Solution(_Text):
    """A reference solution that stays hidden until the reader asks for it.

    Two forms of one text. A notebook front end (JupyterLab, Jupyter Notebook, VS Code) shows the HTML
    form, a closed ``<details>`` drop-down, so running every cell never puts an answer on screen. The book
    takes the Markdown form (``nb_mime_priority_overrides`` in ``_config.yml``): a sphinx-exercise
    ``{solution}`` drop-down for the exercise whose directive carries ``:label: ex-<key>``.
    """

    def __init__(self, markdown: str, exercise: "Exercise"):
        super().__init__(markdown)
        self.label, self.number, self.title = exercise.label, exercise.number or exercise.key, exercise.title

    def _repr_markdown_(self) -> str:
        return f"::::{{solution}} {self.label}\n:class: dropdown\n\n{self.markdown}\n::::\n"

    def _repr_html_(self) -> str:
        return (f"{_SOLUTION_STYLE}<details class=\"vitools-solution\"><summary><span class=\"vitools-show\">Show"
                f"</span><span class=\"vitools-hide\">Hide</span> the solution to exercise {self.number} "
                f"({html.escape(self.title)})<span class=\"vitools-show\">: try it first</span></summary>\n"
                f"{_markdown_to_html(self.markdown)}</details>")


# JupyterLab's output style hides a <summary>'s disclosure triangle, so the drop-down draws its own
_SOLUTION_STYLE = """<style>
.vitools-solution > summary { cursor: pointer; list-style: none; font-weight: 600;
  color: var(--jp-content-link-color, #1a5fb4); }
.vitools-solution > summary::-webkit-details-marker { display: none; }
.vitools-solution > summary::before { content: "\\25B8\\00A0"; }
.vitools-solution[open] > summary::before { content: "\\25BE\\00A0"; }
.vitools-solution .vitools-hide, .vitools-solution[open] .vitools-show { display: none; }
.vitools-solution[open] .vitools-hide { display: inline; }
</style>"""


def _markdown_to_html(markdown: str) -> str:
    """CommonMark to HTML, with ``$...$`` and ``$$...$$`` left as TeX for the notebook's MathJax."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    def tex(content: str, options: dict) -> str:
        delimiter = "$$" if options.get("display_mode") else "$"
        return html.escape(f"{delimiter}{content}{delimiter}")

    return MarkdownIt("commonmark").use(dollarmath_plugin, renderer=tex).render(markdown)


class Exercise:
    """One exercise: ``check(answer)``, ``hint()``, ``solution()``.

    Parameters
    ----------
    key : str
        A short slug, unique in the book, that names the exercise wherever it is used: ``exercise(key)``,
        the notebook directive's label ``ex-<key>``. It does not change when exercises move; the number the
        book shows is :attr:`number`.
    title : str
        The title, as the book shows it (``tools/exercise_index.py`` writes it into the notebook's directive).
    reference : callable
        The reference solution. With ``probes=None`` it takes no arguments and returns the
        answer (a number or an array). With ``probes`` it *is* the answer, a function, and
        a student's function is compared with it on every probe's arguments.
    mistakes : sequence of Mistake
        Typical wrong answers, tried in order when an answer is not correct.
    checks : sequence of callable
        Structural checks ``check(value) -> message or None`` run before any comparison
        (``value`` is the answer as an array, or the stacked outputs on the probes).
    hints : sequence of str
    discussion : str
        Markdown shown by :meth:`solution` above the reference code.
    probes : sequence of tuple, optional
        Argument tuples on which a function answer is evaluated; the reference must return
        outputs of one shape on all of them.
    accept : callable, optional
        For exercises with many right answers: ``accept(value) -> message or None`` judges the
        answer (None means correct) instead of a comparison with the reference, which then only
        serves as the example solution.
    rtol, atol : float
        Tolerances of the comparison (``numpy.allclose``).
    chapter : int
        The chapter whose notebook states the exercise.
    kind : str
        One of :data:`KINDS`: ``"Derivation"``, ``"Coding"`` or ``"Exploration"``.
    stars : int
        1 (short) or 2 (needs a derivation or an experiment); the book shows ★ or ★★.
    minutes : int
        About how long a student who has read the chapter needs, in minutes (shown in the exercise index).
    graded_probes : sequence of tuple, optional
        For a function answer: argument tuples, other than ``probes``, on which an assignment's hidden tests
        evaluate it (``tools/assignment.py``). They are not in the student package, which holds only the outputs on
        ``probes``, and a hidden test's feedback names the mistake or the exception's type, never the input.
    points, written_points : int, optional
        An assignment's points for the automatically graded answer and for the written part graded by hand.
        By default an answer that can be graded automatically (a function, or an ``accept`` property) earns
        ``2 * stars``; a derivation's written part ``stars``; an answer that is one fixed value (a number or an
        array), which a checker cannot keep secret, is graded by hand only, ``2 * stars``.
    time_limit : float
        Seconds a student's answer may run in :meth:`check` before the check stops it.

    The reference's outputs, and each mistake's, are computed once, at the first :meth:`check` that needs
    them, and kept.
    """

    def __init__(self, key: str, title: str, reference: Callable, *, chapter: int, kind: str, stars: int,
                 mistakes: Sequence[Mistake] = (), checks: Sequence[Callable] = (), hints: Sequence[str] = (),
                 discussion: str = "", probes: Sequence[tuple] | None = None, accept: Callable | None = None,
                 rtol: float = 1e-6, atol: float = 1e-8, minutes: int, graded_probes: Sequence[tuple] | None = None,
                 points: int | None = None, written_points: int | None = None, time_limit: float = 5.0):
        _check_key(key, "key")
        if isinstance(chapter, bool) or not isinstance(chapter, int):
            raise TypeError(f"chapter must be an int, the chapter's number, got {chapter!r}")
        if chapter < 1:
            raise ValueError(f"chapter must be at least 1, got {chapter}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r} (a new kind of "
                             f"exercise goes into vitools.exercises._core.KINDS first)")
        if stars not in (1, 2) or isinstance(stars, bool):
            raise ValueError(f"stars must be 1 (short) or 2 (needs a derivation or an experiment), got {stars!r}")
        for name, text in (("title", title), ("discussion", discussion)):
            if not isinstance(text, str):
                raise TypeError(f"{name} must be a string, got {type(text).__name__}")
        function(reference, "reference", "the reference solution, a function")
        mistakes = _sequence_of(mistakes, "mistakes", lambda m: isinstance(m, Mistake), "Mistake objects")
        checks = _sequence_of(checks, "checks", callable, "functions check(value) -> message or None")
        hints = _sequence_of(hints, "hints", lambda h: isinstance(h, str), "strings")
        if probes is not None and not _sequence_of(probes, "probes", lambda a: isinstance(a, tuple), "argument tuples"):
            raise ValueError("probes must hold at least one argument tuple (or be None for a value answer)")
        if accept is not None:
            function(accept, "accept", "a function accept(value) -> message or None")
        rtol, atol = finite_number(rtol, "rtol", 0), finite_number(atol, "atol", 0)
        minutes = _count(minutes, "minutes", 1)
        if graded_probes is not None:
            if probes is None:
                raise ValueError("graded_probes are for a function answer: give probes too, or leave graded_probes out")
            graded_probes = _sequence_of(graded_probes, "graded_probes", lambda a: isinstance(a, tuple), "argument tuples")
        gradable = probes is not None or accept is not None
        points = (2 * stars if gradable else 0) if points is None else _count(points, "points", 0)
        if written_points is None:
            written_points = (stars if kind == "Derivation" else 0) if gradable else 2 * stars
        written_points = _count(written_points, "written_points", 0)
        self.minutes, self.graded_probes, self.points, self.written_points = minutes, graded_probes, points, written_points
        self.time_limit = finite_number(time_limit, "time_limit", 0, strict=True)
        self.key, self.title, self.chapter, self.kind, self.stars = key, title, chapter, kind, stars
        self.reference, self.mistakes, self.checks = reference, tuple(mistakes), tuple(checks)
        self.hints, self.discussion, self.probes, self.accept = tuple(hints), discussion, probes, accept
        self.rtol, self.atol = rtol, atol
        self._hints_shown = 0
        self._outputs = {}            # self.reference or a Mistake -> its outputs, computed when first needed

    @property
    def label(self) -> str:
        """The label of the exercise's directive in the notebook, ``ex-<key>``."""
        return f"ex-{self.key}"

    @property
    def number(self) -> str | None:
        """The number the book shows, ``"C.N"``, from the notebooks' order (None before the exercise is in one)."""
        return _numbers().get(self.key)

    def __repr__(self) -> str:
        return f"Exercise {self.number or self.key}: {self.title}"

    @property
    def points_text(self) -> str:
        """An assignment's points, e.g. "4 automatic + 2 written" (written parts are graded by hand)."""
        parts = ([f"{self.points} automatic"] if self.points else []) + \
                ([f"{self.written_points} written"] if self.written_points else [])
        return " + ".join(parts)

    def expected(self):
        """The reference answer: an array, or for a function answer a tuple of its outputs on the probes."""
        if isinstance(self.reference, _Stored) and self.reference.outputs is None:
            raise RuntimeError(f"the student package holds no answer to exercise {self.number or self.key}: "
                               + ("its answer is one fixed value, which your instructor checks" if self.accept is None
                                  else "any answer with the property the exercise asks for is right"))
        outputs = tuple(out.copy() for out in self._outputs_of(self.reference))
        return outputs if self.probes is not None else outputs[0]

    def check(self, answer: Any) -> Feedback:
        """Compare ``answer`` with the reference and say what looks wrong, in words."""
        if answer is None or answer is Ellipsis:
            return Feedback(False, "There is no answer yet: replace the `...` with yours and run the cell again.")
        if self.probes is not None and not callable(answer):
            return Feedback(False, f"This exercise asks for a function; you passed a {type(answer).__name__}.")
        if isinstance(answer, (str, bytes)):
            return Feedback(False, f"Your answer is the string {answer!r}; give the value itself, a number or an "
                                   f"array (without quotes).")
        try:
            with time_limit(self.time_limit):
                value = self._evaluate(answer)
        except TimeLimitExceeded:
            return Feedback(False, ran_too_long(self.time_limit))
        except _NothingReturned:
            return Feedback(False, "Your function returns nothing yet: fill in its body and `return` the value.")
        except Exception as err:  # the student's function failed: report it rather than crash
            return Feedback(False, f"Evaluating your answer raised {type(err).__name__}: {err}")
        first_failure = next(filter(None, (check(v) for check in self.checks for v in value)), None)
        if self._by_hand():
            return Feedback(False, first_failure or (
                "This answer is one fixed number (or array), and a checker that knew it would give it away to "
                "anyone who asks often enough, so the student package does not hold it: your instructor checks "
                "it, with your working."), judged=first_failure is not None)
        if self.accept is not None:
            message = first_failure or self.accept(value[0])
            return Feedback(message is None, message or "Your answer has the property the exercise asks for.")
        expected = self._outputs_of(self.reference)
        if self._close(value, expected):
            return Feedback(True, "Your answer matches the reference solution.")
        for mistake in self.mistakes:
            if self._close(value, self._outputs_of(mistake)):
                return Feedback(False, mistake.message)
        shapes, expected_shapes = [v.shape for v in value], [e.shape for e in expected]
        if shapes != expected_shapes:
            wrong = next(i for i, (a, b) in enumerate(zip(shapes, expected_shapes)) if a != b)
            where = "" if len(shapes) == 1 else f" on test input {wrong + 1} of {len(shapes)}"
            return Feedback(False, f"Your answer has shape {shapes[wrong]}{where}, the expected one has shape "
                                   f"{expected_shapes[wrong]}: check which axis you summed or indexed over.")
        if first_failure:
            return Feedback(False, first_failure)
        gap = max(np.nanmax(np.abs(v - e)) for v, e in zip(value, expected))
        return Feedback(False, f"Your answer differs from the reference (largest difference {gap:.3g}). "
                               f"Try `hint()`.")

    def hint(self) -> _Text:
        """The next hint (they come in order; after the last one, the last again, saying it was the last)."""
        if not self.hints:
            return _Text("No hints for this exercise.")
        i = min(self._hints_shown, len(self.hints) - 1)
        repeat = self._hints_shown >= len(self.hints)
        self._hints_shown += 1
        text = f"**Hint {i + 1} of {len(self.hints)}.** {self.hints[i]}"
        if repeat:
            text += ("\n\n(That was the last hint.)" if isinstance(self.reference, _Stored) else
                     "\n\n(That was the last hint; `solution()` shows the worked answer.)")
        return _Text(text)

    def solution(self) -> _Solution | _Text:
        """The discussion and the source code of the reference solution, behind a "show" drop-down."""
        if isinstance(self.reference, _Stored):
            return _Text("This is the student package: it holds no solutions (your instructor has them). "
                         "`check()` still compares your answer with the right outputs on its test inputs.")
        code = textwrap.dedent(inspect.getsource(self.reference))
        return _Solution(f"{self.discussion}\n\n```python\n{code}```", self)

    def _by_hand(self) -> bool:
        """In the student package, an answer that is one fixed value: its value is not held, only its form checked."""
        return isinstance(self.reference, _Stored) and self.reference.outputs is None and self.accept is None

    def _outputs_of(self, source) -> tuple:
        """The outputs of the reference or of a Mistake, evaluated once (they depend on nothing but the probes)."""
        stored = source.make if isinstance(source, Mistake) else source
        if isinstance(stored, _Stored):
            return stored.outputs
        if source not in self._outputs:
            self._outputs[source] = self._evaluate(source.make if isinstance(source, Mistake) else source)
        return self._outputs[source]

    def _evaluate(self, answer) -> tuple:
        """The answer as a tuple of float arrays: one value, or one output per probe."""
        with np.errstate(all="ignore"):  # an overflowing answer is reported, not warned about
            if self.probes is None:
                outputs = [answer() if callable(answer) else answer]
            else:
                outputs = [answer(*copy.deepcopy(args)) for args in self.probes]   # an answer may edit its inputs
        if any(out is None or out is Ellipsis for out in outputs):
            raise _NothingReturned
        return tuple(np.asarray(out, dtype=float) for out in outputs)

    def _close(self, value, target) -> bool:
        return all(v.shape == t.shape and np.allclose(v, t, rtol=self.rtol, atol=self.atol, equal_nan=True)
                   for v, t in zip(value, target))


def _outputs_or_none(ex: Exercise, mistake: Mistake):
    """A mistake's outputs on the exercise's probes, None where the mistake raises there (as a broadcasting slip
    does on a non-square input: an answer making it raises too, and the check reports that)."""
    try:
        return ex._outputs_of(mistake)
    except Exception:  # noqa: BLE001
        return None


def student_form(ex: Exercise) -> Exercise:
    """A copy of ``ex`` for the student package: the reference and each mistake replaced by their outputs on the
    public probes (so ``check`` gives the same feedback there), and no solution text or hidden test inputs. For an
    answer that is one fixed value it keeps only the structural checks: a checker that knows a value gives it away
    to a student who calls it in a loop (or reads the stored outputs)."""
    student = copy.copy(ex)
    if ex.probes is None:       # a value: neither it (the example, for a property) nor its mistakes' values
        student.reference, student.mistakes = _Stored(None), ()
    else:
        student.reference = _Stored(ex._outputs_of(ex.reference))
        student.mistakes = tuple(Mistake(_Stored(outputs), m.message) for m in ex.mistakes
                                 if (outputs := _outputs_or_none(ex, m)) is not None)
    student.discussion, student.graded_probes, student._outputs, student._hints_shown = "", None, {}, 0
    return student


class _StudentFormUnpickler(pickle.Unpickler):
    """Loads student forms, refusing any object but numpy's, builtins' and these answer-free modules' ones."""

    PACKAGES = ("builtins", "copyreg", "_codecs", "numpy")                 # with all their submodules
    MODULES = ("vitools.exercises._core", "vitools.exercises._checks")     # these modules only

    def find_class(self, module, name):
        if module.split(".")[0] not in self.PACKAGES and module not in self.MODULES:
            raise pickle.UnpicklingError(f"the student forms refer to {module}.{name}, which the student package "
                                         f"does not hold: rebuild it with tools/student_package.py")
        return super().find_class(module, name)


def hidden_form(ex: Exercise, probe: tuple | None = None) -> Exercise:
    """One hidden test of an assignment: ``ex`` checked on one of its ``graded_probes`` (or, for an answer judged by
    a property, on that property), with the reference's and each mistake's outputs there stored, not their code."""
    if probe is None:
        if ex.accept is None:
            raise ValueError(f"exercise {ex.key!r} has no automatic hidden test: its answer is a number read off an "
                             f"experiment, graded by hand")
        return student_form(ex)
    hidden = copy.copy(ex)
    hidden.probes, hidden._outputs = [probe], {}
    return student_form(hidden)


def hidden_check(answer, payload: str) -> str:
    """Run one hidden test (a base64 pickle of :func:`hidden_form`) on ``answer``: ``"ok"`` or the feedback."""
    import base64
    import io

    ex = _StudentFormUnpickler(io.BytesIO(base64.b64decode(payload))).load()
    if answer is None:
        return "The answer is not defined: the answer cell did not run to the end, or it was renamed."
    runaway = ran_too_long(ex.time_limit)
    if getattr(answer, "_vitools_ran_too_long", False):       # one runaway test is enough: skip the others' wait
        return runaway
    feedback = ex.check(answer)
    if feedback.message == runaway:
        try:
            answer._vitools_ran_too_long = True
        except AttributeError:
            pass
    if feedback.passed:
        return "ok"
    raised = re.match(r"Evaluating your answer raised (\w+): ", feedback.message)
    if raised and raised.group(1) == "GradingProcessEnded":     # the grader's own words (tools/assignment.py)
        return "Evaluating your answer on a hidden input: " + feedback.message[raised.end():]
    if raised:        # neither its message nor a class of the answer's own: they could spell out the hidden input
        name = raised.group(1)
        known = isinstance(getattr(builtins, name, None), type) and issubclass(getattr(builtins, name), BaseException)
        return f"Evaluating your answer on a hidden input raised {name if known else 'an exception'}."
    if feedback.message.startswith("Your answer differs from the reference"):     # not by how much
        return "Your answer differs from the expected output on a hidden input; the practice check() and its hints help."
    return feedback.message


def save_student_forms(path: Path) -> None:
    """Write the student form of every registered exercise (the student package's ``student_forms.pickle``)."""
    with open(path, "wb") as f:
        pickle.dump([student_form(ex) for ex in all_exercises()], f)


def load_student_forms(path: Path) -> None:
    with open(path, "rb") as f:
        for ex in _StudentFormUnpickler(f).load():
            register(ex)


def register(ex: Exercise) -> Exercise:
    """Add an exercise to the registry under its key; keys are unique in the book."""
    if ex.key in _REGISTRY:
        raise ValueError(f"exercise key {ex.key!r} is used twice: give one of the exercises another key")
    _REGISTRY[ex.key] = ex
    return ex


class UnknownExercise(KeyError, ValueError):
    """No exercise has the key or number asked for (a ``KeyError`` for the registry, a ``ValueError`` for the argument)."""

    def __str__(self) -> str:
        return str(self.args[0])


def exercise(key: str) -> Exercise:
    """The exercise with this key, e.g. ``exercise("log-mean-exp")``, or this number, e.g. ``exercise("1.3")``."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a string such as \"log-mean-exp\" or a number such as \"1.3\" (in quotes), "
                        f"got {key!r} of type {type(key).__name__}")
    by_number = {number: k for k, number in _numbers().items()}
    ex = _REGISTRY.get(by_number.get(key, key))
    if ex is None:
        raise UnknownExercise(f"no exercise {key!r}; give a number the book shows ({', '.join(sorted(by_number, key=_order))})"
                              f" or a key ({', '.join(sorted(_REGISTRY))})")
    return ex


@cache
def _numbers() -> dict:
    """key -> "C.N" from numbers.json ({} before tools/exercise_index.py first wrote it)."""
    return json.loads(_NUMBERS.read_text()) if _NUMBERS.exists() else {}


def _order(number: str) -> tuple:
    return tuple(int(part) for part in number.split("."))


def _check_key(key, name: str):
    if not isinstance(key, str):
        raise TypeError(f"{name} must be a string such as \"log-mean-exp\", got {key!r} of type {type(key).__name__}")
    if not _KEY.fullmatch(key):
        raise ValueError(f"{name} must be a short slug of lowercase words and digits joined by hyphens, such as "
                         f"\"log-mean-exp\", got {key!r}")
    if key.startswith("ex-"):
        raise ValueError(f"{name} must not start with \"ex-\": the book's label adds that prefix (ex-{key[3:]}); "
                         f"pass {key[3:]!r}")


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _sequence_of(values, name: str, ok, what: str) -> tuple:
    """``values`` as a tuple after checking that it is a sequence (not a string) of ``what``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of {what}, got {type(values).__name__}")
    values = tuple(values)
    for i, value in enumerate(values):
        if not ok(value):
            raise TypeError(f"{name}[{i}] is a {type(value).__name__}, but {name} must hold {what}")
    return values


def all_exercises() -> list:
    """Every registered exercise in the book's order (1.1, 1.2, ..., 1.10, 2.1, ...); one not yet in a notebook
    comes after its chapter's numbered ones."""
    return sorted(_REGISTRY.values(), key=lambda e: (e.chapter, _order(e.number)[1] if e.number else float("inf"), e.key))


# Structural checks shared by the chapters' exercises.

def all_finite(value) -> str | None:
    if not np.all(np.isfinite(value)):
        return ("Your answer contains inf or NaN. If you exponentiated large negative or positive "
                "log values, work in log space (subtract the maximum before exp).")
    return None


def sums_to_one(value) -> str | None:
    if np.any(value < 0):
        return "Your answer has negative entries, so it is not a probability distribution."
    total = value.sum(axis=-1)
    if not np.allclose(total, 1.0, atol=1e-6):
        return (f"Your answer is not normalised: its entries sum to {np.ravel(total)[0]:.4g}, not 1. "
                f"Divide by the total.")
    return None
