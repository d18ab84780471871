import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vitools.lvm import LinearGaussianLVM, ppca_maximum_likelihood


@pytest.fixture
def model():
    return LinearGaussianLVM.random(x_dim=5, z_dim=3, sigma=0.4, seed=0)


def test_log_marginal_matches_scipy(model):
    torch.manual_seed(0)
    x, _ = model.sample(6)
    W, b, s = model.W.numpy(), model.b.numpy(), model.sigma
    expected = stats.multivariate_normal(b, W @ W.T + s**2 * np.eye(5)).logpdf(x.numpy())
    np.testing.assert_allclose(model.log_marginal(x).numpy(), expected, rtol=1e-10)


def test_posterior_satisfies_bayes_rule(model):
    # log p(x, z) - log p(z | x) = log p(x) for every z, which pins down the posterior exactly
    torch.manual_seed(1)
    x, _ = model.sample(4)
    z = torch.randn(7, 4, 3, dtype=torch.float64) * 2
    gap = model.log_joint(x, z) - model.posterior(x).log_prob(z)
    torch.testing.assert_close(gap, model.log_marginal(x).expand(7, 4), rtol=0, atol=1e-10)


def test_log_joint_matches_torch_distributions(model):
    z = torch.randn(4, 3, dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    mvn = torch.distributions.MultivariateNormal
    expected = (mvn(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)).log_prob(z)
                + mvn(z @ model.W.T + model.b, model.sigma**2 * torch.eye(5, dtype=torch.float64)).log_prob(x))
    torch.testing.assert_close(model.log_joint(x, z), expected)


def test_samples_have_the_marginal_moments(model):
    torch.manual_seed(2)
    x, z = model.sample(200_000)
    assert x.shape == (200_000, 5) and z.shape == (200_000, 3)
    torch.testing.assert_close(x.mean(0), model.b, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), model.marginal().covariance_matrix, atol=0.08, rtol=0.02)


def test_random_model_is_repeatable_and_leaves_global_rng_alone():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = LinearGaussianLVM.random(3, 2, 0.5, seed=11)
    after = torch.rand(1)
    b = LinearGaussianLVM.random(3, 2, 0.5, seed=11)
    assert torch.equal(a.W, b.W) and torch.equal(a.b, b.b) and torch.equal(before, after)


@pytest.mark.parametrize("kwargs, match", [
    (dict(W=torch.ones(3), b=torch.zeros(3), sigma=1.0), "W must have 2 dimension"),
    (dict(W=torch.ones(3, 2), b=torch.zeros(2), sigma=1.0), "b has length 2"),
    (dict(W=torch.ones(3, 2), b=torch.zeros(3), sigma=0.0), "sigma is the noise standard deviation"),
    (dict(W=torch.ones(3, 2), b=torch.zeros(3), sigma=-1.0), "must be a finite number > 0"),
    (dict(W=torch.ones(3, 2), b=torch.zeros(3), sigma=float("nan")), "must be a finite number > 0"),
    (dict(W=torch.full((3, 2), float("inf")), b=torch.zeros(3), sigma=1.0), "W contains NaN or infinite"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearGaussianLVM(**kwargs)


def test_bad_shapes_are_rejected(model):
    with pytest.raises(ValueError, match="x must have last dimension D = 5"):
        model.log_marginal(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="z must have last dimension L = 3"):
        model.decoder(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        model.sample(0)


def test_random_takes_its_options_by_keyword():
    with pytest.raises(TypeError, match="positional"):
        LinearGaussianLVM.random(3, 2, 0.5, 0)
    assert LinearGaussianLVM.random(3, 2, 0.5, seed=1, dtype=torch.float32).W.dtype == torch.float32


# ---------------------------------------------------------------- the ELBO in closed form

@pytest.fixture
def setup():
    model = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.6, seed=4)
    torch.manual_seed(0)
    x, _ = model.sample(3)
    g = torch.Generator().manual_seed(1)
    mean = torch.randn(3, 2, generator=g, dtype=torch.float64)
    A = torch.randn(3, 2, 2, generator=g, dtype=torch.float64)
    q = MultivariateNormal(mean, A @ A.transpose(-1, -2) + 0.1 * torch.eye(2, dtype=torch.float64))  # arbitrary q
    return model, x, q


def test_elbo_identity_holds_exactly_for_any_gaussian_q(setup):
    model, x, q = setup
    terms = model.elbo_terms(x, q)
    gap = kl_divergence(q, model.posterior(x))                       # library KL between Gaussians
    torch.testing.assert_close(terms["elbo"] + gap, model.log_marginal(x), rtol=0, atol=1e-10)
    torch.testing.assert_close(terms["expected_log_joint"] + terms["entropy"], terms["elbo"], rtol=0, atol=1e-10)
    # KL(q || p(z)) written out: (tr Sigma_q + |m|^2 - L - log det Sigma_q) / 2
    cov = q.covariance_matrix
    written_out = 0.5 * (torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + (q.mean**2).sum(-1) - 2 - torch.logdet(cov))
    torch.testing.assert_close(terms["kl_to_prior"], written_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(terms["entropy"], q.entropy())
    torch.testing.assert_close(model.elbo(x, q), terms["elbo"])
    assert torch.all(terms["elbo"] < model.log_marginal(x))


def test_the_posterior_makes_the_bound_tight(setup):
    model, x, _ = setup
    torch.testing.assert_close(model.elbo(x, model.posterior(x)), model.log_marginal(x))


def test_closed_form_terms_match_monte_carlo(setup):
    model, x, q = setup
    torch.manual_seed(2)
    z = q.sample((200_000,))
    for name, samples in [("expected_log_likelihood", model.decoder(z).log_prob(x)),
                          ("expected_log_prior", model.prior.log_prob(z))]:
        se = samples.std(0) / math.sqrt(len(z))
        assert torch.all((samples.mean(0) - model.elbo_terms(x, q)[name]).abs() < 4 * se), name


def test_a_factorised_q_is_the_multivariate_normal_with_diagonal_covariance(setup):
    model, x, _ = setup
    loc = torch.tensor([[0.1, -0.3], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    scale = torch.tensor([[0.5, 2.0], [1.0, 0.1], [0.3, 0.3]], dtype=torch.float64)
    factorised = model.elbo_terms(x, Independent(Normal(loc, scale), 1))
    full = model.elbo_terms(x, MultivariateNormal(loc, scale_tril=torch.diag_embed(scale)))
    for name in full:
        torch.testing.assert_close(factorised[name], full[name], rtol=0, atol=1e-12)
    prior_terms = model.elbo_terms(x, model.prior)                   # q = p(z), batch shape (): KL 0 for every row
    assert prior_terms["kl_to_prior"].shape == (3,) and prior_terms["kl_to_prior"].abs().max() < 1e-12


def test_the_closed_form_elbo_is_differentiable_in_q(setup):
    model, x, _ = setup
    loc = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    log_scale = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    model.elbo(x, Independent(Normal(loc, log_scale.exp()), 1)).sum().backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(log_scale.grad).all() and loc.grad.abs().sum() > 0


def test_elbo_terms_rejects_a_q_that_is_not_gaussian_over_z(setup):
    model, x, q = setup
    with pytest.raises(TypeError, match="q must be a torch.distributions.MultivariateNormal or Independent"):
        model.elbo_terms(x, Independent(torch.distributions.Laplace(torch.zeros(3, 2), torch.ones(3, 2)), 1))
    with pytest.raises(TypeError, match=r"event shape \(2,\)"):
        model.elbo_terms(x, Independent(Normal(torch.zeros(3, 3), torch.ones(3, 3)), 1))
    with pytest.raises(ValueError, match=r"batch shape \(\) or \(2,\)"):
        model.elbo_terms(x[:2], q)


# ---------------------------------------------------------------- probabilistic PCA in closed form

def test_ppca_maximum_likelihood_is_the_maximum_and_matches_scikit_learn():
    from sklearn.decomposition import PCA

    truth = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.5, seed=1)
    torch.manual_seed(3)
    x, _ = truth.sample(2000)
    fitted = ppca_maximum_likelihood(x, 2)
    best = fitted.log_marginal(x).mean()
    sklearn_score = PCA(n_components=2).fit(x.numpy()).score(x.numpy())   # its covariance divides by N - 1, so
    assert 0 <= best.item() - sklearn_score < 1e-5                         # it lies a hair below the maximum
    assert best > truth.log_marginal(x).mean()                       # the truth is not the maximum on a sample
    # a stationary point: the gradient of the mean log-likelihood in (W, b, sigma) vanishes
    W, b = fitted.W.clone().requires_grad_(), fitted.b.clone().requires_grad_()
    log_sigma = torch.tensor(math.log(fitted.sigma), dtype=torch.float64, requires_grad=True)
    cov = W @ W.T + torch.exp(2 * log_sigma) * torch.eye(5, dtype=torch.float64)
    grads = torch.autograd.grad(MultivariateNormal(b, cov).log_prob(x).mean(), [W, b, log_sigma])
    assert all(g.abs().max() < 1e-8 for g in grads)


def test_ppca_maximum_likelihood_rejects_impossible_requests():
    with pytest.raises(ValueError, match="z_dim must be smaller"):
        ppca_maximum_likelihood(torch.zeros(4, 3), 3)
    with pytest.raises(ValueError, match="at least two rows"):
        ppca_maximum_likelihood(torch.zeros(1, 3), 1)
    with pytest.raises(ValueError, match="sigma would be 0"):
        ppca_maximum_likelihood([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 0.0]], 2)
