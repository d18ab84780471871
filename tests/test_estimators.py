import math

import pytest
import torch
from torch.distributions import Bernoulli, Exponential, Normal, RelaxedBernoulli

from vitools.estimators import iwae_bound, optimal_baseline, reparam_grad, score_function_grad
from vitools.lvm import LinearGaussianLVM
from vitools.marginal import log_importance_weights

N = 200_000


def gaussian(mu=1.0, sigma=1.0):
    return Normal(torch.tensor(mu, dtype=torch.float64, requires_grad=True),
                  torch.tensor(sigma, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("k", [0.0, 1.0, 3.0])
def test_variances_match_the_analytic_values(k):
    # z ~ N(1, 1), f(z) = (z - k)^2, a = 1 - k, gradient with respect to the mean: exactly 2a
    a, f = 1.0 - k, (lambda z: (z - k) ** 2)
    torch.manual_seed(0)
    cases = {"pathwise": (reparam_grad(f, gaussian(), N)["loc"], 4.0),
             "score": (score_function_grad(f, gaussian(), N)["loc"], a**4 + 14 * a**2 + 15),
             "score, b = E[f]": (score_function_grad(f, gaussian(), N, baseline=1 + a**2)["loc"], 10 + 8 * a**2),
             "score, b = b*": (score_function_grad(f, gaussian(), N, baseline=3 + a**2)["loc"], 6 + 8 * a**2)}
    for name, (g, variance) in cases.items():
        assert abs(g.mean().item() - 2 * a) < 4 * g.std().item() / math.sqrt(N), name          # unbiased
        assert abs(g.var().item() / variance - 1) < 0.05, (name, g.var().item(), variance)      # within 5%


def test_gradients_with_respect_to_the_scale_are_unbiased_too():
    # E_q[z^2] = mu^2 + sigma^2, so d/dsigma = 2 sigma = 3 at sigma = 1.5
    torch.manual_seed(1)
    for estimator in (score_function_grad, reparam_grad):
        g = estimator(lambda z: z**2, gaussian(0.5, 1.5), N)["scale"]
        assert abs(g.mean().item() - 3.0) < 4 * g.std().item() / math.sqrt(N), estimator.__name__


def test_optimal_baseline_is_not_the_mean_of_f():
    torch.manual_seed(2)
    b = optimal_baseline(lambda z: (z - 3.0) ** 2, gaussian(), N)["loc"].item()
    assert abs(b - (3 + 4.0)) < 0.1 and abs(b - (1 + 4.0)) > 1.5     # 3 + a^2 with a = -2, not E[f] = 1 + a^2


def test_leave_one_out_baseline_is_unbiased_and_reduces_variance():
    torch.manual_seed(3)
    f = lambda z: (z - 3.0) ** 2                                      # noqa: E731
    plain = torch.stack([score_function_grad(f, gaussian(), 8)["loc"].mean() for _ in range(4000)])
    loo = torch.stack([score_function_grad(f, gaussian(), 8, baseline="leave-one-out")["loc"].mean() for _ in range(4000)])
    assert abs(loo.mean().item() + 4.0) < 4 * loo.std().item() / math.sqrt(4000)
    assert loo.var() < 0.6 * plain.var()


def test_discrete_latents_score_function_and_relaxation():
    p, f = torch.tensor(0.6, dtype=torch.float64, requires_grad=True), (lambda z: (z - 0.45) ** 2)
    exact = f(1.0) - f(0.0)                                           # d/dp [p f(1) + (1 - p) f(0)]
    torch.manual_seed(4)
    g = score_function_grad(f, Bernoulli(probs=p), N)["probs"]
    assert abs(g.mean().item() - exact) < 4 * g.std().item() / math.sqrt(N)
    assert abs(g.var().item() / (f(1.0) ** 2 / 0.6 + f(0.0) ** 2 / 0.4 - exact**2) - 1) < 0.05
    with pytest.raises(ValueError, match="no reparameterised sampler"):
        reparam_grad(f, Bernoulli(probs=p), 10)
    relaxed = reparam_grad(f, RelaxedBernoulli(torch.tensor(1.0, dtype=torch.float64), probs=p), N)["probs"]
    assert abs(relaxed.mean().item() - exact) > 10 * relaxed.std().item() / math.sqrt(N)   # biased


def test_inverse_cdf_reparameterisation_of_an_exponential():
    # E[z] = 1 / rate for z ~ Exponential(rate): d/d rate = -1 / rate^2
    rate = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(5)
    g = reparam_grad(lambda z: z, Exponential(rate), N)["rate"]
    assert abs(g.mean().item() + 0.25) < 4 * g.std().item() / math.sqrt(N)


def test_iwae_bound_is_monotone_in_k_and_below_log_p():
    model = LinearGaussianLVM.random(x_dim=4, z_dim=2, sigma=0.5, seed=0)
    torch.manual_seed(6)
    x, _ = model.sample(1)
    exact = model.log_marginal(x).item()
    bounds = []
    for k in (1, 4, 16, 64):
        log_w = log_importance_weights(model, x.expand(2000, -1), model.prior, k)      # (k, 2000)
        bounds.append(iwae_bound(log_w, dim=0).mean().item())
    assert all(b1 < b2 for b1, b2 in zip(bounds, bounds[1:])) and bounds[-1] < exact


def test_iwae_bound_is_stable_and_validates():
    log_w = torch.full((100_000,), -1e4, dtype=torch.float64)
    log_w[0] = 1e4
    assert iwae_bound(log_w).item() == pytest.approx(1e4 - math.log(100_000))
    with pytest.raises(ValueError, match="NaN"):
        iwae_bound(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="at least one sample"):
        iwae_bound(torch.tensor(1.0))


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="torch.distributions"):
        score_function_grad(lambda z: z, "normal", 10)
    with pytest.raises(ValueError, match="requires_grad=True"):
        reparam_grad(lambda z: z, Normal(0.0, 1.0), 10)
    with pytest.raises(ValueError, match="n_samples must be"):
        score_function_grad(lambda z: z, gaussian(), 0)
    with pytest.raises(ValueError, match="one value per sample"):
        reparam_grad(lambda z: z.sum(), gaussian(), 10)
    with pytest.raises(ValueError, match="leave-one-out"):
        score_function_grad(lambda z: z, gaussian(), 10, baseline="mean")
    with pytest.raises(ValueError, match="differentiabl"):
        reparam_grad(lambda z: (z > 0).double(), gaussian(), 10)


@pytest.mark.parametrize("mu, k, c", [(1.0, 3.0, 0.0), (1.0, 3.0, 4.0), (0.5, -1.0, 2.5), (2.0, 2.0, 0.0)])
def test_score_variance_quadratic_is_exact_in_one_dimension(mu, k, c):
    # Gauss-Hermite quadrature with 20 nodes integrates the degree-6 polynomial (f - c)^2 eps^2 exactly
    import numpy as np
    from vitools.estimators import score_variance_quadratic

    eps, weights = np.polynomial.hermite_e.hermegauss(20)
    weights = weights / weights.sum()
    terms = ((mu + eps - k) ** 2 - c) * eps
    exact = (weights * terms**2).sum() - (weights * terms).sum() ** 2
    assert score_variance_quadratic(mu, k, 1, c) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("kind, dim", [("quadratic", 4), ("linear", 1), ("linear", 5)])
def test_score_variances_match_the_estimator(kind, dim):
    from vitools.estimators import score_variance_linear, score_variance_quadratic

    torch.manual_seed(0)
    n, mu, k = 200_000, 1.0, 3.0
    loc = torch.full((dim,), mu, dtype=torch.float64, requires_grad=True)
    dist = Normal(loc, torch.ones(dim, dtype=torch.float64))
    f = (lambda z: ((z - k) ** 2).sum(-1)) if kind == "quadratic" else (lambda z: z.sum(-1))
    estimates = score_function_grad(f, dist, n)["loc"][:, 0]
    centred = estimates - estimates.mean()
    measured = centred.pow(2).mean().item()
    se = math.sqrt((centred.pow(4).mean().item() - measured**2) / n)
    exact = score_variance_quadratic(mu, k, dim) if kind == "quadratic" else score_variance_linear(mu, dim)
    assert abs(measured - exact) < 5 * se, (measured, exact, se)
