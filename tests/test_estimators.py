import math

import pytest
import torch
from torch.distributions import Bernoulli, Exponential, Independent, Normal, RelaxedBernoulli

from vitools.estimators import optimal_baseline, reparam_grad, score_function_grad

N = 200_000


def gaussian(mu=1.0, sigma=1.0):
    return Normal(torch.tensor(mu, dtype=torch.float64, requires_grad=True),
                  torch.tensor(sigma, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("k", [0.0, 1.0, 3.0])
def test_variances_match_the_analytic_values(k):
    # z ~ N(1, 1), f(z) = (z - k)^2, a = 1 - k, gradient with respect to the mean: exactly 2a
    a, f = 1.0 - k, (lambda z: (z - k) ** 2)
    torch.manual_seed(0)
    cases = {"pathwise": (reparam_grad(f, gaussian(), n_samples=N)["loc"], 4.0),
             "score": (score_function_grad(f, gaussian(), n_samples=N)["loc"], a**4 + 14 * a**2 + 15),
             "score, b = E[f]": (score_function_grad(f, gaussian(), n_samples=N, baseline=1 + a**2)["loc"], 10 + 8 * a**2),
             "score, b = b*": (score_function_grad(f, gaussian(), n_samples=N, baseline=3 + a**2)["loc"], 6 + 8 * a**2)}
    for name, (g, variance) in cases.items():
        assert abs(g.mean().item() - 2 * a) < 4 * g.std().item() / math.sqrt(N), name          # unbiased
        assert abs(g.var().item() / variance - 1) < 0.05, (name, g.var().item(), variance)      # within 5%


def test_gradients_with_respect_to_the_scale_are_unbiased_too():
    # E_q[z^2] = mu^2 + sigma^2, so d/dsigma = 2 sigma = 3 at sigma = 1.5
    torch.manual_seed(1)
    for estimator in (score_function_grad, reparam_grad):
        g = estimator(lambda z: z**2, gaussian(0.5, 1.5), n_samples=N)["scale"]
        assert abs(g.mean().item() - 3.0) < 4 * g.std().item() / math.sqrt(N), estimator.__name__


def test_optimal_baseline_is_not_the_mean_of_f():
    torch.manual_seed(2)
    b = optimal_baseline(lambda z: (z - 3.0) ** 2, gaussian(), n_samples=N)["loc"].item()
    assert abs(b - (3 + 4.0)) < 0.1 and abs(b - (1 + 4.0)) > 1.5     # 3 + a^2 with a = -2, not E[f] = 1 + a^2


def test_leave_one_out_baseline_is_unbiased_and_reduces_variance():
    torch.manual_seed(3)
    f = lambda z: (z - 3.0) ** 2                                      # noqa: E731
    plain = torch.stack([score_function_grad(f, gaussian(), n_samples=8)["loc"].mean() for _ in range(4000)])
    loo = torch.stack([score_function_grad(f, gaussian(), n_samples=8, baseline="leave-one-out")["loc"].mean() for _ in range(4000)])
    assert abs(loo.mean().item() + 4.0) < 4 * loo.std().item() / math.sqrt(4000)
    assert loo.var() < 0.6 * plain.var()


def test_discrete_latents_score_function_and_relaxation():
    p, f = torch.tensor(0.6, dtype=torch.float64, requires_grad=True), (lambda z: (z - 0.45) ** 2)
    exact = f(1.0) - f(0.0)                                           # d/dp [p f(1) + (1 - p) f(0)]
    torch.manual_seed(4)
    g = score_function_grad(f, Bernoulli(probs=p), n_samples=N)["probs"]
    assert abs(g.mean().item() - exact) < 4 * g.std().item() / math.sqrt(N)
    assert abs(g.var().item() / (f(1.0) ** 2 / 0.6 + f(0.0) ** 2 / 0.4 - exact**2) - 1) < 0.05
    with pytest.raises(ValueError, match="no reparameterised sampler"):
        reparam_grad(f, Bernoulli(probs=p), n_samples=10)
    relaxed = reparam_grad(f, RelaxedBernoulli(torch.tensor(1.0, dtype=torch.float64), probs=p), n_samples=N)["probs"]
    assert abs(relaxed.mean().item() - exact) > 10 * relaxed.std().item() / math.sqrt(N)   # biased


def test_inverse_cdf_reparameterisation_of_an_exponential():
    # E[z] = 1 / rate for z ~ Exponential(rate): d/d rate = -1 / rate^2
    rate = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(5)
    g = reparam_grad(lambda z: z, Exponential(rate), n_samples=N)["rate"]
    assert abs(g.mean().item() + 0.25) < 4 * g.std().item() / math.sqrt(N)


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="torch.distributions"):
        score_function_grad(lambda z: z, "normal", n_samples=10)
    with pytest.raises(ValueError, match="requires_grad=True"):
        reparam_grad(lambda z: z, Normal(0.0, 1.0), n_samples=10)
    with pytest.raises(ValueError, match="n_samples must be"):
        score_function_grad(lambda z: z, gaussian(), n_samples=0)
    with pytest.raises(ValueError, match="one value per sample"):
        reparam_grad(lambda z: z.sum(), gaussian(), n_samples=10)
    with pytest.raises(ValueError, match="leave-one-out"):
        score_function_grad(lambda z: z, gaussian(), n_samples=10, baseline="mean")
    with pytest.raises(ValueError, match="differentiabl"):
        reparam_grad(lambda z: (z > 0).double(), gaussian(), n_samples=10)
    with pytest.raises(TypeError, match="positional"):
        score_function_grad(lambda z: z, gaussian(), 10)             # n_samples is keyword-only


# ---------------------------------------------------------------- the ELBO's gradient, three ways

def _one_latent_model():
    from vitools.lvm import LinearGaussianLVM

    model = LinearGaussianLVM.random(x_dim=4, z_dim=1, sigma=0.8, seed=3)
    torch.manual_seed(11)
    x, _ = model.sample(1)
    post = model.posterior(x)
    return model, x, post.mean[0], post.covariance_matrix[0].diagonal().sqrt()


def _diagonal_q(loc, scale):
    """q = N(m, diag(s^2)) as the estimators take it: Independent(Normal(m, s), 1), batch shape (), event shape (L,)."""
    return Independent(Normal(loc, scale), 1)


def _exact_elbo_gradient(model, x, loc, log_scale):
    """Autograd of the closed-form ELBO (model.elbo_terms): independent of the Monte Carlo estimators."""
    from torch.distributions import MultivariateNormal

    m, log_s = loc.clone().requires_grad_(), log_scale.clone().requires_grad_()
    q = MultivariateNormal(m, scale_tril=torch.diag_embed(log_s.exp()))
    grads = torch.autograd.grad(model.elbo_terms(x, q)["elbo"].sum(), [m, log_s])
    return {"loc": grads[0], "log_scale": grads[1]}


@pytest.mark.parametrize("width", [0.3, 1.0, 2.5])
def test_elbo_gradients_are_unbiased_with_the_derived_variances(width):
    from vitools.estimators import elbo_gradients
    from vitools.examples import elbo_gradient_variances

    model, x, post_mean, post_sd = _one_latent_model()
    precision = 1 / post_sd.item() ** 2
    log_scale = torch.log(width * post_sd)
    n = 40_000
    torch.manual_seed(12)
    grads = elbo_gradients(model, x, _diagonal_q(post_mean, log_scale.exp()), n_samples=n)
    exact = _exact_elbo_gradient(model, x, post_mean, log_scale)
    derived = elbo_gradient_variances(post_mean.item(), posterior_precision=precision, width=width)
    for name, by_parameter in grads.items():
        for i, (parameter, g) in enumerate(by_parameter.items()):
            g = g[:, 0]
            assert abs(g.mean().item() - exact[parameter].item()) < 4 * g.std().item() / math.sqrt(n) + 1e-9, (name, parameter)
            centred = g - g.mean()
            se = math.sqrt(max((centred**4).mean().item() - centred.pow(2).mean().item() ** 2, 0) / n)
            assert abs(centred.pow(2).mean().item() - derived[name][i]) < 5 * se + 1e-12, (name, parameter)


def test_path_derivative_has_zero_variance_at_the_posterior_and_the_full_one_does_not():
    from vitools.estimators import elbo_gradients

    model, x, post_mean, post_sd = _one_latent_model()
    torch.manual_seed(13)
    grads = elbo_gradients(model, x, _diagonal_q(post_mean, post_sd), n_samples=20_000)
    assert all(g.abs().max().item() < 1e-10 for g in grads["path_derivative"].values())
    g_m = grads["full"]["loc"][:, 0]
    assert abs(g_m.var().item() * post_sd.item() ** 2 - 1) < 0.05        # Var = posterior precision
    assert grads["closed_form_kl"]["loc"].var() < g_m.var()


def test_elbo_gradients_with_a_two_dimensional_latent_are_unbiased():
    from vitools.estimators import elbo_gradients
    from vitools.lvm import LinearGaussianLVM

    model = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.6, seed=4)
    torch.manual_seed(14)
    x, _ = model.sample(1)
    loc, log_scale = torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([-1.0, -0.5], dtype=torch.float64)
    grads = elbo_gradients(model, x, _diagonal_q(loc, log_scale.exp()), n_samples=40_000)
    exact = _exact_elbo_gradient(model, x, loc, log_scale)
    for name, by_parameter in grads.items():
        for parameter, g in by_parameter.items():
            assert g.shape == (40_000, 2)
            se = g.std(0) / math.sqrt(40_000)
            assert torch.all((g.mean(0) - exact[parameter]).abs() < 4 * se), (name, parameter)


# ---------------------------------------------------------------- gradients of the importance-weighted bound

def _model_with_offset_requiring_grad():
    from vitools.lvm import LinearGaussianLVM

    base = LinearGaussianLVM.random(x_dim=4, z_dim=1, sigma=0.8, seed=3)
    b = base.b.clone().requires_grad_()
    return base, LinearGaussianLVM(base.W, b, base.sigma), b


def test_iwae_gradients_with_one_sample_are_the_elbo_gradients():
    # K = 1: L_1 is the ELBO, so the mean gradients are those of the closed-form ELBO (autograd of elbo_terms)
    from torch.distributions import MultivariateNormal

    from vitools.estimators import iwae_gradients

    base, model_b, b = _model_with_offset_requiring_grad()
    torch.manual_seed(15)
    x, _ = base.sample(1)
    post = base.posterior(x)
    loc, scale = post.mean[0] + 0.1, 1.5 * post.covariance_matrix[0].diagonal().sqrt()
    m = loc.clone().requires_grad_()
    elbo_value = model_b.elbo_terms(x, MultivariateNormal(m, scale_tril=torch.diag_embed(scale)))["elbo"].sum()
    exact_m, exact_b = torch.autograd.grad(elbo_value, [m, b])
    g = iwae_gradients(base, x, _diagonal_q(loc, scale), n_samples=1, n_repeats=40_000)
    for estimate, exact in [(g["loc"], exact_m), (g["b"], exact_b)]:
        assert torch.all((estimate.mean(0) - exact).abs() < 4 * estimate.std(0) / math.sqrt(40_000))


def test_iwae_b_gradient_tends_to_the_gradient_of_log_p_x():
    from vitools.estimators import iwae_gradients

    base, model_b, b = _model_with_offset_requiring_grad()
    torch.manual_seed(16)
    x, _ = base.sample(1)
    exact_b = torch.autograd.grad(model_b.log_marginal(x).sum(), b)[0]      # Fisher: grad_b log p(x)
    post = base.posterior(x)
    sd = post.covariance_matrix[0].diagonal().sqrt()
    g = iwae_gradients(base, x, _diagonal_q(post.mean[0] + sd, sd), n_samples=256, n_repeats=2000)["b"]
    # self-normalised IS: bias O(1/K); allow 4 s.e. plus 0.01
    assert torch.all((g.mean(0) - exact_b).abs() < 4 * g.std(0) / math.sqrt(2000) + 0.01)
    g_q = iwae_gradients(base, x, _diagonal_q(post.mean[0], sd), n_samples=64, n_repeats=200)["loc"]           # q = posterior: the m-gradient has mean 0
    assert abs(g_q.mean().item()) < 4 * g_q.std().item() / math.sqrt(200)


def test_leave_one_out_variance_formula():
    # Var_LOO = Var[(f - E f) h]/S + (Var[f] E[h^2] + (E[f h])^2)/(S(S - 1)) = 42/S + 34/(S(S - 1)) for
    # z ~ N(1, 1), f = (z - 3)^2 (chapter 4, {eq}`loo-variance`); exact moments by Gauss-Hermite quadrature
    import numpy as np
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    E = lambda g: float((weights * g(nodes)).sum())                               # noqa: E731  E over eps ~ N(0, 1)
    f = lambda e: (e - 2.0) ** 2                                                  # noqa: E731
    ef = E(f)
    first = E(lambda e: ((f(e) - ef) * e) ** 2) - E(lambda e: (f(e) - ef) * e) ** 2
    second = (E(lambda e: f(e) ** 2) - ef**2) * E(lambda e: e**2) + E(lambda e: f(e) * e) ** 2
    assert abs(first - 42) < 1e-9 and abs(second - 34) < 1e-9
    torch.manual_seed(1)
    for s in (2, 3, 5):
        est = torch.stack([score_function_grad(f_quad, gaussian(), n_samples=s, baseline="leave-one-out")["loc"].mean()
                           for _ in range(2000)])
        c = est - est.mean()
        se = math.sqrt(((c**4).mean() - (c**2).mean() ** 2).item() / len(est))
        assert abs(est.var().item() - (first / s + second / (s * (s - 1)))) < 4 * se, s


def f_quad(z):
    return (z - 3.0) ** 2


def test_chapter_four_exercise_references_agree_with_independent_routes():
    import numpy as np
    from scipy import stats

    from vitools.exercises import exercise
    rng = np.random.default_rng(0)
    eps = rng.standard_normal(1_000_000)
    m, s = 1.5, 0.7                                                               # 4.1: f = z, z ~ N(m, s^2)
    z = m + s * eps
    u41 = z * (z - m) / s**2
    c = u41 - u41.mean()
    assert abs(u41.var() - exercise("score-variance-linear").reference(m, s)) < 4 * math.sqrt(((c**4).mean() - (c**2).mean() ** 2) / len(z))
    mu = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)              # 4.2: two tosses, exact expectation
    f_vals = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    binom = torch.distributions.Binomial(total_count=2, probs=mu)
    support = torch.arange(3, dtype=torch.float64)
    q = binom.log_prob(support).exp()
    exact = torch.autograd.grad((q * f_vals).sum(), mu)[0].item()
    per_sample = exercise("score-two-coins").reference(f_vals.numpy(), support.numpy(), 0.3)
    assert abs(float((q.detach().numpy() * per_sample).sum()) - exact) < 1e-12
    u = rng.random(200_000)                                                       # 4.3: power distribution = Beta(nu, 1)
    nu = 2.0
    samples = exercise("inverse-cdf-power").reference(nu, u)
    assert stats.kstest(samples, stats.beta(nu, 1).cdf).pvalue > 1e-3
    dz = -samples * np.log(samples) / nu                                          # dz/dnu; mean d/dnu E[z] = 1/(nu + 1)^2
    assert abs(dz.mean() - 1 / (nu + 1) ** 2) < 4 * dz.std() / math.sqrt(len(dz))
    f44 = (1.0 + eps) ** 3                                                        # 4.4: f = z^3, z ~ N(1, 1)
    a_hat = (f44 * eps**2).mean() / (eps**2).mean()
    se = ((f44 - a_hat) * eps**2).std() / math.sqrt(len(eps))
    assert abs(a_hat - exercise("best-constant-baseline").expected()) < 4 * se and 4 * se < 0.25    # a 10^6-sample estimate passes
    assert abs(float(exercise("best-constant-baseline").expected()) - float(np.mean(f44))) > 5       # and it is not E[f] = 4
    w = rng.choice([1.0, 3.0], size=(2, 400_000))                                 # 4.5
    assert abs(np.log(w.mean(0)).mean() - exercise("iwae-by-hand").expected()) < 0.005
