"""vitools.objectives: the ELBO and L_K estimators against closed forms and against each other.

The linear-Gaussian model p(z) = N(0, I), p(x | z) = N(W z + b, sigma^2 I) gives the exact posterior, log p(x) and,
for a Gaussian q = N(m, T T^T), the ELBO in closed form,

    ELBO(q) = -D/2 log(2 pi sigma^2) - (|x - W m - b|^2 + |W T|_F^2) / (2 sigma^2) - KL(q || p(z)),

typed out below (its KL from torch.distributions), so its autograd gradient is the exact gradient every estimator
must average to. The Monte Carlo comparisons use gradient_moments' mean and variance over independent repeats, with
a tolerance of 5 standard errors; every seed is fixed, so the tests are deterministic.
"""

import copy
import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vitools.lvm import LinearGaussianLVM
from vitools.objectives import (ELBO, IWAE, encoder_decoder_moments, fit_gaussian, gradient_moments, held_fixed,
                                kl_warmup, surrogate)
from vitools.vae import VAE, train
from vitools._validate import distribution_checks_off

pytestmark = pytest.mark.usefixtures("one_thread")

LVM = LinearGaussianLVM.random(4, 2, 0.7, seed=1)                       # float64
X1 = torch.tensor([0.5, -1.0, 1.5, 0.3], dtype=torch.float64)          # one data point, D = 4
PRIOR = LVM.prior                                                       # Independent(Normal), event (2,)


def log_likelihood(z):
    """log p(X1 | z) for z of shape (K, L): shape (K,)."""
    return LVM.decoder(z).log_prob(X1)


def closed_form_elbo(m, T, x=X1):
    """ELBO(N(m, T T^T)) for the linear-Gaussian model, with nothing sampled."""
    residual = x - LVM.W @ m - LVM.b
    D = x.shape[-1]
    expected_log_likelihood = -0.5 * D * math.log(2 * math.pi * LVM.sigma**2) \
        - (residual.square().sum() + (LVM.W @ T).square().sum()) / (2 * LVM.sigma**2)
    standard = MultivariateNormal(torch.zeros_like(m), scale_tril=torch.eye(m.shape[0], dtype=m.dtype))
    return expected_log_likelihood - kl_divergence(MultivariateNormal(m, scale_tril=T), standard)


def away_from_posterior():
    """A diagonal q = N(m, diag(exp(log_s)^2)) far from p(z | X1), its parameters leaves with requires_grad."""
    m = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    log_s = torch.tensor([-0.3, 0.3], dtype=torch.float64, requires_grad=True)
    return m, log_s


def estimator_moments(estimator, m, log_s, *, bound="elbo", n_samples, n_repeats, seed=0):
    """gradient_moments of one estimator's surrogate for the diagonal q, and the bound values it returned."""
    values = []

    def loss():
        value, bound_value = surrogate(log_likelihood, PRIOR, Independent(Normal(m, log_s.exp()), 1), bound=bound,
                                       n_samples=n_samples, estimator=estimator)
        values.append(bound_value)
        return value

    with distribution_checks_off():
        moments = gradient_moments(loss, {"q": [m, log_s]}, n_repeats=n_repeats, seed=seed)["q"]
    return moments, torch.stack(values)


# ---------------------------------------------------------------- the reference itself

def test_closed_form_elbo_is_log_marginal_at_the_posterior_and_the_lvms_elbo_elsewhere():
    posterior = LVM.posterior(X1[None])
    at_posterior = closed_form_elbo(posterior.loc[0], posterior.scale_tril[0])
    torch.testing.assert_close(at_posterior, LVM.log_marginal(X1[None])[0], rtol=0, atol=1e-10)
    m, log_s = away_from_posterior()
    q = Independent(Normal(m, log_s.exp()), 1)
    torch.testing.assert_close(closed_form_elbo(m, torch.diag(log_s.exp())), LVM.elbo(X1[None], q)[0], rtol=0,
                               atol=1e-10)
    assert closed_form_elbo(m, torch.diag(log_s.exp())) < at_posterior - 1     # and q is far from the posterior


# ---------------------------------------------------------------- ELBO estimators

def test_path_estimator_has_zero_variance_at_the_exact_posterior():
    """At q = p(z | x), d/dz [log p(x, z) - log q(z)] = 0 for every z: "sticking the landing"."""
    posterior = LVM.posterior(X1[None])
    loc = posterior.loc[0].clone().requires_grad_()
    tril = posterior.scale_tril[0].clone().requires_grad_()
    moments = {}
    with distribution_checks_off():
        for estimator in ("full", "path_derivative"):
            moments[estimator] = gradient_moments(
                lambda: surrogate(log_likelihood, PRIOR, MultivariateNormal(loc, scale_tril=tril), n_samples=4,
                                  estimator=estimator)[0], {"loc": [loc], "tril": [tril]}, n_repeats=200)
    lower = torch.tril(torch.ones(2, 2, dtype=torch.bool)).flatten()      # the free entries of the Cholesky factor
    for group in ("loc", "tril"):
        path, total = moments["path_derivative"][group], moments["full"][group]
        assert torch.all(path["variance"] < 1e-24) and torch.all(path["mean"].abs() < 1e-12)
        free = slice(None) if group == "loc" else lower
        assert torch.all(total["variance"][free] > 0.05)                 # the score term's noise
        # the ELBO's gradient at its maximiser is zero: the total estimator averages to it too
        assert torch.all(total["mean"].abs() < 5 * (total["variance"] / 200).sqrt() + 1e-12)


@pytest.mark.parametrize("estimator", ["closed_form_kl", "full", "path_derivative"])
def test_elbo_gradient_estimators_average_to_the_closed_form_gradient(estimator):
    m, log_s = away_from_posterior()
    exact_value = closed_form_elbo(m, torch.diag(log_s.exp()))
    exact = torch.cat(torch.autograd.grad(exact_value, [m, log_s]))
    n_repeats = 400
    moments, values = estimator_moments(estimator, m, log_s, n_samples=64, n_repeats=n_repeats)
    stderr = (moments["variance"] / n_repeats).sqrt()
    assert torch.all(exact.abs() > 20 * stderr)                          # a gradient well resolved ...
    assert torch.all((moments["mean"] - exact).abs() < 5 * stderr)       # ... and matched
    value_stderr = values.std() / math.sqrt(n_repeats)
    assert abs(values.mean() - exact_value.detach()) < 5 * value_stderr + 1e-12   # the bound too, unbiased


def test_the_path_estimator_is_the_total_one_without_the_score_term():
    """Same random numbers: the same bound value; the gradients differ by minus the score d log q(z) / d(m, log s)
    at fixed z, whose expectation is zero (so both are unbiased)."""
    m, log_s = away_from_posterior()
    values, grads = {}, {}
    for estimator in ("full", "path_derivative"):
        torch.manual_seed(4)
        q = Independent(Normal(m, log_s.exp()), 1)
        value, values[estimator] = surrogate(log_likelihood, PRIOR, q, n_samples=8, estimator=estimator)
        grads[estimator] = torch.cat(torch.autograd.grad(value, [m, log_s]))
    torch.testing.assert_close(values["path_derivative"], values["full"], rtol=0, atol=0)
    # the score function d log q(z) / d(m, log s) at fixed z, averaged over the same 8 samples, typed out
    torch.manual_seed(4)
    z = m.detach() + log_s.detach().exp() * torch.randn(8, 2, dtype=torch.float64)
    s = log_s.detach().exp()
    score = torch.cat([((z - m.detach()) / s**2).mean(0), (((z - m.detach()) / s) ** 2 - 1).mean(0)])
    torch.testing.assert_close(grads["full"] - grads["path_derivative"], -score, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- L_K estimators

def test_iwae_total_and_dreg_agree_in_mean_and_dreg_has_lower_encoder_variance():
    m, log_s = away_from_posterior()
    n_repeats = 400
    total, _ = estimator_moments("full", m, log_s, bound="iwae", n_samples=10, n_repeats=n_repeats, seed=1)
    dreg, _ = estimator_moments("dreg", m, log_s, bound="iwae", n_samples=10, n_repeats=n_repeats, seed=2)
    stderr = ((total["variance"] + dreg["variance"]) / n_repeats).sqrt()   # independent seeds
    assert torch.all((total["mean"] - dreg["mean"]).abs() < 5 * stderr)
    assert dreg["mean"].norm() > 10 * stderr.norm()                          # a real gradient to compare
    assert torch.all(dreg["variance"] < 0.5 * total["variance"])


def test_iwae_with_one_sample_is_the_elbo_for_the_same_random_numbers():
    """L_1 = ELBO: IWAE "full" is ELBO "full" and IWAE "dreg" (weight w~^2 = 1) is ELBO "path_derivative", value and gradient."""
    m, log_s = away_from_posterior()
    results = {}
    for bound, estimator in (("elbo", "full"), ("iwae", "full"), ("elbo", "path_derivative"), ("iwae", "dreg")):
        torch.manual_seed(7)
        value, bound_value = surrogate(log_likelihood, PRIOR, Independent(Normal(m, log_s.exp()), 1), bound=bound,
                                       n_samples=1, estimator=estimator)
        results[bound, estimator] = (bound_value, torch.cat(torch.autograd.grad(value, [m, log_s])))
    for a, b in ((("elbo", "full"), ("iwae", "full")), (("elbo", "path_derivative"), ("iwae", "dreg"))):
        torch.testing.assert_close(results[a][0], results[b][0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(results[a][1], results[b][1], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(results["elbo", "full"][1], results["elbo", "path_derivative"][1])


def test_iwae_bound_rises_with_k_and_stays_below_log_marginal():
    m, log_s = away_from_posterior()
    q = Independent(Normal(m.detach(), log_s.detach().exp()), 1)
    log_px = LVM.log_marginal(X1[None])[0]
    torch.manual_seed(0)
    means, stderrs = [], []
    for k in (1, 4, 32):
        draws = torch.stack([surrogate(log_likelihood, PRIOR, q, bound="iwae", n_samples=k)[1] for _ in range(400)])
        means.append(draws.mean())
        stderrs.append(draws.std() / math.sqrt(len(draws)))
    elbo = closed_form_elbo(m, torch.diag(log_s.exp())).detach()
    assert abs(means[0] - elbo) < 5 * stderrs[0]                                   # L_1 is the ELBO
    for a in range(2):
        assert means[a + 1] - means[a] > 5 * math.hypot(stderrs[a], stderrs[a + 1])
    assert all(mean < log_px + 3 * se for mean, se in zip(means, stderrs))


def test_surrogate_shapes_for_a_batch_of_qs():
    x = torch.stack([X1, -X1, 0.5 * X1])                                        # (3, D)
    q = Independent(Normal(torch.zeros(3, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64)), 1)
    for bound, estimator in (("elbo", "closed_form_kl"), ("elbo", "path_derivative"), ("iwae", "dreg")):
        value, per_row = surrogate(lambda z: LVM.decoder(z).log_prob(x), PRIOR, q, bound=bound, n_samples=5,
                                   estimator=estimator)
        assert value.shape == () and per_row.shape == (3,) and not per_row.requires_grad
        torch.testing.assert_close(value.detach(), per_row.mean(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- beta and free bits

def test_analytic_surrogate_with_beta_and_free_bits_against_a_hand_computation():
    """surrogate = mean_n (1/K) sum_k log p(x_n | z_nk) - beta sum_i max(lam, mean_n KL_ni); KL_ni typed out."""
    x = torch.stack([X1, 0.8 * X1, -X1])                                        # N = 3 data points
    m = torch.tensor([[0.05, 2.0], [0.0, 2.5], [-0.05, 1.5]], dtype=torch.float64, requires_grad=True)
    log_s = torch.tensor([[0.0, -0.5], [0.1, -0.3], [-0.1, -0.4]], dtype=torch.float64, requires_grad=True)

    def run(beta, free_bits, seed=3):
        torch.manual_seed(seed)
        q = Independent(Normal(m, log_s.exp()), 1)
        value, bound = surrogate(lambda z: LVM.decoder(z).log_prob(x), PRIOR, q, n_samples=6, estimator="closed_form_kl",
                                 beta=beta, free_bits=free_bits)
        return value, bound, torch.autograd.grad(value, [m, log_s])

    torch.manual_seed(3)
    z = m + log_s.exp() * torch.randn(6, 3, 2, dtype=torch.float64)
    log_lik = LVM.decoder(z).log_prob(x).mean()                                 # mean over samples and rows
    kl = 0.5 * (m**2 + (2 * log_s).exp() - 1 - 2 * log_s)                       # (N, L)
    kl_per_dim = kl.mean(0)
    assert kl_per_dim[0] < 0.05 < 1.0 < kl_per_dim[1]                           # dim 0 near the prior, dim 1 not
    for beta, free_bits, kl_term in ((1.0, 0.0, kl_per_dim.sum()), (2.5, 0.0, kl_per_dim.sum()),
                                     (1.0, 1e-4, kl_per_dim.sum()),           # a floor below both: no change
                                     (1.0, 0.5, 0.5 + kl_per_dim[1]),          # dim 0 held at the floor
                                     (0.7, 10.0, torch.tensor(20.0, dtype=torch.float64))):   # both floored
        value, bound, grads = run(beta, free_bits)
        expected = log_lik - beta * kl_term
        torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-12)
        for g, e in zip(grads, torch.autograd.grad(expected, [m, log_s], retain_graph=True)):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)
        # the bound itself ignores beta and the floor: E log p(x | z) - KL per row
        torch.testing.assert_close(bound, (LVM.decoder(z).log_prob(x).mean(0) - kl.sum(-1)).detach(), rtol=1e-12,
                                   atol=1e-12)
    # below the floor the KL pushes no more: dim 0's gradient is the likelihood's alone
    _, _, (grad_m, grad_log_s) = run(1.0, 0.5)
    like_m, like_log_s = torch.autograd.grad(log_lik, [m, log_s], retain_graph=True)
    torch.testing.assert_close(grad_m[:, 0], like_m[:, 0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_log_s[:, 0], like_log_s[:, 0], rtol=1e-10, atol=1e-12)
    assert torch.all((grad_m[:, 1] - like_m[:, 1]).abs() > 0.1)                  # dim 1 still pulled to the prior


def test_elbo_objective_free_bits_zero_is_the_plain_objective(digits):
    x = digits[0][:20]
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(8,))
    results = []
    for objective in (ELBO(), ELBO(free_bits=0.0), ELBO(1, "closed_form_kl", free_bits=1e-6)):
        torch.manual_seed(1)
        value, bound = objective.surrogate(model, x)
        results.append((value.detach(), bound))
    for value, bound in results[1:]:
        torch.testing.assert_close(value, results[0][0], rtol=1e-6, atol=1e-5)
        torch.testing.assert_close(bound, results[0][1], rtol=0, atol=0)
    # and the ELBO objective's value is the model's own ELBO for the same random numbers
    torch.manual_seed(1)
    torch.testing.assert_close(results[0][1], model.elbo(x, model.encoder(x)).detach(), rtol=1e-6, atol=1e-5)


def test_kl_warmup_values():
    schedule = kl_warmup(4)
    assert [schedule(epoch) for epoch in range(1, 7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert kl_warmup(1)(1) == 1.0


# ---------------------------------------------------------------- gradients of the two networks

@pytest.mark.parametrize("pair", [(IWAE(5, "full"), IWAE(5, "dreg")), (ELBO(3, "full"), ELBO(3, "path_derivative")),
                                  (ELBO(3, "full"), ELBO(3, "closed_form_kl"))], ids=["iwae", "elbo-path", "elbo-analytic"])
def test_the_estimators_change_only_the_encoders_gradient(digits, pair):
    """For the same random numbers every estimator gives the decoder (theta) the same gradient."""
    x = digits[0][:30]
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(16,))
    grads, values = [], []
    for objective in pair:
        model.zero_grad()
        torch.manual_seed(5)
        value, bound = objective.surrogate(model, x)
        value.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
        values.append(bound)
    if pair[1].estimator != "closed_form_kl":                  # the analytic bound has its KL in closed form
        torch.testing.assert_close(values[0], values[1], rtol=0, atol=0)
    for name in grads[0]:
        if name.startswith("decoder_net"):
            torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6, msg=name)
    assert any(not torch.allclose(grads[1][name], grads[0][name], atol=1e-4)
               for name in grads[0] if name.startswith("encoder_net"))


def test_encoder_decoder_moments_sizes_and_no_side_effects(digits):
    x = digits[0][:16]
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(8,))
    before = copy.deepcopy(model.state_dict())
    results = {name: encoder_decoder_moments(model, x, objective, n_repeats=5, seed=2)
               for name, objective in (("full", IWAE(4, "full")), ("dreg", IWAE(4, "dreg")))}
    sizes = {"encoder": sum(p.numel() for p in model.encoder_net.parameters()),
             "decoder": sum(p.numel() for p in model.decoder_net.parameters())}
    for result in results.values():
        assert set(result) == {"encoder", "decoder"}
        for group, size in sizes.items():
            assert set(result[group]) == {"mean", "variance", "snr"}
            assert all(v.shape == (size,) and v.dtype == torch.float64 for v in result[group].values())
            assert torch.all(result[group]["variance"] >= 0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    # the same seed: the same decoder gradients draw by draw (only the encoder's differ)
    torch.testing.assert_close(results["dreg"]["decoder"]["mean"], results["full"]["decoder"]["mean"], rtol=1e-5,
                               atol=1e-7)
    assert not torch.allclose(results["dreg"]["encoder"]["variance"], results["full"]["encoder"]["variance"])


# ---------------------------------------------------------------- gradient_moments

def test_gradient_moments_recovers_a_known_gradient_distribution():
    """loss = theta . noise + phi . noise', noise ~ N(mu, sigma^2): the gradient is the noise itself."""
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    phi = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    unused = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    mu = torch.tensor([1.0, -2.0, 0.0, 0.5, 3.0], dtype=torch.float64)
    sigma = torch.tensor([0.5, 2.0, 1.0, 0.1, 3.0], dtype=torch.float64)

    def loss():
        noise = mu + sigma * torch.randn(5, dtype=torch.float64)
        return (theta * noise[:3]).sum() + (phi * noise[3:]).sum()

    n = 2000
    result = gradient_moments(loss, {"theta": [theta], "rest": [phi, unused]}, n_repeats=n, seed=11)
    assert set(result) == {"theta", "rest"}
    mean = torch.cat([result["theta"]["mean"], result["rest"]["mean"][:2]])
    variance = torch.cat([result["theta"]["variance"], result["rest"]["variance"][:2]])
    assert result["theta"]["mean"].shape == (3,) and result["rest"]["mean"].shape == (6,)
    assert torch.all((mean - mu).abs() < 5 * sigma / math.sqrt(n))
    assert torch.all((variance / sigma**2 - 1).abs() < 5 * math.sqrt(2 / (n - 1)))
    snr = torch.cat([result["theta"]["snr"], result["rest"]["snr"][:2]])
    torch.testing.assert_close(snr, mean.abs() / variance.sqrt())
    assert torch.all((snr - mu.abs() / sigma).abs() < 0.1 + 0.05 * mu.abs() / sigma)
    assert torch.all(result["rest"]["mean"][2:] == 0) and torch.all(result["rest"]["variance"][2:] == 0)
    # the draws are loss()'s own: re-drawn by hand from the same seed, their moments are the same numbers
    torch.manual_seed(11)
    draws = torch.stack([mu + sigma * torch.randn(5, dtype=torch.float64) for _ in range(n)])
    torch.testing.assert_close(mean, draws.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(variance, draws.var(0), rtol=1e-12, atol=1e-12)
    other = gradient_moments(loss, {"theta": [theta]}, n_repeats=10, seed=12)["theta"]["mean"]
    again = gradient_moments(loss, {"theta": [theta]}, n_repeats=10, seed=12)["theta"]["mean"]
    assert torch.equal(other, again) and not torch.equal(other, result["theta"]["mean"])


# ---------------------------------------------------------------- held_fixed and fit_gaussian

@pytest.mark.parametrize("kind", ["normal", "independent", "mvn"])
def test_held_fixed_has_qs_density_and_gradients_through_z_only(kind):
    loc = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    q = {"normal": lambda: Normal(loc, scale), "independent": lambda: Independent(Normal(loc, scale), 1),
         "mvn": lambda: MultivariateNormal(loc, scale_tril=torch.diag(scale))}[kind]()
    z = torch.tensor([[0.1, 0.2], [1.0, -2.0]], dtype=torch.float64, requires_grad=True)
    fixed = held_fixed(q)
    assert type(fixed) is type(q)
    torch.testing.assert_close(fixed.log_prob(z), q.log_prob(z), rtol=1e-12, atol=1e-12)
    grad_z, = torch.autograd.grad(fixed.log_prob(z).sum(), z)
    torch.testing.assert_close(grad_z, torch.autograd.grad(q.log_prob(z).sum(), z)[0])
    assert torch.autograd.grad(fixed.log_prob(z).sum(), [loc, scale], allow_unused=True) == (None, None)


def test_fit_gaussian_sticks_the_landing_with_the_path_estimator():
    """Full covariance: the exact posterior is in the family, and there the path gradient has no noise, so the path fit
    lands on it to optimiser precision while the total estimator's fit keeps jittering around it."""
    posterior = LVM.posterior(X1[None])
    errors = {}
    for estimator in ("path_derivative", "full"):
        fit = fit_gaussian(log_likelihood, PRIOR, covariance="full", n_steps=300, lr=0.05, n_samples=16,
                           estimator=estimator, seed=0)
        q = fit.q
        assert isinstance(q, MultivariateNormal) and not q.loc.requires_grad and not q.scale_tril.requires_grad
        assert len(fit.history["elbo"]) == 300 and np.mean(fit.history["elbo"][-50:]) > fit.history["elbo"][0] + 1
        errors[estimator] = max((q.loc - posterior.loc[0]).abs().max().item(),
                                (q.covariance_matrix - posterior.covariance_matrix[0]).abs().max().item())
    assert errors["path_derivative"] < 1e-5
    assert 1e-3 < errors["full"] < 0.1


def test_fit_gaussian_diagonal_finds_the_mean_field_optimum():
    """The best diagonal Gaussian of a Gaussian posterior: its mean, and variances 1 / diag(precision)."""
    posterior = LVM.posterior(X1[None])
    fit = fit_gaussian(log_likelihood, PRIOR, covariance="diagonal", n_steps=300, lr=0.05, n_samples=16, seed=0)
    cov = fit.q.covariance_matrix
    assert cov[0, 1] == 0 and cov[1, 0] == 0
    torch.testing.assert_close(fit.q.loc, posterior.loc[0], rtol=0, atol=0.03)
    target = 1 / torch.linalg.inv(posterior.covariance_matrix[0]).diagonal()
    torch.testing.assert_close(cov.diagonal(), target, rtol=0.05, atol=0)
    assert closed_form_elbo(fit.q.loc, fit.q.scale_tril) > closed_form_elbo(posterior.loc[0], target.sqrt().diag()) - 0.01


# ---------------------------------------------------------------- train with an objective and a beta schedule

def test_train_with_the_elbo_objective_repeats_the_default_training(digits):
    """The default route writes the gradients by hand; ELBO() takes autograd's: the same random numbers, same run."""
    x_train, _, x_test, _ = digits
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(16,))
    other = copy.deepcopy(model)
    default = train(model, x_train[:256], n_epochs=3, batch_size=64, lr=1e-2, seed=1, x_test=x_test[:100]).history
    with_objective = train(other, x_train[:256], n_epochs=3, batch_size=64, lr=1e-2, seed=1, x_test=x_test[:100],
                           objective=ELBO()).history
    np.testing.assert_allclose(with_objective["train_elbo"], default["train_elbo"], rtol=1e-6)
    np.testing.assert_allclose(with_objective["test_elbo"], default["test_elbo"], rtol=1e-6)
    for p, r in zip(model.parameters(), other.parameters()):
        torch.testing.assert_close(r, p, rtol=1e-4, atol=1e-5)
    assert default["train_elbo"][-1] > default["train_elbo"][0] + 3              # it did train


def test_train_with_iwae_dreg_raises_the_bound(digits):
    x_train, _, x_test, _ = digits
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(16,))
    history = train(model, x_train[:256], n_epochs=4, batch_size=64, lr=1e-2, seed=1, x_test=x_test[:100],
                    objective=IWAE(5, "dreg")).history
    assert history["train_elbo"][-1] > history["train_elbo"][0] + 3
    assert history["test_elbo"][-1] > history["test_elbo"][0] + 3
    with torch.no_grad():                                 # and the trained model's L_5 is above its ELBO
        torch.manual_seed(0)
        q = model.encoder(x_train[:256])
        elbo = model.elbo(x_train[:256], q, n_samples=50).mean()
        l5 = torch.stack([IWAE(5).surrogate(model, x_train[:256])[1].mean() for _ in range(10)]).mean()
    assert l5 > elbo


def test_beta_schedule_is_called_per_epoch_and_a_constant_one_is_the_number(digits):
    x = digits[0][:128]
    torch.manual_seed(0)
    start = VAE(64, 2, hidden=(8,))
    runs, seen = {}, []

    def record(epoch):
        seen.append(epoch)
        return 0.5

    for name, beta in (("number", 0.5), ("schedule", record), ("warmup", kl_warmup(2)), ("zero-first", 0.0)):
        model = copy.deepcopy(start)
        snapshots = []
        n_epochs = 1 if name == "zero-first" else 3
        history = train(model, x, n_epochs=n_epochs, batch_size=32, lr=1e-2, seed=0, beta=beta,
                        callback=lambda epoch, vae: snapshots.append(copy.deepcopy(vae.state_dict()))).history
        runs[name] = (history, snapshots)
    assert seen == [1, 2, 3]
    assert runs["schedule"][0]["train_elbo"] == runs["number"][0]["train_elbo"]
    # kl_warmup(2): beta = 0.5 in epoch 1, so epoch 1 is the constant-0.5 run's; then beta = 1, and the runs part
    first = runs["warmup"][1][0], runs["number"][1][0]
    assert all(torch.equal(first[0][k], first[1][k]) for k in first[0])
    last = runs["warmup"][1][-1], runs["number"][1][-1]
    assert not all(torch.allclose(last[0][k], last[1][k]) for k in last[0])
    assert not all(torch.allclose(runs["zero-first"][1][0][k], first[1][k]) for k in first[1])   # beta matters
