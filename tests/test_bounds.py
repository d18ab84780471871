"""vitools.bounds: the ELBO and the importance-weighted bound L_K for any model, against the exact log p(x) of the
linear-Gaussian model, and log-mean-exp."""

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch.distributions import Independent, MultivariateNormal, Normal, OneHotCategorical, kl_divergence

from vitools.bounds import (elbo_closed_form_kl, elbo_monte_carlo, iwae_bound, kl_to_prior, log_importance_weights,
                            log_mean_exp)
from vitools.lvm import LinearGaussianLVM


@pytest.fixture
def model():
    return LinearGaussianLVM.random(x_dim=4, z_dim=2, sigma=0.7, seed=3)


def broad_q(model, x, width=2.0):
    """q = N(mu_{z|x}, width^2 Sigma_{z|x}): near the posterior, but not it."""
    post = model.posterior(x)
    return MultivariateNormal(post.mean, width**2 * post.covariance_matrix)


# ---------------------------------------------------------------- log-mean-exp


def test_log_mean_exp_matches_scipy_and_survives_extremes():
    a = torch.tensor([[-1000.0, 800.0], [-1001.0, 799.0], [-1003.0, 10.0]], dtype=torch.float64)
    expected = special.logsumexp(a.numpy(), axis=0) - math.log(3)
    np.testing.assert_allclose(log_mean_exp(a, dim=0).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(log_mean_exp(a, dim=1).numpy(), special.logsumexp(a.numpy(), axis=1) - math.log(2),
                               rtol=1e-12)
    log_w = torch.full((100_000,), -1e4, dtype=torch.float64)
    log_w[0] = 1e4
    assert log_mean_exp(log_w).item() == pytest.approx(1e4 - math.log(100_000))
    assert log_mean_exp(torch.tensor([-math.inf, 0.0])).item() == pytest.approx(-math.log(2))


# ---------------------------------------------------------------- log-weights and L_K against the exact log p(x)


def test_importance_weights_with_the_posterior_are_constant(model):
    # p(x, z) / p(z | x) = p(x) for every z: zero-variance importance sampling, and L_K = log p(x) for every K
    torch.manual_seed(0)
    x, _ = model.sample(3)
    log_w = log_importance_weights(model, x, model.posterior(x), n_samples=50)
    assert log_w.shape == (50, 3)
    torch.testing.assert_close(log_w, model.log_marginal(x).expand(50, 3), rtol=0, atol=1e-10)
    for k in (1, 7, 300):
        torch.testing.assert_close(iwae_bound(model, x, model.posterior(x), n_samples=k), model.log_marginal(x),
                                   rtol=0, atol=1e-10)


def test_estimates_of_p_x_are_unbiased_with_the_prior_and_a_broad_q(model):
    # E[p_hat(x)] = p(x): the mean of R independent K-sample estimates of p(x) within 4 standard errors of the exact value;
    # q = model.prior is chapter 1's naive Monte Carlo estimate
    torch.manual_seed(1)
    x, _ = model.sample(2)
    exact = model.log_marginal(x)
    for q in (model.prior, broad_q(model, x)):
        ratios = torch.stack([torch.exp(iwae_bound(model, x, q, n_samples=20) - exact) for _ in range(2000)])
        mean, se = ratios.mean(0), ratios.std(0) / math.sqrt(ratios.shape[0])
        assert torch.all((mean - 1).abs() < 4 * se + 1e-12), (mean, se)


def test_iwae_bound_is_below_log_p_x_rises_with_k_and_converges(model):
    torch.manual_seed(2)
    x, _ = model.sample(1)
    exact = model.log_marginal(x).item()
    for q, big_k in [(model.prior, 5000), (broad_q(model, x[0]), 2000)]:
        means, ses = [], []
        for k in (1, 4, 16, 64):
            draws = iwae_bound(model, x.expand(1000, -1), q, n_samples=k)
            means.append(draws.mean().item())
            ses.append(draws.std().item() / math.sqrt(1000))
        assert all(m < exact + 4 * s for m, s in zip(means, ses))                       # a lower bound
        assert all(m2 > m1 for m1, m2 in zip(means, means[1:]))                         # rising with K
        converged = iwae_bound(model, x.expand(50, -1), q, n_samples=big_k)       # bias O(1/K), here below 0.005
        se = converged.std().item() / math.sqrt(50)
        assert abs(converged.mean().item() - exact) < 4 * se + 0.005, (converged.mean().item(), exact, se)


def test_iwae_bound_with_one_sample_is_a_one_sample_elbo_in_expectation(model):
    torch.manual_seed(3)
    x, _ = model.sample(2)
    q = broad_q(model, x, width=1.7)
    elbo = model.elbo(x, q)                                      # closed form
    draws = iwae_bound(model, x.repeat(20_000, 1),                      # 20,000 copies of both rows
                       MultivariateNormal(q.mean.repeat(20_000, 1), q.covariance_matrix.repeat(20_000, 1, 1)),
                       n_samples=1).reshape(20_000, 2)
    se = draws.std(0) / math.sqrt(20_000)
    assert torch.all((draws.mean(0) - elbo).abs() < 4 * se), (draws.mean(0), elbo, se)
    # and, on the same noise, K = 1 is log p(x, z) - log q(z) at one draw z: the integrand of elbo_monte_carlo
    torch.manual_seed(4)
    one = iwae_bound(model, x, q, n_samples=1)
    torch.manual_seed(4)
    torch.testing.assert_close(one, elbo_monte_carlo(model, x, q, n_samples=1), rtol=0, atol=1e-12)


def test_chunking_changes_memory_not_the_distribution_of_the_estimate(model):
    torch.manual_seed(5)
    x, _ = model.sample(1)
    xs, q = x.expand(400, -1), model.prior
    whole = iwae_bound(model, xs, q, n_samples=300, chunk=300)
    pieces = iwae_bound(model, xs, q, n_samples=300, chunk=7)        # 42 chunks of 7 and one of 6
    assert whole.shape == pieces.shape == (400,)
    assert stats.ks_2samp(whole.numpy(), pieces.numpy()).pvalue > 1e-3
    se = math.hypot(whole.std().item(), pieces.std().item()) / math.sqrt(400)
    assert abs(whole.mean().item() - pieces.mean().item()) < 4 * se
    # with the posterior every chunk's weights are p(x): any chunking gives log p(x) exactly
    post = model.posterior(x)
    for chunk in (1, 3, 64):
        torch.testing.assert_close(iwae_bound(model, x, post, n_samples=64, chunk=chunk), model.log_marginal(x),
                                   rtol=0, atol=1e-10)


def test_the_estimates_are_differentiable_in_q(model):
    x, _ = model.sample(1)
    mean = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    q = Independent(Normal(mean, torch.ones_like(mean)), 1)
    for estimate in (iwae_bound(model, x, q, n_samples=8), elbo_monte_carlo(model, x, q, n_samples=8),
                     elbo_closed_form_kl(model, x, q, n_samples=8)):
        (gradient,) = torch.autograd.grad(estimate.sum(), mean)
        assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


class _ConditionalModel:
    """A tiny conditional model: p(z) = N(0, 1), p(x | z, y) = N(z + y, 1). It records the labels it was given."""

    def __init__(self):
        self.prior = Independent(Normal(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)), 1)
        self.seen = []

    def log_joint(self, x, z, *, y=None):
        self.seen.append(y)
        shift = 0.0 if y is None else y.to(x)[:, None]
        return self.prior.log_prob(z) + Independent(Normal(z + shift, 1.0), 1).log_prob(x)


def test_labels_reach_the_conditional_model_and_change_the_answer():
    model = _ConditionalModel()
    x = torch.tensor([[2.0], [-1.0], [0.5]], dtype=torch.float64)
    y = torch.tensor([2, -1, 0])
    # exact: x | y ~ N(y, 2)
    exact = Normal(y.double(), math.sqrt(2.0)).log_prob(x[:, 0])
    post = Normal(((x[:, 0] - y) / 2)[:, None], math.sqrt(0.5))      # p(z | x, y) = N((x - y)/2, 1/2)
    torch.testing.assert_close(iwae_bound(model, x, Independent(post, 1), n_samples=5, y=y), exact, rtol=0, atol=1e-12)
    assert all(seen is y for seen in model.seen)
    log_w = log_importance_weights(model, x, Independent(post, 1), n_samples=4, y=y)
    torch.testing.assert_close(log_w, exact.expand(4, 3), rtol=0, atol=1e-12)
    model.seen.clear()
    unlabelled = iwae_bound(model, x, Independent(post, 1), n_samples=5)   # y=None: the model's own default
    assert model.seen == [None] and not torch.allclose(unlabelled, exact)


# ---------------------------------------------------------------- the ELBO estimators


def test_monte_carlo_elbo_estimators_are_unbiased():
    model = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.6, seed=4)
    torch.manual_seed(3)
    x, _ = model.sample(2)
    post = model.posterior(x)
    q = Independent(Normal(post.mean + 0.3, 2 * torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1).sqrt()), 1)
    exact = model.elbo(x, q)
    # Which estimator varies less depends on q (here, a q twice as wide as the posterior, the fully
    # sampled one does): chapter 4 measures it, so only unbiasedness is a property to test.
    for estimator in (elbo_monte_carlo, elbo_closed_form_kl):
        estimates = torch.stack([estimator(model, x, q, n_samples=10) for _ in range(2000)])
        assert torch.all((estimates.mean(0) - exact).abs() < 4 * estimates.std(0) / math.sqrt(2000)), estimator


def test_kl_to_prior_is_torchs_closed_form(model):
    q = Independent(Normal(torch.tensor([[0.3, -1.0]], dtype=torch.float64),
                           torch.tensor([[0.5, 2.0]], dtype=torch.float64)), 1)
    expected = 0.5 * (0.25 + 4.0 + 0.09 + 1.0 - 2 - math.log(0.25) - math.log(4.0))   # (tr S + |m|^2 - L - log det S) / 2
    torch.testing.assert_close(kl_to_prior(q, model.prior), torch.tensor([expected], dtype=torch.float64))
    torch.testing.assert_close(kl_to_prior(q, model.prior), kl_divergence(q, model.prior))


# ---------------------------------------------------------------- bad input


def test_bad_input_is_named(model):
    x, _ = model.sample(2)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        iwae_bound(model, x, model.prior, n_samples=0)
    with pytest.raises(TypeError, match="positional"):
        iwae_bound(model, x, model.prior, 5)                                # n_samples is keyword-only
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        iwae_bound(model, x, model.prior, n_samples=5, chunk=0)
    with pytest.raises(ValueError, match="event shape"):
        iwae_bound(model, x, Independent(Normal(torch.zeros(3), torch.ones(3)), 1), n_samples=5)
    with pytest.raises(ValueError, match="batch shape"):
        q = Independent(Normal(torch.zeros(5, 2, dtype=torch.float64), torch.ones(5, 2, dtype=torch.float64)), 1)
        iwae_bound(model, x, q, n_samples=5)
    with pytest.raises(TypeError, match="torch.distributions"):
        iwae_bound(model, x, "normal", n_samples=5)
    with pytest.raises(ValueError, match="x must have 2 dimension"):
        iwae_bound(model, x[0], model.prior, n_samples=5)
    with pytest.raises(ValueError, match="NaN"):
        log_importance_weights(model, torch.full((1, 4), float("nan")), model.prior, n_samples=5)
    with pytest.raises(TypeError, match="prior"):
        iwae_bound(object(), x, model.prior, n_samples=5)
    with pytest.raises(TypeError, match="rsample"):
        elbo_monte_carlo(model, x, OneHotCategorical(torch.ones(2)), n_samples=4)
    with pytest.raises(ValueError, match="n_samples must be"):
        elbo_closed_form_kl(model, x, model.prior, n_samples=0)
    with pytest.raises(TypeError, match="no closed-form KL"):
        kl_to_prior(model.posterior(x), model.prior)
    with pytest.raises(TypeError, match="floating-point torch.Tensor"):
        log_mean_exp([0.0, 1.0])
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        log_mean_exp(torch.tensor([0.0, math.inf]))
