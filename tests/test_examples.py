"""The book's own examples (vitools.examples), chapters 1 and 4: each closed form against an independent route,
scipy quadrature, Gauss-Hermite quadrature or Monte Carlo through the estimators."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from vitools import examples
from vitools.estimators import score_function_grad
from vitools.lvm import LinearGaussianLVM

# Gauss-Hermite (probabilists') nodes and weights: E[g(eps)], eps ~ N(0, 1), exact for polynomials of degree < 80
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
WEIGHTS = WEIGHTS / WEIGHTS.sum()


def gauss_expectation(g):
    return float((WEIGHTS * g(NODES)).sum())


def sample_variance_and_se(u: torch.Tensor):
    c = u - u.mean()
    variance = c.pow(2).mean().item()
    return variance, math.sqrt((c.pow(4).mean().item() - variance**2) / len(u))


# ---------------------------------------------------------------- chapter 1


@pytest.mark.parametrize("width", [0.75, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("z_dim", [1, 2, 3])
def test_proposal_second_moment_is_the_integral_of_the_squared_weight(width, z_dim):
    one_dim = integrate.quad(lambda u: np.exp(2 * stats.norm.logpdf(u) - stats.norm.logpdf(u, scale=width)),
                             -np.inf, np.inf)[0]
    assert examples.proposal_second_moment(width, z_dim=z_dim) == pytest.approx(one_dim**z_dim, rel=1e-9)


def test_proposal_second_moment_is_one_at_the_posterior_and_infinite_for_narrow_proposals():
    assert examples.proposal_second_moment(1.0, z_dim=4) == 1.0
    for width in (0.5, 0.6, 1 / math.sqrt(2)):                 # kappa^2 <= 1/2: the integral diverges
        assert examples.proposal_second_moment(width, z_dim=2) == math.inf, width
    # ... as the truncated integral shows: it grows without bound as the range widens
    grows = [integrate.quad(lambda u: np.exp(2 * stats.norm.logpdf(u) - stats.norm.logpdf(u, scale=0.6)), -r, r)[0]
             for r in (5, 10, 20)]
    assert grows[0] < grows[1] < grows[2] and grows[2] > 1e30


def test_proposal_second_moment_matches_the_sampled_weights_of_the_linear_gaussian_model():
    model = LinearGaussianLVM.random(x_dim=4, z_dim=2, sigma=0.5, seed=2)
    torch.manual_seed(0)
    x, _ = model.sample(1)
    post = model.posterior(x)
    q = torch.distributions.MultivariateNormal(post.mean[0], 1.5**2 * post.covariance_matrix[0])
    z = q.sample((400_000,))
    w = torch.exp(model.log_joint(x, z[:, None])[:, 0] - q.log_prob(z) - model.log_marginal(x))   # w / p(x)
    se = (w**2).std().item() / math.sqrt(len(w))
    assert abs((w**2).mean().item() - examples.proposal_second_moment(1.5, z_dim=2)) < 4 * se


def test_log_prior_second_moment_by_quadrature_over_a_scalar_latent():
    model = LinearGaussianLVM.random(x_dim=3, z_dim=1, sigma=0.7, seed=5)
    torch.manual_seed(1)
    x, _ = model.sample(2)
    closed = examples.log_prior_second_moment(model, x)
    assert closed.shape == (2,)
    for n in range(2):
        def integrand(z, n=n):   # p(z) p(x | z)^2
            zt = torch.tensor([[z]], dtype=torch.float64)
            return math.exp(model.prior.log_prob(zt).item() + 2 * model.decoder(zt).log_prob(x[n]).item())
        by_quadrature = integrate.quad(integrand, -12, 12, limit=200)[0]
        assert closed[n].item() == pytest.approx(math.log(by_quadrature), abs=1e-8)


def test_log_prior_second_moment_rejects_other_models():
    with pytest.raises(TypeError, match="model must be a vitools.lvm.LinearGaussianLVM"):
        examples.log_prior_second_moment("model", torch.zeros(1, 3))


# ---------------------------------------------------------------- chapter 4


def test_gaussian_q_has_parameters_that_require_grad():
    q = examples.gaussian_q(1.5, 0.5, z_dim=3)
    assert q.batch_shape == (3,) and q.loc.dtype == torch.float64 and q.loc.requires_grad and q.scale.requires_grad
    assert torch.all(q.loc == 1.5) and torch.all(q.scale == 0.5)
    scalar = examples.gaussian_q()
    assert scalar.batch_shape == () and scalar.loc.item() == 1.0 and scalar.scale.item() == 1.0
    with pytest.raises(ValueError, match="scale"):
        examples.gaussian_q(1.0, 0.0)


def test_test_functions_give_one_value_per_sample():
    z = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 3.0]], dtype=torch.float64)
    f = examples.quadratic_test_function(3.0)
    torch.testing.assert_close(f(z), torch.tensor([4.0 + 1.0, 9.0 + 16.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(f(z[:, 0]), (z[:, 0] - 3.0) ** 2)                   # a scalar latent: elementwise
    torch.testing.assert_close(examples.linear_test_function(z), torch.tensor([3.0, -1.0, 6.0], dtype=torch.float64))
    torch.testing.assert_close(examples.linear_test_function(z[:, 1]), z[:, 1])


@pytest.mark.parametrize("loc, shift", [(1.0, 3.0), (0.5, -1.0), (2.0, 2.0)])
def test_baselines_are_the_mean_of_f_and_the_variance_minimiser(loc, shift):
    f = lambda e: (loc + e - shift) ** 2                                            # noqa: E731  f(z), z = m + eps
    assert examples.quadratic_mean_baseline(loc, shift) == pytest.approx(gauss_expectation(f), rel=1e-12)
    a_star = gauss_expectation(lambda e: f(e) * e**2) / gauss_expectation(lambda e: e**2)
    assert examples.quadratic_optimal_baseline(loc, shift) == pytest.approx(a_star, rel=1e-12)
    # the minimiser of the (exact) variance as a function of a
    variance = lambda a: examples.score_variance_quadratic(loc, shift, baseline=a)   # noqa: E731
    a = examples.quadratic_optimal_baseline(loc, shift)
    assert variance(a) < min(variance(a - 1e-3), variance(a + 1e-3))
    assert variance(a) < variance(examples.quadratic_mean_baseline(loc, shift))


@pytest.mark.parametrize("loc, shift, baseline", [(1.0, 3.0, 0.0), (1.0, 3.0, 4.0), (0.5, -1.0, 2.5), (2.0, 2.0, 0.0)])
def test_score_variance_quadratic_is_exact_in_one_dimension(loc, shift, baseline):
    terms = lambda e: ((loc + e - shift) ** 2 - baseline) * e                       # noqa: E731  (f - a) eps
    exact = gauss_expectation(lambda e: terms(e) ** 2) - gauss_expectation(terms) ** 2
    assert examples.score_variance_quadratic(loc, shift, baseline=baseline) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("kind, z_dim", [("quadratic", 4), ("linear", 1), ("linear", 5)])
def test_score_variances_match_the_estimator(kind, z_dim):
    torch.manual_seed(0)
    n, loc, shift = 200_000, 1.0, 3.0
    f = examples.quadratic_test_function(shift) if kind == "quadratic" else examples.linear_test_function
    estimates = score_function_grad(f, examples.gaussian_q(loc, z_dim=z_dim), n_samples=n)["loc"][:, 0]
    measured, se = sample_variance_and_se(estimates)
    exact = (examples.score_variance_quadratic(loc, shift, z_dim=z_dim) if kind == "quadratic"
             else examples.score_variance_linear(loc, z_dim=z_dim))
    assert abs(measured - exact) < 5 * se, (measured, exact, se)


def test_score_variance_linear_in_one_dimension_by_quadrature():
    for loc in (0.0, 1.0, -2.5):
        terms = lambda e, loc=loc: (loc + e) * e                                   # noqa: E731
        exact = gauss_expectation(lambda e: terms(e) ** 2) - gauss_expectation(terms) ** 2
        assert examples.score_variance_linear(loc) == pytest.approx(exact, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("frequency, loc", [(3.0, 1.0), (0.5, 0.0), (1.5, -0.7)])
def test_cosine_gradient_variances_by_quadrature(frequency, loc):
    density = lambda e: math.exp(-e * e / 2) / math.sqrt(2 * math.pi)              # noqa: E731
    mean = lambda h: integrate.quad(lambda e: h(loc + e, e) * density(e), -14, 14, limit=400)[0]   # noqa: E731
    pathwise = lambda z, e: -frequency * math.sin(frequency * z)                   # noqa: E731
    score = lambda z, e: math.cos(frequency * z) * e                               # noqa: E731
    derived = examples.cosine_gradient_variances(frequency, loc)
    g = mean(pathwise)
    assert derived["gradient"] == pytest.approx(g, abs=1e-10) and mean(score) == pytest.approx(g, abs=1e-10)
    assert derived["pathwise"] == pytest.approx(mean(lambda z, e: pathwise(z, e) ** 2) - g**2, abs=1e-9)
    assert derived["score_function"] == pytest.approx(mean(lambda z, e: score(z, e) ** 2) - g**2, abs=1e-9)


@pytest.mark.parametrize("width", [0.25, 0.5, 1.0, 2.0, 4.0])
def test_elbo_gradient_variances_by_quadrature_of_the_per_sample_gradients(width):
    # the per-sample gradients of the docstring, written from log p(x, z) = const - lambda (z - mu)^2 / 2 and
    # q = N(mu, s^2), s = kappa / sqrt(lambda); their variances over eps ~ N(0, 1) by Gauss-Hermite quadrature
    mu, lam = 0.7, 5.0
    s = width / math.sqrt(lam)
    per_sample = {"full": (lambda e: -lam * s * e, lambda e: 1 - width**2 * e**2),
                  "closed_form_kl": (lambda e: mu - (lam - 1) * s * e, lambda e: mu * s * e - (lam - 1) * s**2 * e**2),
                  "path_derivative": (lambda e: e * (1 / s - lam * s), lambda e: e * (1 / s - lam * s) * s * e)}
    derived = examples.elbo_gradient_variances(mu, posterior_precision=lam, width=width)
    for name, grads in per_sample.items():
        for i, g in enumerate(grads):
            exact = gauss_expectation(lambda e: g(e) ** 2) - gauss_expectation(g) ** 2
            assert derived[name][i] == pytest.approx(exact, rel=1e-10, abs=1e-12), (name, i)


def test_elbo_gradient_variances_at_special_widths():
    v = examples.elbo_gradient_variances(0.7, posterior_precision=5.0, width=1.0)
    assert v["path_derivative"] == (0.0, 0.0) and v["full"] == (5.0, 2.0)
    for width in (0.25, 0.5, 1.0, 2.0, 4.0):                  # mu^2 < 2 Lambda - 1: closed-form KL below full
        v = examples.elbo_gradient_variances(0.7, posterior_precision=5.0, width=width)
        assert sum(v["closed_form_kl"]) < sum(v["full"])
