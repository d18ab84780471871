"""vitools.marginal: probability tables (the estimators of log p(x) are tested in test_bounds.py)."""

import numpy as np
import pytest

from vitools.data import eye_colour_table
from vitools.marginal import condition_on, normalise, sum_out


@pytest.fixture
def joint():
    return normalise(eye_colour_table()[0])


def test_marginals_of_the_eye_colour_table(joint):
    p_x, p_z = sum_out(joint, 1), sum_out(joint, 0)
    np.testing.assert_allclose(p_x, np.array([0.19, 0.37, 0.43]) / 0.99)
    assert p_z.shape == (8,)
    np.testing.assert_allclose(p_x.sum(), 1.0)
    np.testing.assert_allclose(p_z.sum(), 1.0)


def test_conditionals_satisfy_bayes_rule(joint):
    post = condition_on(joint, 0)   # p(z | x), rows
    lik = condition_on(joint, 1)    # p(x | z), columns
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    np.testing.assert_allclose(lik.sum(axis=0), 1.0)
    p_x, p_z = sum_out(joint, 1), sum_out(joint, 0)
    # Bayes: p(z | x) p(x) = p(x, z) = p(x | z) p(z)
    np.testing.assert_allclose(post * p_x[:, None], joint, atol=1e-15)
    np.testing.assert_allclose(lik * p_z[None, :], joint, atol=1e-15)
    # Spanish people never have brown eyes in the table, so p(Spanish | brown) = 0
    assert post[0, -1] == 0


def test_table_helpers_reject_bad_tables(joint):
    with pytest.raises(ValueError, match="sums to 0.99"):
        sum_out(eye_colour_table()[0], 1)
    with pytest.raises(ValueError, match="negative"):
        sum_out(np.array([[0.5, 0.6], [0.1, -0.2]]), 0)
    with pytest.raises(ValueError, match="axis must be an integer"):
        sum_out(joint, 2)
    with pytest.raises(ValueError, match="probability 0"):
        condition_on(np.array([[0.5, 0.5], [0.0, 0.0]]), 0)
    with pytest.raises(ValueError, match="2-D"):
        condition_on(np.ones(4) / 4, 0)
    with pytest.raises(ValueError, match="sums to 0"):
        normalise(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        normalise([1.0, np.nan])


# ---------------------------------------------------------------- chapter 1's exercises: solutions and checkers


@pytest.mark.parametrize("label", ["1.1", "1.2", "1.3", "1.4", "1.5"])
def test_chapter_one_solution_runs_when_pasted_into_an_empty_namespace(label):
    """solution() prints the reference's source; pasted into a fresh notebook it must define a working function."""
    import inspect
    import textwrap

    from vitools.exercises import exercise

    ex = exercise(label)
    namespace = {}
    exec(textwrap.dedent(inspect.getsource(ex.reference)), namespace)   # no imports, no module globals
    pasted = namespace[ex.reference.__name__]
    assert ex.check(pasted).passed, label
    if ex.probes is None:
        np.testing.assert_allclose(pasted(), ex.reference())


def test_exercise_1_2_names_a_dropped_2_pi_and_a_variance_that_is_not_squared():
    from vitools.exercises import exercise

    ex = exercise("evidence-linear-gaussian-1d")
    no_2pi = lambda x, W, b, s: -0.5 * np.log(W**2 + s**2) - (x - b) ** 2 / (2 * (W**2 + s**2))
    assert not ex.check(no_2pi).passed and "0.919" in ex.check(no_2pi).message
    # the difference really is 0.5 log(2 pi) on every probe
    np.testing.assert_allclose([no_2pi(*a) - ex.reference(*a) for a in ex.probes], 0.5 * np.log(2 * np.pi))
    w_not_squared = lambda x, W, b, s: -0.5 * np.log(2 * np.pi * (W + s**2)) - (x - b) ** 2 / (2 * (W + s**2))
    message = ex.check(w_not_squared).message
    assert "not finite" in message and "negative W" in message and "square W" in message
    assert "log space" not in message and "exponentiat" not in message
    other_nan = lambda x, W, b, s: np.log(W) + 0 * x    # NaN for negative W, not a named mistake
    message = ex.check(other_nan).message
    assert "NaN or inf" in message and "negative W" in message and "log space" not in message


def test_exercise_1_5_refuses_a_width_that_is_not_an_option_and_a_string():
    from vitools.exercises import exercise

    ex = exercise("proposal-width")
    assert ex.check(1.0).passed and ex.check(1).passed and ex.check(np.float64(1.0)).passed
    for off_menu in (1.7, 0.9, 10.0):
        feedback = ex.check(off_menu)
        assert not feedback.passed and "not one of the options" in feedback.message, off_menu
    for text in ("1", "1.0"):
        feedback = ex.check(text)
        assert not feedback.passed and "string" in feedback.message and "without quotes" in feedback.message
    for not_one_number in (True, [1.0], {}):
        feedback = ex.check(not_one_number)
        assert not feedback.passed and "as a number" in feedback.message
    assert "narrower" in ex.check(0.5).message and "Wider" in ex.check(3.0).message
