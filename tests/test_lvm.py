import numpy as np
import pytest
import torch
from scipy import stats

from vitools.lvm import LinearGaussianLVM


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
