import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Independent, MultivariateNormal, Normal

from vitools.divergences import (entropy, fit_factorised_gaussian, fit_gaussian, gaussian_entropy, kl_discrete,
                                 kl_gaussian, kl_gaussian_target, two_mode_target)

RNG = np.random.default_rng(0)


def two_modes(distance, weight_left=0.5):
    return two_mode_target(distance, weight_left)


def test_two_mode_target_and_its_validation():
    target = two_modes(6.0, 0.3)
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
    # KL = cross-entropy - entropy
    np.testing.assert_allclose(kl, -(p * np.log(q)).sum(-1) - entropy(p), rtol=1e-10)


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
    ours = kl_gaussian_target(target, means[:, 0], stds[:, 0], direction)
    exact = kl_gaussian(means, stds, 0.3, 1.7) if direction == "reverse" else kl_gaussian(0.3, 1.7, means, stds)
    torch.testing.assert_close(ours, exact, rtol=1e-6, atol=1e-6)


def test_kl_to_a_mixture_matches_monte_carlo():
    target = two_modes(6.0, 0.3)
    torch.manual_seed(1)
    q = Normal(torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    for direction, sampler in [("reverse", q), ("forward", target)]:
        z = sampler.sample((400_000,))
        log_ratio = (q.log_prob(z) - target.log_prob(z)) * (1 if direction == "reverse" else -1)
        exact = kl_gaussian_target(target, 1.0, 2.0, direction)
        assert abs(log_ratio.mean() - exact) < 4 * log_ratio.std() / math.sqrt(len(z)), direction


def test_forward_fit_matches_moments():
    target = two_modes(6.0, 0.3)
    fit = fit_gaussian(target, "forward", init=(-2.0, 0.5))
    assert fit.mean.item() == pytest.approx(target.mean.item(), abs=1e-4)
    assert fit.std.item() == pytest.approx(target.stddev.item(), abs=1e-4)
    assert fit.history[-1] <= fit.history[0]


@pytest.mark.parametrize("start, mode", [(-2.0, -4.0), (1.5, 4.0), (5.5, 4.0)])
def test_reverse_fit_locks_onto_the_nearer_mode(start, mode):
    fit = fit_gaussian(two_modes(8.0), "reverse", init=(start, 1.0))
    assert fit.mean.item() == pytest.approx(mode, abs=0.01) and fit.std.item() == pytest.approx(1.0, abs=0.01)
    assert fit.history[-1] == pytest.approx(math.log(2), abs=1e-3)       # KL(q || p) = log 2 for one of two equal modes


def test_reverse_fit_reaches_a_stationary_point_that_is_a_minimum():
    target = two_modes(8.0)
    for start in (-0.7, 0.5, 1.0):
        fit = fit_gaussian(target, "reverse", init=(start, 1.0))
        theta = torch.stack([fit.mean, fit.std.log()])
        hessian = torch.autograd.functional.hessian(
            lambda t: kl_gaussian_target(target, t[0], t[1].exp(), "reverse"), theta)
        assert torch.linalg.eigvalsh(hessian).min() > 0, (start, fit)


def test_factorised_fits_hit_the_known_optima():
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    target = MultivariateNormal(torch.tensor([1.0, -1.0], dtype=torch.float64), cov)
    reverse, forward = fit_factorised_gaussian(target, "reverse"), fit_factorised_gaussian(target, "forward")
    torch.testing.assert_close(reverse.mean, target.mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(forward.mean, target.mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(reverse.std**2, 1 / torch.linalg.inv(cov).diagonal(), atol=1e-6, rtol=0)   # 0.19
    torch.testing.assert_close(forward.std**2, cov.diagonal(), atol=1e-6, rtol=0)                         # 1.0


def test_fitting_rejects_bad_input():
    target = two_modes(4.0)
    with pytest.raises(ValueError, match="direction must be"):
        fit_gaussian(target, "sideways")
    with pytest.raises(ValueError, match="init std"):
        fit_gaussian(target, init=(0.0, -1.0))
    with pytest.raises(TypeError, match="torch.distributions"):
        fit_gaussian(lambda z: z)
    with pytest.raises(ValueError, match="single 1-D"):
        fit_gaussian(Normal(torch.zeros(2), torch.ones(2)))
    with pytest.raises(ValueError, match="steps must be"):
        fit_gaussian(target, steps=0)
    with pytest.raises(TypeError, match="MultivariateNormal"):
        fit_factorised_gaussian(target)


@pytest.mark.parametrize("call, error, match", [
    (lambda: entropy([0.5, 0.6]), ValueError, "sums to 1.1"),
    (lambda: entropy([[0.5, 0.5], [1.5, -0.5]]), ValueError, r"p\[1\] has negative entries"),
    (lambda: kl_gaussian_target(two_modes(4.0), 0.0, 1.0, "both"), ValueError, "direction must be"),
    (lambda: kl_gaussian_target(two_modes(4.0), 0.0, 0.0), ValueError, "std holds standard deviations"),
    (lambda: kl_gaussian_target("p", 0.0, 1.0), TypeError, "torch.distributions"),
    (lambda: fit_factorised_gaussian(MultivariateNormal(torch.zeros(2), torch.eye(2)), "up"), ValueError, "direction"),
])
def test_every_function_names_the_bad_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
