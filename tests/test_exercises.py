"""Each exercise's reference passes its own checker; each typical mistake gets its message."""

import base64
import inspect
import io
import pickle
import time

import numpy as np
import pytest
from scipy import special, stats

from vitools.data import eye_colour_table
from vitools.exercises import Exercise, Mistake, all_exercises, exercise
from vitools.marginal import condition_on, normalise

EXERCISES = all_exercises()


def test_keys_and_numbers_are_unique_and_chapter_one_has_enough():
    keys, numbers = [e.key for e in EXERCISES], [e.number for e in EXERCISES]
    assert len(keys) == len(set(keys)) and None not in numbers and len(numbers) == len(set(numbers))
    assert sum(e.chapter == 1 for e in EXERCISES) >= 4
    with pytest.raises(KeyError, match="no exercise"):
        exercise("9.9")


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.key)
def test_the_number_the_book_shows_finds_the_same_exercise(ex):
    """exercise("C.N"), as a student reads it in the book, and exercise(key) are one exercise; the numbers run
    1, 2, ... within each chapter in the order of all_exercises()."""
    assert exercise(ex.number) is exercise(ex.key) is ex
    chapter, position = map(int, ex.number.split("."))
    assert chapter == ex.chapter
    assert position == [e.key for e in EXERCISES if e.chapter == chapter].index(ex.key) + 1
    assert repr(ex) == f"Exercise {ex.number}: {ex.title}"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.key)
def test_reference_passes(ex):
    assert ex.check(ex.reference).passed


@pytest.mark.parametrize("ex, mistake", [(e, m) for e in EXERCISES for m in e.mistakes],
                         ids=lambda v: getattr(v, "key", ""))
def test_each_mistake_fails_with_its_own_message(ex, mistake):
    feedback = ex.check(mistake.make)
    assert not feedback.passed and feedback.message == mistake.message


FUNCTION_EXERCISES = [e for e in EXERCISES if e.probes is not None]


@pytest.mark.parametrize("ex", FUNCTION_EXERCISES, ids=lambda e: e.key)
def test_hidden_inputs_differ_from_the_public_ones_and_catch_every_mistake(ex):
    """An assignment grades a function on graded_probes: not the public probes, the reference passes there, and
    each typical mistake fails on at least one of them with its own message (one hidden test per input)."""
    from vitools.exercises._core import hidden_check, hidden_form

    assert ex.graded_probes and not {repr(p) for p in ex.graded_probes} & {repr(p) for p in ex.probes}
    forms = [hidden_form(ex, probe) for probe in ex.graded_probes]
    payloads = [base64.b64encode(pickle.dumps(form)).decode() for form in forms]
    assert all(hidden_check(ex.reference, payload) == "ok" for payload in payloads)
    for mistake in ex.mistakes:
        messages = [hidden_check(mistake.make, payload) for payload in payloads]
        assert any(message != "ok" for message in messages), mistake.message
        assert mistake.message in messages or any("raised" in m for m in messages), mistake.message


def test_an_exercise_without_a_function_answer_has_no_hidden_inputs_and_is_graded_by_hand():
    for ex in EXERCISES:
        if ex.probes is None and ex.accept is None:
            assert ex.graded_probes is None and ex.points == 0 and ex.written_points == 2 * ex.stars, ex.key
        elif ex.kind == "Derivation":
            assert ex.points == 2 * ex.stars and ex.written_points == ex.stars, ex.key
    with pytest.raises(ValueError, match="graded_probes are for a function answer"):
        Exercise("x", "t", lambda: 1.0, chapter=1, kind="Coding", stars=1, minutes=5, graded_probes=[(1.0,)])
    with pytest.raises(TypeError, match="minutes must be a whole number"):
        Exercise("x", "t", lambda: 1.0, chapter=1, kind="Coding", stars=1, minutes=2.5)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.key)
def test_the_student_form_gives_the_same_feedback_without_the_code(ex):
    """The student package's copy: the same verdict and message for the reference and each mistake, no code."""
    from vitools.exercises._core import _Stored, _StudentFormUnpickler, student_form

    form = _StudentFormUnpickler(io.BytesIO(pickle.dumps(student_form(ex)))).load()
    assert isinstance(form.reference, _Stored) and form.discussion == "" and form.graded_probes is None
    with pytest.raises(RuntimeError, match="no reference solutions"):
        form.reference()
    assert "holds no solutions" in repr(form.solution())
    if ex.accept is not None:                              # a property: judged, but no example answer held
        assert form.reference.outputs is None and form.check(ex.reference()).passed
        with pytest.raises(RuntimeError, match="holds no answer"):
            form.expected()
        return
    if ex.probes is None:                                  # one fixed value: not held, so not judged
        assert form.reference.outputs is None and form.mistakes == ()
        feedback = form.check(ex.reference)
        assert not feedback.passed and not feedback.judged and "does not hold it" in feedback.message
        with pytest.raises(RuntimeError, match="holds no answer"):
            form.expected()
        return
    assert form.check(ex.reference).passed
    for mistake in ex.mistakes:
        assert form.check(mistake.make).message == ex.check(mistake.make).message


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.key)
def test_no_answer_and_hints_and_solution(ex):
    assert "no answer yet" in ex.check(...).message
    assert "Hint 1" in repr(ex.hint())
    assert ex.reference.__name__ in repr(ex.solution())
    for _ in ex.hints:
        ex.hint()
    assert "last hint" in repr(ex.hint()) or not ex.hints   # a hint past the last says so


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.key)
def test_the_solution_is_a_closed_drop_down_in_a_notebook_and_a_sphinx_solution_in_the_book(ex):
    import html
    import re

    shown = ex.solution()
    notebook = shown._repr_html_()
    # a notebook front end shows HTML: a <details> without `open`, the code escaped inside it
    assert re.search(r"<details class=\"vitools-solution\">\s*<summary>", notebook) and " open" not in notebook
    assert html.escape(inspect.getsource(ex.reference).splitlines()[0].strip()) in notebook
    assert f"the solution to exercise {ex.number} ({html.escape(ex.title)})" in notebook
    # the book takes the Markdown: a {solution} drop-down for the exercise labelled ex-<key>
    book = shown._repr_markdown_()
    assert book.startswith(f"::::{{solution}} ex-{ex.key}\n:class: dropdown\n")
    assert book.rstrip().endswith("::::") and ex.discussion in book and "```python" in book


def test_solution_html_leaves_tex_to_the_notebook_s_mathjax():
    from vitools.exercises._core import _markdown_to_html

    rendered = _markdown_to_html("Take $x_1 * y_2 < 1$ and\n\n$$a_1 * b_2$$\n\n**bold** `code`")
    # TeX kept verbatim (HTML-escaped) between its dollars, not read as emphasis; Markdown around it rendered
    assert "$x_1 * y_2 &lt; 1$" in rendered and "$$a_1 * b_2$$" in rendered and "<em>" not in rendered
    assert "<strong>bold</strong>" in rendered and "<code>code</code>" in rendered


def _chapter_markdown(chapter):
    import json
    from pathlib import Path
    (path,) = Path(__file__).resolve().parent.parent.glob(f"book/{chapter:02d}_*.ipynb")
    return "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")


@pytest.mark.parametrize("ex", [e for e in EXERCISES if e.probes is not None], ids=lambda e: e.key)
def test_a_function_to_write_has_the_name_the_statement_asks_for(ex):
    """solution() prints the reference's source, so a student who copies it gets the function the exercise named."""
    assert f"`{ex.reference.__name__}(" in _chapter_markdown(ex.chapter), ex.reference.__name__


def test_references_agree_with_independent_computations():
    joint = normalise(eye_colour_table()[0])
    np.testing.assert_allclose(exercise("posterior-green-eyes").expected(), condition_on(joint, 0)[2])
    x, w, b, s = 0.3, 2.0, -1.0, 0.5
    np.testing.assert_allclose(exercise("evidence-linear-gaussian-1d").reference(x, w, b, s),
                               stats.norm(b, np.sqrt(w**2 + s**2)).logpdf(x))
    lw = np.array([-1000.0, -1001.0, 3.0])
    np.testing.assert_allclose(exercise("log-mean-exp").reference(lw), special.logsumexp(lw) - np.log(3))
    assert exercise("hidden-pixel-sum-cost").reference(3, 2) == len([(c, h) for c in range(2) for h in range(2**3)])


def test_structural_messages():
    ex = exercise("posterior-green-eyes")
    assert "shape" in ex.check(np.ones(3) / 3).message
    assert "not normalised" in ex.check(np.ones(8)).message
    assert "negative" in ex.check(np.r_[-0.1, 1.1, np.zeros(6)]).message
    assert "function" in exercise("evidence-linear-gaussian-1d").check(0.5).message
    assert "raised ZeroDivisionError" in exercise("evidence-linear-gaussian-1d").check(lambda *a: 1 / 0).message
    assert "returns nothing yet" in exercise("evidence-linear-gaussian-1d").check(lambda *a: None).message
    assert "inf or NaN" in exercise("log-mean-exp").check(lambda lw: np.nan).message


def test_chapter_two_references_agree_with_libraries():
    from torch.distributions import Normal, kl_divergence

    q, p = Normal(1.0, 0.5), Normal(0.3, 1.7)
    np.testing.assert_allclose(exercise("kl-two-gaussians").reference(1.0, 0.5, 0.3, 1.7), kl_divergence(q, p).item(), rtol=1e-6)
    np.testing.assert_allclose(exercise("kl-two-coins").reference(0.3, 0.6), stats.entropy([0.7, 0.3], [0.4, 0.6]))
    v = 2.5
    np.testing.assert_allclose(exercise("gaussian-entropy-from-variance").reference(v), Normal(0.0, np.sqrt(v)).entropy().item(), rtol=1e-6)
    # Delta = 7 from m0 = 1: the fit stops at the broad minimum between the modes (at m = 0), not on a mode at +-3.5
    assert abs(exercise("reverse-fit-mean").expected()) < 0.05


def test_property_exercise_judges_the_property_not_the_example():
    ex = exercise("kl-not-a-distance")
    assert ex.check([[0.8, 0.2], [0.5, 0.5], [0.2, 0.8]]).passed          # another valid counterexample
    same = ex.check([[0.5, 0.5]] * 3)
    assert not same.passed and "satisfies the triangle inequality" in same.message
    assert "shape (3, n)" in ex.check([[0.5, 0.5], [0.5, 0.5]]).message
    assert "probability distribution" in ex.check([[0.5, 0.6], [0.5, 0.5], [0.5, 0.5]]).message


def test_chapter_three_references_agree_with_independent_computations():
    from scipy import special as sp

    resp = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3]])
    np.testing.assert_allclose(exercise("m-step-weights").reference(resp), [0.55, 0.3, 0.15])
    log_joint = np.array([[-700.0, -702.0, -705.0]])
    np.testing.assert_allclose(exercise("e-step-log-space").reference(log_joint), sp.softmax(log_joint, axis=1))
    joint = normalise(eye_colour_table()[0])
    posterior = joint[2] / joint[2].sum()
    kl = stats.entropy(np.full(8, 1 / 8), posterior)
    np.testing.assert_allclose(exercise("elbo-by-hand").expected() + kl, np.log(joint[2].sum()))   # ELBO + KL = log p(x)
    assert exercise("count-variational-parameters").reference(10, 3) == 60


def test_chapter_six_references_agree_with_libraries():
    import torch
    from torch.distributions import Normal, kl_divergence

    m, s = 1.5, 0.5
    np.testing.assert_allclose(exercise("kl-non-standard-prior").reference(m, s), kl_divergence(Normal(m, s), Normal(0.0, 1.0)).item(),
                               rtol=1e-6)
    assert exercise("amortisation-parameter-count").reference([64, 256, 256, 16]) == sum(
        p.numel() for p in torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Linear(256, 256),
                                               torch.nn.Linear(256, 16)).parameters())
    p, x = np.array([0.2, 0.7]), np.array([[1.0, 0.0]])
    np.testing.assert_allclose(exercise("independent-pixels-nll").reference(p, x), -stats.bernoulli(p).logpmf(x).sum(axis=-1))
    r = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    (torch.nn.functional.softplus(r) * 1.3).backward()
    np.testing.assert_allclose(exercise("softplus-reparam-gradient").reference(0.7, 1.3), r.grad.item())


def test_the_reference_and_each_mistake_are_evaluated_once():
    """check() compares with outputs computed at the first check that needs them, not recomputed every time."""
    calls = {"reference": 0, "three": 0, "four": 0}

    def counted(name, function):
        def wrapper(x):
            calls[name] += 1
            return function(x)
        return wrapper

    probes = [(1.0,), (2.0,)]
    ex = Exercise("counted-calls", "t", counted("reference", lambda x: 2 * x), chapter=1, kind="Coding", stars=1, minutes=5,
                  probes=probes, mistakes=[Mistake(counted("three", lambda x: 3 * x), "three"),
                                           Mistake(counted("four", lambda x: 4 * x), "four")])
    assert ex.check(lambda x: 2 * x).passed
    assert calls == {"reference": len(probes), "three": 0, "four": 0}          # mistakes only once an answer is wrong
    for _ in range(3):
        assert ex.check(lambda x: 4 * x).message == "four"
        assert not ex.check(lambda x: 5 * x).passed
    ex.expected()[0][...] = 99.0                                                # a copy: the cached outputs stay
    assert ex.check(lambda x: 2 * x).passed
    assert calls == {"reference": len(probes), "three": len(probes), "four": len(probes)}


def test_check_stops_a_runaway_answer_with_a_clear_message():
    ex = Exercise("runaway", "t", lambda x: 2 * x, chapter=1, kind="Coding", stars=1, minutes=5, probes=[(1.0,)],
                  time_limit=0.5)

    def forever(x):
        while True:
            try:
                pass
            except Exception:      # a student's catch-all does not swallow the stop
                pass

    start = time.perf_counter()
    feedback = ex.check(forever)
    assert not feedback.passed and "still running after 0.5 s" in feedback.message
    assert time.perf_counter() - start < 5
    assert ex.check(lambda x: 2 * x).passed                     # the clock is off again afterwards


def test_check_stops_a_runaway_answer_in_a_notebook_kernel():
    """In a Jupyter kernel, as a student runs it: the cell returns with the message instead of hanging."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from vitools.exercises import exercise\nex = exercise('2.3')\nex.time_limit = 1.0\n"
        "def kl_bernoulli(mu1, mu2):\n    while True:\n        pass\n\nex.check(kl_bernoulli)")])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    output = nb.cells[0].outputs[0]["data"]["text/plain"]
    assert "Not yet." in output and "still running after 1 s" in output
