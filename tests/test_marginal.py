import math

import numpy as np
import pytest
import torch
from scipy import special
from torch.distributions import Independent, MultivariateNormal, Normal

from vitools.data import eye_colour_table
from vitools.lvm import LinearGaussianLVM
from vitools.marginal import (condition_on, log_importance_weights, log_marginal_is, log_marginal_mc,
                              log_mean_exp, normalise, sum_out)


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


def test_log_mean_exp_matches_scipy_and_survives_extremes():
    a = torch.tensor([[-1000.0, 800.0], [-1001.0, 799.0], [-1003.0, 10.0]], dtype=torch.float64)
    expected = special.logsumexp(a.numpy(), axis=0) - math.log(3)
    np.testing.assert_allclose(log_mean_exp(a, dim=0).numpy(), expected, rtol=1e-12)
    assert torch.isfinite(log_mean_exp(a, dim=0)).all()


@pytest.fixture
def model():
    return LinearGaussianLVM.random(x_dim=4, z_dim=2, sigma=0.7, seed=3)


def test_importance_weights_with_the_posterior_are_constant(model):
    # p(x, z) / p(z | x) = p(x) for every z: zero-variance importance sampling
    torch.manual_seed(0)
    x, _ = model.sample(3)
    log_w = log_importance_weights(model, x, model.posterior(x), k=50)
    assert log_w.shape == (50, 3)
    torch.testing.assert_close(log_w, model.log_marginal(x).expand(50, 3), rtol=0, atol=1e-10)


def test_estimates_are_unbiased_for_p_x(model):
    # E[p_hat(x)] = p(x): the mean of R independent K-sample estimates of p(x) lies within
    # 4 standard errors of the exact value, for both the prior and a broad proposal.
    torch.manual_seed(1)
    x, _ = model.sample(2)
    exact = model.log_marginal(x)
    post = model.posterior(x)
    broad = MultivariateNormal(post.mean, 4.0 * post.covariance_matrix)
    for estimate in (lambda: log_marginal_mc(model, x, k=20), lambda: log_marginal_is(model, x, broad, k=20)):
        ratios = torch.stack([torch.exp(estimate() - exact) for _ in range(2000)])  # p_hat / p
        mean, se = ratios.mean(0), ratios.std(0) / math.sqrt(ratios.shape[0])
        assert torch.all((mean - 1).abs() < 4 * se + 1e-12), (mean, se)


def test_log_of_the_estimate_is_biased_low_and_tightens_with_k(model):
    torch.manual_seed(2)
    x, _ = model.sample(1)
    exact = model.log_marginal(x).item()
    bias = {k: torch.stack([log_marginal_mc(model, x, k) for _ in range(400)]).mean().item() - exact
            for k in (1, 10, 1000)}
    assert bias[1] < bias[10] < bias[1000] < 0.05 and bias[1] < -0.1


def test_estimators_reject_bad_input(model):
    x, _ = model.sample(2)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        log_marginal_mc(model, x, k=0)
    with pytest.raises(ValueError, match="event shape"):
        log_marginal_is(model, x, Independent(Normal(torch.zeros(3), torch.ones(3)), 1), k=5)
    with pytest.raises(ValueError, match="batch shape"):
        q = Independent(Normal(torch.zeros(5, 2, dtype=torch.float64), torch.ones(5, 2, dtype=torch.float64)), 1)
        log_marginal_is(model, x, q, k=5)
    with pytest.raises(TypeError, match="torch.distributions"):
        log_marginal_is(model, x, "normal", k=5)
    with pytest.raises(ValueError, match="x must have 2 dimension"):
        log_marginal_mc(model, x[0], k=5)
    with pytest.raises(ValueError, match="NaN"):
        log_marginal_mc(model, torch.full((1, 4), float("nan")), k=5)
    with pytest.raises(TypeError, match="prior"):
        log_marginal_mc(object(), x, k=5)


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

    ex = exercise("1.2")
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

    ex = exercise("1.5")
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
