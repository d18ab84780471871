import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

from vitools.divergences import (GaussianFit, entropy, fit_factorised_gaussian, fit_gaussian, gaussian_entropy,
                                 kl_discrete, kl_gaussian, kl_gaussian_target)
from vitools.examples import two_mode_target
from vitools.results import Fit

RNG = np.random.default_rng(0)


def test_two_mode_target_and_its_validation():
    target = two_mode_target(6.0, 0.3)
    assert target.mean.item() == pytest.approx(0.3 * -3 + 0.7 * 3)
    assert target.variance.item() == pytest.approx(1 + 9 - target.mean.item() ** 2)
    with pytest.raises(ValueError, match="weight_left"):
        two_mode_target(4.0, 1.0)
    with pytest.raises(ValueError, match="distance"):
        two_mode_target(-1.0)


def test_entropy_matches_scipy_and_special_cases():
    p = RNG.dirichlet(np.ones(6), size=4)
    np.testing.assert_allclose(entropy(p), stats.entropy(p, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(entropy(np.ones(8) / 8), math.log(8))
    assert entropy([0.0, 1.0, 0.0]) == 0.0


def test_kl_discrete_matches_scipy_and_is_nonnegative():
    p, q = RNG.dirichlet(np.ones(5), size=200), RNG.dirichlet(np.ones(5), size=200)
    kl = kl_discrete(p, q)
    np.testing.assert_allclose(kl, stats.entropy(p, q, axis=-1), rtol=1e-10)
    assert np.all(kl >= 0)
    np.testing.assert_allclose(kl_discrete(p, p), 0.0, atol=1e-15)
    assert not np.allclose(kl, kl_discrete(q, p))                         # not symmetric


def test_kl_discrete_zero_and_infinite_terms():
    assert kl_discrete([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(math.log(2))   # 0 log 0 = 0
    assert kl_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf                                 # q = 0 < p


@pytest.mark.parametrize("p, q, match", [
    ([0.5, 0.6], [0.5, 0.5], "p sums to 1.1"),
    ([1.2, -0.2], [0.5, 0.5], "p has negative entries"),
    ([0.5, 0.5], [0.2, 0.3, 0.5], "same shape"),
    ([0.5, np.nan], [0.5, 0.5], "NaN"),
    (0.5, 0.5, "at least one axis"),
])
def test_kl_discrete_rejects_bad_input(p, q, match):
    with pytest.raises(ValueError, match=match):
        kl_discrete(p, q)


def test_gaussian_entropy_matches_torch():
    std = torch.tensor([[0.1, 1.0, 3.0], [2.0, 0.5, 0.01]], dtype=torch.float64)
    torch.testing.assert_close(gaussian_entropy(std), Normal(0.0, std).entropy().sum(-1))
    assert gaussian_entropy(torch.tensor([0.05])) < 0                   # a narrow density: negative entropy
    with pytest.raises(ValueError, match="std holds standard deviations"):
        gaussian_entropy(torch.tensor([1.0, 0.0]))


def test_kl_gaussian_matches_torch_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu_q, mu_p = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    std_q, std_p = torch.rand(4, 3, generator=g, dtype=torch.float64) + 0.2, torch.rand(4, 3, generator=g, dtype=torch.float64) + 0.2
    q, p = Independent(Normal(mu_q, std_q), 1), Independent(Normal(mu_p, std_p), 1)
    ours = kl_gaussian(mu_q, std_q, mu_p, std_p)
    torch.testing.assert_close(ours, torch.distributions.kl_divergence(q, p))
    z = q.sample((200_000,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    assert torch.all((log_ratio.mean(0) - ours).abs() < 4 * log_ratio.std(0) / math.sqrt(200_000))
    assert torch.all(ours >= 0)


def test_kl_gaussian_broadcasts_and_differentiates():
    args = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in ([0.3, -1.0], [0.7, 1.2], [0.0], [1.5])]
    assert torch.autograd.gradcheck(kl_gaussian, args)
    assert kl_gaussian(torch.zeros(5, 2), torch.ones(2), 0.0, 1.0).shape == (5,)
    with pytest.raises(ValueError, match="std_p"):
        kl_gaussian(0.0, 1.0, 0.0, -1.0)


@pytest.mark.parametrize("direction", ["reverse", "forward"])
def test_kl_to_a_gaussian_target_matches_the_closed_form(direction):
    target = Normal(torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.7, dtype=torch.float64))
    means = torch.tensor([[-2.0], [1.0], [4.0]], dtype=torch.float64)   # three 1-D q, one per row
    stds = torch.tensor([[0.3], [0.5], [2.5]], dtype=torch.float64)
    ours = kl_gaussian_target(target, means[:, 0], stds[:, 0], direction=direction)
    exact = kl_gaussian(means, stds, 0.3, 1.7) if direction == "reverse" else kl_gaussian(0.3, 1.7, means, stds)
    torch.testing.assert_close(ours, exact, rtol=1e-6, atol=1e-6)


def test_kl_to_a_mixture_matches_monte_carlo():
    target = two_mode_target(6.0, 0.3)
    torch.manual_seed(1)
    q = Normal(torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    for direction, sampler in [("reverse", q), ("forward", target)]:
        z = sampler.sample((400_000,))
        log_ratio = (q.log_prob(z) - target.log_prob(z)) * (1 if direction == "reverse" else -1)
        exact = kl_gaussian_target(target, 1.0, 2.0, direction=direction)
        assert abs(log_ratio.mean() - exact) < 4 * log_ratio.std() / math.sqrt(len(z)), direction


def test_forward_fit_matches_moments():
    target = two_mode_target(6.0, 0.3)
    fit = fit_gaussian(target, "forward", init=(-2.0, 0.5))
    assert fit.q.mean.item() == pytest.approx(target.mean.item(), abs=1e-4)
    assert fit.q.stddev.item() == pytest.approx(target.stddev.item(), abs=1e-4)
    assert fit.history["kl"][-1] <= fit.history["kl"][0]


@pytest.mark.parametrize("start, mode", [(-2.0, -4.0), (1.5, 4.0), (5.5, 4.0)])
def test_reverse_fit_locks_onto_the_nearer_mode(start, mode):
    fit = fit_gaussian(two_mode_target(8.0), "reverse", init=(start, 1.0))
    assert fit.q.mean.item() == pytest.approx(mode, abs=0.01) and fit.q.stddev.item() == pytest.approx(1.0, abs=0.01)
    assert fit.history["kl"][-1] == pytest.approx(math.log(2), abs=1e-3)       # KL(q || p) = log 2 for one of two equal modes


def test_reverse_fit_reaches_a_stationary_point_that_is_a_minimum():
    target = two_mode_target(8.0)
    for start in (-0.7, 0.5, 1.0):
        fit = fit_gaussian(target, "reverse", init=(start, 1.0))
        theta = torch.stack([fit.q.mean, fit.q.stddev.log()])
        hessian = torch.autograd.functional.hessian(
            lambda t: kl_gaussian_target(target, t[0], t[1].exp(), direction="reverse"), theta)
        assert torch.linalg.eigvalsh(hessian).min() > 0, (start, fit)


def _scipy_reverse_kl(means, scales, weights):
    """KL(q || p) for q = N(m, s^2) and a 1-D Gaussian mixture p, by scipy's adaptive quadrature (independent of vitools)."""
    means, scales, weights = map(np.asarray, (means, scales, weights))

    def kl(m, s):
        log_p = lambda z: np.logaddexp.reduce(np.log(weights) + stats.norm.logpdf(z, means, scales))  # noqa: E731
        breaks = [b for b in means if m - 12 * s < b < m + 12 * s]
        e_log_p = integrate.quad(lambda z: stats.norm.pdf(z, m, s) * log_p(z), m - 12 * s, m + 12 * s,
                                 points=breaks or None, limit=200, epsabs=1e-12, epsrel=1e-12)[0]
        return -0.5 * math.log(2 * math.pi * math.e * s * s) - e_log_p
    return kl


def _hessian_by_differences(kl, m, log_s, h=1e-3):
    f = lambda a, b: kl(a, math.exp(b))  # noqa: E731
    d_mm = (f(m + h, log_s) - 2 * f(m, log_s) + f(m - h, log_s)) / h**2
    d_ll = (f(m, log_s + h) - 2 * f(m, log_s) + f(m, log_s - h)) / h**2
    d_ml = (f(m + h, log_s + h) - f(m + h, log_s - h) - f(m - h, log_s + h) + f(m - h, log_s - h)) / (4 * h * h)
    return np.array([[d_mm, d_ml], [d_ml, d_ll]])


def _simpson_reverse_kl(m, s):
    """KL(q || p) for q = N(m, s^2) and the two unit modes at -4, +4, by Simpson's rule on a fixed grid (scipy)."""
    z = np.linspace(-25.0, 25.0, 50_001)
    log_p = np.logaddexp(stats.norm.logpdf(z, -4.0), stats.norm.logpdf(z, 4.0)) + math.log(0.5)
    log_q = stats.norm.logpdf(z, m, s)
    return integrate.simpson(np.exp(log_q) * (log_q - log_p), x=z)


def test_default_reverse_fit_of_a_symmetric_target_is_a_mode_and_a_verified_minimum():
    # the audit's case: modes at -4 and +4, unit scale, equal weights, default arguments. From the old single
    # default start (0, 1) the fit stayed at m = 0, s = 3.47, a local minimum with KL 1.87, not the best fit.
    target = two_mode_target(8.0)
    fit = fit_gaussian(target, "reverse")
    assert abs(abs(fit.q.mean.item()) - 4.0) < 0.01 and abs(fit.q.stddev.item() - 1.0) < 0.01
    assert fit.is_minimum and fit.n_starts > 1 and len(fit.runs) == fit.n_starts
    assert fit.kl == pytest.approx(math.log(2), abs=1e-3)
    # independent reference: the objective by scipy's Simpson rule on a fixed grid, minimised by Nelder-Mead
    # from a grid of starts; the best of them is a mode with the same KL
    ends = [optimize.minimize(lambda t: _simpson_reverse_kl(t[0], math.exp(t[1])), [m0, math.log(s0)],
                              method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-11})
            for m0 in (-5.0, -1.0, 1.0, 5.0) for s0 in (0.7, 3.0)]
    best = min(ends, key=lambda r: r.fun)
    assert abs(best.x[0]) == pytest.approx(abs(fit.q.mean.item()), abs=1e-3)
    assert math.exp(best.x[1]) == pytest.approx(fit.q.stddev.item(), abs=1e-3)
    assert best.fun == pytest.approx(fit.kl, abs=1e-6)
    # the Hessian in (m, log s) at the fit is positive definite, by finite differences of scipy's quadrature too
    hessian = _hessian_by_differences(_scipy_reverse_kl([-4.0, 4.0], [1.0, 1.0], [0.5, 0.5]),
                                      fit.q.mean.item(), fit.q.stddev.log().item())
    assert np.linalg.eigvalsh(hessian).min() > 0.5
    np.testing.assert_allclose(fit.hessian_eigenvalues.numpy(), np.linalg.eigvalsh(hessian), rtol=1e-3)


def test_a_start_in_the_middle_is_a_local_minimum_and_says_so():
    # from (0, 1) the run ends at the broad fit between the modes: a genuine local minimum (positive curvature
    # in m, 0.083 by scipy's quadrature), but not the global one, which the default starts find
    target = two_mode_target(8.0)
    middle = fit_gaussian(target, "reverse", init=(0.0, 1.0))
    assert abs(middle.q.mean.item()) < 1e-6 and middle.q.stddev.item() == pytest.approx(3.4727, abs=1e-3)
    assert middle.is_minimum and middle.n_starts == 1 and middle.start == (0.0, 1.0)
    hessian = _hessian_by_differences(_scipy_reverse_kl([-4.0, 4.0], [1.0, 1.0], [0.5, 0.5]), 0.0,
                                      middle.q.stddev.log().item())
    assert hessian[0, 0] == pytest.approx(0.0829, abs=1e-3) and np.linalg.eigvalsh(hessian).min() > 0
    assert middle.kl == pytest.approx(1.8712, abs=1e-3) and middle.kl > fit_gaussian(target, "reverse").kl + 1


def test_a_fit_that_ends_at_a_saddle_warns_and_says_it_is_not_a_minimum():
    # the pass between the middle basin and a mode's basin is a saddle of the reverse KL: find it (a zero of
    # the gradient), start there, and the run cannot leave it; the fit must say it is not a minimum
    target = two_mode_target(8.0)

    def gradient(theta):
        theta = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        return torch.autograd.grad(kl_gaussian_target(target, theta[0], theta[1].exp()), theta)[0].numpy()

    m0, log_s0 = optimize.root(gradient, [1.5, math.log(2.5)], tol=1e-14).x
    hessian = _hessian_by_differences(_scipy_reverse_kl([-4.0, 4.0], [1.0, 1.0], [0.5, 0.5]), m0, log_s0)
    assert np.linalg.eigvalsh(hessian)[0] < -0.1 < 0.1 < np.linalg.eigvalsh(hessian)[1]   # scipy: a saddle
    with pytest.warns(RuntimeWarning, match="none of the 1 run"):
        saddle = fit_gaussian(target, "reverse", init=(m0, math.exp(log_s0)))
    assert not saddle.is_minimum and saddle.hessian_eigenvalues[0] < 0
    np.testing.assert_allclose(saddle.hessian_eigenvalues.numpy(), np.linalg.eigvalsh(hessian), rtol=1e-3)
    best = fit_gaussian(target, "reverse", init=[(m0, math.exp(log_s0)), (m0 + 0.5, 1.0)])   # a second start helps
    assert best.is_minimum and best.n_starts == 2 and best.q.mean.item() == pytest.approx(4.0, abs=0.01)


def test_too_few_steps_warn_that_the_fit_is_not_a_minimum():
    with pytest.warns(RuntimeWarning, match="not a minimum"):
        # starts away from the modes (the default starts include each component, where one step is nearly enough)
        fit = fit_gaussian(two_mode_target(8.0), "reverse", init=[(0.5, 1.0), (2.0, 2.0), (-6.0, 0.5)], n_steps=1)
    assert not fit.is_minimum


def test_forward_default_fit_matches_moments_from_every_start():
    target = two_mode_target(8.0, 0.3)
    fit = fit_gaussian(target, "forward")
    assert fit.is_minimum and all(run["is_minimum"] for run in fit.runs)
    for run in fit.runs:                                        # the forward KL has a single stationary point
        assert run["q"].mean.item() == pytest.approx(target.mean.item(), abs=1e-4)
        assert run["q"].stddev.item() == pytest.approx(target.stddev.item(), abs=1e-4)


def test_factorised_reverse_fit_is_the_conditional_variance_and_below_the_marginal():
    # random SPD targets in 3 dimensions: s_i^2 = 1 / Lambda_ii = Sigma_ii - Sigma_{i,-i} Sigma_{-i,-i}^-1 Sigma_{-i,i}
    # (the Schur complement, the variance of z_i given the rest), which is <= Sigma_ii
    rng = np.random.default_rng(3)
    for _ in range(3):
        a = rng.standard_normal((3, 3))
        cov = a @ a.T + 0.3 * np.eye(3)
        target = MultivariateNormal(torch.tensor(rng.standard_normal(3)), torch.tensor(cov))
        fit = fit_factorised_gaussian(target, "reverse")
        assert fit.is_minimum
        conditional = [cov[i, i] - cov[i, np.arange(3) != i] @ np.linalg.solve(
            cov[np.ix_(np.arange(3) != i, np.arange(3) != i)], cov[np.arange(3) != i, i]) for i in range(3)]
        np.testing.assert_allclose(fit.q.stddev.numpy() ** 2, conditional, rtol=1e-5)
        assert np.all(fit.q.stddev.numpy() ** 2 <= np.diag(cov))


def test_factorised_fits_hit_the_known_optima():
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    target = MultivariateNormal(torch.tensor([1.0, -1.0], dtype=torch.float64), cov)
    reverse, forward = fit_factorised_gaussian(target, "reverse"), fit_factorised_gaussian(target, "forward")
    torch.testing.assert_close(reverse.q.mean, target.mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(forward.q.mean, target.mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(reverse.q.stddev**2, 1 / torch.linalg.inv(cov).diagonal(), atol=1e-6, rtol=0)   # 0.19
    torch.testing.assert_close(forward.q.stddev**2, cov.diagonal(), atol=1e-6, rtol=0)                         # 1.0


def test_fits_are_fit_results_whose_q_is_the_fitted_distribution():
    one_d = fit_gaussian(two_mode_target(6.0, 0.3), "forward", init=(0.0, 1.0))
    assert isinstance(one_d, Fit) and type(one_d.q) is Normal and one_d.q.batch_shape == ()
    assert list(one_d.history) == ["kl"] and all(type(v) is float for v in one_d.history["kl"])
    assert one_d.history["kl"][-1] == one_d.kl and one_d.converged is one_d.is_minimum is True and one_d.model is None
    assert one_d.runs[0]["q"] is one_d.q
    target = MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64) * 4)
    factorised = fit_factorised_gaussian(target, "reverse")
    assert isinstance(factorised, Fit) and isinstance(factorised.q, Independent)
    assert factorised.q.event_shape == (3,) and factorised.q.batch_shape == ()
    torch.testing.assert_close(factorised.q.stddev, torch.full((3,), 2.0, dtype=torch.float64))   # q = p here
    assert abs(factorised.kl) < 1e-10


def test_optimiser_settings_are_keyword_only():
    target = two_mode_target(4.0)
    with pytest.raises(TypeError):
        fit_gaussian(target, "reverse", (0.0, 1.0))
    with pytest.raises(TypeError):
        fit_factorised_gaussian(MultivariateNormal(torch.zeros(2), torch.eye(2)), "reverse", 10)
    with pytest.raises(TypeError):
        kl_gaussian_target(target, 0.0, 1.0, "forward")


def test_fitting_rejects_bad_input():
    target = two_mode_target(4.0)
    with pytest.raises(ValueError, match="direction must be"):
        fit_gaussian(target, "sideways")
    with pytest.raises(ValueError, match="init std"):
        fit_gaussian(target, init=(0.0, -1.0))
    with pytest.raises(TypeError, match="torch.distributions"):
        fit_gaussian(lambda z: z)
    with pytest.raises(ValueError, match="single 1-D"):
        fit_gaussian(Normal(torch.zeros(2), torch.ones(2)))
    with pytest.raises(ValueError, match="n_steps must be"):
        fit_gaussian(target, n_steps=0)
    with pytest.raises(TypeError, match="MultivariateNormal"):
        fit_factorised_gaussian(target)


@pytest.mark.parametrize("call, error, match", [
    (lambda: entropy([0.5, 0.6]), ValueError, "sums to 1.1"),
    (lambda: entropy([[0.5, 0.5], [1.5, -0.5]]), ValueError, r"p\[1\] has negative entries"),
    (lambda: kl_gaussian_target(two_mode_target(4.0), 0.0, 1.0, direction="both"), ValueError, "direction must be"),
    (lambda: kl_gaussian_target(two_mode_target(4.0), 0.0, 0.0), ValueError, "std holds standard deviations"),
    (lambda: kl_gaussian_target("p", 0.0, 1.0), TypeError, "torch.distributions"),
    (lambda: fit_factorised_gaussian(MultivariateNormal(torch.zeros(2), torch.eye(2)), "up"), ValueError, "direction"),
])
def test_every_function_names_the_bad_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("scale", [1e-4, 1e4, 1e5])
@pytest.mark.parametrize("direction", ["reverse", "forward"])
def test_fits_of_very_narrow_and_very_wide_targets_are_verified_minima(direction, scale):
    # the old test compared raw Hessian eigenvalues with different units (1/s^2 along m, none along log s) and
    # flagged these exact fits as "not a minimum". For p = N(0, Sigma), both KLs at q = p have, in the unit-free
    # coordinates (m / s, log s), the Hessian diag(1, 2): d^2/dm^2 = 1/Sigma = 1/s^2 and d^2/d(log s)^2 = 2
    target = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                    # no "not a minimum" warning
        fit = fit_gaussian(target, direction)
    assert fit.is_minimum and fit.q.stddev.item() / scale == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(fit.scaled_hessian_eigenvalues.numpy(), [1.0, 2.0], rtol=1e-4)
    assert fit.newton_decrement < 1e-10
    raw = np.sort([1 / scale**2, 2.0])                                  # the raw eigenvalues, by hand
    np.testing.assert_allclose(fit.hessian_eigenvalues.numpy(), raw, rtol=1e-4)


def test_a_gentle_slope_is_not_a_minimum():
    # gradient 5e-6 along m and a small positive curvature 1e-4: the old absolute test (every gradient entry
    # below 1e-5, smallest eigenvalue above 1e-8 max(1, largest)) accepted this point; the true minimum is at
    # m = -0.05, and the Newton decrement g^2 / h = 2.5e-7 says how far from stationary it is
    from vitools.divergences import _second_order
    objective = lambda m, s: 5e-6 * m + 0.5e-4 * m**2 + torch.log(s) ** 2   # noqa: E731
    gradient, eigenvalues, scaled, decrement, is_minimum = _second_order(
        objective, torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64))
    assert gradient.abs().max() < 1e-5 and eigenvalues[0] > 1e-8 * max(1.0, eigenvalues[-1].item())   # old rule: yes
    assert decrement == pytest.approx(5e-6**2 / 1e-4, rel=1e-9) and not is_minimum


def test_an_unverified_run_below_the_kept_minimum_warns():
    from vitools.divergences import _best_of
    q = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    checks = dict(hessian_eigenvalues=torch.ones(2), scaled_hessian_eigenvalues=torch.ones(2))
    verified = GaussianFit(q=q, kl=1.0, gradient=torch.zeros(2), newton_decrement=0.0, is_minimum=True,
                           start=(0.0, 1.0), **checks)
    stuck = GaussianFit(q=q, kl=0.5, gradient=torch.ones(2), newton_decrement=1.0, is_minimum=False,
                        start=(1.0, 1.0), **checks)
    with pytest.warns(RuntimeWarning, match=r"1 run\(s\) that did not end at a verified minimum reached a lower KL"):
        best = _best_of([verified, stuck], "fit_gaussian")
    assert best is verified and best.n_starts == 2
